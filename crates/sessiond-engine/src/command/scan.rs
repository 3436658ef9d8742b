//! List a namespace's keys a page at a time (Redis `SCAN`, `KEYS`).

use bytes::Bytes;

use crate::item::ValueType;
use crate::key::NamespaceId;

/// Asks for one page of a scan of a namespace's keys. Run by
/// [`Engine::scan`](crate::Engine::scan), which describes the guarantees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan {
    /// The namespace to list.
    pub namespace: NamespaceId,
    /// 0 to start, then the previous page's cursor.
    pub cursor: u64,
    /// How many keys to aim for (Redis's `COUNT` hint; 0 counts as 1). A page never holds
    /// more, and examines at most ten times as many slots.
    pub count: usize,
    /// Only keys holding this type (Redis's `TYPE` option).
    pub value_type: Option<ValueType>,
}

/// One page of a scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanPage {
    /// Key names (the protocol applies any pattern to them).
    pub keys: Vec<Bytes>,
    /// Where the next page starts; 0 when the scan is over.
    pub cursor: u64,
}
