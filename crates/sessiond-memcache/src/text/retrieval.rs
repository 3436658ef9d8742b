//! `get`, `gets`, `gat` and `gats`: read any number of keys, optionally touching them.

use bytes::BytesMut;
use sessiond_engine::{Get, GetOutcome, ItemView, Key};

use super::parse::{safe_strtol, words};
use super::reply::{self, BAD_FORMAT, INVALID_EXPTIME};
use super::{Next, Request};
use crate::Context;
use crate::exptime::expiry_from_exptime;

/// Answers a retrieval: a `VALUE` block for every key found, then `END`. `with_cas` adds the
/// CAS value (`gets`, `gats`); `touch` reads an expiration time before the keys (`gat`, `gats`).
///
/// A key over the length limit fails the whole request with a format error and drops the values
/// already written, as memcached does; any touches already made stand, as in memcached.
/// sessiond also fails a request naming more than [`Limits::max_keys_per_get`] keys, which
/// memcached does not limit.
///
/// [`Limits::max_keys_per_get`]: crate::Limits::max_keys_per_get
pub(crate) fn run(
    request: &Request<'_>,
    out: &mut BytesMut,
    ctx: &Context<'_>,
    with_cas: bool,
    touch: bool,
) -> Next {
    let tokens = &request.tokens;
    let mut first_key = 1;
    let mut expiry = None;
    if touch {
        let Some(exptime) = safe_strtol(tokens.get(1)) else {
            reply::line(out, INVALID_EXPTIME);
            return request.done();
        };
        expiry = Some(expiry_from_exptime(i64::from(exptime), ctx.now));
        first_key = 2;
    }
    let start = out.len();
    let keys = tokens
        .as_slice()
        .get(first_key..)
        .unwrap_or_default()
        .iter()
        .copied()
        .chain(tokens.rest().into_iter().flat_map(words));
    for (index, name) in keys.enumerate() {
        if name.len() > ctx.limits.max_key_len || index >= ctx.limits.max_keys_per_get {
            out.truncate(start);
            reply::line(out, BAD_FORMAT);
            return request.done();
        }
        let key = Key::new(ctx.namespace, name);
        let get = match expiry {
            Some(expiry) => Get::and_touch(key, expiry),
            None => Get::new(key),
        };
        if let Ok(GetOutcome::Hit(item)) = ctx.engine.run(&get, ctx.now) {
            write_value(out, name, &item, with_cas);
        }
    }
    out.extend_from_slice(b"END\r\n");
    request.done()
}

/// `VALUE <key> <flags> <bytes> [<cas>]\r\n<data>\r\n`.
fn write_value(out: &mut BytesMut, key: &[u8], item: &ItemView, with_cas: bool) {
    // One reservation for the whole block: the header's numbers take at most 10 + 20 + 20 bytes.
    out.reserve(key.len() + item.value.len() + 64);
    out.extend_from_slice(b"VALUE ");
    out.extend_from_slice(key);
    out.extend_from_slice(b" ");
    reply::number(out, u64::from(item.flags));
    out.extend_from_slice(b" ");
    reply::number(out, item.value.len() as u64);
    if with_cas {
        out.extend_from_slice(b" ");
        reply::number(out, item.cas);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&item.value);
    out.extend_from_slice(b"\r\n");
}
