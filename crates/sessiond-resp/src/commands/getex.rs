//! `GETEX key [EX s|PX ms|EXAT t|PXAT t|PERSIST]`: a string's value, changing its expiry
//! (phpredis reads with it when `early_refresh` is on).

use sessiond_engine::{Expiry, ExpiryUpdate, GetAndExpire, Inspect, ValueType};

use super::expiry::{self, For};
use super::{Call, Outcome};
use crate::keyspace::class;
use crate::reply::CommandError;

/// Reads a string and sets, removes or keeps its expiry, with Redis's events: `expire`, `del`
/// for a deadline already past, `persist` when an expiry was removed.
pub(crate) fn getex(call: &mut Call<'_, '_>) -> Outcome {
    let options = expiry::parse(call, 2, For::GetEx)?;
    let expiry = match options.expire {
        Some((unit, value)) => match expiry::deadline(call, unit, value, "getex") {
            Ok(at) => ExpiryUpdate::Set(Expiry::At(at)),
            // Redis looks the key up before it reads the expiry: a missing key answers null
            // and another type WRONGTYPE, whatever the expiry says.
            Err(error) => {
                return match call.run(&Inspect { key: call.key(1) })? {
                    None => {
                        call.notify_miss(1);
                        call.reply().null();
                        Ok(())
                    }
                    Some(info) if info.value_type != ValueType::String => {
                        Err(CommandError::WrongType)
                    }
                    Some(_) => Err(error),
                };
            }
        },
        None if options.persist => ExpiryUpdate::Set(Expiry::Never),
        None => ExpiryUpdate::Keep,
    };
    let key = call.key(1);
    let read = GetAndExpire { key, expiry };
    let (value, had_expiry) = if options.persist && call.ctx.shared.notifies(class::GENERIC) {
        // Whether there was an expiry to remove decides the event: one atomic step tells.
        let (info, value) = call.atomically(&[key], |runner| {
            let info = runner.run(&Inspect { key })?;
            Ok::<_, CommandError>((info, runner.run(&read)??))
        })?;
        if info.is_none() {
            call.notify_miss(1);
        }
        (value, info.is_some_and(|info| info.ttl.is_some()))
    } else {
        (call.read(1, &read)??, false)
    };
    let Some(value) = value else {
        call.reply().null();
        return Ok(());
    };
    match expiry {
        ExpiryUpdate::Set(Expiry::At(at)) if at <= call.now() => {
            call.notify(class::GENERIC, "del", call.arg(1));
        }
        ExpiryUpdate::Set(Expiry::At(_)) => call.notify(class::GENERIC, "expire", call.arg(1)),
        ExpiryUpdate::Set(_) if had_expiry => {
            call.notify(class::GENERIC, "persist", call.arg(1));
        }
        _ => {}
    }
    call.reply().bulk(&value);
    Ok(())
}
