//! Every command sessiond knows, with what `COMMAND INFO` and `COMMAND DOCS` report about it
//! (arity, flags, key positions, ACL categories, as Redis 7.0's command table has them).
//!
//! The table is sorted by name: dispatch finds a command by binary search.

use super::{
    Handler, append, auth, card, client, command, config, dbsize, del, echo, eval, exists, expire,
    flush, get, getdel, getex, hdel, hello, hget, hgetall, hincrby, hset, incr, info, key_type,
    mget, mset, persist, ping, pubsub, quit, rename, reset, sadd, scan, script, select, set,
    smembers, strlen, transaction, ttl, zadd, zcount, zrange, zrem, zscore,
};

/// One command (or subcommand) of the table.
#[derive(Debug)]
pub(crate) struct Spec {
    /// Its full name in lower case: `get`, `client|setname`.
    pub(crate) name: &'static str,
    /// For a container, its name in upper case, for `unknown subcommand ... Try CLIENT HELP.`
    pub(crate) upper: &'static str,
    /// Redis's arity: exactly this many arguments (the name included) when positive, at least
    /// its absolute value when negative.
    pub(crate) arity: i32,
    /// Redis's command flags (`write`, `readonly`, `fast`, `no_auth`, ...).
    pub(crate) flags: &'static [&'static str],
    /// First key, last key (negative: from the end), step.
    pub(crate) keys: [i32; 3],
    /// ACL categories, without the `@`.
    pub(crate) acl: &'static [&'static str],
    /// Its group in `COMMAND DOCS`.
    pub(crate) group: &'static str,
    /// The Redis version that introduced it.
    pub(crate) since: &'static str,
    /// One line about it.
    pub(crate) summary: &'static str,
    /// What runs it.
    pub(crate) run: Handler,
    /// A container's subcommands.
    pub(crate) subcommands: &'static [Spec],
}

impl Spec {
    /// The name after the container's: `setname` for `client|setname`.
    pub(crate) fn short(&self) -> &'static str {
        self.name.rsplit('|').next().unwrap_or(self.name)
    }
}

/// An entry of the table.
macro_rules! spec {
    ($name:literal, $arity:literal, [$($flag:literal),*], $keys:expr, [$($acl:literal),*],
     $group:literal, $since:literal, $summary:literal, $run:expr) => {
        Spec {
            name: $name,
            upper: "",
            arity: $arity,
            flags: &[$($flag),*],
            keys: $keys,
            acl: &[$($acl),*],
            group: $group,
            since: $since,
            summary: $summary,
            run: $run,
            subcommands: &[],
        }
    };
}

/// A container command (`CLIENT`, `CONFIG`, `COMMAND`): its own entry, then its subcommands.
macro_rules! container {
    ($name:literal, $upper:literal, $arity:literal, [$($flag:literal),*], [$($acl:literal),*],
     $group:literal, $since:literal, $summary:literal, $run:expr, $subcommands:expr) => {
        Spec {
            name: $name,
            upper: $upper,
            arity: $arity,
            flags: &[$($flag),*],
            keys: NO_KEYS,
            acl: &[$($acl),*],
            group: $group,
            since: $since,
            summary: $summary,
            run: $run,
            subcommands: $subcommands,
        }
    };
}

const NO_KEYS: [i32; 3] = [0, 0, 0];
const ONE_KEY: [i32; 3] = [1, 1, 1];
const ALL_KEYS: [i32; 3] = [1, -1, 1];

