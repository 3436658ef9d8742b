//! The parser and encoder through their public API.
//!
//! Expected replies and outcomes marked "redis-server 7.0.15" were observed by sending the same
//! bytes over a raw socket (python3) to a local `redis-server --save '' --appendonly no` of that
//! version (Debian 12's), and recording what came back and whether it closed the connection.

mod against_redis;
mod connection;
mod encoder;
mod errors;
mod inline;
mod multibulk;
mod props;
mod support;
mod transaction;
