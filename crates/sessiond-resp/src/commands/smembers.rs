//! `SMEMBERS`, `SISMEMBER`, `SMISMEMBER`: reading a set.

use sessiond_engine::{SetContains, SetMembers};

use super::{Call, Outcome};

/// `SMEMBERS key`: every member, in the order they were added (Redis gives its hash-table
/// order, or numeric order for a small set of integers); a set in RESP3.
pub(crate) fn smembers(call: &mut Call<'_, '_>) -> Outcome {
    let members = call.read(1, &SetMembers { key: call.key(1) })??;
    let mut reply = call.reply();
    reply.set(members.len());
    for member in members {
        reply.bulk(&member);
    }
    Ok(())
}

/// `SISMEMBER key member`: 1 or 0.
pub(crate) fn sismember(call: &mut Call<'_, '_>) -> Outcome {
    let found = contains(call)?;
    let found = found.first().copied().unwrap_or(false);
    call.reply().integer(i64::from(found));
    Ok(())
}

/// `SMISMEMBER key member [member ...]`: 1 or 0 for each member, integers in both protocol
/// versions.
pub(crate) fn smismember(call: &mut Call<'_, '_>) -> Outcome {
    let found = contains(call)?;
    let mut reply = call.reply();
    reply.array(found.len());
    for found in found {
        reply.integer(i64::from(found));
    }
    Ok(())
}

/// Whether the set holds each member named after the key.
fn contains(call: &mut Call<'_, '_>) -> Result<Vec<bool>, crate::reply::CommandError> {
    let members = call.args_from(2);
    let contains = SetContains {
        key: call.key(1),
        members: &members,
    };
    Ok(call.read(1, &contains)??)
}
