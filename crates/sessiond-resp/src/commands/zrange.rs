//! `ZRANGE`, `ZREVRANGE`, `ZRANGEBYSCORE`, `ZREVRANGEBYSCORE`, `ZRANGEBYLEX`,
//! `ZREVRANGEBYLEX`: reading a sorted set by rank, by score or by member.
//!
//! All six are Redis 7.0's `zrangeGenericCommand` with some options fixed, and read their
//! options the same way, with the same errors in the same order. Spring Session's sorted-set
//! expiration store reads `ZREVRANGEBYSCORE key <now> -inf LIMIT 0 <n>`.

use bytes::Bytes;
use sessiond_engine::{ScoreBound, SortedSetRangeByIndex, SortedSetRangeByScore};

use super::{Call, Outcome};
use crate::args;
use crate::reply::CommandError;

/// `ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]`.
pub(crate) fn zrange(call: &mut Call<'_, '_>) -> Outcome {
    range(call, None, None)
}

/// `ZREVRANGE key start stop [WITHSCORES]`.
pub(crate) fn zrevrange(call: &mut Call<'_, '_>) -> Outcome {
    range(call, Some(By::Rank), Some(true))
}

/// `ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]`.
pub(crate) fn zrangebyscore(call: &mut Call<'_, '_>) -> Outcome {
    range(call, Some(By::Score), Some(false))
}

/// `ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]`.
pub(crate) fn zrevrangebyscore(call: &mut Call<'_, '_>) -> Outcome {
    range(call, Some(By::Score), Some(true))
}

/// `ZRANGEBYLEX key min max [LIMIT offset count]`.
pub(crate) fn zrangebylex(call: &mut Call<'_, '_>) -> Outcome {
    range(call, Some(By::Lex), Some(false))
}

/// `ZREVRANGEBYLEX key max min [LIMIT offset count]`.
pub(crate) fn zrevrangebylex(call: &mut Call<'_, '_>) -> Outcome {
    range(call, Some(By::Lex), Some(true))
}

/// What a range is taken by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum By {
    /// Ranks (positions), the default.
    Rank,
    /// Scores (`BYSCORE`).
    Score,
    /// Members, compared as bytes (`BYLEX`).
    Lex,
}

/// The options after `key start stop`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Options {
    /// What the range is taken by.
    pub(crate) by: By,
    /// Highest first (`REV`, or the command's own direction).
    pub(crate) reverse: bool,
    /// Answer scores too.
    pub(crate) with_scores: bool,
    /// `LIMIT`'s offset (negative: nothing).
    pub(crate) offset: i64,
    /// `LIMIT`'s count; negative for no limit (-1 when absent).
    pub(crate) limit: i64,
}

