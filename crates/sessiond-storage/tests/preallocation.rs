//! Segments are preallocated: while it is written a segment is the segment size long, zeros
//! after its last record, and the writer keeps the pages just ahead of the writes in the page
//! cache. A clean stop trims the zeros; a crash leaves them, and recovery trims them without
//! calling them a torn tail; `check-data` says what they are.

mod common;

use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use common::{T0, block_on, config, copy_of, dump, open, open_with, segments, wait_until};
use parking_lot::Mutex;
use sessiond_engine::{Engine, Expiry, Key, Store, StoreMode};
use sessiond_storage::{
    FileStatus, Fs, FsFile, FsyncPolicy, StdFs, StorageConfig, WalJournal, check_data,
    take_thread_lsn,
};

/// Bytes of a segment header.
const HEADER: u64 = 24;

fn store(engine: &Engine, name: &str, len: usize) {
    let key = Key::default_namespace(name.as_bytes());
    let value = vec![b'v'; len];
    let store = Store::new(key, &value, 0, Expiry::Never, StoreMode::Set);
    engine.run(&store, T0).expect("stored");
}

/// Writes this thread's records as a connection does before it answers (waiting for the
/// writer thread while it switches segments).
fn write(journal: &WalJournal) {
    let lsn = take_thread_lsn();
    if !journal.write_through(lsn) {
        block_on(journal.wait_written(lsn)).expect("written");
    }
}

fn len(path: &Path) -> u64 {
    std::fs::metadata(path).expect("metadata").len()
}

/// Where the records of the segment `path` end (it must hold nothing else but zeros).
fn records_end(path: &Path) -> u64 {
    let bytes = std::fs::read(path).expect("read");
    let mut at = HEADER as usize;
    while let Ok((_, used)) = sessiond_storage::record::decode(&bytes[at..]) {
        at += used;
    }
    assert!(bytes[at..].iter().all(|&b| b == 0), "{}", path.display());
    at as u64
}

fn small_segments(dir: &Path, segment_size: u64) -> StorageConfig {
    StorageConfig {
        segment_size,
        ..config(dir, FsyncPolicy::EverySec)
    }
}

#[test]
fn a_segment_is_preallocated_while_written_and_trimmed_at_a_clean_stop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (engine, storage, _) = open(small_segments(dir.path(), 1 << 20), T0);
    let journal = storage.journal();
    for i in 0..20 {
        store(&engine, &format!("key-{i}"), 1000);
        write(&journal);
    }
    let [segment] = &segments(dir.path())[..] else {
        panic!("one segment");
    };
    assert_eq!(len(segment), 1 << 20, "preallocated");
    let end = records_end(segment);
    let check = check_data(dir.path()).expect("check");
    assert!(check.recoverable(), "{check}");
    assert_eq!(check.would_truncate, None, "{check}");
    assert_eq!(
        check.files[0].status,
        FileStatus::PreallocatedTail {
            offset: end,
            bytes: (1 << 20) - end
        },
        "{check}"
    );
    let text = check.to_string();
    assert!(
        text.contains("preallocated space not yet written") && !text.contains("torn"),
        "{text}"
    );

    storage.shutdown().expect("shutdown");
    assert_eq!(len(segment), end, "trimmed at the stop");
    let check = check_data(dir.path()).expect("check");
    assert_eq!(check.files[0].status, FileStatus::Ok, "{check}");
}

