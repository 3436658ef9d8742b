//! `SET`, `SETEX`, `PSETEX`, `SETNX`, `GETSET`: writing a string.
//!
//! Session stores live on these: phpredis locks with `SET key_LOCK secret NX PX 30000` and
//! writes with `SETEX`, Django's `add` is `SET key value EX t NX`, connect-redis writes with
//! `SET key value EX ttl`.

use sessiond_engine::{Expiry, ExpiryUpdate, WriteCondition, WriteString, WriteStringOutcome};

use super::expiry::{self, For, Unit};
use super::{Call, Outcome};
use crate::keyspace::class;

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]`: `+OK`, null when `NX`
/// or `XX` stopped it, or with `GET` the old value (null if none).
pub(crate) fn set(call: &mut Call<'_, '_>) -> Outcome {
    let options = expiry::parse(call, 3, For::Set)?;
    let expiry = match options.expire {
        Some((unit, value)) => {
            ExpiryUpdate::Set(Expiry::At(expiry::deadline(call, unit, value, "set")?))
        }
        None if options.keep_ttl => ExpiryUpdate::Keep,
        None => ExpiryUpdate::Set(Expiry::Never),
    };
    let condition = if options.nx {
        WriteCondition::IfAbsent
    } else if options.xx {
        WriteCondition::IfPresent
    } else {
        WriteCondition::Always
    };
    let write = WriteString {
        key: call.key(1),
        value: call.arg(2),
        condition,
        expiry,
        previous: options.get,
    };
    let outcome = call.write_string(1, &write, options.get)??;
    if matches!(outcome, WriteStringOutcome::Written { .. }) {
        written(call, expiry);
    }
    let mut reply = call.reply();
    match outcome {
        WriteStringOutcome::Written { previous } | WriteStringOutcome::NotWritten { previous }
            if options.get =>
        {
            match previous {
                Some(value) => reply.bulk(&value),
                None => reply.null(),
            };
        }
        WriteStringOutcome::Written { .. } => {
            reply.ok();
        }
        WriteStringOutcome::NotWritten { .. } => {
            reply.null();
        }
    }
    Ok(())
}

/// `SETEX key seconds value`.
pub(crate) fn setex(call: &mut Call<'_, '_>) -> Outcome {
    set_with_expiry(call, Unit::Seconds, "setex")
}

/// `PSETEX key milliseconds value`.
pub(crate) fn psetex(call: &mut Call<'_, '_>) -> Outcome {
    set_with_expiry(call, Unit::Millis, "psetex")
}

/// `SETEX` and `PSETEX`: a plain write with an expiry from now.
fn set_with_expiry(call: &mut Call<'_, '_>, unit: Unit, name: &'static str) -> Outcome {
    let at = expiry::deadline(call, unit, call.arg(2), name)?;
    let write = WriteString::new(call.key(1), call.arg(3), Expiry::At(at));
    call.write_string(1, &write, false)??;
    written(call, ExpiryUpdate::Set(Expiry::At(at)));
    call.reply().ok();
    Ok(())
}

/// `SETNX key value`: 1 if written, 0 if the key held something.
pub(crate) fn setnx(call: &mut Call<'_, '_>) -> Outcome {
    let write = WriteString {
        condition: WriteCondition::IfAbsent,
        ..WriteString::new(call.key(1), call.arg(2), Expiry::Never)
    };
    let done = matches!(
        call.write_string(1, &write, false)??,
        WriteStringOutcome::Written { .. }
    );
    if done {
        written(call, ExpiryUpdate::Set(Expiry::Never));
    }
    call.reply().integer(i64::from(done));
    Ok(())
}

/// `GETSET key value`: writes (removing any expiry) and answers the old value.
pub(crate) fn getset(call: &mut Call<'_, '_>) -> Outcome {
    let write = WriteString {
        previous: true,
        ..WriteString::new(call.key(1), call.arg(2), Expiry::Never)
    };
    let (WriteStringOutcome::Written { previous } | WriteStringOutcome::NotWritten { previous }) =
        call.write_string(1, &write, true)??;
    written(call, ExpiryUpdate::Set(Expiry::Never));
    match previous {
        Some(value) => call.reply().bulk(&value),
        None => call.reply().null(),
    };
    Ok(())
}

/// The events of a string written with `expiry`, as Redis's `setGenericCommand` fires them:
/// `set`, then `expire` when it got one. A deadline already past stores nothing here, where
/// Redis stores the key and expires it at once: `expired` follows, as it would there.
fn written(call: &Call<'_, '_>, expiry: ExpiryUpdate) {
    let key = call.arg(1);
    call.notify(class::STRING, "set", key);
    if let ExpiryUpdate::Set(Expiry::At(at)) = expiry {
        call.notify(class::GENERIC, "expire", key);
        if at <= call.now() {
            call.notify(class::EXPIRED, "expired", key);
        }
    }
}
