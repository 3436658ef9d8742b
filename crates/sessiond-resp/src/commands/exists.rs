//! `EXISTS key [key ...]`: how many of the keys exist, a key named twice counted twice
//! (phpredis's strict session mode wants exactly `:1`).

use sessiond_engine::Key;

use super::{Call, Outcome};

/// Counts existing keys.
pub(crate) fn exists(call: &mut Call<'_, '_>) -> Outcome {
    let keys: Vec<Key<'_>> = (1..call.argc()).map(|index| call.key(index)).collect();
    let count = call.engine().count_existing(&keys, call.now());
    call.reply().integer(count as i64);
    Ok(())
}
