//! `me <key> [b]`: memcached's debug dump of one item's metadata.
//!
//! `ME <key> exp=<secs> la=<secs> cas=<cas> fetch=<yes|no> cls=<class> size=<bytes>`, or `EN`.
//! sessiond has no slabs: it reports the size memcached would account for the item (header, CAS,
//! key, value and terminators) and the slab class memcached's default settings would put that
//! size in, so the line reads as memcached's would.

use bytes::BytesMut;
use sessiond_engine::{Get, GetOutcome, Key};

use super::MetaKey;
use crate::Context;
use crate::exptime::ttl_secs;
use crate::text::reply::{self, BAD_FORMAT};
use crate::text::{Next, Request};

/// memcached's item header, CAS included.
const ITEM_HEADER: u64 = 48 + 8;

/// The slab class memcached's defaults (`-n 48`, `-f 1.25`, 512 KiB largest chunk) give an
/// item of `size` bytes: chunks start at 96 bytes and grow by 1.25, aligned to 8, until the
/// next would pass 512 KiB / 1.25; the class after that holds everything larger.
fn slab_class(size: u64) -> u64 {
    const LARGEST_CHUNK: u64 = 512 * 1024;
    let (mut class, mut chunk) = (1, 96);
    while size > chunk {
        let next = chunk * 5 / 4;
        class += 1;
        if next * 5 >= LARGEST_CHUNK * 4 {
            break;
        }
        chunk = next.next_multiple_of(8);
    }
    class
}

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
        b" fetch=yes cls="
    } else {
        b" fetch=no cls="
    });
    let flags_size = if item.flags == 0 { 0 } else { 4 };
    let size =
        ITEM_HEADER + key.bytes().len() as u64 + 1 + item.value.len() as u64 + 2 + flags_size;
    reply::number(out, slab_class(size));
    out.extend_from_slice(b" size=");
    reply::number(out, size);
    out.extend_from_slice(b"\r\n");
    request.done()
}

#[cfg(test)]
mod tests {
    use super::slab_class;

    #[test]
    fn slab_classes_follow_memcached_defaults() {
        // Chunk sizes 96, 120, 152, 192, 240, 304, ...
        assert_eq!(slab_class(62), 1);
        assert_eq!(slab_class(96), 1);
        assert_eq!(slab_class(97), 2);
        assert_eq!(slab_class(120), 2);
        assert_eq!(slab_class(121), 3);
        assert_eq!(slab_class(152), 3);
        assert_eq!(slab_class(153), 4);
        assert_eq!(slab_class(564), 9);
        assert_eq!(slab_class(5064), 19);
        assert_eq!(slab_class(100_064), 32);
        assert_eq!(slab_class(400_064), 39);
        assert_eq!(slab_class(1_000_064), 39);
        assert_eq!(slab_class(u64::MAX), 39);
    }
}
