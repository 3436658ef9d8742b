//! A replica's snapshot on disk: the whole engine at one log id, as a file of the
//! write-ahead log's records, so the same codec (checksum and format version on every record)
//! serves the single-node log, the Raft log's entries and the snapshots Raft ships.
//!
//! ```text
//! magic "SDSNAP01" | header_len:u32le | header (postcard) | header_crc:u32le
//! | records ... | "SDSNEND1" | records:u64le
//! ```
//!
//! A file is written under a temporary name, flushed and renamed, so a visible snapshot is
//! complete; the trailer also catches a file cut short afterwards.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sessiond_engine::{Change, Effect, Engine, SHARD_COUNT, Timestamp};
use sessiond_storage::record;

use crate::types::{LogId, SnapshotMeta, StoredMembership};

const MAGIC: &[u8; 8] = b"SDSNAP01";
const TRAILER: &[u8; 8] = b"SDSNEND1";
/// A header is a log id and a membership: a few KiB at most.
const MAX_HEADER_LEN: u32 = 1 << 20;

/// What a snapshot file says about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotHeader {
    /// The last log entry the snapshot includes.
    pub last_log_id: Option<LogId>,
    /// The membership as of that entry.
    pub membership: StoredMembership,
    /// The highest journal lsn the snapshot includes.
    pub last_lsn: u64,
    /// The newest leader time applied, milliseconds since the epoch.
    pub time: u64,
}

impl SnapshotHeader {
    /// The header as openraft describes a snapshot.
    pub fn meta(&self) -> SnapshotMeta {
        SnapshotMeta {
            last_log_id: self.last_log_id,
            last_membership: self.membership.clone(),
        }
    }
}

/// The extension of a snapshot [`write`] has not put in place yet.
const TEMPORARY: &str = "tmp";
/// The extension of a snapshot being received from the leader.
pub const RECEIVED: &str = "received";

/// The file name of the snapshot at `log_id`.
pub fn file_name(log_id: Option<&LogId>) -> String {
    match log_id {
        Some(id) => format!("snapshot-{:020}-{:020}.snap", id.index, id.leader_id.term),
        None => "snapshot-empty.snap".to_owned(),
    }
}

/// Writes the engine's current state with `header` into a temporary file in `dir`, flushed,
/// and returns its path; [`keep`] puts it in place. Shards are copied one at a time (values
/// shared, not copied), so the engine keeps serving.
pub fn write(dir: &Path, header: &SnapshotHeader, engine: &Engine) -> io::Result<PathBuf> {
    let temporary = dir
        .join(file_name(header.last_log_id.as_ref()))
        .with_extension(TEMPORARY);
    let file = File::create(&temporary)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    write_header(&mut out, header)?;
    let time = Timestamp::from_millis(header.time);
    let mut count = 0u64;
    let mut buffer = Vec::with_capacity(64 * 1024);
    for shard in 0..SHARD_COUNT {
        let copy = engine.snapshot_shard(shard);
        for item in &copy.items {
            buffer.clear();
            let effect = Effect {
                time,
                change: Change::Put(item.state()),
            };
            record::encode(count, &effect, &mut buffer);
            out.write_all(&buffer)?;
            count += 1;
        }
        for (namespace, at) in &copy.pending_flushes {
            buffer.clear();
            let effect = Effect {
                time,
                change: Change::Flush {
                    shard: copy.shard,
                    namespace: *namespace,
                    at: Some(*at),
                },
            };
            record::encode(count, &effect, &mut buffer);
            out.write_all(&buffer)?;
            count += 1;
        }
    }
    out.write_all(TRAILER)?;
    out.write_all(&count.to_le_bytes())?;
    let file = out.into_inner().map_err(|error| error.into_error())?;
    file.sync_all()?;
    Ok(temporary)
}

