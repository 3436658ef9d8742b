//! A complete request as an engine command, and its reply.

use bytes::BytesMut;
use sessiond_engine::{
    Delete, DeleteOutcome, EngineError, Expiry, Get, GetOutcome, Key, Store, StoreMode,
    StoreOutcome,
};

use crate::framing::Frame;
use crate::header::Opcode;
use crate::{Context, Lifetime, REPLY_OK, Refusal};

/// Runs the request `frame` locates in `input` and appends its reply to `output`: `OK\n`, a
/// value's bytes, or nothing for a miss. Fails only when the engine refuses a store.
pub(crate) fn run(
    frame: &Frame,
    input: &[u8],
    output: &mut BytesMut,
    ctx: &Context<'_>,
) -> Result<(), Refusal> {
    // The framing saw every byte of the request; should it not have, there is nothing to run.
    let (Some(name), Some(data)) = (input.get(frame.key()), input.get(frame.data())) else {
        return Ok(());
    };
    let key = Key::new(ctx.namespace, name);
    match frame.opcode {
        Opcode::Store => store(key, data, output, ctx),
        Opcode::Fetch => {
            fetch(key, output, ctx);
            Ok(())
        }
        Opcode::Delete => {
            delete(key, output, ctx);
            Ok(())
        }
    }
}

/// Stores the value, however short: sharedance writes an empty file for an empty value, which
/// a fetch then reports as missing.
fn store(
    key: Key<'_>,
    data: &[u8],
    output: &mut BytesMut,
    ctx: &Context<'_>,
) -> Result<(), Refusal> {
    let expiry = match ctx.lifetime {
        Lifetime::Fixed(lifetime) => Expiry::At(ctx.now.saturating_add(lifetime)),
        Lifetime::Sliding(timeout) => Expiry::Sliding(timeout),
    };
    let store = Store::new(key, data, 0, expiry, StoreMode::Set);
    match ctx.engine.run(&store, ctx.now) {
        Ok(StoreOutcome::Stored { .. }) => {
            output.extend_from_slice(REPLY_OK);
            Ok(())
        }
        // A plain set always stores; were it not to, the client must not hear `OK`.
        Ok(StoreOutcome::NotStored | StoreOutcome::Exists | StoreOutcome::NotFound) => Ok(()),
        // The client takes the missing `OK` for a failure.
        Err(EngineError::Unavailable) => Err(Refusal::Unavailable),
        Err(_) => Err(Refusal::OutOfMemory),
    }
}

/// Sends the value's bytes as they are: the client reads to the end of the connection. An
/// empty value is sent as nothing, as a miss is, as sharedance does with an empty file.
fn fetch(key: Key<'_>, output: &mut BytesMut, ctx: &Context<'_>) {
    // A read renews a value stored with a sliding lifetime by itself, and leaves a fixed one
    // alone; it stays a read, so it goes on while writes are refused.
    if let Ok(GetOutcome::Hit(view)) = ctx.engine.run(&Get::new(key), ctx.now) {
        output.extend_from_slice(&view.value);
    }
}

/// Answers `OK\n` when there was a value to delete; nothing when there was none, as
/// sharedance's failed `unlink` does.
fn delete(key: Key<'_>, output: &mut BytesMut, ctx: &Context<'_>) {
    if ctx.engine.run(&Delete::new(key), ctx.now) == Ok(DeleteOutcome::Deleted) {
        output.extend_from_slice(REPLY_OK);
    }
}
