//! The expiry options of `SET` and `GETEX` (`EX`, `PX`, `EXAT`, `PXAT`, `KEEPTTL`,
//! `PERSIST`, with `SET`'s `NX`, `XX`, `GET`), read as Redis's
//! `parseExtendedStringArgumentsOrReply` reads them, and the deadline they give.

use sessiond_engine::Timestamp;

use super::Call;
use crate::args;
use crate::reply::CommandError;

/// How an expiry argument counts time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    /// `EX`: seconds from now.
    Seconds,
    /// `PX`: milliseconds from now.
    Millis,
    /// `EXAT`: a Unix time in seconds.
    UnixSeconds,
    /// `PXAT`: a Unix time in milliseconds.
    UnixMillis,
}

/// The options after a `SET key value` or a `GETEX key`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StringOptions<'a> {
    /// `NX`: only if the key holds nothing.
    pub(crate) nx: bool,
    /// `XX`: only if the key holds something.
    pub(crate) xx: bool,
    /// `GET`: answer the old value.
    pub(crate) get: bool,
    /// `KEEPTTL`: keep the key's expiry.
    pub(crate) keep_ttl: bool,
    /// `PERSIST` (`GETEX`): remove the key's expiry.
    pub(crate) persist: bool,
    /// `EX`/`PX`/`EXAT`/`PXAT` and its argument.
    pub(crate) expire: Option<(Unit, &'a [u8])>,
}

/// Which command the options belong to: `SET` takes `NX`, `XX`, `GET`, `KEEPTTL`; `GETEX`
/// takes `PERSIST`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum For {
    Set,
    GetEx,
}

/// Reads the options from argument `first` on. An option that conflicts with one already
/// given, is not the command's, or lacks its argument is a `syntax error`; an option given
/// twice is taken (the last expiry wins), as in Redis.
pub(crate) fn parse<'a>(
    call: &Call<'a, '_>,
    first: usize,
    command: For,
) -> Result<StringOptions<'a>, CommandError> {
    let mut options = StringOptions::default();
    let set = command == For::Set;
    let mut index = first;
    while index < call.argc() {
        let option = call.arg(index);
        let next = (index + 1 < call.argc()).then(|| call.arg(index + 1));
        let expire_kind = options.expire.map(|(unit, _)| unit);
        let other_expiry = |unit: Unit| expire_kind.is_some_and(|kind| kind != unit);
        let no_ttl_option = !options.keep_ttl && !options.persist;
        if set && args::is(option, "NX") && !options.xx {
            options.nx = true;
        } else if set && args::is(option, "XX") && !options.nx {
            options.xx = true;
        } else if set && args::is(option, "GET") {
            options.get = true;
        } else if set && args::is(option, "KEEPTTL") && !options.persist && expire_kind.is_none() {
            options.keep_ttl = true;
        } else if !set && args::is(option, "PERSIST") && !options.keep_ttl && expire_kind.is_none()
        {
            options.persist = true;
        } else if let Some(unit) = expire_unit(option)
            && no_ttl_option
            && !other_expiry(unit)
            && let Some(value) = next
        {
            options.expire = Some((unit, value));
            index += 1;
        } else {
            return Err(CommandError::Syntax);
        }
        index += 1;
    }
    Ok(options)
}

/// The expiry option `option` names, if any.
fn expire_unit(option: &[u8]) -> Option<Unit> {
    [
        ("EX", Unit::Seconds),
        ("PX", Unit::Millis),
        ("EXAT", Unit::UnixSeconds),
        ("PXAT", Unit::UnixMillis),
    ]
    .into_iter()
    .find(|(name, _)| args::is(option, name))
    .map(|(_, unit)| unit)
}

/// The deadline an expiry argument gives (Redis's `getExpireMillisecondsOrReply`): not an
/// integer is `value is not an integer or out of range`; zero, negative, or past the range of
/// milliseconds is `invalid expire time in '<command>' command`.
pub(crate) fn deadline(
    call: &Call<'_, '_>,
    unit: Unit,
    value: &[u8],
    command: &'static str,
) -> Result<Timestamp, CommandError> {
    let invalid = CommandError::InvalidExpire(command);
    let given = args::integer(value)?;
    let seconds = matches!(unit, Unit::Seconds | Unit::UnixSeconds);
    if given <= 0 || (seconds && given > i64::MAX / 1000) {
        return Err(invalid);
    }
    let millis = if seconds { given * 1000 } else { given };
    let millis = match unit {
        Unit::Seconds | Unit::Millis => millis.checked_add(call.now_millis()).ok_or(invalid)?,
        Unit::UnixSeconds | Unit::UnixMillis => millis,
    };
    Ok(Timestamp::from_millis(millis.unsigned_abs()))
}
