//! The memory limit over the Redis protocol: a write past it gets Redis's `-OOM` error, no
//! stored session is ever evicted to make room, reads and deletes keep working, and room
//! freed by a delete is usable again.

mod support;

use support::Server;
use support::redis::{Client, Reply};

/// Redis's reply to a write refused by `maxmemory` under `noeviction`, byte for byte.
const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

fn value_for(i: usize) -> Vec<u8> {
    format!("{i:06}:").bytes().cycle().take(4096).collect()
}

#[test]
fn writes_past_the_memory_limit_get_oom_and_nothing_is_evicted() {
    let server = Server::start_with(&["--max-memory", "2MiB", "--max-item-size", "64KiB"]);
    let mut client = Client::connect(server.listener("resp"));

    let mut stored = Vec::new();
    let refused = loop {
        let i = stored.len();
        assert!(i < 2000, "2000 values of 4 KiB stored under a 2 MiB limit");
        let key = format!("resp:mem:{i:06}");
        let value = value_for(i);
        match client.call(&[b"SET", key.as_bytes(), &value, b"EX", b"1440"]) {
            Reply::Simple(ok) if ok == "OK" => stored.push((key, value)),
            other => break (key, other),
        }
    };
    let (refused_key, reply) = refused;
    assert_eq!(reply, Reply::Error(OOM.to_owned()), "reply past the limit");
    assert!(
        stored.len() > 100,
        "only {} values fit in 2 MiB",
        stored.len()
    );

    // Every other kind of write is refused the same way; reads are not.
    for command in [
        vec![&b"HSET"[..], b"resp:mem:hash", b"field", &[b'h'; 8192][..]],
        vec![&b"SADD"[..], b"resp:mem:set", &[b's'; 8192][..]],
        vec![&b"APPEND"[..], stored[0].0.as_bytes(), &[b'a'; 8192][..]],
    ] {
        assert_eq!(client.call(&command), Reply::Error(OOM.to_owned()));
    }
    assert_eq!(
        client.call(&[b"EXISTS", refused_key.as_bytes()]),
        Reply::Integer(0)
    );

    // Nothing was evicted: every acknowledged session reads back whole.
    assert_all_readable(&mut client, &stored);
    let dbsize = client.cmd("DBSIZE");
    assert_eq!(dbsize, Reply::Integer(stored.len() as i64));

    // A delete frees room that the refused write then gets.
    let freed: Vec<&[u8]> = stored[..16].iter().map(|(key, _)| key.as_bytes()).collect();
    let mut delete = vec![&b"DEL"[..]];
    delete.extend(&freed);
    assert_eq!(client.call(&delete), Reply::Integer(16));
    let value = value_for(9999);
    assert_eq!(
        client.call(&[b"SET", refused_key.as_bytes(), &value]),
        Reply::Simple("OK".to_owned())
    );
    assert_all_readable(&mut client, &stored[16..]);

    // What clients read to see the policy.
    let policy = client.cmd("CONFIG GET maxmemory-policy");
    assert_eq!(
        policy,
        Reply::Array(vec![
            Reply::Bulk(b"maxmemory-policy".to_vec()),
            Reply::Bulk(b"noeviction".to_vec())
        ])
    );
}

/// Every key reads back its value, 50 at a time.
fn assert_all_readable(client: &mut Client, keys: &[(String, Vec<u8>)]) {
    for batch in keys.chunks(50) {
        let mut command = vec![&b"MGET"[..]];
        command.extend(batch.iter().map(|(key, _)| key.as_bytes()));
        let expected = Reply::Array(
            batch
                .iter()
                .map(|(_, value)| Reply::Bulk(value.clone()))
                .collect(),
        );
        assert!(
            client.call(&command) == expected,
            "keys {}..{} did not all read back",
            batch[0].0,
            batch[batch.len() - 1].0
        );
    }
}
