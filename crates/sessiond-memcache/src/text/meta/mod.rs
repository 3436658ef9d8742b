//! The meta commands: `mg`, `ms`, `md`, `ma`, `mn` and the debug command `me`.
//!
//! `<command> <key> <flag>*`, where each flag is one letter, some with a value after it (`T30`),
//! and replies are a two-letter status with return flags in the order the request gave them.
//! This module holds what the commands share: memcached's one flag parser (every meta command
//! accepts every flag it knows, and ignores those that do not apply), the key (plain or base64),
//! and the return flags that echo the request (`O` opaque, `k` key).
//!
//! Flags are those of memcached 1.6.18. Flags added by later versions (`E` explicit CAS, `S` on
//! `ms`, `x` on `md`) are refused with `CLIENT_ERROR invalid flag`, exactly as 1.6.18 refuses
//! them.
//!
//! `q` (quiet) suppresses a command's uninteresting reply, as memcached does: `EN` for `mg`,
//! `HD` for `ms` and `md`, and a successful update for `ma`; errors always show. Replies are
//! written to the output in order as they are made, so `mn` needs no flushing of its own.
//!
//! memcached applies flags in the order given, and so does what a reply shows: a `t` or `R`
//! before `T` sees the time to live from before the touch (sessiond then reads first and
//! touches after), and an item `N` creates has no expiration time until its `T` or `N` flag.
//! One difference remains: the `t` of an item whose new expiration time is already past reads
//! 0, where memcached prints its clock's unsigned underflow.

pub(crate) mod arithmetic;
pub(crate) mod debug;
pub(crate) mod delete;
pub(crate) mod get;
pub(crate) mod noop;
pub(crate) mod set;

use std::time::Duration;

use bytes::BytesMut;
use sessiond_engine::{Expiry, Timestamp};

use super::base64;
use super::parse::{safe_strtol, safe_strtoul, safe_strtoull};
use super::reply::{self, BAD_FORMAT, ERROR};
use super::{Next, Request};
use crate::Context;
use crate::exptime::{expiry_from_exptime, ttl_secs};

/// memcached refuses a meta command with more tokens than this (command, key and flags, plus
/// its terminal marker).
pub(crate) const MAX_TOKENS: usize = 20;

/// The longest opaque token memcached echoes, its `O` included.
const MAX_OPAQUE_LEN: usize = 32;

/// A flag value that is not a number.
const BAD_TOKEN: &[u8] = b"CLIENT_ERROR bad token in command line format";

/// An opaque over [`MAX_OPAQUE_LEN`].
pub(crate) const OPAQUE_TOO_LONG: &[u8] = b"CLIENT_ERROR opaque token too long";

/// The one message `ma` and `md` give for every flag error.
pub(crate) const INVALID_OR_DUPLICATE_FLAG: &[u8] = b"CLIENT_ERROR invalid or duplicate flag";

/// A meta command's flag tokens.
pub(crate) type Flags<'a> = &'a [&'a [u8]];

/// How a meta command's line reads up to its flags, and the messages memcached gives for that
/// command's refusals of the line, which differ from command to command.
pub(crate) struct Syntax {
    /// The index of the first flag: after the command and the key, and `ms`'s data length.
    pub(crate) flags_at: usize,
    /// The reply to a line of more than [`MAX_TOKENS`] tokens.
    pub(crate) too_many_tokens: &'static [u8],
    /// The one reply the command gives to every flag error, if it does not give the parser's.
    pub(crate) flag_error: Option<&'static [u8]>,
}

impl Syntax {
    /// The raw key and the flags of `request`'s line, or memcached's reply to a line it refuses
    /// before reading any flag, in memcached's order: `ERROR` without a key; a bad format for a
    /// key over the limit or a line that ends before its flags' place (`ms` without its data
    /// length); then [`Syntax::too_many_tokens`].
    pub(crate) fn split<'a>(
        &self,
        request: &'a Request<'_>,
        ctx: &Context<'_>,
    ) -> Result<(&'a [u8], Flags<'a>), &'static [u8]> {
        let tokens = &request.tokens;
        if tokens.count() < 3 {
            return Err(ERROR);
        }
        let raw_key = tokens.get(1);
        if raw_key.len() > ctx.limits.max_key_len || tokens.count() <= self.flags_at {
            return Err(BAD_FORMAT);
        }
        if tokens.count() > MAX_TOKENS {
            return Err(self.too_many_tokens);
        }
        Ok((raw_key, &tokens.as_slice()[self.flags_at..]))
    }

    /// Reads `flags` for the key `raw_key` with [`MetaFlags::parse`], giving the command's own
    /// message for a flag error if it has one.
    pub(crate) fn parse<'a>(
        &self,
        raw_key: &'a [u8],
        flags: &[&[u8]],
    ) -> Result<(MetaFlags, MetaKey<'a>), &'static [u8]> {
        MetaFlags::parse(raw_key, flags).map_err(|message| self.flag_error.unwrap_or(message))
    }

    /// [`Syntax::split`] then [`Syntax::parse`], for the commands with nothing in between:
    /// the flags, what they say, and the key.
    pub(crate) fn read<'a>(
        &self,
        request: &'a Request<'_>,
        ctx: &Context<'_>,
    ) -> Result<(Flags<'a>, MetaFlags, MetaKey<'a>), &'static [u8]> {
        let (raw_key, flags) = self.split(request, ctx)?;
        let (parsed, key) = self.parse(raw_key, flags)?;
        Ok((flags, parsed, key))
    }
}

