//! The memcached binary protocol, byte-compatible with memcached 1.6.
//!
//! php-memcached's session handler speaks it by default, so its hot path (ADD of the lock key,
//! GETK, SET, DELETE, TOUCH) is served here without a heap allocation per request: headers are
//! decoded in place from the input buffer, keys and values are borrowed from it, and responses
//! are appended straight to the output buffer.
//!
//! memcached is the reference for every reply, including its quirks, so a client cannot tell
//! the two apart:
//! - a request is checked as soon as its header, extras and key have arrived, so a malformed
//!   or too large one is answered before its value comes; a too large value is then discarded
//!   as it arrives, never buffered;
//! - only the header, extras and key of a request without a value are consumed: stray body
//!   bytes are read as the next request, and an unknown command discards `body length` bytes
//!   *after* its key;
//! - a wrong magic byte closes the connection at once, dropping the replies memcached would
//!   still have held back (see `pacing`).
//!
//! # Layout
//! - `header`: the 24-byte header, opcodes and status codes.
//! - `get`, `store`, `delete`, `arithmetic`, `touch`: one command family each.
//! - `misc`: FLUSH, NOOP, VERSION, STAT, QUIT and unknown commands.
//! - `pacing`: which replies memcached would have written out when it closes.

mod arithmetic;
mod delete;
mod get;
mod header;
mod misc;
mod pacing;
mod store;
mod touch;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

use bytes::{Buf, BytesMut};

use crate::{Context, Flow};
use header::{HEADER_LEN, Request, RequestHeader, Status, opcode};
use pacing::{Pacing, READ_BUFFER_SIZE};

/// The first byte of every binary request.
pub const REQUEST_MAGIC: u8 = 0x80;

/// A binary-protocol connection's state between reads.
#[derive(Debug, Default)]
pub struct BinaryConnection {
    /// Bytes of a refused value still to be discarded as they arrive.
    swallow: u64,
    /// The item size limit of the last `process` call, for `wants`.
    max_value: usize,
}

/// What handling a request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The request's value has not all arrived; nothing was done.
    Incomplete,
    /// The request was handled: drop `consumed` input bytes, then do `then`.
    Done {
        /// Input bytes the request took.
        consumed: usize,
        /// What the connection does next.
        then: Then,
    },
}

impl Step {
    /// Handled, taking the request's header, extras and key, which is all memcached reads of a
    /// request without a value.
    pub(crate) fn after_head(request: &Request<'_>, then: Then) -> Step {
        Step::Done {
            consumed: request.header.head_len(),
            then,
        }
    }
}

/// What a connection does after a request, following memcached's connection states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Then {
    /// Go on; the reply, if any, may wait in the output buffer with later ones.
    Continue,
    /// Go on; memcached writes its pending replies out here (after error replies and NOOP), so
    /// a later wrong magic byte does not take them back.
    Flush,
    /// Discard this many input bytes that follow, then go on.
    Swallow(u32),
    /// Close the connection once the output is written.
    Close,
}

/// Answers a malformed request the way memcached does: "Invalid arguments", then close.
pub(crate) fn protocol_error(request: &Request<'_>, out: &mut BytesMut) -> Step {
    request.respond_error(out, Status::InvalidArguments);
    Step::after_head(request, Then::Close)
}

/// Whether memcached reads a value after the head of requests with this opcode: the storage
/// commands, which `dispatch` hands to the store family.
fn carries_value(opcode: u8) -> bool {
    matches!(
        opcode,
        opcode::SET
            | opcode::SETQ
            | opcode::ADD
            | opcode::ADDQ
            | opcode::REPLACE
            | opcode::REPLACEQ
            | opcode::APPEND
            | opcode::APPENDQ
            | opcode::PREPEND
            | opcode::PREPENDQ
    )
}

