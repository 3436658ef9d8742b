//! One Lua interpreter with Redis's sandbox, the scripts it has compiled, and running one
//! script in it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::BytesMut;
use mlua::{
    ChunkMode, Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState,
};
use sessiond_engine::Transaction;

use super::cache::{Script, Sha, sha1_hex};
use super::convert::{error_table, error_text, reply_to_lua, write_reply};
use super::number::format_g;
use super::{Running, bit, cjson, cmsgpack, structs};
use crate::command::{Command, Span};
use crate::commands;
use crate::connection::Session;
use crate::encoder::{Encoder, Version};
use crate::{Context, REDIS_VERSION};

/// An error a function of Rust raises in a script, as Redis's C functions raise it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Raised {
    /// An error table (`{err = text}`), as `redis.call` raises a command's error.
    #[error("{}", String::from_utf8_lossy(.0))]
    Table(Vec<u8>),
    /// A message, already prefixed with where in the script it arose (`luaL_error`).
    #[error("{}", String::from_utf8_lossy(.0))]
    Message(Vec<u8>),
    /// The script is stopped (time limit, `SCRIPT KILL`).
    #[error("{KILLED}")]
    Killed,
}

/// Raises an error table whose text is made of `text` as Redis makes it
/// (`luaPushErrorBuff`: its own code after a `-`, else `ERR`).
pub(crate) fn raise_table(text: &[u8]) -> mlua::Error {
    mlua::Error::external(Raised::Table(error_text(text)))
}

/// Raises `message` at the calling line of the script, as C's `luaL_error` does.
pub(crate) fn raise_here(lua: &Lua, message: &str) -> mlua::Error {
    let mut text = lua
        .inspect_stack(1, |debug| {
            let line = debug.current_line()?;
            let source = debug.source().short_src?.into_owned();
            Some(format!("{source}:{line}: "))
        })
        .flatten()
        .unwrap_or_default()
        .into_bytes();
    text.extend_from_slice(message.as_bytes());
    mlua::Error::external(Raised::Message(text))
}

/// The [`Raised`] error inside an mlua error, if it is one.
fn raised(error: &mlua::Error) -> Option<&Raised> {
    match error {
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => {
            raised(cause)
        }
        other => other.downcast_ref::<Raised>(),
    }
}

/// The name of sessiond's own Lua code, which errors never point at.
const INTERNAL: &str = "=sessiond";

/// How many Lua instructions run between two looks at the time limit.
const HOOK_INSTRUCTIONS: u32 = 10_000;

/// The error a script stopped past its time limit (or by `SCRIPT KILL`) gets, as Redis words
/// a killed script's.
const KILLED: &str = "Script killed by user with SCRIPT KILL...";

/// How many compiled scripts an interpreter keeps before it starts over.
const MAX_FUNCTIONS: usize = 1024;

/// Redis 7.0.15 as `REDIS_VERSION_NUM` reports it.
const VERSION_NUM: i64 = 0x07_00_0f;

/// A sandboxed interpreter.
pub(crate) struct Vm {
    lua: Lua,
    /// The script cache's generation when this interpreter last looked (`SCRIPT FLUSH`
    /// forgets its compiled scripts too).
    pub(crate) generation: u64,
    functions: HashMap<Sha, Function>,
    /// The sandbox's globals behind their read-only face: where `KEYS` and `ARGV` go.
    globals: Table,
    /// The `redis` library behind its read-only face: `redis.call` and the other functions
    /// that exist only while a script runs are put there for the run.
    redis: Table,
    /// `run(script, handler)` from `setup.lua`: the script under `xpcall`, answering
    /// `(ok, first result)`.
    run: Function,
    handler: Function,
    max_memory: usize,
}

impl std::fmt::Debug for Vm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vm")
            .field("generation", &self.generation)
            .field("functions", &self.functions.len())
            .finish()
    }
}

