//! One client connection: requests taken from the input in order, responses appended to the
//! output.

use bytes::{Buf, BytesMut};

use crate::framing::{self, Head, Parsed};
use crate::reply::{self, Status};
use crate::{Context, Flow, Limits, OUTPUT_HIGH_WATER, dispatch};

/// One client connection's protocol state.
///
/// A request stays in the input until it is answered, so the state is only what spans reads:
/// how far the input was already searched for the end of a head, and how many bytes the
/// request at the front needs once its head is known.
#[derive(Debug, Default)]
pub struct Connection {
    /// The request at the front of the input waits until this many bytes are buffered.
    pending: Option<usize>,
    /// Where to resume the search for the end of the head at the front of the input.
    scanned: usize,
    /// Decoded keys, kept to reuse the allocation.
    scratch: Vec<u8>,
}

/// What the front of the input holds.
enum Front<'a> {
    /// Not a whole head yet.
    Wait,
    /// A head that cannot be framed or is over a limit.
    Refused,
    /// A parsed head.
    Head(Head<'a>),
}

impl Connection {
    /// A new connection.
    pub fn new() -> Self {
        Connection::default()
    }

    /// Handles the complete requests at the front of `input`, in order, removing them from
    /// `input` and appending their responses to `output`. An incomplete request stays in
    /// `input` for the next call. Stops early, with complete requests left in `input`, once
    /// `output` holds [`OUTPUT_HIGH_WATER`] bytes: the caller writes the output out and calls
    /// again.
    ///
    /// Returns [`Flow::Close`] after a request that asked for it (`Connection: close`) and
    /// after answering 400 to a request that cannot be framed or is over a limit: the rest of
    /// the input cannot be trusted to start a request.
    pub fn process(
        &mut self,
        input: &mut BytesMut,
        output: &mut BytesMut,
        ctx: &Context<'_>,
    ) -> Flow {
        loop {
            if input.is_empty() || output.len() >= OUTPUT_HIGH_WATER {
                return Flow::Continue;
            }
            if let Some(total) = self.pending {
                if input.len() < total {
                    return Flow::Continue;
                }
            } else {
                let blank = framing::blank_lines(input);
                if blank > 0 {
                    input.advance(blank);
                    self.scanned = 0;
                    continue;
                }
            }
            let head = match self.front(input, ctx.limits) {
                Front::Wait => return Flow::Continue,
                Front::Refused => {
                    reply::empty(output, Status::BadRequest);
                    return Flow::Close;
                }
                Front::Head(head) => head,
            };
            // Both lengths are within the limits, so this does not overflow in practice; if
            // it did, the request would wait for input that never comes, not misframe.
            let total = head.len.saturating_add(head.body_len);
            let Some(body) = input.get(head.len..total) else {
                self.pending = Some(total);
                return Flow::Continue;
            };
            self.pending = None;
            self.scanned = 0;
            let close = head.close;
            dispatch::run(&head, body, &mut self.scratch, output, ctx);
            input.advance(total);
            if close {
                return Flow::Close;
            }
        }
    }

    /// How many bytes the connection needs buffered before it can answer the request at the
    /// front of `input`, once its head is parsed and while its body is arriving.
    pub fn wants(&self, input: &BytesMut) -> Option<usize> {
        self.pending.filter(|&total| total > input.len())
    }

    /// Finds and parses the head at the front of `input`.
    fn front<'a>(&mut self, input: &'a [u8], limits: &Limits) -> Front<'a> {
        // The input only grows between calls; should a caller have replaced it, search it all
        // again.
        let mut from = if self.scanned <= input.len() {
            self.scanned
        } else {
            0
        };
        loop {
            let end = match framing::find_end(input, from) {
                Ok(end) => end,
                Err(resume) => {
                    self.scanned = resume;
                    return if input.len() > limits.max_head_size {
                        Front::Refused
                    } else {
                        Front::Wait
                    };
                }
            };
            if end > limits.max_head_size {
                return Front::Refused;
            }
            match framing::parse(input, limits) {
                Parsed::Head(head) => return Front::Head(head),
                Parsed::Refused => return Front::Refused,
                // Blank lines before the request line are dropped before the search, so this
                // does not happen; should it, the next empty line may end the head.
                Parsed::Partial => from = end - 1,
            }
        }
    }
}
