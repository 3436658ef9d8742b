//! `GET key`: a string's value, or null.

use sessiond_engine::{Get, GetOutcome};

use super::{Call, Outcome};

/// Reads a string.
pub(crate) fn get(call: &mut Call<'_, '_>) -> Outcome {
    match call.read(1, &Get::new(call.key(1)))?? {
        GetOutcome::Hit(view) => call.reply().bulk(&view.value),
        GetOutcome::Miss => call.reply().null(),
    };
    Ok(())
}
