//! Key space, value contents and the pseudo-random number generator.
//!
//! Everything here runs on the hot path of every request, so nothing allocates
//! after construction: keys are formatted in place into a fixed buffer and values
//! are described as two borrowed slices instead of being assembled.

/// The key prefix php-memcached's session handler uses (`memcached.sess_prefix`).
pub const DEFAULT_KEY_PREFIX: &str = "memc.sess.key.";

/// Digits in the zero-padded key index. 26 characters is PHP's default
/// `session.sid_length`, so a key is exactly as long as a real PHP session key and
/// per-item memory measurements are not flattered by short keys.
pub const DEFAULT_KEY_WIDTH: usize = 26;

/// Longest key the memcached protocols accept.
pub const MAX_KEY_LEN: usize = 250;

/// Formats keys `<prefix><zero-padded index>` into a reusable buffer.
#[derive(Clone, Debug)]
pub struct KeyBuf {
    buf: Vec<u8>,
    prefix_len: usize,
}

impl KeyBuf {
    /// Creates a formatter for `prefix` followed by `width` decimal digits.
    ///
    /// Fails if the resulting key would exceed the protocol limit or contains bytes
    /// the text protocol cannot carry in a key (space and control characters).
    pub fn new(prefix: &str, width: usize) -> Result<Self, String> {
        if width == 0 {
            return Err("key width must be at least 1 digit".into());
        }
        let len = prefix.len() + width;
        if len > MAX_KEY_LEN {
            return Err(format!(
                "keys would be {len} bytes; memcached allows {MAX_KEY_LEN}"
            ));
        }
        if prefix.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err("key prefix must not contain spaces or control characters".into());
        }
        let mut buf = Vec::with_capacity(len);
        buf.extend_from_slice(prefix.as_bytes());
        buf.resize(len, b'0');
        Ok(Self {
            buf,
            prefix_len: prefix.len(),
        })
    }

    /// Largest index that fits in the configured number of digits, plus one.
    pub fn capacity(&self) -> u64 {
        let width = self.buf.len() - self.prefix_len;
        10u64.checked_pow(width as u32).unwrap_or(u64::MAX)
    }

    /// Formats key number `index` and returns it. `index` must be below
    /// [`capacity`](Self::capacity); higher digits would be silently dropped.
    #[inline]
    pub fn format(&mut self, mut index: u64) -> &[u8] {
        debug_assert!(index < self.capacity());
        // A u64 has at most 20 digits; padding beyond that stays the '0's written
        // at construction.
        let start = self.prefix_len.max(self.buf.len().saturating_sub(20));
        for digit in self.buf[start..].iter_mut().rev() {
            *digit = b'0' + (index % 10) as u8;
            index /= 10;
        }
        &self.buf
    }

    /// The key most recently formatted.
    #[inline]
    pub fn current(&self) -> &[u8] {
        &self.buf
    }
}

/// ASP.NET session ids: `SessionIDManager` writes 120 random bits as 24 characters of this
/// alphabet, 5 bits each.
pub const ASPNET_ID_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz012345";

/// PHP session ids with `session.sid_bits_per_character = 5`, PHP's recommended setting.
pub const PHP_ID_ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

/// Characters of a session id that carry the whole 64-bit scrambled key index (12 of 5 bits and
/// one of 4); shorter ids could give two indexes the same id.
pub const MIN_SESSION_ID_LEN: usize = 13;

/// Formats `<prefix><session id>` into a reusable buffer, the id derived from a key index.
///
/// Real session ids are random; ids made from consecutive numbers would share long prefixes and
/// could flatter or punish a server's hashing. So the index is scrambled by a bijection first,
/// which keeps ids distinct, and spelled out in the id's alphabet.
#[derive(Clone, Debug)]
pub struct SessionIdBuf {
    buf: Vec<u8>,
    prefix_len: usize,
    alphabet: &'static [u8; 32],
}

impl SessionIdBuf {
    /// Creates a formatter for `prefix` followed by `id_len` characters of `alphabet`.
    pub fn new(prefix: &[u8], id_len: usize, alphabet: &'static [u8; 32]) -> Result<Self, String> {
        if id_len < MIN_SESSION_ID_LEN {
            return Err(format!(
                "session ids need at least {MIN_SESSION_ID_LEN} characters to stay distinct"
            ));
        }
        let mut buf = Vec::with_capacity(prefix.len() + id_len);
        buf.extend_from_slice(prefix);
        buf.resize(prefix.len() + id_len, alphabet[0]);
        Ok(Self {
            buf,
            prefix_len: prefix.len(),
            alphabet,
        })
    }

