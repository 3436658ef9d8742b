//! The server-level commands: `version`, `verbosity`, `flush_all`, `shutdown` and `stats`.
//! (`quit` needs no handler: it closes the connection.)

use bytes::BytesMut;
use sessiond_engine::Flush;

use super::parse::{safe_strtol, safe_strtoul};
use super::reply::{self, BAD_FORMAT, ERROR, INVALID_EXPTIME};
use super::{Next, Request};
use crate::exptime::expiry_from_exptime;
use crate::{Context, ProtocolCounters, VERSION};

/// `VERSION <version>`. sessiond reports its own version string ([`VERSION`]), not memcached's.
pub(crate) fn version(request: &Request<'_>, out: &mut BytesMut) -> Next {
    out.extend_from_slice(b"VERSION ");
    reply::line(out, VERSION.as_bytes());
    request.done()
}

/// `verbosity <level> [noreply]`: checked and acknowledged. sessiond's logging is configured by
/// the operator, so the level changes nothing.
pub(crate) fn verbosity(request: &Request<'_>, out: &mut BytesMut) -> Next {
    let noreply = request.tokens.noreply();
    let answer = match safe_strtoul(request.tokens.get(1)) {
        Some(_) => b"OK".as_slice(),
        None => BAD_FORMAT,
    };
    reply::line_unless(out, noreply, answer);
    request.done()
}

/// `flush_all [delay] [noreply]`: empties the connection's namespace, now or after `delay`
/// (an expiration time: seconds, or a Unix time past 30 days).
///
/// A delay that is 0 or negative flushes now. A Unix time already past flushes nothing:
/// memcached removes the items stored before that time, which is none when the time is before
/// the server started, the only case clients meet in practice.
pub(crate) fn flush_all(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) -> Next {
    let tokens = &request.tokens;
    let noreply = tokens.noreply();
    // memcached counts the command before looking at its arguments.
    ProtocolCounters::bump(&ctx.counters.cmd_flush);
    let mut delay = 0;
    if tokens.count() != if noreply { 3 } else { 2 } {
        let Some(parsed) = safe_strtol(tokens.get(1)) else {
            reply::line_unless(out, noreply, INVALID_EXPTIME);
            return request.done();
        };
        delay = parsed;
    }
    let at = if delay > 0 {
        expiry_from_exptime(i64::from(delay), ctx.now).deadline(ctx.now)
    } else {
        None
    };
    if at.is_none_or(|at| at > ctx.now) {
        let flush = Flush {
            namespace: Some(ctx.namespace),
            at,
        };
        if let Err(error) = ctx.engine.flush(&flush, ctx.now) {
            reply::line_unless(out, noreply, reply::refused(error, reply::UNAVAILABLE));
            return request.done();
        }
    }
    reply::line_unless(out, noreply, b"OK");
    request.done()
}

/// `shutdown`: memcached refuses it unless started with `-A`; sessiond always refuses it, since
/// stopping the server is the operator's business.
pub(crate) fn shutdown(request: &Request<'_>, out: &mut BytesMut) -> Next {
    reply::line(out, b"ERROR: shutdown not enabled");
    request.done()
}

/// `stats [group]`: `STAT <name> <value>` lines and `END`.
///
/// The general group and `settings` carry sessiond's figures ([`crate::stats`]). Groups that
/// describe memcached's slab allocator (`items`, `slabs`, `conns`, `extstore`, `cachedump`) are
/// empty, `sizes` reports the size histogram as disabled, and `detail` is accepted but records
/// nothing. `reset` answers `RESET` but resets nothing: sessiond's counters are cumulative.
/// Unknown groups are `ERROR`, as in memcached.
pub(crate) fn stats(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) -> Next {
    let tokens = &request.tokens;
    if tokens.count() == 2 {
        write_stats(out, &crate::stats::general(ctx));
        return request.done();
    }
    let detail_usage: &[u8] = b"CLIENT_ERROR usage: stats detail on|off|dump";
    match tokens.get(1) {
        b"settings" => write_stats(out, &crate::stats::settings(ctx)),
        b"reset" => reply::line(out, b"RESET"),
        b"detail" => match tokens.get(2) {
            _ if tokens.count() < 4 => reply::line(out, detail_usage),
            b"on" | b"off" => reply::line(out, b"OK"),
            b"dump" => reply::line(out, b"END"),
            _ => reply::line(out, detail_usage),
        },
        b"cachedump" => {
            if tokens.count() < 5 {
                reply::line(out, b"CLIENT_ERROR bad command line");
            } else {
                match (safe_strtoul(tokens.get(2)), safe_strtoul(tokens.get(3))) {
                    (Some(class), Some(_)) if class >= 64 => {
                        reply::line(out, b"CLIENT_ERROR Illegal slab id");
                    }
                    (Some(_), Some(_)) => reply::line(out, b"END"),
                    _ => reply::line(out, BAD_FORMAT),
                }
            }
        }
        b"sizes" => {
            reply::line(out, b"STAT sizes_status disabled");
            reply::line(out, b"END");
        }
        b"items" | b"slabs" | b"conns" | b"extstore" => reply::line(out, b"END"),
        _ => reply::line(out, ERROR),
    }
    request.done()
}

/// Writes `STAT <name> <value>\r\n` for each pair, then `END\r\n`.
fn write_stats(out: &mut BytesMut, stats: &[(&str, String)]) {
    for (name, value) in stats {
        out.reserve(name.len() + value.len() + 8);
        out.extend_from_slice(b"STAT ");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b" ");
        reply::line(out, value.as_bytes());
    }
    reply::line(out, b"END");
}
