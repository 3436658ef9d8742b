//! Remove every item of a namespace, now or at a later time.

use crate::key::NamespaceId;
use crate::time::Timestamp;

/// Removes every item of a namespace (memcached `flush_all`). This is an operator's explicit
/// request, the one way besides expiry and deletion that items leave the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flush {
    /// The namespace to empty; `None` empties every namespace.
    pub namespace: Option<NamespaceId>,
    /// When to empty it; `None` means now. Items stored before that time are removed then,
    /// including those stored after the flush was asked for, as memcached's delayed flush does.
    pub at: Option<Timestamp>,
}
