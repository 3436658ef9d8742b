//! Conversions between Lua values and Redis replies, as Redis 7.0 makes them
//! (`script_lua.c`): a command's reply becomes a Lua value for `redis.call`, and a script's
//! result becomes the reply its caller gets.
//!
//! Reply to Lua: integer → number, bulk → string, null bulk or null array → `false`, status →
//! `{ok=...}`, error → `{err=...}`, array → table; in RESP3 also null → `nil`, boolean →
//! boolean, double → `{double=...}`, map → `{map={...}}`, set → `{set={k=true}}`, big number
//! → `{big_number=...}`, verbatim → `{verbatim_string={format=..., string=...}}`.
//!
//! Lua to reply: string → bulk, number → integer (truncated), `true` → 1 and `false` → null
//! (or RESP3 booleans after `redis.setresp(3)`), a table with `err` → error, `ok` → status,
//! `double`, `big_number`, `verbatim_string`, `map`, `set` → those types, any other table →
//! array up to its first `nil`; anything else → null.

use bytes::BytesMut;
use mlua::{Lua, Table, Value};

use crate::args::c_str;
use crate::encoder::Encoder;

/// How deep a script's result may nest before the rest is answered as an error, as Redis
/// answers past the Lua stack's limit (a table may even contain itself). Lower than Redis's
/// (about 2600 levels), so that the conversion stays well inside a worker thread's stack.
const MAX_DEPTH: usize = 128;

/// Writes a script's result `value` as the reply; `resp3` is the protocol the script chose
/// (`redis.setresp`), which decides how booleans are written.
pub(crate) fn write_reply(value: &Value, reply: &mut Encoder<'_, BytesMut>, resp3: bool) {
    write_value(value, reply, resp3, 0);
}

fn write_value(value: &Value, reply: &mut Encoder<'_, BytesMut>, resp3: bool, depth: usize) {
    if depth > MAX_DEPTH {
        reply.error(b"ERR reached lua stack limit");
        return;
    }
    match value {
        Value::String(text) => {
            reply.bulk(&text.as_bytes());
        }
        Value::Boolean(true) if !resp3 => {
            reply.integer(1);
        }
        Value::Boolean(false) if !resp3 => {
            reply.null();
        }
        Value::Boolean(flag) => {
            reply.boolean(*flag);
        }
        Value::Integer(number) => {
            reply.integer(*number);
        }
        Value::Number(number) => {
            reply.integer(truncate(*number));
        }
        Value::Table(table) => write_table(table, reply, resp3, depth),
        _ => {
            reply.null();
        }
    }
}

/// A Lua number as C's `(long long)` cast makes it on x86-64: toward zero, and the "integer
/// indefinite" value for NaN and anything out of range (what Redis answers for `1/0`).
pub(crate) fn truncate(number: f64) -> i64 {
    if number.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&number) {
        i64::MIN
    } else {
        number as i64
    }
}

