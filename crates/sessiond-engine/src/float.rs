//! Floating-point numbers as Redis reads them: C's `strtod` for the syntax, Redis's checks on
//! top.
//!
//! Redis reads scores with `strtod` and `HINCRBYFLOAT`'s numbers with `strtold`, then decides
//! what to accept (no leading space, nothing left over, no NaN, no overflow); the protocol
//! crate and the engine's float commands must agree on every case, so the reading lives here
//! once ([`scan`]), and converts to a double here or to an extended double in
//! `long_double`.

/// What C's `strtod` makes of the front of a text.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FloatPrefix {
    /// The number read; 0 when nothing was.
    pub value: f64,
    /// How many bytes it took, leading white space included; 0 when nothing was read (C's
    /// `endptr` left at the start).
    pub len: usize,
    /// `strtod` would set `ERANGE` with a result Redis refuses: a finite number too large
    /// (read as an infinity) or a non-zero number too small (read as zero).
    pub out_of_range: bool,
}

/// Reads a number from the front of `text` as glibc's `strtod` does: white space, a sign,
/// then `inf`/`infinity`/`nan[(chars)]` in any case, a hexadecimal `0x` number with an
/// optional `p` exponent, or decimal digits with an optional point and `e` exponent.
pub fn float_prefix(text: &[u8]) -> FloatPrefix {
    let scanned = scan(text);
    let sign = if scanned.negative { -1.0 } else { 1.0 };
    let (magnitude, nonzero) = match scanned.number {
        Number::Nothing => (0.0, false),
        Number::Infinity => (f64::INFINITY, true),
        Number::NaN => (f64::NAN, true),
        Number::Decimal {
            literal, digits, ..
        } => {
            let literal = std::str::from_utf8(literal).unwrap_or("0");
            let nonzero = digits.iter().any(|&digit| (b'1'..=b'9').contains(&digit));
            (literal.parse().unwrap_or(0.0), nonzero)
        }
        Number::Hex { digits, exponent } => hex_value(digits, exponent),
    };
    let value = sign * magnitude;
    let finite_literal = matches!(scanned.number, Number::Decimal { .. } | Number::Hex { .. });
    FloatPrefix {
        value,
        len: scanned.len,
        out_of_range: finite_literal && (value.is_infinite() || (value == 0.0 && nonzero)),
    }
}

/// A whole argument or stored value as a number, as Redis's `getDoubleFromObject` and
/// `string2ld` accept one: not empty, no leading white space, nothing left over, not NaN,
/// not out of range.
pub fn parse_float(text: &[u8]) -> Option<f64> {
    let first = *text.first()?;
    if is_c_space(first) {
        return None;
    }
    let read = float_prefix(text);
    if read.len != text.len() || read.out_of_range || read.value.is_nan() {
        return None;
    }
    Some(read.value)
}

/// C's `isspace` in the C locale.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn starts_with_ignore_case(text: &[u8], prefix: &[u8]) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// What `strtod` finds at the front of a text, before any conversion.
pub(crate) struct Scanned<'a> {
    /// The text starts with white space (which `strtod` skips and Redis refuses).
    pub(crate) leading_space: bool,
    /// A `-` came before the number.
    pub(crate) negative: bool,
    /// The number.
    pub(crate) number: Number<'a>,
    /// Bytes taken, white space and sign included; 0 when there is no number.
    pub(crate) len: usize,
}

/// The number a [`Scanned`] found.
pub(crate) enum Number<'a> {
    /// None: `strtod` reads 0 and takes nothing.
    Nothing,
    /// `inf` or `infinity`.
    Infinity,
    /// `nan`, with or without its `(chars)`.
    NaN,
    /// Decimal digits with at most one point, times ten to `exponent`.
    Decimal {
        /// The number as written, exponent included, without its sign.
        literal: &'a [u8],
        /// The digits and the point.
        digits: &'a [u8],
        /// The exponent, saturated.
        exponent: i64,
    },
    /// Hexadecimal digits with at most one point, times two to `exponent`.
    Hex {
        /// The digits and the point, after `0x`.
        digits: &'a [u8],
        /// The binary exponent, saturated.
        exponent: i64,
    },
}

