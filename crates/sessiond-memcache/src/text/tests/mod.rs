//! Tests of the text protocol through [`crate::Connection::process`] on a real engine, with
//! replies checked against what memcached 1.6.18 sends for the same bytes.

mod classic;
mod framing;
mod meta;
mod props;
