//! Redis's `string2ll`: the only integer syntax a length line may use.
//!
//! It is stricter than Rust's `i64::from_str`, and the differences are answers a client sees:
//! `*+1`, `*01`, `*-0`, `* 1` and an empty length are all protocol errors in Redis (checked
//! against redis-server 7.0.15), while `from_str` would take the first two.

/// Redis's `LONG_STR_SIZE`: a string of this many bytes or more is never a number, even when
/// it is a valid one padded with nothing (Redis rejects it before looking at the digits).
const LONG_STR_SIZE: usize = 21;

/// The number `text` spells in Redis's syntax: an optional `-`, then `0` alone or a digit
/// `1`-`9` followed by digits, the whole within `i64`. `None` for anything else.
pub(crate) fn string2ll(text: &[u8]) -> Option<i64> {
    if text.is_empty() || text.len() >= LONG_STR_SIZE {
        return None;
    }
    if text == b"0" {
        return Some(0);
    }
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    // A leading zero (including `-0`) is not a number: `0` alone was handled above.
    let (&first, rest) = digits.split_first()?;
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    let mut magnitude = u64::from(first - b'0');
    for &byte in rest {
        if !byte.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(byte - b'0'))?;
    }
    if negative {
        // -(2^63) fits although 2^63 does not.
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::string2ll;

    #[test]
    fn accepts_what_redis_accepts() {
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b"1"), Some(1));
        assert_eq!(string2ll(b"-1"), Some(-1));
        assert_eq!(string2ll(b"1234567890"), Some(1_234_567_890));
        assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
    }

    #[test]
    fn refuses_what_redis_refuses() {
        for text in [
            &b""[..],
            b"-",
            b"+1",
            b"01",
            b"-0",
            b"00",
            b" 1",
            b"1 ",
            b"1x",
            b"0x10",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"18446744073709551616",
            b"99999999999999999999999",
            // 21 bytes: too long for Redis before it reads a digit.
            b"000000000000000000001",
            b"-00000000000000000001",
        ] {
            assert_eq!(string2ll(text), None, "{:?}", String::from_utf8_lossy(text));
        }
    }
}