/// Reads the options as `zrangeGenericCommand` does: `WITHSCORES`, `LIMIT` with two integers
/// (only when two arguments follow it), `REV`, `BYSCORE` and `BYLEX` once each where the
/// command leaves them open; anything else is a syntax error; then `LIMIT` by rank and
/// `WITHSCORES` by member are refused.
pub(crate) fn options(
    args: &[&[u8]],
    by: Option<By>,
    reverse: Option<bool>,
) -> Result<Options, CommandError> {
    let (mut by_option, mut reverse_option) = (by, reverse);
    let (mut with_scores, mut offset, mut limit) = (false, 0, -1);
    let mut index = 0;
    while let Some(&option) = args.get(index) {
        let left = args.len() - index - 1;
        if args::is(option, "WITHSCORES") {
            with_scores = true;
        } else if args::is(option, "LIMIT") && left >= 2 {
            offset = args::integer(args[index + 1])?;
            limit = args::integer(args[index + 2])?;
            index += 2;
        } else if reverse_option.is_none() && args::is(option, "REV") {
            reverse_option = Some(true);
        } else if by_option.is_none() && args::is(option, "BYLEX") {
            by_option = Some(By::Lex);
        } else if by_option.is_none() && args::is(option, "BYSCORE") {
            by_option = Some(By::Score);
        } else {
            return Err(CommandError::Syntax);
        }
        index += 1;
    }
    let by = by_option.unwrap_or(By::Rank);
    if limit != -1 && by == By::Rank {
        return Err(CommandError::message(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if with_scores && by == By::Lex {
        return Err(CommandError::message(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    Ok(Options {
        by,
        reverse: reverse_option.unwrap_or(false),
        with_scores,
        offset,
        limit,
    })
}

/// Reads both ends of a score range, or `min or max is not a float`.
pub(crate) fn score_range(
    min: &[u8],
    max: &[u8],
) -> Result<(ScoreBound, ScoreBound), CommandError> {
    match (args::score_bound(min), args::score_bound(max)) {
        (Some(min), Some(max)) => Ok((min, max)),
        _ => Err(CommandError::MinMaxNotFloat),
    }
}

/// One end of a member range (`zslParseLexRangeItem`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LexBound<'a> {
    /// `-`: below every member.
    Lowest,
    /// `+`: above every member.
    Highest,
    /// `[member`.
    Inclusive(&'a [u8]),
    /// `(member`.
    Exclusive(&'a [u8]),
}

impl<'a> LexBound<'a> {
    /// Reads a bound: `-` or `+` alone (or before a NUL), or `[` or `(` and a member.
    pub(crate) fn parse(arg: &'a [u8]) -> Option<Self> {
        let alone = matches!(arg.get(1), None | Some(0));
        match arg.first()? {
            b'-' if alone => Some(LexBound::Lowest),
            b'+' if alone => Some(LexBound::Highest),
            b'[' => Some(LexBound::Inclusive(&arg[1..])),
            b'(' => Some(LexBound::Exclusive(&arg[1..])),
            _ => None,
        }
    }

    /// Redis's `sdscmplex` of two bounds: `-` below and `+` above everything, the same
    /// shared bound equal to itself.
    fn compare(self, other: LexBound<'_>) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        match (self, other) {
            (LexBound::Lowest, LexBound::Lowest) | (LexBound::Highest, LexBound::Highest) => Equal,
            (LexBound::Lowest, _) | (_, LexBound::Highest) => Less,
            (LexBound::Highest, _) | (_, LexBound::Lowest) => Greater,
            (a, b) => a.member().cmp(b.member()),
        }
    }

    fn member(self) -> &'a [u8] {
        match self {
            LexBound::Inclusive(member) | LexBound::Exclusive(member) => member,
            LexBound::Lowest | LexBound::Highest => &[],
        }
    }

    fn exclusive(self) -> bool {
        !matches!(self, LexBound::Inclusive(_))
    }
}

/// A member range, `min` to `max`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LexRange<'a> {
    min: LexBound<'a>,
    max: LexBound<'a>,
}

impl LexRange<'_> {
    fn above_min(&self, member: &[u8]) -> bool {
        let ordering = LexBound::Inclusive(member).compare(self.min);
        if self.min.exclusive() {
            ordering.is_gt()
        } else {
            ordering.is_ge()
        }
    }

    fn below_max(&self, member: &[u8]) -> bool {
        let ordering = LexBound::Inclusive(member).compare(self.max);
        if self.max.exclusive() {
            ordering.is_lt()
        } else {
            ordering.is_le()
        }
    }

    /// The members of `members` (in the sorted set's order) in the range, as Redis's
    /// listpack walk finds them (`zzlFirstInLexRange`, `zzlLastInLexRange`, then a walk
    /// that stops at the first member out of range): for members of one score, which is
    /// what `BYLEX` is for, exactly the members between the bounds.
    pub(crate) fn select(
        &self,
        members: &[Bytes],
        reverse: bool,
        offset: i64,
        limit: i64,
    ) -> Vec<Bytes> {
        let (Some(first), Some(last)) = (members.first(), members.last()) else {
            return Vec::new();
        };
        let ordering = self.min.compare(self.max);
        let empty = ordering.is_gt()
            || (ordering.is_eq() && (self.min.exclusive() || self.max.exclusive()));
        if empty || !self.above_min(last) || !self.below_max(first) {
            return Vec::new();
        }
        let order: Box<dyn Iterator<Item = &Bytes>> = if reverse {
            Box::new(members.iter().rev())
        } else {
            Box::new(members.iter())
        };
        let mut walk = order.skip_while(|member| {
            if reverse {
                !self.below_max(member)
            } else {
                !self.above_min(member)
            }
        });
        let Some(start) = walk.next() else {
            return Vec::new();
        };
        let in_range = |member: &Bytes| {
            if reverse {
                self.above_min(member)
            } else {
                self.below_max(member)
            }
        };
        if !in_range(start) {
            return Vec::new();
        }
        let Ok(offset) = usize::try_from(offset) else {
            return Vec::new();
        };
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        std::iter::once(start)
            .chain(walk)
            .skip(offset)
            .take(limit)
            .take_while(|member| in_range(member))
            .cloned()
            .collect()
    }
}

/// Reads both ends of a member range, or Redis's error for them.
pub(crate) fn lex_range<'a>(min: &'a [u8], max: &'a [u8]) -> Result<LexRange<'a>, CommandError> {
    match (LexBound::parse(min), LexBound::parse(max)) {
        (Some(min), Some(max)) => Ok(LexRange { min, max }),
        _ => Err(CommandError::message(
            "min or max not valid string range item",
        )),
    }
}

/// Runs a range command whose options `by` and `reverse` fix (`None`: the client chooses).
fn range(call: &mut Call<'_, '_>, by: Option<By>, reverse: Option<bool>) -> Outcome {
    let rest = call.args_from(4);
    let options = options(&rest, by, reverse)?;
    // By score or member, a reverse range is given highest end first.
    let (low, high) = if options.reverse && options.by != By::Rank {
        (call.arg(3), call.arg(2))
    } else {
        (call.arg(2), call.arg(3))
    };
    let key = call.key(1);
    let entries: Vec<(Bytes, f64)> = match options.by {
        By::Rank => {
            let start = args::integer(low)?;
            let stop = args::integer(high)?;
            let range = SortedSetRangeByIndex {
                key,
                start,
                stop,
                reverse: options.reverse,
            };
            call.read(1, &range)??
        }
        By::Score => {
            let (min, max) = score_range(low, high)?;
            let range = SortedSetRangeByScore {
                key,
                min,
                max,
                reverse: options.reverse,
                // A negative offset skips everything, as Redis's walk does.
                offset: usize::try_from(options.offset).unwrap_or(usize::MAX),
                count: usize::try_from(options.limit).ok(),
            };
            call.read(1, &range)??
        }
        By::Lex => {
            let lex = lex_range(low, high)?;
            let all = SortedSetRangeByIndex {
                key,
                start: 0,
                stop: -1,
                reverse: false,
            };
            let members: Vec<Bytes> = call
                .read(1, &all)??
                .into_iter()
                .map(|(member, _)| member)
                .collect();
            let selected = lex.select(&members, options.reverse, options.offset, options.limit);
            selected.into_iter().map(|member| (member, 0.0)).collect()
        }
    };
    write_entries(call, &entries, options.with_scores);
    Ok(())
}

/// Writes members, with their scores if asked: flat in RESP2 (scores as bulk strings), a
/// [member, score] pair per member in RESP3, as Redis 7 answers.
fn write_entries(call: &mut Call<'_, '_>, entries: &[(Bytes, f64)], with_scores: bool) {
    let mut reply = call.reply();
    let resp3 = reply.version() == crate::Version::Resp3;
    match (with_scores, resp3) {
        (false, _) => reply.array(entries.len()),
        (true, false) => reply.array(entries.len() * 2),
        (true, true) => reply.array(entries.len()),
    };
    for (member, score) in entries {
        if with_scores && resp3 {
            reply.array(2);
        }
        reply.bulk(member);
        if with_scores {
            reply.double(*score);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &str, by: Option<By>, reverse: Option<bool>) -> Result<Options, CommandError> {
        let args: Vec<&[u8]> = args.split_whitespace().map(str::as_bytes).collect();
        options(&args, by, reverse)
    }

    #[test]
    fn zrange_options() {
        let plain = parse("", None, None).unwrap();
        assert_eq!(
            (plain.by, plain.reverse, plain.limit),
            (By::Rank, false, -1)
        );
        let full = parse("byscore REV limit 1 2 withscores", None, None).unwrap();
        assert_eq!(
            full,
            Options {
                by: By::Score,
                reverse: true,
                with_scores: true,
                offset: 1,
                limit: 2
            }
        );
        assert_eq!(parse("rev rev", None, None), Err(CommandError::Syntax));
        assert_eq!(
            parse("byscore bylex", None, None),
            Err(CommandError::Syntax)
        );
        assert_eq!(parse("limit 0", None, None), Err(CommandError::Syntax));
        assert_eq!(
            parse("limit x 1", None, None),
            Err(CommandError::NotInteger)
        );
        assert!(parse("limit 0 1", None, None).is_err());
        // -1 is "no limit", so it passes the rank check, as in Redis.
        assert!(parse("limit 0 -1", None, None).is_ok());
        assert!(parse("bylex withscores", None, None).is_err());
        // Fixed by the command: ZRANGEBYSCORE takes no REV or BYSCORE.
        assert_eq!(
            parse("rev", Some(By::Score), Some(false)),
            Err(CommandError::Syntax)
        );
        assert_eq!(
            parse("byscore", Some(By::Score), Some(false)),
            Err(CommandError::Syntax)
        );
    }

    #[test]
    fn lex_ranges_follow_the_listpack_walk() {
        let members: Vec<Bytes> = ["a", "b", "c", "d"]
            .iter()
            .map(|m| Bytes::from_static(m.as_bytes()))
            .collect();
        let select = |min: &str, max: &str, reverse, offset, limit| {
            let range = lex_range(min.as_bytes(), max.as_bytes()).unwrap();
            range
                .select(&members, reverse, offset, limit)
                .iter()
                .map(|m| String::from_utf8(m.to_vec()).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(select("-", "+", false, 0, -1), ["a", "b", "c", "d"]);
        assert_eq!(select("(a", "[c", false, 0, -1), ["b", "c"]);
        assert_eq!(select("[c", "(a", true, 0, -1), Vec::<String>::new());
        assert_eq!(select("(a", "[c", true, 0, -1), ["c", "b"]);
        assert_eq!(select("-", "+", false, 1, 2), ["b", "c"]);
        assert_eq!(select("-", "+", false, -1, 2), Vec::<String>::new());
        assert_eq!(select("+", "-", false, 0, -1), Vec::<String>::new());
        assert_eq!(select("[b", "[b", false, 0, -1), ["b"]);
        assert_eq!(select("(b", "[b", false, 0, -1), Vec::<String>::new());
        assert!(lex_range(b"a", b"+").is_err());
        assert!(lex_range(b"+x", b"+").is_err());
        assert!(lex_range(b"", b"+").is_err());
        assert_eq!(LexBound::parse(b"+\0x"), Some(LexBound::Highest));
    }
}
