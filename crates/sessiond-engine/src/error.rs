//! Errors of the engine's commands.

/// Why the engine refused a command. Nothing was changed by a refused command.
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
    /// The key holds another kind of value than the command works on (Redis's `WRONGTYPE`).
    #[error("wrong type: the key holds another kind of value")]
    WrongType,
    /// The value (a string, or a hash field) is not a signed 64-bit decimal integer.
    #[error("not an integer: the value is not a decimal integer in range")]
    NotAnInteger,
    /// The value (a hash field) is not a number as Redis reads one (`strtold`'s syntax, no
    /// leading space, nothing after it, not NaN, in range).
    #[error("not a float: the value is not a number")]
    NotAFloat,
    /// An increment would take the number past the signed 64-bit range.
    #[error("overflow: the increment would take the number out of range")]
    Overflow,
    /// A score is not a number (NaN).
    #[error("not a number: a score must not be NaN")]
    NotANumber,
    /// The value would grow past the engine's value size limit
    /// ([`Engine::set_max_value_size`](crate::Engine::set_max_value_size)).
    #[error("too large: the value would pass the value size limit")]
    TooLarge,
    /// A command in an atomic block named a key the block did not declare
    /// ([`Engine::atomically`](crate::Engine::atomically)).
    #[error("undeclared key: the atomic block did not declare this key")]
    UndeclaredKey,
}
