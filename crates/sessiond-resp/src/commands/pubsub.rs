//! `SUBSCRIBE`, `UNSUBSCRIBE`, `PSUBSCRIBE`, `PUNSUBSCRIBE`, `PUBLISH` and
//! `PUBSUB CHANNELS | NUMSUB | NUMPAT | HELP`: Redis's pub/sub over the server-wide hub
//! (`crate::pubsub`).
//!
//! Spring Session's indexed repository listens on `__keyevent@<db>__:del` and
//! `__keyevent@<db>__:expired` and on the pattern `spring:session:event:<db>:created:*`, and
//! publishes each new session there.

use bytes::Bytes;

use super::{Call, Outcome};
use crate::pubsub::{Kind, Subscriptions};
use crate::reply::CommandError;

/// `SUBSCRIBE channel [channel ...]`: one confirmation per channel, with the connection's
/// count of channels and patterns after it.
pub(crate) fn subscribe(call: &mut Call<'_, '_>) -> Outcome {
    listen(call, Kind::Channel)
}

/// `UNSUBSCRIBE [channel ...]`: the channels named, or every one; a confirmation each (one
/// with a null channel when there was none to leave).
pub(crate) fn unsubscribe(call: &mut Call<'_, '_>) -> Outcome {
    leave(call, Kind::Channel)
}

/// `PSUBSCRIBE pattern [pattern ...]`: as `SUBSCRIBE`, for glob patterns.
pub(crate) fn psubscribe(call: &mut Call<'_, '_>) -> Outcome {
    listen(call, Kind::Pattern)
}

/// `PUNSUBSCRIBE [pattern ...]`: as `UNSUBSCRIBE`, for patterns.
pub(crate) fn punsubscribe(call: &mut Call<'_, '_>) -> Outcome {
    leave(call, Kind::Pattern)
}

/// `PUBLISH channel message`: how many subscribers received it, over every connection of
/// the server (channel and pattern subscriptions each count).
pub(crate) fn publish(call: &mut Call<'_, '_>) -> Outcome {
    let receivers = call.ctx.shared.hub.publish(call.arg(1), call.arg(2));
    call.reply()
        .integer(i64::try_from(receivers).unwrap_or(i64::MAX));
    Ok(())
}

/// `PUBSUB` alone: its arity check fails first, so this never runs.
pub(crate) fn container(_call: &mut Call<'_, '_>) -> Outcome {
    Err(CommandError::WrongArity("pubsub"))
}

/// `PUBSUB CHANNELS [pattern]`: the channels someone subscribes to.
pub(crate) fn channels(call: &mut Call<'_, '_>) -> Outcome {
    if call.argc() > 3 {
        return Err(syntax(call));
    }
    let pattern = (call.argc() == 3).then(|| call.arg(2));
    let channels = call.ctx.shared.hub.channels(pattern);
    let mut reply = call.reply();
    reply.array(channels.len());
    for channel in &channels {
        reply.bulk(channel);
    }
    Ok(())
}

/// `PUBSUB NUMSUB [channel ...]`: each channel and its number of subscribers (patterns
/// aside), as a map.
pub(crate) fn numsub(call: &mut Call<'_, '_>) -> Outcome {
    let counts: Vec<(&[u8], usize)> = (2..call.argc())
        .map(|index| {
            let channel = call.arg(index);
            (channel, call.ctx.shared.hub.subscribers(channel))
        })
        .collect();
    let mut reply = call.reply();
    reply.map(counts.len());
    for (channel, count) in counts {
        reply
            .bulk(channel)
            .integer(i64::try_from(count).unwrap_or(i64::MAX));
    }
    Ok(())
}

/// `PUBSUB NUMPAT`: how many distinct patterns are subscribed to.
pub(crate) fn numpat(call: &mut Call<'_, '_>) -> Outcome {
    let patterns = call.ctx.shared.hub.patterns();
    call.reply()
        .integer(i64::try_from(patterns).unwrap_or(i64::MAX));
    Ok(())
}

