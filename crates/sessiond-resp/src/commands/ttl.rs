//! `TTL`, `PTTL`, `EXPIRETIME`, `PEXPIRETIME`: how long a key has left; -1 when it never
//! expires, -2 when it does not exist.

use sessiond_engine::Inspect;

use super::{Call, Outcome};

/// `TTL key`: seconds left, rounded to the nearest.
pub(crate) fn ttl(call: &mut Call<'_, '_>) -> Outcome {
    answer(call, false, false)
}

/// `PTTL key`: milliseconds left.
pub(crate) fn pttl(call: &mut Call<'_, '_>) -> Outcome {
    answer(call, true, false)
}

/// `EXPIRETIME key`: the Unix time it expires at, in seconds.
pub(crate) fn expiretime(call: &mut Call<'_, '_>) -> Outcome {
    answer(call, false, true)
}

/// `PEXPIRETIME key`: the Unix time it expires at, in milliseconds.
pub(crate) fn pexpiretime(call: &mut Call<'_, '_>) -> Outcome {
    answer(call, true, true)
}

/// Redis's `ttlGenericCommand`: what is left (or the deadline), seconds rounded as
/// `(ms + 500) / 1000`.
fn answer(call: &mut Call<'_, '_>, millis: bool, absolute: bool) -> Outcome {
    let Some(info) = call.run(&Inspect { key: call.key(1) })? else {
        call.notify_miss(1);
        call.reply().integer(-2);
        return Ok(());
    };
    let Some(left) = info.ttl else {
        call.reply().integer(-1);
        return Ok(());
    };
    let left = i64::try_from(left.as_millis()).unwrap_or(i64::MAX);
    let value = if absolute {
        left.saturating_add(call.now_millis())
    } else {
        left
    };
    let value = if millis {
        value
    } else {
        value.saturating_add(500) / 1000
    };
    call.reply().integer(value);
    Ok(())
}
