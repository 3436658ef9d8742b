//! Receiving a snapshot: its chunks go to a temporary file in the server's incoming
//! directory, which is made durable and handed to Raft as a `File` read from the start.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The suffix of a snapshot being received; anything with it at start-up is a leftover of a
/// transfer a crash interrupted.
const SUFFIX: &str = ".part";

/// Creates the incoming directory and removes leftovers of interrupted transfers.
pub(crate) fn prepare(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let is_leftover = name
            .to_str()
            .is_some_and(|n| n.starts_with("snapshot-") && n.ends_with(SUFFIX));
        if is_leftover {
            tracing::info!(file = %entry.path().display(), "removing an interrupted incoming snapshot");
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// A snapshot being received. Dropping it removes its file, whether the transfer completed,
/// failed or was abandoned: Raft has its own `File` by then, which stays readable.
pub(crate) struct IncomingSnapshot {
    path: PathBuf,
    file: Option<File>,
    len: u64,
}

impl IncomingSnapshot {
    /// Creates a new, uniquely named file in `dir`.
    pub(crate) async fn create(dir: &Path) -> io::Result<Self> {
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).map_err(io::Error::other)?;
        let path = dir.join(format!("snapshot-{:016x}{SUFFIX}", u64::from_le_bytes(id)));
        let create = path.clone();
        let file = blocking(move || {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&create)
        })
        .await?;
        Ok(IncomingSnapshot {
            path,
            file: Some(file),
            len: 0,
        })
    }

    /// The bytes received so far.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Appends a chunk (on the blocking pool: a chunk is a megabyte of disk write).
    pub(crate) async fn write(&mut self, data: Vec<u8>) -> io::Result<()> {
        let Some(mut file) = self.file.take() else {
            return Err(io::Error::other("the snapshot file is already closed"));
        };
        let n = data.len() as u64;
        let (file, result) = blocking(move || {
            let result = file.write_all(&data);
            Ok((file, result))
        })
        .await?;
        result?;
        self.file = Some(file);
        self.len = self.len.saturating_add(n);
        Ok(())
    }

    /// Makes the received bytes durable and reopens the file for reading from its start.
    pub(crate) async fn finish(&mut self) -> io::Result<File> {
        let Some(file) = self.file.take() else {
            return Err(io::Error::other("the snapshot file is already closed"));
        };
        let path = self.path.clone();
        blocking(move || {
            file.sync_all()?;
            drop(file);
            File::open(&path)
        })
        .await
    }
}

impl Drop for IncomingSnapshot {
    fn drop(&mut self) {
        self.file = None;
        if let Err(e) = fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(file = %self.path.display(), error = %e, "cannot remove an incoming snapshot file");
        }
    }
}

/// Runs blocking file work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) => Err(io::Error::other(e)),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[tokio::test]
    async fn a_received_snapshot_is_read_from_the_start_and_removed_after() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("snapshot-00.part"), b"old").unwrap();
        fs::write(dir.path().join("keep.txt"), b"mine").unwrap();
        prepare(dir.path()).unwrap();
        assert!(!dir.path().join("snapshot-00.part").exists());
        assert!(dir.path().join("keep.txt").exists());

        let mut incoming = IncomingSnapshot::create(dir.path()).await.unwrap();
        incoming.write(b"hello ".to_vec()).await.unwrap();
        incoming.write(b"world".to_vec()).await.unwrap();
        assert_eq!(incoming.len(), 11);
        let mut file = incoming.finish().await.unwrap();
        drop(incoming);
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        assert_eq!(text, "hello world");
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only keep.txt is left");
    }
}
