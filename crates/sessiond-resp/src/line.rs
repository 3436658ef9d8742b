//! Finding the end of a line the way Redis finds it: with `strchr` on a C string.
//!
//! Redis looks for a line's terminator with `strchr`, which stops at a NUL byte. A NUL before
//! the terminator therefore hides it: Redis keeps waiting for more input until the buffer is
//! over its line limit, then answers "too big". Checked against redis-server 7.0.15; kept,
//! because a client sending NUL in a length line or an inline command gets exactly that from
//! Redis too.
//!
//! Redis checks its line limit only while the terminator has not arrived, so whether a long
//! line is refused depends on how its bytes were split into reads. Here a line is judged by
//! its length alone, as Redis judges it when the bytes arrive one at a time: refused when more
//! than the limit come before its terminator. The outcome then never depends on the reads.

/// Where the search for a line's end stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// The terminator is at this index, and every byte the line needs is buffered.
    End(usize),
    /// The line is not complete; the bytes before this index need not be searched again.
    Incomplete(usize),
    /// Over the limit: more bytes than allowed before the terminator, or buffered behind a NUL.
    TooLong,
}

/// The `\r` ending a `*N` or `$N` line that starts at `start`. Like Redis, the line is complete
/// once one more byte follows the `\r`, whatever that byte is.
pub(crate) fn length_line(input: &[u8], start: usize, scanned: usize, max: usize) -> Line {
    match find(input, start, scanned, b'\r', max) {
        Line::End(cr) if input.len() - cr < 2 => Line::Incomplete(cr),
        line => line,
    }
}

/// The `\n` ending an inline command line that starts at index 0.
pub(crate) fn inline_line(input: &[u8], scanned: usize, max: usize) -> Line {
    find(input, 0, scanned, b'\n', max)
}

/// The first `terminator` after `start`, unless a NUL or the limit comes first.
fn find(input: &[u8], start: usize, scanned: usize, terminator: u8, max: usize) -> Line {
    let from = scanned.max(start);
    let Some(rest) = input.get(from..) else {
        return Line::Incomplete(from);
    };
    let buffered = input.len().saturating_sub(start);
    match memchr::memchr2(terminator, 0, rest) {
        Some(offset) => {
            let at = from + offset;
            if input.get(at) == Some(&terminator) {
                if at - start > max {
                    Line::TooLong
                } else {
                    Line::End(at)
                }
            } else if buffered > max {
                // The NUL hides every terminator after it; Redis gives up once the buffer,
                // everything after the line's start, is over the limit.
                Line::TooLong
            } else {
                Line::Incomplete(at)
            }
        }
        None if buffered > max => Line::TooLong,
        None => Line::Incomplete(input.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_length_line_needs_the_byte_after_its_cr() {
        assert_eq!(length_line(b"*1", 0, 0, 10), Line::Incomplete(2));
        assert_eq!(length_line(b"*1\r", 0, 0, 10), Line::Incomplete(2));
        assert_eq!(length_line(b"*1\r\n", 0, 0, 10), Line::End(2));
        assert_eq!(length_line(b"*1\rx", 0, 0, 10), Line::End(2));
        assert_eq!(length_line(b"ab$3\r\n", 2, 2, 10), Line::End(4));
    }

    #[test]
    fn the_limit_counts_the_bytes_before_the_terminator() {
        assert_eq!(length_line(b"*123\r\n", 0, 0, 4), Line::End(4));
        assert_eq!(length_line(b"*1234\r\n", 0, 0, 4), Line::TooLong);
        assert_eq!(length_line(b"*123", 0, 0, 4), Line::Incomplete(4));
        assert_eq!(length_line(b"*1234", 0, 0, 4), Line::TooLong);
        assert_eq!(inline_line(b"abcd\n", 0, 4), Line::End(4));
        assert_eq!(inline_line(b"abc\r\n", 0, 4), Line::End(4));
        assert_eq!(inline_line(b"abcd\r\n", 0, 4), Line::TooLong);
    }

    #[test]
    fn a_nul_hides_the_terminator() {
        assert_eq!(inline_line(b"a\0b\n", 0, 10), Line::Incomplete(1));
        assert_eq!(inline_line(b"a\0b\nPING\r\n", 1, 10), Line::Incomplete(1));
        assert_eq!(inline_line(b"a\0b\nPING\r\nx", 1, 10), Line::TooLong);
        assert_eq!(length_line(b"*1\0\r\n", 0, 0, 10), Line::Incomplete(2));
    }

    #[test]
    fn a_search_resumes_where_it_stopped() {
        assert_eq!(inline_line(b"abc", 0, 10), Line::Incomplete(3));
        assert_eq!(inline_line(b"abcdef\n", 3, 10), Line::End(6));
        // A caller that replaced the input with a shorter one is not trusted.
        assert_eq!(inline_line(b"ab", 3, 10), Line::Incomplete(3));
    }
}
