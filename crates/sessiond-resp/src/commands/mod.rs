//! The command table and dispatch: finding a command by name, checking its arity and the
//! client's authentication in Redis's order, running it, and writing its error if it fails.
//!
//! Each command lives in its own module (a few closely related ones share one), as in
//! mini-redis: a handler takes a [`Call`] and writes its reply, or returns a
//! [`CommandError`] that [`run`] writes.
//!
//! A handler runs its keyed engine commands through the call ([`Call::run`] and the other
//! methods in `multi`), never on the engine directly: the same handler then runs alone or
//! inside an atomic block (the commands of an `EXEC`), whichever the call says.

mod append;
mod auth;
mod card;
mod client;
mod command;
mod config;
mod dbsize;
mod del;
mod echo;
mod eval;
mod exists;
mod expire;
mod expiry;
mod flush;
mod get;
mod getdel;
mod getex;
mod hdel;
mod hello;
mod hget;
mod hgetall;
mod hincrby;
mod hset;
mod incr;
mod info;
mod key_type;
mod lookup;
mod mget;
mod mset;
mod multi;
mod persist;
mod ping;
mod pubsub;
mod quit;
mod rename;
mod reset;
mod sadd;
mod scan;
mod script;
mod select;
mod set;
mod smembers;
mod strlen;
mod table;
mod transaction;
mod ttl;
mod zadd;
mod zcount;
mod zrange;
mod zrem;
mod zscore;

use bytes::BytesMut;
use sessiond_engine::{Engine, Key, NamespaceId, Timestamp, Transaction};

use crate::command::Command;
use crate::connection::Session;
use crate::encoder::Encoder;
use crate::reply::CommandError;
use crate::{Context, args, keyspace};

pub(crate) use select::database;
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
    /// The atomic block the command runs in (a command of an `EXEC`), if any: its keyed
    /// engine commands must go through it, as any other call on the engine would wait for
    /// the block's own locks.
    pub(crate) block: Option<&'c mut Transaction<'a, 'a>>,
}

impl<'c, 'a> Call<'c, 'a> {
    /// An encoder for the reply, in the connection's current protocol version.
    pub(crate) fn reply(&mut self) -> Encoder<'_, BytesMut> {
        Encoder::new(self.out, self.session.version)
    }

    /// Argument `index` (0 is the name); empty when missing (arity checks come first, so a
    /// handler only asks for arguments the command has).
    pub(crate) fn arg(&self, index: usize) -> &'c [u8] {
        self.args.get(index).unwrap_or_default()
    }

    /// Answers a count, as Redis's integer reply (saturating: no count comes near).
    pub(crate) fn count(&mut self, count: impl TryInto<i64>) {
        self.reply().integer(count.try_into().unwrap_or(i64::MAX));
    }

    /// The arguments from `index` on.
    pub(crate) fn args_from(&self, index: usize) -> Vec<&'c [u8]> {
        self.args.args().skip(index).collect()
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

    /// The whole store, for the commands about no given key (`FLUSHDB`, `SCAN`, `DBSIZE`,
    /// `INFO`). Keyed engine commands go through [`Call::run`] instead. A transaction never
    /// runs a command that needs this inside its atomic block; a script's block holds only
    /// the script's keys, and such a command would wait for the others forever, so inside a
    /// block it is refused.
    pub(crate) fn store(&self) -> Result<&'a Engine, CommandError> {
        match self.block {
            None => Ok(self.ctx.engine),
            Some(_) => Err(CommandError::WholeKeyspaceInScript),
        }
    }

    /// The time the command runs at.
    pub(crate) fn now(&self) -> Timestamp {
        self.ctx.now
    }

    /// Publishes keyspace event `event` of `class` (`keyspace::class`) for `key` in the
    /// selected database; free unless `notify-keyspace-events` selects it and someone
    /// subscribes.
    #[inline]
    pub(crate) fn notify(&self, class: u32, event: &str, key: &[u8]) {
        // The common case, no event of the class selected, costs one load here.
        if self.ctx.shared.keyspace_events() & class != 0 {
            self.ctx.shared.notify(class, event, key, self.session.db);
        }
    }

    /// Publishes `event` of `class` for the key at argument 1 after a command removed some of
    /// a collection's elements, and `del` too when that left the key empty (and so gone), as
    /// Redis does for `HDEL`, `SREM`, `ZREM`. Finding out costs a lookup, made only when a
    /// `del` would be heard.
    pub(crate) fn notify_removal(&mut self, class: u32, event: &str) -> Outcome {
        self.notify(class, event, self.arg(1));
        if self.ctx.shared.notifies(keyspace::class::GENERIC) {
            let key = self.key(1);
            if self.run(&sessiond_engine::Inspect { key })?.is_none() {
                self.notify(keyspace::class::GENERIC, "del", self.arg(1));
            }
        }
        Ok(())
    }

    /// The time in Redis's terms: milliseconds since the epoch, signed.
    pub(crate) fn now_millis(&self) -> i64 {
        i64::try_from(self.ctx.now.as_millis()).unwrap_or(i64::MAX)
    }
}

/// Answers a container's `HELP`: its lines, each a simple string.
pub(crate) fn help(call: &mut Call<'_, '_>, lines: &[&[u8]]) -> Outcome {
    let mut reply = call.reply();
    reply.array(lines.len());
    for line in lines {
        reply.simple(line);
    }
    Ok(())
}

