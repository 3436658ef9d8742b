//! A connection's transaction state (`MULTI`, `WATCH`): the commands queued until `EXEC`,
//! the keys watched and the version each had, and which keys an `EXEC` must lock.
//!
//! Redis queues a command after `MULTI` once it has passed the checks every command passes
//! (known, right number of arguments, authenticated), answering `+QUEUED`; a command refused
//! there marks the transaction, and `EXEC` then discards it (`EXECABORT`). `EXEC`, `DISCARD`,
//! `MULTI`, `WATCH`, `QUIT` and `RESET` are never queued. Redis bounds none of this; sessiond
//! bounds the queue by count and bytes ([`Limits`]), and a command past either is refused,
//! which aborts the transaction the same way.
//!
//! `WATCH` remembers each key's [`ItemVersion`]; `EXEC` reads them again inside its atomic
//! block, and any difference (a write by any client or protocol, an expiry) makes it answer
//! a null array and run nothing.

use std::collections::{HashMap, HashSet};
use std::iter::StepBy;
use std::mem::size_of;
use std::ops::Range;

use sessiond_engine::{ItemVersion, Key, NamespaceId};

use crate::command::{Command, Span};
use crate::commands::{Spec, database};
use crate::limits::Limits;
use crate::reply::CommandError;

/// What one queued argument costs besides its bytes.
const ARG_OVERHEAD: usize = size_of::<Span>();

/// What one queued command or watched key costs besides its arguments.
const ENTRY_OVERHEAD: usize = 64;

/// A connection's `MULTI` and `WATCH` state.
#[derive(Debug, Default)]
pub(crate) struct Multi {
    /// The transaction under way, between `MULTI` and `EXEC` or `DISCARD`. (Both are boxed:
    /// most connections never use them, and each connection's state stays small.)
    queue: Option<Box<Queue>>,
    /// The watched keys, if any.
    watched: Option<Box<Watched>>,
}

/// The commands queued since `MULTI`, their arguments copied out of the input buffer.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    /// Every queued argument, one after the other.
    bytes: Vec<u8>,
    /// Where each argument is in `bytes`.
    spans: Vec<Span>,
    /// Each command: its table entry and its arguments' spans.
    commands: Vec<(&'static Spec, Range<usize>)>,
    /// What the queue holds, overheads included.
    size: usize,
    /// A command was refused while queueing: `EXEC` discards the transaction.
    aborted: bool,
}

/// The watched keys, each once, with the version it had when first watched (kept in a hash
/// map: a `WATCH` of many keys costs time in proportion to them, not to their square).
#[derive(Debug, Default)]
pub(crate) struct Watched {
    versions: HashMap<NamespaceId, HashMap<Vec<u8>, Option<ItemVersion>>>,
    /// What the keys hold in bytes, overheads included.
    bytes: usize,
}

impl Multi {
    /// Whether a transaction is under way (after `MULTI`).
    pub(crate) fn active(&self) -> bool {
        self.queue.is_some()
    }

    /// How many commands the transaction under way has queued; `None` outside one.
    pub(crate) fn queued(&self) -> Option<usize> {
        self.queue.as_ref().map(|queue| queue.len())
    }

    /// Starts a transaction (`MULTI`; the caller has checked none is under way).
    pub(crate) fn begin(&mut self) {
        self.queue = Some(Box::default());
    }

    /// Marks the transaction under way, if any, so that `EXEC` discards it: a command was
    /// refused (Redis's `flagTransaction`). What was queued is of no use any more: its memory
    /// goes back at once.
    pub(crate) fn abort(&mut self) {
        if let Some(queue) = &mut self.queue {
            **queue = Queue {
                aborted: true,
                ..Queue::default()
            };
        }
    }

    /// Whether `spec` is queued rather than run: inside a transaction, every command but
    /// those that act on the transaction itself or on the connection's end.
    pub(crate) fn queues(&self, spec: &Spec) -> bool {
        self.active()
            && !matches!(
                spec.name,
                "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
            )
    }

