//! `AUTH [username] password`: Redis's `requirepass`, with the one user `default`.

use super::{Call, Outcome};
use crate::args;
use crate::reply::CommandError;
use crate::shared::Shared;

/// The only user: Redis's `default`, whose password is the configured one.
const DEFAULT_USER: &[u8] = b"default";

/// Authenticates the connection. A failed attempt leaves the connection as it was, as in
/// Redis.
pub(crate) fn auth(call: &mut Call<'_, '_>) -> Outcome {
    let (user, password) = match call.argc() {
        2 => {
            // The one-argument form names the default user; Redis refuses it when no
            // password is set, so that a misconfigured client notices.
            if !call.ctx.shared.requires_auth() {
                return Err(CommandError::NoPasswordConfigured);
            }
            (DEFAULT_USER, call.arg(1))
        }
        3 => (call.arg(1), call.arg(2)),
        _ => return Err(CommandError::Syntax),
    };
    authenticate(call.ctx.shared, user, password)?;
    call.session.authenticated = true;
    call.reply().ok();
    Ok(())
}

/// Checks a user name and password: the `default` user with the configured password, or
/// with any password when none is configured (Redis's `nopass` default user).
pub(crate) fn authenticate(
    shared: &Shared,
    user: &[u8],
    password: &[u8],
) -> Result<(), CommandError> {
    // User names are compared exactly, as Redis's ACL compares them.
    if user != DEFAULT_USER {
        return Err(CommandError::WrongPass);
    }
    match &shared.config.password {
        None => Ok(()),
        Some(expected) if args::secret_eq(password, expected) => Ok(()),
        Some(_) => Err(CommandError::WrongPass),
    }
}
