//! Snapshots: the whole store at one lsn, so the log before it can go.
//!
//! `snapshot-<lsn>.snap` holds every record below `lsn`, the journal's next lsn when the
//! snapshot began. It is written one shard at a time from [`Engine::snapshot_shard`] while the
//! server keeps running: each shard is locked only while its items are copied (values are
//! shared, not copied), and only one shard's copy exists at a time, so memory does not double.
//! Writes that land while it is being taken may or may not be in it; replay from `lsn` on
//! applies them again, which is harmless because effects are assignments.
//!
//! Layout: a 32-byte header `magic:8 | format_version:u8 | 0:u24 | lsn:u64le | time:u64le |
//! crc32:u32le`; the items as `Put` records and each shard's pending delayed flushes as `Flush`
//! records (the record codec of the log, numbered from 1 instead of by lsn, stamped with the
//! snapshot's time); a 32-byte footer `magic:8 | items:u64le | flushes:u64le | records_crc32:u32le
//! | crc32:u32le`, so a truncated file is refused before anything is loaded from it. It is
//! written to a temporary name, flushed, renamed into place and the directory flushed.
//!
//! Why a hand-written sequential file and not an embedded database such as redb: a snapshot
//! is a dump written once from start to end and read back once in one pass. A B-tree's
//! copy-on-write pages, and the overflow pages its 4 KiB session values would need, would
//! write more bytes and read them back with random I/O, for lookups nothing ever makes.

use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sessiond_engine::{Change, Effect, Engine, SHARD_COUNT, Timestamp};

use crate::error::StorageError;
use crate::fs::{Fs, FsFile};
use crate::layout::{RECYCLED_SNAPSHOT_NAME, snapshot_name, snapshot_temp_name};
use crate::record::{self, Record};

/// The bytes a snapshot starts with.
pub const MAGIC: [u8; 8] = *b"SESSDSNP";
/// The bytes its footer starts with.
pub const FOOTER_MAGIC: [u8; 8] = *b"SESSDEND";
/// The header's length.
pub const HEADER_LEN: usize = 32;
/// The footer's length.
pub const FOOTER_LEN: usize = 32;

/// Records are gathered into writes of about this size.
const WRITE_CHUNK: usize = 1 << 20;

/// What taking a snapshot did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotReport {
    /// The snapshot's lsn: every record below it is in it.
    pub lsn: u64,
    /// The snapshot file.
    pub path: PathBuf,
    /// How many items it holds.
    pub items: u64,
    /// How many pending delayed flushes it holds.
    pub flushes: u64,
    /// Its size.
    pub bytes: u64,
    /// How many log segments it made unnecessary and took out of the log (removed, or kept
    /// for the writer to reuse, see
    /// [`StorageConfig::recycled_segments`](crate::StorageConfig::recycled_segments)).
    pub removed_segments: usize,
    /// How many older snapshots were removed.
    pub removed_snapshots: usize,
    /// How long it took.
    pub elapsed: Duration,
}

/// A snapshot's header and footer, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SnapshotInfo {
    pub lsn: u64,
    pub time: Timestamp,
    pub items: u64,
    pub flushes: u64,
    pub len: u64,
    records_crc: u32,
}

/// What [`write`] wrote.
#[derive(Debug)]
pub(crate) struct Written {
    pub path: PathBuf,
    pub items: u64,
    pub flushes: u64,
    pub bytes: u64,
}

/// Writes the snapshot of `engine` at `lsn`, stamped `now`, into `dir`, and makes it durable.
/// It is written over the replaced snapshot kept as `recycled.snap` when there is one: its
/// pages are in the page cache and its blocks allocated, where a new file's `write`s would
/// allocate, zero and account for every one of them (most of a snapshot's cost, measured in
/// BENCHMARKS.md). The spare is first renamed to the temporary name, so a crash mid-write
/// leaves a temporary file (removed at the next start), never a half-overwritten file under
/// a name recovery reads.
pub(crate) fn write(
    fs: &dyn Fs,
    dir: &Path,
    engine: &Engine,
    lsn: u64,
    now: Timestamp,
) -> Result<Written, StorageError> {
    let temp = dir.join(snapshot_temp_name(lsn));
    let path = dir.join(snapshot_name(lsn));
    let spare = dir.join(RECYCLED_SNAPSHOT_NAME);
    let reuse = fs.len(&spare).is_ok() && fs.rename(&spare, &temp).is_ok();
    let result = write_temp(fs, &temp, reuse, engine, lsn, now).and_then(|written| {
        fs.rename(&temp, &path)
            .map_err(|error| StorageError::io("rename", &temp, error))?;
        fs.sync_dir(dir)
            .map_err(|error| StorageError::io("fsync", dir, error))?;
        Ok(Written {
            path: path.clone(),
            ..written
        })
    });
    if result.is_err() {
        // Best effort: a leftover is removed at the next start anyway.
        let _ = fs.remove(&temp);
    }
    result
}