/// `PUBSUB HELP`, Redis 7.0's text (the shard commands listed, as there).
pub(crate) fn help(call: &mut Call<'_, '_>) -> Outcome {
    let lines: &[&[u8]] = &[
        b"PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        b"CHANNELS [<pattern>]",
        b"    Return the currently active channels matching a <pattern> (default: '*').",
        b"NUMPAT",
        b"    Return number of subscriptions to patterns.",
        b"NUMSUB [<channel> ...]",
        b"    Return the number of subscribers for the specified channels, excluding",
        b"    pattern subscriptions(default: no channels).",
        b"SHARDCHANNELS [<pattern>]",
        b"    Return the currently active shard level channels matching a <pattern> (default: '*').",
        b"SHARDNUMSUB [<shardchannel> ...]",
        b"    Return the number of subscribers for the specified shard level channel(s)",
        b"HELP",
        b"    Prints this help.",
    ];
    super::help(call, lines)
}

/// `SUBSCRIBE` or `PSUBSCRIBE`: the subscriptions are made on first use.
fn listen(call: &mut Call<'_, '_>, kind: Kind) -> Outcome {
    let hub = &call.ctx.shared.hub;
    let id = call.session.client.id;
    for index in 1..call.argc() {
        let name = call.arg(index);
        call.session
            .subscriptions
            .get_or_insert_with(|| Box::new(Subscriptions::new(hub, id)))
            .listen(kind, name);
        confirm(call, kind, true, Some(name));
    }
    // A new listener may want expirations: the engine starts collecting them at once rather
    // than at the server's next sweep.
    call.ctx.shared.follow_expiry(call.ctx.engine);
    Ok(())
}

/// `UNSUBSCRIBE` or `PUNSUBSCRIBE`: the names given, or all of `kind`.
fn leave(call: &mut Call<'_, '_>, kind: Kind) -> Outcome {
    let names: Vec<Bytes> = if call.argc() > 1 {
        (1..call.argc())
            .map(|index| Bytes::copy_from_slice(call.arg(index)))
            .collect()
    } else {
        let names = call
            .session
            .subscriptions
            .as_ref()
            .map(|subscriptions| subscriptions.names(kind))
            .unwrap_or_default();
        if names.is_empty() {
            confirm(call, kind, false, None);
        }
        names
    };
    for name in names {
        if let Some(subscriptions) = &mut call.session.subscriptions {
            subscriptions.leave(kind, &name);
        }
        confirm(call, kind, false, Some(&name));
    }
    Ok(())
}

/// One confirmation: `[(p)subscribe or (p)unsubscribe, name or null, count]`, a push in
/// RESP3 and an array in RESP2. Also where `CLIENT LIST` learns the new counts.
fn confirm(call: &mut Call<'_, '_>, kind: Kind, listening: bool, name: Option<&[u8]>) {
    let word: &[u8] = match (kind, listening) {
        (Kind::Channel, true) => b"subscribe",
        (Kind::Channel, false) => b"unsubscribe",
        (Kind::Pattern, true) => b"psubscribe",
        (Kind::Pattern, false) => b"punsubscribe",
    };
    let (channels, patterns) = call
        .session
        .subscriptions
        .as_ref()
        .map_or((0, 0), |subscriptions| subscriptions.counts());
    {
        let mut info = call.session.client.info.lock();
        (info.sub, info.psub) = (channels, patterns);
    }
    let mut reply = call.reply();
    reply.push(3).bulk(word);
    match name {
        Some(name) => reply.bulk(name),
        None => reply.null(),
    };
    reply.integer(i64::try_from(channels + patterns).unwrap_or(i64::MAX));
}

/// Redis's `addReplySubcommandSyntaxError`.
fn syntax(call: &Call<'_, '_>) -> CommandError {
    CommandError::message(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
        String::from_utf8_lossy(crate::args::c_str(call.arg(1)))
    ))
}
