//! The x87 80-bit extended double (`long double` on x86-64 Linux), as far as Redis's
//! `HINCRBYFLOAT` uses it: `strtold` reading a number, one addition, and `%.17Lf` writing the
//! sum, each exactly as glibc rounds them (to nearest, ties to even), so that the text stored
//! is the text redis-server 7.0 on x86-64 stores, digit for digit.
//!
//! Values are kept as `significand × 2^exponent` with a 64-bit significand and worked on
//! with big integers: only the rounding points are those of the hardware type, everything in
//! between is exact.

use num_bigint::BigUint;

use crate::float::{Number, scan};

/// Bits of the significand (the integer bit is explicit in this format).
const PRECISION: u64 = 64;
/// The exponent of the least significant bit of the smallest subnormal: 2^-16445.
const MIN_EXPONENT: i64 = -16445;
/// The exponent of the least significant bit of the largest finite value, whose top bit is
/// 2^16383.
const MAX_EXPONENT: i64 = 16383 - (PRECISION as i64 - 1);
/// Redis's `MAX_LONG_DOUBLE_CHARS`: `string2ld` refuses a text this long or longer.
const MAX_CHARS: usize = 5 * 1024;

/// A finite or infinite extended double (NaN is never needed: Redis refuses it on input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LongDouble {
    negative: bool,
    magnitude: Magnitude,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Magnitude {
    Zero,
    /// `significand × 2^exponent`, the significand below 2^64.
    Finite {
        significand: u64,
        exponent: i64,
    },
    Infinite,
}

impl LongDouble {
    /// Zero.
    pub const ZERO: LongDouble = LongDouble {
        negative: false,
        magnitude: Magnitude::Zero,
    };

    /// A whole text as Redis's `string2ld` reads it: shorter than 5 KiB, no leading white
    /// space, `strtold`'s syntax to the end, not NaN, and neither too large for the type nor a
    /// non-zero number too small for it (both `ERANGE`). Infinities (`inf`) are taken.
    pub fn parse(text: &[u8]) -> Option<LongDouble> {
        if text.is_empty() || text.len() >= MAX_CHARS {
            return None;
        }
        let scanned = scan(text);
        if scanned.len != text.len() || scanned.leading_space {
            return None;
        }
        let negative = scanned.negative;
        let (value, out_of_range) = match scanned.number {
            Number::Nothing | Number::NaN => return None,
            Number::Infinity => (
                LongDouble {
                    negative,
                    magnitude: Magnitude::Infinite,
                },
                false,
            ),
            Number::Decimal {
                digits, exponent, ..
            } => decimal(negative, digits, exponent),
            Number::Hex { digits, exponent } => hexadecimal(negative, digits, exponent),
        };
        (!out_of_range).then_some(value)
    }

    /// Whether the value is finite.
    pub fn is_finite(self) -> bool {
        self.magnitude != Magnitude::Infinite
    }

    /// The sum rounded to the type, as the hardware adds; `None` for NaN (infinities of
    /// opposite signs).
    pub fn checked_add(self, other: LongDouble) -> Option<LongDouble> {
        match (self.magnitude, other.magnitude) {
            (Magnitude::Infinite, Magnitude::Infinite) if self.negative != other.negative => None,
            (Magnitude::Infinite, _) => Some(self),
            (_, Magnitude::Infinite) => Some(other),
            (Magnitude::Zero, _) => Some(other),
            (_, Magnitude::Zero) => Some(self),
            (
                Magnitude::Finite {
                    significand: a,
                    exponent: ea,
                },
                Magnitude::Finite {
                    significand: b,
                    exponent: eb,
                },
            ) => {
                let low = ea.min(eb);
                // Exponents lie within the type's range, so these shifts are bounded.
                let a = BigUint::from(a) << (ea - low) as u64;
                let b = BigUint::from(b) << (eb - low) as u64;
                let (negative, sum) = if self.negative == other.negative {
                    (self.negative, a + b)
                } else if a >= b {
                    (self.negative, a - b)
                } else {
                    (other.negative, b - a)
                };
                Some(round(negative, sum, BigUint::from(1u32), low).0)
            }
        }
    }

