//! Replication for sessiond: a Raft group (openraft) whose log carries the engine's effects.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod journal;
pub mod log_store;
pub mod network;
pub mod node;
pub mod snapshot_file;
pub mod state_machine;
pub mod types;