/// The commands, sorted by name.
pub(crate) static COMMANDS: &[Spec] = &[
    spec!(
        "append",
        3,
        ["write", "denyoom", "fast"],
        ONE_KEY,
        ["write", "string", "fast"],
        "string",
        "2.0.0",
        "Appends a string to the value of a key. Creates the key if it doesn't exist.",
        append::append
    ),
    spec!(
        "auth",
        -2,
        [
            "noscript",
            "loading",
            "stale",
            "fast",
            "no_auth",
            "allow_busy"
        ],
        NO_KEYS,
        ["fast", "connection"],
        "connection",
        "1.0.0",
        "Authenticates the connection.",
        auth::auth
    ),
    container!(
        "client",
        "CLIENT",
        -2,
        [],
        [],
        "connection",
        "2.4.0",
        "A container for client connection commands.",
        client::container,
        CLIENT
    ),
    container!(
        "command",
        "COMMAND",
        -1,
        ["loading", "stale"],
        ["slow", "connection"],
        "server",
        "2.8.13",
        "Returns detailed information about all commands.",
        command::all,
        COMMAND
    ),
    container!(
        "config",
        "CONFIG",
        -2,
        [],
        [],
        "server",
        "2.0.0",
        "A container for server configuration commands.",
        config::container,
        CONFIG
    ),
    spec!(
        "dbsize",
        1,
        ["readonly", "fast"],
        NO_KEYS,
        ["keyspace", "read", "fast"],
        "server",
        "1.0.0",
        "Returns the number of keys in the database.",
        dbsize::dbsize
    ),
    spec!(
        "decr",
        2,
        ["write", "denyoom", "fast"],
        ONE_KEY,
        ["write", "string", "fast"],
        "string",
        "1.0.0",
        "Decrements the integer value of a key by one.",
        incr::decr
    ),
    spec!(
        "decrby",
        3,
        ["write", "denyoom", "fast"],
        ONE_KEY,
        ["write", "string", "fast"],
        "string",
        "1.0.0",
        "Decrements a number from the integer value of a key.",
        incr::decrby
    ),
    spec!(
        "del",
        -2,
        ["write"],
        ALL_KEYS,
        ["keyspace", "write", "slow"],
        "generic",
        "1.0.0",
        "Deletes one or more keys.",
        del::del
    ),
    spec!(
        "discard",
        1,
        ["noscript", "loading", "stale", "fast", "allow_busy"],
        NO_KEYS,
        ["fast", "transaction"],
        "transactions",
        "2.0.0",
        "Discard all commands issued after MULTI",
        transaction::discard
    ),
    spec!(
        "echo",
        2,
        ["fast"],
        NO_KEYS,
        ["fast", "connection"],
        "connection",
        "1.0.0",
        "Returns the given string.",
        echo::echo
    ),
    spec!(
        "eval",
        -3,
        [
            "noscript",
            "stale",
            "skip_monitor",
            "no_mandatory_keys",
            "movablekeys"
        ],
        NO_KEYS,
        ["slow", "scripting"],
        "scripting",
        "2.6.0",
        "Execute a Lua script server side",
        eval::eval
    ),
    spec!(
        "eval_ro",
        -3,
        [
            "readonly",
            "noscript",
            "stale",
            "skip_monitor",
            "no_mandatory_keys",
            "movablekeys"
        ],
        NO_KEYS,
        ["slow", "scripting"],
        "scripting",
        "7.0.0",
        "Execute a read-only Lua script server side",
        eval::eval_ro
    ),
    spec!(
        "evalsha",
        -3,
        [
            "noscript",
            "stale",
            "skip_monitor",
            "no_mandatory_keys",
            "movablekeys"
        ],
        NO_KEYS,
        ["slow", "scripting"],
        "scripting",
        "2.6.0",
        "Execute a Lua script server side",
        eval::evalsha
    ),
    spec!(
        "evalsha_ro",
        -3,
        [
            "readonly",
            "noscript",
            "stale",
            "skip_monitor",
            "no_mandatory_keys",
            "movablekeys"
        ],
        NO_KEYS,
        ["slow", "scripting"],
        "scripting",
        "7.0.0",
        "Execute a read-only Lua script server side",
        eval::evalsha_ro
    ),
    spec!(
        "exec",
        1,
        ["noscript", "loading", "stale", "skip_slowlog"],
        NO_KEYS,
        ["slow", "transaction"],
        "transactions",
        "1.2.0",
        "Execute all commands issued after MULTI",
        transaction::exec
    ),
    spec!(
        "exists",
        -2,
        ["readonly", "fast"],
        ALL_KEYS,
        ["keyspace", "read", "fast"],
        "generic",
        "1.0.0",
        "Determines whether one or more keys exist.",
        exists::exists
    ),
    spec!(
        "expire",
        -3,
        ["write", "fast"],
        ONE_KEY,
        ["keyspace", "write", "fast"],
        "generic",
        "1.0.0",
        "Sets the expiration time of a key in seconds.",
        expire::expire
    ),
    spec!(
        "expireat",
        -3,
        ["write", "fast"],
        ONE_KEY,
        ["keyspace", "write", "fast"],
        "generic",
        "1.2.0",
        "Sets the expiration time of a key to a Unix timestamp.",
        expire::expireat
    ),
    spec!(
        "expiretime",
        2,
        ["readonly", "fast"],
        ONE_KEY,
        ["keyspace", "read", "fast"],
        "generic",
        "7.0.0",
        "Returns the expiration time of a key as a Unix timestamp.",
        ttl::expiretime
    ),
    spec!(
        "flushall",
        -1,
        ["write"],
        NO_KEYS,
        ["keyspace", "write", "slow", "dangerous"],
        "server",
        "1.0.0",
        "Removes all keys from all databases.",
        flush::flushall
    ),
    spec!(
        "flushdb",
        -1,
        ["write"],
        NO_KEYS,
        ["keyspace", "write", "slow", "dangerous"],
        "server",
        "1.0.0",
        "Remove all keys from the current database.",
        flush::flushdb
    ),
    spec!(
        "get",
        2,
        ["readonly", "fast"],
        ONE_KEY,
        ["read", "string", "fast"],
        "string",
        "1.0.0",
        "Returns the string value of a key.",
        get::get
    ),
    spec!(
        "getdel",
        2,
        ["write", "fast"],
        ONE_KEY,
        ["write", "string", "fast"],
        "string",
        "6.2.0",
        "Returns the string value of a key after deleting the key.",
        getdel::getdel
    ),
    spec!(
        "getex",
        -2,
        ["write", "fast"],
        ONE_KEY,
        ["write", "string", "fast"],
        "string",
        "6.2.0",
        "Returns the string value of a key after setting its expiration time.",
        getex::getex
    ),
    spec!(
        "getset",
        3,
        ["write", "denyoom", "fast"],
        ONE_KEY,
        ["write", "string", "fast"],
        "string",
        "1.0.0",
        "Returns the previous string value of a key after setting it to a new value.",
        set::getset
    ),
    spec!(
        "hdel",
        -3,
        ["write", "fast"],
        ONE_KEY,
        ["write", "hash", "fast"],
        "hash",
        "2.0.0",
        "Delete one or more hash fields",
        hdel::hdel
    ),
    spec!(
        "hello",
        -1,
        [
            "noscript",
            "loading",
            "stale",
            "fast",
            "no_auth",
            "allow_busy"
        ],
        NO_KEYS,
        ["fast", "connection"],
        "connection",
        "6.0.0",
        "Handshakes with the Redis server.",
        hello::hello
    ),
    spec!(
        "hexists",
        3,
        ["readonly", "fast"],
        ONE_KEY,
        ["read", "hash", "fast"],
        "hash",
        "2.0.0",
        "Determine if a hash field exists",
        hget::hexists
    ),
    spec!(
        "hget",
        3,
        ["readonly", "fast"],
        ONE_KEY,
        ["read", "hash", "fast"],
        "hash",
        "2.0.0",
        "Get the value of a hash field",
        hget::hget
    ),
    spec!(
        "hgetall",
        2,
        ["readonly"],
        ONE_KEY,
        ["read", "hash", "slow"],
        "hash",
        "2.0.0",
        "Get all the fields and values in a hash",
        hgetall::hgetall
    ),
    spec!(
        "hincrby",
        4,
        ["write", "denyoom", "fast"],
        ONE_KEY,
        ["write", "hash", "fast"],
        "hash",
        "2.0.0",
        "Increment the integer value of a hash field by the given number",
        hincrby::hincrby
    ),
    spec!(
        "hincrbyfloat",
        4,
        ["write", "denyoom", "fast"],
        ONE_KEY,
        ["write", "hash", "fast"],
        "hash",
        "2.6.0",
        "Increment the float value of a hash field by the given amount",
        hincrby::hincrbyfloat
    ),
    spec!(
        "hkeys",
        2,
        ["readonly"],
        ONE_KEY,
        ["read", "hash", "slow"],
        "hash",
        "2.0.0",
        "Get all the fields in a hash",
        hgetall::hkeys
    ),
    spec!(
        "hlen",
        2,
        ["readonly", "fast"],
        ONE_KEY,
        ["read", "hash", "fast"],
        "hash",
        "2.0.0",
        "Get the number of fields in a hash",
        card::hlen
    ),
    spec!(
        "hmget",
        -3,
        ["readonly", "fast"],
        ONE_KEY,
        ["read", "hash", "fast"],
        "hash",
        "2.0.0",
        "Get the values of all the given hash fields",
        hget::hmget
    ),
    spec!(
        "hmset",
        -4,
        ["write", "denyoom", "fast"],
        ONE_KEY,
        ["write", "hash", "fast"],
        "hash",
        "2.0.0",
        "Set multiple hash fields to multiple values",
        hset::hmset
    ),
    spec!(
        "hset",
        -4,
        ["write", "denyoom", "fast"],
        ONE_KEY,
        ["write", "hash", "fast"],
        "hash",
        "2.0.0",
        "Set the string value of a hash field",
        hset::hset
    ),
    spec!(
        "hsetnx",
        4,
        ["write", "denyoom", "fast"],
        ONE_KEY,
        ["write", "hash", "fast"],
        "hash",
        "2.0.0",
        "Set the value of a hash field, only if the field does not exist",
        hset::hsetnx
    ),
    spec!(
        "hstrlen",
        3,
        ["readonly", "fast"],
        ONE_KEY,
        ["read", "hash", "fast"],
        "hash",
        "3.2.0",
        "Get the length of the value of a hash field",
        hget::hstrlen
    ),
    spec!(
        "hvals",
        2,
        ["readonly"],
        ONE_KEY,
        ["read", "hash", "slow"],
        "hash",
        "2.0.0",
        "Get all the values in a hash",
        hgetall::hvals
    ),
    spec!(
        "incr",
        2,
        ["write", "denyoom", "fast"],
        ONE_KEY,
        ["write", "string", "fast"],
        "string",
        "1.0.0",
        "Increments the integer value of a key by one.",
        incr::incr
    ),
    spec!(
        "incrby",
        3,
        ["write", "denyoom", "fast"],
        ONE_KEY,
        ["write", "string", "fast"],
        "string",
        "1.0.0",
        "Increments the integer value of a key by a number.",
        incr::incrby
    ),
    spec!(
        "info",
        -1,
        ["loading", "stale"],
        NO_KEYS,
        ["slow", "dangerous"],
        "server",
        "1.0.0",
        "Returns information and statistics about the server.",
        info::info
    ),
    spec!(
        "keys",
        2,
        ["readonly"],
        NO_KEYS,
        ["keyspace", "read", "slow", "dangerous"],
        "generic",
        "1.0.0",
        "Returns all key names that match a pattern.",
        scan::keys
    ),
    spec!(
        "mget",
        -2,
        ["readonly", "fast"],
        ALL_KEYS,
        ["read", "string", "fast"],
        "string",
        "1.0.0",
        "Atomically returns the string values of one or more keys.",
        mget::mget
    ),
    spec!(
        "mset",
        -3,
        ["write", "denyoom"],
        [1, -1, 2],
        ["write", "string", "slow"],
        "string",
        "1.0.1",
        "Atomically creates or modifies the string values of one or more keys.",
        mset::mset
    ),
    spec!(
        "multi",
        1,
        ["noscript", "loading", "stale", "fast", "allow_busy"],
        NO_KEYS,
        ["fast", "transaction"],
        "transactions",
        "1.2.0",
        "Mark the start of a transaction block",
        transaction::multi
    ),
    spec!(
        "persist",
        2,
        ["write", "fast"],
        ONE_KEY,
        ["keyspace", "write", "fast"],
        "generic",
        "2.2.0",
        "Removes the expiration time of a key.",
        persist::persist
    ),
    spec!(
        "pexpire",
        -3,
        ["write", "fast"],
        ONE_KEY,
        ["keyspace", "write", "fast"],
        "generic",
        "2.6.0",
        "Sets the expiration time of a key in milliseconds.",
        expire::pexpire
    ),
    spec!(
        "pexpireat",
        -3,
        ["write", "fast"],
        ONE_KEY,
        ["keyspace", "write", "fast"],
        "generic",
        "2.6.0",
        "Sets the expiration time of a key to a Unix milliseconds timestamp.",
        expire::pexpireat
    ),
    spec!(
        "pexpiretime",
        2,
        ["readonly", "fast"],
        ONE_KEY,
        ["keyspace", "read", "fast"],
        "generic",
        "7.0.0",
        "Returns the expiration time of a key as a Unix milliseconds timestamp.",
        ttl::pexpiretime
    ),
    spec!(
        "ping",
        -1,
        ["fast"],
        NO_KEYS,
        ["fast", "connection"],
        "connection",
        "1.0.0",
        "Returns the server's liveliness response.",
        ping::ping
    ),
    spec!(
        "psetex",
        4,
        ["write", "denyoom"],
        ONE_KEY,
        ["write", "string", "slow"],
        "string",
        "2.6.0",
        "Sets both string value and expiration time in milliseconds of a key.",
        set::psetex
    ),
    spec!(
        "psubscribe",
        -2,
        ["pubsub", "noscript", "loading", "stale"],
        NO_KEYS,
        ["pubsub", "slow"],
        "pubsub",
        "2.0.0",
        "Listen for messages published to channels matching the given patterns",
        pubsub::psubscribe
    ),
    spec!(
        "pttl",
        2,
        ["readonly", "fast"],
        ONE_KEY,
        ["keyspace", "read", "fast"],
        "generic",
        "2.6.0",
        "Returns the expiration time in milliseconds of a key.",
        ttl::pttl
    ),
    spec!(
        "publish",
        3,
        ["pubsub", "loading", "stale", "fast"],
        NO_KEYS,
        ["pubsub", "fast"],
        "pubsub",
        "2.0.0",
        "Post a message to a channel",
        pubsub::publish
    ),
    container!(
        "pubsub",
        "PUBSUB",
        -2,
        [],
        ["slow"],
        "pubsub",
        "2.8.0",
        "A container for Pub/Sub commands",
        pubsub::container,
        PUBSUB
    ),
    spec!(
        "punsubscribe",
        -1,
        ["pubsub", "noscript", "loading", "stale"],
        NO_KEYS,
        ["pubsub", "slow"],
        "pubsub",
        "2.0.0",
        "Stop listening for messages posted to channels matching the given patterns",
        pubsub::punsubscribe
    ),
    spec!(
        "quit",
        -1,
        [
            "allow_busy",
            "noscript",
            "loading",
            "stale",
            "fast",
            "no_auth"
        ],
        NO_KEYS,
        ["fast", "connection"],
        "connection",
        "1.0.0",
        "Closes the connection.",
        quit::quit
    ),
    spec!(
        "rename",
        3,
        ["write"],
        [1, 2, 1],
        ["keyspace", "write", "slow"],
        "generic",
        "1.0.0",
        "Renames a key and overwrites the destination.",
        rename::rename
    ),
    spec!(
        "renamenx",
        3,
        ["write", "fast"],
        [1, 2, 1],
        ["keyspace", "write", "fast"],
        "generic",
        "1.0.0",
        "Renames a key only when the target key name doesn't exist.",
        rename::renamenx
    ),
    spec!(
        "reset",
        1,
        [
            "noscript",
            "loading",
            "stale",
            "fast",
            "no_auth",
            "allow_busy"
        ],
        NO_KEYS,
        ["fast", "connection"],
        "connection",
        "6.2.0",
        "Resets the connection.",
        reset::reset
    ),
    spec!(
        "sadd",
        -3,
        ["write", "denyoom", "fast"],
        ONE_KEY,
        ["write", "set", "fast"],
        "set",
        "1.0.0",
        "Add one or more members to a set",
        sadd::sadd
    ),
    spec!(
        "scan",
        -2,
        ["readonly"],
        NO_KEYS,
        ["keyspace", "read", "slow"],
        "generic",
        "2.8.0",
        "Iterates over the key names in the database.",
        scan::scan
    ),
    spec!(
        "scard",
        2,
        ["readonly", "fast"],
        ONE_KEY,
        ["read", "set", "fast"],
        "set",
        "1.0.0",
        "Get the number of members in a set",
        card::scard
    ),
    container!(
        "script",
        "SCRIPT",
        -2,
        [],
        ["slow"],
        "scripting",
        "2.6.0",
        "A container for Lua scripts management commands",
        script::container,
        SCRIPT
    ),
    spec!(
        "select",
        2,
        ["loading", "stale", "fast"],
        NO_KEYS,
        ["fast", "connection"],
        "connection",
        "1.0.0",
        "Changes the selected database.",
        select::select
    ),
    spec!(
        "set",
        -3,
        ["write", "denyoom"],
        ONE_KEY,
        ["write", "string", "slow"],
        "string",
        "1.0.0",
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        set::set
    ),
    spec!(
        "setex",
        4,
        ["write", "denyoom"],
        ONE_KEY,
        ["write", "string", "slow"],
        "string",
        "2.0.0",
        "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
        set::setex
    ),
    spec!(
        "setnx",
        3,
        ["write", "denyoom", "fast"],
        ONE_KEY,
        ["write", "string", "fast"],
        "string",
        "1.0.0",
        "Set the string value of a key only when the key doesn't exist.",
        set::setnx
    ),
    spec!(
        "sismember",
        3,
        ["readonly", "fast"],
        ONE_KEY,
        ["read", "set", "fast"],
        "set",
        "1.0.0",
        "Determine if a given value is a member of a set",
        smembers::sismember
    ),
    spec!(
        "smembers",
        2,
        ["readonly"],
        ONE_KEY,
        ["read", "set", "slow"],
        "set",
        "1.0.0",
        "Get all the members in a set",
        smembers::smembers
    ),
    spec!(
        "smismember",
        -3,
        ["readonly", "fast"],
        ONE_KEY,
        ["read", "set", "fast"],
        "set",
        "6.2.0",
        "Returns the membership associated with the given elements for a set",
        smembers::smismember
    ),
    spec!(
        "srem",
        -3,
        ["write", "fast"],
        ONE_KEY,
        ["write", "set", "fast"],
        "set",
        "1.0.0",
        "Remove one or more members from a set",
        sadd::srem
    ),
    spec!(
        "strlen",
        2,
        ["readonly", "fast"],
        ONE_KEY,
        ["read", "string", "fast"],
        "string",
        "2.2.0",
        "Returns the length of a string value.",
        strlen::strlen
    ),
    spec!(
        "subscribe",
        -2,
        ["pubsub", "noscript", "loading", "stale"],
        NO_KEYS,
        ["pubsub", "slow"],
        "pubsub",
        "2.0.0",
        "Listen for messages published to the given channels",
        pubsub::subscribe
    ),
    spec!(
        "ttl",
        2,
        ["readonly", "fast"],
        ONE_KEY,
        ["keyspace", "read", "fast"],
        "generic",
        "1.0.0",
        "Returns the expiration time in seconds of a key.",
        ttl::ttl
    ),
    spec!(
        "type",
        2,
        ["readonly", "fast"],
        ONE_KEY,
        ["keyspace", "read", "fast"],
        "generic",
        "1.0.0",
        "Determines the type of value stored at a key.",
        key_type::key_type
    ),
    spec!(
        "unlink",
        -2,
        ["write", "fast"],
        ALL_KEYS,
        ["keyspace", "write", "fast"],
        "generic",
        "4.0.0",
        "Asynchronously deletes one or more keys.",
        del::del
    ),
    spec!(
        "unsubscribe",
        -1,
        ["pubsub", "noscript", "loading", "stale"],
        NO_KEYS,
        ["pubsub", "slow"],
        "pubsub",
        "2.0.0",
        "Stop listening for messages posted to the given channels",
        pubsub::unsubscribe
    ),
    spec!(
        "unwatch",
        1,
        ["noscript", "loading", "stale", "fast", "allow_busy"],
        NO_KEYS,
        ["fast", "transaction"],
        "transactions",
        "2.2.0",
        "Forget about all watched keys",
        transaction::unwatch
    ),
    spec!(
        "watch",
        -2,
        ["noscript", "loading", "stale", "fast", "allow_busy"],
        ALL_KEYS,
        ["fast", "transaction"],
        "transactions",
        "2.2.0",
        "Watch the given keys to determine execution of the MULTI/EXEC block",
        transaction::watch
    ),
    spec!(
        "zadd",
        -4,
        ["write", "denyoom", "fast"],
        ONE_KEY,
        ["write", "sortedset", "fast"],
        "sorted-set",
        "1.2.0",
        "Add one or more members to a sorted set, or update its score if it already exists",
        zadd::zadd
    ),
    spec!(
        "zcard",
        2,
        ["readonly", "fast"],
        ONE_KEY,
        ["read", "sortedset", "fast"],
        "sorted-set",
        "1.2.0",
        "Get the number of members in a sorted set",
        card::zcard
    ),
    spec!(
        "zcount",
        4,
        ["readonly", "fast"],
        ONE_KEY,
        ["read", "sortedset", "fast"],
        "sorted-set",
        "2.0.0",
        "Count the members in a sorted set with scores within the given values",
        zcount::zcount
    ),
    spec!(
        "zincrby",
        4,
        ["write", "denyoom", "fast"],
        ONE_KEY,
        ["write", "sortedset", "fast"],
        "sorted-set",
        "1.2.0",
        "Increment the score of a member in a sorted set",
        zadd::zincrby
    ),
    spec!(
        "zmscore",
        -3,
        ["readonly", "fast"],
        ONE_KEY,
        ["read", "sortedset", "fast"],
        "sorted-set",
        "6.2.0",
        "Get the score associated with the given members in a sorted set",
        zscore::zmscore
    ),
    spec!(
        "zrange",
        -4,
        ["readonly"],
        ONE_KEY,
        ["read", "sortedset", "slow"],
        "sorted-set",
        "1.2.0",
        "Return a range of members in a sorted set",
        zrange::zrange
    ),
    spec!(
        "zrangebylex",
        -4,
        ["readonly"],
        ONE_KEY,
        ["read", "sortedset", "slow"],
        "sorted-set",
        "2.8.9",
        "Return a range of members in a sorted set, by lexicographical range",
        zrange::zrangebylex
    ),
    spec!(
        "zrangebyscore",
        -4,
        ["readonly"],
        ONE_KEY,
        ["read", "sortedset", "slow"],
        "sorted-set",
        "1.0.5",
        "Return a range of members in a sorted set, by score",
        zrange::zrangebyscore
    ),
    spec!(
        "zrem",
        -3,
        ["write", "fast"],
        ONE_KEY,
        ["write", "sortedset", "fast"],
        "sorted-set",
        "1.2.0",
        "Remove one or more members from a sorted set",
        zrem::zrem
    ),
    spec!(
        "zremrangebyscore",
        4,
        ["write"],
        ONE_KEY,
        ["write", "sortedset", "slow"],
        "sorted-set",
        "1.2.0",
        "Remove all members in a sorted set within the given scores",
        zrem::zremrangebyscore
    ),
    spec!(
        "zrevrange",
        -4,
        ["readonly"],
        ONE_KEY,
        ["read", "sortedset", "slow"],
        "sorted-set",
        "1.2.0",
        "Return a range of members in a sorted set, by index, with scores ordered from high to low",
        zrange::zrevrange
    ),
    spec!(
        "zrevrangebylex",
        -4,
        ["readonly"],
        ONE_KEY,
        ["read", "sortedset", "slow"],
        "sorted-set",
        "2.8.9",
        "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.",
        zrange::zrevrangebylex
    ),
    spec!(
        "zrevrangebyscore",
        -4,
        ["readonly"],
        ONE_KEY,
        ["read", "sortedset", "slow"],
        "sorted-set",
        "2.2.0",
        "Return a range of members in a sorted set, by score, with scores ordered from high to low",
        zrange::zrevrangebyscore
    ),
    spec!(
        "zscore",
        3,
        ["readonly", "fast"],
        ONE_KEY,
        ["read", "sortedset", "fast"],
        "sorted-set",
        "1.2.0",
        "Get the score associated with the given member in a sorted set",
        zscore::zscore
    ),
];

