//! The Redis protocol for sessiond: RESP requests in, RESP2 or RESP3 replies out.
//!
//! This crate is pure: no I/O, no engine. The server reads into a buffer and asks a [`Parser`]
//! for the complete commands at its front; a command handler answers through an [`Encoder`]
//! writing into the output buffer; the server writes that out.
//!
//! # Requests
//! Requests are read as Redis 7 reads them (`processMultibulkBuffer`,
//! `processInlineBuffer` and `sdssplitargs` in its source): multibulk arrays of bulk strings,
//! which every client library sends, and inline commands, typed into `telnet`. Arguments are
//! borrowed, from the input buffer for multibulk requests; pipelined requests are read one
//! after the other. A bad request gets Redis's exact protocol error (checked against
//! redis-server 7.0.15 over raw sockets), and then the connection ends, as it does in Redis.
//!
//! Where sessiond differs from Redis:
//! - A line is judged by its length alone, so that the answer never depends on how the bytes
//!   were split into reads. Redis checks its 64 KiB line limit only while a line's end has not
//!   arrived, so a longer line can pass when it arrives in one read; here it is refused as
//!   Redis refuses it when the bytes arrive one by one.
//! - [`Limits`] has sessiond's defaults: arguments up to 8 MiB (Redis: 512 MiB), up to
//!   1024 × 1024 of them (Redis 7: 2^31 − 1), and a request may take up to 16 MiB of buffer,
//!   refused as soon as its declared lengths pass that, with a close and no reply, as Redis
//!   closes a client past its 1 GiB query buffer limit.
//!
//! # Replies
//! [`Encoder`] writes every RESP3 type a session server needs, and for a RESP2 connection
//! ([`Version`]) the RESP2 form Redis writes for it. Doubles are written as Redis 7.2 and later
//! write them, the shortest text that reads back the same (`0.1`); Redis 7.0 wrote 17
//! significant digits (`0.10000000000000001`).
//!
//! # Layout
//! - `parser`: [`Parser`], which finds each command and keeps what a partial one has shown.
//! - `multibulk`, `inline`: the two request forms; `line`: how their lines end; `number`:
//!   Redis's integer syntax for lengths.
//! - `command`: [`Command`], a parsed command's arguments.
//! - `limits`: [`Limits`], [`Access`]; `error`: [`ProtocolError`] and how it ends the
//!   connection ([`Close`]).
//! - `encoder`: [`Encoder`], [`Version`]; `double`: how doubles are written.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod command;
mod double;
mod encoder;
mod error;
mod inline;
mod limits;
mod line;
mod multibulk;
mod number;
mod parser;

pub use command::{Args, Command};
pub use encoder::{Encoder, Version};
pub use error::{Close, ProtocolError};
pub use limits::{Access, Limits};
pub use parser::Parser;
