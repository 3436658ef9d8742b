//! `HELLO [protover [AUTH username password] [SETNAME clientname]]`: the RESP3 handshake.
//!
//! Lettuce and redis-py (with `protocol=3`) start with `HELLO 3`; Lettuce falls back to
//! RESP2 only on `ERR unknown command`, so the handshake is answered in full.

use super::{Call, Outcome, auth, client};
use crate::encoder::Version;
use crate::reply::CommandError;
use crate::{REDIS_VERSION, args};

/// Switches the protocol version, optionally authenticating and naming the connection, and
/// answers the server's description.
pub(crate) fn hello(call: &mut Call<'_, '_>) -> Outcome {
    let mut next = 1;
    let mut version = None;
    if call.argc() >= 2 {
        let requested = args::integer(call.arg(1)).map_err(|_| CommandError::HelloVersion)?;
        next = 2;
        version = Some(match requested {
            2 => Version::Resp2,
            3 => Version::Resp3,
            _ => return Err(CommandError::NoProto),
        });
    }
    let mut credentials = None;
    let mut name = None;
    while next < call.argc() {
        let option = call.arg(next);
        let more = call.argc() - 1 - next;
        if args::is(option, "AUTH") && more >= 2 {
            credentials = Some((call.arg(next + 1), call.arg(next + 2)));
            next += 3;
        } else if args::is(option, "SETNAME") && more >= 1 {
            name = Some(call.arg(next + 1));
            next += 2;
        } else {
            return Err(CommandError::HelloSyntax(option.to_vec()));
        }
    }
    if let Some((user, password)) = credentials {
        auth::authenticate(call.ctx.shared, user, password)?;
        call.session.authenticated = true;
    }
    if !call.session.authenticated {
        return Err(CommandError::HelloNoAuth);
    }
    if let Some(name) = name {
        client::set_name(call, name)?;
    }
    if let Some(version) = version {
        call.session.set_version(version);
    }
    let id = call.session.client.id;
    let proto = match call.session.version {
        Version::Resp2 => 2,
        Version::Resp3 => 3,
    };
    let mut reply = call.reply();
    reply.map(7);
    reply.bulk(b"server").bulk(b"redis");
    reply.bulk(b"version").bulk(REDIS_VERSION.as_bytes());
    reply.bulk(b"proto").integer(proto);
    reply
        .bulk(b"id")
        .integer(i64::try_from(id).unwrap_or(i64::MAX));
    reply.bulk(b"mode").bulk(b"standalone");
    reply.bulk(b"role").bulk(b"master");
    reply.bulk(b"modules").array(0);
    Ok(())
}
