//! `HLEN`, `SCARD`, `ZCARD`: how many entries a collection holds; 0 for a missing key.
//! (`STRLEN` answers the same way for strings.)

use sessiond_engine::{Length, ValueType};

use super::{Call, Outcome};

/// `HLEN key`.
pub(crate) fn hlen(call: &mut Call<'_, '_>) -> Outcome {
    length(call, ValueType::Hash)
}

/// `SCARD key`.
pub(crate) fn scard(call: &mut Call<'_, '_>) -> Outcome {
    length(call, ValueType::Set)
}

/// `ZCARD key`.
pub(crate) fn zcard(call: &mut Call<'_, '_>) -> Outcome {
    length(call, ValueType::SortedSet)
}

/// Answers the size of the value of `value_type` at argument 1: a collection's entries, a
/// string's bytes.
pub(crate) fn length(call: &mut Call<'_, '_>, value_type: ValueType) -> Outcome {
    let length = Length {
        key: call.key(1),
        value_type,
    };
    let len = call.read(1, &length)??;
    call.count(len);
    Ok(())
}
