//! Comparing sessiond's Redis listener with a real redis-server: the same commands on a
//! fresh connection to each, and the replies compared after masking what must differ.

use std::net::SocketAddr;
use std::time::Duration;

use super::Server;
use super::redis::{Client, Redis, Reply, encode};

/// sessiond with its Redis listener, and the reference Redis, both empty.
pub struct Pair {
    pub sessiond: Server,
    pub redis: Redis,
}

impl Pair {
    pub fn start() -> Pair {
        Pair::with_password(None)
    }

    /// Both servers, requiring `password` when given.
    pub fn with_password(password: Option<&str>) -> Pair {
        let (sessiond, redis) = match password {
            None => (Server::start_with(&[]), Redis::start(&[])),
            Some(password) => (
                Server::start_with(&["--resp-password", password]),
                Redis::start(&["--requirepass", password]),
            ),
        };
        Pair { sessiond, redis }
    }

    pub fn sessiond_addr(&self) -> SocketAddr {
        self.sessiond.listener("resp")
    }

    /// Runs `commands` (words split on spaces) on a fresh connection to each server and asserts
    /// the replies are the same.
    pub fn same(&self, commands: &[&str]) {
        let commands: Vec<Vec<Vec<u8>>> = commands.iter().map(|command| words(command)).collect();
        self.same_args(&commands);
    }

    /// As [`Pair::same`], with each command's arguments given as bytes.
    pub fn same_args(&self, commands: &[Vec<Vec<u8>>]) {
        let expected = transcript(self.redis.addr(), commands);
        let got = transcript(self.sessiond_addr(), commands);
        compare(commands, &expected, &got);
    }

    /// Runs one command on a fresh connection to each server, setup first; the two replies
    /// (masked), for checks of their own.
    pub fn both(&self, setup: &[&str], command: &str) -> (Reply, Reply) {
        let mut commands: Vec<Vec<Vec<u8>>> = setup.iter().map(|c| words(c)).collect();
        commands.push(words(command));
        let mut expected = transcript(self.redis.addr(), &commands);
        let mut got = transcript(self.sessiond_addr(), &commands);
        (expected.pop().unwrap(), got.pop().unwrap())
    }

    /// Sends raw bytes to each server; the replies and whether it closed, which must be the
    /// same. Afterwards a new connection to sessiond still works.
    pub fn same_raw(&self, bytes: &[u8]) {
        let expected = raw_transcript(self.redis.addr(), bytes);
        let got = raw_transcript(self.sessiond_addr(), bytes);
        assert_eq!(
            got,
            expected,
            "sessiond (left) and Redis (right) differ on {:?}",
            String::from_utf8_lossy(bytes)
        );
        // Answered, authenticated or not.
        let mut after = Client::connect(self.sessiond_addr());
        assert!(matches!(
            after.cmd("PING"),
            Reply::Simple(_) | Reply::Error(_)
        ));
    }
}

pub fn words(command: &str) -> Vec<Vec<u8>> {
    command
        .split(' ')
        .map(|word| word.as_bytes().to_vec())
        .collect()
}

/// Empties the server (with a connection of its own, authenticating if asked), then runs
/// `commands` pipelined on a fresh connection and reads a reply to each; a `QUIT` must be
/// the last command and be followed by a close.
pub fn transcript(addr: SocketAddr, commands: &[Vec<Vec<u8>>]) -> Vec<Reply> {
    let mut client = Client::connect(addr);
    let mut bytes = Vec::new();
    for command in commands {
        let args: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
        bytes.extend(encode(&args));
    }
    client.send_raw(&bytes);
    let mut replies = Vec::new();
    for command in commands {
        let reply = client.read();
        replies.push(mask(command, reply));
    }
    if commands
        .last()
        .is_some_and(|last| last[0].eq_ignore_ascii_case(b"QUIT"))
    {
        assert_eq!(client.closed(), Ok(()), "{addr} did not close after QUIT");
    }
    replies
}

/// Sends `bytes`, and reads until the server closes or goes quiet: the replies and whether
/// it closed.
pub fn raw_transcript(addr: SocketAddr, bytes: &[u8]) -> (Vec<Reply>, bool) {
    let mut client = Client::connect(addr);
    client.send_raw(bytes);
    let mut stream = client;
    let mut replies = Vec::new();
    // A protocol error closes at once; otherwise nothing more comes after the replies.
    stream.set_quiet_timeout(Duration::from_millis(300));
    loop {
        match stream.try_read_quiet() {
            Ok(Some(reply)) => replies.push(reply),
            Ok(None) => return (replies, true),
            Err(()) => return (replies, false),
        }
    }
}

/// What must differ between two servers, masked: client ids.
pub fn mask(command: &[Vec<u8>], reply: Reply) -> Reply {
    let name = String::from_utf8_lossy(&command[0]).to_ascii_lowercase();
    let sub = command
        .get(1)
        .map(|sub| String::from_utf8_lossy(sub).to_ascii_lowercase());
    match (name.as_str(), sub.as_deref(), reply) {
        ("client", Some("id"), Reply::Integer(_)) => Reply::Integer(0),
        ("hello", _, Reply::Map(pairs)) => Reply::Map(mask_id(pairs)),
        ("hello", _, Reply::Array(items)) => Reply::Array(
            items
                .chunks(2)
                .flat_map(|pair| {
                    if pair[0] == Reply::Bulk(b"id".to_vec()) {
                        vec![pair[0].clone(), Reply::Integer(0)]
                    } else {
                        pair.to_vec()
                    }
                })
                .collect(),
        ),
        (_, _, reply) => reply,
    }
}

pub fn mask_id(pairs: Vec<(Reply, Reply)>) -> Vec<(Reply, Reply)> {
    pairs
        .into_iter()
        .map(|(key, value)| {
            if key == Reply::Bulk(b"id".to_vec()) {
                (key, Reply::Integer(0))
            } else {
                (key, value)
            }
        })
        .collect()
}

pub fn compare(commands: &[Vec<Vec<u8>>], expected: &[Reply], got: &[Reply]) {
    let mut differences = String::new();
    for (index, command) in commands.iter().enumerate() {
        if expected[index] != got[index] {
            let shown: Vec<String> = command
                .iter()
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect();
            differences.push_str(&format!(
                "\n  {shown:?}\n    redis:    {:?}\n    sessiond: {:?}",
                expected[index], got[index]
            ));
        }
    }
    assert!(differences.is_empty(), "replies differ:{differences}");
}

/// Every key a full `SCAN` with `options` returns, sorted; panics on a key returned twice
/// (neither server returns one twice while nothing changes).
pub fn scan_all(addr: SocketAddr, options: &[&str]) -> Vec<String> {
    let mut client = Client::connect(addr);
    let mut cursor = b"0".to_vec();
    let mut keys = Vec::new();
    loop {
        let mut args: Vec<&[u8]> = vec![b"SCAN", &cursor];
        args.extend(options.iter().map(|option| option.as_bytes()));
        let Reply::Array(reply) = client.call(&args) else {
            panic!("SCAN answers an array");
        };
        let [Reply::Bulk(next), Reply::Array(page)] = &reply[..] else {
            panic!("SCAN answers a cursor and keys: {reply:?}");
        };
        keys.extend(page.iter().map(Reply::text));
        cursor = next.clone();
        if cursor == b"0" {
            break;
        }
    }
    keys.sort();
    let count = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), count, "a key returned twice by {addr}");
    keys
}
