//! `PERSIST key`: removes a key's expiry; 1 if it had one.

use sessiond_engine::Persist;

use super::{Call, Outcome};
use crate::keyspace::class;

/// Makes a key never expire; a `persist` event when it had an expiry.
pub(crate) fn persist(call: &mut Call<'_, '_>) -> Outcome {
    let removed = call.run(&Persist { key: call.key(1) })??;
    if removed {
        call.notify(class::GENERIC, "persist", call.arg(1));
    }
    call.reply().integer(i64::from(removed));
    Ok(())
}