/// Everything one run of a script works with.
pub(crate) struct Run<'r, 'a> {
    /// The script's own session (its database, its protocol after `redis.setresp`).
    pub(crate) session: &'r mut Session,
    /// The engine, the time, the shared state.
    pub(crate) ctx: &'r Context<'a>,
    /// The atomic block over the script's keys.
    pub(crate) block: &'r mut Transaction<'a, 'a>,
    /// Writes refused (`EVAL_RO`, `#!lua flags=no-writes`).
    pub(crate) read_only: bool,
    /// The run's flags (stop, stopped, wrote).
    pub(crate) running: &'r Arc<Running>,
    /// When the script is stopped.
    pub(crate) deadline: Instant,
    /// The monotonic clock the deadline is read against.
    pub(crate) clock: fn() -> Instant,
}

/// Why a script could not be compiled: Lua's message.
#[derive(Debug)]
pub(crate) struct CompileError(pub(crate) String);

impl Vm {
    /// A new interpreter using at most `max_memory` bytes.
    pub(crate) fn new(max_memory: usize, generation: u64) -> mlua::Result<Vm> {
        let lua = Lua::new_with(
            // Lua 5.1 has `coroutine` in its base library, always loaded.
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::new(),
        )?;
        let real = lua.globals();
        let globals = lua.create_table()?;
        for name in [
            "xpcall",
            "tostring",
            "setmetatable",
            "next",
            "assert",
            "tonumber",
            "rawequal",
            "collectgarbage",
            "getmetatable",
            "rawset",
            "pcall",
            "coroutine",
            "type",
            "select",
            "unpack",
            "gcinfo",
            "pairs",
            "rawget",
            "loadstring",
            "ipairs",
            "_VERSION",
            "load",
            "error",
            "string",
            "math",
            "table",
        ] {
            globals.raw_set(name, real.raw_get::<Value>(name)?)?;
        }
        let cjson = lua.create_table()?;
        cjson::register(&lua, &cjson)?;
        globals.raw_set("cjson", cjson)?;
        let bit = lua.create_table()?;
        bit::register(&lua, &bit)?;
        globals.raw_set("bit", bit)?;
        let cmsgpack = lua.create_table()?;
        cmsgpack::register(&lua, &cmsgpack)?;
        globals.raw_set("cmsgpack", cmsgpack)?;
        let structs = lua.create_table()?;
        structs::register(&lua, &structs)?;
        globals.raw_set("struct", structs)?;
        let redis = redis_library(&lua)?;
        let killed = lua.create_function(|lua, ()| {
            Ok(lua
                .app_data_ref::<Arc<Running>>()
                .is_some_and(|running| running.stopped.load(Ordering::Relaxed)))
        })?;
        let unwrap = lua.create_function(unwrap)?;
        let (env, run): (Table, Function) = lua
            .load(include_str!("setup.lua"))
            .set_name(INTERNAL)
            .call((globals.clone(), redis.clone(), killed, unwrap))?;
        lua.set_globals(env)?;
        let handler = lua.create_function(error_handler)?;
        lua.set_memory_limit(max_memory)?;
        Ok(Vm {
            lua,
            generation,
            functions: HashMap::new(),
            globals,
            redis,
            run,
            handler,
            max_memory,
        })
    }

    /// Forgets the compiled scripts (after `SCRIPT FLUSH`).
    pub(crate) fn forget(&mut self, generation: u64) {
        self.functions.clear();
        self.generation = generation;
    }

    /// The compiled function of `script`, compiling it if need be.
    pub(crate) fn function(&mut self, script: &Script) -> Result<Function, CompileError> {
        if let Some(function) = self.functions.get(&script.sha) {
            return Ok(function.clone());
        }
        let code = script.body.get(script.code_start..).unwrap_or_default();
        let function = self
            .lua
            .load(code)
            .set_name("@user_script")
            .set_mode(ChunkMode::Text)
            .into_function()
            .map_err(|error| {
                CompileError(match error {
                    mlua::Error::SyntaxError { message, .. } => message,
                    other => error_message(&other),
                })
            })?;
        if self.functions.len() >= MAX_FUNCTIONS {
            self.functions.clear();
        }
        self.functions.insert(script.sha, function.clone());
        Ok(function)
    }

