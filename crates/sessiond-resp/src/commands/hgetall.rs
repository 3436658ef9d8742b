//! `HGETALL`, `HKEYS`, `HVALS`: a whole hash, in the order its fields were added (as Redis
//! keeps a small hash; a large one comes in hash-table order there).

use sessiond_engine::HashReadAll;

use super::{Call, Outcome};

/// `HGETALL key`: field, value, field, value...; a map in RESP3.
pub(crate) fn hgetall(call: &mut Call<'_, '_>) -> Outcome {
    let pairs = read(call)?;
    let mut reply = call.reply();
    reply.map(pairs.len());
    for (field, value) in pairs {
        reply.bulk(&field).bulk(&value);
    }
    Ok(())
}

/// `HKEYS key`: the fields.
pub(crate) fn hkeys(call: &mut Call<'_, '_>) -> Outcome {
    let pairs = read(call)?;
    let mut reply = call.reply();
    reply.array(pairs.len());
    for (field, _) in pairs {
        reply.bulk(&field);
    }
    Ok(())
}

/// `HVALS key`: the values.
pub(crate) fn hvals(call: &mut Call<'_, '_>) -> Outcome {
    let pairs = read(call)?;
    let mut reply = call.reply();
    reply.array(pairs.len());
    for (_, value) in pairs {
        reply.bulk(&value);
    }
    Ok(())
}

/// Every (field, value) of the hash at argument 1.
fn read(
    call: &mut Call<'_, '_>,
) -> Result<Vec<(bytes::Bytes, bytes::Bytes)>, crate::reply::CommandError> {
    let read = HashReadAll { key: call.key(1) };
    Ok(call.read(1, &read)??)
}
