//! `ZADD`, `ZINCRBY`: adding sorted-set members or changing their scores.
//!
//! Spring Session's sorted-set expiration store adds each session with its expiry time in
//! milliseconds as the score (`ZADD spring:session:sessions:expirations <ms> <id>`).

use sessiond_engine::{AddCondition, SortedSetAdd, SortedSetIncrement};

use super::{Call, Outcome};
use crate::args;
use crate::keyspace::class;
use crate::reply::CommandError;

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]`: how many members
/// are new (with `CH`: new or changed); with `INCR`, the member's new score, or null when a
/// condition stopped it.
pub(crate) fn zadd(call: &mut Call<'_, '_>) -> Outcome {
    add(call, false)
}

/// `ZINCRBY key increment member`: the member's new score. Redis runs it as `ZADD key INCR
/// increment member`, reading its arguments as `ZADD`'s options, and so does sessiond
/// (`ZINCRBY z nx m` is a syntax error, as there).
pub(crate) fn zincrby(call: &mut Call<'_, '_>) -> Outcome {
    add(call, true)
}

/// What `ZADD`'s arguments ask for.
#[derive(Debug, PartialEq)]
pub(crate) struct Request<'a> {
    /// Which members to add and which scores to change.
    pub(crate) condition: AddCondition,
    /// Count changed scores too (`CH`).
    pub(crate) count_changed: bool,
    /// Add to the score instead of setting it (`INCR`, `ZINCRBY`): one pair only.
    pub(crate) increment: bool,
    /// (score, member) pairs.
    pub(crate) members: Vec<(f64, &'a [u8])>,
}

/// Reads `ZADD`'s arguments after the key as Redis 7.0's `zaddGenericCommand` does, with its
/// errors in its order: options, an even non-zero count of the rest, incompatible options,
/// `INCR` with more than one pair, then every score (nothing is written unless all parse).
pub(crate) fn parse<'a>(args: &[&'a [u8]], increment: bool) -> Result<Request<'a>, CommandError> {
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, increment);
    let mut first = 0;
    for &option in args {
        match option {
            _ if args::is(option, "NX") => nx = true,
            _ if args::is(option, "XX") => xx = true,
            _ if args::is(option, "CH") => ch = true,
            _ if args::is(option, "INCR") => incr = true,
            _ if args::is(option, "GT") => gt = true,
            _ if args::is(option, "LT") => lt = true,
            _ => break,
        }
        first += 1;
    }
    let pairs = &args[first..];
    if pairs.is_empty() || pairs.len() % 2 == 1 {
        return Err(CommandError::Syntax);
    }
    if nx && xx {
        return Err(CommandError::message(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if ((gt || lt) && nx) || (gt && lt) {
        return Err(CommandError::message(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if incr && pairs.len() > 2 {
        return Err(CommandError::message(
            "INCR option supports a single increment-element pair",
        ));
    }
    let members = pairs
        .chunks_exact(2)
        .map(|pair| Ok((args::float(pair[0])?, pair[1])))
        .collect::<Result<Vec<_>, CommandError>>()?;
    let condition = match (nx, xx, gt, lt) {
        (true, ..) => AddCondition::OnlyNew,
        (_, true, true, _) => AddCondition::GreaterExisting,
        (_, true, _, true) => AddCondition::LessExisting,
        (_, true, ..) => AddCondition::OnlyExisting,
        (_, _, true, _) => AddCondition::Greater,
        (_, _, _, true) => AddCondition::Less,
        _ => AddCondition::Always,
    };
    Ok(Request {
        condition,
        count_changed: ch,
        increment: incr,
        members,
    })
}

/// `ZADD` or `ZINCRBY`.
fn add(call: &mut Call<'_, '_>, increment: bool) -> Outcome {
    let rest = call.args_from(2);
    let request = parse(&rest, increment)?;
    let key = call.key(1);
    if let (true, Some(&(delta, member))) = (request.increment, request.members.first()) {
        let command = SortedSetIncrement {
            key,
            member,
            delta,
            condition: request.condition,
        };
        match call.write(1, &command)?? {
            Some(incremented) => {
                // As Redis: a sum equal to the old score is answered, but changed nothing
                // and is no event.
                if incremented.changed {
                    call.notify(class::ZSET, "zincr", call.arg(1));
                }
                call.reply().double(incremented.score)
            }
            None => call.reply().null(),
        };
        return Ok(());
    }
    let command = SortedSetAdd {
        key,
        members: &request.members,
        condition: request.condition,
    };
    let done = call.write(1, &command)??;
    if done.added + done.changed > 0 {
        call.notify(class::ZSET, "zadd", call.arg(1));
    }
    call.count(
        done.added
            + if request.count_changed {
                done.changed
            } else {
                0
            },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(args: &str, increment: bool) -> Result<Request<'_>, CommandError> {
        let args: Vec<&[u8]> = args.split(' ').map(str::as_bytes).collect();
        parse(&args, increment)
    }

    fn message(text: &str) -> CommandError {
        CommandError::message(text.to_owned())
    }

    #[test]
    fn options_map_onto_conditions() {
        use AddCondition::*;
        let condition = |args| request(args, false).unwrap().condition;
        assert_eq!(condition("1 a"), Always);
        assert_eq!(condition("nx 1 a"), OnlyNew);
        assert_eq!(condition("XX 1 a"), OnlyExisting);
        assert_eq!(condition("gt 1 a"), Greater);
        assert_eq!(condition("xx gt 1 a"), GreaterExisting);
        assert_eq!(condition("lt xx 1 a"), LessExisting);
        assert_eq!(condition("lt ch 1 a 2 b"), Less);
        let parsed = request("ch incr 1.5 m", false).unwrap();
        assert!(parsed.count_changed && parsed.increment);
        assert_eq!(parsed.members, [(1.5, &b"m"[..])]);
        assert!(request("2 m", true).unwrap().increment);
        // A member named like an option is a member once the pairs start.
        assert_eq!(request("1 nx", false).unwrap().members, [(1.0, &b"nx"[..])]);
    }

    #[test]
    fn errors_come_in_redis_order() {
        assert_eq!(request("nx", false), Err(CommandError::Syntax));
        assert_eq!(request("1 a 2", false), Err(CommandError::Syntax));
        assert_eq!(request("nx a", true), Err(CommandError::Syntax));
        assert_eq!(
            request("nx xx x a", false),
            Err(message(
                "XX and NX options at the same time are not compatible"
            ))
        );
        assert_eq!(
            request("gt lt 1 a", false),
            Err(message(
                "GT, LT, and/or NX options at the same time are not compatible"
            ))
        );
        assert_eq!(
            request("incr x a 2 b", false),
            Err(message(
                "INCR option supports a single increment-element pair"
            ))
        );
        assert_eq!(request("1 a x b", false), Err(CommandError::NotFloat));
        assert_eq!(request("nan a", false), Err(CommandError::NotFloat));
    }
}