    /// The text Redis stores for a sum (`ld2string` in its human mode): `%.17Lf`, then the
    /// zeros after the point and a bare point removed, and `-0` written `0`. `None` for an
    /// infinity (Redis refuses those sums before writing them).
    pub fn human_text(self) -> Option<String> {
        let (significand, exponent) = match self.magnitude {
            Magnitude::Infinite => return None,
            Magnitude::Zero => (0, 0),
            Magnitude::Finite {
                significand,
                exponent,
            } => (significand, exponent),
        };
        // The value in units of 10^-17, rounded to nearest, ties to even.
        let scaled = BigUint::from(significand) * BigUint::from(10u32).pow(17);
        let units = if exponent >= 0 {
            scaled << exponent as u64
        } else {
            let shift = exponent.unsigned_abs();
            let quotient = &scaled >> shift;
            let remainder = &scaled - (&quotient << shift);
            let half = BigUint::from(1u32) << (shift - 1);
            let up = remainder > half || (remainder == half && quotient.bit(0));
            if up { quotient + 1u32 } else { quotient }
        };
        let digits = units.to_string();
        let digits = format!("{digits:0>18}");
        let (whole, fraction) = digits.split_at(digits.len() - 17);
        let fraction = fraction.trim_end_matches('0');
        let mut text = String::with_capacity(digits.len() + 2);
        if self.negative {
            text.push('-');
        }
        text.push_str(whole);
        if !fraction.is_empty() {
            text.push('.');
            text.push_str(fraction);
        }
        if text == "-0" {
            text = "0".to_owned();
        }
        Some(text)
    }
}

/// The value of decimal `digits` (with at most one point) times ten to `exponent`, rounded,
/// and whether `strtold` would report it out of range.
fn decimal(negative: bool, digits: &[u8], exponent: i64) -> (LongDouble, bool) {
    let (mantissa, fraction_digits) = without_point(digits);
    let mantissa: Vec<u8> = mantissa
        .into_iter()
        .skip_while(|&digit| digit == b'0')
        .collect();
    if mantissa.is_empty() {
        return (zero(negative), false);
    }
    let power = exponent.saturating_sub(fraction_digits as i64);
    let magnitude = power.saturating_add(mantissa.len() as i64);
    // Beyond 10^4933 every value overflows; below 10^-4952 every one rounds to zero. Deciding
    // these first keeps the powers of ten below computed bounded by the input's length.
    if magnitude > 4934 {
        return (infinite(negative), true);
    }
    if magnitude < -4952 {
        return (zero(negative), true);
    }
    let value = BigUint::parse_bytes(&mantissa, 10).unwrap_or_default();
    let ten = BigUint::from(10u32);
    if power >= 0 {
        round(
            negative,
            value * ten.pow(power as u32),
            BigUint::from(1u32),
            0,
        )
    } else {
        round(negative, value, ten.pow(power.unsigned_abs() as u32), 0)
    }
}

/// The value of hexadecimal `digits` (with at most one point) times two to `exponent`.
fn hexadecimal(negative: bool, digits: &[u8], exponent: i64) -> (LongDouble, bool) {
    let (mantissa, fraction_digits) = without_point(digits);
    let value = BigUint::parse_bytes(&mantissa, 16).unwrap_or_default();
    if value == BigUint::ZERO {
        return (zero(negative), false);
    }
    let power = exponent.saturating_sub(4 * fraction_digits as i64);
    let top = power.saturating_add(value.bits() as i64);
    if top > 16390 {
        return (infinite(negative), true);
    }
    if top < -16450 {
        return (zero(negative), true);
    }
    round(negative, value, BigUint::from(1u32), power)
}

/// The digits of a mantissa without its point, and how many came after the point.
fn without_point(digits: &[u8]) -> (Vec<u8>, usize) {
    let fraction_digits = digits
        .iter()
        .position(|&byte| byte == b'.')
        .map_or(0, |point| digits.len() - point - 1);
    let mantissa = digits
        .iter()
        .copied()
        .filter(|&byte| byte != b'.')
        .collect();
    (mantissa, fraction_digits)
}

