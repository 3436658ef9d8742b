//! `TYPE key`: `string`, `hash`, `set`, `zset`, or `none`.

use sessiond_engine::Inspect;

use super::{Call, Outcome};

/// Names what a key holds.
pub(crate) fn key_type(call: &mut Call<'_, '_>) -> Outcome {
    let name = match call.run(&Inspect { key: call.key(1) })? {
        Some(info) => info.value_type.name(),
        None => {
            call.notify_miss(1);
            "none"
        }
    };
    call.reply().simple(name.as_bytes());
    Ok(())
}
