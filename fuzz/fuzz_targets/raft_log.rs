//! Fuzzes recovery of a cluster node's Raft log: a log written by the store itself (entries
//! appended, and as the input says a vote saved twice, a committed id saved, a prefix purged,
//! a tail truncated and written again), then damaged as the input says (cut short, bytes
//! flipped, bytes appended, in any of its files), must be opened or refused without a panic.
//! An undamaged log must give back exactly what was written: the entries after the purge,
//! the last vote, the purged and committed ids. A damaged one that opens must give back
//! consecutive entries, each the last one written at its index, and a vote that was saved;
//! and opening it again must give the same.
//!
//! Input: `entries:u8 | segment_size:u8 | terms:u8 | plan:u8 | a:u8 | b:u8 | damage...`.
//! `plan`'s bits: 1 saves a vote before the appends, 2 saves a higher one after, 4 saves the
//! log id of entry `a` as committed, 8 purges up to entry `a`, 16 truncates after entry `b`
//! (or all, for 0) and appends a few entries of a higher term there. Each damage is `op:u8 |
//! file:u8 | at:u16le | byte:u8`: `op % 3` cuts the file at `at`, flips bits of the byte at
//! `at` by `byte | 1`, or appends `at % 64` copies of `byte`. Files are taken in name order
//! (segments, then the state file).

#![no_main]

mod scratch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogReader, RaftLogStorage};
use openraft::type_config::TypeConfigExt;
use sessiond_cluster::log_store::{LogStore, LogStoreConfig};
use sessiond_cluster::types::{EffectBatch, Entry, LogId, TypeConfig, Vote};
use sessiond_storage::{FsyncPolicy, StdFs};

fuzz_target!(|data: &[u8]| {
    let [count, segment, terms, plan, a, b, damage @ ..] = data else {
        return;
    };
    let config = LogStoreConfig {
        fsync: FsyncPolicy::No,
        // Small segments, so that a few entries span several files.
        segment_size: 256 + u64::from(*segment) * 16,
        cache_bytes: 1 << 16,
    };
    let Some(dir) = scratch::dir() else {
        return;
    };
    let expected = {
        let Ok(mut store) = LogStore::open_with(dir.path(), config, Arc::new(StdFs)) else {
            panic!("an empty directory opens");
        };
        write(&mut store, *count % 48, *terms, *plan, *a, *b)
    };

    for op in damage.chunks_exact(5) {
        let files = files(dir.path());
        if files.is_empty() {
            break;
        }
        let path = &files[usize::from(op[1]) % files.len()];
        let at = usize::from(u16::from_le_bytes([op[2], op[3]]));
        damage_file(path, op[0] % 3, at, op[4]);
    }

    let first = recover(dir.path(), config);
    if damage.len() < 5 {
        assert_eq!(
            first.as_ref(),
            Some(&expected.recovered),
            "an undamaged log did not give back what was written"
        );
    }
    if let Some(log) = &first {
        for pair in log.entries.windows(2) {
            assert_eq!(
                pair[0].index() + 1,
                pair[1].index(),
                "recovered entries are not consecutive"
            );
        }
        for entry in &log.entries {
            assert_eq!(
                expected.last_written.get(&entry.index()),
                Some(entry),
                "a recovered entry is not the last one written at its index"
            );
        }
        assert!(
            expected.votes.contains(&log.vote),
            "a recovered vote that was never saved: {:?}",
            log.vote
        );
        let second = recover(dir.path(), config).expect("a recovered log opens again");
        assert_eq!(&second, log, "a second recovery changed the log");
    }
});

/// What a log store gives back after opening.
#[derive(Debug, PartialEq)]
struct Recovered {
    entries: Vec<Entry>,
    vote: Option<Vote>,
    purged: Option<LogId>,
    committed: Option<LogId>,
}

/// What was written, as the checks need it.
struct Written {
    /// What recovery must give back when nothing was damaged.
    recovered: Recovered,
    /// The last entry written at each index, truncated or purged since or not.
    last_written: BTreeMap<u64, Entry>,
    /// Every vote saved, and none.
    votes: Vec<Option<Vote>>,
}

