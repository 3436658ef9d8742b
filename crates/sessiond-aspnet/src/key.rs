//! The session key a request names: its request-target, decoded as the reference server does.
//!
//! The reference builds the key as `HttpUtility.UrlDecode(RawUrl)`, after dropping one `/` from
//! a target that starts with `//` (ASP.NET 1.1 clients prepend an extra one). sessiond drops it
//! after decoding instead, so a target that a proxy or HTTP library gave a leading `/` in front
//! of the .NET 4 client's `%2f…` names the same session; real clients' keys (an application id
//! starts with one `/`) are the same under both rules. The whole target
//! is the key: it is never split on `/` (the application's Base64 hash may hold `/`), and a
//! `?query` stays part of it, since `RawUrl` keeps it.
//!
//! `UrlDecode` turns `+` into a space, `%XX` into the byte `XX` and `%uXXXX` into that UTF-16
//! unit; an escape that is not well formed stays as it is. Keys here are bytes, so a `%uXXXX`
//! unit becomes its UTF-8 bytes (the bytes `%XX` escapes of the same character give), and a
//! high and low surrogate escaped one after the other become the character they encode. A lone
//! surrogate stays literal: no character encodes it. `%XX` bytes that are not UTF-8 are kept as
//! they are, where .NET would turn them into U+FFFD; no client sends them.

/// The decoded key of `target`: `target` itself when nothing in it needs decoding, otherwise
/// the decoded bytes, written into `scratch`.
pub(crate) fn decode<'a>(target: &'a [u8], scratch: &'a mut Vec<u8>) -> &'a [u8] {
    let decoded: &'a [u8] = if memchr::memchr2(b'%', b'+', target).is_none() {
        target
    } else {
        scratch.clear();
        url_decode(target, scratch);
        scratch
    };
    match decoded {
        [b'/', rest @ ..] if rest.starts_with(b"/") => rest,
        _ => decoded,
    }
}

/// Appends `text` decoded as .NET's `HttpUtility.UrlDecode` to `out`.
fn url_decode(text: &[u8], out: &mut Vec<u8>) {
    out.reserve(text.len());
    let mut pos = 0;
    while let Some(found) = memchr::memchr2(b'%', b'+', &text[pos..]) {
        let at = pos + found;
        out.extend_from_slice(&text[pos..at]);
        let (decoded, used) = escape(&text[at..]);
        match decoded {
            Decoded::Byte(byte) => out.push(byte),
            Decoded::Char(ch) => out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes()),
        }
        pos = at + used;
    }
    out.extend_from_slice(&text[pos..]);
}

/// What one `+` or `%` sequence stands for.
enum Decoded {
    Byte(u8),
    Char(char),
}

/// Decodes the sequence at the start of `text`, which starts with `+` or `%`: what it stands
/// for and how many bytes it takes. A `%` that starts no valid escape stands for itself.
fn escape(text: &[u8]) -> (Decoded, usize) {
    match text {
        [b'+', ..] => (Decoded::Byte(b' '), 1),
        [b'%', b'u', rest @ ..] => match unit(rest) {
            Some(unit) => match char::from_u32(unit) {
                Some(ch) => (Decoded::Char(ch), 6),
                None => surrogate_pair(unit, &rest[4..])
                    .map_or((Decoded::Byte(b'%'), 1), |ch| (Decoded::Char(ch), 12)),
            },
            None => (Decoded::Byte(b'%'), 1),
        },
        [b'%', high, low, ..] => match (hex(*high), hex(*low)) {
            (Some(high), Some(low)) => (Decoded::Byte(high << 4 | low), 3),
            _ => (Decoded::Byte(b'%'), 1),
        },
        _ => (Decoded::Byte(b'%'), 1),
    }
}

/// The character a high surrogate `high` and a `%uXXXX` low surrogate at the start of `rest`
/// encode together.
fn surrogate_pair(high: u32, rest: &[u8]) -> Option<char> {
    let low = rest.strip_prefix(b"%u").and_then(unit)?;
    if !(0xd800..0xdc00).contains(&high) || !(0xdc00..0xe000).contains(&low) {
        return None;
    }
    char::from_u32(0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00))
}

