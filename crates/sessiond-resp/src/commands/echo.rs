//! `ECHO message`: the message back (phpredis checks pooled connections with it).

use super::{Call, Outcome};

/// Answers the message.
pub(crate) fn echo(call: &mut Call<'_, '_>) -> Outcome {
    let message = call.arg(1);
    call.reply().bulk(message);
    Ok(())
}
