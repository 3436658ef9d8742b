//! Recovery, crash points, damage, rotation, purge and the fsync policies, with the store's
//! insides in view.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogReader, RaftLogStorage};
use openraft::type_config::TypeConfigExt;
use sessiond_storage::{FaultFs, FsyncPolicy, StdFs};

use super::*;
use crate::types::EffectBatch;

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn log_id(term: u64, index: u64) -> LogId {
    openraft::testing::log_id::<TypeConfig>(term, 1, index)
}

fn entry(term: u64, index: u64) -> Entry {
    Entry::new_normal(
        log_id(term, index),
        EffectBatch {
            time: index,
            first_lsn: index,
            last_lsn: index,
            // Bytes no record header can hide in.
            records: vec![0xEE; 200 + index as usize % 7].into(),
        },
    )
}

fn config(fsync: FsyncPolicy, segment_size: u64) -> LogStoreConfig {
    LogStoreConfig {
        fsync,
        segment_size,
        cache_bytes: LogStoreConfig::DEFAULT_CACHE_BYTES,
    }
}

fn open(dir: &Path, segment_size: u64) -> LogStore {
    LogStore::open_with(dir, config(FsyncPolicy::No, segment_size), Arc::new(StdFs)).unwrap()
}

/// Appends entries `range` of `term`, one append call per `batch` entries, and waits for
/// every callback.
fn append(store: &mut LogStore, term: u64, range: std::ops::Range<u64>, batch: usize) {
    let entries: Vec<Entry> = range.map(|i| entry(term, i)).collect();
    for chunk in entries.chunks(batch) {
        let (tx, rx) = TypeConfig::oneshot();
        block_on(async {
            store
                .append(chunk.to_vec(), IOFlushed::signal(tx))
                .await
                .unwrap();
            rx.await.unwrap().unwrap();
        });
    }
}

fn all_entries(store: &LogStore) -> Vec<Entry> {
    block_on(store.reader().try_get_log_entries(..)).unwrap()
}

fn state(store: &mut LogStore) -> (LogState<TypeConfig>, Option<Vote>, Option<LogId>) {
    block_on(async {
        (
            store.get_log_state().await.unwrap(),
            store.reader().read_vote().await.unwrap(),
            store.read_committed().await.unwrap(),
        )
    })
}

fn segment_files(dir: &Path) -> Vec<u64> {
    let mut firsts: Vec<u64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| format::parse_segment_name(e.unwrap().file_name().to_str()?))
        .collect();
    firsts.sort_unstable();
    firsts
}

/// The offsets of the entries in `segment`, from the index.
fn offsets(store: &LogStore, segment: u64) -> Vec<(u64, u64)> {
    let index = store.shared.index.read();
    index
        .locs
        .iter()
        .filter(|loc| loc.segment == segment)
        .map(|loc| (loc.offset, u64::from(loc.len)))
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for file in std::fs::read_dir(from).unwrap() {
        let file = file.unwrap();
        std::fs::copy(file.path(), to.join(file.file_name())).unwrap();
    }
}

#[test]
fn reopening_after_each_operation_gives_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raft");
    let mut store = open(&path, 2000);
    // Closes the store and opens it again, checking nothing changed.
    let check = |mut store: LogStore| {
        let before = (state(&mut store), all_entries(&store));
        drop(store);
        let mut store = open(&path, 2000);
        let after = (state(&mut store), all_entries(&store));
        assert_eq!(before, after);
        store
    };
    append(&mut store, 1, 0..40, 3);
    assert!(segment_files(&path).len() > 3, "{:?}", segment_files(&path));
    store = check(store);
    block_on(store.save_vote(&Vote::new(2, 3))).unwrap();
    store = check(store);
    block_on(store.save_committed(Some(log_id(1, 20)))).unwrap();
    store = check(store);
    block_on(store.truncate_after(Some(log_id(1, 30)))).unwrap();
    assert_eq!(all_entries(&store).last().map(|e| e.index()), Some(30));
    store = check(store);
    append(&mut store, 2, 31..35, 2);
    store = check(store);
    block_on(store.purge(log_id(1, 12))).unwrap();
    assert_eq!(all_entries(&store).first().map(|e| e.index()), Some(13));
    store = check(store);
    // Truncation into an older segment, then a truncation of everything left.
    block_on(store.truncate_after(Some(log_id(1, 14)))).unwrap();
    store = check(store);
    block_on(store.truncate_after(None)).unwrap();
    assert!(all_entries(&store).is_empty());
    store = check(store);
    append(&mut store, 3, 13..16, 1);
    store = check(store);
    assert_eq!(
        all_entries(&store),
        (13..16).map(|i| entry(3, i)).collect::<Vec<_>>()
    );
}

