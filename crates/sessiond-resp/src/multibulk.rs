//! Multibulk requests: `*N\r\n` followed by `N` bulk strings `$len\r\n<len bytes>\r\n`, what
//! every client library sends.
//!
//! A port of Redis's `processMultibulkBuffer` (`networking.c`, unchanged from 7.0 to 7.4), with
//! its checks in its order, so a bad request gets the error Redis gives:
//! - A count that is not a number in `string2ll`'s syntax or over the limit is `invalid
//!   multibulk length`; a count of zero or less is an empty command.
//! - Each argument must start with `$` (`expected '$', got 'x'`), its length be a number from
//!   0 to the limit (`invalid bulk length`).
//! - Redis does not look at the two bytes after a length line's `\r` or after an argument's
//!   data: it skips them. So does this; `*1\rx$4\rxPING..` is `PING` to Redis too.
//!
//! Arguments are not copied: the command points into the input. The state between calls is
//! where the next argument starts and how many are left, so a request arriving in many reads is
//! read once, not again from its start after every read.

use crate::command::Span;
use crate::error::ProtocolError;
use crate::limits::{Access, Limits};
use crate::line::{Line, length_line};
use crate::number::string2ll;
use crate::parser::Progress;

/// How far a multibulk request has been read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Multibulk {
    /// Reading the `*N` line at the input's start; the bytes before `scanned` hold no `\r`.
    Count { scanned: usize },
    /// Reading the `$N` line at `at`, `left` arguments to go (this one included).
    Length {
        at: usize,
        left: usize,
        scanned: usize,
    },
    /// Waiting for an argument's `len` bytes at `at` and the two bytes after them.
    Data { at: usize, len: usize, left: usize },
}

impl Multibulk {
    /// A request whose `*` has just been seen.
    pub(crate) const START: Multibulk = Multibulk::Count { scanned: 0 };

    /// Reads on from where the last call stopped, appending each complete argument's place in
    /// `input` to `spans`.
    pub(crate) fn resume(
        &mut self,
        input: &[u8],
        spans: &mut Vec<Span>,
        limits: &Limits,
        access: Access,
    ) -> Result<Progress, ProtocolError> {
        loop {
            *self = match *self {
                Multibulk::Count { scanned } => {
                    match length_line(input, 0, scanned, limits.max_inline_len) {
                        Line::TooLong => return Err(ProtocolError::TooBigMultibulkCount),
                        Line::Incomplete(scanned) => {
                            *self = Multibulk::Count { scanned };
                            return Ok(Progress::Incomplete);
                        }
                        Line::End(cr) => {
                            let count = count(input.get(1..cr), limits, access)?;
                            if count == 0 {
                                return Ok(Progress::Complete(cr + 2));
                            }
                            Multibulk::Length {
                                at: cr + 2,
                                left: count,
                                scanned: cr + 2,
                            }
                        }
                    }
                }
                Multibulk::Length { at, left, scanned } => {
                    match length_line(input, at, scanned, limits.max_inline_len) {
                        Line::TooLong => return Err(ProtocolError::TooBigBulkCount),
                        Line::Incomplete(scanned) => {
                            *self = Multibulk::Length { at, left, scanned };
                            return Ok(Progress::Incomplete);
                        }
                        Line::End(cr) => {
                            let first = input.get(at).copied().unwrap_or_default();
                            if first != b'$' {
                                return Err(ProtocolError::ExpectedDollar(first));
                            }
                            let len = bulk_len(input.get(at + 1..cr), limits, access)?;
                            let data = cr + 2;
                            // Known now, before the data arrives: refuse a request that would
                            // not fit the buffer rather than buffer it first.
                            if data
                                .checked_add(len)
                                .and_then(|end| end.checked_add(2))
                                .is_none_or(|end| end > limits.max_request_len)
                            {
                                return Err(ProtocolError::RequestTooLarge);
                            }
                            Multibulk::Data {
                                at: data,
                                len,
                                left,
                            }
                        }
                    }
                }
                Multibulk::Data { at, len, left } => {
                    // `resume` checked that this sum fits the request limit.
                    let end = at + len;
                    if input.len() < end + 2 {
                        return Ok(Progress::Incomplete);
                    }
                    spans.push(Span { start: at, end });
                    let next = end + 2;
                    match left - 1 {
                        0 => return Ok(Progress::Complete(next)),
                        left => Multibulk::Length {
                            at: next,
                            left,
                            scanned: next,
                        },
                    }
                }
            };
        }
    }

    /// The input length at which the argument being waited for is complete, when known.
    pub(crate) fn wants(&self) -> Option<usize> {
        match *self {
            Multibulk::Data { at, len, .. } => Some(at + len + 2),
            _ => None,
        }
    }

    /// The furthest input index this state relies on.
    pub(crate) fn position(&self) -> usize {
        match *self {
            Multibulk::Count { scanned } => scanned,
            Multibulk::Length { at, scanned, .. } => at.max(scanned),
            Multibulk::Data { at, .. } => at,
        }
    }
}

/// The argument count a `*N` line declares; zero for Redis's empty commands (`*0`, `*-1`).
fn count(text: Option<&[u8]>, limits: &Limits, access: Access) -> Result<usize, ProtocolError> {
    let value = text
        .and_then(string2ll)
        .ok_or(ProtocolError::InvalidMultibulkLength)?;
    // A count of zero or less is an empty command, whatever the limits.
    let Ok(count) = usize::try_from(value) else {
        return Ok(0);
    };
    if count > limits.max_multibulk_len {
        return Err(ProtocolError::InvalidMultibulkLength);
    }
    if access == Access::Unauthenticated && count > limits.unauthenticated_max_multibulk_len {
        return Err(ProtocolError::UnauthenticatedMultibulkLength);
    }
    Ok(count)
}

/// The length a `$N` line declares.
fn bulk_len(text: Option<&[u8]>, limits: &Limits, access: Access) -> Result<usize, ProtocolError> {
    let len = text
        .and_then(string2ll)
        .and_then(|value| usize::try_from(value).ok())
        .filter(|&len| len <= limits.max_bulk_len)
        .ok_or(ProtocolError::InvalidBulkLength)?;
    if access == Access::Unauthenticated && len > limits.unauthenticated_max_bulk_len {
        return Err(ProtocolError::UnauthenticatedBulkLength);
    }
    Ok(len)
}