/// The UTF-16 unit four hex digits at the start of `text` give.
fn unit(text: &[u8]) -> Option<u32> {
    let digits = text.get(..4)?;
    digits.iter().try_fold(0u32, |unit, &digit| {
        Some(unit << 4 | u32::from(hex(digit)?))
    })
}

/// A hex digit's value, either case.
fn hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::decode;

    fn decoded(target: &str) -> String {
        let mut scratch = Vec::new();
        String::from_utf8_lossy(decode(target.as_bytes(), &mut scratch)).into_owned()
    }

    #[test]
    fn the_net4_client_target_decodes_to_the_application_path_and_session_id() {
        assert_eq!(
            decoded(
                "%2fLM%2fW3SVC%2f1%2fROOT%2fshop(sx01GGAfrT%2fXm%2fAHJShXDlwTYPCa%2f39Yvs6vMn0QUyE%3d)%2f2bxkcwnmq1yqhqv1ozrcc5x0"
            ),
            "/LM/W3SVC/1/ROOT/shop(sx01GGAfrT/Xm/AHJShXDlwTYPCa/39Yvs6vMn0QUyE=)/2bxkcwnmq1yqhqv1ozrcc5x0"
        );
    }

    #[test]
    fn escapes_of_either_case_and_plus() {
        assert_eq!(decoded("a%2fb%2Fc"), "a/b/c");
        assert_eq!(decoded("a+b"), "a b");
        assert_eq!(decoded("%2b"), "+");
        assert_eq!(decoded("%25%32%66"), "%2f", "decoded once, not twice");
        assert_eq!(decoded("%c3%a9"), "é");
    }

    #[test]
    fn unicode_escapes_become_utf8() {
        assert_eq!(decoded("%u0041"), "A");
        assert_eq!(decoded("%u00e9"), "é");
        assert_eq!(decoded("%u00E9"), decoded("%c3%a9"));
        assert_eq!(decoded("%u20AC!"), "€!");
        assert_eq!(decoded("%ud83d%ude00"), "😀");
    }

    #[test]
    fn bad_escapes_stay_literal() {
        assert_eq!(decoded("%"), "%");
        assert_eq!(decoded("a%"), "a%");
        assert_eq!(decoded("%2"), "%2");
        assert_eq!(decoded("%zz"), "%zz");
        assert_eq!(decoded("%g1%2"), "%g1%2");
        assert_eq!(decoded("%u004"), "%u004");
        assert_eq!(decoded("%u004g"), "%u004g");
        // .NET only knows a lower-case `u`; `%U0` is no two-digit escape either.
        assert_eq!(decoded("%U0041"), "%U0041");
        // Lone surrogates name no character.
        assert_eq!(decoded("%ud800"), "%ud800");
        assert_eq!(decoded("%udc00x"), "%udc00x");
        assert_eq!(decoded("%ud800%u0041"), "%ud800A");
        assert_eq!(decoded("%%41"), "%A");
    }

    #[test]
    fn one_slash_of_a_leading_pair_is_dropped_before_decoding() {
        assert_eq!(decoded("//app/sid"), "/app/sid");
        assert_eq!(decoded("///app"), "//app");
        assert_eq!(decoded("/app/sid"), "/app/sid");
        assert_eq!(decoded("%2f%2fapp"), "/app");
        assert_eq!(decoded("/%2fapp"), "/app");
        assert_eq!(decoded("//"), "/");
    }

    #[test]
    fn the_query_is_part_of_the_key() {
        assert_eq!(decoded("/app/sid?x=1+2"), "/app/sid?x=1 2");
    }

    #[test]
    fn targets_without_escapes_are_borrowed() {
        let target = b"/app/sid";
        let mut scratch = Vec::new();
        assert!(std::ptr::eq(decode(target, &mut scratch), &target[..]));
        assert!(scratch.is_empty());
    }
}