fn write_table(table: &Table, reply: &mut Encoder<'_, BytesMut>, resp3: bool, depth: usize) {
    if let Ok(Value::String(message)) = table.raw_get::<Value>("err") {
        // The message carries its own code (`ERR ...`, `WRONGTYPE ...`).
        reply.error(trim_line_ends(c_str(&message.as_bytes())));
        return;
    }
    if let Ok(Value::String(status)) = table.raw_get::<Value>("ok") {
        reply.simple(c_str(&status.as_bytes()));
        return;
    }
    if let Ok(Value::Number(number)) = table.raw_get::<Value>("double") {
        reply.double(number);
        return;
    }
    if let Ok(Value::Integer(number)) = table.raw_get::<Value>("double") {
        reply.double(number as f64);
        return;
    }
    if let Ok(Value::String(digits)) = table.raw_get::<Value>("big_number") {
        let digits: Vec<u8> = digits
            .as_bytes()
            .iter()
            .map(|&byte| {
                if matches!(byte, b'\r' | b'\n') {
                    b' '
                } else {
                    byte
                }
            })
            .collect();
        reply.big_number(&digits);
        return;
    }
    if let Ok(Value::Table(verbatim)) = table.raw_get::<Value>("verbatim_string")
        && let (Ok(Value::String(format)), Ok(Value::String(text))) = (
            verbatim.raw_get::<Value>("format"),
            verbatim.raw_get::<Value>("string"),
        )
    {
        let mut kind = [b' '; 3];
        for (slot, byte) in kind.iter_mut().zip(format.as_bytes().iter()) {
            *slot = *byte;
        }
        reply.verbatim(kind, &text.as_bytes());
        return;
    }
    if let Ok(Value::Table(map)) = table.raw_get::<Value>("map") {
        let pairs: Vec<(Value, Value)> =
            map.pairs::<Value, Value>().filter_map(Result::ok).collect();
        reply.map(pairs.len());
        for (key, value) in &pairs {
            write_value(key, reply, resp3, depth + 1);
            write_value(value, reply, resp3, depth + 1);
        }
        return;
    }
    if let Ok(Value::Table(set)) = table.raw_get::<Value>("set") {
        let members: Vec<Value> = set
            .pairs::<Value, Value>()
            .filter_map(|pair| pair.ok().map(|(key, _)| key))
            .collect();
        reply.set(members.len());
        for member in &members {
            write_value(member, reply, resp3, depth + 1);
        }
        return;
    }
    let mut elements = Vec::new();
    for index in 1.. {
        match table.raw_get::<Value>(index) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(value) => elements.push(value),
        }
    }
    reply.array(elements.len());
    for element in &elements {
        write_value(element, reply, resp3, depth + 1);
    }
}

/// The text without the CRs and LFs at either end (Redis trims them off an error).
fn trim_line_ends(text: &[u8]) -> &[u8] {
    let start = text
        .iter()
        .position(|byte| !matches!(byte, b'\r' | b'\n'))
        .unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|byte| !matches!(byte, b'\r' | b'\n'))
        .map_or(start, |end| end + 1);
    &text[start..end.max(start)]
}

/// The error table Redis makes of an error text (`luaPushErrorBuff`): a text starting with
/// `-` carries its own code up to the first space (`-WRONGTYPE Operation...`; without a space
/// the code is `ERR`), any other text gets `ERR`; line ends are trimmed.
pub(crate) fn error_table(lua: &Lua, text: &[u8]) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    table.raw_set("err", lua.create_string(error_text(text))?)?;
    Ok(table)
}

/// The text of the error table [`error_table`] makes.
pub(crate) fn error_text(text: &[u8]) -> Vec<u8> {
    let (code, message): (&[u8], &[u8]) = match text.strip_prefix(b"-") {
        Some(rest) => match rest.iter().position(|&byte| byte == b' ') {
            Some(space) => (&rest[..space], &rest[space + 1..]),
            None => (b"ERR", rest),
        },
        None => (b"ERR", text),
    };
    let mut full = Vec::with_capacity(code.len() + 1 + message.len());
    full.extend_from_slice(code);
    full.push(b' ');
    full.extend_from_slice(trim_line_ends(message));
    full
}

/// Reads a reply a command wrote (RESP2 or RESP3) into the Lua value `redis.call` returns.
/// Replies come from sessiond's own encoder, so they are well formed; anything unexpected
/// reads as `nil` rather than failing.
pub(crate) fn reply_to_lua(lua: &Lua, reply: &[u8]) -> mlua::Result<Value> {
    let mut reader = Reader {
        bytes: reply,
        at: 0,
    };
    reader.value(lua, 0)
}

