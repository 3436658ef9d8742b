//! `RENAME key newkey` and `RENAMENX key newkey` (Spring Session renames a session when its
//! id changes, and tolerates `ERR no such key`).

use sessiond_engine::{Rename, RenameOutcome};

use super::{Call, Outcome};
use crate::keyspace::class;
use crate::reply::CommandError;

/// `RENAME`: `+OK`, replacing what the new key held.
pub(crate) fn rename(call: &mut Call<'_, '_>) -> Outcome {
    match run(call, false)? {
        RenameOutcome::NotFound => Err(CommandError::NoSuchKey),
        RenameOutcome::Renamed | RenameOutcome::TargetExists => {
            call.reply().ok();
            Ok(())
        }
    }
}

/// `RENAMENX`: 1 if renamed, 0 if the new key held something.
pub(crate) fn renamenx(call: &mut Call<'_, '_>) -> Outcome {
    match run(call, true)? {
        RenameOutcome::NotFound => Err(CommandError::NoSuchKey),
        RenameOutcome::Renamed => {
            call.reply().integer(1);
            Ok(())
        }
        RenameOutcome::TargetExists => {
            call.reply().integer(0);
            Ok(())
        }
    }
}

/// Renames, with Redis's `rename_from` and `rename_to` events when a key moved (none for a
/// key renamed to itself).
fn run(call: &mut Call<'_, '_>, only_if_absent: bool) -> Result<RenameOutcome, CommandError> {
    let rename = Rename {
        from: call.key(1),
        to: call.key(2),
        only_if_absent,
    };
    let outcome = call.runner().rename(&rename)?;
    let moved = match outcome {
        RenameOutcome::Renamed => true,
        RenameOutcome::TargetExists => !only_if_absent,
        RenameOutcome::NotFound => false,
    };
    if moved && call.arg(1) != call.arg(2) {
        // Redis moves the value by deleting the new key and adding it anew.
        call.notify_new(2);
        call.notify(class::GENERIC, "rename_from", call.arg(1));
        call.notify(class::GENERIC, "rename_to", call.arg(2));
    }
    Ok(outcome)
}
