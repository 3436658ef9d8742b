//! The `cmsgpack` library scripts find in Redis (lua-cmsgpack 0.4): `pack`, `unpack`,
//! `unpack_one`, `unpack_limit`, with its choices (whole numbers as the smallest integer,
//! other numbers as float32 when exact, a table as an array when its keys are exactly 1..n,
//! tables nested past 16 levels as nil) and its error texts.

use mlua::{Lua, MultiValue, Table, Value};

use super::number::format_g;
use super::vm::raise_here;

/// How deep `pack` goes before a table is written as nil (survives tables that contain
/// themselves), as in lua-cmsgpack.
const MAX_NESTING: usize = 16;

/// How deep `unpack` goes: a nested array per byte could otherwise take any depth (Lua
/// would run out of C stack); past it the input is bad data.
const MAX_DECODE_DEPTH: usize = 256;

/// Adds `pack`, `unpack`, `unpack_one` and `unpack_limit` to `library`.
pub(crate) fn register(lua: &Lua, library: &Table) -> mlua::Result<()> {
    let pack = lua.create_function(|lua, args: MultiValue| -> mlua::Result<Value> {
        if args.is_empty() {
            return Err(raise_here(
                lua,
                "bad argument #0 to 'pack' (MessagePack pack needs input.)",
            ));
        }
        let mut out = Vec::new();
        for arg in &args {
            encode(arg, &mut out, 0);
        }
        Ok(Value::String(lua.create_string(&out)?))
    })?;
    let unpack =
        lua.create_function(|lua, args: MultiValue| unpack_full(lua, &args, "unpack", 0, 0))?;
    let unpack_one = lua.create_function(|lua, args: MultiValue| {
        let offset = optional_integer(&args, 1).unwrap_or(0);
        unpack_full(lua, &args, "unpack_one", 1, offset)
    })?;
    let unpack_limit = lua.create_function(|lua, args: MultiValue| {
        let Some(limit) = optional_integer(&args, 1) else {
            let message = "bad argument #2 to 'unpack_limit' (number expected, got no value)";
            return Err(raise_here(lua, message));
        };
        let offset = optional_integer(&args, 2).unwrap_or(0);
        unpack_full(lua, &args, "unpack_limit", limit, offset)
    })?;
    library.raw_set("pack", pack)?;
    library.raw_set("unpack", unpack)?;
    library.raw_set("unpack_one", unpack_one)?;
    library.raw_set("unpack_limit", unpack_limit)?;
    Ok(())
}

fn optional_integer(args: &MultiValue, index: usize) -> Option<i64> {
    match args.get(index)? {
        Value::Integer(number) => Some(*number),
        Value::Number(number) => Some(*number as i64),
        Value::String(text) => text
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .map(|n| n as i64),
        _ => None,
    }
}

fn encode(value: &Value, out: &mut Vec<u8>, level: usize) {
    match value {
        Value::String(text) => encode_bytes(&text.as_bytes(), out),
        Value::Boolean(flag) => out.push(if *flag { 0xc3 } else { 0xc2 }),
        Value::Integer(number) => encode_number(*number as f64, out),
        Value::Number(number) => encode_number(*number, out),
        Value::Table(table) if level < MAX_NESTING => encode_table(table, out, level),
        _ => out.push(0xc0),
    }
}

fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    let len = bytes.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(bytes);
}

