//! `ZREM`, `ZREMRANGEBYSCORE`: removing sorted-set members; removing the last one removes
//! the key.

use sessiond_engine::{SortedSetRemove, SortedSetRemoveByScore};

use super::zrange::score_range;
use super::{Call, Outcome};
use crate::keyspace::class;

/// `ZREM key member [member ...]`: how many members were removed.
pub(crate) fn zrem(call: &mut Call<'_, '_>) -> Outcome {
    let members = call.args_from(2);
    let remove = SortedSetRemove {
        key: call.key(1),
        members: &members,
    };
    let removed = call.run(&remove)??;
    if removed > 0 {
        call.notify_removal(class::ZSET, "zrem")?;
    }
    call.count(removed);
    Ok(())
}

/// `ZREMRANGEBYSCORE key min max`: how many members were removed.
pub(crate) fn zremrangebyscore(call: &mut Call<'_, '_>) -> Outcome {
    let (min, max) = score_range(call.arg(2), call.arg(3))?;
    let remove = SortedSetRemoveByScore {
        key: call.key(1),
        min,
        max,
    };
    let removed = call.run(&remove)??;
    if removed > 0 {
        call.notify_removal(class::ZSET, "zremrangebyscore")?;
    }
    call.count(removed);
    Ok(())
}
