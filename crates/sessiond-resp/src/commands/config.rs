//! `CONFIG GET | SET | RESETSTAT | REWRITE | HELP`: the settings clients read, and the one
//! they set.
//!
//! Spring Session reads `notify-keyspace-events` and sets it (to at least `Egx`) at start-up;
//! tools read `maxmemory`, `save`, `appendonly`, `databases`; operators change a script's time
//! limit (`busy-reply-threshold`, alias `lua-time-limit`). Every other setting is the
//! operator's, in sessiond's configuration file: `CONFIG SET` refuses it as Redis refuses an
//! immutable one.

use std::borrow::Cow;

use super::{Call, Outcome};
use crate::reply::CommandError;
use crate::{args, glob, keyspace};

/// The settings `CONFIG GET` knows, in the order it lists them.
const PARAMETERS: &[&str] = &[
    "appendfsync",
    "appendonly",
    "busy-reply-threshold",
    "client-output-buffer-limit",
    "cluster-enabled",
    "databases",
    "lua-time-limit",
    "maxclients",
    "maxmemory",
    "maxmemory-policy",
    "notify-keyspace-events",
    "port",
    "proto-max-bulk-len",
    "save",
    "timeout",
];

/// `CONFIG` alone: its arity check fails first, so this never runs.
pub(crate) fn container(_call: &mut Call<'_, '_>) -> Outcome {
    Err(CommandError::WrongArity("config"))
}

/// `CONFIG GET parameter [parameter ...]`: a map of every setting a parameter names or, with
/// a glob pattern, matches (without regard to case).
pub(crate) fn get(call: &mut Call<'_, '_>) -> Outcome {
    // Each setting once, named as first asked for: an exact name as the client wrote it
    // (Redis answers `CONFIG GET MAXMEMORY` with `MAXMEMORY`), a pattern's match by its own.
    let mut found: Vec<(&str, &[u8])> = Vec::new();
    for index in 2..call.argc() {
        let pattern = args::c_str(call.arg(index));
        let is_pattern = pattern
            .iter()
            .any(|byte| matches!(byte, b'*' | b'?' | b'['));
        for name in PARAMETERS {
            let hit = if is_pattern {
                glob::matches(pattern, name.as_bytes(), true)
            } else {
                name.as_bytes().eq_ignore_ascii_case(pattern)
            };
            if hit && !found.iter().any(|(seen, _)| seen == name) {
                let shown = if is_pattern { name.as_bytes() } else { pattern };
                found.push((name, shown));
            }
        }
    }
    let values: Vec<(&[u8], String)> = found
        .into_iter()
        .map(|(name, shown)| (shown, value(call, name)))
        .collect();
    let mut reply = call.reply();
    reply.map(values.len());
    for (name, value) in values {
        reply.bulk(name).bulk(value.as_bytes());
    }
    Ok(())
}

