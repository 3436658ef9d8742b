//! A parsed command: its arguments, borrowed, and how many input bytes it took.

use std::fmt;
use std::iter::FusedIterator;

/// A complete command: its arguments, borrowed from the input buffer (a multibulk request) or
/// from the parser (an inline command, whose quoting had to be undone), and the number of input
/// bytes it took.
///
/// A command may have no arguments (`*0`, `*-1`, a blank inline line): Redis answers nothing
/// and goes on with the next request, so the caller only drops its bytes.
#[derive(Clone, Copy)]
pub struct Command<'a> {
    source: &'a [u8],
    spans: &'a [Span],
    consumed: usize,
}

impl<'a> Command<'a> {
    /// The number of arguments, the command's name included.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the command has no arguments at all.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Argument `index` (0 is the command's name), if there is one.
    pub fn get(&self, index: usize) -> Option<&'a [u8]> {
        self.spans.get(index).map(|span| span.of(self.source))
    }

    /// The command's name, as sent (Redis matches names without regard to case).
    pub fn name(&self) -> Option<&'a [u8]> {
        self.get(0)
    }

    /// The arguments in order, the name first.
    pub fn args(&self) -> Args<'a> {
        Args {
            source: self.source,
            spans: self.spans.iter(),
        }
    }

    /// How many bytes at the front of the input this command took: drop them before parsing
    /// the next one.
    pub fn consumed(&self) -> usize {
        self.consumed
    }

    /// The command made of `spans` into `source`.
    pub(crate) fn new(source: &'a [u8], spans: &'a [Span], consumed: usize) -> Self {
        Command {
            source,
            spans,
            consumed,
        }
    }
}

impl fmt::Debug for Command<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field(
                "args",
                &self.args().map(String::from_utf8_lossy).collect::<Vec<_>>(),
            )
            .field("consumed", &self.consumed)
            .finish()
    }
}

/// The arguments of a [`Command`], in order.
#[derive(Clone, Debug)]
pub struct Args<'a> {
    source: &'a [u8],
    spans: std::slice::Iter<'a, Span>,
}

impl<'a> Iterator for Args<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<Self::Item> {
        self.spans.next().map(|span| span.of(self.source))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
    }
}

impl DoubleEndedIterator for Args<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.spans.next_back().map(|span| span.of(self.source))
    }
}

impl ExactSizeIterator for Args<'_> {}

impl FusedIterator for Args<'_> {}

/// Where one argument lies in its source. Offsets rather than slices, so the parser can keep
/// them across calls while the input buffer grows (and moves).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    /// The argument's first byte.
    pub(crate) start: usize,
    /// One past its last byte.
    pub(crate) end: usize,
}

impl Span {
    /// The argument's bytes. The parser only makes spans inside their source; should one not
    /// be, the argument reads as empty rather than panicking.
    fn of(self, source: &[u8]) -> &[u8] {
        source.get(self.start..self.end).unwrap_or_default()
    }
}
