//! Choosing a command's handler by its name and token count, in memcached's order.
//!
//! The order matters for the replies to bad input: memcached checks the token count before the
//! command's own arguments (so `set a 0 0` is `ERROR`, not a format error), and only a line that
//! is no command at all and ends in an `HTTP/` token closes the connection.

use bytes::BytesMut;
use sessiond_engine::StoreMode;

use super::reply::{self, ERROR};
use super::{Next, Request, arithmetic, delete, meta, misc, retrieval, storage, touch};
use crate::{Context, ProtocolCounters};
use sessiond_engine::Direction;

/// Runs the request's command.
pub(crate) fn run(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) -> Next {
    let tokens = &request.tokens;
    let count = tokens.count();
    let name = tokens.get(0);
    // No command is shorter than two bytes.
    if count < 2 || name.len() < 2 {
        return error(request, out);
    }
    match name[0] {
        b'm' if name.len() == 2 && b"gsdane".contains(&name[1]) => {
            // Every meta command counts, not only `me` as in memcached: the figure is
            // meant to show how much of the traffic uses the meta protocol.
            ProtocolCounters::bump(&ctx.counters.cmd_meta);
            meta_command(name[1], request, out, ctx)
        }
        b'm' if name.len() == 2 => error(request, out),
        _ => classic_command(name, count, request, out, ctx),
    }
}

/// Runs a meta command, named by its second letter.
fn meta_command(letter: u8, request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) -> Next {
    match letter {
        b'g' => meta::get::run(request, out, ctx),
        b's' => meta::set::run(request, out, ctx),
        b'd' => meta::delete::run(request, out, ctx),
        b'a' => meta::arithmetic::run(request, out, ctx),
        b'n' => meta::noop::run(request, out, ctx),
        b'e' => meta::debug::run(request, out, ctx),
        _ => error(request, out),
    }
}

/// Runs a classic command.
fn classic_command(
    name: &[u8],
    count: usize,
    request: &Request<'_>,
    out: &mut BytesMut,
    ctx: &Context<'_>,
) -> Next {
    let within = |min: usize, max: usize| (min..=max).contains(&count);
    let tokens = &request.tokens;
    match name[0] {
        b'g' => match name {
            _ if count < 3 => error(request, out),
            b"get" => retrieval::run(request, out, ctx, false, false),
            b"gets" => retrieval::run(request, out, ctx, true, false),
            b"gat" => retrieval::run(request, out, ctx, false, true),
            b"gats" => retrieval::run(request, out, ctx, true, true),
            _ => error(request, out),
        },
        b's' => match name {
            b"set" if within(6, 7) => storage::run(request, out, ctx, StoreMode::Set, false),
            b"stats" => misc::stats(request, out, ctx),
            b"shutdown" => misc::shutdown(request, out),
            _ => error(request, out),
        },
        b'a' => match name {
            b"add" if within(6, 7) => storage::run(request, out, ctx, StoreMode::Add, false),
            b"append" if within(6, 7) => storage::run(request, out, ctx, StoreMode::Append, false),
            _ => error(request, out),
        },
        b'c' => match name {
            b"cas" if within(7, 8) => storage::run(request, out, ctx, StoreMode::Set, true),
            _ => error(request, out),
        },
        b'i' => match name {
            b"incr" if within(4, 5) => arithmetic::run(request, out, ctx, Direction::Increment),
            _ => error(request, out),
        },
        b'd' => match name {
            b"delete" if within(3, 5) => delete::run(request, out, ctx),
            b"decr" if within(4, 5) => arithmetic::run(request, out, ctx, Direction::Decrement),
            _ => error(request, out),
        },
        b't' => match name {
            b"touch" if within(4, 5) => touch::run(request, out, ctx),
            _ => error(request, out),
        },
        _ => match name {
            b"replace" if within(6, 7) => {
                storage::run(request, out, ctx, StoreMode::Replace, false)
            }
            b"prepend" if within(6, 7) => {
                storage::run(request, out, ctx, StoreMode::Prepend, false)
            }
            b"replace" | b"prepend" => error(request, out),
            // memcached keeps this ancient alias of `get`.
            b"bget" if count >= 3 => retrieval::run(request, out, ctx, false, false),
            b"bget" => error(request, out),
            b"flush_all" if within(2, 4) => misc::flush_all(request, out, ctx),
            b"flush_all" => error(request, out),
            b"version" => misc::version(request, out),
            b"quit" => Next::Close,
            b"verbosity" if within(3, 4) => misc::verbosity(request, out),
            b"verbosity" => error(request, out),
            b"refresh_certs" => {
                reply::line(out, b"Error TLS not enabled");
                request.done()
            }
            // memcached's LRU, crawler, log-watch and extstore admin commands have no meaning in
            // sessiond (nor have `slabs` and `cache_memlimit` above).
            b"lru" | b"lru_crawler" | b"watch" | b"extstore" => error(request, out),
            _ => {
                // An HTTP request sent to the memcached port: memcached hangs up on it.
                if tokens
                    .as_slice()
                    .last()
                    .is_some_and(|last| last.starts_with(b"HTTP/"))
                {
                    Next::HangUp
                } else {
                    error(request, out)
                }
            }
        },
    }
}

/// `ERROR`: not a command, or not one with this many tokens.
fn error(request: &Request<'_>, out: &mut BytesMut) -> Next {
    reply::line(out, ERROR);
    request.done()
}