/// `CONFIG SET parameter value [parameter value ...]`: only `notify-keyspace-events` and the
/// scripts' time limit may be set. Every pair is checked before any is applied, as in Redis.
pub(crate) fn set(call: &mut Call<'_, '_>) -> Outcome {
    if !call.argc().is_multiple_of(2) {
        return Err(CommandError::Syntax);
    }
    let mut unknown = None;
    let mut refused: Option<(&[u8], &'static str)> = None;
    let mut events = None;
    let mut time_limit = None;
    let mut seen: Vec<&str> = Vec::new();
    for pair in (2..call.argc()).step_by(2) {
        let name = call.arg(pair);
        let Some(parameter) = PARAMETERS
            .iter()
            .find(|parameter| parameter.as_bytes().eq_ignore_ascii_case(args::c_str(name)))
        else {
            unknown.get_or_insert(name);
            continue;
        };
        if unknown.is_some() || refused.is_some() {
            continue;
        }
        if seen.contains(parameter) {
            refused = Some((name, "duplicate parameter"));
            continue;
        }
        seen.push(parameter);
        if *parameter == "notify-keyspace-events" {
            events = Some((name, call.arg(pair + 1)));
        } else if matches!(*parameter, "busy-reply-threshold" | "lua-time-limit") {
            // Two names of one setting (the second Redis's older one).
            match args::integer(call.arg(pair + 1)) {
                // sessiond keeps a limit: 0 (none, in Redis) is refused.
                Ok(millis) if millis >= 1 => time_limit = Some(millis.unsigned_abs()),
                Ok(_) => {
                    refused = Some((
                        name,
                        "argument must be between 1 and 9223372036854775807 inclusive",
                    ))
                }
                Err(_) => refused = Some((name, "argument couldn't be parsed into an integer")),
            }
        } else {
            refused = Some((name, "can't set immutable config"));
        }
    }
    if let Some(name) = unknown {
        return Err(CommandError::message(format!(
            "Unknown option or number of arguments for CONFIG SET - '{}'",
            String::from_utf8_lossy(args::c_str(name))
        )));
    }
    if let Some((name, why)) = refused {
        return Err(set_failed(name, why));
    }
    if let Some((name, value)) = events {
        let flags = keyspace::parse(value).ok_or_else(|| {
            set_failed(
                name,
                "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.",
            )
        })?;
        call.ctx.shared.set_keyspace_events(flags);
        call.ctx.shared.follow_expiry(call.ctx.engine);
    }
    if let Some(millis) = time_limit {
        call.ctx
            .shared
            .scripts
            .set_time_limit(std::time::Duration::from_millis(millis));
    }
    call.reply().ok();
    Ok(())
}

/// `CONFIG RESETSTAT`: sessiond's figures are not reset (they are the engine's), but the
/// command succeeds, as clients expect.
pub(crate) fn resetstat(call: &mut Call<'_, '_>) -> Outcome {
    call.reply().ok();
    Ok(())
}

/// `CONFIG REWRITE`: sessiond's settings live in its own file, which it never rewrites.
pub(crate) fn rewrite(_call: &mut Call<'_, '_>) -> Outcome {
    Err(CommandError::message(
        "The server is running without a config file",
    ))
}

/// `CONFIG HELP`.
pub(crate) fn help(call: &mut Call<'_, '_>) -> Outcome {
    let lines: &[&[u8]] = &[
        b"CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        b"GET <pattern>",
        b"    Return parameters matching the glob-like <pattern> and their values.",
        b"SET <directive> <value>",
        b"    Set the configuration <directive> to <value>.",
        b"RESETSTAT",
        b"    Reset statistics reported by the INFO command.",
        b"REWRITE",
        b"    Rewrite the configuration file.",
        b"HELP",
        b"    Print this help.",
    ];
    super::help(call, lines)
}

/// `CONFIG SET failed (possibly related to argument 'name') - why`.
fn set_failed(name: &[u8], why: &str) -> CommandError {
    CommandError::Message(Cow::Owned(format!(
        "CONFIG SET failed (possibly related to argument '{}') - {why}",
        String::from_utf8_lossy(args::c_str(name))
    )))
}

/// A setting's current value, as text.
fn value(call: &Call<'_, '_>, name: &str) -> String {
    let config = &call.ctx.shared.config;
    match name {
        "appendfsync" => "everysec".into(),
        "appendonly" | "cluster-enabled" => "no".into(),
        "busy-reply-threshold" | "lua-time-limit" => {
            call.ctx.shared.scripts.time_limit().as_millis().to_string()
        }
        // Only the pub/sub hard limit applies: replies are bounded otherwise, and there are
        // no replicas.
        "client-output-buffer-limit" => format!(
            "normal 0 0 0 slave 268435456 67108864 60 pubsub {} 0 0",
            config.pubsub_limit
        ),
        "databases" => config.databases.len().to_string(),
        "maxclients" => config.max_clients.to_string(),
        // `CONFIG` is refused inside scripts (`noscript`), so the whole store is free to read.
        "maxmemory" => call.ctx.engine.stats().limit_maxbytes.to_string(),
        "maxmemory-policy" => "noeviction".into(),
        "notify-keyspace-events" => keyspace::format(call.ctx.shared.keyspace_events()),
        "port" => config.tcp_port.to_string(),
        "proto-max-bulk-len" => config.limits.max_bulk_len.to_string(),
        "timeout" => "0".into(),
        // "save" and anything else: none.
        _ => String::new(),
    }
}