/// `CLIENT` subcommands.
static CLIENT: &[Spec] = &[
    spec!(
        "client|getname",
        2,
        ["noscript", "loading", "stale"],
        NO_KEYS,
        ["slow", "connection"],
        "connection",
        "2.6.9",
        "Returns the name of the connection.",
        client::getname
    ),
    spec!(
        "client|help",
        2,
        ["loading", "stale"],
        NO_KEYS,
        ["slow", "connection"],
        "connection",
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        client::help
    ),
    spec!(
        "client|id",
        2,
        ["noscript", "loading", "stale"],
        NO_KEYS,
        ["slow", "connection"],
        "connection",
        "5.0.0",
        "Returns the unique client ID of the connection.",
        client::id
    ),
    spec!(
        "client|info",
        2,
        ["noscript", "loading", "stale"],
        NO_KEYS,
        ["slow", "connection"],
        "connection",
        "6.2.0",
        "Returns information about the connection.",
        client::info
    ),
    spec!(
        "client|list",
        -2,
        ["admin", "noscript", "loading", "stale"],
        NO_KEYS,
        ["admin", "slow", "dangerous", "connection"],
        "connection",
        "2.4.0",
        "Lists open connections.",
        client::list
    ),
    spec!(
        "client|setinfo",
        4,
        ["noscript", "loading", "stale"],
        NO_KEYS,
        ["slow", "connection"],
        "connection",
        "7.2.0",
        "Sets information specific to the client or connection.",
        client::setinfo
    ),
    spec!(
        "client|setname",
        3,
        ["noscript", "loading", "stale"],
        NO_KEYS,
        ["slow", "connection"],
        "connection",
        "2.6.9",
        "Sets the connection name.",
        client::setname
    ),
];

