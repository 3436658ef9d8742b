//! `set`, `add`, `replace`, `append`, `prepend` and `cas`: a line, then a data block.
//!
//! `<command> <key> <flags> <exptime> <bytes> [<cas unique>] [noreply]\r\n<data>\r\n`

use bytes::BytesMut;
use sessiond_engine::{Delete, Key, Store, StoreMode, StoreOutcome};

use super::parse::{safe_strtol, safe_strtoul, safe_strtoull};
use super::reply::{self, BAD_DATA_CHUNK, BAD_FORMAT, OUT_OF_MEMORY_STORING, TOO_LARGE};
use super::{Next, Request};
use crate::exptime::expiry_from_exptime;
use crate::{Context, ProtocolCounters};

/// Handles a storage command in `mode`; `with_cas` for `cas`, which is a compare-and-swap set.
///
/// Errors in the line are answered at once and leave the data block to be read as the next
/// command, as memcached does. A value over the size limit is answered at once and its data
/// block dropped as it arrives. Otherwise the command waits until its data block is buffered.
pub(crate) fn run(
    request: &Request<'_>,
    out: &mut BytesMut,
    ctx: &Context<'_>,
    mode: StoreMode,
    with_cas: bool,
) -> Next {
    let tokens = &request.tokens;
    // memcached reads `noreply` first, so it silences the errors below too.
    let noreply = tokens.noreply();
    let name = tokens.get(1);
    if name.len() > ctx.limits.max_key_len {
        reply::line_unless(out, noreply, BAD_FORMAT);
        return request.done();
    }
    let (Some(flags), Some(exptime), Some(len)) = (
        safe_strtoul(tokens.get(2)),
        safe_strtol(tokens.get(3)),
        safe_strtol(tokens.get(4)),
    ) else {
        reply::line_unless(out, noreply, BAD_FORMAT);
        return request.done();
    };
    let cas = if with_cas {
        let Some(cas) = safe_strtoull(tokens.get(5)) else {
            reply::line_unless(out, noreply, BAD_FORMAT);
            return request.done();
        };
        Some(cas)
    } else {
        None
    };
    // memcached's own bound on the length, before its size limit.
    let Ok(len) = usize::try_from(len) else {
        reply::line_unless(out, noreply, BAD_FORMAT);
        return request.done();
    };
    if len > (i32::MAX - 2) as usize {
        reply::line_unless(out, noreply, BAD_FORMAT);
        return request.done();
    }
    let key = Key::new(ctx.namespace, name);
    // Only a plain set forgets the old value when the new one is too large, as memcached's
    // does: the client meant to replace it, and the old value must not be served as current.
    let forget_old = mode == StoreMode::Set && !with_cas;
    if len > ctx.limits.max_item_size {
        ProtocolCounters::bump(&ctx.counters.store_too_large);
        if forget_old {
            // Refused only while writes cannot be made durable; the old value then stays.
            let _ = ctx.engine.run(&Delete::new(key), ctx.now);
        }
        reply::line_unless(out, noreply, TOO_LARGE);
        return Next::Swallow {
            consumed: request.line_len,
            then: len as u64 + 2,
        };
    }
    let (value, end) = match request.data_block(len) {
        Ok(block) => block,
        Err(total) => return Next::Wait(total),
    };
    let done = Next::Done(request.line_len + len + 2);
    if end != b"\r\n" {
        reply::line_unless(out, noreply, BAD_DATA_CHUNK);
        return done;
    }
    let store = Store {
        cas,
        ..Store::new(
            key,
            value,
            flags,
            expiry_from_exptime(i64::from(exptime), ctx.now),
            mode,
        )
    };
    let answer: &[u8] = match ctx.engine.run(&store, ctx.now) {
        Ok(StoreOutcome::Stored { .. }) => b"STORED",
        Ok(StoreOutcome::NotStored) => b"NOT_STORED",
        Ok(StoreOutcome::Exists) => b"EXISTS",
        Ok(StoreOutcome::NotFound) => b"NOT_FOUND",
        Err(error) => {
            // memcached drops the old value of a plain set here too; sessiond keeps it, as it
            // keeps every live session at its memory limit.
            ProtocolCounters::bump(&ctx.counters.store_no_memory);
            reply::refused(error, OUT_OF_MEMORY_STORING)
        }
    };
    reply::line_unless(out, noreply, answer);
    done
}
