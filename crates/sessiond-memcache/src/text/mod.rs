//! The memcached text protocol, classic and meta commands, as memcached 1.6.18 speaks it.
//!
//! Replies are byte-for-byte memcached's, including its error strings and its quirks (numbers
//! read by C's `strtol`, 23-token lines, `noreply` silencing errors too, quiet-mode rules,
//! lenient base64), checked against the real server by the transcript tests in
//! `crates/sessiond/tests/memcache_text.rs`. The differences that remain are deliberate:
//! - `VERSION` and `stats` report sessiond's own version and figures; CAS values are the
//!   engine's (unique per write as memcached's are, but not one global sequence). Groups of
//!   `stats` about memcached's slab allocator are empty; `stats reset` resets nothing.
//! - A value is too large when the value itself is over [`Limits::max_item_size`]; memcached
//!   counts its item header and key too, so its limit bites slightly earlier.
//! - memcached-internal admin commands (`slabs`, `lru`, `lru_crawler`, `watch`, `extstore`,
//!   `cache_memlimit`) answer `ERROR`: sessiond has no slabs, LRU or log stream, and its memory
//!   limit is the operator's setting, not a client's. `verbosity` is accepted and ignored.
//! - A get line has bounds ([`Limits::max_get_line_len`], [`Limits::max_keys_per_get`]);
//!   memcached grows its buffer without one.
//! - When a get names a key over the length limit, memcached also drops the replies to earlier
//!   pipelined requests that it has not sent yet; sessiond drops only that get's values, since
//!   a client whose replies vanish loses track of which reply answers which request.
//! - A meta request with an opaque over 32 bytes is refused before it runs; memcached finds it
//!   while writing the reply, after the command has run.
//! - `flush_all` with a Unix time already past flushes nothing (memcached: only items stored
//!   before that time, none when it is before the server started).
//! - Timing only: memcached holds back its replies while it waits for a value's data or drops a
//!   refused one; sessiond sends them with the next write.
//!
//! # Framing
//! This module finds request lines (memcached accepts `\r\n` and a bare `\n`), keeps a storage
//! command's line in the input until its data block has arrived (so the value is read straight
//! from the input buffer, never copied into a staging buffer), and drops the data block of a
//! refused value as it arrives, however large, by counting it down.
//!
//! [`Limits::max_item_size`]: crate::Limits::max_item_size
//! [`Limits::max_get_line_len`]: crate::Limits::max_get_line_len
//! [`Limits::max_keys_per_get`]: crate::Limits::max_keys_per_get

mod arithmetic;
mod base64;
mod delete;
mod dispatch;
mod meta;
mod misc;
mod parse;
mod reply;
mod retrieval;
mod storage;
mod touch;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use bytes::{Buf, BytesMut};

use crate::{Context, Flow, Limits};
use parse::Tokens;

/// One text-protocol connection's state between reads.
///
/// Everything a request needs lives in the input buffer until the request is answered, so the
/// only state is what spans reads: how many bytes of a refused value are still to be dropped,
/// how many bytes a storage command waits for, and how far the input was already searched for
/// a line end.
#[derive(Debug, Default)]
pub struct TextConnection {
    /// Bytes of a refused data block still to drop (memcached's `conn_swallow`).
    swallow: u64,
    /// A storage command at the front of the input waits until this many bytes are buffered.
    pending: Option<usize>,
    /// The first this many bytes of the input hold no `\n`: do not search them again.
    scanned: usize,
}

