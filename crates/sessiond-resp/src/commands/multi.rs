//! Running a command on several keys at once, as one atomic step when that is cheap.
//!
//! Redis runs every command alone, so `MSET`, `MGET` and `DEL` of several keys are atomic:
//! no other client sees half of them. sessiond serves clients in parallel; these commands
//! lock the keys' shards together ([`Engine::atomically`]) for up to [`ATOMIC_KEYS`] keys.
//! Past that they run key by key, so a hostile command with a million keys neither locks
//! every shard for its whole run nor costs the block's per-key check a million times over.

use sessiond_engine::{Apply, Engine, Key, Timestamp, Transaction};

use crate::reply::CommandError;

/// The most keys a multi-key command handles as one atomic step.
pub(crate) const ATOMIC_KEYS: usize = 512;

/// Where a multi-key command's engine commands run: straight on the engine, or inside an
/// atomic block.
pub(crate) enum Runner<'r, 'e, 'k> {
    /// Key by key.
    Engine(&'e Engine, Timestamp),
    /// Inside an atomic block over all the keys.
    Block(&'r mut Transaction<'e, 'k>),
}

impl Runner<'_, '_, '_> {
    /// Runs a keyed command.
    pub(crate) fn run<C: Apply>(&mut self, command: &C) -> Result<C::Outcome, CommandError> {
        match self {
            Runner::Engine(engine, now) => Ok(engine.run(command, *now)),
            Runner::Block(block) => block.run(command).map_err(CommandError::from),
        }
    }
}

/// Runs `each` for every key in order (with the key's index), under one atomic block when
/// there are at most [`ATOMIC_KEYS`] keys; stops at the first error.
pub(crate) fn each_key<T>(
    engine: &Engine,
    now: Timestamp,
    keys: &[Key<'_>],
    mut each: impl FnMut(&mut Runner<'_, '_, '_>, usize, Key<'_>) -> Result<T, CommandError>,
) -> Result<Vec<T>, CommandError> {
    let mut run_all = |runner: &mut Runner<'_, '_, '_>| {
        keys.iter()
            .enumerate()
            .map(|(index, &key)| each(runner, index, key))
            .collect::<Result<Vec<T>, CommandError>>()
    };
    if keys.len() > 1 && keys.len() <= ATOMIC_KEYS {
        engine.atomically(keys, now, |block| run_all(&mut Runner::Block(block)))
    } else {
        run_all(&mut Runner::Engine(engine, now))
    }
}
