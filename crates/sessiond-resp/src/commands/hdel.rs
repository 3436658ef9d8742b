//! `HDEL key field [field ...]`: deleting hash fields; the last one deleted removes the key.

use sessiond_engine::HashDelete;

use super::{Call, Outcome};
use crate::keyspace::class;

/// How many of the fields existed and were deleted.
pub(crate) fn hdel(call: &mut Call<'_, '_>) -> Outcome {
    let fields = call.args_from(2);
    let delete = HashDelete {
        key: call.key(1),
        fields: &fields,
    };
    let deleted = call.run(&delete)??;
    if deleted > 0 {
        call.notify_removal(class::HASH, "hdel")?;
    }
    call.count(deleted);
    Ok(())
}
