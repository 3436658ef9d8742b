//! Opening the log: read the state file, drop segments a purge covered, read every segment
//! into the index, cut a torn tail, finish a truncation a crash interrupted.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::entry::RaftEntry;
use parking_lot::{Condvar, Mutex, RwLock};
use sessiond_storage::{Fs, FsyncPolicy};

use super::format::{
    self, FrameError, HEADER_LEN, KIND_ENTRY, KIND_STATE, SEGMENT_MAGIC, STATE_MAGIC, State,
};
use super::{
    Active, FlushState, Index, Loc, LogStore, LogStoreConfig, LogStoreError, Shared, StateFile,
    flusher, write_state_file,
};
use crate::types::Entry;

pub(super) fn open(
    dir: &Path,
    config: LogStoreConfig,
    fs: Arc<dyn Fs>,
) -> Result<LogStore, LogStoreError> {
    let io = |op: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| LogStoreError::Io { op, path, source }
    };
    let corrupt = |path: &Path, offset: u64, problem: String| LogStoreError::Corrupt {
        path: path.to_owned(),
        dir: dir.to_owned(),
        offset,
        problem,
    };
    fs.create_dir_all(dir).map_err(io("creating", dir))?;
    let names = fs.list(dir).map_err(io("listing", dir))?;
    let mut segments: Vec<u64> = names
        .iter()
        .filter_map(|name| format::parse_segment_name(name))
        .collect();
    segments.sort_unstable();
    let mut removed = false;
    if names.iter().any(|name| name == format::STATE_TEMP_NAME) {
        // A rewrite that did not get to its rename: `state` is still whole.
        let temp = dir.join(format::STATE_TEMP_NAME);
        fs.remove(&temp).map_err(io("removing", &temp))?;
        removed = true;
    }
    let state = if names.iter().any(|name| name == format::STATE_NAME) {
        read_state(&*fs, dir, &corrupt)?
    } else if segments.is_empty() {
        State::default()
    } else {
        return Err(LogStoreError::MissingState {
            dir: dir.to_owned(),
        });
    };

    let segment_path = |first: u64| dir.join(format::segment_name(first));
    let keep_from = state.purged.map(|purged| purged.index() + 1);
    // Segments a purge covered whole (it records the purge before it deletes them).
    while segments.len() >= 2 && keep_from.is_some_and(|keep| segments[1] <= keep) {
        let path = segment_path(segments[0]);
        fs.remove(&path).map_err(io("removing", &path))?;
        segments.remove(0);
        removed = true;
    }
    let mut index = Index::new(config.cache_bytes);
    index.vote = state.vote;
    index.purged = state.purged;
    index.first = keep_from.or(segments.first().copied()).unwrap_or(0);
    if let (Some(keep), Some(&oldest)) = (keep_from, segments.first())
        && oldest > keep
    {
        return Err(corrupt(
            &segment_path(oldest),
            0,
            format!(
                "entries {keep} to {} are missing (the log is purged up to {} and this is the oldest segment)",
                oldest - 1,
                keep - 1
            ),
        ));
    }

    let mut at = 0;
    while at < segments.len() {
        let first = segments[at];
        let next_first = segments.get(at + 1).copied();
        let path = segment_path(first);
        let bytes = fs.read(&path).map_err(io("reading", &path))?;
        let records = index.locs.len();
        let end = scan_segment(&bytes, first, next_first, &mut index)
            .map_err(|(offset, problem)| corrupt(&path, offset, problem))?;
        let mut len = bytes.len() as u64;
        if let Some(torn) = end {
            tracing::warn!(
                file = %path.display(),
                offset = torn.offset,
                bytes = len - torn.offset,
                reason = %torn.reason,
                "raft log: cutting a torn tail at the last whole entry (a write a crash interrupted)"
            );
            if torn.offset > 0 {
                let mut file = fs.open_append(&path).map_err(io("opening", &path))?;
                file.set_len(torn.offset).map_err(io("cutting", &path))?;
                file.sync_data().map_err(io("flushing", &path))?;
            }
            len = torn.offset;
        }
        if next_first.is_none() && len <= HEADER_LEN as u64 && index.locs.len() == records {
            // The last segment holds no entry (a crash right after it was created): the next
            // append creates it again, wherever the log then goes on.
            fs.remove(&path).map_err(io("removing", &path))?;
            segments.pop();
            removed = true;
        }
        at += 1;
    }
    if removed {
        fs.sync_dir(dir).map_err(io("flushing", dir))?;
    }

    let active = match segments.last() {
        Some(&last) => {
            let path = segment_path(last);
            let file = fs.open_append(&path).map_err(io("opening", &path))?;
            let len = fs.len(&path).map_err(io("reading the size of", &path))?;
            Some(Active {
                first: last,
                file: Mutex::new(file),
                len,
            })
        }
        None => None,
    };
    let state_path = dir.join(format::STATE_NAME);
    // A fresh state file at every start: a torn last save is gone, and so is the history.
    let (state_file, state_len) =
        write_state_file(&*fs, dir, &state).map_err(io("writing", &state_path))?;
    let shared = Arc::new(Shared {
        fs,
        dir: dir.to_owned(),
        index: RwLock::new(index),
        failure: Mutex::new(None),
        flush: Mutex::new(FlushState {
            segment: active.as_ref().map(|active| segment_path(active.first)),
            ..FlushState::default()
        }),
        flush_wake: Condvar::new(),
    });
    let truncating = state.truncating;
    let mut store = LogStore {
        shared,
        config,
        segments,
        active,
        state: StateFile {
            value: state,
            file: Mutex::new(state_file),
            len: state_len,
        },
        buf: Vec::new(),
        flusher: None,
    };
    if let Some(from) = truncating {
        tracing::warn!(
            dir = %dir.display(),
            from,
            "raft log: finishing a truncation a crash interrupted"
        );
        store
            .truncate_from(from)
            .map_err(io("finishing a truncation in", dir))?;
    }
    store
        .remove_purged_segments()
        .map_err(io("removing purged segments in", dir))?;
    if config.fsync == FsyncPolicy::EverySec {
        let shared = Arc::clone(&store.shared);
        store.flusher = Some(flusher::spawn(shared).map_err(io("starting the flusher for", dir))?);
    }
    Ok(store)
}