/// Puts a snapshot [`write`] left at `temporary` in place under its own name, durably, and
/// returns its path.
pub fn keep(dir: &Path, temporary: &Path) -> io::Result<PathBuf> {
    let path = temporary.with_extension("snap");
    fs::rename(temporary, &path)?;
    File::open(dir)?.sync_all()?;
    Ok(path)
}

/// Reads a snapshot's header, leaving `file` at the first record.
pub fn read_header(file: &mut File) -> io::Result<SnapshotHeader> {
    file.seek(SeekFrom::Start(0))?;
    let mut magic = [0u8; 8];
    file.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(invalid("not a sessiond snapshot (bad magic)"));
    }
    let mut len = [0u8; 4];
    file.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len);
    if len > MAX_HEADER_LEN {
        return Err(invalid("snapshot header too long"));
    }
    let mut header = vec![0u8; len as usize];
    file.read_exact(&mut header)?;
    let mut crc = [0u8; 4];
    file.read_exact(&mut crc)?;
    if crc32fast::hash(&header) != u32::from_le_bytes(crc) {
        return Err(invalid("snapshot header checksum mismatch"));
    }
    postcard::from_bytes(&header).map_err(|error| invalid(&format!("snapshot header: {error}")))
}

/// Loads a snapshot into `engine` (which the caller emptied), returning its header.
pub fn load(file: &mut File, engine: &Engine) -> io::Result<SnapshotHeader> {
    let header = read_header(file)?;
    let mut input = BufReader::with_capacity(1 << 20, &mut *file);
    let mut count = 0u64;
    let mut body = Vec::new();
    loop {
        let mut prefix = [0u8; record::PREFIX_LEN];
        input.read_exact(&mut prefix)?;
        if &prefix == TRAILER {
            let mut expected = [0u8; 8];
            input.read_exact(&mut expected)?;
            if u64::from_le_bytes(expected) != count {
                return Err(invalid("snapshot record count mismatch"));
            }
            return Ok(header);
        }
        let len = record::body_len(prefix).map_err(|error| invalid(&error.to_string()))?;
        body.clear();
        body.extend_from_slice(&prefix);
        body.resize(record::PREFIX_LEN + len, 0);
        input.read_exact(&mut body[record::PREFIX_LEN..])?;
        let (decoded, _) = record::decode(&body).map_err(|error| invalid(&error.to_string()))?;
        engine.restore(&decoded.effect);
        count += 1;
    }
}

/// The newest complete snapshot in `dir`, if any; older ones and leftovers are removed.
pub fn newest(dir: &Path) -> io::Result<Option<(PathBuf, SnapshotHeader)>> {
    let mut found: Vec<PathBuf> = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        match path.extension().and_then(|extension| extension.to_str()) {
            Some("snap") => found.push(path),
            // A snapshot whose writer died before the rename.
            Some(TEMPORARY | RECEIVED) => {
                let _ = fs::remove_file(&path);
            }
            _ => {}
        }
    }
    // Names sort by index, then term.
    found.sort();
    let mut newest = None;
    while let Some(path) = found.pop() {
        let header = File::open(&path).and_then(|mut file| read_header(&mut file));
        match header {
            Ok(header) if newest.is_none() => newest = Some((path, header)),
            Ok(_) => {
                let _ = fs::remove_file(&path);
            }
            Err(error) => {
                tracing::warn!(file = %path.display(), %error, "ignoring an unreadable snapshot");
            }
        }
    }
    Ok(newest)
}

/// Removes every snapshot in `dir` but `keep`.
pub fn remove_others(dir: &Path, keep: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path != keep
            && path
                .extension()
                .is_some_and(|extension| extension == "snap")
        {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn write_header(out: &mut impl Write, header: &SnapshotHeader) -> io::Result<()> {
    let bytes = postcard::to_stdvec(header).map_err(|error| invalid(&error.to_string()))?;
    out.write_all(MAGIC)?;
    out.write_all(&(bytes.len() as u32).to_le_bytes())?;
    out.write_all(&bytes)?;
    out.write_all(&crc32fast::hash(&bytes).to_le_bytes())
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}