/// Writes `count` entries and carries out `plan` (see the module's documentation).
fn write(store: &mut LogStore, count: u8, terms: u8, plan: u8, a: u8, b: u8) -> Written {
    let mut votes = vec![None];
    if plan & 1 != 0 {
        let vote = Vote::new(1, 1 + u64::from(a % 3));
        block_on(store.save_vote(&vote)).expect("save a vote");
        votes.push(Some(vote));
    }
    let mut entries: Vec<Entry> = (1..=u64::from(count))
        .map(|index| entry(index, terms, 0))
        .collect();
    append(store, &entries);
    let mut last_written: BTreeMap<u64, Entry> =
        entries.iter().map(|e| (e.index(), e.clone())).collect();
    let pick = |at: u8| {
        entries
            .get(usize::from(at) % entries.len().max(1))
            .map(|e| e.log_id())
    };
    let mut committed = None;
    if plan & 4 != 0 {
        committed = pick(a);
        block_on(store.save_committed(committed)).expect("save the committed id");
    }
    let mut purged = None;
    if plan & 8 != 0
        && let Some(log_id) = pick(a)
    {
        block_on(store.purge(log_id)).expect("purge");
        purged = Some(log_id);
    }
    if plan & 16 != 0 {
        // Never into what was purged: openraft truncates only past the purged id.
        let keep = (u64::from(b) % (entries.len() as u64 + 1))
            .max(purged.map_or(0, |log_id| log_id.index()));
        let after = keep
            .checked_sub(1)
            .and_then(|at| entries.get(at as usize))
            .map(|e| e.log_id());
        block_on(store.truncate_after(after)).expect("truncate");
        entries.truncate(keep as usize);
        // Written again in a term above every earlier one, as a new leader would.
        let again: Vec<Entry> = (keep + 1..=keep + u64::from(b % 5))
            .map(|index| entry(index, terms, 64))
            .collect();
        append(store, &again);
        last_written.extend(again.iter().map(|e| (e.index(), e.clone())));
        entries.extend(again);
    }
    let mut vote = votes.last().copied().flatten();
    if plan & 2 != 0 {
        let higher = Vote::new(100, 1);
        block_on(store.save_vote(&higher)).expect("save a higher vote");
        votes.push(Some(higher));
        vote = Some(higher);
    }
    let first_kept = purged.map_or(0, |log_id| log_id.index());
    entries.retain(|e| e.index() > first_kept);
    // As `read_committed` answers: never past the last entry the log still has.
    let last = entries.last().map(|e| e.log_id()).or(purged);
    let committed = match (committed, last) {
        (Some(c), Some(last)) if c.index() > last.index() => Some(last),
        (Some(_), None) => None,
        (c, _) => c,
    };
    Written {
        recovered: Recovered {
            entries,
            vote,
            purged,
            committed,
        },
        last_written,
        votes,
    }
}

/// Entry `index`, in a term that rises every few entries as `terms` says (plus `term_offset`),
/// with records whose length and bytes vary with the index and the term.
fn entry(index: u64, terms: u8, term_offset: u64) -> Entry {
    let term = 1 + term_offset + index / (1 + u64::from(terms % 8));
    let log_id = openraft::testing::log_id::<TypeConfig>(term, 1, index);
    Entry::new_normal(
        log_id,
        EffectBatch {
            time: index,
            first_lsn: index,
            last_lsn: index,
            records: vec![(index + term) as u8; 1 + (index as usize * 37) % 300].into(),
        },
    )
}

fn append(store: &mut LogStore, entries: &[Entry]) {
    for batch in entries.chunks(3) {
        let (tx, rx) = TypeConfig::oneshot();
        block_on(async {
            store
                .append(batch.to_vec(), IOFlushed::signal(tx))
                .await
                .expect("append");
            rx.await.expect("callback").expect("flushed");
        });
    }
}

/// The log's files in name order.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|path| path.is_file());
    files.sort();
    files
}

fn damage_file(path: &Path, op: u8, at: usize, byte: u8) {
    let Ok(mut bytes) = std::fs::read(path) else {
        return;
    };
    match op {
        0 => bytes.truncate(at % (bytes.len() + 1)),
        1 if !bytes.is_empty() => {
            let at = at % bytes.len();
            bytes[at] ^= byte | 1;
        }
        2 => bytes.extend(std::iter::repeat_n(byte, at % 64)),
        _ => {}
    }
    let _ = std::fs::write(path, bytes);
}

/// What the log in `dir` gives back, or `None` when it is refused.
fn recover(dir: &Path, config: LogStoreConfig) -> Option<Recovered> {
    let mut store = LogStore::open_with(dir, config, Arc::new(StdFs)).ok()?;
    let mut reader = store.reader();
    block_on(async {
        let entries = reader
            .try_get_log_entries(..)
            .await
            .expect("a recovered log can be read");
        let vote = reader.read_vote().await.expect("the vote can be read");
        let state = store.get_log_state().await.expect("the log state");
        let committed = store.read_committed().await.expect("the committed id");
        Some(Recovered {
            entries,
            vote,
            purged: state.last_purged_log_id,
            committed,
        })
    })
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}
