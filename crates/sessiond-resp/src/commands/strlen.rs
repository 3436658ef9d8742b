//! `STRLEN key`: a string's length in bytes; 0 for a missing key.

use sessiond_engine::{Length, ValueType};

use super::{Call, Outcome};

/// Answers a string's length.
pub(crate) fn strlen(call: &mut Call<'_, '_>) -> Outcome {
    let length = Length {
        key: call.key(1),
        value_type: ValueType::String,
    };
    let len = call.run(&length)??;
    call.reply().integer(i64::try_from(len).unwrap_or(i64::MAX));
    Ok(())
}