/// Replies `message` to a refused request, which is then done with its line.
pub(crate) fn refuse(request: &Request<'_>, out: &mut BytesMut, message: &[u8]) -> Next {
    reply::line(out, message);
    request.done()
}

/// The flags of a meta command, as memcached's `_meta_flag_preparse` reads them.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MetaFlags {
    /// `q`: quiet mode.
    pub(crate) quiet: bool,
    /// `v`: return the value.
    pub(crate) value: bool,
    /// `u`: do not mark the item fetched or bump its access time.
    pub(crate) no_update: bool,
    /// `I`: invalidate (mark stale) instead of failing or deleting.
    pub(crate) invalidate: bool,
    /// `T`: a new expiration time.
    pub(crate) ttl: Option<i32>,
    /// `N`: create the item on a miss, with this expiration time.
    pub(crate) vivify: Option<i32>,
    /// `R`: win the recache token when the time to live is below this expiration time.
    pub(crate) recache: Option<i32>,
    /// `F`: client flags to store.
    pub(crate) client_flags: u32,
    /// `C`: compare against this CAS value.
    pub(crate) cas: Option<u64>,
    /// `M`: the mode letter.
    pub(crate) mode: Option<u8>,
    /// `J`: a created counter's initial value.
    pub(crate) initial: u64,
    /// `D`: the counter delta.
    pub(crate) delta: Option<u64>,
}