/// Runs one (non-empty) command and writes its reply or its error to `out`; inside a
/// transaction, queues it instead. Then tells the client list whether the connection is in a
/// `MULTI` (any command can begin, grow, end or abort one).
pub(crate) fn run(
    command: &Command<'_>,
    session: &mut Session,
    ctx: &Context<'_>,
    out: &mut BytesMut,
) {
    run_checked(command, session, ctx, out);
    session.client.in_multi(session.multi.queued());
}

///
/// The checks come in Redis 7.0's order (`processCommand`): `QUIT` first, whatever its
/// arguments; then an unknown command or subcommand; then the number of arguments; then
/// authentication, except for the commands a client may send before it (`AUTH`, `HELLO`,
/// `RESET`). A command refused by them aborts the transaction under way; a refused `EXEC`
/// discards it at once. Then, for a RESP2 client that subscribes to something, only the few
/// commands Redis allows in that state pass.
fn run_checked(
    command: &Command<'_>,
    session: &mut Session,
    ctx: &Context<'_>,
    out: &mut BytesMut,
) {
    let found = find(command);
    let checked = match found {
        Some((spec, index)) => check(spec, command, session).map(|()| (spec, index)),
        None => Err(unknown(command, command.name().unwrap_or_default())),
    };
    let (spec, index) = match checked {
        Ok(found) => found,
        Err(error) => {
            session.multi.abort();
            let error = if found.is_some_and(|(spec, _)| spec.name == "exec") {
                session.multi.discard();
                CommandError::ExecAbort(Some(Box::new(error)))
            } else {
                error
            };
            error.write(out);
            return;
        }
    };
    session.client.ran(index, ctx.now);
    if session.multi.queues(spec) {
        match session
            .multi
            .queue(spec, command, &ctx.shared.config.limits)
        {
            Ok(()) => {
                Encoder::new(out, session.version).simple(b"QUEUED");
            }
            Err(error) => error.write(out),
        }
        return;
    }
    // Messages published meanwhile (to this connection's own channels too) go before the
    // reply, as Redis writes them; an `EXEC`'s go before its whole reply.
    let start = out.len();
    execute(spec, command, session, ctx, out, None);
    session.deliver_at(out, start);
}

/// Runs a command that passed the checks, inside `block` when one is given (the commands of
/// an `EXEC`), and writes its reply or its error.
pub(crate) fn execute<'a>(
    spec: &Spec,
    command: &Command<'_>,
    session: &mut Session,
    ctx: &Context<'a>,
    out: &mut BytesMut,
    block: Option<&mut Transaction<'a, 'a>>,
) {
    let mut call = Call {
        args: *command,
        session,
        ctx,
        out,
        block,
    };
    if let Err(error) = (spec.run)(&mut call) {
        error.write(call.out);
    }
}

/// Runs one command of a script (`redis.call`) inside the script's atomic `block`, with the
/// same handlers as the protocol's, and writes its reply or error to `out`. The checks come
/// in Redis 7.0's order (`scriptCall`); one failing answers its text (for an error table),
/// and nothing runs. Returns whether the command was a write.
pub(crate) fn run_in_script<'a>(
    command: &Command<'_>,
    session: &mut Session,
    ctx: &Context<'a>,
    out: &mut BytesMut,
    block: &mut Transaction<'a, 'a>,
    read_only: bool,
) -> Result<bool, &'static str> {
    let Some((spec, _)) = find(command) else {
        return Err("Unknown Redis command called from script");
    };
    let argc = command.len();
    let arity = spec.arity.unsigned_abs() as usize;
    if (spec.arity >= 0 && argc != arity) || argc < arity {
        return Err("Wrong number of args calling Redis command from script");
    }
    if spec.flags.contains(&"noscript") {
        return Err("This Redis command is not allowed from script");
    }
    let write = spec.flags.contains(&"write");
    if write && read_only {
        return Err("Write commands are not allowed from read-only scripts.");
    }
    execute(spec, command, session, ctx, out, Some(block));
    Ok(write)
}

/// The checks after the command is found: the number of arguments, authentication, and
/// whether a transaction may hold it.
fn check(spec: &Spec, command: &Command<'_>, session: &Session) -> Result<(), CommandError> {
    let argc = command.len();
    let arity_ok = if spec.arity >= 0 {
        argc == spec.arity.unsigned_abs() as usize
    } else {
        argc >= spec.arity.unsigned_abs() as usize
    };
    if !arity_ok {
        return Err(CommandError::WrongArity(spec.name));
    }
    if !session.authenticated && !spec.flags.contains(&"no_auth") {
        return Err(CommandError::NoAuth);
    }
    if session.multi.active() && spec.flags.contains(&"no_multi") {
        return Err(CommandError::message(
            "Command not allowed inside a transaction",
        ));
    }
    if session.in_subscribed_mode() && !SUBSCRIBED_MODE.contains(&spec.name) {
        return Err(CommandError::message(format!(
            "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET \
             are allowed in this context",
            spec.name
        )));
    }
    Ok(())
}

/// What a RESP2 client may run while it subscribes to something (Redis 7.0's
/// `processCommand`; `QUIT` never reaches the check there, and needs none here).
const SUBSCRIBED_MODE: &[&str] = &[
    "ping",
    "psubscribe",
    "punsubscribe",
    "quit",
    "reset",
    "subscribe",
    "unsubscribe",
];

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
pub(crate) fn find(command: &Command<'_>) -> Option<(&'static Spec, u32)> {
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
