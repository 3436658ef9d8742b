//! `SELECT index`: choose the database (0 to 15) the connection's keys live in.

use super::{Call, Outcome};
use crate::args;
use crate::reply::CommandError;

/// Selects a database.
pub(crate) fn select(call: &mut Call<'_, '_>) -> Outcome {
    let index = args::int(call.arg(1))?;
    let databases = call.ctx.shared.config.databases.len();
    let db = usize::try_from(index)
        .ok()
        .filter(|&db| db < databases)
        .ok_or(CommandError::DbIndexOutOfRange)?;
    call.session.select(db);
    call.reply().ok();
    Ok(())
}