    /// Queues `command`, which runs `spec`, within `limits`. Past a limit the command is
    /// refused and the transaction aborted. Once aborted, nothing more is kept: `EXEC` will
    /// run none of it (Redis answers `+QUEUED` all the same).
    pub(crate) fn queue(
        &mut self,
        spec: &'static Spec,
        command: &Command<'_>,
        limits: &Limits,
    ) -> Result<(), CommandError> {
        let watched_bytes = self.watched_bytes();
        let Some(queue) = &mut self.queue else {
            return Ok(());
        };
        if queue.aborted {
            return Ok(());
        }
        let size = command
            .args()
            .map(|arg| arg.len() + ARG_OVERHEAD)
            .sum::<usize>()
            + ENTRY_OVERHEAD;
        let refusal = if queue.commands.len() >= limits.max_queued_commands {
            Some(format!(
                "transaction discarded: more than {} queued commands",
                limits.max_queued_commands
            ))
        } else if queue.size + watched_bytes + size > limits.max_transaction_bytes {
            Some(format!(
                "transaction discarded: more than {} bytes queued",
                limits.max_transaction_bytes
            ))
        } else {
            None
        };
        if let Some(refusal) = refusal {
            self.abort();
            return Err(CommandError::message(refusal));
        }
        let first = queue.spans.len();
        for arg in command.args() {
            let start = queue.bytes.len();
            queue.bytes.extend_from_slice(arg);
            queue.spans.push(Span {
                start,
                end: queue.bytes.len(),
            });
        }
        queue.commands.push((spec, first..queue.spans.len()));
        queue.size += size;
        Ok(())
    }

    /// Ends the transaction under way, handing over its queue (`EXEC`). The watched keys
    /// stay until [`Multi::unwatch`].
    pub(crate) fn take(&mut self) -> Option<Box<Queue>> {
        self.queue.take()
    }

    /// Ends the transaction under way, if any, and forgets the watched keys (`DISCARD`,
    /// `RESET`, an `EXEC` refused).
    pub(crate) fn discard(&mut self) {
        self.queue = None;
        self.unwatch();
    }

    /// Watches `key`, which has `version` now, unless it is watched already (the first
    /// version counts, as in Redis). Refused past [`Limits::max_transaction_bytes`].
    pub(crate) fn watch(
        &mut self,
        key: Key<'_>,
        version: Option<ItemVersion>,
        limits: &Limits,
    ) -> Result<(), CommandError> {
        if self.watches(key) {
            return Ok(());
        }
        let size = key.name.len() + ENTRY_OVERHEAD;
        if self.watched_bytes() + size > limits.max_transaction_bytes {
            return Err(CommandError::message(format!(
                "the watched keys would take more than {} bytes",
                limits.max_transaction_bytes
            )));
        }
        let watched = self.watched.get_or_insert_default();
        let names = watched.versions.entry(key.namespace).or_default();
        names.insert(key.name.to_vec(), version);
        watched.bytes += size;
        Ok(())
    }

    /// Whether `key` is watched already.
    pub(crate) fn watches(&self, key: Key<'_>) -> bool {
        self.watched.as_ref().is_some_and(|watched| {
            watched
                .versions
                .get(&key.namespace)
                .is_some_and(|names| names.contains_key(key.name))
        })
    }

    /// Forgets the watched keys, handing them over.
    pub(crate) fn unwatch(&mut self) -> Watched {
        self.watched
            .take()
            .map_or_else(Watched::default, |watched| *watched)
    }

    /// What the watched keys hold in bytes.
    fn watched_bytes(&self) -> usize {
        self.watched.as_ref().map_or(0, |watched| watched.bytes)
    }
}

impl Queue {
    /// Whether a command was refused while the transaction was queued.
    pub(crate) fn aborted(&self) -> bool {
        self.aborted
    }

