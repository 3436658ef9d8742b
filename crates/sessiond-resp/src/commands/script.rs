//! `SCRIPT LOAD | EXISTS | FLUSH | KILL | HELP`: the script cache.

use std::borrow::Cow;

use super::eval;
use super::{Call, Outcome};
use crate::args;
use crate::reply::CommandError;
use crate::script::{self, Kill};

/// `SCRIPT` alone: its arity check fails first, so this never runs.
pub(crate) fn container(_call: &mut Call<'_, '_>) -> Outcome {
    Err(CommandError::WrongArity("script"))
}

/// `SCRIPT LOAD script`: compiles and caches it, answers its SHA-1.
pub(crate) fn load(call: &mut Call<'_, '_>) -> Outcome {
    let script = script::parse(call.arg(2)).map_err(CommandError::message)?;
    let sha = script.sha;
    if !call.ctx.shared.scripts.contains(&sha) {
        eval::load(call.ctx, script)?;
    }
    call.reply().bulk(&sha);
    Ok(())
}

/// `SCRIPT EXISTS sha1 [sha1 ...]`: 1 or 0 for each.
pub(crate) fn exists(call: &mut Call<'_, '_>) -> Outcome {
    let found: Vec<bool> = (2..call.argc())
        .map(|index| call.ctx.shared.scripts.contains(call.arg(index)))
        .collect();
    let mut reply = call.reply();
    reply.array(found.len());
    for found in found {
        reply.integer(i64::from(found));
    }
    Ok(())
}

/// `SCRIPT FLUSH [ASYNC|SYNC]`: forgets every script (both ways at once: it is cheap).
pub(crate) fn flush(call: &mut Call<'_, '_>) -> Outcome {
    if call.argc() > 3
        || (call.argc() == 3
            && !["async", "sync"]
                .iter()
                .any(|mode| args::is(call.arg(2), mode)))
    {
        return Err(CommandError::message(
            "SCRIPT FLUSH only support SYNC|ASYNC option",
        ));
    }
    call.ctx.shared.scripts.flush();
    call.reply().ok();
    Ok(())
}

/// `SCRIPT KILL`: stops the running scripts that have not written. (sessiond also stops any
/// script at its time limit, written or not.)
pub(crate) fn kill(call: &mut Call<'_, '_>) -> Outcome {
    match call.ctx.shared.scripts.kill() {
        Kill::Killed => {
            call.reply().ok();
            Ok(())
        }
        Kill::NotBusy => Err(CommandError::Raw(Cow::Borrowed(
            "NOTBUSY No scripts in execution right now.",
        ))),
        Kill::Unkillable => Err(CommandError::Raw(Cow::Borrowed(
            "UNKILLABLE Sorry the script already executed write commands against the dataset. \
             You can either wait the script termination or kill the server in a hard way using \
             the SHUTDOWN NOSAVE command.",
        ))),
    }
}

/// `SCRIPT HELP`.
pub(crate) fn help(call: &mut Call<'_, '_>) -> Outcome {
    let lines: &[&[u8]] = &[
        b"SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        b"DEBUG (YES|SYNC|NO)",
        b"    Set the debug mode for subsequent scripts executed.",
        b"EXISTS <sha1> [<sha1> ...]",
        b"    Return information about the existence of the scripts in the script cache.",
        b"FLUSH [ASYNC|SYNC]",
        b"    Flush the Lua scripts cache. Very dangerous on replicas.",
        b"    When called without the optional mode argument, the behavior is determined by the",
        b"    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        b"    * ASYNC: Asynchronously flush the scripts cache.",
        b"    * SYNC: Synchronously flush the scripts cache.",
        b"KILL",
        b"    Kill the currently executing Lua script.",
        b"LOAD <script>",
        b"    Load a script into the scripts cache without executing it.",
        b"HELP",
        b"    Prints this help.",
    ];
    let mut reply = call.reply();
    reply.array(lines.len());
    for line in lines {
        reply.simple(line);
    }
    Ok(())
}
