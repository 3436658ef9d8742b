//! Errors of the engine's write commands.

/// Why the engine refused a write. Reads never fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The write would take the store past its memory limit. Nothing was evicted to make room,
    /// and nothing was changed.
    #[error("out of memory: the store is at its configured memory limit")]
    OutOfMemory,
    /// The store cannot make the write durable now (the disk is full or failing). Nothing was
    /// changed; reads go on, and writes are taken again once the journal recovers.
    #[error("unavailable: the store cannot make writes durable now")]
    Unavailable,
}
