//! `SELECT index`: choose the database (0 to 15) the connection's keys live in.

use super::{Call, Outcome};
use crate::args;
use crate::reply::CommandError;

/// Selects a database.
pub(crate) fn select(call: &mut Call<'_, '_>) -> Outcome {
    let db = database(call.arg(1), call.ctx.shared.config.databases.len())?;
    call.session.select(db);
    call.reply().ok();
    Ok(())
}

/// The database `SELECT` would select among `count`: a transaction reads it to know which
/// database the keys of the commands queued after a `SELECT` are in.
pub(crate) fn database(arg: &[u8], count: usize) -> Result<usize, CommandError> {
    let index = args::int(arg)?;
    usize::try_from(index)
        .ok()
        .filter(|&db| db < count)
        .ok_or(CommandError::DbIndexOutOfRange)
}
