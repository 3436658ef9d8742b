//! The command table and dispatch: finding a command by name, checking its arity and the
//! client's authentication in Redis's order, running it, and writing its error if it fails.
//!
//! Each command lives in its own module (a few closely related ones share one), as in
//! mini-redis: a handler takes a [`Call`] and writes its reply, or returns a
//! [`CommandError`] that [`run`] writes.

mod append;
mod auth;
mod client;
mod command;
mod config;
mod dbsize;
mod del;
mod echo;
mod exists;
mod expire;
mod expiry;
mod flush;
mod get;
mod getdel;
mod getex;
mod hello;
mod incr;
mod info;
mod key_type;
mod mget;
mod mset;
mod multi;
mod persist;
mod ping;
mod quit;
mod rename;
mod reset;
mod scan;
mod select;
mod set;
mod strlen;
mod table;
mod ttl;

use bytes::BytesMut;
use sessiond_engine::{Engine, Key, NamespaceId, Timestamp};

use crate::command::Command;
use crate::connection::Session;
use crate::encoder::Encoder;
use crate::reply::CommandError;
use crate::{Context, args};

pub(crate) use table::{COMMANDS, Spec};

/// What a command handler returns: its reply is written, or its error is.
pub(crate) type Outcome = Result<(), CommandError>;

/// A command handler.
pub(crate) type Handler = fn(&mut Call<'_, '_>) -> Outcome;

/// One command being run: its arguments, the connection's session, the shared context and
/// the output buffer.
pub(crate) struct Call<'c, 'a> {
    /// The command's arguments, its name first.
    pub(crate) args: Command<'c>,
    /// The connection's state.
    pub(crate) session: &'c mut Session,
    /// The engine, the time, the shared state.
    pub(crate) ctx: &'c Context<'a>,
    /// Where the reply goes.
    pub(crate) out: &'c mut BytesMut,
}

impl<'c> Call<'c, '_> {
    /// An encoder for the reply, in the connection's current protocol version.
    pub(crate) fn reply(&mut self) -> Encoder<'_, BytesMut> {
        Encoder::new(self.out, self.session.version)
    }

    /// Argument `index` (0 is the name); empty when missing (arity checks come first, so a
    /// handler only asks for arguments the command has).
    pub(crate) fn arg(&self, index: usize) -> &'c [u8] {
        self.args.get(index).unwrap_or_default()
    }

    /// The number of arguments, the name included.
    pub(crate) fn argc(&self) -> usize {
        self.args.len()
    }

    /// The selected database's namespace.
    pub(crate) fn namespace(&self) -> NamespaceId {
        let databases = &self.ctx.shared.config.databases;
        databases
            .get(self.session.db)
            .copied()
            .unwrap_or(databases[0])
    }

    /// Argument `index` as a key in the selected database.
    pub(crate) fn key(&self, index: usize) -> Key<'c> {
        Key::new(self.namespace(), self.arg(index))
    }

    /// The store.
    pub(crate) fn engine(&self) -> &'c Engine {
        self.ctx.engine
    }

    /// The time the command runs at.
    pub(crate) fn now(&self) -> Timestamp {
        self.ctx.now
    }

    /// The time in Redis's terms: milliseconds since the epoch, signed.
    pub(crate) fn now_millis(&self) -> i64 {
        i64::try_from(self.ctx.now.as_millis()).unwrap_or(i64::MAX)
    }
}

/// Runs one (non-empty) command and writes its reply or its error to `out`.
///
/// The checks come in Redis 7.0's order (`processCommand`): `QUIT` first, whatever its
/// arguments; then an unknown command or subcommand; then the number of arguments; then
/// authentication, except for the commands a client may send before it (`AUTH`, `HELLO`,
/// `RESET`).
pub(crate) fn run(
    command: &Command<'_>,
    session: &mut Session,
    ctx: &Context<'_>,
    out: &mut BytesMut,
) {
    let name = command.name().unwrap_or_default();
    let Some((spec, index)) = find(command) else {
        let error = unknown(command, name);
        error.write(out);
        return;
    };
    let argc = command.len();
    let arity_ok = if spec.arity >= 0 {
        argc == spec.arity.unsigned_abs() as usize
    } else {
        argc >= spec.arity.unsigned_abs() as usize
    };
    if !arity_ok {
        CommandError::WrongArity(spec.name).write(out);
        return;
    }
    if !session.authenticated && !spec.flags.contains(&"no_auth") {
        CommandError::NoAuth.write(out);
        return;
    }
    session.client.ran(index, ctx.now);
    let mut call = Call {
        args: *command,
        session,
        ctx,
        out,
    };
    if let Err(error) = (spec.run)(&mut call) {
        error.write(call.out);
    }
}

/// The error for a command that is not in the table: an unknown subcommand of a container,
/// or an unknown command.
fn unknown(command: &Command<'_>, name: &[u8]) -> CommandError {
    if let Some(container) = lookup(name).filter(|spec| !spec.subcommands.is_empty()) {
        return CommandError::UnknownSubcommand {
            subcommand: command.get(1).unwrap_or_default().to_vec(),
            container: container.upper,
        };
    }
    CommandError::UnknownCommand {
        name: name.to_vec(),
        args: command.args().skip(1).map(<[u8]>::to_vec).collect(),
    }
}

/// The command's entry and its index for the client list: a top-level command, or the
/// subcommand a container's second argument names (a container alone is its own entry, whose
/// arity check then fails).
fn find(command: &Command<'_>) -> Option<(&'static Spec, u32)> {
    let name = command.name()?;
    let position = position(COMMANDS, name)?;
    let spec = &COMMANDS[position];
    let top = (position as u32) << 8;
    if spec.subcommands.is_empty() || command.len() < 2 {
        return Some((spec, top));
    }
    let subcommand = command.get(1)?;
    let sub = spec.subcommands.iter().position(|sub| {
        sub.short()
            .as_bytes()
            .eq_ignore_ascii_case(args::c_str(subcommand))
    })?;
    Some((&spec.subcommands[sub], top | (sub as u32 + 1)))
}

/// The top-level command named `name` (any case).
pub(crate) fn lookup(name: &[u8]) -> Option<&'static Spec> {
    position(COMMANDS, name).map(|index| &COMMANDS[index])
}

/// Where `name` is in `table`, sorted by name. Names are matched as C strings without regard
/// to case, as Redis's command dictionary matches them.
fn position(table: &[Spec], name: &[u8]) -> Option<usize> {
    let name = args::c_str(name);
    if name.len() > 32 {
        return None;
    }
    let mut lower = [0u8; 32];
    let lower = &mut lower[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    table
        .binary_search_by(|spec| spec.name.as_bytes().cmp(lower))
        .ok()
}

/// The full name (`get`, `client|list`) of the command at `index` in the client list's
/// encoding; `None` for none yet.
pub(crate) fn name_of(index: u32) -> Option<&'static str> {
    let spec = COMMANDS.get((index >> 8) as usize)?;
    match index & 0xff {
        0 => Some(spec.name),
        sub => spec.subcommands.get(sub as usize - 1).map(|sub| sub.name),
    }
}
