//! `SADD`, `SREM`: adding and removing set members; removing the last one removes the key.
//!
//! Spring Session keeps its principal-name index and its minute buckets of expiring sessions
//! as sets.

use sessiond_engine::{SetAdd, SetRemove};

use super::{Call, Outcome};
use crate::keyspace::class;

/// `SADD key member [member ...]`: how many members are new.
pub(crate) fn sadd(call: &mut Call<'_, '_>) -> Outcome {
    let members = call.args_from(2);
    let add = SetAdd {
        key: call.key(1),
        members: &members,
    };
    let added = call.write(1, &add)??;
    if added > 0 {
        call.notify(class::SET, "sadd", call.arg(1));
    }
    call.count(added);
    Ok(())
}

/// `SREM key member [member ...]`: how many members were removed.
pub(crate) fn srem(call: &mut Call<'_, '_>) -> Outcome {
    let members = call.args_from(2);
    let remove = SetRemove {
        key: call.key(1),
        members: &members,
    };
    let removed = call.run(&remove)??;
    if removed > 0 {
        call.notify_removal(class::SET, "srem")?;
    }
    call.count(removed);
    Ok(())
}
