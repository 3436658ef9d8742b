//! `EXPIRE`, `PEXPIRE`, `EXPIREAT`, `PEXPIREAT` with `NX`, `XX`, `GT`, `LT`: gives a key an
//! expiry; 1 if set (or the key removed, for a time already past), 0 if not.
//!
//! connect-redis touches sessions with `EXPIRE`, phpredis with `EXPIRE`, Spring Session with
//! `PEXPIRE` and `PEXPIREAT`.

use sessiond_engine::{Expire, ExpireCondition, ExpireOutcome, Timestamp};

use super::{Call, Outcome};
use crate::args;
use crate::keyspace::class;
use crate::reply::CommandError;

/// `EXPIRE key seconds [NX|XX|GT|LT]`.
pub(crate) fn expire(call: &mut Call<'_, '_>) -> Outcome {
    run(call, true, false, "expire")
}

/// `PEXPIRE key milliseconds [NX|XX|GT|LT]`.
pub(crate) fn pexpire(call: &mut Call<'_, '_>) -> Outcome {
    run(call, false, false, "pexpire")
}

/// `EXPIREAT key unix-seconds [NX|XX|GT|LT]`.
pub(crate) fn expireat(call: &mut Call<'_, '_>) -> Outcome {
    run(call, true, true, "expireat")
}

/// `PEXPIREAT key unix-milliseconds [NX|XX|GT|LT]`.
pub(crate) fn pexpireat(call: &mut Call<'_, '_>) -> Outcome {
    run(call, false, true, "pexpireat")
}

/// Redis's `expireGenericCommand`: the options first, then the time, then the key.
fn run(call: &mut Call<'_, '_>, seconds: bool, absolute: bool, name: &'static str) -> Outcome {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for index in 3..call.argc() {
        let option = call.arg(index);
        if args::is(option, "NX") {
            nx = true;
        } else if args::is(option, "XX") {
            xx = true;
        } else if args::is(option, "GT") {
            gt = true;
        } else if args::is(option, "LT") {
            lt = true;
        } else {
            return Err(CommandError::message(format!(
                "Unsupported option {}",
                String::from_utf8_lossy(args::c_str(option))
            )));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CommandError::message(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(CommandError::message(
            "GT and LT options at the same time are not compatible",
        ));
    }
    let invalid = CommandError::InvalidExpire(name);
    let mut when = args::integer(call.arg(2))?;
    if seconds {
        when = when.checked_mul(1000).ok_or(invalid.clone())?;
    }
    if !absolute {
        when = when.checked_add(call.now_millis()).ok_or(invalid)?;
    }
    // A time before the epoch is as past as the epoch itself: the key goes.
    let at = Timestamp::from_millis(u64::try_from(when).unwrap_or(0));
    let key = call.key(1);
    let condition = if nx {
        ExpireCondition::IfNone
    } else if gt {
        // GT already fails for a key without an expiry, which is all XX adds.
        ExpireCondition::IfLater
    } else if lt && xx {
        ExpireCondition::IfSomeEarlier
    } else if lt {
        ExpireCondition::IfEarlier
    } else if xx {
        ExpireCondition::IfSome
    } else {
        ExpireCondition::Always
    };
    let outcome = call.run(&Expire { key, at, condition })??;
    reply(call, outcome)
}

/// Answers, with the event Redis fires: `expire`, or `del` for a time already past.
fn reply(call: &mut Call<'_, '_>, outcome: ExpireOutcome) -> Outcome {
    match outcome {
        ExpireOutcome::Set => call.notify(class::GENERIC, "expire", call.arg(1)),
        ExpireOutcome::Removed => call.notify(class::GENERIC, "del", call.arg(1)),
        ExpireOutcome::NotSet | ExpireOutcome::NotFound => {}
    }
    let set = matches!(outcome, ExpireOutcome::Set | ExpireOutcome::Removed);
    call.reply().integer(i64::from(set));
    Ok(())
}
