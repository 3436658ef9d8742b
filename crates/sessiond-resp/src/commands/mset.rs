//! `MSET key value [key value ...]`: several strings at once, each losing any expiry.

use sessiond_engine::{Expiry, Key, WriteString};

use super::lookup::holds;
use super::{Call, Outcome};
use crate::keyspace::class;
use crate::reply::CommandError;

/// Writes several strings, as one atomic step for a moderate number of keys. A write refused
/// part way (the memory limit) leaves the earlier ones written: Redis refuses the whole
/// command before it starts when it is already over its limit, sessiond finds out per key.
pub(crate) fn mset(call: &mut Call<'_, '_>) -> Outcome {
    if call.argc().is_multiple_of(2) {
        return Err(CommandError::WrongArity("mset"));
    }
    let keys: Vec<Key<'_>> = (1..call.argc())
        .step_by(2)
        .map(|index| call.key(index))
        .collect();
    let values: Vec<&[u8]> = (2..call.argc())
        .step_by(2)
        .map(|index| call.arg(index))
        .collect();
    if !call.each_key_is_atomic(keys.len()) {
        // Key by key (one key, or more than one atomic step takes): each write and its
        // events in turn, the look for `new` in one atomic step with the write.
        for (index, &key) in keys.iter().enumerate() {
            let value = values.get(index).copied().unwrap_or_default();
            let at = 1 + 2 * index;
            call.write_string(at, &WriteString::new(key, value, Expiry::Never), false)??;
            call.notify(class::STRING, "set", call.arg(at));
        }
        call.reply().ok();
        return Ok(());
    }
    // Whether each key is new is looked at only while a `new` event would be heard.
    let look = call.hears_new();
    let created = call.each_key(&keys, |runner, index, key| {
        let value = values.get(index).copied().unwrap_or_default();
        let existed = look && holds(runner, key)?;
        runner.run(&WriteString::new(key, value, Expiry::Never))??;
        Ok(look && !existed)
    })?;
    // Redis's order: `new` (when it was) and `set` for each key in turn.
    for (index, created) in created.into_iter().enumerate() {
        let at = 1 + 2 * index;
        if created {
            call.notify_new(at);
        }
        call.notify(class::STRING, "set", call.arg(at));
    }
    call.reply().ok();
    Ok(())
}
