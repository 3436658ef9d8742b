//! The shape sizes and durations share in configuration: a whole number and an optional unit.

/// Splits `"64MiB"` into `(64, "MiB")` and `"30"` into `(30, "")`, the unit trimmed; `None`
/// when the text does not start with a number that fits in 64 bits.
pub(crate) fn number_and_unit(text: &str) -> Option<(u64, &str)> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    Some((number.parse().ok()?, unit.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_number_and_unit() {
        assert_eq!(number_and_unit(" 64 MiB "), Some((64, "MiB")));
        assert_eq!(number_and_unit("30"), Some((30, "")));
        assert_eq!(number_and_unit("ms"), None);
        assert_eq!(number_and_unit("-1"), None);
    }
}
