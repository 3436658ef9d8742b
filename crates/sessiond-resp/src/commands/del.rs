//! `DEL key [key ...]` and `UNLINK key [key ...]`: removes keys of any type; answers how many
//! existed. (Redis's `UNLINK` frees memory in the background; sessiond's removal is cheap
//! either way, so both are the same.)

use sessiond_engine::{Delete, DeleteOutcome, Key};

use super::{Call, Outcome};
use crate::keyspace::class;

/// Removes keys; a `del` event for each one that existed.
pub(crate) fn del(call: &mut Call<'_, '_>) -> Outcome {
    let keys: Vec<Key<'_>> = (1..call.argc()).map(|index| call.key(index)).collect();
    let removed = call.each_key(&keys, |runner, _, key| {
        Ok(runner.run(&Delete::new(key))?? == DeleteOutcome::Deleted)
    })?;
    let mut count = 0;
    for (key, removed) in keys.iter().zip(removed) {
        if removed {
            count += 1;
            call.notify(class::GENERIC, "del", key.name);
        }
    }
    call.reply().integer(count as i64);
    Ok(())
}