#[test]
fn a_purge_past_the_end_empties_the_log_and_appends_go_on_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raft");
    let mut store = open(&path, 1000);
    append(&mut store, 1, 0..10, 2);
    block_on(store.purge(log_id(1, 20))).unwrap();
    assert!(segment_files(&path).is_empty());
    let (log, _, _) = state(&mut store);
    assert_eq!(log.last_log_id, Some(log_id(1, 20)));
    drop(store);
    let mut store = open(&path, 1000);
    assert_eq!(state(&mut store).0.last_log_id, Some(log_id(1, 20)));
    append(&mut store, 2, 21..23, 2);
    drop(store);
    let store = open(&path, 1000);
    assert_eq!(all_entries(&store), vec![entry(2, 21), entry(2, 22)]);
}

#[test]
fn appends_must_continue_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), 1000);
    append(&mut store, 1, 5..8, 3);
    let (tx, _rx) = TypeConfig::oneshot();
    let gap = block_on(store.append([entry(1, 9)], IOFlushed::signal(tx)));
    assert!(gap.is_err());
    let (tx, _rx) = TypeConfig::oneshot();
    let hole = block_on(store.append([entry(1, 8), entry(1, 10)], IOFlushed::signal(tx)));
    assert!(hole.is_err());
    append(&mut store, 1, 8..9, 1);
}

#[test]
fn segments_rotate_and_purge_removes_only_whole_segments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raft");
    let mut store = open(&path, 1000);
    append(&mut store, 1, 0..30, 2);
    let segments = segment_files(&path);
    assert!(segments.len() >= 5, "{segments:?}");
    // Each segment passes the size by at most one batch.
    for &first in &segments {
        let len = std::fs::metadata(path.join(format::segment_name(first)))
            .unwrap()
            .len();
        assert!(len < 1000 + 2 * 300, "segment {first}: {len} bytes");
    }
    // Purging into the middle of the third segment removes the first two only.
    let purge_to = segments[2] + 1;
    block_on(store.purge(log_id(1, purge_to))).unwrap();
    assert_eq!(segment_files(&path), segments[2..].to_vec());
    assert_eq!(
        all_entries(&store),
        (purge_to + 1..30).map(|i| entry(1, i)).collect::<Vec<_>>()
    );
    // Reads below the purge give what is left; reads of old entries go to the disk.
    let mut reader = store.reader();
    let read = block_on(reader.try_get_log_entries(0..purge_to + 3)).unwrap();
    assert_eq!(
        read,
        (purge_to + 1..purge_to + 3)
            .map(|i| entry(1, i))
            .collect::<Vec<_>>()
    );
}

#[test]
fn reads_from_the_disk_and_from_the_cache_agree() {
    let dir = tempfile::tempdir().unwrap();
    let mut cached = LogStore::open_with(
        &dir.path().join("a"),
        config(FsyncPolicy::No, 1500),
        Arc::new(StdFs),
    )
    .unwrap();
    let mut uncached = LogStore::open_with(
        &dir.path().join("b"),
        LogStoreConfig {
            cache_bytes: 1000,
            ..config(FsyncPolicy::No, 1500)
        },
        Arc::new(StdFs),
    )
    .unwrap();
    append(&mut cached, 1, 0..50, 4);
    append(&mut uncached, 1, 0..50, 4);
    assert!(uncached.shared.index.read().cache.len() < 5);
    for (start, end) in [(0, 50), (3, 17), (45, 50), (10, 11), (49, 80)] {
        let a = block_on(cached.reader().try_get_log_entries(start..end)).unwrap();
        let b = block_on(uncached.reader().try_get_log_entries(start..end)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len() as u64, end.min(50) - start);
    }
    let limited = block_on(uncached.reader().limited_get_log_entries(0, 50)).unwrap();
    assert_eq!(limited.len(), 50);
}