impl MetaFlags {
    /// Reads `flags` for the key `raw_key`, decoding the key when `b` is given.
    ///
    /// A repeated or unknown flag stops at once; other errors are noted and parsing goes on, so
    /// the reported error is the last one, as in memcached.
    pub(crate) fn parse<'a>(
        raw_key: &'a [u8],
        flags: &[&[u8]],
    ) -> Result<(MetaFlags, MetaKey<'a>), &'static [u8]> {
        let mut parsed = MetaFlags::default();
        let mut key = MetaKey::Text(raw_key);
        let mut seen = [false; 127];
        let mut error: Option<&'static [u8]> = None;
        let mut failed = false;
        for flag in flags {
            let letter = flag[0];
            let Some(seen) = seen.get_mut(usize::from(letter)) else {
                return Err(b"CLIENT_ERROR duplicate flag");
            };
            if *seen {
                return Err(b"CLIENT_ERROR duplicate flag");
            }
            *seen = true;
            let argument = &flag[1..];
            let mut fail = |message: Option<&'static [u8]>| {
                failed = true;
                if message.is_some() {
                    error = message;
                }
            };
            match letter {
                b'b' => match MetaKey::decode(raw_key) {
                    Some(decoded) => key = decoded,
                    None => fail(Some(b"CLIENT_ERROR error decoding key")),
                },
                b'N' => match safe_strtol(argument) {
                    Some(exptime) => parsed.vivify = Some(exptime),
                    None => fail(Some(BAD_TOKEN)),
                },
                b'T' => match safe_strtol(argument) {
                    Some(exptime) => parsed.ttl = Some(exptime),
                    None => fail(Some(BAD_TOKEN)),
                },
                b'R' => match safe_strtol(argument) {
                    Some(exptime) => parsed.recache = Some(exptime),
                    None => fail(Some(BAD_TOKEN)),
                },
                // Return flags and flags of other commands: read where they are used.
                b'l' | b'O' | b'P' | b'L' | b'k' | b's' | b't' | b'c' | b'f' | b'h' => {}
                b'v' => parsed.value = true,
                b'u' => parsed.no_update = true,
                b'q' => parsed.quiet = true,
                b'I' => parsed.invalidate = true,
                // memcached gives no message of its own for a bad `F`.
                b'F' => match safe_strtoul(argument) {
                    Some(client_flags) => parsed.client_flags = client_flags,
                    None => fail(None),
                },
                b'C' => match safe_strtoull(argument) {
                    Some(cas) => parsed.cas = Some(cas),
                    None => fail(Some(BAD_TOKEN)),
                },
                b'M' => match *argument {
                    [mode] => parsed.mode = Some(mode),
                    _ => fail(Some(b"CLIENT_ERROR incorrect length for M token")),
                },
                b'J' => match safe_strtoull(argument) {
                    Some(initial) => parsed.initial = initial,
                    None => fail(Some(b"CLIENT_ERROR invalid numeric initial value")),
                },
                b'D' => match safe_strtoull(argument) {
                    Some(delta) => parsed.delta = Some(delta),
                    None => fail(Some(b"CLIENT_ERROR invalid numeric delta value")),
                },
                _ => return Err(b"CLIENT_ERROR invalid flag"),
            }
        }
        if failed {
            return Err(error.unwrap_or(BAD_FORMAT));
        }
        Ok((parsed, key))
    }

    /// The expiration time a created item ends up with: memcached creates it with none, then
    /// applies `T` and `N` in the order they appear, so the last of them wins.
    pub(crate) fn created_exptime(&self, flags: &[&[u8]]) -> i32 {
        self.created_exptime_before(flags, flags.len()).unwrap_or(0)
    }

    /// The expiration time a created item has when memcached reaches flag `index`: that of the
    /// last `T` or `N` before it, if any.
    fn created_exptime_before(&self, flags: &[&[u8]], index: usize) -> Option<i32> {
        flags[..index].iter().rev().find_map(|flag| match flag[0] {
            b'T' => self.ttl,
            b'N' => self.vivify,
            _ => None,
        })
    }

    /// The `t` a created item reports at flag `index`: `-1` until a `T` or `N` gave it an
    /// expiration time (memcached writes return flags as it walks them).
    fn created_ttl_at(&self, flags: &[&[u8]], index: usize, now: Timestamp) -> i64 {
        match self.created_exptime_before(flags, index) {
            Some(exptime) => expiry_ttl(expiry_from_exptime(i64::from(exptime), now), now),
            None => -1,
        }
    }
}

/// How a reply's `t` flags read, flag by flag.
#[derive(Clone, Copy, Debug)]
pub(crate) enum TtlReport {
    /// The item existed: its time to live as the command read it, except after a `T` whose
    /// touch was applied after the read (`late_touch`), where it is the touch's.
    Read {
        /// Seconds to live as read.
        ttl: i64,
        /// The touch applied after the read, if any.
        late_touch: Option<Expiry>,
    },
    /// The command created the item.
    Created,
}

impl TtlReport {
    /// The `t` at flag `index`.
    pub(crate) fn at(
        self,
        parsed: &MetaFlags,
        flags: &[&[u8]],
        index: usize,
        now: Timestamp,
    ) -> i64 {
        match self {
            TtlReport::Created => parsed.created_ttl_at(flags, index, now),
            TtlReport::Read {
                late_touch: Some(expiry),
                ..
            } if flags[..index].iter().any(|flag| flag[0] == b'T') => expiry_ttl(expiry, now),
            TtlReport::Read { ttl, .. } => ttl,
        }
    }
}

/// The touch a `T` flag asks for, split by when it applies: `(with the command, after it)`.
/// memcached applies flags in order, so when `T` comes after a flag that reads the time to live
/// (`t`, or `R` for `mg`), the read sees the time to live from before the touch, and the touch
/// is applied after it.
pub(crate) fn split_touch(
    ttl: Option<i32>,
    flags: &[&[u8]],
    now: Timestamp,
) -> (Option<Expiry>, Option<Expiry>) {
    let touch = ttl.map(|exptime| expiry_from_exptime(i64::from(exptime), now));
    if touch.is_some() && touch_comes_late(flags) {
        (None, touch)
    } else {
        (touch, None)
    }
}