    /// Runs `function` (the script named `sha`) with `KEYS` and `ARGV`, and writes its result
    /// or its error with `reply`.
    pub(crate) fn run(
        &mut self,
        function: &Function,
        sha: &Sha,
        keys: &[&[u8]],
        argv: &[&[u8]],
        run: Run<'_, '_>,
        reply: &mut Encoder<'_, BytesMut>,
    ) {
        let sha = String::from_utf8_lossy(sha).into_owned();
        match self.run_lua(function, keys, argv, run) {
            Ok((Ok(value), resp3)) => write_reply(&value, reply, resp3),
            Ok((Err(error), _)) => write_error(&error, &sha, reply),
            Err(error) => {
                let message = format!(
                    "ERR Error running script {sha}, {}",
                    truncated(&error_message(&error))
                );
                reply.error(message.as_bytes());
            }
        }
        self.lua.remove_global_hook();
        self.lua.remove_hook();
        self.lua.remove_app_data::<Arc<Running>>();
        // A script may have stopped the collector, and what it left behind is garbage now.
        self.lua.gc_restart();
        if self.lua.used_memory() > self.max_memory / 2 {
            let _ = self.lua.gc_collect();
        }
    }

    /// Runs the script: its result, or the error value Lua raised; and whether the script
    /// chose RESP3.
    fn run_lua(
        &mut self,
        function: &Function,
        keys: &[&[u8]],
        argv: &[&[u8]],
        run: Run<'_, '_>,
    ) -> mlua::Result<(Result<Value, Value>, bool)> {
        let lua = &self.lua;
        lua.set_app_data(Arc::clone(run.running));
        let running = Arc::clone(run.running);
        let (deadline, clock) = (run.deadline, run.clock);
        lua.set_global_hook(
            HookTriggers::new().every_nth_instruction(HOOK_INSTRUCTIONS),
            move |_, debug| {
                if running.stop.load(Ordering::Relaxed) || clock() >= deadline {
                    if !running.stopped.swap(true, Ordering::Relaxed) {
                        // Where the script was: the error says so, as Redis's does.
                        let source = debug.source().source.map(|source| source.into_owned());
                        if let (Some(source), Some(line)) = (source, debug.current_line())
                            && source != INTERNAL
                        {
                            *running.stopped_at.lock() = Some((source, line as i64));
                        }
                    }
                    return Err(mlua::Error::external(Raised::Killed));
                }
                Ok(VmState::Continue)
            },
        )?;
        self.globals.raw_set("KEYS", strings(lua, keys)?)?;
        self.globals.raw_set("ARGV", strings(lua, argv)?)?;
        let state = RefCell::new(run);
        let result = lua.scope(|scope| {
            let call =
                scope.create_function(|lua, args: MultiValue| command(lua, &state, args, true))?;
            let pcall =
                scope.create_function(|lua, args: MultiValue| command(lua, &state, args, false))?;
            let setresp = scope.create_function(|_, args: MultiValue| setresp(&state, args))?;
            self.redis.raw_set("call", call)?;
            self.redis.raw_set("pcall", pcall)?;
            self.redis.raw_set("setresp", setresp)?;
            let result = self
                .run
                .call::<(bool, Value)>((function.clone(), self.handler.clone()));
            for name in ["call", "pcall", "setresp"] {
                self.redis.raw_set(name, Value::Nil)?;
            }
            result
        })?;
        let resp3 = state.borrow().session.version == Version::Resp3;
        // Arguments may be large: they need not wait for the next script to be freed.
        self.globals.raw_set("KEYS", Value::Nil)?;
        self.globals.raw_set("ARGV", Value::Nil)?;
        let (ok, value) = result;
        Ok((if ok { Ok(value) } else { Err(value) }, resp3))
    }
}

