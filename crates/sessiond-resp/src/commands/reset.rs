//! `RESET`: the connection back to its state at connect.

use super::{Call, Outcome};
use crate::encoder::Version;

/// Resets the connection as Redis does: no transaction and no watched keys, RESP2,
/// database 0, no name, no subscriptions (left without confirmations), and not
/// authenticated when a password is required. The reply, `+RESET`, is in RESP2.
pub(crate) fn reset(call: &mut Call<'_, '_>) -> Outcome {
    call.session.multi.discard();
    if let Some(subscriptions) = &mut call.session.subscriptions {
        subscriptions.leave_all();
        let mut info = call.session.client.info.lock();
        (info.sub, info.psub) = (0, 0);
    }
    call.session.set_version(Version::Resp2);
    call.session.select(0);
    call.session.client.info.lock().name.clear();
    call.session.authenticated = !call.ctx.shared.requires_auth();
    call.reply().simple(b"RESET");
    Ok(())
}
