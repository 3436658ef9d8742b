//! The connected clients, for `CLIENT LIST`, `CLIENT ID` and `INFO clients`.
//!
//! Each connection registers one [`ClientEntry`] when it opens and removes it when it is
//! dropped. What changes on every command (the last command, its time, the count) is kept in
//! atomics only the owning connection writes, so serving a command takes no lock; what
//! changes rarely (name, library, database, protocol) sits behind a mutex taken only when it
//! changes or when someone lists the clients.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

use parking_lot::Mutex;
use sessiond_engine::Timestamp;

/// Every open connection's entry, by id.
#[derive(Debug, Default)]
pub struct Clients {
    entries: Mutex<BTreeMap<u64, Arc<ClientEntry>>>,
    /// The last id handed out; ids start at 1 and are never reused, as Redis's.
    last_id: AtomicU64,
    /// Commands run by connections that have closed, for `INFO stats`.
    retired_commands: AtomicU64,
}

/// Where a connection comes from and goes to, when the server knows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Peer {
    /// The client's address.
    pub addr: Option<SocketAddr>,
    /// The server's address the client connected to.
    pub local: Option<SocketAddr>,
}

/// One connection as `CLIENT LIST` shows it.
#[derive(Debug)]
pub(crate) struct ClientEntry {
    pub(crate) id: u64,
    pub(crate) peer: Peer,
    /// When the connection opened.
    pub(crate) created: Timestamp,
    /// When its last command ran, in milliseconds since the epoch.
    pub(crate) last_active: AtomicU64,
    /// Its last command, as an index into the command table (`u32::MAX`: none yet).
    pub(crate) last_command: AtomicU32,
    /// Commands it has run.
    pub(crate) commands: AtomicU64,
    /// Commands queued in its `MULTI`, -1 outside one (`CLIENT LIST`'s `multi` and `x`).
    pub(crate) multi: AtomicI64,
    pub(crate) info: Mutex<ClientInfo>,
}

/// What a client says about itself, and its state that `CLIENT LIST` shows.
#[derive(Clone, Debug, Default)]
pub(crate) struct ClientInfo {
    /// `CLIENT SETNAME`; empty when none.
    pub(crate) name: Vec<u8>,
    /// `CLIENT SETINFO LIB-NAME`.
    pub(crate) lib_name: Vec<u8>,
    /// `CLIENT SETINFO LIB-VER`.
    pub(crate) lib_ver: Vec<u8>,
    /// The selected database.
    pub(crate) db: usize,
    /// The protocol version, 2 or 3.
    pub(crate) resp: u8,
    /// How many channels it subscribes to.
    pub(crate) sub: usize,
    /// How many patterns it subscribes to.
    pub(crate) psub: usize,
}

impl Clients {
    /// An empty registry.
    pub fn new() -> Self {
        Clients::default()
    }

    /// Registers a new connection and hands back its entry.
    pub(crate) fn register(&self, peer: Peer, now: Timestamp) -> Arc<ClientEntry> {
        let id = self.last_id.fetch_add(1, Ordering::Relaxed) + 1;
        let entry = Arc::new(ClientEntry {
            id,
            peer,
            created: now,
            last_active: AtomicU64::new(now.as_millis()),
            last_command: AtomicU32::new(u32::MAX),
            commands: AtomicU64::new(0),
            multi: AtomicI64::new(-1),
            info: Mutex::new(ClientInfo {
                resp: 2,
                ..ClientInfo::default()
            }),
        });
        self.entries.lock().insert(id, Arc::clone(&entry));
        entry
    }

    /// Removes a closed connection.
    pub(crate) fn unregister(&self, entry: &ClientEntry) {
        self.retired_commands
            .fetch_add(entry.commands.load(Ordering::Relaxed), Ordering::Relaxed);
        self.entries.lock().remove(&entry.id);
    }

    /// The open connections, in id order.
    pub(crate) fn snapshot(&self) -> Vec<Arc<ClientEntry>> {
        self.entries.lock().values().cloned().collect()
    }

    /// How many connections are open.
    pub fn connected(&self) -> usize {
        self.entries.lock().len()
    }

    /// How many connections were ever opened.
    pub fn total(&self) -> u64 {
        self.last_id.load(Ordering::Relaxed)
    }

    /// Commands run so far, by open and closed connections.
    pub fn commands(&self) -> u64 {
        let open: u64 = self
            .entries
            .lock()
            .values()
            .map(|entry| entry.commands.load(Ordering::Relaxed))
            .sum();
        open + self.retired_commands.load(Ordering::Relaxed)
    }
}

impl ClientEntry {
    /// An entry in no list, for a script's session: the caller's id and peer.
    pub(crate) fn detached(id: u64, peer: Peer) -> Self {
        ClientEntry {
            id,
            peer,
            created: Timestamp::from_millis(0),
            last_active: AtomicU64::new(0),
            last_command: AtomicU32::new(u32::MAX),
            commands: AtomicU64::new(0),
            multi: AtomicI64::new(-1),
            info: Mutex::new(ClientInfo {
                resp: 2,
                ..ClientInfo::default()
            }),
        }
    }

    /// Notes whether the client is in a `MULTI` and how many commands it queued there.
    pub(crate) fn in_multi(&self, queued: Option<usize>) {
        let queued = queued.map_or(-1, |count| i64::try_from(count).unwrap_or(i64::MAX));
        self.multi.store(queued, Ordering::Relaxed);
    }

    /// Notes that the client ran the command at `index` in the table at `now`.
    pub(crate) fn ran(&self, index: u32, now: Timestamp) {
        self.last_command.store(index, Ordering::Relaxed);
        self.last_active.store(now.as_millis(), Ordering::Relaxed);
        self.commands.fetch_add(1, Ordering::Relaxed);
    }
}
