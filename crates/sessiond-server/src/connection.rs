//! One client connection: read bytes, let the protocol handle them, write the replies.
//!
//! The loop stays protocol-agnostic and small: everything about requests lives in the
//! protocol crate. Replies to all the requests one read brought are written with one write,
//! which is what pipelining clients rely on for speed. A connection with an inbox (a Redis
//! subscriber) also wakes when a message arrives for it, and is dropped mid-write if it falls
//! so far behind that the protocol cuts it off.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use crate::protocol::{Flow, Protocol};
use crate::shared::Shared;
use crate::workers::WorkerShutdown;

/// Buffers start this big and are trimmed back to it after a large request or reply, so an
/// idle connection costs little memory. It is also the first read's size.
const BUFFER_SIZE: usize = 16 * 1024;

/// The most one read asks for. A read that fills all the room it was given leaves more in the
/// socket, so the next one asks for twice as much, up to this: a client that pipelines large
/// requests (16 `SET`s of 4 KiB are 65 KiB) is then read with one system call per batch
/// instead of one per 16 KiB, and its replies go out in one write instead of several.
const MAX_READ_SIZE: usize = 256 * 1024;

/// Where a connection comes from (`peer`) and which of the server's addresses it reached
/// (`local`), when known: Redis's `CLIENT LIST` shows both.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ends {
    pub peer: Option<SocketAddr>,
    pub local: Option<SocketAddr>,
}

/// Serves one connection until the client leaves, the protocol closes it, it idles too long,
/// or the server shuts down. Generic over the stream (TCP, or TLS over TCP), so each is a
/// loop of its own with no indirection on the plain path.
pub(crate) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    protocol: Protocol,
    ends: Ends,
    shared: Arc<Shared>,
    worker: usize,
    shutdown: Arc<WorkerShutdown>,
    _permit: OwnedSemaphorePermit,
) {
    let idle_timeout = protocol.idle_timeout(&shared);
    let mut protocol = protocol.connection(&shared, ends.peer, ends.local);
    let mut input = BytesMut::with_capacity(BUFFER_SIZE);
    let mut output = BytesMut::with_capacity(BUFFER_SIZE);
    let (mut read_total, mut written_total) = (0u64, 0u64);
    let mut read_size = BUFFER_SIZE;

    let stopping = shutdown.notify.notified();
    tokio::pin!(stopping);
    stopping.as_mut().enable();
    let mut last_activity = Instant::now();
    let idle_timer = tokio::time::sleep_until(
        last_activity + idle_timeout.unwrap_or(Duration::from_secs(86400 * 365)),
    );
    tokio::pin!(idle_timer);

    'connection: while !shutdown.is_set() {
        let wanted = protocol
            .wants(&input)
            .unwrap_or(0)
            .max(input.len() + read_size);
        input.reserve(wanted - input.len());
        let room = input.capacity() - input.len();
        // Cloned so that waiting on it does not hold the connection borrowed; `None` (every
        // connection that never subscribed) waits on nothing.
        let inbox = protocol.inbox().cloned();
        let read = tokio::select! {
            biased;
            _ = &mut stopping => break,
            _ = &mut idle_timer, if idle_timeout.is_some() => {
                // The timer is reset lazily: only when it fires is the real idle time checked.
                let limit = idle_timeout.unwrap_or_default();
                if last_activity.elapsed() >= limit {
                    if !protocol.exempt_from_idle() {
                        break;
                    }
                    // A subscriber only receives: it stays, and is looked at again a whole
                    // timeout later.
                    last_activity = Instant::now();
                }
                idle_timer.as_mut().reset(last_activity + limit);
                continue;
            }
            read = stream.read_buf(&mut input) => Some(read),
            // Disabled, and so never polled, for a connection that never subscribed.
            woke = woken(inbox.as_deref(), shared.cluster.get()), if inbox.is_some() => {
                match woke {
                    Woke::Message => None,
                    Woke::Deposed => break,
                }
            }
        };
        if let Some(read) = read {
            let count = match read {
                Ok(0) | Err(_) => break,
                Ok(count) => count,
            };
            read_total += count as u64;
            last_activity = Instant::now();
            read_size = next_read_size(read_size, count, room);
        }

        // The protocol stops at its output high-water mark with requests still buffered, so a
        // client that pipelines reads without reading replies cannot make the server hold more
        // than that: write, and go on with the buffered requests before reading more.
        loop {
            let flow = protocol.process(&mut input, &mut output, &shared);
            if let Some(journal) = &shared.journal
                && protocol.inbox().is_some()
            {
                // A subscriber's messages were published after the records of the writes
                // that caused them (keyspace events), perhaps by another connection still
                // on its way to writing them: they leave with those records, as Redis sends
                // a turn's messages only after its append-only file write.
                journal.cover_recorded();
            }
            let settled = match (shared.cluster.get(), &shared.journal) {
                (Some(cluster), _) => crate::cluster::settle(cluster, !output.is_empty()).await,
                (None, Some(journal)) => crate::persistence::settle(journal).await,
                (None, None) => true,
            };
            if !settled {
                break 'connection;
            }
            let produced = !output.is_empty();
            if produced {
                let written = match protocol.inbox() {
                    None => write_out(&mut stream, &output, idle_timeout).await,
                    // A subscriber cut off for falling behind is dropped at once, even while
                    // its client does not read what is being written.
                    Some(inbox) => tokio::select! {
                        written = write_out(&mut stream, &output, idle_timeout) => written,
                        () = inbox.cut_off() => false,
                    },
                };
                if !written {
                    break 'connection;
                }
                written_total += output.len() as u64;
                output.clear();
                trim(&mut output);
            }
            if flow == Flow::Close {
                // A subscriber cut off for not reading would not read a TLS close_notify
                // either: it is dropped without one.
                if !protocol.inbox().is_some_and(|inbox| inbox.is_cut()) {
                    let _ = stream.shutdown().await;
                }
                break 'connection;
            }
            if !produced || input.is_empty() {
                break;
            }
        }
        // Trimmed even while reads are large: a pipelining client's next read allocates its
        // room again (one allocation per batch), but one that stops after a burst does not
        // hold a large buffer until its idle timeout.
        if input.is_empty() {
            trim(&mut input);
        }
        if read_total + written_total > 1 << 20 {
            shared.counters.add_bytes(worker, read_total, written_total);
            (read_total, written_total) = (0, 0);
        }
    }
    shared.counters.add_bytes(worker, read_total, written_total);
    shared
        .counters
        .curr_connections
        .fetch_sub(1, Ordering::Relaxed);
}

