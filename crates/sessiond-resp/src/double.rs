//! Doubles as Redis 7.2 and later write them (`d2string`): the shortest text that reads back
//! as the same number.
//!
//! Redis 7.0 wrote `%.17g` (`0.10000000000000001`); 7.2 moved to the shortest round-trip
//! digits (`0.1`), laid out by `fpconv_dtoa`'s rules, which this follows: integers within
//! ±2^62 as integers, other numbers in plain decimal while that is short and in scientific
//! notation (`1e+300`, `1.5e-7`) past that; `inf`, `-inf`, `nan`, `-0`.

use std::fmt::Write;

/// The text of a double, in a stack buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DoubleText {
    bytes: [u8; CAPACITY],
    len: usize,
}

/// Enough for the longest text: a sign, 17 digits, a point and up to 6 zeros, or an exponent.
const CAPACITY: usize = 32;

impl DoubleText {
    /// The text of `value`.
    pub(crate) fn new(value: f64) -> Self {
        let mut text = DoubleText {
            bytes: [0; CAPACITY],
            len: 0,
        };
        if value.is_nan() {
            text.push_all(b"nan");
        } else if value.is_infinite() {
            text.push_all(if value < 0.0 { b"-inf" } else { b"inf" });
        } else if value == 0.0 {
            text.push_all(if value.is_sign_negative() {
                b"-0"
            } else {
                b"0"
            });
        } else if let Some(integer) = as_integer(value) {
            text.push_all(itoa::Buffer::new().format(integer).as_bytes());
        } else {
            if value < 0.0 {
                text.push(b'-');
            }
            text.push_shortest(value.abs());
        }
        text
    }

    /// The text.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    /// `fpconv_dtoa`'s `emit_digits` for a positive finite `value`: its shortest digits, laid
    /// out by the size of its exponent.
    fn push_shortest(&mut self, value: f64) {
        // Rust's `{:e}` writes the shortest digits that read back as `value`: `d[.ddd]e[-]x`.
        let mut scientific = DoubleText {
            bytes: [0; CAPACITY],
            len: 0,
        };
        if write!(scientific, "{value:e}").is_err() {
            // Cannot happen: the longest such text is 24 bytes.
            self.push_all(b"nan");
            return;
        }
        let (mantissa, exponent) = split_exponent(scientific.as_bytes());
        let mut digits = [0u8; CAPACITY];
        let mut ndigits = 0;
        for &byte in mantissa.iter().filter(|byte| byte.is_ascii_digit()) {
            if let Some(slot) = digits.get_mut(ndigits) {
                *slot = byte;
                ndigits += 1;
            }
        }
        let digits = digits.get(..ndigits).unwrap_or_default();
        let count = i32::try_from(ndigits).unwrap_or(i32::MAX);
        // The value is `digits × 10^k`.
        let k = exponent - (count - 1);
        let magnitude = (k + count - 1).abs();
        if k >= 0 && magnitude < count + 7 {
            // A whole number written out in full.
            self.push_all(digits);
            for _ in 0..k {
                self.push(b'0');
            }
        } else if k < 0 && (k > -7 || magnitude < 4) {
            // A plain decimal fraction.
            let point = count + k;
            if point <= 0 {
                self.push_all(b"0.");
                for _ in 0..-point {
                    self.push(b'0');
                }
                self.push_all(digits);
            } else {
                let (whole, fraction) = digits.split_at(usize::try_from(point).unwrap_or(0));
                self.push_all(whole);
                self.push(b'.');
                self.push_all(fraction);
            }
        } else {
            let (first, rest) = digits.split_at(1.min(digits.len()));
            self.push_all(first);
            if !rest.is_empty() {
                self.push(b'.');
                self.push_all(rest);
            }
            self.push(b'e');
            self.push(if k + count - 1 < 0 { b'-' } else { b'+' });
            self.push_all(itoa::Buffer::new().format(magnitude).as_bytes());
        }
    }

    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    fn push_all(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.push(byte);
        }
    }
}

impl Write for DoubleText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Redis's `double2ll`: the value as an integer when it is one and within ±(2^63 − 1)/2, where
/// the conversion is exact.
fn as_integer(value: f64) -> Option<i64> {
    const BOUND: f64 = (i64::MAX / 2) as f64;
    if !(-BOUND..=BOUND).contains(&value) {
        return None;
    }
    let integer = value as i64;
    (integer as f64 == value).then_some(integer)
}

/// `d.ddde-x` split into the mantissa's text and the exponent.
fn split_exponent(text: &[u8]) -> (&[u8], i32) {
    match memchr::memchr(b'e', text) {
        Some(at) => {
            let (mantissa, exponent) = text.split_at(at);
            let exponent = std::str::from_utf8(exponent.get(1..).unwrap_or_default())
                .ok()
                .and_then(|exponent| exponent.parse().ok())
                .unwrap_or(0);
            (mantissa, exponent)
        }
        None => (text, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::DoubleText;

    fn text(value: f64) -> String {
        String::from_utf8_lossy(DoubleText::new(value).as_bytes()).into_owned()
    }

    #[test]
    fn special_values() {
        assert_eq!(text(f64::NAN), "nan");
        assert_eq!(text(f64::INFINITY), "inf");
        assert_eq!(text(f64::NEG_INFINITY), "-inf");
        assert_eq!(text(0.0), "0");
        assert_eq!(text(-0.0), "-0");
    }

    #[test]
    fn integers_within_two_to_the_62_are_integers() {
        assert_eq!(text(3.0), "3");
        assert_eq!(text(-42.0), "-42");
        // The double nearest 123456789012345678 (as redis-server 7.0.15's ZSCORE shows it,
        // 1.2345678901234568e+17, in full).
        assert_eq!(text(123_456_789_012_345_678.0), "123456789012345680");
        assert_eq!(text(4.0e18), "4000000000000000000");
    }

    #[test]
    fn large_whole_numbers_by_fpconv_rules() {
        // Past 2^62 `double2ll` gives up; `emit_digits` writes a whole number out in full while
        // the exponent is below the digit count plus 7.
        assert_eq!(text(1e19), "1e+19");
        assert_eq!(text(12_345_678_901_234_567e3), "12345678901234567000");
        assert_eq!(text(1.5e25), "1.5e+25");
        assert_eq!(text(1e300), "1e+300");
        assert_eq!(text(-1e300), "-1e+300");
        assert_eq!(text(f64::MAX), "1.7976931348623157e+308");
    }

    #[test]
    fn fractions_by_fpconv_rules() {
        assert_eq!(text(1.5), "1.5");
        assert_eq!(text(0.1), "0.1");
        assert_eq!(text(-0.1), "-0.1");
        assert_eq!(text(1234.5678), "1234.5678");
        assert_eq!(text(0.000015), "0.000015");
        assert_eq!(text(1e-6), "0.000001");
        assert_eq!(text(1e-7), "1e-7");
        assert_eq!(text(1.5e-7), "1.5e-7");
        assert_eq!(text(5e-324), "5e-324");
        assert_eq!(text(123.456e-2), "1.23456");
    }
}