fn write_temp(
    fs: &dyn Fs,
    temp: &Path,
    reuse: bool,
    engine: &Engine,
    lsn: u64,
    now: Timestamp,
) -> Result<Written, StorageError> {
    let io = |error| StorageError::io("write", temp, error);
    let reused = if reuse {
        fs.open_rewrite(temp)
            .inspect_err(|error| tracing::debug!(%error, "not reusing the replaced snapshot"))
            .ok()
    } else {
        None
    };
    let is_reused = reused.is_some();
    let mut file = match reused {
        Some(file) => file,
        None => fs
            .create(temp)
            .map_err(|error| StorageError::io("create", temp, error))?,
    };
    let mut out = Vec::with_capacity(WRITE_CHUNK + WRITE_CHUNK / 4);
    out.extend_from_slice(&header(lsn, now));
    let mut records_crc = crc32fast::Hasher::new();
    let (mut items, mut flushes, mut bytes) = (0u64, 0u64, 0u64);
    let mut index = 0;
    for shard in 0..SHARD_COUNT {
        // One shard's copy at a time: it is dropped before the next is taken.
        let copy = engine.snapshot_shard(shard);
        for item in &copy.items {
            index += 1;
            let start = out.len();
            let effect = Effect {
                time: now,
                change: Change::Put(item.state()),
            };
            record::encode(index, &effect, &mut out);
            records_crc.update(&out[start..]);
            items += 1;
            flush_chunk(&mut *file, &mut out, &mut bytes).map_err(io)?;
        }
        for &(namespace, at) in &copy.pending_flushes {
            index += 1;
            let start = out.len();
            let effect = Effect {
                time: now,
                change: Change::Flush {
                    shard: copy.shard,
                    namespace,
                    at: Some(at),
                },
            };
            record::encode(index, &effect, &mut out);
            records_crc.update(&out[start..]);
            flushes += 1;
        }
    }
    out.extend_from_slice(&footer(items, flushes, records_crc.finalize()));
    bytes += out.len() as u64;
    file.write_all(&out).map_err(io)?;
    if is_reused {
        // What is left of the old snapshot past the new one's end.
        file.set_len(bytes).map_err(io)?;
    }
    file.sync_data()
        .map_err(|error| StorageError::io("fsync", temp, error))?;
    Ok(Written {
        path: temp.to_path_buf(),
        items,
        flushes,
        bytes,
    })
}

/// Writes the whole [`WRITE_CHUNK`]s `out` holds, keeping the rest for the next write.
/// Every write but the last then covers whole pages at page-aligned offsets, so writing over
/// a file whose pages have left the page cache never reads a block first.
fn flush_chunk(file: &mut dyn FsFile, out: &mut Vec<u8>, bytes: &mut u64) -> io::Result<()> {
    let whole = out.len() / WRITE_CHUNK * WRITE_CHUNK;
    if whole > 0 {
        file.write_all(&out[..whole])?;
        *bytes += whole as u64;
        out.drain(..whole);
    }
    Ok(())
}

/// Checks the snapshot `path` (named for `name_lsn`) by its header and footer only.
pub(crate) fn inspect(
    fs: &dyn Fs,
    dir: &Path,
    path: &Path,
    name_lsn: u64,
) -> Result<SnapshotInfo, StorageError> {
    let corrupt = |offset: u64, problem: String| StorageError::corrupt(dir, path, offset, problem);
    let io = |error| StorageError::io("read", path, error);
    let len = fs.len(path).map_err(io)?;
    let min = (HEADER_LEN + FOOTER_LEN) as u64;
    if len < min {
        return Err(corrupt(
            len,
            format!("snapshot cut short ({len} bytes, at least {min} needed)"),
        ));
    }
    let head = fs.read_at(path, 0, HEADER_LEN).map_err(io)?;
    let foot = fs
        .read_at(path, len - FOOTER_LEN as u64, FOOTER_LEN)
        .map_err(io)?;
    let (lsn, time) = parse_header(&head).map_err(|problem| corrupt(0, problem))?;
    if lsn != name_lsn {
        return Err(corrupt(
            0,
            format!("header says lsn {lsn}, the file name says {name_lsn}"),
        ));
    }
    let (items, flushes, records_crc) = parse_footer(&foot).map_err(|problem| {
        corrupt(
            len - FOOTER_LEN as u64,
            format!("{problem} (is the snapshot cut short?)"),
        )
    })?;
    Ok(SnapshotInfo {
        lsn,
        time,
        items,
        flushes,
        len,
        records_crc,
    })
}