/// `COMMAND` subcommands.
static COMMAND: &[Spec] = &[
    spec!(
        "command|count",
        2,
        ["loading", "stale"],
        NO_KEYS,
        ["slow", "connection"],
        "server",
        "2.8.13",
        "Returns a count of commands.",
        command::count
    ),
    spec!(
        "command|docs",
        -2,
        ["loading", "stale"],
        NO_KEYS,
        ["slow", "connection"],
        "server",
        "7.0.0",
        "Returns documentary information about one, multiple or all commands.",
        command::docs
    ),
    spec!(
        "command|getkeys",
        -4,
        ["loading", "stale"],
        NO_KEYS,
        ["slow", "connection"],
        "server",
        "2.8.13",
        "Extracts the key names from an arbitrary command.",
        command::getkeys
    ),
    spec!(
        "command|help",
        2,
        ["loading", "stale"],
        NO_KEYS,
        ["slow", "connection"],
        "server",
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        command::help
    ),
    spec!(
        "command|info",
        -2,
        ["loading", "stale"],
        NO_KEYS,
        ["slow", "connection"],
        "server",
        "2.8.13",
        "Returns information about one, multiple or all commands.",
        command::info
    ),
    spec!(
        "command|list",
        -2,
        ["loading", "stale"],
        NO_KEYS,
        ["slow", "connection"],
        "server",
        "7.0.0",
        "Returns a list of command names.",
        command::list
    ),
];