#[test]
fn a_cut_anywhere_in_the_last_records_keeps_exactly_the_whole_ones() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let mut store = open(&source, 1 << 20);
    append(&mut store, 1, 0..8, 1);
    let segment = *segment_files(&source).last().unwrap();
    let records = offsets(&store, segment);
    drop(store);
    let name = format::segment_name(segment);
    let full = std::fs::read(source.join(&name)).unwrap();
    let from = records[records.len() - 3].0;
    for cut in from..=full.len() as u64 {
        let copy = dir.path().join(format!("cut-{cut}"));
        copy_dir(&source, &copy);
        std::fs::write(copy.join(&name), &full[..cut as usize]).unwrap();
        let store = open(&copy, 1 << 20);
        let whole = records
            .iter()
            .filter(|(offset, len)| offset + len <= cut)
            .count() as u64;
        assert_eq!(
            all_entries(&store),
            (0..whole).map(|i| entry(1, i)).collect::<Vec<_>>(),
            "cut at {cut}"
        );
        drop(store);
        // The cut is made on disk: the next start finds the same log, and appends go on.
        assert_eq!(
            std::fs::metadata(copy.join(&name)).unwrap().len(),
            records
                .get(whole as usize)
                .map_or(full.len() as u64, |r| r.0)
        );
        let mut store = open(&copy, 1 << 20);
        append(&mut store, 2, whole..whole + 1, 1);
        drop(store);
        let store = open(&copy, 1 << 20);
        assert_eq!(all_entries(&store).len() as u64, whole + 1);
        std::fs::remove_dir_all(&copy).unwrap();
    }
}

#[test]
fn trailing_zeros_and_a_blank_new_segment_are_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raft");
    let mut store = open(&path, 1 << 20);
    append(&mut store, 1, 0..4, 2);
    drop(store);
    let name = format::segment_name(0);
    let clean = std::fs::read(path.join(&name)).unwrap();
    let mut bytes = clean.clone();
    bytes.extend_from_slice(&[0; 4096]);
    std::fs::write(path.join(&name), &bytes).unwrap();
    let mut store = open(&path, 1 << 20);
    assert_eq!(all_entries(&store).len(), 4);
    assert_eq!(std::fs::read(path.join(&name)).unwrap(), clean);
    append(&mut store, 1, 4..6, 2);
    drop(store);
    assert_eq!(all_entries(&open(&path, 1 << 20)).len(), 6);

    // A segment whose creation a crash interrupted: a partial header, or none at all.
    for header_len in [0, 9] {
        std::fs::write(
            path.join(format::segment_name(6)),
            &format::header(SEGMENT_MAGIC, 6)[..header_len],
        )
        .unwrap();
        let mut store = open(&path, 1 << 20);
        assert_eq!(all_entries(&store).len(), 6);
        assert_eq!(segment_files(&path), vec![0]);
        append(&mut store, 1, 6..7, 1);
        block_on(store.truncate_after(Some(log_id(1, 5)))).unwrap();
    }
}