/// `redis.call` (`raise`) or `redis.pcall`: runs the command through the same handlers as the
/// protocol, inside the script's block, and hands back its reply as a Lua value.
fn command(
    lua: &Lua,
    state: &RefCell<Run<'_, '_>>,
    args: MultiValue,
    raise_errors: bool,
) -> mlua::Result<Value> {
    let failed = |text: &str| -> mlua::Result<Value> {
        if raise_errors {
            Err(raise_table(text.as_bytes()))
        } else {
            Ok(Value::Table(error_table(lua, text.as_bytes())?))
        }
    };
    if args.is_empty() {
        return failed("Please specify at least one argument for this redis lib call");
    }
    let mut source = Vec::new();
    let mut spans = Vec::with_capacity(args.len());
    for arg in &args {
        let start = source.len();
        match arg {
            Value::String(text) => source.extend_from_slice(&text.as_bytes()),
            Value::Integer(number) => {
                source.extend_from_slice(format_g(*number as f64, 17).as_bytes())
            }
            Value::Number(number) => source.extend_from_slice(format_g(*number, 17).as_bytes()),
            _ => return failed("Lua redis lib command arguments must be strings or integers"),
        }
        spans.push(Span {
            start,
            end: source.len(),
        });
    }
    let command = Command::new(&source, &spans, 0);
    let mut out = BytesMut::new();
    {
        let mut run = state.borrow_mut();
        let run = &mut *run;
        match commands::run_in_script(
            &command,
            run.session,
            run.ctx,
            &mut out,
            &mut *run.block,
            run.read_only,
        ) {
            Ok(wrote) => {
                if wrote {
                    run.running.wrote.store(true, Ordering::Relaxed);
                }
            }
            Err(refused) => return failed(refused),
        }
    }
    if raise_errors && out.first() == Some(&b'-') {
        let line = out[..]
            .split(|&byte| byte == b'\r')
            .next()
            .unwrap_or_default();
        return Err(raise_table(line));
    }
    reply_to_lua(lua, &out)
}

/// `redis.setresp(2|3)`: the protocol the script's commands answer in.
fn setresp(state: &RefCell<Run<'_, '_>>, args: MultiValue) -> mlua::Result<()> {
    if args.len() != 1 {
        return Err(raise_table(b"redis.setresp() requires one argument."));
    }
    let version = match number_of(&args[0]) {
        Some(2.0) => Version::Resp2,
        Some(3.0) => Version::Resp3,
        _ => return Err(raise_table(b"RESP version must be 2 or 3.")),
    };
    state.borrow_mut().session.set_version(version);
    Ok(())
}

/// A Lua value as `lua_tonumber` reads it (a number, or a string holding one).
fn number_of(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(number) => Some(*number as f64),
        Value::Number(number) => Some(*number),
        Value::String(text) => text.to_str().ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// A Lua array of byte strings.
fn strings(lua: &Lua, items: &[&[u8]]) -> mlua::Result<Table> {
    let table = lua.create_table_with_capacity(items.len(), 0)?;
    for (index, item) in items.iter().enumerate() {
        table.raw_set(index + 1, lua.create_string(item)?)?;
    }
    Ok(table)
}

/// The `redis` library's functions that do not need a running script.
fn redis_library(lua: &Lua) -> mlua::Result<Table> {
    let redis = lua.create_table()?;
    redis.raw_set(
        "sha1hex",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() != 1 {
                return Err(raise_table(b"wrong number of arguments"));
            }
            let text = match &args[0] {
                Value::String(text) => text.as_bytes().to_vec(),
                Value::Integer(number) => number.to_string().into_bytes(),
                Value::Number(number) => format_g(*number, 14).into_bytes(),
                _ => Vec::new(),
            };
            lua.create_string(sha1_hex(&text))
        })?,
    )?;
    for (name, field) in [("error_reply", "err"), ("status_reply", "ok")] {
        redis.raw_set(
            name,
            lua.create_function(move |lua, args: MultiValue| {
                let Some(Value::String(text)) = args.front().filter(|_| args.len() == 1) else {
                    return error_table(lua, b"wrong number or type of arguments");
                };
                if field == "ok" {
                    let table = lua.create_table()?;
                    table.raw_set("ok", text.clone())?;
                    return Ok(table);
                }
                let text = text.as_bytes();
                let mut full = Vec::with_capacity(text.len() + 1);
                if text.first() != Some(&b'-') {
                    full.push(b'-');
                }
                full.extend_from_slice(&text);
                error_table(lua, &full)
            })?,
        )?;
    }
    redis.raw_set("log", lua.create_function(log)?)?;
    redis.raw_set(
        "set_repl",
        lua.create_function(|_, args: MultiValue| {
            if args.len() != 1 {
                return Err(raise_table(b"redis.set_repl() requires two arguments."));
            }
            // Effects, not scripts, reach the journal and the replicas: nothing to choose.
            Ok(())
        })?,
    )?;
    redis.raw_set("replicate_commands", lua.create_function(|_, ()| Ok(true))?)?;
    redis.raw_set("breakpoint", lua.create_function(|_, ()| Ok(false))?)?;
    redis.raw_set("debug", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    for (name, value) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
        ("REDIS_VERSION_NUM", VERSION_NUM),
    ] {
        redis.raw_set(name, value)?;
    }
    redis.raw_set("REDIS_VERSION", REDIS_VERSION)?;
    Ok(redis)
}

