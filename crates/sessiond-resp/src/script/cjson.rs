//! The `cjson` library scripts find in Redis (lua-cjson 2.1): `cjson.encode`,
//! `cjson.decode` and `cjson.null`, with lua-cjson's rules and error texts (numbers as
//! `%.14g`, `/` escaped, an empty table as `{}`, sparse arrays refused, 1000 levels at most).

use mlua::{LightUserData, Lua, MultiValue, Table, Value};

use super::number::format_g;
use super::vm::raise_here;

/// How deep encoding and decoding may nest (lua-cjson's default for both).
const MAX_DEPTH: usize = 1000;

/// Adds `encode`, `decode` and `null` to `library`.
pub(crate) fn register(lua: &Lua, library: &Table) -> mlua::Result<()> {
    let encode = lua.create_function(|lua, args: MultiValue| -> mlua::Result<Value> {
        if args.len() != 1 {
            return Err(raise_here(
                lua,
                "bad argument #1 to 'encode' (expected 1 argument)",
            ));
        }
        let mut out = Vec::new();
        match encode_value(&args[0], &mut out, 0) {
            Ok(()) => Ok(Value::String(lua.create_string(&out)?)),
            Err(message) => Err(raise_here(lua, &message)),
        }
    })?;
    let decode = lua.create_function(|lua, args: MultiValue| -> mlua::Result<Value> {
        if args.len() != 1 {
            return Err(raise_here(
                lua,
                "bad argument #1 to 'decode' (expected 1 argument)",
            ));
        }
        let text = match &args[0] {
            Value::String(text) => text.as_bytes().to_vec(),
            Value::Integer(number) => number.to_string().into_bytes(),
            Value::Number(number) => format_g(*number, 14).into_bytes(),
            other => {
                let message = format!(
                    "bad argument #1 to 'decode' (string expected, got {})",
                    other.type_name()
                );
                return Err(raise_here(lua, &message));
            }
        };
        let mut parser = Parser { text: &text, at: 0 };
        match parser.document(lua) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(message)) => Err(raise_here(lua, &message)),
            Err(error) => Err(error),
        }
    })?;
    library.raw_set("encode", encode)?;
    library.raw_set("decode", decode)?;
    library.raw_set("null", null())?;
    Ok(())
}

/// `cjson.null`: the NULL light userdata, as in lua-cjson.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

fn unsupported(value: &Value, reason: &str) -> String {
    format!("Cannot serialise {}: {reason}", value.type_name())
}

fn encode_value(value: &Value, out: &mut Vec<u8>, depth: usize) -> Result<(), String> {
    match value {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::Integer(number) => encode_number(*number as f64, value, out)?,
        Value::Number(number) => encode_number(*number, value, out)?,
        Value::String(text) => encode_string(&text.as_bytes(), out),
        Value::LightUserData(data) if data.0.is_null() => out.extend_from_slice(b"null"),
        Value::Table(table) => encode_table(table, value, out, depth + 1)?,
        other => return Err(unsupported(other, "type not supported")),
    }
    Ok(())
}

fn encode_number(number: f64, value: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    if !number.is_finite() {
        return Err(unsupported(value, "must not be NaN or Inf"));
    }
    out.extend_from_slice(format_g(number, 14).as_bytes());
    Ok(())
}

fn encode_string(text: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &byte in text {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{byte:04x}").as_bytes()),
            other => out.push(other),
        }
    }
    out.push(b'"');
}

