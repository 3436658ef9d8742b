//! Where a handler's engine commands run: straight on the engine, or inside the atomic block
//! the call runs in; and running a command on several keys at once, as one atomic step when
//! that is cheap.
//!
//! Redis runs every command alone, so `MSET`, `MGET` and `DEL` of several keys are atomic:
//! no other client sees half of them. sessiond serves clients in parallel; these commands
//! lock the keys' shards together ([`Engine::atomically`]) for up to [`ATOMIC_KEYS`] keys.
//! Past that they run key by key, so a hostile command with a million keys neither locks
//! every shard for its whole run nor costs the block's per-key check a million times over.
//!
//! Inside a block (the commands of an `EXEC`) every key of the command is locked already:
//! all of them run in it, whatever their number.

use sessiond_engine::{Apply, Engine, Key, Rename, RenameOutcome, Timestamp, Transaction};

use super::Call;
use crate::reply::CommandError;

/// The most keys a multi-key command handles as one atomic step.
pub(crate) const ATOMIC_KEYS: usize = 512;

/// Where a handler's engine commands run: straight on the engine, or inside an atomic block.
pub(crate) enum Runner<'r, 'e, 'k> {
    /// Each on its own.
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

    /// Renames a key.
    pub(crate) fn rename(&mut self, rename: &Rename<'_>) -> Result<RenameOutcome, CommandError> {
        Ok(match self {
            Runner::Engine(engine, now) => engine.rename(rename, *now)?,
            Runner::Block(block) => block.rename(rename)?,
        })
    }
}

impl<'a> Call<'_, 'a> {
    /// Where this call's engine commands run.
    pub(crate) fn runner(&mut self) -> Runner<'_, 'a, 'a> {
        match &mut self.block {
            Some(block) => Runner::Block(block),
            None => Runner::Engine(self.ctx.engine, self.ctx.now),
        }
    }

    /// Runs a keyed engine command, alone or in the call's block.
    pub(crate) fn run<C: Apply>(&mut self, command: &C) -> Result<C::Outcome, CommandError> {
        self.runner().run(command)
    }

    /// Runs `steps` with `keys` locked together: in the call's block, or in a block of its
    /// own.
    pub(crate) fn atomically<R>(
        &mut self,
        keys: &[Key<'_>],
        steps: impl FnOnce(&mut Runner<'_, '_, '_>) -> R,
    ) -> R {
        match &mut self.block {
            Some(block) => steps(&mut Runner::Block(block)),
            None => {
                let ctx = self.ctx;
                ctx.engine
                    .atomically(keys, ctx.now, |block| steps(&mut Runner::Block(block)))
            }
        }
    }

    /// Whether [`each_key`](Self::each_key) runs `keys` keys as one atomic step.
    pub(crate) fn each_key_is_atomic(&self, keys: usize) -> bool {
        self.block.is_some() || (keys > 1 && keys <= ATOMIC_KEYS)
    }

    /// Runs `each` for every key in order (with the key's index), under one atomic block when
    /// the call runs in one or there are at most [`ATOMIC_KEYS`] keys; stops at the first
    /// error.
    pub(crate) fn each_key<T>(
        &mut self,
        keys: &[Key<'_>],
        mut each: impl FnMut(&mut Runner<'_, '_, '_>, usize, Key<'_>) -> Result<T, CommandError>,
    ) -> Result<Vec<T>, CommandError> {
        let mut run_all = |runner: &mut Runner<'_, '_, '_>| {
            keys.iter()
                .enumerate()
                .map(|(index, &key)| each(runner, index, key))
                .collect::<Result<Vec<T>, CommandError>>()
        };
        if self.each_key_is_atomic(keys.len()) {
            self.atomically(keys, run_all)
        } else {
            run_all(&mut Runner::Engine(self.ctx.engine, self.ctx.now))
        }
    }
}
