//! A file system that fails on demand, for tests of disk-full and I/O-error handling.
//!
//! It wraps another [`Fs`] and, while told to, fails writes with `ENOSPC` once a byte budget
//! is spent (writing the part of a buffer that still fits first, as a real full disk does)
//! and fails fsyncs with `EIO`. A failed fsync also throws away what the file got since its
//! last good fsync, as the kernel may drop dirty pages after a writeback error: code that
//! trusts a file's tail after a failed fsync loses data under it. [`FaultFs::heal`] ends
//! every fault at run time. It can also hold fsyncs until released, so a test can make
//! records arrive while one is running, and it counts the writes and fsyncs that worked.

use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Condvar, Mutex};

use crate::fs::{Fs, FsFile};

/// A fault-injecting [`Fs`]. Clones share their faults, so a test keeps one to steer the
/// one it handed to the storage layer.
#[derive(Clone, Debug)]
pub struct FaultFs {
    inner: Arc<dyn Fs>,
    faults: Arc<Faults>,
}

#[derive(Debug, Default)]
struct Faults {
    /// Bytes that may still be written; `None` for no limit.
    space: Mutex<Option<u64>>,
    fail_syncs: AtomicBool,
    failed_writes: AtomicU64,
    failed_syncs: AtomicU64,
    writes: AtomicU64,
    syncs: AtomicU64,
    gate: Mutex<Gate>,
    gate_changed: Condvar,
}

/// File fsyncs held until released.
#[derive(Debug, Default)]
struct Gate {
    closed: bool,
    waiting: usize,
}

impl FaultFs {
    /// `inner` with no faults yet.
    pub fn new(inner: Arc<dyn Fs>) -> Self {
        FaultFs {
            inner,
            faults: Arc::default(),
        }
    }

    /// From now on the disk fills after `bytes` more bytes: writes past that fail with
    /// `ENOSPC`, and so do creations once nothing is left.
    pub fn fail_writes_after(&self, bytes: u64) {
        *self.faults.space.lock() = Some(bytes);
    }

    /// From now on every fsync (of files and directories) fails with `EIO`, and a file whose
    /// fsync fails loses what it got since its last good fsync.
    pub fn fail_syncs(&self) {
        self.faults.fail_syncs.store(true, Ordering::SeqCst);
    }

    /// Ends every fault: space comes back, fsyncs work.
    pub fn heal(&self) {
        *self.faults.space.lock() = None;
        self.faults.fail_syncs.store(false, Ordering::SeqCst);
    }

    /// How many writes (and creations) failed so far.
    pub fn failed_writes(&self) -> u64 {
        self.faults.failed_writes.load(Ordering::SeqCst)
    }

    /// How many fsyncs failed so far.
    pub fn failed_syncs(&self) -> u64 {
        self.faults.failed_syncs.load(Ordering::SeqCst)
    }

    /// How many writes (of whole buffers, to any file) worked so far.
    pub fn writes(&self) -> u64 {
        self.faults.writes.load(Ordering::SeqCst)
    }

    /// How many file fsyncs worked so far.
    pub fn syncs(&self) -> u64 {
        self.faults.syncs.load(Ordering::SeqCst)
    }

    /// From now on file fsyncs wait, before doing anything, until [`FaultFs::release_syncs`].
    pub fn hold_syncs(&self) {
        self.faults.gate.lock().closed = true;
    }

    /// Lets held fsyncs (and later ones) go on.
    pub fn release_syncs(&self) {
        self.faults.gate.lock().closed = false;
        self.faults.gate_changed.notify_all();
    }

    /// Blocks until at least `n` file fsyncs are being held.
    pub fn wait_for_held_syncs(&self, n: usize) {
        let mut gate = self.faults.gate.lock();
        while gate.waiting < n {
            self.faults.gate_changed.wait(&mut gate);
        }
    }

    fn wrap(&self, inner: Box<dyn FsFile>, len: u64) -> Box<dyn FsFile> {
        Box::new(FaultFile {
            inner,
            faults: Arc::clone(&self.faults),
            lengths: Arc::new(Mutex::new(Lengths { len, synced: len })),
        })
    }
}

impl Faults {
    fn pass_gate(&self) {
        let mut gate = self.gate.lock();
        if !gate.closed {
            return;
        }
        gate.waiting += 1;
        self.gate_changed.notify_all();
        while gate.closed {
            self.gate_changed.wait(&mut gate);
        }
        gate.waiting -= 1;
    }

    fn sync_fails(&self) -> bool {
        let fails = self.fail_syncs.load(Ordering::SeqCst);
        if fails {
            self.failed_syncs.fetch_add(1, Ordering::SeqCst);
        }
        fails
    }
}

fn disk_full() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOSPC)
}

fn io_error() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

