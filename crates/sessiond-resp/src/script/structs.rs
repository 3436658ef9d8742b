//! The `struct` library scripts find in Redis (Roberto Ierusalimschy's struct 0.2):
//! `struct.pack`, `struct.unpack` and `struct.size` over format strings (`>` `<` `!n`
//! endianness and alignment, `b B h H l L T i[n] I[n]` integers, `f d` floats, `x` padding,
//! `c[n]` and `s` strings), with its error texts.

use mlua::{Lua, MultiValue, Table, Value};

use super::number::format_g;
use super::vm::raise_here;

/// The largest integer size (`i32`, `I16`, ...).
const MAX_INT_SIZE: usize = 32;

/// The most an `!` alignment may ask for (C's default, the largest natural alignment).
const MAX_ALIGN: usize = 8;

/// Adds `pack`, `unpack` and `size` to `library`.
pub(crate) fn register(lua: &Lua, library: &Table) -> mlua::Result<()> {
    let pack = lua.create_function(|lua, args: MultiValue| {
        let out = pack(&args).map_err(|message| raise_here(lua, &message))?;
        lua.create_string(out)
    })?;
    let unpack = lua.create_function(|lua, args: MultiValue| {
        unpack(lua, &args)?.map_err(|message| raise_here(lua, &message))
    })?;
    let size = lua.create_function(|lua, args: MultiValue| {
        size(&args).map_err(|message| raise_here(lua, &message))
    })?;
    library.raw_set("pack", pack)?;
    library.raw_set("unpack", unpack)?;
    library.raw_set("size", size)?;
    Ok(())
}

/// A format being read, with its endianness and alignment so far.
struct Format<'f> {
    text: &'f [u8],
    at: usize,
    big_endian: bool,
    align: usize,
}

impl Format<'_> {
    fn new(text: &[u8]) -> Format<'_> {
        Format {
            text,
            at: 0,
            big_endian: false,
            align: 1,
        }
    }

    /// The next option and its size, or `None` at the end.
    fn next(&mut self, function: &str) -> Option<Result<(u8, usize), String>> {
        let option = *self.text.get(self.at)?;
        self.at += 1;
        let size = match option {
            b'b' | b'B' | b'x' => 1,
            b'h' | b'H' => 2,
            b'l' | b'L' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.number(1),
            b'i' | b'I' => {
                let size = self.number(4);
                if size > MAX_INT_SIZE {
                    return Some(Err(format!(
                        "integral size {size} is larger than limit of {MAX_INT_SIZE}"
                    )));
                }
                size
            }
            b' ' | b's' => 0,
            b'>' => {
                self.big_endian = true;
                0
            }
            b'<' => {
                self.big_endian = false;
                0
            }
            b'!' => {
                let align = self.number(MAX_ALIGN);
                if !align.is_power_of_two() {
                    return Some(Err(format!("alignment {align} is not a power of 2")));
                }
                self.align = align;
                0
            }
            other => {
                return Some(Err(format!(
                    "bad argument #1 to '{function}' (invalid format option '{}')",
                    char::from(other)
                )));
            }
        };
        Some(Ok((option, size)))
    }

    /// Digits at the cursor, or `default` when there are none.
    fn number(&mut self, default: usize) -> usize {
        let start = self.at;
        let mut value = 0usize;
        while let Some(digit) = self.text.get(self.at).filter(|byte| byte.is_ascii_digit()) {
            value = value
                .saturating_mul(10)
                .saturating_add(usize::from(digit - b'0'));
            self.at += 1;
        }
        if self.at == start { default } else { value }
    }

    /// Padding before an option of `size` at offset `len`.
    fn padding(&self, len: usize, option: u8, size: usize) -> usize {
        if size == 0 || option == b'c' {
            return 0;
        }
        let size = size.min(self.align);
        (size - (len & (size - 1))) & (size - 1)
    }
}

fn is_integer(option: u8) -> bool {
    matches!(
        option,
        b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I'
    )
}

fn number_arg(args: &MultiValue, index: usize, function: &str) -> Result<f64, String> {
    match args.get(index) {
        Some(Value::Integer(number)) => Ok(*number as f64),
        Some(Value::Number(number)) => Ok(*number),
        Some(Value::String(text)) => text
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .ok_or_else(|| bad(index, function, "number expected, got string")),
        other => Err(bad(
            index,
            function,
            &format!(
                "number expected, got {}",
                other.map_or("nil", Value::type_name)
            ),
        )),
    }
}

fn string_arg(args: &MultiValue, index: usize, function: &str) -> Result<Vec<u8>, String> {
    match args.get(index) {
        Some(Value::String(text)) => Ok(text.as_bytes().to_vec()),
        Some(Value::Integer(number)) => Ok(number.to_string().into_bytes()),
        Some(Value::Number(number)) => Ok(format_g(*number, 14).into_bytes()),
        other => Err(bad(
            index,
            function,
            &format!(
                "string expected, got {}",
                other.map_or("no value", Value::type_name)
            ),
        )),
    }
}

/// `bad argument #n to 'function' (why)`, `index` counted from 0.
fn bad(index: usize, function: &str, why: &str) -> String {
    format!("bad argument #{} to '{function}' ({why})", index + 1)
}

