//! `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]` and `KEYS pattern`: listing a
//! database's keys (connect-redis lists its sessions with `SCAN 0 MATCH sess:* COUNT 100`).
//!
//! The cursor is the engine's: opaque, 0 to start and 0 at the end. As in Redis, every key
//! present for the whole scan is returned, a page may hold fewer keys than `COUNT` (even
//! none) before the end, and `MATCH` is applied to the page the engine returns.

use sessiond_engine::{Scan, ValueType};

use super::{Call, Outcome};
use crate::reply::CommandError;
use crate::{args, glob};

/// Redis's default `COUNT`.
const DEFAULT_COUNT: usize = 10;

/// Keys `KEYS` asks the engine for per page.
const KEYS_PAGE: usize = 1024;

/// What a `TYPE` option keeps.
enum TypeFilter {
    /// Every key.
    Any,
    /// Keys of this type.
    Only(ValueType),
    /// No key: a type sessiond never stores (`list`, `stream`) or no type at all, which Redis
    /// answers with nothing rather than an error.
    Nothing,
}

/// One page of keys and the cursor for the next.
pub(crate) fn scan(call: &mut Call<'_, '_>) -> Outcome {
    let cursor = args::cursor(call.arg(1))?;
    let mut count = DEFAULT_COUNT;
    let mut pattern: Option<&[u8]> = None;
    let mut filter = TypeFilter::Any;
    let mut index = 2;
    while index < call.argc() {
        let option = call.arg(index);
        let value = (index + 1 < call.argc()).then(|| call.arg(index + 1));
        match value {
            Some(value) if args::is(option, "COUNT") => {
                let wanted = args::integer(value)?;
                if wanted < 1 {
                    return Err(CommandError::Syntax);
                }
                count = usize::try_from(wanted).unwrap_or(usize::MAX);
            }
            // `*` matches everything: skip the matching.
            Some(value) if args::is(option, "MATCH") => {
                pattern = Some(value).filter(|p| *p != b"*")
            }
            Some(value) if args::is(option, "TYPE") => filter = type_filter(value),
            _ => return Err(CommandError::Syntax),
        }
        index += 2;
    }
    let page = call.store()?.scan(
        &Scan {
            namespace: call.namespace(),
            cursor,
            count,
            value_type: match filter {
                TypeFilter::Only(value_type) => Some(value_type),
                TypeFilter::Any | TypeFilter::Nothing => None,
            },
        },
        call.now(),
    );
    let keys: Vec<&[u8]> = if matches!(filter, TypeFilter::Nothing) {
        Vec::new()
    } else {
        page.keys
            .iter()
            .map(|key| &key[..])
            .filter(|key| pattern.is_none_or(|pattern| glob::matches(pattern, key, false)))
            .collect()
    };
    let mut reply = call.reply();
    reply.array(2);
    reply.bulk(itoa::Buffer::new().format(page.cursor).as_bytes());
    reply.array(keys.len());
    for key in keys {
        reply.bulk(key);
    }
    Ok(())
}

/// `KEYS pattern`: every key of the database that matches, in no particular order.
pub(crate) fn keys(call: &mut Call<'_, '_>) -> Outcome {
    let pattern = call.arg(1);
    let everything = pattern == b"*";
    let mut found = Vec::new();
    let mut cursor = 0;
    loop {
        let page = call.store()?.scan(
            &Scan {
                namespace: call.namespace(),
                cursor,
                count: KEYS_PAGE,
                value_type: None,
            },
            call.now(),
        );
        found.extend(
            page.keys
                .into_iter()
                .filter(|key| everything || glob::matches(pattern, key, false)),
        );
        cursor = page.cursor;
        if cursor == 0 {
            break;
        }
    }
    let mut reply = call.reply();
    reply.array(found.len());
    for key in found {
        reply.bulk(&key);
    }
    Ok(())
}

/// The `TYPE` option's filter: Redis's type names, in any case.
fn type_filter(name: &[u8]) -> TypeFilter {
    [
        ValueType::String,
        ValueType::Hash,
        ValueType::Set,
        ValueType::SortedSet,
    ]
    .into_iter()
    .find(|value_type| args::is(name, value_type.name()))
    .map_or(TypeFilter::Nothing, TypeFilter::Only)
}
