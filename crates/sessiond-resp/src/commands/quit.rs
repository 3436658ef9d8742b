//! `QUIT`: `+OK`, then the connection closes once the replies before it are sent.

use super::{Call, Outcome};

/// Closes the connection after its replies. Redis 7.0 takes `QUIT` with any arguments (it
/// handles it before looking the command up), and so does sessiond.
pub(crate) fn quit(call: &mut Call<'_, '_>) -> Outcome {
    call.reply().ok();
    call.session.closing = true;
    Ok(())
}
