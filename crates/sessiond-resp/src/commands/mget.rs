//! `MGET key [key ...]`: several strings' values; null for a missing key or another type.

use bytes::Bytes;
use sessiond_engine::{Get, GetOutcome, Key};

use super::{Call, Outcome};
use crate::reply::CommandError;

/// Reads several strings, as one atomic step for a moderate number of keys.
pub(crate) fn mget(call: &mut Call<'_, '_>) -> Outcome {
    let keys: Vec<Key<'_>> = (1..call.argc()).map(|index| call.key(index)).collect();
    let mut missing = Vec::new();
    let values = call.each_key(&keys, |runner, index, key| {
        match runner.run(&Get::new(key))? {
            Ok(GetOutcome::Hit(view)) => Ok(Some(view.value)),
            Ok(GetOutcome::Miss) => {
                missing.push(index);
                Ok(None)
            }
            // A key of another type reads as missing, but is no key miss, as in Redis.
            Err(sessiond_engine::EngineError::WrongType) => Ok(None),
            Err(error) => Err(CommandError::from(error)),
        }
    })?;
    for index in missing {
        call.notify_miss(index + 1);
    }
    values_or_nulls(call, &values);
    Ok(())
}

/// Answers an array of values, null for each missing one (`MGET`, `HMGET`).
pub(crate) fn values_or_nulls(call: &mut Call<'_, '_>, values: &[Option<Bytes>]) {
    let mut reply = call.reply();
    reply.array(values.len());
    for value in values {
        match value {
            Some(value) => reply.bulk(value),
            None => reply.null(),
        };
    }
}
