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
    INVALID_OR_DUPLICATE_FLAG, MetaFlags, MetaKey, OPAQUE_TOO_LONG, Syntax, TtlReport,
    opaque_too_long, refuse, split_touch, write_opaque, write_opaque_and_key,
};
use crate::Context;
use crate::exptime::{expiry_from_exptime, ttl_secs};
use crate::text::reply::{self, NON_NUMERIC, OUT_OF_MEMORY};
use crate::text::{Next, Request};

/// `ma`'s line: its flags follow the key, and memcached gives one message for every flag error.
const SYNTAX: Syntax = Syntax {
    flags_at: 2,
    too_many_tokens: b"CLIENT_ERROR options flags too long",
    flag_error: Some(INVALID_OR_DUPLICATE_FLAG),
};

/// Handles `ma`.
pub(crate) fn run(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) -> Next {
    let (flags, parsed, key) = match SYNTAX.read(request, ctx) {
        Ok(line) => line,
        Err(message) => return refuse(request, out, message),
    };
    let direction = match parsed.mode {
        None | Some(b'I' | b'+') => Direction::Increment,
        Some(b'D' | b'-') => Direction::Decrement,
        Some(_) => return refuse(request, out, b"CLIENT_ERROR invalid mode for ma M token"),
    };
    if opaque_too_long(flags) {
        return refuse(request, out, OPAQUE_TOO_LONG);
    }

    let now = ctx.now;
    let name = Key::new(ctx.namespace, key.bytes());
    let (touch_now, touch_later) = split_touch(parsed.ttl, flags, now);
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
        touch: touch_now,
    };
    match ctx.engine.run(&command, now) {
        Ok(ArithmeticOutcome::Updated { value, cas, ttl }) => {
            if let Some(expiry) = touch_later {
                // The update just went through, so the journal took it: the touch will too.
                let _ = ctx.engine.run(&Touch { key: name, expiry }, now);
            }
            // Quiet mode hides a successful update, and only that (not even a create).
            if !parsed.quiet {
                let counter = Counter {
                    value,
                    cas,
                    ttl: TtlReport::Read {
                        ttl: ttl_secs(ttl),
                        late_touch: touch_later,
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
        Err(error) => reply::line(out, reply::refused(error, OUT_OF_MEMORY)),
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
