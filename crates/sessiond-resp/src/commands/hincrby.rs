//! `HINCRBY`, `HINCRBYFLOAT`: a number in a hash field, created at 0.

use sessiond_engine::{EngineError, HashIncrement, HashIncrementFloat};

use super::{Call, Outcome};
use crate::args;
use crate::reply::CommandError;

/// `HINCRBY key field increment`: the field's new integer.
pub(crate) fn hincrby(call: &mut Call<'_, '_>) -> Outcome {
    let delta = args::integer(call.arg(3))?;
    let increment = HashIncrement {
        key: call.key(1),
        field: call.arg(2),
        delta,
    };
    let value = call.run(&increment)?.map_err(|error| match error {
        EngineError::NotAnInteger => CommandError::HashNotInteger,
        other => CommandError::from(other),
    })?;
    call.reply().integer(value);
    Ok(())
}

/// `HINCRBYFLOAT key field increment`: the field's new text, a bulk string in both protocol
/// versions.
pub(crate) fn hincrbyfloat(call: &mut Call<'_, '_>) -> Outcome {
    let delta = args::float(call.arg(3))?;
    if !delta.is_finite() {
        return Err(CommandError::message("value is NaN or Infinity"));
    }
    let increment = HashIncrementFloat {
        key: call.key(1),
        field: call.arg(2),
        delta,
    };
    let text = call.run(&increment)?.map_err(|error| match error {
        EngineError::NotANumber => CommandError::message("increment would produce NaN or Infinity"),
        other => CommandError::from(other),
    })?;
    call.reply().bulk(&text);
    Ok(())
}
