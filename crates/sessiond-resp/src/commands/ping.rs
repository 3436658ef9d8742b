//! `PING [message]`: `+PONG`, or the message back as a bulk string.

use super::{Call, Outcome};

/// Answers a liveness check.
pub(crate) fn ping(call: &mut Call<'_, '_>) -> Outcome {
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
