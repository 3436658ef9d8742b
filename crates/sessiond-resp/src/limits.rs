//! How much one request, and one transaction, may hold, and whether the peer has
//! authenticated yet.

/// Bounds on what one request, and one transaction, may hold. A request's are checked as soon
/// as the bytes that declare a size arrive, so no request makes the server buffer more than
/// the limits allow; a transaction's as each command is queued or key watched.
///
/// The error a request limit gives is the one Redis gives for its own limit of the same kind;
/// Redis has no transaction limits, so theirs are sessiond's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest bulk string (one argument) a multibulk request may declare (Redis's
    /// `proto-max-bulk-len`, 512 MiB there). Default 8 MiB, the server's default item size
    /// limit: a larger argument could not be stored anyway. Over it: `invalid bulk length`.
    pub max_bulk_len: usize,
    /// The most arguments a multibulk request may declare. Default 1024 × 1024, Redis's limit
    /// before 7.0 (Redis 7 allows up to 2^31 − 1 and grows its argument array as they arrive).
    /// Over it: `invalid multibulk length`.
    pub max_multibulk_len: usize,
    /// The longest inline command line, and the longest length line (`*N`, `$N`) of a multibulk
    /// request, in bytes before its terminator (Redis's `PROTO_INLINE_MAX_SIZE`, 64 KiB).
    /// Over it: `too big inline request`, `too big mbulk count string` or
    /// `too big bulk count string`.
    pub max_inline_len: usize,
    /// The most bytes one request may take in the input buffer, headers included. Requests are
    /// parsed in place, so a request is buffered whole before it runs; this bounds that buffer.
    /// It plays the part of Redis's `client-query-buffer-limit` (1 GiB there): like Redis, the
    /// connection is closed without a reply. Default 16 MiB, room for two arguments at
    /// [`max_bulk_len`](Self::max_bulk_len); keep it above that limit.
    pub max_request_len: usize,
    /// The most arguments before the peer authenticates (Redis: 10, fixed). Over it:
    /// `unauthenticated multibulk length`.
    pub unauthenticated_max_multibulk_len: usize,
    /// The largest argument before the peer authenticates (Redis: 16384 bytes, fixed). Over it:
    /// `unauthenticated bulk length`.
    pub unauthenticated_max_bulk_len: usize,
    /// The most commands one transaction (`MULTI`) may queue. The command past it is answered
    /// with an error and the transaction aborted: `EXEC` answers `EXECABORT`, as after any
    /// refused command. Default 100 000.
    pub max_queued_commands: usize,
    /// The most bytes one connection's transaction may hold: its queued commands' arguments
    /// and its watched keys, each with a small fixed overhead. A queued command past it aborts
    /// the transaction as above; a `WATCH` past it is refused. Default 32 MiB.
    pub max_transaction_bytes: usize,
    /// The most distinct keys (queued commands' and watched ones) an `EXEC` locks together to
    /// run as one atomic step. A transaction over more keys runs its commands one after
    /// another, each atomic on its own, so a client cannot lock the whole store for a long
    /// time. Default 1024.
    pub max_atomic_keys: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 8 << 20,
            max_multibulk_len: 1 << 20,
            max_inline_len: 64 << 10,
            max_request_len: 16 << 20,
            unauthenticated_max_multibulk_len: 10,
            unauthenticated_max_bulk_len: 16 << 10,
            max_queued_commands: 100_000,
            max_transaction_bytes: 32 << 20,
            max_atomic_keys: 1024,
        }
    }
}

/// Whether the peer may send large requests yet.
///
/// Redis keeps a client that has not authenticated (while a password is required) to small
/// requests, so that it cannot make the server buffer megabytes before proving who it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Access {
    /// No password is required, or the peer has authenticated: the full [`Limits`] apply.
    #[default]
    Authenticated,
    /// A password is required and the peer has not given it yet: the `unauthenticated_*`
    /// limits apply too.
    Unauthenticated,
}
