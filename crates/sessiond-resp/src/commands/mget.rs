//! `MGET key [key ...]`: several strings' values; null for a missing key or another type.

use bytes::Bytes;
use sessiond_engine::{Get, GetOutcome, Key};

use super::{Call, Outcome};
use crate::reply::CommandError;

/// Reads several strings, as one atomic step for a moderate number of keys.
pub(crate) fn mget(call: &mut Call<'_, '_>) -> Outcome {
    let keys: Vec<Key<'_>> = (1..call.argc()).map(|index| call.key(index)).collect();
    let read = call.each_key(&keys, |runner, _, key| {
        match runner.run(&Get::new(key))? {
            Ok(GetOutcome::Hit(view)) => Ok(Read::Value(view.value)),
            Ok(GetOutcome::Miss) => Ok(Read::Missing),
            // A key of another type reads as missing, but is no key miss, as in Redis.
            Err(sessiond_engine::EngineError::WrongType) => Ok(Read::OtherType),
            Err(error) => Err(CommandError::from(error)),
        }
    })?;
    let mut values = Vec::with_capacity(read.len());
    for (index, read) in read.into_iter().enumerate() {
        values.push(match read {
            Read::Value(value) => Some(value),
            Read::Missing => {
                call.notify_miss(index + 1);
                None
            }
            Read::OtherType => None,
        });
    }
    values_or_nulls(call, &values);
    Ok(())
}

/// What `MGET` found at one key.
enum Read {
    Value(Bytes),
    Missing,
    OtherType,
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
