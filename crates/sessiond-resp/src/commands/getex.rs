//! `GETEX key [EX s|PX ms|EXAT t|PXAT t|PERSIST]`: a string's value, changing its expiry
//! (phpredis reads with it when `early_refresh` is on).

use sessiond_engine::{Expiry, ExpiryUpdate, GetAndExpire, Inspect, ValueType};

use super::expiry::{self, For};
use super::{Call, Outcome};
use crate::reply::CommandError;

/// Reads a string and sets, removes or keeps its expiry.
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
    let read = GetAndExpire {
        key: call.key(1),
        expiry,
    };
    match call.run(&read)?? {
        Some(value) => call.reply().bulk(&value),
        None => call.reply().null(),
    };
    Ok(())
}
