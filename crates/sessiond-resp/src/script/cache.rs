//! The script cache: every script `EVAL` or `SCRIPT LOAD` compiled, by SHA-1, so that
//! `EVALSHA` can run it; bounded in count and bytes, the oldest going first when full.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// A script's name: the SHA-1 of its body, in lower-case hex, as Redis names it.
pub(crate) type Sha = [u8; 40];

/// A script known to the cache.
#[derive(Debug)]
pub(crate) struct Script {
    /// Its SHA-1, lower-case hex.
    pub(crate) sha: Sha,
    /// Its body as sent, shebang line included.
    pub(crate) body: Vec<u8>,
    /// Where the Lua code starts: after a `#!lua` line, at its line break, so that line
    /// numbers in errors count the shebang line as Redis counts it.
    pub(crate) code_start: usize,
    /// `#!lua flags=no-writes`: the script may only read.
    pub(crate) no_writes: bool,
}

/// The cache itself; the caller holds it behind a lock.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    scripts: HashMap<Sha, Arc<Script>>,
    /// Insertion order, oldest first, for eviction.
    order: VecDeque<Sha>,
    bytes: usize,
}

impl Cache {
    /// The script named `sha` (any case).
    pub(crate) fn get(&self, sha: &[u8]) -> Option<Arc<Script>> {
        let sha = lower(sha)?;
        self.scripts.get(&sha).cloned()
    }

    /// Whether `sha` (any case) is cached.
    pub(crate) fn contains(&self, sha: &[u8]) -> bool {
        lower(sha).is_some_and(|sha| self.scripts.contains_key(&sha))
    }

    /// Adds `script` unless already there, first making room: the oldest scripts go until at
    /// most `max_scripts - 1` scripts and `max_bytes - body` bytes remain. A script larger
    /// than `max_bytes` by itself is not kept (it runs, but `EVALSHA` will not find it).
    pub(crate) fn insert(&mut self, script: Arc<Script>, max_scripts: usize, max_bytes: usize) {
        if self.scripts.contains_key(&script.sha) || max_scripts == 0 {
            return;
        }
        let size = script.body.len();
        if size > max_bytes {
            return;
        }
        while self.scripts.len() >= max_scripts || self.bytes + size > max_bytes {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(gone) = self.scripts.remove(&oldest) {
                self.bytes -= gone.body.len();
            }
        }
        self.bytes += size;
        self.order.push_back(script.sha);
        self.scripts.insert(script.sha, script);
    }

    /// Forgets every script (`SCRIPT FLUSH`).
    pub(crate) fn clear(&mut self) {
        self.scripts.clear();
        self.order.clear();
        self.bytes = 0;
    }

    /// How many scripts are cached.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.scripts.len()
    }
}

/// `sha` in lower case, if it is 40 bytes long.
fn lower(sha: &[u8]) -> Option<Sha> {
    let mut lower: Sha = sha.try_into().ok()?;
    lower.make_ascii_lowercase();
    Some(lower)
}

/// The SHA-1 of `bytes` in lower-case hex.
pub(crate) fn sha1_hex(bytes: &[u8]) -> Sha {
    let digest = sha1_smol::Sha1::from(bytes).digest().bytes();
    let mut hex = [0u8; 40];
    for (index, byte) in digest.iter().enumerate() {
        hex[index * 2] = HEX[usize::from(byte >> 4)];
        hex[index * 2 + 1] = HEX[usize::from(byte & 0xf)];
    }
    hex
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    fn script(body: &str) -> Arc<Script> {
        Arc::new(Script {
            sha: sha1_hex(body.as_bytes()),
            body: body.as_bytes().to_vec(),
            code_start: 0,
            no_writes: false,
        })
    }

    #[test]
    fn sha1_is_redis_s() {
        assert_eq!(&sha1_hex(b""), b"da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            &sha1_hex(b"return 1"),
            b"e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
    }

    #[test]
    fn the_oldest_go_first_within_both_bounds() {
        let mut cache = Cache::default();
        for body in ["return 1", "return 2", "return 3"] {
            cache.insert(script(body), 2, 1000);
        }
        assert_eq!(cache.len(), 2);
        assert!(!cache.contains(&sha1_hex(b"return 1")));
        assert!(cache.contains(&sha1_hex(b"return 3")));
        // Upper case names the same script.
        assert!(
            cache
                .get(&sha1_hex(b"return 2").to_ascii_uppercase())
                .is_some()
        );
        cache.insert(script("return 4444"), 10, 20);
        assert_eq!(cache.len(), 2);
        cache.insert(script(&"x".repeat(21)), 10, 20);
        assert!(!cache.contains(&sha1_hex("x".repeat(21).as_bytes())));
        cache.clear();
        assert_eq!(cache.len(), 0);
        assert!(!cache.contains(b"short"));
    }
}
