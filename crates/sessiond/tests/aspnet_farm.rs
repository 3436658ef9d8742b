//! End to end: a simulated two-server ASP.NET farm behind a round-robin balancer, both web
//! servers using the real sessiond binary as their state server through a client that sends
//! what the .NET provider sends.

mod support;

use std::thread;
use std::time::Duration;

use support::Server;
use support::aspnet::{Acquired, StateClient};

const APP: &str = "/LM/W3SVC/1/ROOT/shop";
const HASH: &str = "sx01GGAfrT/Xm/AHJShXDlwTYPCa/39Yvs6vMn0QUyE=";

/// A page request that adds one to the session's counter, as a shopping-cart page would.
fn count_page(client: &mut StateClient, id: &str, served_by: &str) {
    let Acquired::Locked { data, cookie, new } = client.acquire(id, Duration::from_secs(60));
    let text = String::from_utf8(data).expect("the page stores text");
    let count: u64 = if new {
        0
    } else {
        text.split(';')
            .next()
            .and_then(|field| field.strip_prefix("count="))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("session {id} holds {text:?}"))
    };
    let updated = format!("count={};last={served_by}", count + 1);
    client.store(id, updated.as_bytes(), cookie);
}

fn session_id(user: usize) -> String {
    // ASP.NET session ids: 24 characters from a-z and 0-5.
    let alphabet = b"abcdefghijklmnopqrstuvwxyz012345";
    (0..24)
        .map(|i| alphabet[(user * 7 + i * 13) % alphabet.len()] as char)
        .collect()
}

#[test]
fn a_round_robin_farm_of_two_web_servers_loses_no_update() {
    let server = Server::start();
    let addr = server.aspnet_addr();
    const USERS: usize = 4;
    const TABS: usize = 2;
    const REQUESTS: usize = 12;
    let mut tabs = Vec::new();
    for user in 0..USERS {
        for tab in 0..TABS {
            tabs.push(thread::spawn(move || {
                // Each web server keeps its own pool of connections to the state server.
                let mut web_a = StateClient::new(addr, APP, HASH);
                let mut web_b = StateClient::new(addr, APP, HASH);
                for client in [&mut web_a, &mut web_b] {
                    // SessionStateLockedItemPollInterval's minimum, to keep the test short.
                    client.poll_interval = Duration::from_millis(250);
                }
                let id = session_id(user);
                for request in 0..REQUESTS {
                    // The balancer alternates; the two tabs start on different servers.
                    if (request + tab) % 2 == 0 {
                        count_page(&mut web_a, &id, "A");
                    } else {
                        count_page(&mut web_b, &id, "B");
                    }
                }
                web_a.polls + web_b.polls
            }));
        }
    }
    let polls: u64 = tabs
        .into_iter()
        .map(|tab| tab.join().expect("a page request failed"))
        .sum();
    let mut reader = StateClient::new(addr, APP, HASH);
    for user in 0..USERS {
        let id = session_id(user);
        let response = reader.get_item(&id);
        assert_eq!(response.status, 200, "{response:?}");
        assert_eq!(response.header("Timeout"), Some("20"));
        let text = String::from_utf8(response.body).expect("text");
        let expected = format!("count={};", TABS * REQUESTS);
        assert!(
            text.starts_with(&expected),
            "user {user}: {text:?}, expected {expected}... ({polls} polls in all)"
        );
    }
    let (status, stderr) = server.shutdown();
    assert!(status.success(), "{status}\n{stderr}");
}

#[test]
fn a_web_server_that_dies_holding_the_lock_does_not_block_the_session_forever() {
    let server = Server::start();
    let addr = server.aspnet_addr();
    let id = session_id(99);
    let mut web_a = StateClient::new(addr, APP, HASH);
    count_page(&mut web_a, &id, "A");
    // Web server A takes the lock and dies mid-request.
    let Acquired::Locked { cookie, .. } = web_a.acquire(&id, Duration::from_secs(5));
    drop(web_a);
    // Web server B polls; once the lock is older than its executionTimeout it steals the
    // lock with the cookie from the 423 and serves the request.
    let mut web_b = StateClient::new(addr, APP, HASH);
    web_b.poll_interval = Duration::from_millis(250);
    web_b.execution_timeout = Duration::from_secs(1);
    count_page(&mut web_b, &id, "B");
    assert!(web_b.polls >= 1, "B never saw the dead request's lock");
    let response = web_b.get_item(&id);
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"count=2;last=B");
    // The dead request's cookie writes nothing any more.
    let late = web_b.set_and_release_item_exclusive(&id, b"count=99", Some(cookie));
    assert_eq!(late.status, 200, "unlocked now: any write goes through");
    let _ = server.shutdown();
}

#[test]
fn session_abandon_removes_the_session_for_both_web_servers() {
    let server = Server::start();
    let addr = server.aspnet_addr();
    let id = session_id(7);
    let mut web_a = StateClient::new(addr, APP, HASH);
    let mut web_b = StateClient::new(addr, APP, HASH);
    count_page(&mut web_a, &id, "A");
    let Acquired::Locked { cookie, .. } = web_b.acquire(&id, Duration::from_secs(5));
    assert_eq!(web_b.remove_item(&id, cookie).status, 200);
    assert_eq!(web_a.get_item(&id).status, 404);
    assert_eq!(web_a.reset_item_timeout(&id).status, 404);
    // The next request starts a new session: it is told to initialize it.
    let Acquired::Locked { new, .. } = web_a.acquire(&id, Duration::from_secs(5));
    assert!(new, "a new session after Session.Abandon");
    let _ = server.shutdown();
}