#[test]
fn a_flipped_byte_before_the_tail_is_an_error_that_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let mut store = open(&source, 1500);
    append(&mut store, 1, 0..20, 2);
    let segments = segment_files(&source);
    assert!(segments.len() >= 3);
    let last = *segments.last().unwrap();
    let last_records = offsets(&store, last);
    let first_records = offsets(&store, segments[0]);
    drop(store);

    let flip = |segment: u64, at: u64| {
        let copy = dir.path().join(format!("flip-{segment}-{at}"));
        copy_dir(&source, &copy);
        let name = copy.join(format::segment_name(segment));
        let mut bytes = std::fs::read(&name).unwrap();
        bytes[at as usize] ^= 0x01;
        std::fs::write(&name, bytes).unwrap();
        (
            copy.clone(),
            LogStore::open_with(&copy, config(FsyncPolicy::No, 1500), Arc::new(StdFs)),
        )
    };
    // In the middle of an older segment.
    let (_, result) = flip(segments[0], first_records[1].0 + 30);
    let error = result.unwrap_err();
    assert!(matches!(error, LogStoreError::Corrupt { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&format::segment_name(segments[0])),
        "{message}"
    );
    assert!(message.contains("replace the node"), "{message}");
    // In the last segment, with a whole record after it.
    let (_, result) = flip(last, last_records[0].0 + 30);
    assert!(matches!(result, Err(LogStoreError::Corrupt { .. })));
    // In a segment header.
    let (_, result) = flip(segments[1], 14);
    assert!(matches!(
        result,
        Err(LogStoreError::Corrupt { offset: 0, .. })
    ));
    // In the very last record: indistinguishable from a torn write, so it is cut.
    let (copy, result) = flip(last, last_records.last().unwrap().0 + 30);
    let store = result.unwrap();
    assert_eq!(all_entries(&store).len(), 19);
    drop(store);
    // The state file is checked the same way.
    let state = copy.join(format::STATE_NAME);
    let mut bytes = std::fs::read(&state).unwrap();
    bytes[HEADER_LEN + 12] ^= 0x01;
    std::fs::write(&state, bytes).unwrap();
    assert!(matches!(
        LogStore::open_with(&copy, config(FsyncPolicy::No, 1500), Arc::new(StdFs)),
        Err(LogStoreError::Corrupt { .. })
    ));
}

#[test]
fn segments_without_the_state_file_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), 1000);
    append(&mut store, 1, 0..3, 3);
    drop(store);
    std::fs::remove_file(dir.path().join(format::STATE_NAME)).unwrap();
    assert!(matches!(
        LogStore::open_with(dir.path(), config(FsyncPolicy::No, 1000), Arc::new(StdFs)),
        Err(LogStoreError::MissingState { .. })
    ));
}

#[test]
fn a_truncation_a_crash_interrupted_is_finished_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raft");
    let mut store = open(&path, 1000);
    append(&mut store, 1, 0..30, 2);
    let segments = segment_files(&path);
    // Crash points: marker written; later segments removed; the cut made.
    for step in 0..3 {
        let copy = dir.path().join(format!("step-{step}"));
        copy_dir(&path, &copy);
        let mut crashed = open(&copy, 1000);
        crashed.state.value.truncating = Some(7);
        crashed.save_state(true).unwrap();
        if step >= 1 {
            let cut = crashed
                .shared
                .index
                .read()
                .loc(7)
                .map(|l| (l.segment, l.offset));
            crashed.segments.retain(|&first| {
                first <= 7 || {
                    std::fs::remove_file(copy.join(format::segment_name(first))).unwrap();
                    false
                }
            });
            if step >= 2 {
                crashed.active = None;
                crashed.remove_segments_from(7, cut).unwrap();
            }
        }
        // Crash: no clean-up of the marker.
        *crashed.shared.failure.lock() = Some("crashed".into());
        drop(crashed);
        let mut store = open(&copy, 1000);
        assert_eq!(
            all_entries(&store),
            (0..7).map(|i| entry(1, i)).collect::<Vec<_>>(),
            "step {step}"
        );
        assert_eq!(store.state.value.truncating, None);
        append(&mut store, 2, 7..9, 2);
        drop(store);
        let store = open(&copy, 1000);
        assert_eq!(all_entries(&store).len(), 9);
        assert!(segments.len() > segment_files(&copy).len());
    }
}

#[test]
fn a_purge_a_crash_interrupted_is_finished_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raft");
    let mut store = open(&path, 1000);
    append(&mut store, 1, 0..30, 2);
    let segments = segment_files(&path);
    // The purge is recorded, no segment is removed yet.
    store.state.value.purged = Some(log_id(1, segments[3] + 1));
    store.save_state(true).unwrap();
    *store.shared.failure.lock() = Some("crashed".into());
    drop(store);
    let mut store = open(&path, 1000);
    assert_eq!(segment_files(&path), segments[3..].to_vec());
    assert_eq!(
        all_entries(&store).first().map(|e| e.index()),
        Some(segments[3] + 2)
    );
    assert_eq!(
        state(&mut store).0.last_purged_log_id,
        Some(log_id(1, segments[3] + 1))
    );
}