/// A torn tail: the segment is cut at `offset`.
struct Torn {
    offset: u64,
    reason: String,
}

/// Reads the segment `bytes` starting at index `first` into `index` (skipping purged
/// entries). `next_first` is the next segment's first index, `None` for the last segment.
/// Returns the torn tail to cut, or where the damage is and what it is.
fn scan_segment(
    bytes: &[u8],
    first: u64,
    next_first: Option<u64>,
    index: &mut Index,
) -> Result<Option<Torn>, (u64, String)> {
    let last = next_first.is_none();
    if let Err(problem) = format::check_header(bytes, SEGMENT_MAGIC, first) {
        // A crash while the segment was being created leaves a short or zeroed header.
        let blank = bytes.len() < HEADER_LEN || bytes.iter().all(|&b| b == 0);
        return if last && blank {
            Ok(Some(Torn {
                offset: 0,
                reason: problem,
            }))
        } else {
            Err((0, problem))
        };
    }
    let mut at = HEADER_LEN;
    let mut expected = first;
    loop {
        let offset = at as u64;
        if next_first == Some(expected) {
            if at < bytes.len() {
                return Err((
                    offset,
                    format!(
                        "{} bytes after entry {}, where the next segment starts",
                        bytes.len() - at,
                        expected - 1
                    ),
                ));
            }
            return Ok(None);
        }
        if at == bytes.len() {
            if let Some(next) = next_first {
                return Err((
                    offset,
                    format!(
                        "the segment ends before entry {expected} but the next one starts at entry {next}: entries {expected} to {} are missing",
                        next - 1
                    ),
                ));
            }
            return Ok(None);
        }
        let error: FrameError = match format::decode_frame(&bytes[at..]) {
            Ok(frame) if frame.kind == KIND_ENTRY && frame.index == expected => {
                let entry: Entry = postcard::from_bytes(frame.payload).map_err(|error| {
                    (
                        offset,
                        format!(
                            "entry {expected} has a good checksum but does not decode: {error}"
                        ),
                    )
                })?;
                if entry.index() != expected {
                    return Err((
                        offset,
                        format!(
                            "the record of entry {expected} holds entry {}",
                            entry.index()
                        ),
                    ));
                }
                if expected >= index.first {
                    // Only the oldest segment can start below `first` (purged entries), so
                    // from there on entries arrive in order.
                    if expected != index.next_index() {
                        return Err((
                            offset,
                            format!(
                                "entry {expected} where entry {} was expected",
                                index.next_index()
                            ),
                        ));
                    }
                    let loc = Loc {
                        log_id: entry.log_id(),
                        segment: first,
                        offset,
                        // `decode_frame` checked it against `MAX_RECORD_LEN`.
                        len: u32::try_from(frame.len).unwrap_or(u32::MAX),
                    };
                    index.push(loc, entry);
                }
                expected += 1;
                at += frame.len;
                continue;
            }
            Ok(frame) => {
                return Err((
                    offset,
                    format!(
                        "expected entry {expected}, found a record of kind {} for index {}",
                        frame.kind, frame.index
                    ),
                ));
            }
            Err(error) => error,
        };
        if let Some(valid) = format::valid_record_after(bytes, at, KIND_ENTRY) {
            return Err((
                offset,
                format!("{error}, followed by a valid record at byte {valid}"),
            ));
        }
        if !last {
            return Err((
                offset,
                format!(
                    "{error} in a segment that is not the last (entries {expected} on are needed)"
                ),
            ));
        }
        return Ok(Some(Torn {
            offset,
            reason: error.to_string(),
        }));
    }
}