/// The extended double nearest to `numerator / denominator × 2^scale` (ties to even), with
/// subnormals, and whether `strtold` would report it out of range (an overflow, or a non-zero
/// value that rounds to zero).
fn round(
    negative: bool,
    numerator: BigUint,
    denominator: BigUint,
    scale: i64,
) -> (LongDouble, bool) {
    if numerator == BigUint::ZERO {
        return (zero(negative), false);
    }
    // numerator / denominator lies in [2^(k-1), 2^(k+1)).
    let k = numerator.bits() as i64 - denominator.bits() as i64;
    let mut shift = PRECISION as i64 - k;
    let (mut quotient, mut remainder) = divide(&numerator, &denominator, shift);
    if quotient.bits() > PRECISION {
        shift -= 1;
        (quotient, remainder) = divide(&numerator, &denominator, shift);
    }
    if scale - shift < MIN_EXPONENT {
        // Subnormal: fewer significant bits, the last one at 2^MIN_EXPONENT.
        shift = scale - MIN_EXPONENT;
        (quotient, remainder) = divide(&numerator, &denominator, shift);
    }
    let mut exponent = scale - shift;
    // The divisor the remainder is against: the denominator, scaled as the numerator was not.
    let divisor = if shift >= 0 {
        denominator
    } else {
        denominator << shift.unsigned_abs()
    };
    let twice = remainder << 1u32;
    if twice > divisor || (twice == divisor && quotient.bit(0)) {
        quotient += 1u32;
    }
    if quotient.bits() > PRECISION {
        quotient >>= 1u32;
        exponent += 1;
    }
    let significand = quotient.iter_u64_digits().next().unwrap_or(0);
    if significand == 0 {
        return (zero(negative), true);
    }
    if exponent > MAX_EXPONENT {
        return (infinite(negative), true);
    }
    let value = LongDouble {
        negative,
        magnitude: Magnitude::Finite {
            significand,
            exponent,
        },
    };
    (value, false)
}

/// `floor(numerator × 2^shift / denominator)` and the remainder (against the denominator
/// shifted left by `-shift` when `shift` is negative).
fn divide(numerator: &BigUint, denominator: &BigUint, shift: i64) -> (BigUint, BigUint) {
    let (numerator, denominator) = if shift >= 0 {
        (numerator << shift as u64, denominator.clone())
    } else {
        (numerator.clone(), denominator << shift.unsigned_abs())
    };
    let quotient = &numerator / &denominator;
    let remainder = numerator - &quotient * &denominator;
    (quotient, remainder)
}

fn zero(negative: bool) -> LongDouble {
    LongDouble {
        negative,
        magnitude: Magnitude::Zero,
    }
}

