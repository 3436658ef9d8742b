//! `INCR`, `DECR`, `INCRBY`, `DECRBY`: a signed 64-bit counter stored as a decimal string,
//! created at 0.

use sessiond_engine::Increment;

use super::{Call, Outcome};
use crate::args;
use crate::keyspace::class;
use crate::reply::CommandError;

/// `INCR key`.
pub(crate) fn incr(call: &mut Call<'_, '_>) -> Outcome {
    add(call, 1)
}

/// `DECR key`.
pub(crate) fn decr(call: &mut Call<'_, '_>) -> Outcome {
    add(call, -1)
}

/// `INCRBY key increment`.
pub(crate) fn incrby(call: &mut Call<'_, '_>) -> Outcome {
    let delta = args::integer(call.arg(2))?;
    add(call, delta)
}

/// `DECRBY key decrement`.
pub(crate) fn decrby(call: &mut Call<'_, '_>) -> Outcome {
    let decrement = args::integer(call.arg(2))?;
    // The one decrement whose negation does not fit; Redis has its own words for it.
    let delta = decrement
        .checked_neg()
        .ok_or_else(|| CommandError::message("decrement would overflow"))?;
    add(call, delta)
}

/// Adds `delta` and answers the new value; an `incrby` event (`DECR` too, as in Redis).
fn add(call: &mut Call<'_, '_>, delta: i64) -> Outcome {
    let value = call.write(
        1,
        &Increment {
            key: call.key(1),
            delta,
        },
    )??;
    call.notify(class::STRING, "incrby", call.arg(1));
    call.reply().integer(value);
    Ok(())
}