/// Reads the state file: the last whole state in it. A torn last record (a save a crash
/// interrupted, never acknowledged) is passed over; damage before it is an error.
fn read_state(
    fs: &dyn Fs,
    dir: &Path,
    corrupt: &impl Fn(&Path, u64, String) -> LogStoreError,
) -> Result<State, LogStoreError> {
    let path: PathBuf = dir.join(format::STATE_NAME);
    let bytes = fs.read(&path).map_err(|source| LogStoreError::Io {
        op: "reading",
        path: path.clone(),
        source,
    })?;
    format::check_header(&bytes, STATE_MAGIC, 0).map_err(|problem| corrupt(&path, 0, problem))?;
    let mut at = HEADER_LEN;
    let mut state = None;
    while at < bytes.len() {
        let offset = at as u64;
        match format::decode_frame(&bytes[at..]) {
            Ok(frame) if frame.kind == KIND_STATE => {
                let value = postcard::from_bytes(frame.payload).map_err(|error| {
                    corrupt(
                        &path,
                        offset,
                        format!("a state with a good checksum does not decode: {error}"),
                    )
                })?;
                state = Some(value);
                at += frame.len;
            }
            Ok(frame) => {
                return Err(corrupt(
                    &path,
                    offset,
                    format!("a record of kind {} in the state file", frame.kind),
                ));
            }
            Err(error) => {
                if let Some(valid) = format::valid_record_after(&bytes, at, KIND_STATE) {
                    return Err(corrupt(
                        &path,
                        offset,
                        format!("{error}, followed by a valid record at byte {valid}"),
                    ));
                }
                tracing::warn!(
                    file = %path.display(),
                    offset,
                    reason = %error,
                    "raft log: passing over a torn last save of the state (a write a crash interrupted)"
                );
                break;
            }
        }
    }
    state.ok_or_else(|| {
        corrupt(
            &path,
            HEADER_LEN as u64,
            "no whole state in the file".to_owned(),
        )
    })
}
