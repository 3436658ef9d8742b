//! `ZSCORE`, `ZMSCORE`: members' scores, doubles in RESP3.

use sessiond_engine::SortedSetScores;

use super::{Call, Outcome};
use crate::reply::CommandError;

/// `ZSCORE key member`: the score, or null.
pub(crate) fn zscore(call: &mut Call<'_, '_>) -> Outcome {
    let score = scores(call)?.into_iter().next().flatten();
    match score {
        Some(score) => call.reply().double(score),
        None => call.reply().null(),
    };
    Ok(())
}

/// `ZMSCORE key member [member ...]`: each member's score or null.
pub(crate) fn zmscore(call: &mut Call<'_, '_>) -> Outcome {
    let scores = scores(call)?;
    let mut reply = call.reply();
    reply.array(scores.len());
    for score in scores {
        match score {
            Some(score) => reply.double(score),
            None => reply.null(),
        };
    }
    Ok(())
}

/// The scores of the members named after the key.
fn scores(call: &mut Call<'_, '_>) -> Result<Vec<Option<f64>>, CommandError> {
    let members = call.args_from(2);
    let scores = SortedSetScores {
        key: call.key(1),
        members: &members,
    };
    Ok(call.read(1, &scores)??)
}