/// Reads every record of the snapshot `path` (whose header and footer `info` describes) in
/// one pass, calling `each` on each, and checks every checksum and the footer's counts.
pub(crate) fn load(
    fs: &dyn Fs,
    dir: &Path,
    path: &Path,
    info: &SnapshotInfo,
    mut each: impl FnMut(&Record<'_>),
) -> Result<(), StorageError> {
    let corrupt = |offset: u64, problem: String| StorageError::corrupt(dir, path, offset, problem);
    let io = |error| StorageError::io("read", path, error);
    let mut reader = BufReader::with_capacity(WRITE_CHUNK, fs.open_read(path).map_err(io)?);
    let mut head = [0; HEADER_LEN];
    reader.read_exact(&mut head).map_err(io)?;
    let end = info.len - FOOTER_LEN as u64;
    let mut offset = HEADER_LEN as u64;
    let mut buf = Vec::new();
    let mut records_crc = crc32fast::Hasher::new();
    let (mut items, mut flushes, mut index) = (0u64, 0u64, 0u64);
    while offset < end {
        let mut prefix = [0; record::PREFIX_LEN];
        if end - offset < prefix.len() as u64 {
            return Err(corrupt(
                offset,
                "a partial record before the footer".to_owned(),
            ));
        }
        reader.read_exact(&mut prefix).map_err(io)?;
        let body = record::body_len(prefix)
            .map_err(|error| corrupt(offset, format!("a bad record ({error})")))?;
        let total = (record::PREFIX_LEN + body) as u64;
        if total > end - offset {
            return Err(corrupt(offset, "a record runs into the footer".to_owned()));
        }
        buf.clear();
        buf.extend_from_slice(&prefix);
        buf.resize(total as usize, 0);
        reader
            .read_exact(&mut buf[record::PREFIX_LEN..])
            .map_err(io)?;
        let (record, _) = record::decode(&buf)
            .map_err(|error| corrupt(offset, format!("a bad record ({error})")))?;
        index += 1;
        if record.lsn != index {
            return Err(corrupt(
                offset,
                format!("record {} where record {index} belongs", record.lsn),
            ));
        }
        match record.effect.change {
            Change::Put(_) => items += 1,
            Change::Flush { .. } => flushes += 1,
            Change::Meta(_) | Change::Remove(_) => {
                return Err(corrupt(
                    offset,
                    "a record kind snapshots do not hold".to_owned(),
                ));
            }
        }
        each(&record);
        records_crc.update(&buf);
        offset += total;
    }
    if (items, flushes) != (info.items, info.flushes) || records_crc.finalize() != info.records_crc
    {
        return Err(corrupt(
            end,
            format!(
                "the footer promises {} items and {} flushes with checksum {:08x}; the file holds {items} and {flushes}",
                info.items, info.flushes, info.records_crc
            ),
        ));
    }
    Ok(())
}

fn header(lsn: u64, time: Timestamp) -> [u8; HEADER_LEN] {
    let mut header = [0; HEADER_LEN];
    header[..8].copy_from_slice(&MAGIC);
    header[8] = record::FORMAT_VERSION;
    header[12..20].copy_from_slice(&lsn.to_le_bytes());
    header[20..28].copy_from_slice(&time.as_millis().to_le_bytes());
    let crc = crc32fast::hash(&header[..28]);
    header[28..].copy_from_slice(&crc.to_le_bytes());
    header
}

fn footer(items: u64, flushes: u64, records_crc: u32) -> [u8; FOOTER_LEN] {
    let mut footer = [0; FOOTER_LEN];
    footer[..8].copy_from_slice(&FOOTER_MAGIC);
    footer[8..16].copy_from_slice(&items.to_le_bytes());
    footer[16..24].copy_from_slice(&flushes.to_le_bytes());
    footer[24..28].copy_from_slice(&records_crc.to_le_bytes());
    let crc = crc32fast::hash(&footer[..28]);
    footer[28..].copy_from_slice(&crc.to_le_bytes());
    footer
}

fn parse_header(bytes: &[u8]) -> Result<(u64, Timestamp), String> {
    if bytes.len() != HEADER_LEN || bytes[..8] != MAGIC {
        return Err("not a sessiond snapshot (bad magic)".to_owned());
    }
    if crc32fast::hash(&bytes[..28]) != le_u32(&bytes[28..]) {
        return Err("header checksum mismatch".to_owned());
    }
    if bytes[8] != record::FORMAT_VERSION {
        return Err(format!("unknown snapshot format version {}", bytes[8]));
    }
    Ok((
        le_u64(&bytes[12..20]),
        Timestamp::from_millis(le_u64(&bytes[20..28])),
    ))
}

fn parse_footer(bytes: &[u8]) -> Result<(u64, u64, u32), String> {
    if bytes.len() != FOOTER_LEN || bytes[..8] != FOOTER_MAGIC {
        return Err("no footer".to_owned());
    }
    if crc32fast::hash(&bytes[..28]) != le_u32(&bytes[28..]) {
        return Err("footer checksum mismatch".to_owned());
    }
    Ok((
        le_u64(&bytes[8..16]),
        le_u64(&bytes[16..24]),
        le_u32(&bytes[24..28]),
    ))
}

/// The little-endian u32 at the start of `bytes` (callers pass at least 4 bytes).
fn le_u32(bytes: &[u8]) -> u32 {
    let mut array = [0; 4];
    array.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(array)
}

/// The little-endian u64 at the start of `bytes` (callers pass at least 8 bytes).
fn le_u64(bytes: &[u8]) -> u64 {
    let mut array = [0; 8];
    array.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(array)
}
