//! The errors a command answers, worded exactly as Redis 7.0 words them.
//!
//! Handlers return a [`CommandError`]; the dispatcher writes it. The texts were checked
//! against redis-server 7.0.15 (the transcript tests in `crates/sessiond/tests/resp.rs` compare
//! them with a running one).

use std::borrow::Cow;

use bytes::BufMut;
use sessiond_engine::EngineError;

use crate::args::c_str;

/// Why a command was refused. Nothing reaches the store for a refused command, except where a
/// command's own documentation says otherwise (a multi-key write refused part way).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CommandError {
    /// No such command: its name and the arguments after it.
    UnknownCommand {
        /// The command's name, as sent.
        name: Vec<u8>,
        /// Its first arguments, as sent (Redis shows up to 128 bytes of them).
        args: Vec<Vec<u8>>,
    },
    /// A container command (`CLIENT`, `CONFIG`, `COMMAND`) without such a subcommand.
    UnknownSubcommand {
        /// The subcommand, as sent.
        subcommand: Vec<u8>,
        /// The container, upper case.
        container: &'static str,
    },
    /// The wrong number of arguments for the command (its full name: `client|setname`).
    WrongArity(&'static str),
    /// `syntax error`.
    Syntax,
    /// `value is not an integer or out of range`.
    NotInteger,
    /// `value is not a valid float`.
    NotFloat,
    /// `min or max is not a float` (a score range).
    MinMaxNotFloat,
    /// `hash value is not an integer` (`HINCRBY` of a field that holds something else).
    HashNotInteger,
    /// `invalid expire time in '<command>' command`.
    InvalidExpire(&'static str),
    /// `invalid cursor`.
    InvalidCursor,
    /// `no such key` (`RENAME` of a missing key; Spring Session tolerates exactly this).
    NoSuchKey,
    /// `-NOAUTH Authentication required.`
    NoAuth,
    /// `-WRONGPASS ...`: a wrong user name or password.
    WrongPass,
    /// `AUTH <password>` with no password configured.
    NoPasswordConfigured,
    /// `HELLO` before authenticating, without its `AUTH` option.
    HelloNoAuth,
    /// `-NOPROTO`: `HELLO` with a version other than 2 or 3.
    NoProto,
    /// `HELLO` with an option it does not know; the option.
    HelloSyntax(Vec<u8>),
    /// `HELLO` with a version that is not an integer.
    HelloVersion,
    /// `SELECT` of a database that does not exist.
    DbIndexOutOfRange,
    /// `-WRONGTYPE`: the key holds another kind of value.
    WrongType,
    /// `-OOM`: the write would take the store past its memory limit.
    OutOfMemory,
    /// The store cannot make writes durable now (disk full or failing).
    Unavailable,
    /// An increment past the signed 64-bit range.
    Overflow,
    /// A string grown past the value size limit.
    TooLarge,
    /// `-EXECABORT`: the transaction was discarded, because a command was refused while it
    /// was queued (`None`), or because `EXEC` itself was refused, for this reason.
    ExecAbort(Option<Box<CommandError>>),
    /// A script's command named a key the script did not declare in `KEYS`: a script runs
    /// atomically over its declared keys only (as in Redis Cluster).
    UndeclaredKey,
    /// A script's command that needs the whole keyspace (`DBSIZE`, `SCAN`, `FLUSHDB`, ...):
    /// the script's atomic block holds its own keys only.
    WholeKeyspaceInScript,
    /// Any other error reply, its text whole, code first (`NOSCRIPT ...`, `NOTBUSY ...`).
    Raw(Cow<'static, str>),
    /// Any other `-ERR` reply, with its text after `ERR `.
    Message(Cow<'static, str>),
}

impl CommandError {
    /// `-ERR` with `text`.
    pub(crate) fn message(text: impl Into<Cow<'static, str>>) -> Self {
        CommandError::Message(text.into())
    }

    /// Writes the error reply: the same bytes in RESP2 and RESP3.
    pub(crate) fn write<B: BufMut>(&self, out: &mut B) {
        let mut line = self.line();
        out.put_u8(b'-');
        // Redis replaces CR and LF in an error with spaces, so the reply stays one line.
        for byte in &mut line {
            if matches!(*byte, b'\r' | b'\n') {
                *byte = b' ';
            }
        }
        out.put_slice(&line);
        out.put_slice(b"\r\n");
    }

    /// The reply's line, without its `-` and its line end.
    fn line(&self) -> Vec<u8> {
        let mut line = Vec::with_capacity(64);
        match self {
            CommandError::UnknownCommand { name, args } => {
                line.extend_from_slice(b"ERR unknown command '");
                // `%.128s` of a C string: at most 128 bytes, up to a NUL.
                let name = c_str(name);
                line.extend_from_slice(&name[..name.len().min(128)]);
                line.extend_from_slice(b"', with args beginning with: ");
                // Redis adds `'arg' ` while what it built is under 128 bytes, each argument
                // cut to what is left of those 128 (`'%.*s' `).
                let mut built = 0usize;
                for arg in args {
                    if built >= 128 {
                        break;
                    }
                    let arg = c_str(arg);
                    let take = arg.len().min(128 - built);
                    line.push(b'\'');
                    line.extend_from_slice(&arg[..take]);
                    line.extend_from_slice(b"' ");
                    built += take + 3;
                }
            }
            CommandError::UnknownSubcommand {
                subcommand,
                container,
            } => {
                line.extend_from_slice(b"ERR unknown subcommand '");
                let subcommand = c_str(subcommand);
                line.extend_from_slice(&subcommand[..subcommand.len().min(128)]);
                line.extend_from_slice(b"'. Try ");
                line.extend_from_slice(container.as_bytes());
                line.extend_from_slice(b" HELP.");
            }
            CommandError::WrongArity(name) => {
                line.extend_from_slice(b"ERR wrong number of arguments for '");
                line.extend_from_slice(name.as_bytes());
                line.extend_from_slice(b"' command");
            }
            CommandError::InvalidExpire(name) => {
                line.extend_from_slice(b"ERR invalid expire time in '");
                line.extend_from_slice(name.as_bytes());
                line.extend_from_slice(b"' command");
            }
            CommandError::HelloSyntax(option) => {
                line.extend_from_slice(b"ERR Syntax error in HELLO option '");
                line.extend_from_slice(c_str(option));
                line.push(b'\'');
            }
            CommandError::Message(text) => {
                line.extend_from_slice(b"ERR ");
                line.extend_from_slice(text.as_bytes());
            }
            CommandError::Raw(text) => line.extend_from_slice(text.as_bytes()),
            CommandError::ExecAbort(None) => line
                .extend_from_slice(b"EXECABORT Transaction discarded because of previous errors."),
            CommandError::ExecAbort(Some(reason)) => {
                // Redis's `execCommandAbort`: the reason's text, without an `ERR ` code.
                line.extend_from_slice(b"EXECABORT Transaction discarded because of: ");
                let reason = reason.line();
                line.extend_from_slice(reason.strip_prefix(b"ERR ").unwrap_or(&reason));
            }
            fixed => line.extend_from_slice(fixed.fixed_text()),
        }
        line
    }

    /// The text of an error whose text never varies.
    fn fixed_text(&self) -> &'static [u8] {
        match self {
            CommandError::Syntax => b"ERR syntax error",
            CommandError::NotInteger => b"ERR value is not an integer or out of range",
            CommandError::NotFloat => b"ERR value is not a valid float",
            CommandError::MinMaxNotFloat => b"ERR min or max is not a float",
            CommandError::HashNotInteger => b"ERR hash value is not an integer",
            CommandError::InvalidCursor => b"ERR invalid cursor",
            CommandError::NoSuchKey => b"ERR no such key",
            CommandError::NoAuth => b"NOAUTH Authentication required.",
            CommandError::WrongPass => {
                b"WRONGPASS invalid username-password pair or user is disabled."
            }
            CommandError::NoPasswordConfigured => {
                b"ERR AUTH <password> called without any password configured for the default \
                  user. Are you sure your configuration is correct?"
            }
            CommandError::HelloNoAuth => {
                b"NOAUTH HELLO must be called with the client already authenticated, otherwise \
                  the HELLO AUTH <user> <pass> option can be used to authenticate the client and \
                  select the RESP protocol version at the same time"
            }
            CommandError::NoProto => b"NOPROTO unsupported protocol version",
            CommandError::HelloVersion => b"ERR Protocol version is not an integer or out of range",
            CommandError::DbIndexOutOfRange => b"ERR DB index is out of range",
            CommandError::WrongType => {
                b"WRONGTYPE Operation against a key holding the wrong kind of value"
            }
            CommandError::OutOfMemory => b"OOM command not allowed when used memory > 'maxmemory'.",
            // Redis's code for "writes refused because persistence is failing".
            CommandError::Unavailable => {
                b"MISCONF sessiond cannot make writes durable now (the disk is full or \
                  failing); writes are refused, reads go on"
            }
            CommandError::Overflow => b"ERR increment or decrement would overflow",
            CommandError::TooLarge => {
                b"ERR string exceeds maximum allowed size (proto-max-bulk-len)"
            }
            CommandError::UndeclaredKey => {
                b"ERR Script attempted to access a key not declared in KEYS (sessiond runs a \
                  script atomically over its declared keys)"
            }
            CommandError::WholeKeyspaceInScript => {
                b"ERR This command reads or changes the whole keyspace, which a script cannot \
                  do in sessiond (a script holds only the keys it declared)"
            }
            _ => b"ERR",
        }
    }
}

impl From<EngineError> for CommandError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::OutOfMemory => CommandError::OutOfMemory,
            EngineError::Unavailable => CommandError::Unavailable,
            EngineError::WrongType => CommandError::WrongType,
            EngineError::NotAnInteger => CommandError::NotInteger,
            EngineError::Overflow => CommandError::Overflow,
            EngineError::TooLarge => CommandError::TooLarge,
            EngineError::NotANumber => {
                CommandError::message("resulting score is not a number (NaN)")
            }
            EngineError::NotAFloat => CommandError::message("hash value is not a float"),
            // A script's command on a key it did not declare (an `EXEC` declares every key its
            // commands name, so there it cannot happen).
            EngineError::UndeclaredKey => CommandError::UndeclaredKey,
            // Anything the engine adds later: answered rather than panicking on a request.
            other => CommandError::Message(Cow::Owned(format!("internal error: {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(error: &CommandError) -> String {
        let mut out = Vec::new();
        error.write(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn unknown_command_shows_the_first_arguments_like_redis() {
        let error = CommandError::UnknownCommand {
            name: b"foo".to_vec(),
            args: vec![b"a".to_vec(), b"b".to_vec()],
        };
        assert_eq!(
            text(&error),
            "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n"
        );
        let none = CommandError::UnknownCommand {
            name: b"foo".to_vec(),
            args: vec![],
        };
        assert_eq!(
            text(&none),
            "-ERR unknown command 'foo', with args beginning with: \r\n"
        );
        // Arguments are added while under 128 bytes, the last cut to what is left.
        let long = CommandError::UnknownCommand {
            name: b"x".to_vec(),
            args: vec![vec![b'a'; 100], vec![b'b'; 100], vec![b'c'; 5]],
        };
        let expected = format!(
            "-ERR unknown command 'x', with args beginning with: '{}' '{}' \r\n",
            "a".repeat(100),
            "b".repeat(25)
        );
        assert_eq!(text(&long), expected);
    }

    #[test]
    fn an_aborted_exec_gives_its_reason_without_the_err_code() {
        let arity = CommandError::ExecAbort(Some(Box::new(CommandError::WrongArity("exec"))));
        assert_eq!(
            text(&arity),
            "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' \
             command\r\n"
        );
        let auth = CommandError::ExecAbort(Some(Box::new(CommandError::NoAuth)));
        assert_eq!(
            text(&auth),
            "-EXECABORT Transaction discarded because of: NOAUTH Authentication required.\r\n"
        );
        assert_eq!(
            text(&CommandError::ExecAbort(None)),
            "-EXECABORT Transaction discarded because of previous errors.\r\n"
        );
    }

    #[test]
    fn line_breaks_become_spaces() {
        let error = CommandError::UnknownCommand {
            name: b"a\r\nb".to_vec(),
            args: vec![],
        };
        assert!(text(&error).starts_with("-ERR unknown command 'a  b'"));
    }
}
