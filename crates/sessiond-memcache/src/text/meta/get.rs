//! `mg <key> <flag>*`: read an item's value and metadata.
//!
//! Hit: `VA <bytes> <flags>*\r\n<data>\r\n` with `v`, else `HD <flags>*\r\n`. Miss: `EN`.
//! Return flags: `s` size, `t` seconds to live, `c` CAS, `f` client flags, `l` seconds since
//! last access, `h` whether fetched before, `O` opaque, `k` key; then `Z` when another client
//! holds the recache token, `X` when the item is stale, and `W` when this client won the token.
//! Other flags: `T` touch, `N` create on miss, `R` recache, `u` no access bump, `q`, `b`.

use bytes::BytesMut;
use sessiond_engine::{Get, GetOutcome, ItemView, Key, Touch};

use super::{
    MetaFlags, MetaKey, OPAQUE_TOO_LONG, Syntax, TtlReport, opaque_too_long, recache_below, refuse,
    split_touch, write_opaque, write_opaque_and_key,
};
use crate::Context;
use crate::exptime::{expiry_from_exptime, ttl_secs};
use crate::text::reply;
use crate::text::{Next, Request};

/// `mg`'s line: its flags follow the key, and it gives the flag parser's messages.
const SYNTAX: Syntax = Syntax {
    flags_at: 2,
    too_many_tokens: b"CLIENT_ERROR options flags are too long",
    flag_error: None,
};

/// Handles `mg`.
pub(crate) fn run(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) -> Next {
    let (flags, parsed, key) = match SYNTAX.read(request, ctx) {
        Ok(line) => line,
        Err(message) => return refuse(request, out, message),
    };
    if opaque_too_long(flags) {
        return refuse(request, out, OPAQUE_TOO_LONG);
    }

    let now = ctx.now;
    let name = Key::new(ctx.namespace, key.bytes());
    let (touch_now, touch_later) = split_touch(parsed.ttl, flags, now);
    let get = Get {
        key: name,
        touch: touch_now,
        vivify: parsed
            .vivify
            .map(|_| expiry_from_exptime(i64::from(parsed.created_exptime(flags)), now)),
        recache_below: parsed
            .recache
            .and_then(|exptime| recache_below(exptime, now)),
        bump: !parsed.no_update,
    };
    // A failed create (memory limit) is a miss, as memcached's failed allocation is.
    let Ok(GetOutcome::Hit(item)) = ctx.engine.run(&get, now) else {
        if !parsed.quiet {
            out.extend_from_slice(b"EN");
            write_opaque_and_key(out, flags, &key);
            out.extend_from_slice(b"\r\n");
        }
        return request.done();
    };
    // Only a create hands out the token on an item whose token is taken: a hit's view shows the
    // token as it was before this read.
    let created = item.win && item.win_taken;
    if let (Some(expiry), false) = (touch_later, created) {
        // A touch refused while writes cannot be made durable leaves the old expiry; the read
        // itself stands.
        let _ = ctx.engine.run(&Touch { key: name, expiry }, now);
    }
    let ttl = if created {
        TtlReport::Created
    } else {
        TtlReport::Read {
            ttl: ttl_secs(item.ttl),
            late_touch: touch_later,
        }
    };
    write_hit(out, flags, &parsed, &key, &item, ttl, ctx);
    request.done()
}

/// Writes a hit's status line, and its value with `v`.
fn write_hit(
    out: &mut BytesMut,
    flags: &[&[u8]],
    parsed: &MetaFlags,
    key: &MetaKey<'_>,
    item: &ItemView,
    ttl: TtlReport,
    ctx: &Context<'_>,
) {
    out.reserve(item.value.len() + 64);
    if parsed.value {
        out.extend_from_slice(b"VA ");
        reply::number(out, item.value.len() as u64);
    } else {
        out.extend_from_slice(b"HD");
    }
    for (index, flag) in flags.iter().enumerate() {
        match flag[0] {
            b's' => {
                out.extend_from_slice(b" s");
                reply::number(out, item.value.len() as u64);
            }
            b't' => {
                out.extend_from_slice(b" t");
                reply::signed(out, ttl.at(parsed, flags, index, ctx.now));
            }
            b'c' => {
                out.extend_from_slice(b" c");
                reply::number(out, item.cas);
            }
            b'f' => {
                out.extend_from_slice(b" f");
                reply::number(out, u64::from(item.flags));
            }
            b'l' => {
                out.extend_from_slice(b" l");
                reply::number(out, item.idle.as_secs());
            }
            b'h' => out.extend_from_slice(if item.fetched_before { b" h1" } else { b" h0" }),
            b'O' => write_opaque(out, flag),
            b'k' => key.write(out),
            _ => {}
        }
    }
    if item.win_taken && !item.win {
        out.extend_from_slice(b" Z");
    }
    if item.stale {
        out.extend_from_slice(b" X");
    }
    if item.win {
        out.extend_from_slice(b" W");
    }
    out.extend_from_slice(b"\r\n");
    if parsed.value {
        out.extend_from_slice(&item.value);
        out.extend_from_slice(b"\r\n");
    }
}