fn encode_table(
    table: &Table,
    value: &Value,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("Cannot serialise, excessive nesting ({depth})"));
    }
    let entries: Vec<(Value, Value)> = table
        .pairs::<Value, Value>()
        .filter_map(Result::ok)
        .collect();
    // An array when every key is a whole number from 1 up, not too sparse.
    let mut max = 0f64;
    let mut array = true;
    for (key, _) in &entries {
        let index = match key {
            Value::Integer(index) => *index as f64,
            Value::Number(index) => *index,
            _ => 0.0,
        };
        if index >= 1.0 && index.floor() == index {
            max = max.max(index);
        } else {
            array = false;
            break;
        }
    }
    if array && max > (entries.len() * 2) as f64 && max > 10.0 {
        return Err(unsupported(value, "excessively sparse array"));
    }
    if array && max > 0.0 {
        out.push(b'[');
        for index in 1..=(max as i64) {
            if index > 1 {
                out.push(b',');
            }
            let element = table.raw_get::<Value>(index).unwrap_or(Value::Nil);
            encode_value(&element, out, depth)?;
        }
        out.push(b']');
        return Ok(());
    }
    out.push(b'{');
    for (position, (key, element)) in entries.iter().enumerate() {
        if position > 0 {
            out.push(b',');
        }
        match key {
            Value::String(text) => encode_string(&text.as_bytes(), out),
            Value::Integer(number) => {
                out.push(b'"');
                out.extend_from_slice(format_g(*number as f64, 14).as_bytes());
                out.push(b'"');
            }
            Value::Number(number) => {
                out.push(b'"');
                out.extend_from_slice(format_g(*number, 14).as_bytes());
                out.push(b'"');
            }
            _ => return Err(unsupported(value, "table key must be a number or string")),
        }
        out.push(b':');
        encode_value(element, out, depth)?;
    }
    out.push(b'}');
    Ok(())
}

/// A JSON text being decoded. Errors are lua-cjson's texts: `Expected value but found T_END
/// at character 4`.
struct Parser<'t> {
    text: &'t [u8],
    at: usize,
}

/// What a token is, named as lua-cjson names it in errors.
enum Token {
    ObjectBegin,
    ObjectEnd,
    ArrayBegin,
    ArrayEnd,
    String(Vec<u8>),
    Number(f64),
    Boolean(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Token {
    fn name(&self) -> &'static str {
        match self {
            Token::ObjectBegin => "T_OBJ_BEGIN",
            Token::ObjectEnd => "T_OBJ_END",
            Token::ArrayBegin => "T_ARR_BEGIN",
            Token::ArrayEnd => "T_ARR_END",
            Token::String(_) => "T_STRING",
            Token::Number(_) => "T_NUMBER",
            Token::Boolean(_) => "T_BOOLEAN",
            Token::Null => "T_NULL",
            Token::Colon => "T_COLON",
            Token::Comma => "T_COMMA",
            Token::End => "T_END",
            Token::Error(what) => what,
        }
    }
}

type Decoded = mlua::Result<Result<Value, String>>;

impl Parser<'_> {
    fn document(&mut self, lua: &Lua) -> Decoded {
        let (token, start) = self.token();
        let value = match self.value(lua, token, start, 0)? {
            Ok(value) => value,
            Err(message) => return Ok(Err(message)),
        };
        let (token, start) = self.token();
        if !matches!(token, Token::End) {
            return Ok(Err(expected("the end", &token, start)));
        }
        Ok(Ok(value))
    }

    fn value(&mut self, lua: &Lua, token: Token, start: usize, depth: usize) -> Decoded {
        Ok(Ok(match token {
            Token::String(text) => Value::String(lua.create_string(&text)?),
            Token::Number(number) => Value::Number(number),
            Token::Boolean(flag) => Value::Boolean(flag),
            Token::Null => null(),
            Token::ObjectBegin | Token::ArrayBegin if depth + 1 > MAX_DEPTH => {
                return Ok(Err(format!(
                    "Found too many nested data structures ({}) at character {}",
                    depth + 1,
                    start + 1
                )));
            }
            Token::ArrayBegin => {
                let table = lua.create_table()?;
                let (mut token, mut start) = self.token();
                if matches!(token, Token::ArrayEnd) {
                    return Ok(Ok(Value::Table(table)));
                }
                for index in 1.. {
                    match self.value(lua, token, start, depth + 1)? {
                        Ok(element) => table.raw_set(index, element)?,
                        Err(message) => return Ok(Err(message)),
                    }
                    let (next, next_start) = self.token();
                    match next {
                        Token::ArrayEnd => break,
                        Token::Comma => {}
                        other => {
                            return Ok(Err(expected("comma or array end", &other, next_start)));
                        }
                    }
                    (token, start) = self.token();
                }
                Value::Table(table)
            }
            Token::ObjectBegin => {
                let table = lua.create_table()?;
                let (mut token, mut start) = self.token();
                if matches!(token, Token::ObjectEnd) {
                    return Ok(Ok(Value::Table(table)));
                }
                loop {
                    let Token::String(key) = token else {
                        return Ok(Err(expected("object key string", &token, start)));
                    };
                    let (colon, colon_start) = self.token();
                    if !matches!(colon, Token::Colon) {
                        return Ok(Err(expected("colon", &colon, colon_start)));
                    }
                    let (token_value, value_start) = self.token();
                    match self.value(lua, token_value, value_start, depth + 1)? {
                        Ok(element) => table.raw_set(lua.create_string(&key)?, element)?,
                        Err(message) => return Ok(Err(message)),
                    }
                    let (next, next_start) = self.token();
                    match next {
                        Token::ObjectEnd => break,
                        Token::Comma => {}
                        other => {
                            return Ok(Err(expected("comma or object end", &other, next_start)));
                        }
                    }
                    (token, start) = self.token();
                }
                Value::Table(table)
            }
            other => return Ok(Err(expected("value", &other, start))),
        }))
    }