    /// Formats the id of key number `index` and returns prefix and id.
    #[inline]
    pub fn format(&mut self, index: u64) -> &[u8] {
        let mut round = 0u64;
        let mut bits = scramble(index);
        let mut left = 64u32;
        for slot in &mut self.buf[self.prefix_len..] {
            if left == 0 {
                // The first 13 characters hold all 64 bits of the bijection; the rest only
                // need to look random.
                round += 1;
                bits = scramble(index ^ round.wrapping_mul(0x9e37_79b9_7f4a_7c15));
                left = 64;
            }
            let take = left.min(5);
            *slot = self.alphabet[(bits & ((1 << take) - 1)) as usize];
            bits >>= take;
            left -= take;
        }
        &self.buf
    }

    /// Prefix and id most recently formatted.
    #[inline]
    pub fn current(&self) -> &[u8] {
        &self.buf
    }

    /// The id most recently formatted, without the prefix.
    #[inline]
    pub fn id(&self) -> &[u8] {
        &self.buf[self.prefix_len..]
    }
}

/// splitmix64's finaliser: xor-shifts and odd multiplications, each invertible, so distinct
/// inputs give distinct outputs.
#[inline]
fn scramble(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The bytes stored under every key.
///
/// A value is the key itself followed by a fixed pseudo-random printable pattern,
/// cut to the value size. Embedding the key lets a get verify that the server
/// returned *this* key's value and not another one's, at the cost of one memcmp;
/// the pattern is not compressible, so a server that compresses gains nothing.
#[derive(Clone, Debug)]
pub struct ValuePattern {
    pattern: Vec<u8>,
}

impl ValuePattern {
    /// Builds the pattern for values of `size` bytes.
    pub fn new(size: usize) -> Self {
        let mut rng = Rng::new(0x5e55_10d0_u64);
        // Printable bytes only, so a text-protocol dump of a value stays readable.
        let pattern = (0..size)
            .map(|_| b'!' + rng.below(94) as u8)
            .collect::<Vec<u8>>();
        Self { pattern }
    }

    /// Value size in bytes.
    pub fn len(&self) -> usize {
        self.pattern.len()
    }

    /// Whether values are empty.
    pub fn is_empty(&self) -> bool {
        self.pattern.is_empty()
    }

    /// Whether `data` is a value written for `key`, whatever its stamp.
    #[inline]
    pub fn matches(&self, key: &[u8], data: &[u8]) -> bool {
        let (k, stamp) = self.split(key);
        data.len() == self.pattern.len()
            && data[..k] == key[..k]
            && data[k..k + stamp].iter().all(u8::is_ascii_hexdigit)
            && data[k + stamp..] == self.pattern[k + stamp..]
    }

    /// How a value for `key` begins: this many bytes of the key, then this many of stamp.
    fn split(&self, key: &[u8]) -> (usize, usize) {
        let k = key.len().min(self.pattern.len());
        (k, (self.pattern.len() - k).min(STAMP_LEN))
    }
}

/// How many bytes after the key differ from one write to the next.
const STAMP_LEN: usize = 16;

/// Builds the values one connection writes. Each differs from the one before in the
/// [`STAMP_LEN`] bytes after the key (a write counter in hex), as a real session's content
/// changes between writes: a server that logs an unchanged value as metadata only (sessiond
/// does) must still log every write of the benchmark in full.
#[derive(Debug, Default)]
pub struct ValueWriter {
    head: Vec<u8>,
    writes: u64,
}

impl ValueWriter {
    /// A writer for connection number `seed`: its counter starts at a point of its own (the
    /// number times a large odd constant), so connections write different stamps even where
    /// a small value leaves room for only a few digits.
    pub fn new(seed: u64) -> Self {
        ValueWriter {
            head: Vec::new(),
            writes: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        }
    }

    /// The next value for `key` as two slices to be sent back to back.
    #[inline]
    pub fn next<'a>(&'a mut self, pattern: &'a ValuePattern, key: &[u8]) -> (&'a [u8], &'a [u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let (k, stamp) = pattern.split(key);
        self.writes = self.writes.wrapping_add(1);
        self.head.clear();
        self.head.extend_from_slice(&key[..k]);
        for digit in (0..stamp).rev() {
            self.head
                .push(HEX[((self.writes >> (4 * digit)) & 0xf) as usize]);
        }
        (&self.head, &pattern.pattern[k + stamp..])
    }
}

