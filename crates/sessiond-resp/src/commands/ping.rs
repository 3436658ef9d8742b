//! `PING [message]`: `+PONG`, or the message back as a bulk string; for a RESP2 client that
//! subscribes to something, `["pong", message or ""]`, which it reads among its messages.

use super::{Call, Outcome};

/// Answers a liveness check.
pub(crate) fn ping(call: &mut Call<'_, '_>) -> Outcome {
    if call.argc() <= 2 && call.session.in_subscribed_mode() {
        let message = call.args.get(1).unwrap_or_default();
        call.reply().array(2).bulk(b"pong").bulk(message);
        return Ok(());
    }
    match call.argc() {
        1 => {
            call.reply().simple(b"PONG");
        }
        2 => {
            let message = call.arg(1);
            call.reply().bulk(message);
        }
        _ => return Err(crate::reply::CommandError::WrongArity("ping")),
    }
    Ok(())
}