struct Reader<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl Reader<'_> {
    /// The line at the cursor without its CRLF, moving past it.
    fn line(&mut self) -> &[u8] {
        let rest = &self.bytes[self.at.min(self.bytes.len())..];
        let end = memchr::memmem::find(rest, b"\r\n").unwrap_or(rest.len());
        self.at += (end + 2).min(rest.len());
        &rest[..end]
    }

    fn take(&mut self, len: usize) -> &[u8] {
        let start = self.at.min(self.bytes.len());
        let end = start.saturating_add(len).min(self.bytes.len());
        self.at = (end + 2).min(self.bytes.len());
        &self.bytes[start..end]
    }

    fn value(&mut self, lua: &Lua, depth: usize) -> mlua::Result<Value> {
        let Some(&kind) = self.bytes.get(self.at) else {
            return Ok(Value::Nil);
        };
        self.at += 1;
        if depth > MAX_DEPTH {
            return Ok(Value::Nil);
        }
        let line = self.line().to_vec();
        let number = || -> i64 {
            std::str::from_utf8(&line)
                .ok()
                .and_then(|text| text.parse().ok())
                .unwrap_or(0)
        };
        Ok(match kind {
            b'+' => {
                let table = lua.create_table()?;
                table.raw_set("ok", lua.create_string(&line)?)?;
                Value::Table(table)
            }
            b'-' => {
                let mut text = Vec::with_capacity(line.len() + 1);
                text.push(b'-');
                text.extend_from_slice(&line);
                Value::Table(error_table(lua, &text)?)
            }
            b':' => Value::Number(number() as f64),
            b'$' | b'=' if line.first() == Some(&b'-') => Value::Boolean(false),
            b'$' => {
                let len = usize::try_from(number()).unwrap_or(0);
                Value::String(lua.create_string(self.take(len))?)
            }
            b'=' => {
                let len = usize::try_from(number()).unwrap_or(0);
                let body = self.take(len).to_vec();
                let (format, text) = body.split_at(body.len().min(4));
                let verbatim = lua.create_table()?;
                verbatim.raw_set("string", lua.create_string(text)?)?;
                verbatim.raw_set("format", lua.create_string(&format[..format.len().min(3)])?)?;
                let table = lua.create_table()?;
                table.raw_set("verbatim_string", verbatim)?;
                Value::Table(table)
            }
            b'*' | b'~' | b'%' | b'>' if line.first() == Some(&b'-') => Value::Boolean(false),
            b'*' | b'>' => {
                let table = lua.create_table()?;
                for index in 1..=number().max(0) {
                    let element = self.value(lua, depth + 1)?;
                    table.raw_set(index, element)?;
                }
                Value::Table(table)
            }
            b'~' => {
                let members = lua.create_table()?;
                for _ in 0..number().max(0) {
                    let member = self.value(lua, depth + 1)?;
                    if !member.is_nil() {
                        members.raw_set(member, true)?;
                    }
                }
                let table = lua.create_table()?;
                table.raw_set("set", members)?;
                Value::Table(table)
            }
            b'%' => {
                let entries = lua.create_table()?;
                for _ in 0..number().max(0) {
                    let key = self.value(lua, depth + 1)?;
                    let value = self.value(lua, depth + 1)?;
                    if !key.is_nil() {
                        entries.raw_set(key, value)?;
                    }
                }
                let table = lua.create_table()?;
                table.raw_set("map", entries)?;
                Value::Table(table)
            }
            b'_' => Value::Nil,
            b'#' => Value::Boolean(line == b"t"),
            b',' => {
                let double = std::str::from_utf8(&line)
                    .ok()
                    .and_then(|text| match text {
                        "inf" => Some(f64::INFINITY),
                        "-inf" => Some(f64::NEG_INFINITY),
                        "nan" => Some(f64::NAN),
                        text => text.parse().ok(),
                    })
                    .unwrap_or(0.0);
                let table = lua.create_table()?;
                table.raw_set("double", double)?;
                Value::Table(table)
            }
            b'(' => {
                let table = lua.create_table()?;
                table.raw_set("big_number", lua.create_string(&line)?)?;
                Value::Table(table)
            }
            b'|' => {
                // An attribute: read past it, then the reply it annotates.
                for _ in 0..number().max(0).saturating_mul(2) {
                    self.value(lua, depth + 1)?;
                }
                self.value(lua, depth)?
            }
            _ => Value::Nil,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::Version;

    fn reply(lua: &Lua, script: &str, resp3: bool, version: Version) -> Vec<u8> {
        let value: Value = lua.load(script).eval().unwrap();
        let mut out = BytesMut::new();
        write_reply(&value, &mut Encoder::new(&mut out, version), resp3);
        out.to_vec()
    }

    #[test]
    fn lua_values_become_redis_s_replies() {
        let lua = Lua::new();
        let r2 = |script| reply(&lua, script, false, Version::Resp2);
        assert_eq!(
            r2("return {1,2,3,'x',nil,4}"),
            b"*4\r\n:1\r\n:2\r\n:3\r\n$1\r\nx\r\n"
        );
        assert_eq!(r2("return 3.99"), b":3\r\n");
        assert_eq!(r2("return -3.99"), b":-3\r\n");
        assert_eq!(r2("return 1/0"), b":-9223372036854775808\r\n");
        assert_eq!(r2("return false"), b"$-1\r\n");
        assert_eq!(r2("return true"), b":1\r\n");
        assert_eq!(r2("return {err='-X y'}"), b"--X y\r\n");
        assert_eq!(r2("return {err=1}"), b"*0\r\n");
        assert_eq!(r2("return {ok='a\\r\\nb'}"), b"+a  b\r\n");
        assert_eq!(r2("return {double=3.5}"), b"$3\r\n3.5\r\n");
        assert_eq!(
            reply(&lua, "return {map={a=1}}", false, Version::Resp3),
            b"%1\r\n$1\r\na\r\n:1\r\n"
        );
        assert_eq!(reply(&lua, "return false", true, Version::Resp3), b"#f\r\n");
        assert_eq!(reply(&lua, "return false", false, Version::Resp3), b"_\r\n");
        // A table inside itself ends in an error rather than recursing forever.
        let cyclic = r2("local t = {}; t[1] = t; return t");
        assert!(cyclic.ends_with(b"-ERR reached lua stack limit\r\n"));
    }

    #[test]
    fn replies_become_lua_values() {
        let lua = Lua::new();
        let check = |reply: &[u8], script: &str| {
            let value = reply_to_lua(&lua, reply).unwrap();
            let check: mlua::Function = lua.load(script).eval().unwrap();
            assert!(check.call::<bool>(value).unwrap(), "{script}");
        };
        check(b":5\r\n", "return function(v) return v == 5 end");
        check(b"$-1\r\n", "return function(v) return v == false end");
        check(
            b"$4\r\na\r\nb\r\n",
            "return function(v) return v == 'a\\r\\nb' end",
        );
        check(b"+OK\r\n", "return function(v) return v.ok == 'OK' end");
        check(
            b"-WRONGTYPE Op\r\n",
            "return function(v) return v.err == 'WRONGTYPE Op' end",
        );
        check(
            b"-OOPS\r\n",
            "return function(v) return v.err == 'ERR OOPS' end",
        );
        check(
            b"*3\r\n:1\r\n*1\r\n$1\r\nx\r\n$-1\r\n",
            "return function(v) return v[1] == 1 and v[2][1] == 'x' and v[3] == false end",
        );
        check(b"_\r\n", "return function(v) return v == nil end");
        check(b"#t\r\n", "return function(v) return v == true end");
        check(b",1.5\r\n", "return function(v) return v.double == 1.5 end");
        check(
            b"%1\r\n$1\r\nk\r\n:2\r\n",
            "return function(v) return v.map.k == 2 end",
        );
        check(
            b"~1\r\n$1\r\nm\r\n",
            "return function(v) return v.set.m == true end",
        );
        check(
            b"=7\r\ntxt:abc\r\n",
            "return function(v) return v.verbatim_string.format == 'txt' and v.verbatim_string.string == 'abc' end",
        );
    }
}
