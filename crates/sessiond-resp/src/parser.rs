//! The request parser: finds each complete command at the front of an input buffer.

use crate::command::{Command, Span};
use crate::error::ProtocolError;
use crate::inline::Inline;
use crate::limits::{Access, Limits};
use crate::multibulk::Multibulk;

/// Reads the commands of one connection from its input buffer, in place.
///
/// Call [`Parser::parse`] with everything buffered. It returns the first complete command,
/// whose [`Command::consumed`] bytes the caller drops from the front of the buffer before the
/// next call, or `None` when the buffer holds only part of a command: the caller appends what
/// it reads next and calls again, without dropping anything. The parser remembers how far it
/// got, so a large request arriving in many reads is read once.
///
/// Like Redis, a request starting with `*` is a multibulk request and anything else an inline
/// command. Pipelined requests are parsed one after the other; an error ends the connection
/// (see [`ProtocolError::close`]), and the requests before it are answered first, as Redis
/// answers them.
#[derive(Debug, Default)]
pub struct Parser {
    limits: Limits,
    state: State,
    /// The arguments of the command being read.
    spans: Vec<Span>,
    /// The words of an inline command, unquoted.
    scratch: Vec<u8>,
    /// The last call returned a command, which borrowed `spans` and `scratch`: clear them
    /// before reading the next one.
    handed_out: bool,
}

impl Parser {
    /// A parser that enforces `limits`.
    pub fn new(limits: Limits) -> Self {
        Parser {
            limits,
            ..Parser::default()
        }
    }

    /// The limits it enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The first complete command in `input`, or `None` when `input` holds only part of one.
    ///
    /// `input` must be the connection's buffered bytes from the front: after a command, the
    /// same buffer with the command's [`Command::consumed`] bytes dropped; after `None`, the
    /// same bytes with more appended. (A buffer shorter than what was already read is taken as
    /// new input and read from its start.)
    ///
    /// `access` says whether the peer still has to authenticate, which limits how large a
    /// request may be ([`Limits::unauthenticated_max_bulk_len`]).
    ///
    /// # Errors
    /// A [`ProtocolError`] when the request at the front is one Redis refuses. Nothing more can
    /// be read from the connection: answer as [`ProtocolError::close`] says and close it.
    pub fn parse<'p>(
        &'p mut self,
        input: &'p [u8],
        access: Access,
    ) -> Result<Option<Command<'p>>, ProtocolError> {
        if self.handed_out || self.state.position() > input.len() {
            self.reset();
        }
        let progress = match &mut self.state {
            State::Start => match input.first() {
                None => return Ok(None),
                Some(b'*') => {
                    let mut multibulk = Multibulk::START;
                    let progress = multibulk.resume(input, &mut self.spans, &self.limits, access);
                    self.state = State::Multibulk(multibulk);
                    progress
                }
                Some(_) => {
                    let mut inline = Inline::default();
                    let progress =
                        inline.resume(input, &mut self.scratch, &mut self.spans, &self.limits);
                    self.state = State::Inline(inline);
                    progress
                }
            },
            State::Multibulk(multibulk) => {
                multibulk.resume(input, &mut self.spans, &self.limits, access)
            }
            State::Inline(inline) => {
                inline.resume(input, &mut self.scratch, &mut self.spans, &self.limits)
            }
        };
        match progress {
            Ok(Progress::Incomplete) => Ok(None),
            Ok(Progress::Complete(consumed)) => {
                let source = match self.state {
                    State::Inline(_) => &self.scratch[..],
                    State::Start | State::Multibulk(_) => input,
                };
                self.state = State::Start;
                self.handed_out = true;
                Ok(Some(Command::new(source, &self.spans, consumed)))
            }
            Err(error) => {
                self.reset();
                Err(error)
            }
        }
    }

    /// How many bytes the input must hold before the command being read can make progress,
    /// when the parser knows: while it waits for an argument's data. The caller can size its
    /// next read by it.
    pub fn wants(&self) -> Option<usize> {
        match &self.state {
            State::Multibulk(multibulk) if !self.handed_out => multibulk.wants(),
            _ => None,
        }
    }

    /// Forgets the command being read.
    fn reset(&mut self) {
        self.state = State::Start;
        self.spans.clear();
        self.scratch.clear();
        self.handed_out = false;
    }
}

/// What the parser is in the middle of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// Between commands.
    #[default]
    Start,
    /// An inline command.
    Inline(Inline),
    /// A multibulk request.
    Multibulk(Multibulk),
}

impl State {
    /// The furthest input index the state relies on; more than the input holds means the
    /// caller handed in other input.
    fn position(&self) -> usize {
        match self {
            State::Start => 0,
            State::Inline(inline) => inline.position(),
            State::Multibulk(multibulk) => multibulk.position(),
        }
    }
}

/// How far one call got with the command being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// More input is needed.
    Incomplete,
    /// The command is complete and took this many bytes.
    Complete(usize),
}
