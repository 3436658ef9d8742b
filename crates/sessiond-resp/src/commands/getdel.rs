//! `GETDEL key`: a string's value, removing the key.

use sessiond_engine::GetAndDelete;

use super::{Call, Outcome};
use crate::keyspace::class;

/// Takes a string; a `del` event when there was one.
pub(crate) fn getdel(call: &mut Call<'_, '_>) -> Outcome {
    match call.read(1, &GetAndDelete { key: call.key(1) })?? {
        Some(value) => {
            call.notify(class::GENERIC, "del", call.arg(1));
            call.reply().bulk(&value)
        }
        None => call.reply().null(),
    };
    Ok(())
}