/// Finds the number at the front of `text` as glibc's `strtod` and `strtold` do.
pub(crate) fn scan(text: &[u8]) -> Scanned<'_> {
    let mut start = 0;
    while text.get(start).is_some_and(|&byte| is_c_space(byte)) {
        start += 1;
    }
    let (negative, body) = match text.get(start) {
        Some(b'-') => (true, start + 1),
        Some(b'+') => (false, start + 1),
        _ => (false, start),
    };
    let rest = &text[body..];
    let found = |number, len: usize| Scanned {
        leading_space: start > 0,
        negative,
        number,
        len: body + len,
    };
    if starts_with_ignore_case(rest, b"infinity") {
        return found(Number::Infinity, 8);
    }
    if starts_with_ignore_case(rest, b"inf") {
        return found(Number::Infinity, 3);
    }
    if starts_with_ignore_case(rest, b"nan") {
        let mut len = 3;
        if rest.get(3) == Some(&b'(')
            && let Some(close) = rest[4..].iter().position(|&byte| byte == b')')
            && rest[4..4 + close]
                .iter()
                .all(|&byte| byte.is_ascii_alphanumeric() || byte == b'_')
        {
            len = 4 + close + 1;
        }
        return found(Number::NaN, len);
    }
    if starts_with_ignore_case(rest, b"0x") {
        let digits_len = mantissa_len(&rest[2..], u8::is_ascii_hexdigit);
        if digits_len > 0 {
            let digits = &rest[2..2 + digits_len];
            let (exponent, exponent_len) = exponent(&rest[2 + digits_len..], b'p');
            let number = Number::Hex { digits, exponent };
            return found(number, 2 + digits_len + exponent_len);
        }
    }
    let digits_len = mantissa_len(rest, u8::is_ascii_digit);
    if digits_len == 0 {
        return Scanned {
            leading_space: start > 0,
            negative: false,
            number: Number::Nothing,
            len: 0,
        };
    }
    let (exponent, exponent_len) = exponent(&rest[digits_len..], b'e');
    let len = digits_len + exponent_len;
    let number = Number::Decimal {
        literal: &rest[..len],
        digits: &rest[..digits_len],
        exponent,
    };
    found(number, len)
}

/// The length of the digits (`is_digit`) and at most one point at the front of `text`; 0
/// when there is no digit among them.
fn mantissa_len(text: &[u8], is_digit: fn(&u8) -> bool) -> usize {
    let mut len = 0;
    let mut digits = 0;
    let mut point = false;
    while let Some(byte) = text.get(len) {
        if is_digit(byte) {
            digits += 1;
        } else if *byte == b'.' && !point {
            point = true;
        } else {
            break;
        }
        len += 1;
    }
    if digits == 0 { 0 } else { len }
}

/// An exponent (`marker`, then an optional sign and digits) at the front of `text`: its
/// value, saturated, and its length; (0, 0) when there is none (a marker without digits is
/// not part of the number).
fn exponent(text: &[u8], marker: u8) -> (i64, usize) {
    if !text
        .first()
        .is_some_and(|byte| byte.eq_ignore_ascii_case(&marker))
    {
        return (0, 0);
    }
    let (negative, start) = match text.get(1) {
        Some(b'-') => (true, 2),
        Some(b'+') => (false, 2),
        _ => (false, 1),
    };
    let digits = text[start.min(text.len())..]
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    if digits == 0 {
        return (0, 0);
    }
    let mut value: i64 = 0;
    for &byte in &text[start..start + digits] {
        value = value
            .saturating_mul(10)
            .saturating_add(i64::from(byte - b'0'));
    }
    (if negative { -value } else { value }, start + digits)
}

/// The magnitude of a hexadecimal number and whether its digits are not all zero.
fn hex_value(digits: &[u8], exponent: i64) -> (f64, bool) {
    let mut mantissa = 0.0f64;
    let mut scale = exponent;
    let mut point = false;
    let mut nonzero = false;
    for &byte in digits {
        match (byte as char).to_digit(16) {
            Some(digit) => {
                nonzero |= digit != 0;
                mantissa = mantissa * 16.0 + f64::from(digit);
                if point {
                    scale = scale.saturating_sub(4);
                }
            }
            None => point = true,
        }
    }
    let scale = i32::try_from(scale.clamp(-100_000, 100_000)).unwrap_or(0);
    (mantissa * 2f64.powi(scale), nonzero)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(text: &str) -> (f64, usize) {
        let read = float_prefix(text.as_bytes());
        (read.value, read.len)
    }

    #[test]
    fn reads_what_strtod_reads() {
        assert_eq!(prefix("1.5"), (1.5, 3));
        assert_eq!(prefix("  -2e3x"), (-2000.0, 6));
        assert_eq!(prefix(".5"), (0.5, 2));
        assert_eq!(prefix("5."), (5.0, 2));
        assert_eq!(prefix("1e"), (1.0, 1));
        assert_eq!(prefix("1e+"), (1.0, 1));
        assert_eq!(prefix("+inf"), (f64::INFINITY, 4));
        assert_eq!(prefix("-Infinity"), (f64::NEG_INFINITY, 9));
        assert_eq!(prefix("0x10"), (16.0, 4));
        assert_eq!(prefix("0x1.8p1"), (3.0, 7));
        assert_eq!(prefix("0x"), (0.0, 1));
        assert_eq!(prefix(""), (0.0, 0));
        assert_eq!(prefix("("), (0.0, 0));
        assert_eq!(prefix("."), (0.0, 0));
        assert!(float_prefix(b"nan(x1)").value.is_nan());
        assert_eq!(float_prefix(b"nan(x1)").len, 7);
        assert!(float_prefix(b"1e400").out_of_range);
        assert!(float_prefix(b"1e-400").out_of_range);
        assert!(!float_prefix(b"0e-400").out_of_range);
        assert!(!float_prefix(b"1e-310").out_of_range);
    }

    #[test]
    fn whole_numbers_follow_redis_checks() {
        assert_eq!(parse_float(b"1.5"), Some(1.5));
        assert_eq!(parse_float(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_float(b"+1"), Some(1.0));
        for bad in ["", " 1", "1 ", "nan", "1e400", "1e-400", "abc", "1\0", "0x"] {
            assert_eq!(parse_float(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