    /// How many commands are queued.
    pub(crate) fn len(&self) -> usize {
        self.commands.len()
    }

    /// The queued commands in order, each with its table entry.
    pub(crate) fn commands(&self) -> impl Iterator<Item = (&'static Spec, Command<'_>)> {
        self.commands.iter().map(|(spec, spans)| {
            let spans = self.spans.get(spans.clone()).unwrap_or_default();
            (*spec, Command::new(&self.bytes, spans, 0))
        })
    }

    /// Every key the transaction touches, each once (with the watched keys), for `EXEC` to
    /// lock together; `None` when it cannot run as one atomic block: a command works on the
    /// whole store rather than on given keys (`FLUSHDB`, `SCAN`, `DBSIZE`, ...), or there are
    /// more than `max_keys` keys.
    ///
    /// `db` is the connection's database and `databases` their namespaces: a queued `SELECT`
    /// moves the commands after it to another database, as it will when they run.
    pub(crate) fn keys<'q>(
        &'q self,
        watched: &'q Watched,
        mut db: usize,
        databases: &[NamespaceId],
        max_keys: usize,
    ) -> Option<Vec<Key<'q>>> {
        let mut keys: HashSet<Key<'q>> = watched.iter().map(|(key, _)| key).collect();
        for (spec, command) in self.commands() {
            let positions = key_positions(spec, command.len());
            if positions.len() == 0 {
                if !runs_beside_keys(spec) {
                    return None;
                }
                if spec.name == "select" {
                    let arg = command.get(1).unwrap_or_default();
                    db = database(arg, databases.len()).unwrap_or(db);
                }
                continue;
            }
            let namespace = *databases.get(db)?;
            for position in positions {
                keys.insert(Key::new(namespace, command.get(position)?));
            }
            if keys.len() > max_keys {
                return None;
            }
        }
        (keys.len() <= max_keys).then(|| keys.into_iter().collect())
    }
}

impl Watched {
    /// Each watched key and the version it had when it was watched.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Key<'_>, Option<ItemVersion>)> {
        self.versions.iter().flat_map(|(&namespace, names)| {
            names
                .iter()
                .map(move |(name, &version)| (Key::new(namespace, name), version))
        })
    }
}

/// The argument positions of `spec`'s keys in a command of `argc` arguments, from the
/// table's first key, last key (negative: counted from the end) and step.
pub(crate) fn key_positions(spec: &Spec, argc: usize) -> StepBy<Range<usize>> {
    let [first, last, step] = spec.keys;
    let step = usize::try_from(step).unwrap_or(1).max(1);
    if first <= 0 {
        return (0..0).step_by(step);
    }
    let last = if last < 0 {
        argc as i64 + i64::from(last)
    } else {
        i64::from(last)
    };
    let first = first as usize;
    let end = usize::try_from(last + 1).unwrap_or(0).min(argc);
    (first..end.max(first)).step_by(step)
}

/// Whether a command without keys may run inside an atomic block: one about the connection
/// or the transaction (`PING`, `ECHO`, `SELECT`, `CLIENT ...`, `UNWATCH`), which never calls
/// the engine. Any other (`FLUSHDB`, `SCAN`, `DBSIZE`, `INFO`, `CONFIG`, and commands added
/// later until they say otherwise) may lock shards of its own, which inside a block would
/// wait for the block forever.
fn runs_beside_keys(spec: &Spec) -> bool {
    spec.acl
        .iter()
        .any(|category| matches!(*category, "connection" | "transaction"))
}

#[cfg(test)]
mod tests {
    use sessiond_engine::{Key, NamespaceId};

    use super::*;
    use crate::commands::find;
    use crate::limits::Access;
    use crate::parser::Parser;

    const DATABASES: [NamespaceId; 3] = [NamespaceId(16), NamespaceId(17), NamespaceId(18)];