fn touch_comes_late(flags: &[&[u8]]) -> bool {
    let position = |letter: u8| flags.iter().position(|flag| flag[0] == letter);
    let Some(touch) = position(b'T') else {
        return false;
    };
    [b't', b'R']
        .into_iter()
        .filter_map(position)
        .any(|reader| reader < touch)
}

/// Whether any opaque is too long to echo. memcached finds this while writing the reply, after
/// the command ran; sessiond checks first, so a refused request changes nothing.
pub(crate) fn opaque_too_long(flags: &[&[u8]]) -> bool {
    flags
        .iter()
        .any(|flag| flag[0] == b'O' && flag.len() > MAX_OPAQUE_LEN)
}

/// The seconds to live `expiry` gives an item at `now`, as `t` reports them (`-1` for never).
pub(crate) fn expiry_ttl(expiry: Expiry, now: Timestamp) -> i64 {
    ttl_secs(
        expiry
            .deadline(now)
            .map(|deadline| deadline.saturating_duration_since(now)),
    )
}

/// The engine's recache threshold for `R<exptime>`: memcached hands out the token when the
/// item expires before that time, so `R0` (never) and times already past never win.
pub(crate) fn recache_below(exptime: i32, now: Timestamp) -> Option<Duration> {
    match expiry_from_exptime(i64::from(exptime), now) {
        Expiry::At(at) if at > now => Some(at.saturating_duration_since(now)),
        _ => None,
    }
}

/// Appends the return flags every reply echoes, `O` and `k`, in request order.
pub(crate) fn write_opaque_and_key(out: &mut BytesMut, flags: &[&[u8]], key: &MetaKey<'_>) {
    for flag in flags {
        match flag[0] {
            b'O' => write_opaque(out, flag),
            b'k' => key.write(out),
            _ => {}
        }
    }
}

/// Appends ` O<opaque>`.
pub(crate) fn write_opaque(out: &mut BytesMut, flag: &[u8]) {
    out.extend_from_slice(b" ");
    out.extend_from_slice(flag);
}

/// Inline room for a decoded key: what 256 base64 bytes decode to.
const INLINE_KEY: usize = 192;

/// A meta command's key: as sent, or decoded from base64 (`b`).
pub(crate) enum MetaKey<'a> {
    /// The key's bytes as sent.
    Text(&'a [u8]),
    /// A decoded key, kept on the stack.
    Binary([u8; INLINE_KEY], usize),
    /// A decoded key too long for the stack (only with a key limit over 256 bytes).
    BinaryHeap(Vec<u8>),
}

impl MetaKey<'_> {
    /// Decodes a base64 key, or `None` where memcached fails to.
    fn decode(raw: &[u8]) -> Option<Self> {
        let capacity = base64::decoded_capacity(raw.len());
        if capacity <= INLINE_KEY {
            let mut buf = [0; INLINE_KEY];
            let len = base64::decode(raw, &mut buf)?;
            Some(MetaKey::Binary(buf, len))
        } else {
            let mut buf = vec![0; capacity];
            let len = base64::decode(raw, &mut buf)?;
            buf.truncate(len);
            Some(MetaKey::BinaryHeap(buf))
        }
    }

    /// The key's bytes, decoded.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            MetaKey::Text(bytes) => bytes,
            MetaKey::Binary(buf, len) => &buf[..*len],
            MetaKey::BinaryHeap(buf) => buf,
        }
    }

    /// Whether the key came in base64.
    pub(crate) fn is_binary(&self) -> bool {
        !matches!(self, MetaKey::Text(_))
    }

    /// Appends ` k<key>`, re-encoded and followed by ` b` for a base64 key.
    ///
    /// memcached decides by how the stored item's key was sent, sessiond by how this request's
    /// key was: the engine keeps keys as bytes. They differ only when one key is both stored and
    /// read, one time in base64 and one time not.
    pub(crate) fn write(&self, out: &mut BytesMut) {
        out.extend_from_slice(b" k");
        self.write_bare(out);
        if self.is_binary() {
            out.extend_from_slice(b" b");
        }
    }

    /// Appends the key alone, re-encoded if it came in base64.
    pub(crate) fn write_bare(&self, out: &mut BytesMut) {
        if self.is_binary() {
            base64::encode_into(self.bytes(), out);
        } else {
            out.extend_from_slice(self.bytes());
        }
    }
}
