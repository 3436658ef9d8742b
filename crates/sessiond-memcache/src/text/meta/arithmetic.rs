//! `ma <key> <flag>*`: increment or decrement a counter.
//!
//! Replies `HD`, or `VA <len>` followed by the number with `v`; `NF` (not found) or `EX` (CAS
//! mismatch). Return flags: `c` CAS, `t` seconds to live, `O`, `k`. Flags: `M` mode (`I`/`+`
//! increment, `D`/`-` decrement), `D` delta (default 1), `N` create on miss with `J` as the
//! initial value, `T` new expiration time, `C` compare-and-swap, `q` (hides a successful
//! update only), `b`.

use bytes::BytesMut;
use sessiond_engine::{Arithmetic, ArithmeticOutcome, Direction, Key, Touch, Vivify};

use super::{
    MAX_TOKENS, MetaFlags, MetaKey, OPAQUE_TOO_LONG, TtlReport, opaque_too_long, touch_comes_late,
    write_opaque, write_opaque_and_key,
};
use crate::Context;
use crate::exptime::{expiry_from_exptime, ttl_secs};
use crate::text::reply::{self, BAD_FORMAT, ERROR, NON_NUMERIC, OUT_OF_MEMORY};
use crate::text::{Next, Request};

/// Handles `ma`.
pub(crate) fn run(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) -> Next {
    let tokens = &request.tokens;
    if tokens.count() < 3 {
        reply::line(out, ERROR);
        return request.done();
    }
    let raw_key = tokens.get(1);
    if raw_key.len() > ctx.limits.max_key_len {
        reply::line(out, BAD_FORMAT);
        return request.done();
    }
    if tokens.count() > MAX_TOKENS {
        reply::line(out, b"CLIENT_ERROR options flags too long");
        return request.done();
    }
    let flags = &tokens.as_slice()[2..];
    // memcached gives one message for every flag error of `ma`.
    let Ok((parsed, key)) = MetaFlags::parse(raw_key, flags) else {
        reply::line(out, b"CLIENT_ERROR invalid or duplicate flag");
        return request.done();
    };
    let direction = match parsed.mode {
        None | Some(b'I' | b'+') => Direction::Increment,
        Some(b'D' | b'-') => Direction::Decrement,
        Some(_) => {
            reply::line(out, b"CLIENT_ERROR invalid mode for ma M token");
            return request.done();
        }
    };
    if opaque_too_long(flags) {
        reply::line(out, OPAQUE_TOO_LONG);
        return request.done();
    }

    let now = ctx.now;
    let name = Key::new(ctx.namespace, key.bytes());
    let touch = parsed
        .ttl
        .map(|exptime| expiry_from_exptime(i64::from(exptime), now));
    let touch_later = touch.is_some() && touch_comes_late(flags);
    let command = Arithmetic {
        key: name,
        direction,
        delta: parsed.delta.unwrap_or(1),
        // memcached compares only a non-zero CAS here.
        cas: parsed.cas.filter(|&cas| cas != 0),
        vivify: parsed.vivify.map(|_| Vivify {
            initial: parsed.initial,
            expiry: expiry_from_exptime(i64::from(parsed.created_exptime(flags)), now),
        }),
        touch: if touch_later { None } else { touch },
    };
    match ctx.engine.run(&command, now) {
        Ok(ArithmeticOutcome::Updated { value, cas, ttl }) => {
            if let (true, Some(expiry)) = (touch_later, touch) {
                ctx.engine.run(&Touch { key: name, expiry }, now);
            }
            // Quiet mode hides a successful update, and only that (not even a create).
            if !parsed.quiet {
                let counter = Counter {
                    value,
                    cas,
                    ttl: TtlReport::Read {
                        ttl: ttl_secs(ttl),
                        late_touch: touch.filter(|_| touch_later),
                    },
                };
                write_counter(out, flags, &parsed, &key, counter, ctx);
            }
        }
        Ok(ArithmeticOutcome::Created { value, cas, .. }) => {
            let counter = Counter {
                value,
                cas,
                ttl: TtlReport::Created,
            };
            write_counter(out, flags, &parsed, &key, counter, ctx);
        }
        Ok(ArithmeticOutcome::NotFound) => write_status(out, b"NF", flags, &key),
        Ok(ArithmeticOutcome::Exists) => write_status(out, b"EX", flags, &key),
        Ok(ArithmeticOutcome::NonNumeric) => reply::line(out, NON_NUMERIC),
        Err(_) => reply::line(out, OUT_OF_MEMORY),
    }
    request.done()
}

/// A counter after the command.
#[derive(Clone, Copy)]
struct Counter {
    value: u64,
    cas: u64,
    ttl: TtlReport,
}

/// `HD <flags>*` or `VA <len> <flags>*\r\n<number>`, then `\r\n`.
fn write_counter(
    out: &mut BytesMut,
    flags: &[&[u8]],
    parsed: &MetaFlags,
    key: &MetaKey<'_>,
    counter: Counter,
    ctx: &Context<'_>,
) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(counter.value).as_bytes();
    if parsed.value {
        out.extend_from_slice(b"VA ");
        reply::number(out, digits.len() as u64);
    } else {
        out.extend_from_slice(b"HD");
    }
    for (index, flag) in flags.iter().enumerate() {
        match flag[0] {
            b'c' => {
                out.extend_from_slice(b" c");
                reply::number(out, counter.cas);
            }
            b't' => {
                out.extend_from_slice(b" t");
                reply::signed(out, counter.ttl.at(parsed, flags, index, ctx.now));
            }
            b'O' => write_opaque(out, flag),
            b'k' => key.write(out),
            _ => {}
        }
    }
    if parsed.value {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(digits);
    }
    out.extend_from_slice(b"\r\n");
}

/// A status with the echoed `O` and `k` flags.
fn write_status(out: &mut BytesMut, status: &[u8], flags: &[&[u8]], key: &MetaKey<'_>) {
    out.extend_from_slice(status);
    write_opaque_and_key(out, flags, key);
    out.extend_from_slice(b"\r\n");
}
