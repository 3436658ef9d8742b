//! `me <key> [b]`: memcached's debug dump of one item's metadata.
//!
//! `ME <key> exp=<secs> la=<secs> cas=<cas> fetch=<yes|no> cls=<class> size=<bytes>`, or `EN`.
//! sessiond has no slab classes: it reports class 1, and the size memcached would account for
//! the item (header, CAS, key, value and terminators).

use bytes::BytesMut;
use sessiond_engine::{Get, GetOutcome, Key};

use super::MetaKey;
use crate::Context;
use crate::exptime::ttl_secs;
use crate::text::reply::{self, BAD_FORMAT};
use crate::text::{Next, Request};

/// memcached's item header, CAS included.
const ITEM_HEADER: u64 = 48 + 8;

/// Handles `me`.
pub(crate) fn run(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) -> Next {
    let tokens = &request.tokens;
    let raw_key = tokens.get(1);
    if tokens.count() < 3 || raw_key.len() > ctx.limits.max_key_len {
        reply::line(out, BAD_FORMAT);
        return request.done();
    }
    // `me` takes only `b`, and only right after the key.
    let key = if tokens.count() >= 4 && tokens.get(2) == b"b" {
        match MetaKey::decode(raw_key) {
            Some(key) => key,
            None => {
                reply::line(out, BAD_FORMAT);
                return request.done();
            }
        }
    } else {
        MetaKey::Text(raw_key)
    };
    let get = Get {
        bump: false,
        ..Get::new(Key::new(ctx.namespace, key.bytes()))
    };
    let Ok(GetOutcome::Hit(item)) = ctx.engine.run(&get, ctx.now) else {
        reply::line(out, b"EN");
        return request.done();
    };
    out.extend_from_slice(b"ME ");
    key.write_bare(out);
    out.extend_from_slice(b" exp=");
    // memcached prints the expiry time minus now: minus the time to live.
    let exp = match item.ttl {
        None => -1,
        ttl => -ttl_secs(ttl),
    };
    reply::signed(out, exp);
    out.extend_from_slice(b" la=");
    reply::number(out, item.idle.as_secs());
    out.extend_from_slice(b" cas=");
    reply::number(out, item.cas);
    out.extend_from_slice(if item.fetched_before {
        b" fetch=yes cls=1 size="
    } else {
        b" fetch=no cls=1 size="
    });
    let flags_size = if item.flags == 0 { 0 } else { 4 };
    let size =
        ITEM_HEADER + key.bytes().len() as u64 + 1 + item.value.len() as u64 + 2 + flags_size;
    reply::number(out, size);
    out.extend_from_slice(b"\r\n");
    request.done()
}