/// `CONFIG` subcommands.
static CONFIG: &[Spec] = &[
    spec!(
        "config|get",
        -3,
        ["admin", "noscript", "loading", "stale"],
        NO_KEYS,
        ["admin", "slow", "dangerous"],
        "server",
        "2.0.0",
        "Returns the effective values of configuration parameters.",
        config::get
    ),
    spec!(
        "config|help",
        2,
        ["loading", "stale"],
        NO_KEYS,
        ["slow"],
        "server",
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        config::help
    ),
    spec!(
        "config|resetstat",
        2,
        ["admin", "noscript", "loading", "stale"],
        NO_KEYS,
        ["admin", "slow", "dangerous"],
        "server",
        "2.0.0",
        "Resets the server's statistics.",
        config::resetstat
    ),
    spec!(
        "config|rewrite",
        2,
        ["admin", "noscript", "loading", "stale"],
        NO_KEYS,
        ["admin", "slow", "dangerous"],
        "server",
        "2.8.0",
        "Persists the effective configuration to file.",
        config::rewrite
    ),
    spec!(
        "config|set",
        -4,
        ["admin", "noscript", "loading", "stale"],
        NO_KEYS,
        ["admin", "slow", "dangerous"],
        "server",
        "2.0.0",
        "Sets configuration parameters in-flight.",
        config::set
    ),
];

