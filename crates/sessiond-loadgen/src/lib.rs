//! Closed-loop load generator for session stores, used by the sessiond benchmarks
//! (`scripts/bench.sh`).
//!
//! It imitates what PHP's memcached session handler does to a session store:
//! single-key gets and sets of session-sized values under `memc.sess.key.*` keys,
//! over the text or the binary protocol, one request in flight per connection.
//! Two more modes count page requests, a session read and write per page, as other
//! clients make them: ASP.NET's State Server client (exclusive GET, then PUT
//! releasing the lock, on a persistent connection) and sharedance's PHP client
//! (fetch, then store, a new TCP connection for each).
//! `--protocol resp` runs the memcached workload against Redis, for comparison.
//! Every reply is parsed and checked against what was stored, so a server that
//! answers fast but wrong cannot win a benchmark.
//!
//! The generator runs on the same small machine as the server, so it is built to
//! stay out of the way: current-thread runtimes, one task per connection, one
//! write and usually one read per request, no allocation per request.

#![forbid(unsafe_code)]

pub mod aspnet;
pub mod binary;
pub mod cli;
pub mod conn;
pub mod floor;
pub mod keys;
pub mod page;
pub mod proto;
pub mod report;
pub mod resp;
pub mod runner;
pub mod sharedance;
pub mod stats;
pub mod text;
