//! Floating-point numbers as Redis reads and writes them: C's `strtod` for the syntax, Redis's
//! checks on top, and the "human" text `HINCRBYFLOAT` stores.
//!
//! Redis reads scores and increments with `strtod`/`strtold` and then decides what to accept
//! (no leading space, nothing left over, no NaN, no overflow); the protocol crate and the
//! engine's float commands must agree on every case, so the reading lives here once.

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
    let nothing = FloatPrefix {
        value: 0.0,
        len: 0,
        out_of_range: false,
    };
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
    let sign = if negative { -1.0 } else { 1.0 };
    if starts_with_ignore_case(rest, b"inf") {
        let len = if starts_with_ignore_case(rest, b"infinity") {
            8
        } else {
            3
        };
        return FloatPrefix {
            value: sign * f64::INFINITY,
            len: body + len,
            out_of_range: false,
        };
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
        return FloatPrefix {
            value: f64::NAN,
            len: body + len,
            out_of_range: false,
        };
    }
    if let Some((magnitude, len, nonzero)) = hexadecimal(rest) {
        let value = sign * magnitude;
        return FloatPrefix {
            value,
            len: body + len,
            out_of_range: value.is_infinite() || (value == 0.0 && nonzero),
        };
    }
    let Some((len, nonzero)) = decimal_len(rest) else {
        return nothing;
    };
    let digits = std::str::from_utf8(&rest[..len]).unwrap_or("0");
    let magnitude: f64 = digits.parse().unwrap_or(0.0);
    let value = sign * magnitude;
    FloatPrefix {
        value,
        len: body + len,
        out_of_range: value.is_infinite() || (value == 0.0 && nonzero),
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

/// The text Redis stores for a float it computed (`ld2string` in its "human" mode: fixed
/// point, at most 17 decimals, no trailing zeros, `-0` as `0`), from the shortest digits
/// that read back as `value`. `value` is finite.
pub fn human_float(value: f64) -> String {
    let mut text = format!("{value}");
    if let Some(point) = text.find('.')
        && text.len() - point - 1 > 17
    {
        text = format!("{value:.17}");
        while text.ends_with('0') {
            text.pop();
        }
        if text.ends_with('.') {
            text.pop();
        }
    }
    if text == "-0" {
        text = "0".to_owned();
    }
    text
}

/// C's `isspace` in the C locale.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn starts_with_ignore_case(text: &[u8], prefix: &[u8]) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// The length of a decimal number at the front of `text` (digits, an optional point and
/// digits, at least one digit, an optional exponent with digits), and whether any digit of
/// its mantissa is not zero; `None` when there is no digit.
fn decimal_len(text: &[u8]) -> Option<(usize, bool)> {
    let mut position = 0;
    let mut digits = 0;
    let mut nonzero = false;
    while let Some(&byte) = text.get(position) {
        if byte.is_ascii_digit() {
            digits += 1;
            nonzero |= byte != b'0';
        } else if byte != b'.' || text[..position].contains(&b'.') {
            break;
        }
        position += 1;
    }
    if digits == 0 {
        return None;
    }
    if matches!(text.get(position), Some(b'e' | b'E')) {
        let mut exponent = position + 1;
        if matches!(text.get(exponent), Some(b'+' | b'-')) {
            exponent += 1;
        }
        let exponent_digits = text[exponent.min(text.len())..]
            .iter()
            .take_while(|byte| byte.is_ascii_digit())
            .count();
        if exponent_digits > 0 {
            position = exponent + exponent_digits;
        }
    }
    Some((position, nonzero))
}

/// A hexadecimal number (`0x1.8p3`) at the front of `text`: its magnitude, length and
/// whether its mantissa is non-zero; `None` when `text` does not start with `0x` and a hex
/// digit (then `strtod` reads the `0` alone, as a decimal).
fn hexadecimal(text: &[u8]) -> Option<(f64, usize, bool)> {
    if !(starts_with_ignore_case(text, b"0x")) {
        return None;
    }
    let mut position = 2;
    let mut mantissa = 0.0f64;
    let mut scale = 0i32;
    let mut digits = 0;
    let mut point = false;
    let mut nonzero = false;
    while let Some(&byte) = text.get(position) {
        if let Some(digit) = (byte as char).to_digit(16) {
            digits += 1;
            nonzero |= digit != 0;
            mantissa = mantissa * 16.0 + f64::from(digit);
            if point {
                scale -= 4;
            }
        } else if byte == b'.' && !point {
            point = true;
        } else {
            break;
        }
        position += 1;
    }
    if digits == 0 {
        return None;
    }
    if matches!(text.get(position), Some(b'p' | b'P')) {
        let mut exponent = position + 1;
        let negative = match text.get(exponent) {
            Some(b'-') => {
                exponent += 1;
                true
            }
            Some(b'+') => {
                exponent += 1;
                false
            }
            _ => false,
        };
        let run = text[exponent.min(text.len())..]
            .iter()
            .take_while(|byte| byte.is_ascii_digit())
            .count();
        if run > 0 {
            let mut power: i32 = 0;
            for &byte in &text[exponent..exponent + run] {
                power = power
                    .saturating_mul(10)
                    .saturating_add(i32::from(byte - b'0'));
            }
            scale = scale.saturating_add(if negative { -power } else { power });
            position = exponent + run;
        }
    }
    Some((mantissa * 2f64.powi(scale), position, nonzero))
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

    #[test]
    fn human_text_is_fixed_point_with_at_most_17_decimals() {
        assert_eq!(human_float(10.6), "10.6");
        assert_eq!(human_float(5200.0), "5200");
        assert_eq!(human_float(-0.0), "0");
        assert_eq!(human_float(1e20), "100000000000000000000");
        assert_eq!(human_float(1e-20), "0");
        assert_eq!(human_float(-1e-20), "0");
        assert_eq!(human_float(1.5e-10), "0.00000000015");
        assert_eq!(human_float(0.1 + 0.2), "0.30000000000000004");
    }
}
