//! `HINCRBY`, `HINCRBYFLOAT`: a number in a hash field, created at 0.

use sessiond_engine::{EngineError, HashIncrement, HashIncrementFloat, LongDouble};

use super::{Call, Outcome};
use crate::args;
use crate::keyspace::class;
use crate::reply::CommandError;

/// `HINCRBY key field increment`: the field's new integer.
pub(crate) fn hincrby(call: &mut Call<'_, '_>) -> Outcome {
    let delta = args::integer(call.arg(3))?;
    let increment = HashIncrement {
        key: call.key(1),
        field: call.arg(2),
        delta,
    };
    let value = call.write(1, &increment)?.map_err(|error| match error {
        EngineError::NotAnInteger => CommandError::HashNotInteger,
        other => CommandError::from(other),
    })?;
    call.notify(class::HASH, "hincrby", call.arg(1));
    call.reply().integer(value);
    Ok(())
}

/// `HINCRBYFLOAT key field increment`: the field's new text, a bulk string in both protocol
/// versions, computed in 80-bit extended doubles as Redis does on x86-64.
pub(crate) fn hincrbyfloat(call: &mut Call<'_, '_>) -> Outcome {
    // Redis reads the increment as a long double (`strtold`), not as a double.
    let delta = LongDouble::parse(call.arg(3)).ok_or(CommandError::NotFloat)?;
    if !delta.is_finite() {
        return Err(CommandError::message("value is NaN or Infinity"));
    }
    let increment = HashIncrementFloat {
        key: call.key(1),
        field: call.arg(2),
        delta,
    };
    let text = call.write(1, &increment)?.map_err(|error| match error {
        EngineError::NotANumber => CommandError::message("increment would produce NaN or Infinity"),
        other => CommandError::from(other),
    })?;
    call.notify(class::HASH, "hincrbyfloat", call.arg(1));
    call.reply().bulk(&text);
    Ok(())
}