fn infinite(negative: bool) -> LongDouble {
    LongDouble {
        negative,
        magnitude: Magnitude::Infinite,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `HINCRBYFLOAT` of a field holding `stored` by `increment`, as the engine computes it.
    fn sum(stored: &str, increment: &str) -> Result<String, &'static str> {
        let stored = LongDouble::parse(stored.as_bytes()).ok_or("hash value is not a float")?;
        let increment = LongDouble::parse(increment.as_bytes()).ok_or("not a valid float")?;
        stored
            .checked_add(increment)
            .and_then(LongDouble::human_text)
            .ok_or("increment would produce NaN or Infinity")
    }

    #[test]
    fn sums_are_redis_7_0s_digit_for_digit() {
        // (stored, increment, what redis-server 7.0.15 on x86-64 answered)
        let cases = [
            ("0.1", "0.2", "0.3"),
            ("10.5", "0.1", "10.6"),
            ("9223372036854775807", "0", "9223372036854775807"),
            ("9223372036854775807", "1", "9223372036854775808"),
            ("12345.678", "0.001", "12345.67900000000000027"),
            ("1e-20", "0", "0"),
            ("-5", "0.0000000000000000001", "-5"),
            ("3", "-3", "0"),
            ("-1e-18", "0", "0"),
            ("-0.000000000000000006", "0", "-0.00000000000000001"),
            ("0.000000000000000005", "0", "0"),
            ("0.000000000000000015", "0", "0.00000000000000002"),
            ("0.000000000000000025", "0", "0.00000000000000002"),
            (
                "123456789012345678901234567890",
                "1",
                "123456789012345678899921813504",
            ),
            ("0x1p-16445", "0", "0"),
            ("5.0e3", "2.0e2", "5200"),
            (
                "0.3333333333333333333333333",
                "0.3333333333333333333333333",
                "0.66666666666666667",
            ),
            ("1", "1e-17", "1.00000000000000001"),
            ("1", "5e-18", "1"),
            ("1", "1.5e-17", "1.00000000000000001"),
            ("100", "0.00000000000000001", "100.00000000000000001"),
            ("1e19", "1", "10000000000000000001"),
            ("1e20", "1", "100000000000000000000"),
            ("2.5", "-2.5", "0"),
            ("-2.5", "1", "-1.5"),
            (".5", "5.", "5.5"),
            ("+1", "-2", "-1"),
            ("0x10", "0x.8p1", "17"),
            ("00001", "0", "1"),
            ("1e-400", "0", "0"),
            ("18446744073709551615", "0", "18446744073709551615"),
            ("18446744073709551617", "0", "18446744073709551616"),
            ("0.1", "0.7", "0.8"),
        ];
        for (stored, increment, expected) in cases {
            assert_eq!(
                sum(stored, increment).as_deref(),
                Ok(expected),
                "{stored} + {increment}"
            );
        }
        assert_eq!(
            sum("1e308", "1e308").unwrap(),
            "199999999999999999993371759311691291321120199694831134415594095989843469737676123\
             744200253843777078640893494450108026446304269499187921167194841628860392837535918\
             200039206381557326219209014213335878306791577877829121087126122536729803237260434\
             173178506889763247582601711514636284849020905456510092687857156096"
        );
        let huge = sum("1.1e4932", "-1").unwrap();
        assert_eq!(huge.len(), 4933);
        assert!(huge.starts_with("1099999999999999999974373107528241817659030869279"));
        assert!(huge.ends_with("3454529957267178522323242088136704"));
        let largest = sum("1.18973149535723176503e+4932", "0").unwrap();
        assert!(largest.starts_with("118973149535723176502126385303097020516906332229462"));
    }

    #[test]
    fn refuses_what_redis_refuses() {
        for (stored, increment, error) in [
            (
                "1e4932",
                "1e4932",
                "increment would produce NaN or Infinity",
            ),
            ("inf", "1", "increment would produce NaN or Infinity"),
            ("0x1p-16446", "0", "hash value is not a float"),
            ("1e-4951", "0", "hash value is not a float"),
            ("1e-4952", "0", "hash value is not a float"),
            ("  1", "0", "hash value is not a float"),
            ("1e", "0", "hash value is not a float"),
            ("1e5000", "0", "hash value is not a float"),
            ("nan", "0", "hash value is not a float"),
            ("1", "1\0", "not a valid float"),
            ("1", "", "not a valid float"),
        ] {
            assert_eq!(sum(stored, increment), Err(error), "{stored} + {increment}");
        }
        // Redis's 5 KiB limit on the text, whatever it spells.
        let long = |len: usize| format!("1.{}", "0".repeat(len - 2));
        assert_eq!(
            LongDouble::parse(long(MAX_CHARS - 1).as_bytes()),
            LongDouble::parse(b"1")
        );
        assert!(LongDouble::parse(long(MAX_CHARS).as_bytes()).is_none());
        assert!(!LongDouble::parse(b"-inf").unwrap().is_finite());
        assert!(LongDouble::parse(b"1e999999999999999999999").is_none());
        assert_eq!(LongDouble::parse(b"0e999999999999"), Some(LongDouble::ZERO));
        assert!(LongDouble::parse(b"1e-99999999999999999").is_none());
    }
}
