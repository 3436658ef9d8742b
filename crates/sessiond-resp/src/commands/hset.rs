//! `HSET`, `HMSET`, `HSETNX`: writing hash fields.
//!
//! Spring Session saves a session's changed attributes with `HMSET`; Rails and Laravel stores
//! that keep a session as a hash use `HSET`.

use sessiond_engine::HashWrite;

use super::{Call, Outcome};
use crate::keyspace::class;
use crate::reply::CommandError;

/// `HSET key field value [field value ...]`: how many fields are new.
pub(crate) fn hset(call: &mut Call<'_, '_>) -> Outcome {
    let added = write_pairs(call, "hset")?;
    call.notify(class::HASH, "hset", call.arg(1));
    call.count(added);
    Ok(())
}

/// `HMSET key field value [field value ...]`: `+OK`.
pub(crate) fn hmset(call: &mut Call<'_, '_>) -> Outcome {
    write_pairs(call, "hmset")?;
    call.notify(class::HASH, "hset", call.arg(1));
    call.reply().ok();
    Ok(())
}

/// `HSETNX key field value`: 1 if the field was new and written, 0 if it existed.
pub(crate) fn hsetnx(call: &mut Call<'_, '_>) -> Outcome {
    let fields = [(call.arg(2), call.arg(3))];
    let write = HashWrite {
        key: call.key(1),
        fields: &fields,
        only_if_absent: true,
    };
    let added = call.write(1, &write)??;
    if added > 0 {
        call.notify(class::HASH, "hset", call.arg(1));
    }
    call.reply().integer(i64::from(added > 0));
    Ok(())
}

/// Writes the field-value pairs after the key; an odd count of them is Redis's arity error,
/// given before the key is looked at.
fn write_pairs(call: &mut Call<'_, '_>, name: &'static str) -> Result<u64, CommandError> {
    if call.argc() % 2 == 1 {
        return Err(CommandError::WrongArity(name));
    }
    let fields: Vec<(&[u8], &[u8])> = (2..call.argc())
        .step_by(2)
        .map(|index| (call.arg(index), call.arg(index + 1)))
        .collect();
    let write = HashWrite {
        key: call.key(1),
        fields: &fields,
        only_if_absent: false,
    };
    Ok(call.write(1, &write)??)
}
