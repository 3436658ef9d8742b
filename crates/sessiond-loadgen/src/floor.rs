//! The floor: a Redis-protocol server that reads each request and answers it without storing
//! anything, so a benchmark can show how much of a server's CPU per operation is the
//! read-and-answer work no server avoids (the system calls, the loopback TCP path, waking
//! the client) and how much is its own.
//!
//! It answers `GET key` with a value the load generator takes for `key`'s (built as a write
//! to `key` builds it, [`ValueWriter`]) and any other request with `+OK`. Like sessiond and
//! Redis it serves every connection from one thread, sets `TCP_NODELAY`, and answers all the
//! requests one read brought with one write.

use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::keys::{ValuePattern, ValueWriter};
use crate::proto::Parsed;
use crate::resp::{self, Request};

/// Serves connections from `listener`, answering `GET` with `value_size`-byte values.
pub async fn serve(listener: TcpListener, value_size: usize) {
    let pattern = Arc::new(ValuePattern::new(value_size));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors, say: the connections already open go on.
            Err(error) => {
                eprintln!("sessiond-floor: accept: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        // As sessiond and Redis do: a reply leaves at once.
        if let Err(error) = stream.set_nodelay(true) {
            eprintln!("sessiond-floor: {peer}: TCP_NODELAY: {error}");
        }
        let pattern = Arc::clone(&pattern);
        tokio::spawn(async move {
            if let Err(error) = answer(stream, &pattern).await {
                eprintln!("sessiond-floor: {peer}: {error:#}");
            }
        });
    }
}

/// The first read's room; it doubles while reads fill it, up to [`MAX_INPUT`].
const READ_SIZE: usize = 16 * 1024;
/// The largest unanswered input a connection may hold (a pipelined batch of requests).
const MAX_INPUT: usize = 4 << 20;

async fn answer(mut stream: TcpStream, pattern: &ValuePattern) -> anyhow::Result<()> {
    let mut input = vec![0; READ_SIZE];
    let mut filled = 0;
    let mut output = Vec::new();
    let mut values = ValueWriter::new(0);
    loop {
        if filled == input.len() {
            if input.len() >= MAX_INPUT {
                bail!("a request larger than {MAX_INPUT} bytes");
            }
            input.resize(input.len() * 2, 0);
        }
        let read = stream.read(&mut input[filled..]).await.context("read")?;
        if read == 0 {
            return Ok(());
        }
        filled += read;
        let mut at = 0;
        while let Parsed::Complete { len, reply } = resp::parse_request(&input[at..filled])? {
            match reply {
                Request::Get(key) => {
                    let (head, tail) = values.next(pattern, key);
                    resp::bulk(&mut output, &[head, tail]);
                }
                Request::Other => output.extend_from_slice(b"+OK\r\n"),
            }
            at += len;
        }
        input.copy_within(at..filled, 0);
        filled -= at;
        if !output.is_empty() {
            stream.write_all(&output).await.context("write")?;
            output.clear();
        }
    }
}