fn pack(args: &MultiValue) -> Result<Vec<u8>, String> {
    let format = string_arg(args, 0, "pack")?;
    let mut format = Format::new(&format);
    let mut out = Vec::new();
    let mut arg = 1;
    while let Some(option) = format.next("pack") {
        let (option, mut size) = option?;
        let padding = format.padding(out.len(), option, size);
        out.resize(out.len() + padding, 0);
        match option {
            _ if is_integer(option) => {
                let number = number_arg(args, arg, "pack")?;
                arg += 1;
                let value = if number < 0.0 {
                    number as i64 as u64
                } else {
                    number as u64
                };
                let mut bytes = vec![if number < 0.0 { 0xff } else { 0 }; size];
                for (index, byte) in value.to_le_bytes().iter().enumerate().take(size) {
                    bytes[index] = *byte;
                }
                if format.big_endian {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            b'x' => out.push(0),
            b'f' | b'd' => {
                let number = number_arg(args, arg, "pack")?;
                arg += 1;
                let mut bytes = if option == b'f' {
                    (number as f32).to_le_bytes().to_vec()
                } else {
                    number.to_le_bytes().to_vec()
                };
                if format.big_endian {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            b'c' | b's' => {
                let text = string_arg(args, arg, "pack")?;
                arg += 1;
                if size == 0 {
                    size = text.len();
                }
                if text.len() < size {
                    return Err(bad(arg, "pack", "string too short"));
                }
                out.extend_from_slice(&text[..size]);
                if option == b's' {
                    out.push(0);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn unpack(lua: &Lua, args: &MultiValue) -> mlua::Result<Result<MultiValue, String>> {
    let run = || -> Result<Vec<Result<Value, Vec<u8>>>, String> {
        let format = string_arg(args, 0, "unpack")?;
        let data = string_arg(args, 1, "unpack")?;
        let start = match args.get(2) {
            None | Some(Value::Nil) => 1.0,
            Some(_) => number_arg(args, 2, "unpack")?,
        };
        if start.is_nan() || start < 1.0 {
            return Err(bad(2, "unpack", "offset must be 1 or greater"));
        }
        let mut pos = start as usize - 1;
        let mut format = Format::new(&format);
        let mut values: Vec<Result<Value, Vec<u8>>> = Vec::new();
        while let Some(option) = format.next("unpack") {
            let (option, mut size) = option?;
            pos = pos.saturating_add(format.padding(pos, option, size));
            if pos.saturating_add(size) > data.len() {
                return Err(bad(1, "unpack", "data string too short"));
            }
            match option {
                _ if is_integer(option) => {
                    let mut bytes = data[pos..pos + size].to_vec();
                    if format.big_endian {
                        bytes.reverse();
                    }
                    let mut value = 0u64;
                    for (index, byte) in bytes.iter().enumerate().take(8) {
                        value |= u64::from(*byte) << (8 * index);
                    }
                    let number = if option.is_ascii_lowercase() && size > 0 && size < 8 {
                        let shift = 64 - 8 * size as u32;
                        ((value << shift) as i64 >> shift) as f64
                    } else if option.is_ascii_lowercase() {
                        value as i64 as f64
                    } else {
                        value as f64
                    };
                    values.push(Ok(Value::Number(number)));
                }
                b'f' | b'd' => {
                    let mut bytes = data[pos..pos + size].to_vec();
                    if format.big_endian {
                        bytes.reverse();
                    }
                    let number = if option == b'f' {
                        let array: [u8; 4] = bytes.try_into().unwrap_or_default();
                        f64::from(f32::from_le_bytes(array))
                    } else {
                        let array: [u8; 8] = bytes.try_into().unwrap_or_default();
                        f64::from_le_bytes(array)
                    };
                    values.push(Ok(Value::Number(number)));
                }
                b'c' => {
                    if size == 0 {
                        let previous = match values.pop() {
                            Some(Ok(Value::Number(number))) => number,
                            _ => return Err("format 'c0' needs a previous size".into()),
                        };
                        size = previous.max(0.0) as usize;
                        if pos.saturating_add(size) > data.len() {
                            return Err(bad(1, "unpack", "data string too short"));
                        }
                    }
                    values.push(Err(data[pos..pos + size].to_vec()));
                }
                b's' => {
                    let Some(end) = memchr::memchr(0, &data[pos..]) else {
                        return Err("unfinished string in data".into());
                    };
                    values.push(Err(data[pos..pos + end].to_vec()));
                    size = end + 1;
                }
                _ => {}
            }
            pos = pos.saturating_add(size);
        }
        values.push(Ok(Value::Number(pos as f64 + 1.0)));
        Ok(values)
    };
    Ok(match run() {
        Ok(values) => Ok(values
            .into_iter()
            .map(|value| match value {
                Ok(value) => Ok(value),
                Err(bytes) => lua.create_string(bytes).map(Value::String),
            })
            .collect::<mlua::Result<MultiValue>>()?),
        Err(message) => Err(message),
    })
}

fn size(args: &MultiValue) -> Result<f64, String> {
    let format = string_arg(args, 0, "size")?;
    let mut format = Format::new(&format);
    let mut total = 0usize;
    while let Some(option) = format.next("size") {
        let (option, size) = option?;
        if option == b's' || (option == b'c' && size == 0) {
            let name = if option == b's' { "s" } else { "c0" };
            return Err(bad(
                0,
                "size",
                &format!("option '{name}' has no fixed size"),
            ));
        }
        total += format.padding(total, option, size) + size;
    }
    Ok(total as f64)
}
