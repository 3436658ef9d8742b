//! Fuzzes recovery of a cluster node's Raft log: a log written by the store itself, then
//! damaged as the input says (cut short, bytes flipped, bytes appended, in any of its files),
//! must be opened or refused without a panic; what an opened log gives back must be a prefix
//! of what was written, each entry exactly as written; and opening it again must give the
//! same.
//!
//! Input: `entries:u8 | segment_size:u8 | terms:u8 | damage...`, each damage `op:u8 |
//! file:u8 | at:u16le | byte:u8`: `op % 3` cuts the file at `at`, flips bits of the byte at
//! `at` by `byte | 1`, or appends `at % 64` copies of `byte`. Files are taken in name order
//! (segments, then the state file).

#![no_main]

mod scratch;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogReader, RaftLogStorage};
use openraft::type_config::TypeConfigExt;
use sessiond_cluster::log_store::{LogStore, LogStoreConfig};
use sessiond_cluster::types::{EffectBatch, Entry, TypeConfig};
use sessiond_storage::{FsyncPolicy, StdFs};

fuzz_target!(|data: &[u8]| {
    let [count, segment, terms, damage @ ..] = data else {
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
    let written: Vec<Entry> = (1..=u64::from(*count % 48))
        .map(|index| entry(index, *terms))
        .collect();
    {
        let Ok(mut store) = LogStore::open_with(dir.path(), config, Arc::new(StdFs)) else {
            panic!("an empty directory opens");
        };
        append(&mut store, &written);
    }

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
            Some(&written),
            "an undamaged log lost entries"
        );
    }
    if let Some(entries) = &first {
        assert!(
            entries.len() <= written.len(),
            "more entries than were written"
        );
        assert_eq!(
            entries[..],
            written[..entries.len()],
            "a recovered entry differs from the one written"
        );
        let second = recover(dir.path(), config).expect("a recovered log opens again");
        assert_eq!(&second, entries, "a second recovery changed the log");
    }
});

/// Entry `index`, in a term that rises every few entries as `terms` says, with records whose
/// length and bytes vary with the index.
fn entry(index: u64, terms: u8) -> Entry {
    let term = 1 + index / (1 + u64::from(terms % 8));
    let log_id = openraft::testing::log_id::<TypeConfig>(term, 1, index);
    Entry::new_normal(
        log_id,
        EffectBatch {
            time: index,
            first_lsn: index,
            last_lsn: index,
            records: vec![index as u8; 1 + (index as usize * 37) % 300].into(),
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

/// Every entry of the log in `dir`, or `None` when it is refused.
fn recover(dir: &Path, config: LogStoreConfig) -> Option<Vec<Entry>> {
    let store = LogStore::open_with(dir, config, Arc::new(StdFs)).ok()?;
    let mut reader = store.reader();
    Some(block_on(reader.try_get_log_entries(..)).expect("a recovered log can be read"))
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}
