//! Running a command on one key as Redis looks the key up, for the two keyspace events that
//! depend on whether the key existed: a read that finds nothing publishes `keymiss` (class
//! `m`, Redis's `lookupKeyRead`), a write that creates the key publishes `new` (class `n`,
//! Redis's `dbAdd`).
//!
//! The engine's outcomes do not always say whether the key existed (`HGET` answers null for
//! a missing key and for a missing field alike), so while one of these events would be heard
//! the command runs in an atomic step with a look at the key before it (and after it, for a
//! write). While none would be heard, which is the default, the command runs as it is and
//! these helpers cost one load of the event flags.

use sessiond_engine::{Apply, EngineError, Inspect, Key, WriteString, WriteStringOutcome};

use super::Call;
use super::multi::Runner;
use crate::keyspace::class;
use crate::reply::CommandError;

impl Call<'_, '_> {
    /// Runs `command`, which reads the key at argument `index`; `keymiss` when the key holds
    /// nothing (of any type: a key of another type is found, then refused).
    pub(crate) fn read<C: Apply>(
        &mut self,
        index: usize,
        command: &C,
    ) -> Result<C::Outcome, CommandError> {
        let (outcome, seen) = self.look_up(index, command, Lookup::Read)?;
        self.publish(index, seen, false);
        Ok(outcome)
    }

    /// Runs `command`, which writes the key at argument `index`; `new` when the key held
    /// nothing before and holds something after.
    pub(crate) fn write<C: Apply>(
        &mut self,
        index: usize,
        command: &C,
    ) -> Result<C::Outcome, CommandError> {
        let (outcome, seen) = self.look_up(index, command, Lookup::Write)?;
        self.publish(index, seen, false);
        Ok(outcome)
    }

    /// Runs `write`, a string write of the key at argument `index` that reads the old value first
    /// when `reads` (`GETSET`, `SET ... GET`): `keymiss` then `new` as above, and `new` also
    /// for a value stored with a deadline already past, which sessiond drops at once where
    /// Redis adds the key and expires it later. A write the engine refuses (the memory
    /// limit, the log) publishes nothing, as Redis refuses it before it looks.
    pub(crate) fn write_string(
        &mut self,
        index: usize,
        write: &WriteString<'_>,
        reads: bool,
    ) -> Result<Result<WriteStringOutcome, EngineError>, CommandError> {
        let lookup = if reads {
            Lookup::ReadThenWrite
        } else {
            Lookup::Write
        };
        let (outcome, seen) = self.look_up(index, write, lookup)?;
        if let Ok(written) = &outcome {
            let stored = matches!(written, WriteStringOutcome::Written { .. });
            self.publish(index, seen, stored);
        }
        Ok(outcome)
    }

    /// Publishes `keymiss` for the key at argument `index`, for a reading command whose
    /// outcome already says that the key held nothing (`EXISTS`, `TYPE`, `TTL`, `MGET`).
    pub(crate) fn notify_miss(&self, index: usize) {
        self.notify(class::KEY_MISS, "keymiss", self.arg(index));
    }

    /// Publishes `new` for the key at argument `index`, for a command that knows without a
    /// look that it created the key (`RENAME`, which Redis carries out as delete and add;
    /// `MSET`, which looks at its keys in its own atomic step).
    pub(crate) fn notify_new(&self, index: usize) {
        self.notify(class::NEW, "new", self.arg(index));
    }

    /// Whether a `new` event would be heard now: a command that looks at its keys itself
    /// asks first.
    pub(crate) fn hears_new(&self) -> bool {
        self.ctx.shared.notifies(class::NEW)
    }

    /// Runs `command` on the key at argument `index`, with a look at the key before it (and
    /// after it, for a write) in the same atomic step while an event `lookup` can cause
    /// would be heard.
    fn look_up<C: Apply>(
        &mut self,
        index: usize,
        command: &C,
        lookup: Lookup,
    ) -> Result<(C::Outcome, Option<Seen>), CommandError> {
        let shared = self.ctx.shared;
        let miss = lookup.reads() && shared.notifies(class::KEY_MISS);
        let new = lookup.writes() && shared.notifies(class::NEW);
        if !miss && !new {
            return Ok((self.run(command)?, None));
        }
        let key = self.key(index);
        let (outcome, seen) = self.atomically(&[key], |runner| {
            let existed = holds(runner, key)?;
            let outcome = runner.run(command)?;
            let created = new && !existed && holds(runner, key)?;
            let seen = Seen {
                missed: miss && !existed,
                absent_before: new && !existed,
                created,
            };
            Ok::<_, CommandError>((outcome, seen))
        })?;
        Ok((outcome, Some(seen)))
    }

    /// Publishes what a look saw: `keymiss`, then `new` when the key was created (or, with
    /// `stored`, a value was stored in a key that held nothing).
    fn publish(&self, index: usize, seen: Option<Seen>, stored: bool) {
        let Some(seen) = seen else {
            return;
        };
        if seen.missed {
            self.notify_miss(index);
        }
        if seen.created || (stored && seen.absent_before) {
            self.notify_new(index);
        }
    }
}

/// How a command looks its key up, in Redis's terms.
#[derive(Clone, Copy)]
enum Lookup {
    Read,
    Write,
    ReadThenWrite,
}

impl Lookup {
    fn reads(self) -> bool {
        matches!(self, Lookup::Read | Lookup::ReadThenWrite)
    }

    fn writes(self) -> bool {
        matches!(self, Lookup::Write | Lookup::ReadThenWrite)
    }
}

/// What a look around a command saw, as far as a heard event needs it.
#[derive(Clone, Copy)]
struct Seen {
    /// A read found no key, and `keymiss` is heard.
    missed: bool,
    /// The key held nothing before the command, and `new` is heard.
    absent_before: bool,
    /// The key held nothing before the command and something after, and `new` is heard.
    created: bool,
}

/// Whether `key` holds something now.
pub(crate) fn holds(runner: &mut Runner<'_, '_, '_>, key: Key<'_>) -> Result<bool, CommandError> {
    Ok(runner.run(&Inspect { key })?.is_some())
}