impl BinaryConnection {
    /// Handles every complete request at the front of `input`, removing it and appending the
    /// responses to `output`. An incomplete request stays in `input` for the next call.
    pub fn process(
        &mut self,
        input: &mut BytesMut,
        output: &mut BytesMut,
        ctx: &Context<'_>,
    ) -> Flow {
        self.max_value = ctx.limits.max_item_size;
        let mut pacing = Pacing::new(output.len());
        loop {
            if self.swallow > 0 {
                let take =
                    usize::try_from(self.swallow).map_or(input.len(), |n| n.min(input.len()));
                input.advance(take);
                pacing.consume(take);
                self.swallow -= take as u64;
                if self.swallow > 0 {
                    return Flow::Continue;
                }
            }
            if output.len() >= crate::OUTPUT_HIGH_WATER {
                return Flow::Continue;
            }
            let Some(bytes) = input.first_chunk::<HEADER_LEN>() else {
                return Flow::Continue;
            };
            pacing.need(HEADER_LEN, output.len());
            let header = RequestHeader::parse(bytes);
            if header.magic != REQUEST_MAGIC {
                output.truncate(pacing.written());
                return Flow::Close;
            }
            if header.head_len() > READ_BUFFER_SIZE {
                // memcached waits for the head to fill its buffer, then its read of zero
                // bytes looks like the end of the stream.
                return if input.len() >= READ_BUFFER_SIZE {
                    Flow::Close
                } else {
                    Flow::Continue
                };
            }
            let Some(request) = Request::split(header, input) else {
                return Flow::Continue;
            };
            pacing.need(header.head_len(), output.len());
            let (consumed, then) = match dispatch(&request, output, ctx) {
                Step::Incomplete => return Flow::Continue,
                Step::Done { consumed, then } => (consumed, then),
            };
            input.advance(consumed.min(input.len()));
            pacing.consume(consumed);
            match then {
                Then::Continue => {}
                Then::Flush => pacing.flush(output.len()),
                Then::Swallow(bytes) => self.swallow = u64::from(bytes),
                Then::Close => return Flow::Close,
            }
            pacing.request_done(output.len());
        }
    }

    /// How many bytes must be buffered before the pending request can be handled: its header,
    /// extras, key and (when it will be stored) value. `None` when any amount will do.
    pub fn wants(&self, input: &BytesMut) -> Option<usize> {
        if self.swallow > 0 {
            return None;
        }
        let Some(bytes) = input.first_chunk::<HEADER_LEN>() else {
            return Some(HEADER_LEN);
        };
        let header = RequestHeader::parse(bytes);
        if header.magic != REQUEST_MAGIC {
            return None;
        }
        let head = header.head_len();
        if head > READ_BUFFER_SIZE {
            return Some(READ_BUFFER_SIZE);
        }
        let value = header
            .value_len()
            .and_then(|len| usize::try_from(len).ok())
            .filter(|&len| carries_value(header.opcode) && len <= self.max_value)
            .unwrap_or(0);
        Some(head + value)
    }
}

/// Checks what memcached checks of every request, then hands it to its command family.
fn dispatch(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) -> Step {
    let header = &request.header;
    if u32::from(header.key_len) + u32::from(header.extras_len) > header.body_len {
        request.respond_error(out, Status::UnknownCommand);
        return Step::after_head(request, Then::Close);
    }
    if usize::from(header.key_len) > ctx.limits.max_key_len {
        return protocol_error(request, out);
    }
    match header.opcode {
        opcode::GET
        | opcode::GETQ
        | opcode::GETK
        | opcode::GETKQ
        | opcode::GAT
        | opcode::GATQ
        | opcode::GATK
        | opcode::GATKQ => get::handle(request, out, ctx),
        storage if carries_value(storage) => store::handle(request, out, ctx),
        opcode::DELETE | opcode::DELETEQ => delete::handle(request, out, ctx),
        opcode::INCREMENT | opcode::INCREMENTQ | opcode::DECREMENT | opcode::DECREMENTQ => {
            arithmetic::handle(request, out, ctx)
        }
        opcode::TOUCH => touch::handle(request, out, ctx),
        opcode::FLUSH | opcode::FLUSHQ => misc::flush(request, out, ctx),
        opcode::NOOP => misc::noop(request, out),
        opcode::VERSION => misc::version(request, out),
        opcode::STAT => misc::stat(request, out, ctx),
        opcode::QUIT | opcode::QUITQ => misc::quit(request, out),
        _ => misc::unknown(request, out),
    }
}