/// `PUBSUB` subcommands.
static PUBSUB: &[Spec] = &[
    spec!(
        "pubsub|channels",
        -2,
        ["pubsub", "loading", "stale"],
        NO_KEYS,
        ["pubsub", "slow"],
        "pubsub",
        "2.8.0",
        "List active channels",
        pubsub::channels
    ),
    spec!(
        "pubsub|help",
        2,
        ["loading", "stale"],
        NO_KEYS,
        ["slow"],
        "pubsub",
        "6.2.0",
        "Show helpful text about the different subcommands",
        pubsub::help
    ),
    spec!(
        "pubsub|numpat",
        2,
        ["pubsub", "loading", "stale"],
        NO_KEYS,
        ["pubsub", "slow"],
        "pubsub",
        "2.8.0",
        "Get the count of unique patterns pattern subscriptions",
        pubsub::numpat
    ),
    spec!(
        "pubsub|numsub",
        -2,
        ["pubsub", "loading", "stale"],
        NO_KEYS,
        ["pubsub", "slow"],
        "pubsub",
        "2.8.0",
        "Get the count of subscribers for channels",
        pubsub::numsub
    ),
];

/// `SCRIPT`'s subcommands, sorted by name.
static SCRIPT: &[Spec] = &[
    spec!(
        "script|exists",
        -3,
        ["noscript"],
        NO_KEYS,
        ["slow", "scripting"],
        "scripting",
        "2.6.0",
        "Check existence of scripts in the script cache.",
        script::exists
    ),
    spec!(
        "script|flush",
        -2,
        ["noscript"],
        NO_KEYS,
        ["slow", "scripting"],
        "scripting",
        "2.6.0",
        "Remove all the scripts from the script cache.",
        script::flush
    ),
    spec!(
        "script|help",
        2,
        ["loading", "stale"],
        NO_KEYS,
        ["slow", "scripting"],
        "scripting",
        "5.0.0",
        "Show helpful text about the different subcommands",
        script::help
    ),
    spec!(
        "script|kill",
        2,
        ["noscript", "allow_busy"],
        NO_KEYS,
        ["slow", "scripting"],
        "scripting",
        "2.6.0",
        "Kill the script currently in execution.",
        script::kill
    ),
    spec!(
        "script|load",
        3,
        ["noscript", "stale"],
        NO_KEYS,
        ["slow", "scripting"],
        "scripting",
        "2.6.0",
        "Load the specified Lua script into the script cache.",
        script::load
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_for_binary_search() {
        for pair in COMMANDS.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} before {}",
                pair[0].name,
                pair[1].name
            );
        }
    }

    #[test]
    fn subcommands_belong_to_their_container() {
        for spec in COMMANDS {
            assert_eq!(
                spec.subcommands.is_empty(),
                spec.upper.is_empty(),
                "{}",
                spec.name
            );
            assert!(spec.subcommands.len() < 255);
            for sub in spec.subcommands {
                assert!(
                    sub.name.starts_with(&format!("{}|", spec.name)),
                    "{}",
                    sub.name
                );
                assert!(sub.subcommands.is_empty());
            }
        }
        assert!(COMMANDS.len() < 1 << 23);
    }
}