fn encode_number(number: f64, out: &mut Vec<u8>) {
    let whole = number.is_finite()
        && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&number)
        && (number as i64) as f64 == number;
    if !whole {
        let single = number as f32;
        if f64::from(single) == number {
            out.push(0xca);
            out.extend_from_slice(&single.to_be_bytes());
        } else {
            out.push(0xcb);
            out.extend_from_slice(&number.to_be_bytes());
        }
        return;
    }
    let n = number as i64;
    match n {
        0..=127 => out.push(n as u8),
        128..=0xff => out.extend_from_slice(&[0xcc, n as u8]),
        0x100..=0xffff => {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        0x1_0000_0000.. => {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
        -32..=-1 => out.push(n as i8 as u8),
        -128..=-33 => out.extend_from_slice(&[0xd0, n as i8 as u8]),
        -32768..=-129 => {
            out.push(0xd1);
            out.extend_from_slice(&(n as i16).to_be_bytes());
        }
        -2_147_483_648..=-32769 => {
            out.push(0xd2);
            out.extend_from_slice(&(n as i32).to_be_bytes());
        }
        _ => {
            out.push(0xd3);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

fn encode_table(table: &Table, out: &mut Vec<u8>, level: usize) {
    let entries: Vec<(Value, Value)> = table
        .pairs::<Value, Value>()
        .filter_map(Result::ok)
        .collect();
    // An array when the keys are exactly 1..n (whole numbers that fit in a C int).
    let mut max = 0f64;
    let array = entries.iter().all(|(key, _)| {
        let index = match key {
            Value::Integer(index) => *index as f64,
            Value::Number(index) => *index,
            _ => return false,
        };
        let whole = index > 0.0 && index <= f64::from(i32::MAX) && index.fract() == 0.0;
        max = max.max(index);
        whole
    }) && max == entries.len() as f64;
    let len = entries.len();
    if array {
        header(out, len, 0x90, 0xdc, 0xdd);
        for index in 1..=len {
            let element = table.raw_get::<Value>(index).unwrap_or(Value::Nil);
            encode(&element, out, level + 1);
        }
    } else {
        header(out, len, 0x80, 0xde, 0xdf);
        for (key, value) in &entries {
            encode(key, out, level + 1);
            encode(value, out, level + 1);
        }
    }
}

/// An array's or a map's header: `fix | len` under 16, else 16 or 32 bits.
fn header(out: &mut Vec<u8>, len: usize, fix: u8, sixteen: u8, thirty_two: u8) {
    if len < 16 {
        out.push(fix | len as u8);
    } else if len <= 0xffff {
        out.push(sixteen);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(thirty_two);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// lua-cmsgpack's `mp_unpack_full`: up to `limit` values from `offset` (both 0: every value,
/// and no offset answered), the next offset (-1 at the end) first otherwise.
fn unpack_full(
    lua: &Lua,
    args: &MultiValue,
    name: &str,
    limit: i64,
    offset: i64,
) -> mlua::Result<MultiValue> {
    let text = match args.front() {
        Some(Value::String(text)) => text.as_bytes().to_vec(),
        Some(Value::Integer(number)) => number.to_string().into_bytes(),
        Some(Value::Number(number)) => format_g(*number, 14).into_bytes(),
        other => {
            let got = other.map_or("no value", Value::type_name);
            let message = format!("bad argument #1 to '{name}' (string expected, got {got})");
            return Err(raise_here(lua, &message));
        }
    };
    let len = text.len() as i64;
    if offset < 0 || limit < 0 {
        let message =
            format!("Invalid request to unpack with offset of {offset} and limit of {len}.");
        return Err(raise_here(lua, &message));
    }
    if offset > len {
        let message = format!("Start offset {offset} greater than input length {len}.");
        return Err(raise_here(lua, &message));
    }
    let decode_all = limit == 0 && offset == 0;
    let limit = if decode_all { i64::MAX } else { limit };
    let mut reader = Reader {
        bytes: &text,
        at: offset as usize,
    };
    let mut values = Vec::new();
    while reader.at < text.len() && (values.len() as i64) < limit {
        match reader.value(lua, 0)? {
            Ok(value) => values.push(value),
            Err(Bad::Missing) => return Err(raise_here(lua, "Missing bytes in input.")),
            Err(Bad::Format) => return Err(raise_here(lua, "Bad data format in input.")),
        }
    }
    if !decode_all {
        let next = if reader.at >= text.len() {
            -1
        } else {
            reader.at as i64
        };
        values.insert(0, Value::Integer(next));
    }
    Ok(MultiValue::from_iter(values))
}

/// Why input could not be read.
enum Bad {
    Missing,
    Format,
}

struct Reader<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, len: usize) -> Result<&[u8], Bad> {
        let end = self.at.checked_add(len).ok_or(Bad::Missing)?;
        let bytes = self.bytes.get(self.at..end).ok_or(Bad::Missing)?;
        self.at = end;
        Ok(bytes)
    }

    fn uint(&mut self, len: usize) -> Result<u64, Bad> {
        Ok(self
            .take(len)?
            .iter()
            .fold(0u64, |value, &byte| value << 8 | u64::from(byte)))
    }

    /// The length of a string, array or map: in the type byte's low bits (`mask`), or in
    /// the 8, 16 or 32 bits after it.
    fn length(&mut self, kind: u8, mask: u8) -> Result<u64, Bad> {
        match kind {
            0xd9 => self.uint(1),
            0xda | 0xdc | 0xde => self.uint(2),
            0xdb | 0xdd | 0xdf => self.uint(4),
            fix => Ok(u64::from(fix & mask)),
        }
    }

    fn value(&mut self, lua: &Lua, depth: usize) -> mlua::Result<Result<Value, Bad>> {
        if depth > MAX_DECODE_DEPTH {
            return Ok(Err(Bad::Format));
        }
        let kind = match self.take(1) {
            Ok(bytes) => bytes[0],
            Err(bad) => return Ok(Err(bad)),
        };
        let number = |value: f64| Ok(Ok(Value::Number(value)));
        macro_rules! read {
            ($expr:expr) => {
                match $expr {
                    Ok(value) => value,
                    Err(bad) => return Ok(Err(bad)),
                }
            };
        }
        match kind {
            0x00..=0x7f => number(f64::from(kind)),
            0xe0..=0xff => number(f64::from(kind as i8)),
            0xcc => number(read!(self.uint(1)) as f64),
            0xcd => number(read!(self.uint(2)) as f64),
            0xce => number(read!(self.uint(4)) as f64),
            // lua-cmsgpack reads a 64-bit unsigned integer as a signed one.
            0xcf => number(read!(self.uint(8)) as i64 as f64),
            0xd0 => number(f64::from(read!(self.uint(1)) as u8 as i8)),
            0xd1 => number(f64::from(read!(self.uint(2)) as u16 as i16)),
            0xd2 => number(f64::from(read!(self.uint(4)) as u32 as i32)),
            0xd3 => number(read!(self.uint(8)) as i64 as f64),
            0xca => number(f64::from(f32::from_bits(read!(self.uint(4)) as u32))),
            0xcb => number(f64::from_bits(read!(self.uint(8)))),
            0xc0 => Ok(Ok(Value::Nil)),
            0xc2 => Ok(Ok(Value::Boolean(false))),
            0xc3 => Ok(Ok(Value::Boolean(true))),
            0xa0..=0xbf | 0xd9 | 0xda | 0xdb => {
                let len = read!(self.length(kind, 0x1f));
                let bytes = read!(self.take(len as usize));
                Ok(Ok(Value::String(lua.create_string(bytes)?)))
            }
            0x90..=0x9f | 0xdc | 0xdd => {
                let len = read!(self.length(kind, 0x0f));
                let table = lua.create_table()?;
                for index in 1..=len {
                    let element = read!(self.value(lua, depth + 1)?);
                    table.raw_set(index, element)?;
                }
                Ok(Ok(Value::Table(table)))
            }
            0x80..=0x8f | 0xde | 0xdf => {
                let len = read!(self.length(kind, 0x0f));
                let table = lua.create_table()?;
                for _ in 0..len {
                    let key = read!(self.value(lua, depth + 1)?);
                    let value = read!(self.value(lua, depth + 1)?);
                    if !key.is_nil() {
                        table.raw_set(key, value)?;
                    }
                }
                Ok(Ok(Value::Table(table)))
            }
            _ => Ok(Err(Bad::Format)),
        }
    }
}
