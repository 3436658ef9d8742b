//! memcached's base64, for meta-command keys sent with the `b` flag.
//!
//! A port of memcached's `base64.c` rather than a general-purpose codec, because clients see its
//! quirks: characters outside the alphabet are skipped, not refused; decoding stops at the first
//! padded block; and keys echoed back with `k` are re-encoded, so `bT!E=` comes back as `bTE=`.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Marks a byte outside the alphabet.
const SKIP: u8 = 0x80;

/// Decode table: the alphabet's values, 0 for `=`, [`SKIP`] for everything else.
const DECODE: [u8; 256] = {
    let mut table = [SKIP; 256];
    let mut index = 0;
    while index < ALPHABET.len() {
        table[ALPHABET[index] as usize] = index as u8;
        index += 1;
    }
    table[b'=' as usize] = 0;
    table
};

/// The most bytes [`decode`] can produce from `len` input bytes.
pub(crate) fn decoded_capacity(len: usize) -> usize {
    len / 4 * 3
}

/// Decodes `src` into `out` as memcached does, returning the decoded length, or `None` where
/// memcached's decoder returns 0 (no alphabet characters, a count not a multiple of four,
/// bad padding, or an empty result). `out` must hold [`decoded_capacity`] bytes.
pub(crate) fn decode(src: &[u8], out: &mut [u8]) -> Option<usize> {
    let count = src
        .iter()
        .filter(|&&byte| DECODE[byte as usize] != SKIP)
        .count();
    if count == 0 || count % 4 != 0 || out.len() < count / 4 * 3 {
        return None;
    }
    let mut written = 0;
    let mut block = [0u8; 4];
    let mut filled = 0;
    let mut pad = 0;
    for &byte in src {
        let value = DECODE[byte as usize];
        if value == SKIP {
            continue;
        }
        if byte == b'=' {
            pad += 1;
        }
        block[filled] = value;
        filled += 1;
        if filled == 4 {
            out[written] = (block[0] << 2) | (block[1] >> 4);
            out[written + 1] = (block[1] << 4) | (block[2] >> 2);
            out[written + 2] = (block[2] << 6) | block[3];
            written += 3;
            filled = 0;
            if pad > 0 {
                match pad {
                    1 => written -= 1,
                    2 => written -= 2,
                    _ => return None,
                }
                break;
            }
        }
    }
    (written > 0).then_some(written)
}

/// Appends the base64 encoding of `src` to `out`.
pub(crate) fn encode_into(src: &[u8], out: &mut bytes::BytesMut) {
    out.reserve(src.len().div_ceil(3) * 4);
    let mut chunks = src.chunks_exact(3);
    for chunk in &mut chunks {
        out.extend_from_slice(&[
            ALPHABET[(chunk[0] >> 2) as usize],
            ALPHABET[(((chunk[0] & 0x03) << 4) | (chunk[1] >> 4)) as usize],
            ALPHABET[(((chunk[1] & 0x0f) << 2) | (chunk[2] >> 6)) as usize],
            ALPHABET[(chunk[2] & 0x3f) as usize],
        ]);
    }
    match *chunks.remainder() {
        [a] => out.extend_from_slice(&[
            ALPHABET[(a >> 2) as usize],
            ALPHABET[((a & 0x03) << 4) as usize],
            b'=',
            b'=',
        ]),
        [a, b] => out.extend_from_slice(&[
            ALPHABET[(a >> 2) as usize],
            ALPHABET[(((a & 0x03) << 4) | (b >> 4)) as usize],
            ALPHABET[((b & 0x0f) << 2) as usize],
            b'=',
        ]),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(src: &[u8]) -> Option<Vec<u8>> {
        let mut out = vec![0; decoded_capacity(src.len())];
        decode(src, &mut out).map(|len| out[..len].to_vec())
    }

    fn encoded(src: &[u8]) -> Vec<u8> {
        let mut out = bytes::BytesMut::new();
        encode_into(src, &mut out);
        out.to_vec()
    }

    #[test]
    fn round_trips() {
        for src in [&b"m1"[..], b"f", b"fo", b"foo", b"foob", b"\x00\xff\x10"] {
            assert_eq!(decoded(&encoded(src)).as_deref(), Some(src));
        }
        assert_eq!(encoded(b"m1"), b"bTE=");
    }

    #[test]
    fn decodes_leniently_like_memcached() {
        assert_eq!(decoded(b"bT!E=").as_deref(), Some(&b"m1"[..]));
        assert_eq!(decoded(b"bTE"), None);
        assert_eq!(decoded(b"!"), None);
        assert_eq!(decoded(b""), None);
        assert_eq!(decoded(b"===="), None);
        assert_eq!(decoded(b"Zg==Zm9v").as_deref(), Some(&b"f"[..]));
    }
}