/// `redis.log(level, message ...)`: to the server's log (tracing), the arguments joined by
/// spaces.
fn log(_: &Lua, args: MultiValue) -> mlua::Result<()> {
    if args.len() < 2 {
        return Err(raise_table(b"redis.log() requires two arguments or more."));
    }
    let Some(level) = number_of(&args[0]) else {
        return Err(raise_table(b"First argument must be a number (log level)."));
    };
    let level = level as i64;
    if !(0..=3).contains(&level) {
        return Err(raise_table(b"Invalid debug level."));
    }
    let mut text = Vec::new();
    for (index, arg) in args.iter().enumerate().skip(1) {
        let piece = match arg {
            Value::String(piece) => piece.as_bytes().to_vec(),
            Value::Integer(number) => number.to_string().into_bytes(),
            Value::Number(number) => format_g(*number, 14).into_bytes(),
            _ => continue,
        };
        if index != 1 {
            text.push(b' ');
        }
        text.extend_from_slice(&piece);
    }
    let text = String::from_utf8_lossy(&text);
    match level {
        0 => tracing::debug!(target: "sessiond::script", "{text}"),
        1 | 2 => tracing::info!(target: "sessiond::script", "{text}"),
        _ => tracing::warn!(target: "sessiond::script", "{text}"),
    }
    Ok(())
}

/// The error handler scripts run under (Redis's `__redis__err__handler`): an error table
/// with where in the script the error arose.
fn error_handler(lua: &Lua, error: Value) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    if let Value::Error(error) = &error
        && let Some(raised) = raised(error)
    {
        let text = match raised {
            Raised::Table(text) => text.clone(),
            Raised::Message(message) => [&b"ERR "[..], message].concat(),
            Raised::Killed => format!("ERR {KILLED}").into_bytes(),
        };
        table.raw_set("err", lua.create_string(&text)?)?;
        if matches!(raised, Raised::Killed) {
            let stopped_at = lua
                .app_data_ref::<Arc<Running>>()
                .and_then(|running| running.stopped_at.lock().clone());
            if let Some((source, line)) = stopped_at {
                table.raw_set("source", source)?;
                table.raw_set("line", line)?;
            }
            return Ok(table);
        }
        where_in_script(lua, &table)?;
        return Ok(table);
    }
    match &error {
        Value::Table(raised) => {
            let text: Value = raised.raw_get("err")?;
            if matches!(
                text,
                Value::String(_) | Value::Integer(_) | Value::Number(_)
            ) {
                table.raw_set("err", text)?;
            }
        }
        other => {
            let mut text = b"ERR ".to_vec();
            text.extend_from_slice(without_internal_position(&value_text(other)));
            table.raw_set("err", lua.create_string(&text)?)?;
        }
    }
    where_in_script(lua, &table)?;
    Ok(table)
}

/// A message without the position `error(text, level)` gave it when `level` pointed past the
/// script into sessiond's own Lua code (the frame that calls the script, see `run` in
/// `setup.lua`): Redis calls the script from C, where a level names no position.
fn without_internal_position(message: &[u8]) -> &[u8] {
    let source = INTERNAL.trim_start_matches('=').as_bytes();
    let Some(rest) = message
        .strip_prefix(source)
        .and_then(|rest| rest.strip_prefix(b":"))
    else {
        return message;
    };
    let digits = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
    match rest[digits..].strip_prefix(b": ") {
        Some(text) if digits > 0 => text,
        _ => message,
    }
}

