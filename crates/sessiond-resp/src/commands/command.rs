//! `COMMAND`, `COMMAND COUNT | INFO | DOCS | LIST | GETKEYS | HELP`: what the server knows,
//! for clients that probe it (cluster-aware clients read key positions from `COMMAND INFO`).

use bytes::BytesMut;

use super::{COMMANDS, Call, Outcome, Spec, lookup};
use crate::encoder::Encoder;
use crate::reply::CommandError;
use crate::{args, glob};

/// `COMMAND`: every command's information.
pub(crate) fn all(call: &mut Call<'_, '_>) -> Outcome {
    let mut reply = call.reply();
    reply.array(COMMANDS.len());
    for spec in COMMANDS {
        write_info(&mut reply, spec);
    }
    Ok(())
}

/// `COMMAND COUNT`.
pub(crate) fn count(call: &mut Call<'_, '_>) -> Outcome {
    call.reply().integer(COMMANDS.len() as i64);
    Ok(())
}

/// `COMMAND INFO [name ...]`: each named command's information, null for an unknown one;
/// every command's without names.
pub(crate) fn info(call: &mut Call<'_, '_>) -> Outcome {
    if call.argc() == 2 {
        return all(call);
    }
    let names: Vec<&[u8]> = (2..call.argc()).map(|index| call.arg(index)).collect();
    let mut reply = call.reply();
    reply.array(names.len());
    for name in names {
        match find_full(name) {
            Some(spec) => write_info(&mut reply, spec),
            None => {
                reply.null();
            }
        }
    }
    Ok(())
}

/// `COMMAND DOCS [name ...]`: a map of each known command's documentation.
pub(crate) fn docs(call: &mut Call<'_, '_>) -> Outcome {
    let specs: Vec<&Spec> = if call.argc() == 2 {
        COMMANDS.iter().collect()
    } else {
        (2..call.argc())
            .filter_map(|index| find_full(call.arg(index)))
            .collect()
    };
    let mut reply = call.reply();
    reply.map(specs.len());
    for spec in specs {
        reply.bulk(spec.name.as_bytes());
        write_docs(&mut reply, spec);
    }
    Ok(())
}

