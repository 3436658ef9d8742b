//! `MULTI`, `EXEC`, `DISCARD`, `WATCH`, `UNWATCH`: transactions. redis-py's pipelines send
//! `MULTI` ... `EXEC` by default, and session stores built on them (Django's Redis cache,
//! Flask-Session, Rails' redis-store) update sessions with `WATCH` and a transaction.
//!
//! `EXEC` runs the queued commands as one atomic step: it locks the shards of every key they
//! name and of the watched keys together ([`Engine::atomically`]), reads the watched keys'
//! versions again, and runs each command through its usual handler inside that block, so no
//! other client sees half of the transaction. A transaction that cannot be one block (a
//! command on the whole store, such as `FLUSHDB`, or more than
//! [`Limits::max_atomic_keys`] keys) runs command after command instead.
//!
//! [`Engine::atomically`]: sessiond_engine::Engine::atomically
//! [`Limits::max_atomic_keys`]: crate::Limits::max_atomic_keys

use bytes::BytesMut;
use sessiond_engine::{ReadVersion, Transaction};

use super::multi::Runner;
use super::{Call, Outcome};
use crate::Context;
use crate::connection::Session;
use crate::encoder::Encoder;
use crate::reply::CommandError;
use crate::transaction::{Queue, Watched};

/// `MULTI`: starts a transaction; the commands after it are queued until `EXEC`.
pub(crate) fn multi(call: &mut Call<'_, '_>) -> Outcome {
    if call.session.multi.active() {
        return Err(CommandError::message("MULTI calls can not be nested"));
    }
    call.session.multi.begin();
    call.reply().ok();
    Ok(())
}

/// `EXEC`: runs the queued commands and answers their replies in one array; a null array
/// when a watched key changed, and nothing ran.
pub(crate) fn exec(call: &mut Call<'_, '_>) -> Outcome {
    let Some(queue) = call.session.multi.take() else {
        return Err(CommandError::message("EXEC without MULTI"));
    };
    let watched = call.session.multi.unwatch();
    if queue.aborted() {
        return Err(CommandError::ExecAbort(None));
    }
    let ctx = *call.ctx;
    let config = &ctx.shared.config;
    let session = &mut *call.session;
    let out = &mut *call.out;
    let keys = queue.keys(
        &watched,
        session.db,
        &config.databases,
        config.limits.max_atomic_keys,
    );
    match keys {
        Some(keys) => ctx.engine.atomically(&keys, ctx.now, |block| {
            run(&queue, &watched, session, &ctx, out, Some(block))
        }),
        None => run(&queue, &watched, session, &ctx, out, None),
    }
}

/// `DISCARD`: drops the queued commands and forgets the watched keys.
pub(crate) fn discard(call: &mut Call<'_, '_>) -> Outcome {
    if !call.session.multi.active() {
        return Err(CommandError::message("DISCARD without MULTI"));
    }
    call.session.multi.discard();
    call.reply().ok();
    Ok(())
}

/// `WATCH key [key ...]`: the next `EXEC` runs nothing if one of these keys changes before
/// it. A refusal past the transaction's byte limit leaves the keys before it watched.
pub(crate) fn watch(call: &mut Call<'_, '_>) -> Outcome {
    if call.session.multi.active() {
        return Err(CommandError::message("WATCH inside MULTI is not allowed"));
    }
    let limits = call.ctx.shared.config.limits;
    for index in 1..call.argc() {
        let key = call.key(index);
        if call.session.multi.watches(key) {
            continue;
        }
        let version = call.run(&ReadVersion { key })?;
        call.session.multi.watch(key, version, &limits)?;
    }
    call.reply().ok();
    Ok(())
}

/// `UNWATCH`: forgets the watched keys.
pub(crate) fn unwatch(call: &mut Call<'_, '_>) -> Outcome {
    call.session.multi.unwatch();
    call.reply().ok();
    Ok(())
}

/// Checks the watched keys, then runs the queued commands, inside `block` when given.
fn run<'a>(
    queue: &Queue,
    watched: &Watched,
    session: &mut Session,
    ctx: &Context<'a>,
    out: &mut BytesMut,
    mut block: Option<&mut Transaction<'a, 'a>>,
) -> Outcome {
    let mut runner = match block.as_deref_mut() {
        Some(block) => Runner::Block(block),
        None => Runner::Engine(ctx.engine, ctx.now),
    };
    for (key, version) in watched.iter() {
        if runner.run(&ReadVersion { key })? != version {
            Encoder::new(out, session.version).null_array();
            return Ok(());
        }
    }
    Encoder::new(out, session.version).array(queue.len());
    for (spec, command) in queue.commands() {
        super::execute(spec, &command, session, ctx, out, block.as_deref_mut());
    }
    Ok(())
}
