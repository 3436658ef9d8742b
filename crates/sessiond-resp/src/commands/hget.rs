//! `HGET`, `HMGET`, `HEXISTS`, `HSTRLEN`: reading hash fields.

use bytes::Bytes;
use sessiond_engine::HashRead;

use super::{Call, Outcome};
use crate::reply::CommandError;

/// `HGET key field`: the field's value, or null.
pub(crate) fn hget(call: &mut Call<'_, '_>) -> Outcome {
    match one_field(call)? {
        Some(value) => call.reply().bulk(&value),
        None => call.reply().null(),
    };
    Ok(())
}

/// `HMGET key field [field ...]`: each field's value or null, in the order asked.
pub(crate) fn hmget(call: &mut Call<'_, '_>) -> Outcome {
    let fields = call.args_from(2);
    let read = HashRead {
        key: call.key(1),
        fields: &fields,
    };
    let values = call.read(1, &read)??;
    super::mget::values_or_nulls(call, &values);
    Ok(())
}

/// `HEXISTS key field`: 1 or 0.
pub(crate) fn hexists(call: &mut Call<'_, '_>) -> Outcome {
    let exists = one_field(call)?.is_some();
    call.reply().integer(i64::from(exists));
    Ok(())
}

/// `HSTRLEN key field`: the length of the field's value; 0 for a missing field.
pub(crate) fn hstrlen(call: &mut Call<'_, '_>) -> Outcome {
    let len = one_field(call)?.map_or(0, |value| value.len());
    call.count(len);
    Ok(())
}

/// The value of the field named by argument 2.
fn one_field(call: &mut Call<'_, '_>) -> Result<Option<Bytes>, CommandError> {
    let fields = [call.arg(2)];
    let read = HashRead {
        key: call.key(1),
        fields: &fields,
    };
    let values = call.read(1, &read)??;
    Ok(values.into_iter().next().flatten())
}