/// xorshift64* generator: a few cycles per number and good enough statistical
/// quality for picking keys; the `rand` crate would be overkill here.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// Seeds the generator; `seed` is scrambled first, so nearby seeds (one per
    /// connection) give unrelated streams.
    pub fn new(seed: u64) -> Self {
        // splitmix64 finaliser: turns 0, 1, 2, ... into well-mixed non-zero states.
        let z = scramble(seed);
        Self {
            state: if z == 0 { 0x2545_f491_4f6c_dd1d } else { z },
        }
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform number in `0..n` (Lemire's multiply-shift; the bias is below 2^-40
    /// for any key space we use, far under measurement noise). `n` must be > 0.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_zero_padded() {
        let mut k = KeyBuf::new("memc.sess.key.", 6).unwrap();
        assert_eq!(k.format(42), b"memc.sess.key.000042");
        assert_eq!(k.format(999_999), b"memc.sess.key.999999");
        assert_eq!(k.current(), b"memc.sess.key.999999");
        assert_eq!(k.capacity(), 1_000_000);
    }

    #[test]
    fn key_validation() {
        assert!(KeyBuf::new("has space", 4).is_err());
        assert!(KeyBuf::new(&"x".repeat(240), 20).is_err());
        assert!(KeyBuf::new("p", 0).is_err());
        let mut wide = KeyBuf::new("p", 26).unwrap();
        assert_eq!(wide.capacity(), u64::MAX);
        assert_eq!(wide.format(u64::MAX - 1), b"p00000018446744073709551614");
    }

    #[test]
    fn session_ids_are_distinct_and_in_alphabet() {
        let mut ids = SessionIdBuf::new(b"app/", 24, ASPNET_ID_ALPHABET).unwrap();
        let mut seen = std::collections::HashSet::new();
        for i in 0..20_000 {
            let full = ids.format(i).to_vec();
            assert!(full.starts_with(b"app/"));
            assert_eq!(ids.id().len(), 24);
            assert!(ids.id().iter().all(|b| ASPNET_ID_ALPHABET.contains(b)));
            assert!(seen.insert(full));
        }
        // Same index, same id: a fetch finds what the prefill stored.
        let again = ids.format(7).to_vec();
        assert_eq!(ids.current(), &again[..]);
        let mut php = SessionIdBuf::new(b"", 26, PHP_ID_ALPHABET).unwrap();
        assert_eq!(php.format(7).len(), 26);
        let seven = php.format(7)[..13].to_vec();
        assert_ne!(php.format(8)[..13], seven[..]);
        assert!(SessionIdBuf::new(b"", 12, PHP_ID_ALPHABET).is_err());
    }

    #[test]
    fn value_embeds_key() {
        let v = ValuePattern::new(64);
        let mut writer = ValueWriter::new(3);
        let value = |writer: &mut ValueWriter| {
            let (a, b) = writer.next(&v, b"key1");
            [a, b].concat()
        };
        let data = value(&mut writer);
        assert_eq!(data.len(), 64);
        assert!(v.matches(b"key1", &data));
        assert!(!v.matches(b"key2", &data));
        assert!(!v.matches(b"key1", &data[..63]));
        // The next write of the key differs, and is as valid.
        let again = value(&mut writer);
        assert_ne!(again, data);
        assert!(v.matches(b"key1", &again));
        // The stamp is hex digits: anything else there is a wrong value.
        let mut bad_stamp = again.clone();
        bad_stamp[4] = b'!';
        assert!(!v.matches(b"key1", &bad_stamp));
        // Values shorter than the key are a prefix of the key.
        let small = ValuePattern::new(2);
        assert_eq!(writer.next(&small, b"key1"), (&b"ke"[..], &b""[..]));
        assert!(small.matches(b"key1", b"ke"));
    }

    #[test]
    fn rng_stays_in_range_and_covers_it() {
        let mut r = Rng::new(1);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let x = r.below(10);
            assert!(x < 10);
            seen[x as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }
}
