//! `FLUSHDB [ASYNC|SYNC]` and `FLUSHALL [ASYNC|SYNC]`: empty the selected database, or every
//! database of the Redis listener (never other protocols' keys).

use sessiond_engine::{Flush, NamespaceId};

use super::{Call, Outcome};
use crate::args;
use crate::reply::CommandError;

/// Empties the selected database.
pub(crate) fn flushdb(call: &mut Call<'_, '_>) -> Outcome {
    check_mode(call)?;
    let namespace = call.namespace();
    flush(call, &[namespace])
}

/// Empties every database.
pub(crate) fn flushall(call: &mut Call<'_, '_>) -> Outcome {
    check_mode(call)?;
    let databases = call.ctx.shared.config.databases;
    flush(call, &databases)
}

/// The optional `ASYNC` or `SYNC`: both empty at once (sessiond's removal does not block
/// other clients for long, so there is nothing to do in the background).
fn check_mode(call: &Call<'_, '_>) -> Outcome {
    match call.argc() {
        1 => Ok(()),
        2 if args::is(call.arg(1), "ASYNC") || args::is(call.arg(1), "SYNC") => Ok(()),
        _ => Err(CommandError::Syntax),
    }
}

fn flush(call: &mut Call<'_, '_>, namespaces: &[NamespaceId]) -> Outcome {
    for &namespace in namespaces {
        let flush = Flush {
            namespace: Some(namespace),
            at: None,
        };
        call.store()?.flush(&flush, call.now())?;
    }
    call.reply().ok();
    Ok(())
}
