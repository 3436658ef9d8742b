//! `ms <key> <datalen> <flag>*\r\n<data>\r\n`: store a value.
//!
//! Replies `HD` (stored), `NS` (not stored), `EX` (CAS mismatch) or `NF` (CAS on a missing
//! item), with return flags `O`, `k` and `c` (the new CAS, 0 when nothing was stored).
//! Flags: `T` expiration time, `F` client flags, `C` compare-and-swap, `I` with `C`: store an
//! older version as stale instead of failing, `M` mode (`S` set, `E` add, `A` append,
//! `P` prepend, `R` replace), `q`, `b`.

use bytes::BytesMut;
use sessiond_engine::{Delete, Key, Store, StoreMode, StoreOutcome};

use super::{OPAQUE_TOO_LONG, Syntax, opaque_too_long, refuse, write_opaque};
use crate::exptime::expiry_from_exptime;
use crate::text::parse::safe_strtol;
use crate::text::reply::{self, BAD_DATA_CHUNK, BAD_FORMAT, OUT_OF_MEMORY_STORING, TOO_LARGE};
use crate::text::{Next, Request};
use crate::{Context, ProtocolCounters};

/// `ms`'s line: its flags follow the data length, and it gives the flag parser's messages.
const SYNTAX: Syntax = Syntax {
    flags_at: 3,
    too_many_tokens: b"CLIENT_ERROR options flags too long",
    flag_error: None,
};

/// Handles `ms`.
///
/// Errors found before the data length is known leave the data block to be read as the next
/// command; errors after it drop the data block, as memcached does.
pub(crate) fn run(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) -> Next {
    let (raw_key, flags) = match SYNTAX.split(request, ctx) {
        Ok(line) => line,
        Err(message) => return refuse(request, out, message),
    };
    let len = match safe_strtol(request.tokens.get(2)).map(usize::try_from) {
        Some(Ok(len)) if len <= (i32::MAX - 2) as usize => len,
        _ => return refuse(request, out, BAD_FORMAT),
    };
    // From here on a refusal drops the data block too.
    let refuse_data = |out: &mut BytesMut, message: &[u8]| {
        reply::line(out, message);
        Next::Swallow {
            consumed: request.line_len,
            then: len as u64 + 2,
        }
    };
    let (parsed, key) = match SYNTAX.parse(raw_key, flags) {
        Ok(parsed) => parsed,
        Err(message) => return refuse_data(out, message),
    };
    if opaque_too_long(flags) {
        return refuse_data(out, OPAQUE_TOO_LONG);
    }
    let mode = match parsed.mode {
        None | Some(b'S') => StoreMode::Set,
        Some(b'E') => StoreMode::Add,
        Some(b'A') => StoreMode::Append,
        Some(b'P') => StoreMode::Prepend,
        Some(b'R') => StoreMode::Replace,
        Some(_) => return refuse_data(out, b"CLIENT_ERROR invalid mode for ms M token"),
    };
    let name = Key::new(ctx.namespace, key.bytes());
    if len > ctx.limits.max_item_size {
        ProtocolCounters::bump(&ctx.counters.store_too_large);
        // memcached drops the old value whatever the mode, so no stale value outlives a
        // refused write.
        // Refused only while writes cannot be made durable; the old value then stays.
        let _ = ctx.engine.run(&Delete::new(name), ctx.now);
        return refuse_data(out, TOO_LARGE);
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
        Err(error) => {
            // memcached drops the old value here too; sessiond keeps it, as it keeps every live
            // session at its memory limit.
            ProtocolCounters::bump(&ctx.counters.store_no_memory);
            reply::line(out, reply::refused(error, OUT_OF_MEMORY_STORING));
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
