//! `PERSIST key`: removes a key's expiry; 1 if it had one.

use sessiond_engine::Persist;

use super::{Call, Outcome};

/// Makes a key never expire.
pub(crate) fn persist(call: &mut Call<'_, '_>) -> Outcome {
    let removed = call.run(&Persist { key: call.key(1) })??;
    call.reply().integer(i64::from(removed));
    Ok(())
}
