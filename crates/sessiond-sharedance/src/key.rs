//! Which keys sharedance accepts.
//!
//! sharedance names a file after each key inside its storage directory, so its `validate_key`
//! keeps keys to printable ASCII without `/` (no paths out of the directory) and without `.`
//! (no `.` or `..`, and no clash with the `.key` temporary file a store writes first). sessiond
//! keeps the same rule, so any client that works with one works with the other.

/// Whether sharedance accepts `key`'s bytes: at least one, each in 32..=126 and none a `.` or
/// a `/`. The length limit is checked apart, from the header, before the key arrives.
pub(crate) fn is_valid(key: &[u8]) -> bool {
    !key.is_empty()
        && key
            .iter()
            .all(|&byte| (32..=126).contains(&byte) && byte != b'.' && byte != b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_ascii_is_valid() {
        assert!(is_valid(b"abc"));
        assert!(is_valid(b" "));
        assert!(is_valid(b"~"));
        assert!(is_valid(b"PHPSESSID-0123456789abcdef,x"));
    }

    #[test]
    fn dots_slashes_controls_and_high_bytes_are_not() {
        for bad in [
            &b""[..],
            b".",
            b"..",
            b"a.b",
            b"/",
            b"a/b",
            b"\x1f",
            b"\x7f",
            b"a\x00",
            b"\x80",
            b"\xff",
            b"a\n",
        ] {
            assert!(!is_valid(bad), "{bad:?}");
        }
    }
}