fn fault_store(dir: &Path, fsync: FsyncPolicy) -> (LogStore, FaultFs) {
    let fs = FaultFs::new(Arc::new(StdFs));
    let store = LogStore::open_with(dir, config(fsync, 1 << 20), Arc::new(fs.clone())).unwrap();
    (store, fs)
}

#[test]
fn always_flushes_before_the_callback() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, fs) = fault_store(dir.path(), FsyncPolicy::Always);
    append(&mut store, 1, 0..1, 1);
    fs.hold_syncs();
    let (tx, mut rx) = TypeConfig::oneshot();
    let appending = std::thread::spawn(move || {
        block_on(store.append([entry(1, 1)], IOFlushed::signal(tx))).unwrap();
        store
    });
    fs.wait_for_held_syncs(1);
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        rx.try_recv().is_err(),
        "the callback fired before the fsync"
    );
    let before = fs.syncs();
    fs.release_syncs();
    let store = appending.join().unwrap();
    assert_eq!(fs.syncs(), before + 1);
    assert!(block_on(rx).unwrap().is_ok());
    assert_eq!(all_entries(&store).len(), 2);
}

#[test]
fn no_and_everysec_never_flush_in_append_and_votes_always_flush() {
    for fsync in [FsyncPolicy::No, FsyncPolicy::EverySec] {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, fs) = fault_store(dir.path(), fsync);
        append(&mut store, 1, 0..1, 1);
        let before = fs.syncs();
        append(&mut store, 1, 1..50, 1);
        block_on(store.save_committed(Some(log_id(1, 40)))).unwrap();
        assert_eq!(fs.syncs(), before, "{fsync}");
        block_on(store.save_vote(&Vote::new(5, 1))).unwrap();
        assert_eq!(fs.syncs(), before + 1, "{fsync}: the vote is flushed");
        if fsync == FsyncPolicy::EverySec {
            // The background flush comes within about a second: the segment and the state.
            append(&mut store, 1, 50..51, 1);
            block_on(store.save_committed(Some(log_id(1, 50)))).unwrap();
            let deadline = Instant::now() + Duration::from_secs(3);
            while fs.syncs() < before + 3 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert_eq!(fs.syncs(), before + 3);
            // Nothing written, nothing flushed.
            std::thread::sleep(Duration::from_millis(1300));
            assert_eq!(fs.syncs(), before + 3);
        } else {
            std::thread::sleep(Duration::from_millis(1300));
            assert_eq!(fs.syncs(), before + 1);
        }
    }
}

#[test]
fn a_failed_flush_stops_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, fs) = fault_store(dir.path(), FsyncPolicy::Always);
    append(&mut store, 1, 0..2, 1);
    fs.fail_syncs();
    let (tx, rx) = TypeConfig::oneshot();
    assert!(block_on(store.append([entry(1, 2)], IOFlushed::signal(tx))).is_err());
    assert!(block_on(rx).unwrap().is_err());
    fs.heal();
    let (tx, _rx) = TypeConfig::oneshot();
    assert!(block_on(store.append([entry(1, 2)], IOFlushed::signal(tx))).is_err());
    assert!(block_on(store.save_vote(&Vote::new(2, 1))).is_err());
    drop(store);
    // A restart recovers from the files.
    let store = LogStore::open_with(
        dir.path(),
        config(FsyncPolicy::Always, 1 << 20),
        Arc::new(fs),
    )
    .unwrap();
    assert_eq!(all_entries(&store).len(), 2);
}

#[test]
fn committed_never_runs_past_the_log_after_a_loss() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), 1 << 20);
    append(&mut store, 1, 0..10, 10);
    block_on(store.save_committed(Some(log_id(1, 9)))).unwrap();
    // As if a power failure kept the state file but not the entries' last part.
    block_on(store.truncate_after(Some(log_id(1, 5)))).unwrap();
    assert_eq!(
        block_on(store.read_committed()).unwrap(),
        Some(log_id(1, 5))
    );
}
