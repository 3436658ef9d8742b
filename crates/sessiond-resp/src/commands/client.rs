//! `CLIENT SETNAME | GETNAME | SETINFO | ID | INFO | LIST | HELP`: what a connection says about
//! itself, and the list of connections.
//!
//! redis-py, node-redis and Lettuce send `CLIENT SETINFO LIB-NAME/LIB-VER` on connect (and
//! ignore an error, which is what Redis 7.0 answers: sessiond answers as 7.2 does).

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::{Call, Outcome};
use crate::args;
use crate::clients::ClientEntry;
use crate::reply::CommandError;

/// `CLIENT` alone: its arity check fails first, so this never runs.
pub(crate) fn container(_call: &mut Call<'_, '_>) -> Outcome {
    Err(CommandError::WrongArity("client"))
}

/// `CLIENT SETNAME name`: names the connection; an empty name removes it.
pub(crate) fn setname(call: &mut Call<'_, '_>) -> Outcome {
    let name = call.arg(2);
    set_name(call, name)?;
    call.reply().ok();
    Ok(())
}

/// Names the connection, refusing what would break `CLIENT LIST`'s space-separated format.
pub(crate) fn set_name(call: &mut Call<'_, '_>, name: &[u8]) -> Outcome {
    if !printable(name) {
        return Err(CommandError::message(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    call.session.client.info.lock().name = name.to_vec();
    Ok(())
}

/// `CLIENT GETNAME`: the name, or null.
pub(crate) fn getname(call: &mut Call<'_, '_>) -> Outcome {
    let name = call.session.client.info.lock().name.clone();
    if name.is_empty() {
        call.reply().null();
    } else {
        call.reply().bulk(&name);
    }
    Ok(())
}

/// `CLIENT SETINFO LIB-NAME|LIB-VER value`.
pub(crate) fn setinfo(call: &mut Call<'_, '_>) -> Outcome {
    let attribute = call.arg(2);
    let value = call.arg(3);
    let lib_name = args::is(attribute, "lib-name");
    if !lib_name && !args::is(attribute, "lib-ver") {
        return Err(CommandError::message(format!(
            "Unrecognized option '{}'",
            String::from_utf8_lossy(args::c_str(attribute))
        )));
    }
    if !printable(value) {
        return Err(CommandError::message(format!(
            "{} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(args::c_str(attribute))
        )));
    }
    let mut info = call.session.client.info.lock();
    if lib_name {
        info.lib_name = value.to_vec();
    } else {
        info.lib_ver = value.to_vec();
    }
    drop(info);
    call.reply().ok();
    Ok(())
}

/// `CLIENT ID`.
pub(crate) fn id(call: &mut Call<'_, '_>) -> Outcome {
    let id = i64::try_from(call.session.client.id).unwrap_or(i64::MAX);
    call.reply().integer(id);
    Ok(())
}

/// `CLIENT INFO`: this connection's line of `CLIENT LIST`.
pub(crate) fn info(call: &mut Call<'_, '_>) -> Outcome {
    let mut text = String::new();
    describe(&call.session.client, call, &mut text);
    call.reply().verbatim(*b"txt", text.as_bytes());
    Ok(())
}

/// `CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id ...]`.
pub(crate) fn list(call: &mut Call<'_, '_>) -> Outcome {
    let mut only_ids: Option<Vec<u64>> = None;
    let mut none = false;
    let mut next = 2;
    while next < call.argc() {
        let option = call.arg(next);
        if args::is(option, "TYPE") && next + 1 < call.argc() {
            let kind = call.arg(next + 1);
            if args::is(kind, "normal") {
            } else if ["master", "replica", "slave", "pubsub"]
                .iter()
                .any(|name| args::is(kind, name))
            {
                // sessiond has no replicas or subscribers among its clients.
                none = true;
            } else {
                return Err(CommandError::message(format!(
                    "Unknown client type '{}'",
                    String::from_utf8_lossy(args::c_str(kind))
                )));
            }
            next += 2;
        } else if args::is(option, "ID") && next + 1 < call.argc() {
            let mut ids = Vec::new();
            for arg in (next + 1..call.argc()).map(|index| call.arg(index)) {
                let id = args::integer(arg)
                    .ok()
                    .filter(|&id| id > 0)
                    .ok_or_else(|| CommandError::message("Invalid client ID"))?;
                ids.push(id.unsigned_abs());
            }
            only_ids = Some(ids);
            next = call.argc();
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let mut text = String::new();
    if !none {
        for entry in call.ctx.shared.clients.snapshot() {
            if only_ids.as_ref().is_none_or(|ids| ids.contains(&entry.id)) {
                describe(&entry, call, &mut text);
            }
        }
    }
    call.reply().verbatim(*b"txt", text.as_bytes());
    Ok(())
}

/// `CLIENT HELP`.
pub(crate) fn help(call: &mut Call<'_, '_>) -> Outcome {
    let lines: &[&[u8]] = &[
        b"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        b"GETNAME",
        b"    Return the name of the current connection.",
        b"ID",
        b"    Return the ID of the current connection.",
        b"INFO",
        b"    Return information about the current client connection.",
        b"LIST [options ...]",
        b"    Return information about client connections. Options:",
        b"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        b"      Return clients of specified type.",
        b"    * ID <client-id> [<client-id> ...]",
        b"      Return clients of specified IDs only.",
        b"SETNAME <name>",
        b"    Assign the name <name> to the current connection.",
        b"SETINFO <option> <value>",
        b"    Set client meta attr. Options are:",
        b"    * LIB-NAME: the client lib name.",
        b"    * LIB-VER: the client lib version.",
        b"HELP",
        b"    Print this help.",
    ];
    super::help(call, lines)
}

/// Whether a name or library attribute has only the characters Redis allows in one: printable
/// ASCII other than space (`!` to `~`), so that `CLIENT LIST` splits on spaces.
fn printable(value: &[u8]) -> bool {
    value.iter().all(|&byte| (b'!'..=b'~').contains(&byte))
}

/// Appends `entry`'s line of `CLIENT LIST`, in Redis 7.2's field order. Fields about Redis's
/// buffers and file descriptors, which sessiond does not have, are 0 (`fd` is -1).
fn describe(entry: &ClientEntry, call: &Call<'_, '_>, out: &mut String) {
    let info = entry.info.lock().clone();
    let now = call.now();
    let age = now.saturating_duration_since(entry.created).as_secs();
    let last = sessiond_engine::Timestamp::from_millis(entry.last_active.load(Ordering::Relaxed));
    let idle = now.saturating_duration_since(last).as_secs();
    let command = super::name_of(entry.last_command.load(Ordering::Relaxed)).unwrap_or("NULL");
    let addr = entry
        .peer
        .addr
        .map_or_else(|| "?:0".to_owned(), |addr| addr.to_string());
    let laddr = entry
        .peer
        .local
        .map_or_else(|| "?:0".to_owned(), |addr| addr.to_string());
    let multi = entry.multi.load(Ordering::Relaxed);
    // In Redis's order: `P` for a subscriber (`CLIENT_PUBSUB`), `x` in a `MULTI`
    // (`CLIENT_MULTI`), `N` for neither.
    let mut flags = String::new();
    if info.sub + info.psub > 0 {
        flags.push('P');
    }
    if multi >= 0 {
        flags.push('x');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let _ = writeln!(
        out,
        "id={} addr={addr} laddr={laddr} fd=-1 name={} age={age} idle={idle} flags={flags} \
         db={} sub={} psub={} ssub=0 multi={multi} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 \
         obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={command} user=default redir=-1 resp={} \
         lib-name={} lib-ver={}",
        entry.id,
        String::from_utf8_lossy(&info.name),
        info.db,
        info.sub,
        info.psub,
        info.resp,
        String::from_utf8_lossy(&info.lib_name),
        String::from_utf8_lossy(&info.lib_ver),
    );
}
