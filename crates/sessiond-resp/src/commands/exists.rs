//! `EXISTS key [key ...]`: how many of the keys exist, a key named twice counted twice
//! (phpredis's strict session mode wants exactly `:1`).

use sessiond_engine::{Inspect, Key};

use super::{Call, Outcome};

/// Counts existing keys, as one atomic step for a moderate number of keys.
pub(crate) fn exists(call: &mut Call<'_, '_>) -> Outcome {
    let keys: Vec<Key<'_>> = (1..call.argc()).map(|index| call.key(index)).collect();
    let found = call.each_key(&keys, |runner, _, key| {
        Ok(runner.run(&Inspect { key })?.is_some())
    })?;
    for (index, _) in found.iter().enumerate().filter(|(_, found)| !**found) {
        call.notify_miss(index + 1);
    }
    let count = found.iter().filter(|&&found| found).count();
    call.reply().integer(count as i64);
    Ok(())
}
