//! Numbers as C's `printf("%.<P>g")` writes them: how Redis turns a Lua number into a
//! command argument (`%.17g`) and how cjson writes one (`%.14g`).

/// `value` as `printf("%.{precision}g", value)` writes it with glibc.
pub(crate) fn format_g(value: f64, precision: usize) -> String {
    let precision = precision.max(1);
    if value.is_nan() {
        return if value.is_sign_negative() {
            "-nan"
        } else {
            "nan"
        }
        .into();
    }
    if value.is_infinite() {
        return if value < 0.0 { "-inf" } else { "inf" }.into();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let scientific = format!("{:.*e}", precision - 1, value);
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    if exponent >= -4 && exponent < precision as i64 {
        let decimals = usize::try_from(precision as i64 - 1 - exponent).unwrap_or(0);
        let fixed = format!("{value:.decimals$}");
        trim_zeros(&fixed).to_owned()
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!(
            "{}e{sign}{:02}",
            trim_zeros(mantissa),
            exponent.unsigned_abs()
        )
    }
}

/// Drops trailing zeros after a decimal point, and the point if nothing follows it.
fn trim_zeros(text: &str) -> &str {
    if !text.contains('.') {
        return text;
    }
    text.trim_end_matches('0').trim_end_matches('.')
}

#[cfg(test)]
mod tests {
    use super::format_g;

    #[test]
    fn like_printf() {
        let g17 = |value| format_g(value, 17);
        assert_eq!(g17(3.0), "3");
        assert_eq!(g17(0.1), "0.10000000000000001");
        assert_eq!(g17(1e20), "1e+20");
        assert_eq!(g17(1.5), "1.5");
        assert_eq!(g17(-2.5e-7), "-2.4999999999999999e-07");
        assert_eq!(g17(123456789.0), "123456789");
        assert_eq!(g17(0.0001), "0.0001");
        assert_eq!(g17(f64::INFINITY), "inf");
        assert_eq!(g17(-0.0), "-0");
        let g14 = |value| format_g(value, 14);
        assert_eq!(g14(12345678901234567.0), "1.2345678901235e+16");
        assert_eq!(g14(0.1), "0.1");
        assert_eq!(g14(1e300), "1e+300");
        assert_eq!(g14(1500.0), "1500");
    }
}