/// Adds to an error table where in the script the error arose. Level 0 is the handler; the
/// first frame above it of the script's own code is the place (Redis skips the C function
/// that raised the error; sessiond's own Lua code is skipped the same way).
fn where_in_script(lua: &Lua, table: &Table) -> mlua::Result<()> {
    for level in 1..64 {
        let Some((what, source, line)) = lua.inspect_stack(level, |debug| {
            let source = debug.source();
            (
                source.what,
                source.source.map(|source| source.into_owned()),
                debug.current_line(),
            )
        }) else {
            break;
        };
        if what == "C" || what == "tail" || source.as_deref() == Some(INTERNAL) {
            continue;
        }
        if let Some(source) = source {
            table.raw_set("source", source)?;
            table.raw_set("line", line.map_or(-1, |line| line as i64))?;
        }
        break;
    }
    Ok(())
}

/// What a caught error becomes (`unwrap(e, for_pcall)` in `setup.lua`): an error raised by
/// a function of Rust becomes what Redis's C function would have raised (an error table, or
/// a message); for `pcall`, an error table becomes its text, as Redis's own `pcall` answers.
fn unwrap(lua: &Lua, (error, for_pcall): (Value, bool)) -> mlua::Result<Value> {
    let error = match error {
        Value::Error(error) => match raised(&error) {
            Some(Raised::Table(text)) if !for_pcall => {
                let table = lua.create_table()?;
                table.raw_set("err", lua.create_string(text)?)?;
                return Ok(Value::Table(table));
            }
            Some(Raised::Table(text) | Raised::Message(text)) => {
                return Ok(Value::String(lua.create_string(text)?));
            }
            Some(Raised::Killed) => return Ok(Value::Error(error)),
            None => Value::String(lua.create_string(error_message(&error))?),
        },
        other => other,
    };
    if for_pcall && let Value::Table(table) = &error {
        let text: Value = table.get("err")?;
        if matches!(
            text,
            Value::String(_) | Value::Integer(_) | Value::Number(_)
        ) {
            return Ok(text);
        }
    }
    Ok(error)
}

/// A raised value as text, as `tostring` would show it.
fn value_text(value: &Value) -> Vec<u8> {
    match value {
        Value::Nil => b"nil".to_vec(),
        Value::Boolean(flag) => flag.to_string().into_bytes(),
        Value::Integer(number) => number.to_string().into_bytes(),
        Value::Number(number) => format_g(*number, 14).into_bytes(),
        Value::String(text) => text.as_bytes().to_vec(),
        Value::Error(error) => match raised(error) {
            Some(Raised::Table(text) | Raised::Message(text)) => text.clone(),
            _ => error_message(error).into_bytes(),
        },
        other => other.type_name().as_bytes().to_vec(),
    }
}

/// An mlua error's own message, without mlua's wording around it.
fn error_message(error: &mlua::Error) -> String {
    match error {
        mlua::Error::RuntimeError(message) | mlua::Error::SyntaxError { message, .. } => {
            message.clone()
        }
        mlua::Error::MemoryError(_) => "not enough memory".into(),
        mlua::Error::CallbackError { cause, .. } => error_message(cause),
        mlua::Error::WithContext { cause, .. } => error_message(cause),
        other => other.to_string(),
    }
}

