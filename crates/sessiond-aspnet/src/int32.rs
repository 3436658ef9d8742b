//! Numbers in request headers, read as the reference server reads them.

/// Parses `text` as .NET's `Int32.Parse(text, CultureInfo.InvariantCulture)` does
/// (`NumberStyles.Integer`): optional leading and trailing white space, an optional `+` or `-`,
/// then at least one decimal digit, and the value must fit an `i32`. Anything else is `None`,
/// where .NET throws.
pub(crate) fn parse(text: &[u8]) -> Option<i32> {
    let text = trim_white(text);
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    // Accumulate towards the sign so that i32::MIN, whose magnitude is no i32, parses too.
    let mut value: i32 = 0;
    for &byte in digits {
        let digit = i32::from(byte.wrapping_sub(b'0'));
        if !(0..=9).contains(&digit) {
            return None;
        }
        value = value.checked_mul(10)?;
        value = if negative {
            value.checked_sub(digit)?
        } else {
            value.checked_add(digit)?
        };
    }
    Some(value)
}

/// .NET's white space for number parsing: tab, line feed, vertical tab, form feed, carriage
/// return and space. (Rust's `trim_ascii` leaves out the vertical tab.)
fn trim_white(text: &[u8]) -> &[u8] {
    let white = |byte: &u8| matches!(byte, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ');
    let start = text.iter().position(|b| !white(b)).unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|b| !white(b))
        .map_or(start, |last| last + 1);
    &text[start..end]
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn plain_and_signed_numbers() {
        assert_eq!(parse(b"0"), Some(0));
        assert_eq!(parse(b"20"), Some(20));
        assert_eq!(parse(b"+7"), Some(7));
        assert_eq!(parse(b"-1"), Some(-1));
        assert_eq!(parse(b"-0"), Some(0));
        assert_eq!(parse(b"000000000000000042"), Some(42));
    }

    #[test]
    fn white_space_around_the_number_is_allowed() {
        assert_eq!(parse(b" 5"), Some(5));
        assert_eq!(parse(b"5 \t"), Some(5));
        assert_eq!(parse(b"\x0b\x0c\r\n -3 \r\n"), Some(-3));
    }

    #[test]
    fn the_full_i32_range_and_no_more() {
        assert_eq!(parse(b"2147483647"), Some(i32::MAX));
        assert_eq!(parse(b"-2147483648"), Some(i32::MIN));
        assert_eq!(parse(b"2147483648"), None);
        assert_eq!(parse(b"-2147483649"), None);
        assert_eq!(parse(b"99999999999999999999"), None);
    }

    #[test]
    fn anything_else_is_refused() {
        for text in [
            &b""[..],
            b" ",
            b"+",
            b"-",
            b"+-1",
            b"--1",
            b"- 1",
            b"1 2",
            b"1.0",
            b"1e3",
            b"0x10",
            b"1,000",
            b"(1)",
            b"1-",
            b"abc",
            b"\xd9\xa1",
        ] {
            assert_eq!(parse(text), None, "{:?}", String::from_utf8_lossy(text));
        }
    }
}
