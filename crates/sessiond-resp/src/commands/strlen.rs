//! `STRLEN key`: a string's length in bytes; 0 for a missing key.

use sessiond_engine::ValueType;

use super::{Call, Outcome};

/// Answers a string's length.
pub(crate) fn strlen(call: &mut Call<'_, '_>) -> Outcome {
    super::card::length(call, ValueType::String)
}