/// Writes `bytes` to the client. A client that reads nothing for the idle timeout is as idle as
/// one that sends nothing: it is dropped instead of holding the connection forever. The flush
/// is free on TCP and sends what TLS still holds of the records.
async fn write_out<S: AsyncWrite + Unpin>(
    stream: &mut S,
    bytes: &[u8],
    idle_timeout: Option<Duration>,
) -> bool {
    let write = async {
        stream.write_all(bytes).await?;
        stream.flush().await
    };
    match idle_timeout {
        Some(limit) => matches!(tokio::time::timeout(limit, write).await, Ok(Ok(()))),
        None => write.await.is_ok(),
    }
}

/// What wakes a subscriber's connection besides its socket.
enum Woke {
    /// Messages wait in its inbox (or it was cut off, which `process` finds).
    Message,
    /// This node stopped leading: a subscriber here would hear nothing more (commands and
    /// expiry run on the new leader), so it is closed, and its client reconnects and is
    /// relayed there. Other connections find out at their next request.
    Deposed,
}

/// Completes when `inbox` has something for the connection, or this cluster node stopped
/// leading; never without an inbox.
async fn woken(
    inbox: Option<&sessiond_resp::Inbox>,
    cluster: Option<&crate::cluster::ClusterShared>,
) -> Woke {
    let Some(inbox) = inbox else {
        return std::future::pending().await;
    };
    tokio::select! {
        () = inbox.ready() => Woke::Message,
        () = crate::cluster::deposed(cluster) => Woke::Deposed,
    }
}

/// The size of the read after one that read `count` bytes into `room`: twice as much after a
/// read that filled its room (the socket holds more), back towards [`BUFFER_SIZE`] after one
/// that used less than a quarter of it (the client has stopped sending large batches).
fn next_read_size(read_size: usize, count: usize, room: usize) -> usize {
    if count >= room {
        (read_size * 2).min(MAX_READ_SIZE)
    } else if count < read_size / 4 {
        (read_size / 2).max(BUFFER_SIZE)
    } else {
        read_size
    }
}

/// Gives back the memory of a buffer a large request or reply grew.
fn trim(buffer: &mut BytesMut) {
    if buffer.capacity() > 4 * BUFFER_SIZE && buffer.is_empty() {
        *buffer = BytesMut::with_capacity(BUFFER_SIZE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_fills_its_room_doubles_the_next_up_to_the_most() {
        assert_eq!(
            next_read_size(BUFFER_SIZE, BUFFER_SIZE, BUFFER_SIZE),
            2 * BUFFER_SIZE
        );
        // The room can be more than asked for (the buffer had grown): filling it still counts.
        assert_eq!(next_read_size(BUFFER_SIZE, 40_000, 40_000), 2 * BUFFER_SIZE);
        assert_eq!(
            next_read_size(MAX_READ_SIZE, MAX_READ_SIZE, MAX_READ_SIZE),
            MAX_READ_SIZE
        );
        let mut size = BUFFER_SIZE;
        for _ in 0..10 {
            size = next_read_size(size, size, size);
        }
        assert_eq!(size, MAX_READ_SIZE);
    }

    #[test]
    fn small_reads_shrink_it_back_to_the_first_size() {
        assert_eq!(
            next_read_size(MAX_READ_SIZE, 100, MAX_READ_SIZE),
            MAX_READ_SIZE / 2
        );
        assert_eq!(
            next_read_size(4 * BUFFER_SIZE, 2 * BUFFER_SIZE, 4 * BUFFER_SIZE),
            4 * BUFFER_SIZE
        );
        let mut size = MAX_READ_SIZE;
        for _ in 0..10 {
            size = next_read_size(size, 64, size);
        }
        assert_eq!(size, BUFFER_SIZE);
    }
}