#[test]
fn a_crash_leaves_preallocated_space_that_recovery_trims_without_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Small segments and 4 KiB values: the writer switches segments several times.
    let (engine, storage, _) = open(small_segments(dir.path(), 64 << 10), T0);
    let journal = storage.journal();
    for i in 0..100 {
        store(&engine, &format!("key-{i}"), 4096);
        write(&journal);
    }
    let written = segments(dir.path());
    assert!(written.len() > 3, "{written:?}");
    let copy = copy_of(dir.path());
    let expected = dump(&engine);
    drop(storage);

    // Full segments are not preallocated space any more: only the last one has zeros, unless
    // connections wrote it past its preallocated size before the writer thread switched
    // segments (it goes on past its size until then: a loaded machine).
    let check = check_data(copy.path()).expect("check");
    assert!(check.recoverable(), "{check}");
    assert_eq!(check.would_truncate, None, "{check}");
    let (last, full) = check.files.split_last().expect("files");
    assert!(
        full.iter().all(|file| file.status == FileStatus::Ok),
        "{check}"
    );
    let copied = segments(copy.path());
    if records_end(&copied[copied.len() - 1]) < 64 << 10 {
        assert!(
            matches!(last.status, FileStatus::PreallocatedTail { .. }),
            "{check}"
        );
    } else {
        assert_eq!(last.status, FileStatus::Ok, "{check}");
    }

    let (recovered, storage, report) = open(small_segments(copy.path(), 64 << 10), T0);
    assert_eq!(report.truncation, None, "{report}");
    assert_eq!(dump(&recovered), expected);
    storage.shutdown().expect("shutdown");
    let last = copy
        .path()
        .join(written[written.len() - 1].file_name().expect("name"));
    assert_eq!(len(&last), records_end(&last), "trimmed");
    let check = check_data(copy.path()).expect("check");
    assert!(
        check.files.iter().all(|file| file.status == FileStatus::Ok),
        "{check}"
    );
}

#[test]
fn the_writer_warms_the_pages_ahead_of_the_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = WarmLog::default();
    let segment_size = 64 << 20;
    let (engine, storage, _) = open_with(
        small_segments(dir.path(), segment_size),
        Arc::new(fs.clone()),
        T0,
    );
    let journal = storage.journal();
    // Nothing written, nothing warmed.
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(fs.warmed().is_empty());

    let mut written = HEADER;
    for round in 0..4 {
        for i in 0..64 {
            store(&engine, &format!("key-{round}-{i}"), 8192);
            write(&journal);
        }
        written = records_end(&segments(dir.path())[0]);
        // Ahead of what is written, by more than the writes of a round (512 KiB).
        wait_until("the writer to warm ahead", || {
            fs.warmed()
                .last()
                .is_some_and(|&(offset, len)| offset + len > written + (1 << 20))
        });
    }
    let warmed = fs.warmed();
    let mut end = HEADER;
    for &(offset, len) in &warmed {
        assert!(
            offset >= end && len > 0,
            "{warmed:?}: in order, never twice"
        );
        end = offset + len;
    }
    assert!(
        end <= segment_size,
        "{warmed:?}: not past the preallocated end"
    );
    assert!(written > 2 << 20);
    storage.shutdown().expect("shutdown");
}

/// The real file system, noting what the log's files are asked to warm.
#[derive(Clone, Debug, Default)]
struct WarmLog {
    warmed: Arc<Mutex<Vec<(u64, u64)>>>,
}

impl WarmLog {
    fn warmed(&self) -> Vec<(u64, u64)> {
        self.warmed.lock().clone()
    }

    fn wrap(&self, file: Box<dyn FsFile>) -> Box<dyn FsFile> {
        Box::new(WarmLogFile {
            inner: file,
            warmed: Arc::clone(&self.warmed),
        })
    }
}

impl Fs for WarmLog {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        StdFs.create_dir_all(dir)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        Ok(self.wrap(StdFs.create(path)?))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        Ok(self.wrap(StdFs.open_append(path)?))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        StdFs.read(path)
    }

    fn read_at(&self, path: &Path, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        StdFs.read_at(path, offset, len)
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn Read + Send>> {
        StdFs.open_read(path)
    }

    fn len(&self, path: &Path) -> io::Result<u64> {
        StdFs.len(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdFs.rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        StdFs.remove(path)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        StdFs.list(dir)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        StdFs.sync_dir(dir)
    }
}

#[derive(Debug)]
struct WarmLogFile {
    inner: Box<dyn FsFile>,
    warmed: Arc<Mutex<Vec<(u64, u64)>>>,
}

impl FsFile for WarmLogFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.inner.sync_data()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }

    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        self.inner.preallocate(len)
    }

    fn warm(&self, offset: u64, len: u64) -> io::Result<()> {
        self.warmed.lock().push((offset, len));
        self.inner.warm(offset, len)
    }

    fn try_clone(&self) -> io::Result<Box<dyn FsFile>> {
        Ok(Box::new(WarmLogFile {
            inner: self.inner.try_clone()?,
            warmed: Arc::clone(&self.warmed),
        }))
    }
}