/// `COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]`: command names,
/// subcommands included.
pub(crate) fn list(call: &mut Call<'_, '_>) -> Outcome {
    enum Filter<'f> {
        All,
        Nothing,
        Category(&'f [u8]),
        Pattern(&'f [u8]),
    }
    let filter = match call.argc() {
        2 => Filter::All,
        5 if args::is(call.arg(2), "FILTERBY") => {
            let value = call.arg(4);
            if args::is(call.arg(3), "MODULE") {
                Filter::Nothing
            } else if args::is(call.arg(3), "ACLCAT") {
                Filter::Category(value)
            } else if args::is(call.arg(3), "PATTERN") {
                Filter::Pattern(value)
            } else {
                return Err(CommandError::Syntax);
            }
        }
        _ => return Err(CommandError::Syntax),
    };
    let names: Vec<&str> = every_spec()
        .filter(|spec| match filter {
            Filter::All => true,
            Filter::Nothing => false,
            Filter::Category(category) => spec.acl.iter().any(|acl| args::is(category, acl)),
            Filter::Pattern(pattern) => glob::matches(pattern, spec.name.as_bytes(), true),
        })
        .map(|spec| spec.name)
        .collect();
    let mut reply = call.reply();
    reply.array(names.len());
    for name in names {
        reply.bulk(name.as_bytes());
    }
    Ok(())
}

/// `COMMAND GETKEYS command [arg ...]`: which of the arguments are keys.
pub(crate) fn getkeys(call: &mut Call<'_, '_>) -> Outcome {
    let name = call.arg(2);
    let Some(mut spec) = lookup(name) else {
        return Err(CommandError::message("Invalid command specified"));
    };
    let argc = call.argc() - 2;
    if !spec.subcommands.is_empty() && argc >= 2 {
        let sub = args::c_str(call.arg(3));
        spec = spec
            .subcommands
            .iter()
            .find(|candidate| candidate.short().as_bytes().eq_ignore_ascii_case(sub))
            .ok_or_else(|| CommandError::message("Invalid command specified"))?;
    }
    let arity = spec.arity.unsigned_abs() as usize;
    if (spec.arity >= 0 && argc != arity) || argc < arity {
        return Err(CommandError::message(
            "Invalid number of arguments specified for command",
        ));
    }
    let [first, last, step] = spec.keys;
    if first == 0 {
        return Err(CommandError::message("The command has no key arguments"));
    }
    let last = if last < 0 {
        argc as i64 + i64::from(last)
    } else {
        i64::from(last)
    };
    let positions: Vec<usize> = (i64::from(first)..=last)
        .step_by(step.max(1) as usize)
        .filter_map(|position| usize::try_from(position).ok())
        .filter(|&position| position < argc)
        .collect();
    let keys: Vec<&[u8]> = positions
        .into_iter()
        .map(|position| call.arg(position + 2))
        .collect();
    let mut reply = call.reply();
    reply.array(keys.len());
    for key in keys {
        reply.bulk(key);
    }
    Ok(())
}

/// `COMMAND HELP`.
pub(crate) fn help(call: &mut Call<'_, '_>) -> Outcome {
    let lines: &[&[u8]] = &[
        b"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        b"(no subcommand)",
        b"    Return details about all Redis commands.",
        b"COUNT",
        b"    Return the total number of commands in this Redis server.",
        b"LIST",
        b"    Return a list of all commands in this Redis server.",
        b"INFO [<command-name> ...]",
        b"    Return details about multiple Redis commands.",
        b"DOCS [<command-name> ...]",
        b"    Return documentation details about multiple Redis commands.",
        b"GETKEYS <full-command>",
        b"    Return the keys from a full Redis command.",
        b"HELP",
        b"    Print this help.",
    ];
    super::help(call, lines)
}

/// Every command and subcommand.
fn every_spec() -> impl Iterator<Item = &'static Spec> {
    COMMANDS
        .iter()
        .flat_map(|spec| std::iter::once(spec).chain(spec.subcommands.iter()))
}

/// A command by its full name (`get`, `client|list`), in any case.
fn find_full(name: &[u8]) -> Option<&'static Spec> {
    let name = args::c_str(name);
    every_spec().find(|spec| spec.name.as_bytes().eq_ignore_ascii_case(name))
}

/// One command's `COMMAND INFO` entry: Redis 7's ten fields.
fn write_info(reply: &mut Encoder<'_, BytesMut>, spec: &Spec) {
    reply.array(10);
    reply.bulk(spec.name.as_bytes());
    reply.integer(i64::from(spec.arity));
    reply.set(spec.flags.len());
    for flag in spec.flags {
        reply.simple(flag.as_bytes());
    }
    for position in spec.keys {
        reply.integer(i64::from(position));
    }
    reply.set(spec.acl.len());
    for category in spec.acl {
        let mut text = Vec::with_capacity(category.len() + 1);
        text.push(b'@');
        text.extend_from_slice(category.as_bytes());
        reply.simple(&text);
    }
    // No tips, and no key specs: the first, last and step above say where the keys are.
    reply.set(0);
    reply.array(0);
    reply.array(spec.subcommands.len());
    for sub in spec.subcommands {
        write_info(reply, sub);
    }
}

/// One command's `COMMAND DOCS` entry.
fn write_docs(reply: &mut Encoder<'_, BytesMut>, spec: &Spec) {
    let subcommands = !spec.subcommands.is_empty();
    reply.map(3 + usize::from(subcommands));
    reply.bulk(b"summary").bulk(spec.summary.as_bytes());
    reply.bulk(b"since").bulk(spec.since.as_bytes());
    reply.bulk(b"group").bulk(spec.group.as_bytes());
    if subcommands {
        reply.bulk(b"subcommands");
        reply.map(spec.subcommands.len());
        for sub in spec.subcommands {
            reply.bulk(sub.name.as_bytes());
            write_docs(reply, sub);
        }
    }
}