    /// A transaction that queued `commands` (words split on spaces).
    fn queued(commands: &[&str]) -> Multi {
        let limits = Limits::default();
        let mut multi = Multi::default();
        multi.begin();
        let mut parser = Parser::new(limits);
        for command in commands {
            let input = format!("{command}\r\n");
            let parsed = parser
                .parse(input.as_bytes(), Access::Authenticated)
                .expect("parsed")
                .expect("complete");
            let (spec, _) = find(&parsed).expect("a known command");
            multi.queue(spec, &parsed, &limits).expect("queued");
        }
        multi
    }

    /// The keys `EXEC` would lock, as (database, name), sorted.
    fn keys(multi: &mut Multi, max_keys: usize) -> Option<Vec<(u32, String)>> {
        let watched = multi.unwatch();
        let queue = multi.take().expect("a transaction");
        let keys = queue.keys(&watched, 0, &DATABASES, max_keys)?;
        let mut keys: Vec<(u32, String)> = keys
            .iter()
            .map(|key: &Key<'_>| {
                let name = String::from_utf8_lossy(key.name).into_owned();
                (key.namespace.0 - 16, name)
            })
            .collect();
        keys.sort();
        Some(keys)
    }

    fn names(keys: &[(u32, &str)]) -> Vec<(u32, String)> {
        keys.iter()
            .map(|&(db, name)| (db, name.to_owned()))
            .collect()
    }

    #[test]
    fn exec_locks_every_key_of_every_command_once() {
        let mut multi = queued(&[
            "GET a",
            "MSET b 1 c 2",
            "DEL a d",
            "RENAME e f",
            "PING",
            "ECHO x",
        ]);
        let limits = Limits::default();
        multi
            .watch(Key::new(NamespaceId(16), b"w"), None, &limits)
            .unwrap();
        assert_eq!(
            keys(&mut multi, 100),
            Some(names(&[
                (0, "a"),
                (0, "b"),
                (0, "c"),
                (0, "d"),
                (0, "e"),
                (0, "f"),
                (0, "w")
            ]))
        );
    }

    #[test]
    fn a_queued_select_moves_the_keys_after_it() {
        let mut multi = queued(&[
            "GET a", "SELECT 2", "GET a", "SELECT 9", "GET b", "SELECT x",
        ]);
        assert_eq!(
            keys(&mut multi, 100),
            Some(names(&[(0, "a"), (2, "a"), (2, "b")]))
        );
    }

    #[test]
    fn store_wide_commands_or_too_many_keys_run_without_one_block() {
        for store_wide in [
            "FLUSHDB",
            "DBSIZE",
            "SCAN 0",
            "KEYS *",
            "INFO",
            "CONFIG GET save",
        ] {
            let mut multi = queued(&["GET a", store_wide]);
            assert_eq!(keys(&mut multi, 100), None, "{store_wide}");
        }
        let mut multi = queued(&["MSET a 1 b 2 c 3"]);
        assert_eq!(keys(&mut multi, 2), None);
        let mut multi = queued(&["MSET a 1 b 2 c 3", "CLIENT SETNAME x", "UNWATCH"]);
        assert_eq!(keys(&mut multi, 3).map(|keys| keys.len()), Some(3));
    }

    #[test]
    fn a_key_is_watched_once_and_counted_against_the_limit() {
        let limits = Limits {
            max_transaction_bytes: 2 * ENTRY_OVERHEAD + 2,
            ..Limits::default()
        };
        let mut multi = Multi::default();
        let key = |name: &'static [u8]| Key::new(NamespaceId(16), name);
        multi.watch(key(b"a"), None, &limits).unwrap();
        multi.watch(key(b"a"), None, &limits).unwrap();
        multi.watch(key(b"b"), None, &limits).unwrap();
        assert!(multi.watch(key(b"c"), None, &limits).is_err());
        assert_eq!(multi.unwatch().iter().count(), 2);
        assert!(!multi.watches(key(b"a")));
        multi.watch(key(b"c"), None, &limits).unwrap();
    }
}