impl TextConnection {
    /// Handles every complete request at the front of `input`, removing it and appending the
    /// replies to `output`. An incomplete request stays in `input` for the next call.
    ///
    /// Returns [`Flow::Close`] where memcached closes the connection: after `quit`, on a line
    /// that looks like HTTP, and on a line with no end in sight (over
    /// [`Limits::max_line_len`] bytes without `\n`, or [`Limits::max_get_line_len`] for gets).
    /// In the last two cases memcached drops the replies it has not sent yet; so does this,
    /// for the replies written by this call.
    pub fn process(
        &mut self,
        input: &mut BytesMut,
        output: &mut BytesMut,
        ctx: &Context<'_>,
    ) -> Flow {
        // Where this call's replies start: a hang-up drops them, as memcached drops the replies
        // it has not sent when it hangs up.
        let replies_start = output.len();
        loop {
            if self.swallow > 0 {
                let dropped =
                    usize::try_from(self.swallow).map_or(input.len(), |left| left.min(input.len()));
                input.advance(dropped);
                self.swallow -= dropped as u64;
                if self.swallow > 0 {
                    return Flow::Continue;
                }
            }
            if input.is_empty() || output.len() >= crate::OUTPUT_HIGH_WATER {
                return Flow::Continue;
            }
            if let Some(total) = self.pending {
                if input.len() < total {
                    return Flow::Continue;
                }
                self.pending = None;
            }
            // The input only grows between calls; should a caller have replaced it, search it
            // all again.
            let from = if self.scanned <= input.len() {
                self.scanned
            } else {
                0
            };
            let Some(found) = memchr::memchr(b'\n', &input[from..]) else {
                self.scanned = input.len();
                let flow = unterminated(input, ctx.limits);
                if flow == Flow::Close {
                    output.truncate(replies_start);
                }
                return flow;
            };
            let newline = from + found;
            self.scanned = 0;
            let next = {
                let request = Request::new(input, newline);
                dispatch::run(&request, output, ctx)
            };
            match next {
                Next::Done(consumed) => input.advance(consumed),
                Next::Wait(total) => {
                    self.pending = Some(total);
                    return Flow::Continue;
                }
                Next::Swallow { consumed, then } => {
                    input.advance(consumed);
                    self.swallow = then;
                }
                Next::Close => return Flow::Close,
                Next::HangUp => {
                    output.truncate(replies_start);
                    return Flow::Close;
                }
            }
        }
    }

    /// The bytes that must be buffered before the storage command at the front of `input` can
    /// finish (its line, its data and the data's `\r\n`), while it waits for them.
    pub fn wants(&self, input: &BytesMut) -> Option<usize> {
        self.pending.filter(|&total| total > input.len())
    }
}

/// What to do with a line that has no `\n` yet, as memcached decides it: wait while it is short;
/// past [`Limits::max_line_len`] only a multi-key get (`get ` or `gets `, after at most 100
/// spaces) may go on, and sessiond bounds that too.
fn unterminated(input: &[u8], limits: &Limits) -> Flow {
    if input.len() <= limits.max_line_len {
        return Flow::Continue;
    }
    let spaces = input.iter().take_while(|&&byte| byte == b' ').count();
    let rest = &input[spaces..];
    let multiget = spaces <= 100 && (rest.starts_with(b"get ") || rest.starts_with(b"gets "));
    if multiget && input.len() <= limits.max_get_line_len {
        Flow::Continue
    } else {
        Flow::Close
    }
}

/// One request line and the input after it, as the command handlers see it.
pub(crate) struct Request<'a> {
    /// The line's tokens.
    pub(crate) tokens: Tokens<'a>,
    /// The line's length including its `\n`.
    pub(crate) line_len: usize,
    /// All buffered input, from the start of the line.
    pub(crate) input: &'a [u8],
}

impl<'a> Request<'a> {
    /// The request whose line ends with the `\n` at `newline` in `input`.
    fn new(input: &'a [u8], newline: usize) -> Self {
        // memcached drops one `\r` before the `\n`, unless it is the line's only byte, and reads
        // the line as a C string: a NUL byte ends it.
        let mut end = newline;
        if end > 1 && input[end - 1] == b'\r' {
            end -= 1;
        }
        let line = &input[..end];
        let line = memchr::memchr(0, line).map_or(line, |nul| &line[..nul]);
        Request {
            tokens: Tokens::new(line),
            line_len: newline + 1,
            input,
        }
    }

    /// The request is done with its line.
    pub(crate) fn done(&self) -> Next {
        Next::Done(self.line_len)
    }

    /// The `len`-byte data block after the line and the two bytes that should end it, or the
    /// total the input must reach before they are all there.
    pub(crate) fn data_block(&self, len: usize) -> Result<(&'a [u8], &'a [u8]), usize> {
        let total = self.line_len + len + 2;
        match self.input.get(self.line_len..total) {
            Some(block) => Ok(block.split_at(len)),
            None => Err(total),
        }
    }
}

/// What a handled request leaves for the framing loop to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// The request is answered: drop this many bytes of input.
    Done(usize),
    /// A storage command waits for its data: the input must reach this many bytes.
    Wait(usize),
    /// The request is answered: drop `consumed` bytes, then `then` more as they arrive (the
    /// data block of a refused value).
    Swallow {
        /// Bytes to drop now: the request line.
        consumed: usize,
        /// Bytes to drop after it, whenever they arrive.
        then: u64,
    },
    /// Close the connection after sending what has been written (`quit`).
    Close,
    /// Close the connection at once, dropping the replies not sent yet (a request that is not
    /// memcached's at all).
    HangUp,
}