impl Fs for FaultFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        if *self.faults.space.lock() == Some(0) {
            self.faults.failed_writes.fetch_add(1, Ordering::SeqCst);
            return Err(disk_full());
        }
        let file = self.inner.create(path)?;
        Ok(self.wrap(file, 0))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let len = self.inner.len(path)?;
        let file = self.inner.open_append(path)?;
        Ok(self.wrap(file, len))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.inner.read(path)
    }

    fn read_at(&self, path: &Path, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        self.inner.read_at(path, offset, len)
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn Read + Send>> {
        self.inner.open_read(path)
    }

    fn len(&self, path: &Path) -> io::Result<u64> {
        self.inner.len(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list(dir)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        if self.faults.sync_fails() {
            return Err(io_error());
        }
        self.inner.sync_dir(dir)
    }
}

#[derive(Debug)]
struct FaultFile {
    inner: Box<dyn FsFile>,
    faults: Arc<Faults>,
    /// Shared by the handles [`FsFile::try_clone`] gives, as a file's length is.
    lengths: Arc<Mutex<Lengths>>,
}

#[derive(Debug)]
struct Lengths {
    /// The file's length as written.
    len: u64,
    /// Its length at the last good fsync.
    synced: u64,
}

impl FsFile for FaultFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let fits = {
            let mut space = self.faults.space.lock();
            match *space {
                None => buf.len(),
                Some(left) => {
                    let fits = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    *space = Some(left - fits as u64);
                    fits
                }
            }
        };
        self.inner.write_all(&buf[..fits])?;
        self.lengths.lock().len += fits as u64;
        if fits < buf.len() {
            self.faults.failed_writes.fetch_add(1, Ordering::SeqCst);
            return Err(disk_full());
        }
        self.faults.writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.faults.pass_gate();
        if self.faults.sync_fails() {
            // The kernel may have dropped the dirty pages: lose them for real.
            let mut lengths = self.lengths.lock();
            self.inner.set_len(lengths.synced)?;
            lengths.len = lengths.synced;
            return Err(io_error());
        }
        // What was written before the fsync started is what it makes durable.
        let len = self.lengths.lock().len;
        self.inner.sync_data()?;
        let mut lengths = self.lengths.lock();
        lengths.synced = lengths.synced.max(len.min(lengths.len));
        self.faults.syncs.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let mut lengths = self.lengths.lock();
        self.inner.set_len(len)?;
        lengths.len = len;
        lengths.synced = lengths.synced.min(len);
        Ok(())
    }

    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        // Sparse: it takes no space, so it spends none of the budget; a failed fsync's loss
        // (a cut at the synced length) takes the preallocated zeros with it.
        self.inner.preallocate(len)
    }

    fn warm(&self, offset: u64, len: u64) -> io::Result<()> {
        self.inner.warm(offset, len)
    }

    fn try_clone(&self) -> io::Result<Box<dyn FsFile>> {
        Ok(Box::new(FaultFile {
            inner: self.inner.try_clone()?,
            faults: Arc::clone(&self.faults),
            lengths: Arc::clone(&self.lengths),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::StdFs;

    #[test]
    fn a_full_disk_takes_what_fits_then_fails_until_healed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = FaultFs::new(Arc::new(StdFs));
        let path = dir.path().join("f");
        let mut file = fs.create(&path).expect("create");
        fs.fail_writes_after(3);
        let error = file.write_all(b"hello").expect_err("disk full");
        assert_eq!(error.raw_os_error(), Some(libc::ENOSPC));
        assert_eq!(fs.read(&path).expect("read"), b"hel");
        assert!(fs.create(&dir.path().join("g")).is_err());
        fs.heal();
        file.write_all(b"lo").expect("healed");
        assert_eq!(fs.read(&path).expect("read"), b"hello");
        assert_eq!(fs.failed_writes(), 2);
    }

    #[test]
    fn a_failed_fsync_loses_what_it_did_not_cover() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = FaultFs::new(Arc::new(StdFs));
        let path = dir.path().join("f");
        let mut file = fs.create(&path).expect("create");
        file.write_all(b"kept").expect("write");
        file.sync_data().expect("sync");
        file.write_all(b"lost").expect("write");
        fs.fail_syncs();
        let error = file.sync_data().expect_err("EIO");
        assert_eq!(error.raw_os_error(), Some(libc::EIO));
        assert_eq!(fs.read(&path).expect("read"), b"kept");
        assert!(fs.sync_dir(dir.path()).is_err());
        fs.heal();
        file.sync_data().expect("healed");
        assert_eq!(fs.failed_syncs(), 2);
    }

    #[test]
    fn a_second_handle_flushes_and_loses_what_the_first_wrote() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = FaultFs::new(Arc::new(StdFs));
        let path = dir.path().join("f");
        let mut file = fs.create(&path).expect("create");
        let mut syncer = file.try_clone().expect("second handle");
        file.write_all(b"kept").expect("write");
        syncer.sync_data().expect("sync");
        assert_eq!(fs.syncs(), 1);
        file.write_all(b"lost").expect("write");
        fs.fail_syncs();
        syncer.sync_data().expect_err("EIO");
        assert_eq!(fs.read(&path).expect("read"), b"kept");
        fs.heal();
        // The first handle writes on where the file now ends.
        file.write_all(b"+more").expect("write");
        assert_eq!(fs.read(&path).expect("read"), b"kept+more");
    }
}
