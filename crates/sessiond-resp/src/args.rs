//! Reading arguments as Redis reads them: integers by `string2ll`, options by C string
//! comparison.

use sessiond_engine::ScoreBound;

use crate::reply::CommandError;

/// An argument as C code sees it: up to its first NUL byte. Redis compares option names with
/// `strcasecmp` and formats them with `%s`, so `NX\0junk` is the option `NX`, and an error
/// naming an argument names only what comes before a NUL.
pub(crate) fn c_str(arg: &[u8]) -> &[u8] {
    memchr::memchr(0, arg).map_or(arg, |nul| &arg[..nul])
}

/// Whether `arg` is the option `name` (ASCII, given in any case), compared as Redis's
/// `strcasecmp` compares them.
pub(crate) fn is(arg: &[u8], name: &str) -> bool {
    c_str(arg).eq_ignore_ascii_case(name.as_bytes())
}

/// A signed 64-bit integer in Redis's syntax (`string2ll`: no sign but `-`, no leading zero,
/// no spaces), or `value is not an integer or out of range`.
pub(crate) fn integer(arg: &[u8]) -> Result<i64, CommandError> {
    crate::number::string2ll(arg).ok_or(CommandError::NotInteger)
}

/// An integer in Redis's syntax that fits C's `int` (`getIntFromObjectOrReply`).
pub(crate) fn int(arg: &[u8]) -> Result<i32, CommandError> {
    integer(arg).and_then(|value| i32::try_from(value).map_err(|_| CommandError::NotInteger))
}

/// A double as Redis reads an argument (`getDoubleFromObject`: `strtod`'s syntax, no
/// leading space, nothing after it, not NaN, not out of range), or `value is not a valid
/// float`.
pub(crate) fn float(arg: &[u8]) -> Result<f64, CommandError> {
    sessiond_engine::parse_float(arg).ok_or(CommandError::NotFloat)
}

/// One end of a score range as Redis's `zslParseRange` reads it: `(` for an exclusive bound,
/// then what `strtod` reads up to the end or a NUL (so white space before the number, an
/// empty text (0), `inf` and numbers too large for a double are all taken); `None` for
/// anything else or NaN.
pub(crate) fn score_bound(arg: &[u8]) -> Option<ScoreBound> {
    let arg = c_str(arg);
    let (exclusive, number) = match arg.split_first() {
        Some((b'(', rest)) => (true, rest),
        _ => (false, arg),
    };
    let read = sessiond_engine::float_prefix(number);
    if read.len != number.len() || read.value.is_nan() {
        return None;
    }
    Some(if exclusive {
        ScoreBound::Exclusive(read.value)
    } else {
        ScoreBound::Inclusive(read.value)
    })
}

/// A `SCAN` cursor as Redis reads it, with C's `strtoul`: leading zeros and a sign are
/// taken (a negative number wraps around), an empty argument is 0, and anything else, or a
/// leading space, is `invalid cursor`.
pub(crate) fn cursor(arg: &[u8]) -> Result<u64, CommandError> {
    let arg = c_str(arg);
    if arg.is_empty() {
        return Ok(0);
    }
    let (negative, digits) = match arg[0] {
        b'-' => (true, &arg[1..]),
        b'+' => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(CommandError::InvalidCursor);
    }
    let mut value: u64 = 0;
    for &digit in digits {
        value = value
            .checked_mul(10)
            .and_then(|value| value.checked_add(u64::from(digit - b'0')))
            .ok_or(CommandError::InvalidCursor)?;
    }
    Ok(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// Compares a secret without an early exit, so the time taken does not tell how much of a
/// guessed password was right.
pub(crate) fn secret_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut difference = u8::from(given.len() != expected.len());
    for (index, &byte) in expected.iter().enumerate() {
        difference |= byte ^ given.get(index).copied().unwrap_or(!byte);
    }
    difference == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_compare_as_c_strings() {
        assert!(is(b"nx", "NX"));
        assert!(is(b"Nx\0junk", "NX"));
        assert!(!is(b"nxx", "NX"));
        assert_eq!(c_str(b"a\0b"), b"a");
    }

    #[test]
    fn integers_follow_string2ll() {
        assert_eq!(integer(b"-12").unwrap(), -12);
        for bad in [
            &b"+1"[..],
            b"01",
            b"-0",
            b" 1",
            b"",
            b"1.0",
            b"9223372036854775808",
        ] {
            assert!(integer(bad).is_err(), "{bad:?}");
        }
        assert!(int(b"2147483648").is_err());
        assert_eq!(int(b"-2147483648").unwrap(), i32::MIN);
    }

    #[test]
    fn floats_follow_get_double_from_object() {
        assert_eq!(float(b"1.5").unwrap(), 1.5);
        assert_eq!(float(b"-inf").unwrap(), f64::NEG_INFINITY);
        assert_eq!(float(b"0x10").unwrap(), 16.0);
        for bad in [&b""[..], b" 1", b"1 ", b"nan", b"1e400", b"1\0", b"x"] {
            assert_eq!(float(bad), Err(CommandError::NotFloat), "{bad:?}");
        }
    }

    #[test]
    fn score_bounds_follow_zsl_parse_range() {
        use ScoreBound::{Exclusive, Inclusive};
        assert_eq!(score_bound(b"1.5"), Some(Inclusive(1.5)));
        assert_eq!(score_bound(b"(1.5"), Some(Exclusive(1.5)));
        assert_eq!(score_bound(b"-inf"), Some(Inclusive(f64::NEG_INFINITY)));
        assert_eq!(score_bound(b"(+inf"), Some(Exclusive(f64::INFINITY)));
        assert_eq!(score_bound(b" 1"), Some(Inclusive(1.0)));
        assert_eq!(score_bound(b""), Some(Inclusive(0.0)));
        assert_eq!(score_bound(b"("), Some(Exclusive(0.0)));
        assert_eq!(score_bound(b"1e400"), Some(Inclusive(f64::INFINITY)));
        assert_eq!(score_bound(b"2\0junk"), Some(Inclusive(2.0)));
        for bad in [&b"x"[..], b"1 ", b"nan", b"((1", b"[1"] {
            assert_eq!(score_bound(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cursors_follow_strtoul() {
        assert_eq!(cursor(b"0").unwrap(), 0);
        assert_eq!(cursor(b"").unwrap(), 0);
        assert_eq!(cursor(b"007").unwrap(), 7);
        assert_eq!(cursor(b"+7").unwrap(), 7);
        assert_eq!(cursor(b"-1").unwrap(), u64::MAX);
        for bad in [&b"x"[..], b" 1", b"1 ", b"+", b"18446744073709551616"] {
            assert!(cursor(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn secrets() {
        assert!(secret_eq(b"pass", b"pass"));
        assert!(!secret_eq(b"pas", b"pass"));
        assert!(!secret_eq(b"passs", b"pass"));
        assert!(!secret_eq(b"pasx", b"pass"));
        assert!(secret_eq(b"", b""));
    }
}
