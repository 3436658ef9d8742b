//! `APPEND key value`: appends to a string, creating it; answers the new length (Spring
//! Session's indexed repository touches its shadow key with `APPEND key ""`).

use sessiond_engine::Append;

use super::{Call, Outcome};
use crate::keyspace::class;

/// Appends to a string; an `append` event.
pub(crate) fn append(call: &mut Call<'_, '_>) -> Outcome {
    let append = Append {
        key: call.key(1),
        value: call.arg(2),
    };
    let len = call.write(1, &append)??;
    call.notify(class::STRING, "append", call.arg(1));
    call.reply().integer(i64::try_from(len).unwrap_or(i64::MAX));
    Ok(())
}
