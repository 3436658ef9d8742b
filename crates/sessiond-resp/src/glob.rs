//! Redis's glob matching (`stringmatchlen` in its `util.c`), for `SCAN ... MATCH`, `KEYS` and
//! `CONFIG GET`.
//!
//! The rules, as Redis 7.0 applies them: `*` any run of bytes, `?` one byte, `[abc]`, `[^abc]`
//! and `[a-z]` (ends in either order) one byte of a class, `\x` the byte `x` itself. An
//! unterminated class runs to the end of the pattern. Bytes compare as C's signed `char`, so
//! a range such as `[a-\xff]` matches what Redis matches. Redis gives up (no match) past 1000
//! nested `*`s, and stops trying longer matches for an earlier `*` once a later one failed
//! everywhere, which keeps hostile patterns from taking exponential time; both are kept.

/// Past this many nested `*`s a pattern matches nothing (Redis's protection against
/// patterns built to exhaust the stack).
const MAX_NESTING: u32 = 1000;

/// Whether `string` matches `pattern`; `nocase` folds ASCII letters as `tolower` does.
pub(crate) fn matches(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_from(pattern, string, nocase, &mut skip_longer, 0)
}

/// The byte at `index`, or the 0 that ends every Redis string when `index` is past the end:
/// the C code reads that terminator in a few places and its answers depend on it.
fn at(bytes: &[u8], index: usize) -> u8 {
    bytes.get(index).copied().unwrap_or(0)
}

/// A byte as C's signed `char`, widened: how Redis compares bytes in a range.
fn signed(byte: u8) -> i32 {
    i32::from(byte as i8)
}

/// C's `tolower` on a `char` value.
fn lower(value: i32) -> i32 {
    if (i32::from(b'A')..=i32::from(b'Z')).contains(&value) {
        value + 32
    } else {
        value
    }
}

fn same(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        lower(signed(a)) == lower(signed(b))
    } else {
        a == b
    }
}

/// `stringmatchlen_impl`, with positions instead of moving pointers: the pattern left is
/// `pattern[p..]`, the string left `string[s..]`.
fn match_from(
    pattern: &[u8],
    string: &[u8],
    nocase: bool,
    skip_longer: &mut bool,
    nesting: u32,
) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }
    let (mut p, mut s) = (0usize, 0usize);
    while p < pattern.len() && s < string.len() {
        match pattern[p] {
            b'*' => {
                while p < pattern.len() && at(pattern, p + 1) == b'*' {
                    p += 1;
                }
                if pattern.len() - p == 1 {
                    return true;
                }
                while s < string.len() {
                    let rest = pattern.get(p + 1..).unwrap_or_default();
                    let tail = string.get(s..).unwrap_or_default();
                    if match_from(rest, tail, nocase, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s += 1;
                }
                // No match for the rest of the pattern from anywhere in the rest of the
                // string: no longer match of an earlier `*` can help either.
                *skip_longer = true;
                return false;
            }
            b'?' => s += 1,
            b'[' => {
                p += 1;
                let negate = at(pattern, p) == b'^';
                if negate {
                    p += 1;
                }
                let c = at(string, s);
                let mut matched = false;
                loop {
                    let left = pattern.len().saturating_sub(p);
                    let here = at(pattern, p);
                    if here == b'\\' && left >= 2 {
                        p += 1;
                        if at(pattern, p) == c {
                            matched = true;
                        }
                    } else if here == b']' {
                        break;
                    } else if left == 0 {
                        // An unterminated class: step back so the loop's step lands at the
                        // end, as Redis does.
                        p -= 1;
                        break;
                    } else if left >= 3 && at(pattern, p + 1) == b'-' {
                        let (mut start, mut end) = (signed(here), signed(at(pattern, p + 2)));
                        let mut byte = signed(c);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        if nocase {
                            start = lower(start);
                            end = lower(end);
                            byte = lower(byte);
                        }
                        p += 2;
                        if byte >= start && byte <= end {
                            matched = true;
                        }
                    } else if same(here, c, nocase) {
                        matched = true;
                    }
                    p += 1;
                }
                if negate {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s += 1;
            }
            first => {
                let literal = if first == b'\\' && pattern.len() - p >= 2 {
                    p += 1;
                    pattern[p]
                } else {
                    first
                };
                if !same(literal, string[s], nocase) {
                    return false;
                }
                s += 1;
            }
        }
        p += 1;
        if s == string.len() {
            while at(pattern, p) == b'*' {
                p += 1;
            }
            break;
        }
    }
    p >= pattern.len() && s == string.len()
}

#[cfg(test)]
mod tests {
    use super::matches;

    fn m(pattern: &str, string: &str) -> bool {
        matches(pattern.as_bytes(), string.as_bytes(), false)
    }

    #[test]
    fn wildcards() {
        // Redis 7.0 never matches an empty string against a non-empty pattern, not even
        // `*` (SCAN and KEYS skip matching for `*` alone, so empty keys still show there).
        assert!(!m("*", ""));
        assert!(m("a*", "a"));
        assert!(m("*", "anything"));
        assert!(m("sess:*", "sess:abc"));
        assert!(!m("sess:*", "ses:abc"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("**a**", "xxa"));
        assert!(!m("", "a"));
        assert!(m("", ""));
        assert!(!m("?", ""));
    }

    #[test]
    fn classes() {
        assert!(m("h[ae]llo", "hello"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hbllo"), "ends in either order");
        assert!(m("[\\]]", "]"));
        // An unterminated class takes the rest of the pattern.
        assert!(m("a[bc", "ab"));
        assert!(m("a[bc", "ac"));
        assert!(!m("a[bc", "ad"));
    }

    #[test]
    fn escapes_and_case() {
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("a\\", "a\\"));
        assert!(matches(b"HeLLo", b"hello", true));
        assert!(!matches(b"HeLLo", b"hello", false));
        assert!(matches(b"[A-C]x", b"bX", true));
    }

    #[test]
    fn bytes_compare_as_signed_chars() {
        // 0x80..0xff are negative as C chars: below 'a', so [a-\xff] holds only what lies
        // between -1 and 'a'.
        assert!(matches(b"[\xff-a]", b"\x00", false));
        assert!(!matches(b"[\xff-a]", b"b", false));
        assert!(matches(b"*\xfe", b"k\xfe", false));
    }

    #[test]
    fn hostile_patterns_end_quickly() {
        let pattern = "a*".repeat(40) + "b";
        let string = "a".repeat(60);
        let start = std::time::Instant::now();
        assert!(!m(&pattern, &string));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        // Nesting past the limit matches nothing, without a stack overflow.
        let deep = "*?".repeat(2000);
        assert!(!m(&deep, &"x".repeat(3000)));
    }
}
