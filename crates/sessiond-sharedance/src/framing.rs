//! When a request is complete, and when to give up on it.
//!
//! sharedance handles a request when exactly as many bytes as its lengths announce have
//! arrived, and drops the connection when more have ("Request too long") or when the buffer
//! reaches `--maxreadsize`. Here a request is checked as early as its bytes allow: the
//! header's lengths against the limits as soon as the header is in, the key's bytes as soon as
//! the key is in. So a bad request is refused without buffering the rest of it, and a request
//! over the size limit never is buffered past the limit.

use std::ops::Range;

use crate::header::{self, Opcode, Parsed};
use crate::{Limits, Refusal, key};

/// A request whose header passed the limits: where its parts lie in the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    /// What the request asks for.
    pub(crate) opcode: Opcode,
    /// Where the key ends and the data (for a store) begins.
    pub(crate) key_end: usize,
    /// The whole request's length: where the data ends.
    pub(crate) total: usize,
}

impl Frame {
    /// Where the key lies in the input.
    pub(crate) fn key(&self) -> Range<usize> {
        self.opcode.header_len()..self.key_end
    }

    /// Where the data lies in the input: empty for fetch and delete.
    pub(crate) fn data(&self) -> Range<usize> {
        self.key_end..self.total
    }
}

/// What to do with the input so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The request is incomplete: read more.
    Wait,
    /// Close without an answer.
    Refuse(Refusal),
    /// The request is complete and well formed: run it.
    Ready(Frame),
    /// The request was answered or refused before: nothing more to do.
    Closed,
}

/// One connection's progress through its one request.
#[derive(Debug, Default)]
pub(crate) struct Framing {
    state: State,
}

#[derive(Debug, Default)]
enum State {
    /// The header has not all arrived.
    #[default]
    Header,
    /// The header is in and passed the limits.
    Body {
        frame: Frame,
        /// The key has all arrived and is valid: it is not checked again.
        key_checked: bool,
    },
    /// The request was answered or refused.
    Closed,
}

impl Framing {
    /// Decides what to do with `input`, all bytes received so far. Once this returns anything
    /// but [`Step::Wait`] the connection is closed, and every later call returns
    /// [`Step::Closed`].
    pub(crate) fn step(&mut self, input: &[u8], limits: &Limits) -> Step {
        let step = self.advance(input, limits);
        if step != Step::Wait {
            self.state = State::Closed;
        }
        step
    }

    /// The whole request's length, once its header is in and within the limits.
    pub(crate) fn total(&self) -> Option<usize> {
        match self.state {
            State::Body { frame, .. } => Some(frame.total),
            State::Header | State::Closed => None,
        }
    }

    fn advance(&mut self, input: &[u8], limits: &Limits) -> Step {
        if let State::Header = self.state {
            match header::parse(input) {
                // sharedance's limit applies to whatever is buffered, header or not; it only
                // matters here when the limit is set below a header's length.
                Parsed::Incomplete
                    if !input.is_empty() && input.len() >= limits.max_request_size =>
                {
                    return Step::Refuse(Refusal::RequestTooLarge);
                }
                Parsed::Incomplete => return Step::Wait,
                Parsed::Unknown(byte) => return Step::Refuse(Refusal::UnknownCommand(byte)),
                Parsed::Header(header) => match check(header, limits) {
                    Ok(frame) => {
                        self.state = State::Body {
                            frame,
                            key_checked: false,
                        };
                    }
                    Err(refusal) => return Step::Refuse(refusal),
                },
            }
        }
        let State::Body { frame, key_checked } = &mut self.state else {
            return Step::Closed;
        };
        if input.len() > frame.total {
            return Step::Refuse(Refusal::TrailingBytes);
        }
        if !*key_checked && let Some(name) = input.get(frame.key()) {
            if !key::is_valid(name) {
                return Step::Refuse(Refusal::InvalidKey);
            }
            *key_checked = true;
        }
        if input.len() < frame.total {
            // Below the request's total, which is within the limit, so the buffer is too.
            return Step::Wait;
        }
        Step::Ready(*frame)
    }
}

/// Checks a header's lengths against the limits and sharedance's rule that a key is never
/// empty, and locates the request's parts.
fn check(header: header::Header, limits: &Limits) -> Result<Frame, Refusal> {
    // A request of exactly the limit is handled, as in sharedance, which checks for a complete
    // request before it checks the buffer against its limit.
    let total = usize::try_from(header.total())
        .ok()
        .filter(|&total| total <= limits.max_request_size)
        .ok_or(Refusal::RequestTooLarge)?;
    if header.key_len == 0 {
        return Err(Refusal::EmptyKey);
    }
    // Within a total that fits in a usize, so the conversion cannot fail; a failure would be
    // too long a key anyway.
    let key_len = usize::try_from(header.key_len)
        .ok()
        .filter(|&len| len <= limits.max_key_len)
        .ok_or(Refusal::KeyTooLong)?;
    Ok(Frame {
        opcode: header.opcode,
        key_end: header.opcode.header_len() + key_len,
        total,
    })
}