    /// The next token and where it starts.
    fn token(&mut self) -> (Token, usize) {
        while self
            .text
            .get(self.at)
            .is_some_and(|byte| matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.at += 1;
        }
        let start = self.at;
        let Some(&byte) = self.text.get(self.at) else {
            return (Token::End, start);
        };
        let single = match byte {
            b'{' => Some(Token::ObjectBegin),
            b'}' => Some(Token::ObjectEnd),
            b'[' => Some(Token::ArrayBegin),
            b']' => Some(Token::ArrayEnd),
            b':' => Some(Token::Colon),
            b',' => Some(Token::Comma),
            _ => None,
        };
        if let Some(token) = single {
            self.at += 1;
            return (token, start);
        }
        let token = match byte {
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number(),
            _ => self.word(),
        };
        (token, start)
    }

    fn word(&mut self) -> Token {
        let rest = &self.text[self.at..];
        for (word, token) in [
            (&b"true"[..], Token::Boolean(true)),
            (b"false", Token::Boolean(false)),
            (b"null", Token::Null),
        ] {
            if rest.starts_with(word) {
                self.at += word.len();
                return token;
            }
        }
        Token::Error("invalid token")
    }

    fn number(&mut self) -> Token {
        let start = self.at;
        while self
            .text
            .get(self.at)
            .is_some_and(|byte| matches!(byte, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
        {
            self.at += 1;
        }
        std::str::from_utf8(&self.text[start..self.at])
            .ok()
            .and_then(|text| text.parse::<f64>().ok())
            .map_or(Token::Error("invalid number"), Token::Number)
    }

    fn string(&mut self) -> Token {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(&byte) = self.text.get(self.at) else {
                return Token::Error("unexpected end of string");
            };
            self.at += 1;
            match byte {
                b'"' => return Token::String(out),
                b'\\' => {
                    let Some(&escape) = self.text.get(self.at) else {
                        return Token::Error("unexpected end of string");
                    };
                    self.at += 1;
                    match escape {
                        b'"' | b'\\' | b'/' => out.push(escape),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let Some(code) = self.unicode() else {
                                return Token::Error("invalid unicode escape code");
                            };
                            let mut buffer = [0u8; 4];
                            out.extend_from_slice(code.encode_utf8(&mut buffer).as_bytes());
                        }
                        _ => return Token::Error("invalid escape code"),
                    }
                }
                other => out.push(other),
            }
        }
    }

    /// The code point of `\uXXXX` (a surrogate pair taking two), the `\u` already read.
    fn unicode(&mut self) -> Option<char> {
        let high = self.hex4()?;
        if (0xd800..0xdc00).contains(&high) {
            if self.text.get(self.at..self.at + 2)? != b"\\u" {
                return None;
            }
            self.at += 2;
            let low = self.hex4()?;
            if !(0xdc00..0xe000).contains(&low) {
                return None;
            }
            return char::from_u32(0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00));
        }
        char::from_u32(high)
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = std::str::from_utf8(self.text.get(self.at..self.at + 4)?).ok()?;
        let code = u32::from_str_radix(digits, 16).ok()?;
        self.at += 4;
        Some(code)
    }
}

fn expected(what: &str, found: &Token, at: usize) -> String {
    format!(
        "Expected {what} but found {} at character {}",
        found.name(),
        at + 1
    )
}
