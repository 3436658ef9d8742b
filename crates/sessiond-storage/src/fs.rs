//! The file system seam: the few operations the log and snapshots use, so tests can put a
//! failing disk ([`FaultFs`](crate::FaultFs)) underneath.

use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::num::NonZeroU64;
use std::path::Path;

/// The file system operations the storage layer needs.
pub trait Fs: Debug + Send + Sync {
    /// Creates `dir` and its parents if missing.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Creates `path` empty (truncating whatever was there) for writing.
    fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>>;
    /// Opens the existing `path` for writing at its end.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn FsFile>>;
    /// Opens the existing `path` for writing over it from its start, keeping its length and
    /// contents until overwritten (and so its pages in the page cache and its blocks on
    /// disk): how the log reuses a retired segment. The default refuses (`Unsupported`), and
    /// the log then creates its segments afresh.
    fn open_rewrite(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let _ = path;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this file system does not reuse files",
        ))
    }
    /// The whole of `path`.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// `len` bytes of `path` from `offset` (fewer if the file ends first).
    fn read_at(&self, path: &Path, offset: u64, len: usize) -> io::Result<Vec<u8>>;
    /// `path` as a stream, from its start.
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn Read + Send>>;
    /// The size of `path`.
    fn len(&self, path: &Path) -> io::Result<u64>;
    /// Renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes the file `path`.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// The names of the files in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Makes `dir`'s entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// A file open for writing.
pub trait FsFile: Debug + Send {
    /// Writes all of `buf` at the end of what was written so far. On an error some of `buf`
    /// may have been written.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Makes what was written durable (fdatasync).
    fn sync_data(&mut self) -> io::Result<()>;
    /// Cuts (or extends) the file to `len` bytes and writes on from there.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Makes the file `len` bytes long if it is shorter, without moving where writes go: the
    /// added bytes read as zeros and take no disk space until written (a sparse extension).
    /// Writes into them then do not extend the file. The default does nothing.
    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        let _ = len;
        Ok(())
    }
    /// Asks the kernel to bring the file's pages for `len` bytes from `offset` into the page
    /// cache now (reading what is on disk, zeroing what was never written), so that a later
    /// write there finds its pages ready instead of allocating and zeroing them itself. Changes
    /// nothing in the file; only a hint. The default does nothing.
    fn warm(&self, offset: u64, len: u64) -> io::Result<()> {
        let _ = (offset, len);
        Ok(())
    }
    /// Another handle on the same open file, so that one thread can flush the file while
    /// another goes on writing through this handle (an fsync takes milliseconds, writes must
    /// not wait for it). Without one (the default) the log flushes through its only handle
    /// and writes wait.
    fn try_clone(&self) -> io::Result<Box<dyn FsFile>> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this file system gives no second handle",
        ))
    }
}

/// The real file system, through `std::fs`.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdFs;

impl Fs for StdFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Box::new(StdFile(file)))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let mut file = OpenOptions::new().write(true).open(path)?;
        file.seek(SeekFrom::End(0))?;
        Ok(Box::new(StdFile(file)))
    }

    fn open_rewrite(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let file = OpenOptions::new().write(true).open(path)?;
        Ok(Box::new(StdFile(file)))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn read_at(&self, path: &Path, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::new();
        file.take(len as u64).read_to_end(&mut buf)?;
        Ok(buf)
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(File::open(path)?))
    }

    fn len(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::metadata(path)?.len())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            // A name that is not UTF-8 is none of ours.
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

#[derive(Debug)]
struct StdFile(File);

impl FsFile for StdFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)?;
        self.0.seek(SeekFrom::Start(len))?;
        Ok(())
    }

    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        if self.0.metadata()?.len() < len {
            // ftruncate, not fallocate: a sparse extension cannot fail for want of space
            // (a full disk shows up at the write, as before) and needs no unsafe call.
            self.0.set_len(len)?;
        }
        Ok(())
    }

    fn warm(&self, offset: u64, len: u64) -> io::Result<()> {
        let Some(len) = NonZeroU64::new(len) else {
            return Ok(());
        };
        // Not reads: sequential reads bring the pages in as large folios, and a write of a
        // few KiB into a large folio walks every block of it (measured on Linux 6.18: slower
        // than writing into no page at all). WILLNEED fills the range page by page.
        rustix::fs::fadvise(&self.0, offset, Some(len), rustix::fs::Advice::WillNeed)
            .map_err(io::Error::from)
    }

    fn try_clone(&self) -> io::Result<Box<dyn FsFile>> {
        Ok(Box::new(StdFile(self.0.try_clone()?)))
    }
}
