//! `DBSIZE`: how many keys the selected database holds.

use super::{Call, Outcome};

/// Counts the database's keys (expired ones not yet removed included, as Redis counts them).
pub(crate) fn dbsize(call: &mut Call<'_, '_>) -> Outcome {
    let count = call.store()?.key_count(call.namespace());
    call.reply()
        .integer(i64::try_from(count).unwrap_or(i64::MAX));
    Ok(())
}
