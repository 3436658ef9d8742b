//! `GETDEL key`: a string's value, removing the key.

use sessiond_engine::GetAndDelete;

use super::{Call, Outcome};

/// Takes a string.
pub(crate) fn getdel(call: &mut Call<'_, '_>) -> Outcome {
    match call.run(&GetAndDelete { key: call.key(1) })?? {
        Some(value) => call.reply().bulk(&value),
        None => call.reply().null(),
    };
    Ok(())
}
