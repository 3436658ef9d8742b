//! Transactions (`MULTI`, `EXEC`, `WATCH`) where the test needs the engine or the clock in its
//! hands: other protocols writing a watched key, expiry by the engine's clock, sessiond's own
//! limits. The replies Redis also gives are compared with a real redis-server by
//! `crates/sessiond/tests/resp_transactions.rs`.

use sessiond_engine::{Expiry, Get, Key, NamespaceId, ReadSession, Store, StoreMode};
use sessiond_resp::{Config, Limits};

use crate::connection::{Bench, bulk, error, ok};
use crate::support::Value;

fn queued() -> Value {
    Value::Simple(b"QUEUED".to_vec())
}

/// A listener whose database 0 is namespace 0, where memcached and ASP.NET commands run here.
fn shared_namespace() -> Bench {
    Bench::with(Config::new(NamespaceId(0)), 1 << 30)
}

fn with_limits(limits: Limits) -> Bench {
    let config = Config {
        limits,
        ..Config::new(NamespaceId(16))
    };
    Bench::with(config, 1 << 30)
}

#[test]
fn a_memcached_or_aspnet_write_to_a_watched_key_makes_exec_run_nothing() {
    let bench = shared_namespace();
    let key = Key::new(NamespaceId(0), b"session");
    let mut c = bench.connect();
    assert_eq!(bench.one(&mut c, "SET session v1"), ok());
    assert_eq!(bench.one(&mut c, "WATCH session"), ok());
    // A memcached read changes nothing.
    bench.engine.run(&Get::new(key), bench.now).unwrap();
    assert_eq!(
        bench.send(&mut c, &["MULTI", "GET session", "EXEC"]),
        vec![ok(), queued(), Value::Array(vec![bulk("v1")])]
    );
    // A memcached `set` does.
    assert_eq!(bench.one(&mut c, "WATCH session"), ok());
    let store = Store::new(key, b"v2", 0, Expiry::Never, StoreMode::Set);
    bench.engine.run(&store, bench.now).unwrap();
    assert_eq!(
        bench.send(&mut c, &["MULTI", "SET session v3", "EXEC", "GET session"]),
        vec![ok(), queued(), Value::NullArray, bulk("v2")]
    );
    // So does an ASP.NET exclusive read, which locks the item.
    assert_eq!(bench.one(&mut c, "WATCH session"), ok());
    let lock = ReadSession {
        key,
        exclusive: true,
    };
    bench.engine.run(&lock, bench.now).unwrap();
    assert_eq!(
        bench.send(&mut c, &["HELLO 3", "MULTI", "SET session v3", "EXEC"])[1..],
        [ok(), queued(), Value::Null]
    );
}

#[test]
fn a_watched_key_that_expires_makes_exec_run_nothing() {
    let mut bench = Bench::new();
    let mut c = bench.connect();
    assert_eq!(bench.one(&mut c, "SET k v PX 100"), ok());
    assert_eq!(bench.one(&mut c, "WATCH k"), ok());
    bench.advance(100);
    assert_eq!(
        bench.send(&mut c, &["MULTI", "SET k w", "EXEC", "GET k"]),
        vec![ok(), queued(), Value::NullArray, Value::NullBulk]
    );
    // A key already expired when watched, and still absent, changed nothing.
    assert_eq!(bench.one(&mut c, "SET k v PX 100"), ok());
    bench.advance(200);
    assert_eq!(bench.one(&mut c, "WATCH k"), ok());
    assert_eq!(
        bench.send(&mut c, &["MULTI", "SET k w", "EXEC"]),
        vec![ok(), queued(), Value::Array(vec![ok()])]
    );
}

#[test]
fn a_queue_past_its_limits_aborts_the_transaction() {
    let bench = with_limits(Limits {
        max_queued_commands: 2,
        max_transaction_bytes: 1000,
        ..Limits::default()
    });
    let mut c = bench.connect();
    assert_eq!(
        bench.send(
            &mut c,
            &["MULTI", "SET a 1", "SET b 2", "SET c 3", "PING", "EXEC"]
        ),
        vec![
            ok(),
            queued(),
            queued(),
            error("ERR transaction discarded: more than 2 queued commands"),
            queued(),
            error("EXECABORT Transaction discarded because of previous errors."),
        ]
    );
    assert_eq!(bench.one(&mut c, "EXISTS a b"), Value::Integer(0));
    let big = format!("SET a {}", "x".repeat(1000));
    assert_eq!(
        bench.send(&mut c, &["MULTI", &big, "EXEC"]),
        vec![
            ok(),
            error("ERR transaction discarded: more than 1000 bytes queued"),
            error("EXECABORT Transaction discarded because of previous errors."),
        ]
    );
    // Watched keys count against the same bytes.
    let long_key = format!("WATCH {}", "k".repeat(1000));
    assert_eq!(
        bench.one(&mut c, &long_key),
        error("ERR the watched keys would take more than 1000 bytes")
    );
    // The connection goes on.
    assert_eq!(
        bench.send(&mut c, &["MULTI", "SET a 1", "EXEC"]),
        vec![ok(), queued(), Value::Array(vec![ok()])]
    );
}

#[test]
fn a_transaction_over_more_keys_than_one_block_still_runs_every_command() {
    let bench = with_limits(Limits {
        max_atomic_keys: 2,
        ..Limits::default()
    });
    let mut c = bench.connect();
    assert_eq!(bench.one(&mut c, "SET w 0"), ok());
    assert_eq!(bench.one(&mut c, "WATCH w"), ok());
    assert_eq!(
        bench.send(
            &mut c,
            &["MULTI", "MSET a 1 b 2", "INCR c", "MGET a b c", "EXEC"]
        ),
        vec![
            ok(),
            queued(),
            queued(),
            queued(),
            Value::Array(vec![
                ok(),
                Value::Integer(1),
                Value::Array(vec![bulk("1"), bulk("2"), bulk("1")]),
            ]),
        ]
    );
    // The watched key is still checked.
    assert_eq!(bench.one(&mut c, "WATCH w"), ok());
    let mut other = bench.connect();
    assert_eq!(bench.one(&mut other, "SET w 1"), ok());
    assert_eq!(
        bench.send(
            &mut c,
            &["MULTI", "MSET a 3 b 4", "INCR c", "EXEC", "GET c"]
        ),
        vec![ok(), queued(), queued(), Value::NullArray, bulk("1")]
    );
}

#[test]
fn store_wide_commands_run_in_a_transaction() {
    let bench = Bench::new();
    let mut c = bench.connect();
    let replies = bench.send(
        &mut c,
        &[
            "MULTI", "SET a 1", "DBSIZE", "FLUSHDB", "GET a", "SELECT 1", "SET a 2", "EXEC",
        ],
    );
    assert_eq!(
        replies.last(),
        Some(&Value::Array(vec![
            ok(),
            Value::Integer(1),
            ok(),
            Value::NullBulk,
            ok(),
            ok(),
        ]))
    );
    assert_eq!(
        bench.send(&mut c, &["GET a", "SELECT 0", "GET a"]),
        vec![bulk("2"), ok(), Value::NullBulk]
    );
}
