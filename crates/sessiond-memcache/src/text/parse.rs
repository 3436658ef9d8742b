//! Reading a command line the way memcached 1.6.18 reads it: tokens and numbers.
//!
//! Clients depend on memcached's exact leniencies and refusals (a trailing tab after a number is
//! accepted, a flags value of 2^32 wraps to 0, a length of 4294967297 reads as 1), so this is a
//! faithful port of its `tokenize_command` and `safe_strto*` helpers rather than a cleaner
//! grammar: a cleaner grammar would answer some requests differently from the server being
//! replaced.

/// memcached's token array size: at most 23 tokens, plus its terminal marker.
pub(crate) const MAX_TOKENS: usize = 24;

/// The words of a command line, split on single spaces as memcached splits them.
///
/// memcached stops after 23 tokens and leaves the rest of the line unsplit; multi-key gets
/// carry on through that rest, every other command sees the cut-off line. Both are kept here so
/// the token counts that decide `ERROR` versus a command's own errors come out the same.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tokens<'a> {
    items: [&'a [u8]; MAX_TOKENS - 1],
    len: usize,
    rest: Option<&'a [u8]>,
}

impl<'a> Tokens<'a> {
    /// Splits `line` (without its line terminator).
    pub(crate) fn new(line: &'a [u8]) -> Self {
        let mut tokens = Tokens {
            items: [&[]; MAX_TOKENS - 1],
            len: 0,
            rest: None,
        };
        let mut start = 0;
        for (at, &byte) in line.iter().enumerate() {
            if byte != b' ' {
                continue;
            }
            if start != at {
                tokens.items[tokens.len] = &line[start..at];
                tokens.len += 1;
                if tokens.len == MAX_TOKENS - 1 {
                    // memcached skips exactly the one space after the last token it keeps.
                    let rest = &line[at + 1..];
                    tokens.rest = (!rest.is_empty()).then_some(rest);
                    return tokens;
                }
            }
            start = at + 1;
        }
        if start != line.len() {
            tokens.items[tokens.len] = &line[start..];
            tokens.len += 1;
        }
        tokens
    }

    /// memcached's `ntokens`: the tokens plus its terminal marker.
    pub(crate) fn count(&self) -> usize {
        self.len + 1
    }

    /// The tokens kept (at most 23).
    pub(crate) fn as_slice(&self) -> &[&'a [u8]] {
        &self.items[..self.len]
    }

    /// Token `index`, or empty past the end (memcached's terminal token).
    pub(crate) fn get(&self, index: usize) -> &'a [u8] {
        self.as_slice().get(index).copied().unwrap_or_default()
    }

    /// The unsplit remainder of a line with more than 23 tokens.
    pub(crate) fn rest(&self) -> Option<&'a [u8]> {
        self.rest
    }

    /// Whether the last token is `noreply`, memcached's test for it.
    pub(crate) fn noreply(&self) -> bool {
        self.as_slice()
            .last()
            .is_some_and(|last| *last == b"noreply")
    }
}

/// The space-separated words of `bytes`, for the rest of a long multi-key get line.
pub(crate) fn words(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split(|&byte| byte == b' ')
        .filter(|word| !word.is_empty())
}

/// C's `isspace` in the C locale.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What C's `strtoull`/`strtoll` (base 10) read from the front of `token`: the sign, the
/// magnitude, and where the digits end. `None` when there are no digits or the magnitude does
/// not fit 64 bits (`ERANGE` for both functions).
fn c_number(token: &[u8]) -> Option<(bool, u64, usize)> {
    let mut at = token.iter().take_while(|&&byte| is_c_space(byte)).count();
    let mut negative = false;
    match token.get(at) {
        Some(b'-') => {
            negative = true;
            at += 1;
        }
        Some(b'+') => at += 1,
        _ => {}
    }
    let digits_start = at;
    let mut magnitude: u64 = 0;
    while let Some(&byte) = token.get(at) {
        if !byte.is_ascii_digit() {
            break;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(byte - b'0'))?;
        at += 1;
    }
    (at > digits_start).then_some((negative, magnitude, at))
}

/// memcached's acceptance test after a number: the token ends there or a space follows.
fn ends_number(token: &[u8], end: usize) -> bool {
    token.get(end).is_none_or(|&byte| is_c_space(byte))
}

