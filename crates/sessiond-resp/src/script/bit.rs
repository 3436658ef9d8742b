//! The `bit` library scripts find in Redis (LuaBitOp): 32-bit operations on Lua numbers.

use mlua::{Lua, MultiValue, Table, Value};

use super::vm::raise_here;

/// Adds the `bit` functions to `library`.
pub(crate) fn register(lua: &Lua, library: &Table) -> mlua::Result<()> {
    type Operation = fn(&str, &MultiValue) -> Result<f64, String>;
    let operations: [(&str, Operation); 11] = [
        ("tobit", |name, args| Ok(f64::from(arg(name, args, 0)?))),
        ("bnot", |name, args| Ok(f64::from(!arg(name, args, 0)?))),
        ("band", |name, args| fold(name, args, |a, b| a & b)),
        ("bor", |name, args| fold(name, args, |a, b| a | b)),
        ("bxor", |name, args| fold(name, args, |a, b| a ^ b)),
        ("lshift", |name, args| {
            let (value, by) = (arg(name, args, 0)?, arg(name, args, 1)?);
            Ok(f64::from(((value as u32) << (by & 31)) as i32))
        }),
        ("rshift", |name, args| {
            let (value, by) = (arg(name, args, 0)?, arg(name, args, 1)?);
            Ok(f64::from(((value as u32) >> (by & 31)) as i32))
        }),
        ("arshift", |name, args| {
            let (value, by) = (arg(name, args, 0)?, arg(name, args, 1)?);
            Ok(f64::from(value >> (by & 31)))
        }),
        ("rol", |name, args| {
            let (value, by) = (arg(name, args, 0)?, arg(name, args, 1)?);
            Ok(f64::from(
                (value as u32).rotate_left((by & 31) as u32) as i32
            ))
        }),
        ("ror", |name, args| {
            let (value, by) = (arg(name, args, 0)?, arg(name, args, 1)?);
            Ok(f64::from(
                (value as u32).rotate_right((by & 31) as u32) as i32
            ))
        }),
        ("bswap", |name, args| {
            Ok(f64::from((arg(name, args, 0)? as u32).swap_bytes() as i32))
        }),
    ];
    for (name, operation) in operations {
        let function =
            lua.create_function(move |lua, args: MultiValue| -> mlua::Result<Value> {
                match operation(name, &args) {
                    Ok(number) => Ok(Value::Number(number)),
                    Err(message) => Err(raise_here(lua, &message)),
                }
            })?;
        library.raw_set(name, function)?;
    }
    let tohex = lua.create_function(|lua, args: MultiValue| -> mlua::Result<Value> {
        match tohex(&args) {
            Ok(text) => Ok(Value::String(lua.create_string(&text)?)),
            Err(message) => Err(raise_here(lua, &message)),
        }
    })?;
    library.raw_set("tohex", tohex)?;
    Ok(())
}

/// Argument `index` as LuaBitOp reads it: a number, wrapped into 32 bits (a fraction rounds
/// to even, as adding 2^52 + 2^51 does).
fn arg(name: &str, args: &MultiValue, index: usize) -> Result<i32, String> {
    let number = match args.get(index) {
        Some(Value::Integer(number)) => *number as f64,
        Some(Value::Number(number)) => *number,
        Some(Value::String(text)) => text
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse::<f64>().ok())
            .ok_or_else(|| expected(name, index, "string"))?,
        Some(other) => return Err(expected(name, index, other.type_name())),
        None => return Err(expected(name, index, "no value")),
    };
    Ok((number + 6_755_399_441_055_744.0).to_bits() as u32 as i32)
}

fn expected(name: &str, index: usize, got: &str) -> String {
    format!(
        "bad argument #{} to '{name}' (number expected, got {got})",
        index + 1
    )
}

fn fold(name: &str, args: &MultiValue, op: fn(i32, i32) -> i32) -> Result<f64, String> {
    let mut value = arg(name, args, 0)?;
    for index in 1..args.len() {
        value = op(value, arg(name, args, index)?);
    }
    Ok(f64::from(value))
}

/// `bit.tohex(x [, n])`: the low `n` (default 8) hex digits, upper case for a negative `n`.
fn tohex(args: &MultiValue) -> Result<String, String> {
    let value = arg("tohex", args, 0)? as u32;
    let digits = if args.len() > 1 {
        arg("tohex", args, 1)?
    } else {
        8
    };
    let upper = digits < 0;
    let count = digits.unsigned_abs().min(8) as usize;
    let text = if upper {
        format!("{value:08X}")
    } else {
        format!("{value:08x}")
    };
    Ok(text[8 - count..].to_owned())
}