/// `%.100s`.
fn truncated(text: &str) -> &str {
    let mut end = text.len().min(100);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Writes the reply for a script that raised `error`: Redis's `<err> script: <sha>, on
/// <source>:<line>.`, or `Error running script` for an error that is not a table (out of
/// memory).
fn write_error(error: &Value, sha: &str, reply: &mut Encoder<'_, BytesMut>) {
    let text = match error {
        Value::Table(table) => {
            let message = match table.raw_get::<Value>("err") {
                Ok(Value::String(text)) => text.as_bytes().to_vec(),
                Ok(other @ (Value::Integer(_) | Value::Number(_))) => value_text(&other),
                _ => b"ERR unknown error".to_vec(),
            };
            let mut line = message;
            let source = table.raw_get::<Value>("source").ok();
            let at = table.raw_get::<Value>("line").ok();
            if let (
                Some(Value::String(source)),
                Some(at @ (Value::Integer(_) | Value::Number(_))),
            ) = (source, at)
            {
                line.extend_from_slice(b" script: ");
                line.extend_from_slice(sha.as_bytes());
                line.extend_from_slice(b", on ");
                line.extend_from_slice(&source.as_bytes());
                line.push(b':');
                line.extend_from_slice(&value_text(&at));
                line.push(b'.');
            }
            line
        }
        Value::String(text) => {
            let text = text.to_string_lossy();
            format!("ERR Error running script {sha}, {}", truncated(&text)).into_bytes()
        }
        _ => format!("ERR Error running script {sha}, execution failure").into_bytes(),
    };
    reply.error(&text);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Calls `library.function(args...)` in a fresh sandbox's globals. The results come back
    /// in a table: mlua cannot take many results straight off a Lua 5.1 stack (see `run` in
    /// `setup.lua`).
    fn call(vm: &Vm, library: &str, function: &str, args: MultiValue) -> mlua::Result<MultiValue> {
        let library: Table = vm.globals.raw_get(library)?;
        let function = library.get::<Function>(function)?;
        let packed: Table = vm
            .lua
            .load(
                "local f = ...
                local function pack(...) return {n = select('#', ...), ...} end
                return function(...) return pack(f(...)) end",
            )
            .call::<Function>(function)?
            .call(args)?;
        let n: i64 = packed.raw_get("n")?;
        (1..=n)
            .map(|index| packed.raw_get::<Value>(index))
            .collect()
    }

    fn bytes(vm: &Vm, bytes: &[u8]) -> Value {
        Value::String(vm.lua.create_string(bytes).unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Whatever bytes a script decodes, the libraries answer a value or an error, never a
        /// panic.
        #[test]
        fn decoders_take_any_bytes(input in proptest::collection::vec(any::<u8>(), 0..64)) {
            let vm = Vm::new(8 << 20, 0).unwrap();
            let text = bytes(&vm, &input);
            let _ = call(&vm, "cjson", "decode", MultiValue::from_iter([text.clone()]));
            for function in ["unpack", "unpack_one"] {
                let _ = call(&vm, "cmsgpack", function, MultiValue::from_iter([text.clone()]));
            }
            let _ = call(
                &vm,
                "cmsgpack",
                "unpack_limit",
                MultiValue::from_iter([text.clone(), Value::Integer(2), Value::Integer(1)]),
            );
            let format = bytes(&vm, &input[..input.len().min(8)]);
            let data = bytes(&vm, &input[input.len().min(8)..]);
            let _ = call(&vm, "struct", "unpack", MultiValue::from_iter([format.clone(), data.clone()]));
            let _ = call(&vm, "struct", "size", MultiValue::from_iter([format.clone()]));
            let _ = call(
                &vm,
                "struct",
                "pack",
                MultiValue::from_iter([format, Value::Number(-3.5), data, Value::Integer(7)]),
            );
        }

        /// What cmsgpack packs it reads back (numbers, strings, nested arrays).
        #[test]
        fn cmsgpack_reads_back_what_it_packs(
            numbers in proptest::collection::vec(any::<i64>(), 0..8),
            text in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let vm = Vm::new(8 << 20, 0).unwrap();
            let mut args: Vec<Value> = numbers.iter().map(|&n| Value::Number(n as f64)).collect();
            args.push(bytes(&vm, &text));
            let packed = call(&vm, "cmsgpack", "pack", MultiValue::from_iter(args.clone())).unwrap();
            let unpacked = call(&vm, "cmsgpack", "unpack", packed).unwrap();
            prop_assert_eq!(unpacked.len(), args.len());
            for (got, want) in unpacked.iter().zip(&args) {
                match (got, want) {
                    (Value::String(got), Value::String(want)) => {
                        prop_assert_eq!(&got.as_bytes()[..], &want.as_bytes()[..]);
                    }
                    (got, Value::Number(want)) => {
                        let got = match got {
                            Value::Integer(n) => *n as f64,
                            Value::Number(n) => *n,
                            other => panic!("{other:?}"),
                        };
                        prop_assert_eq!(got, *want);
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
    }
}
