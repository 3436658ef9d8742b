//! `ms <key> <datalen> <flag>*\r\n<data>\r\n`: store a value.
//!
//! Replies `HD` (stored), `NS` (not stored), `EX` (CAS mismatch) or `NF` (CAS on a missing
//! item), with return flags `O`, `k` and `c` (the new CAS, 0 when nothing was stored).
//! Flags: `T` expiration time, `F` client flags, `C` compare-and-swap, `I` with `C`: store an
//! older version as stale instead of failing, `M` mode (`S` set, `E` add, `A` append,
//! `P` prepend, `R` replace), `q`, `b`.

use bytes::BytesMut;
use sessiond_engine::{Delete, Key, Store, StoreMode, StoreOutcome};

use super::{MAX_TOKENS, MetaFlags, OPAQUE_TOO_LONG, opaque_too_long, write_opaque};
use crate::exptime::expiry_from_exptime;
use crate::text::parse::safe_strtol;
use crate::text::reply::{
    self, BAD_DATA_CHUNK, BAD_FORMAT, ERROR, OUT_OF_MEMORY_STORING, TOO_LARGE,
};
use crate::text::{Next, Request};
use crate::{Context, ProtocolCounters};

/// Handles `ms`.
///
/// Errors found before the data length is known leave the data block to be read as the next
/// command; errors after it drop the data block, as memcached does.
pub(crate) fn run(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) -> Next {
    let tokens = &request.tokens;
    if tokens.count() < 3 {
        reply::line(out, ERROR);
        return request.done();
    }
    let raw_key = tokens.get(1);
    if raw_key.len() > ctx.limits.max_key_len || tokens.count() == 3 {
        reply::line(out, BAD_FORMAT);
        return request.done();
    }
    if tokens.count() > MAX_TOKENS {
        reply::line(out, b"CLIENT_ERROR options flags too long");
        return request.done();
    }
    let len = match safe_strtol(tokens.get(2)).map(usize::try_from) {
        Some(Ok(len)) if len <= (i32::MAX - 2) as usize => len,
        _ => {
            reply::line(out, BAD_FORMAT);
            return request.done();
        }
    };
    let refuse = |out: &mut BytesMut, message: &[u8]| {
        reply::line(out, message);
        Next::Swallow {
            consumed: request.line_len,
            then: len as u64 + 2,
        }
    };
    let flags = &tokens.as_slice()[3..];
    let (parsed, key) = match MetaFlags::parse(raw_key, flags) {
        Ok(parsed) => parsed,
        Err(message) => return refuse(out, message),
    };
    if opaque_too_long(flags) {
        return refuse(out, OPAQUE_TOO_LONG);
    }
    let mode = match parsed.mode {
        None | Some(b'S') => StoreMode::Set,
        Some(b'E') => StoreMode::Add,
        Some(b'A') => StoreMode::Append,
        Some(b'P') => StoreMode::Prepend,
        Some(b'R') => StoreMode::Replace,
        Some(_) => return refuse(out, b"CLIENT_ERROR invalid mode for ms M token"),
    };
    let name = Key::new(ctx.namespace, key.bytes());
    if len > ctx.limits.max_item_size {
        ProtocolCounters::bump(&ctx.counters.store_too_large);
        // memcached drops the old value whatever the mode, so no stale value outlives a
        // refused write.
        ctx.engine.run(&Delete::new(name), ctx.now);
        return refuse(out, TOO_LARGE);
    }
    let (value, end) = match request.data_block(len) {
        Ok(block) => block,
        Err(total) => return Next::Wait(total),
    };
    let done = Next::Done(request.line_len + len + 2);
    if end != b"\r\n" {
        reply::line(out, BAD_DATA_CHUNK);
        return done;
    }

    // memcached turns set and replace with a CAS into its compare-and-swap store; append and
    // prepend compare only a non-zero CAS; add ignores the CAS.
    let cas = match mode {
        StoreMode::Set | StoreMode::Replace => parsed.cas,
        StoreMode::Append | StoreMode::Prepend => parsed.cas.filter(|&cas| cas != 0),
        StoreMode::Add => None,
    };
    let compare_and_swap = cas.is_some() && matches!(mode, StoreMode::Set | StoreMode::Replace);
    let store = Store {
        cas,
        // memcached reads a zero CAS as none given, which never counts as older.
        invalidate: parsed.invalidate && compare_and_swap && cas != Some(0),
        ..Store::new(
            name,
            value,
            parsed.client_flags,
            expiry_from_exptime(i64::from(parsed.ttl.unwrap_or(0)), ctx.now),
            mode,
        )
    };
    let (status, new_cas): (&[u8], u64) = match ctx.engine.run(&store, ctx.now) {
        Ok(StoreOutcome::Stored { cas }) => (b"HD", cas),
        Ok(StoreOutcome::NotStored) => (b"NS", 0),
        Ok(StoreOutcome::Exists) => (b"EX", 0),
        // Append and prepend need an item whatever the CAS: memcached says not stored.
        Ok(StoreOutcome::NotFound) if !compare_and_swap => (b"NS", 0),
        Ok(StoreOutcome::NotFound) => (b"NF", 0),
        Err(_) => {
            // memcached drops the old value here too; sessiond keeps it, as it keeps every live
            // session at its memory limit.
            ProtocolCounters::bump(&ctx.counters.store_no_memory);
            reply::line(out, OUT_OF_MEMORY_STORING);
            return done;
        }
    };
    if parsed.quiet && status == b"HD" {
        return done;
    }
    out.extend_from_slice(status);
    for flag in flags {
        match flag[0] {
            b'O' => write_opaque(out, flag),
            b'k' => key.write(out),
            b'c' => {
                out.extend_from_slice(b" c");
                reply::number(out, new_cas);
            }
            _ => {}
        }
    }
    out.extend_from_slice(b"\r\n");
    done
}