/// memcached's `safe_strtoull`: an unsigned 64-bit number. A negative number is refused only
/// when it wraps past 2^63, exactly as memcached refuses it.
pub(crate) fn safe_strtoull(token: &[u8]) -> Option<u64> {
    let (negative, magnitude, end) = c_number(token)?;
    if !ends_number(token, end) {
        return None;
    }
    let value = if negative {
        magnitude.wrapping_neg()
    } else {
        magnitude
    };
    if (value as i64) < 0 && token.contains(&b'-') {
        return None;
    }
    Some(value)
}

/// memcached's `safe_strtoul` on a 64-bit host: `safe_strtoull`, then truncated to 32 bits as
/// memcached stores it (a flags value of 2^32 becomes 0).
pub(crate) fn safe_strtoul(token: &[u8]) -> Option<u32> {
    safe_strtoull(token).map(|value| value as u32)
}

/// memcached's `safe_strtol` on a 64-bit host: a signed 64-bit `strtol`, then truncated to 32
/// bits as memcached stores it (4294967297 becomes 1).
pub(crate) fn safe_strtol(token: &[u8]) -> Option<i32> {
    let (negative, magnitude, end) = c_number(token)?;
    let value = if negative {
        if magnitude > 1 << 63 {
            return None;
        }
        (magnitude as i64).wrapping_neg()
    } else {
        i64::try_from(magnitude).ok()?
    };
    if !ends_number(token, end) {
        return None;
    }
    Some(value as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words_of(line: &[u8]) -> Vec<&[u8]> {
        Tokens::new(line).as_slice().to_vec()
    }

    #[test]
    fn splits_on_spaces_only() {
        assert_eq!(
            words_of(b"  get  a\tb  c "),
            vec![&b"get"[..], b"a\tb", b"c"]
        );
        assert_eq!(Tokens::new(b"").count(), 1);
        assert_eq!(Tokens::new(b"   ").count(), 1);
        assert!(Tokens::new(b"set a 0 0 1 noreply").noreply());
        assert!(!Tokens::new(b"set a 0 0 1 noreplyx").noreply());
    }

    #[test]
    fn keeps_23_tokens_and_the_rest() {
        let line: Vec<u8> = (0..30)
            .map(|i| format!("t{i}"))
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes();
        let tokens = Tokens::new(&line);
        assert_eq!(tokens.count(), 24);
        assert_eq!(tokens.get(22), b"t22");
        assert_eq!(tokens.rest(), Some(&b"t23 t24 t25 t26 t27 t28 t29"[..]));

        let exact: Vec<u8> = (0..23)
            .map(|i| format!("t{i}"))
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes();
        assert_eq!(Tokens::new(&exact).count(), 24);
        assert_eq!(Tokens::new(&exact).rest(), None);
        let mut trailing = exact.clone();
        trailing.push(b' ');
        assert_eq!(Tokens::new(&trailing).rest(), None);
        trailing.extend_from_slice(b"  ");
        assert_eq!(Tokens::new(&trailing).rest(), Some(&b"  "[..]));
    }

    #[test]
    fn numbers_parse_like_memcached() {
        assert_eq!(safe_strtol(b"5"), Some(5));
        assert_eq!(safe_strtol(b"+5"), Some(5));
        assert_eq!(safe_strtol(b"-5"), Some(-5));
        assert_eq!(safe_strtol(b"\t5\t"), Some(5));
        assert_eq!(safe_strtol(b"5\tjunk"), Some(5));
        assert_eq!(safe_strtol(b"5x"), None);
        assert_eq!(safe_strtol(b""), None);
        assert_eq!(safe_strtol(b"-"), None);
        assert_eq!(safe_strtol(b"4294967297"), Some(1));
        assert_eq!(safe_strtol(b"9223372036854775808"), None);
        assert_eq!(safe_strtol(b"-9223372036854775808"), Some(0));

        assert_eq!(safe_strtoul(b"4294967296"), Some(0));
        assert_eq!(safe_strtoul(b"-1"), None);
        assert_eq!(safe_strtoul(b"-0"), Some(0));
        assert_eq!(safe_strtoul(b"18446744073709551615"), Some(u32::MAX));

        assert_eq!(safe_strtoull(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(safe_strtoull(b"18446744073709551616"), None);
        assert_eq!(safe_strtoull(b"-1"), None);
        assert_eq!(safe_strtoull(b"-18446744073709551615"), Some(1));
        assert_eq!(safe_strtoull(b"9223372036854775808"), Some(1 << 63));
    }
}
