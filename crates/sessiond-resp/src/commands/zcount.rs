//! `ZCOUNT key min max`: how many members have a score in the range.

use sessiond_engine::SortedSetRangeByScore;

use super::zrange::score_range;
use super::{Call, Outcome};

/// Counts the members in the range (their values are not copied: the engine hands back
/// slices of the stored set).
pub(crate) fn zcount(call: &mut Call<'_, '_>) -> Outcome {
    let (min, max) = score_range(call.arg(2), call.arg(3))?;
    let range = SortedSetRangeByScore::new(call.key(1), min, max);
    let count = call.read(1, &range)??.len();
    call.count(count);
    Ok(())
}
