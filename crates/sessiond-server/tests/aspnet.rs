//! ASP.NET State Server conformance over loopback TCP: each provider call exactly as the .NET
//! client sends it, and every byte of the answer checked. The server runs in process with a
//! clock the tests move, so lock ages, lock dates and expiry are exact.

mod support;

use std::io::Write;
use std::time::Duration;

use support::{InProcess, connect, escape, http, read_response, read_to_close, send};

/// What the .NET 4 client sends for application `/LM/W3SVC/1/ROOT/shop`, session
/// `2bxkcwnmq1yqhqv1ozrcc5x0`: `HttpUtility.UrlEncode(appId + "(" + hash + ")/" + id)`.
const TARGET: &str = "%2fLM%2fW3SVC%2f1%2fROOT%2fshop(sx01GGAfrT%2fXm%2fAHJShXDlwTYPCa%2f39Yvs6vMn0QUyE%3d)%2f2bxkcwnmq1yqhqv1ozrcc5x0";

/// The same application, another session.
const OTHER: &str = "%2fLM%2fW3SVC%2f1%2fROOT%2fshop(sx01GGAfrT%2fXm%2fAHJShXDlwTYPCa%2f39Yvs6vMn0QUyE%3d)%2fzzzzzzzzzzzzzzzzzzzzzzzz";

/// `LockDate` for a lock taken at the tests' start time: .NET ticks of 2026-11-21T00:00:00Z.
const START_TICKS: u64 = 639_308_160_000_000_000;
const TICKS_PER_SECOND: u64 = 10_000_000;

const OK_EMPTY: &str =
    "HTTP/1.1 200 OK\\r\\nX-AspNet-Version: 4.0.30319\\r\\nContent-Length: 0\\r\\n\\r\\n";
const NOT_FOUND: &str =
    "HTTP/1.1 404 Not Found\\r\\nX-AspNet-Version: 4.0.30319\\r\\nContent-Length: 0\\r\\n\\r\\n";

// --- what the provider sends -----------------------------------------------------------------

/// `GetItem`: a read-only page.
fn get_item(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1:42424\r\n\r\n").into_bytes()
}

/// `GetItemExclusive`: a page that may change the session.
fn get_item_exclusive(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1:42424\r\nExclusive: acquire\r\n\r\n")
        .into_bytes()
}

/// `ReleaseItemExclusive`: the page did not change the session, or a stale lock is stolen.
fn release_item_exclusive(target: &str, cookie: u32) -> Vec<u8> {
    format!(
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:42424\r\nExclusive: release\r\nLockCookie: {cookie}\r\n\r\n"
    )
    .into_bytes()
}

/// `SetAndReleaseItemExclusive`; a new item is sent with cookie 0.
fn set_and_release(target: &str, cookie: u32, timeout: u32, data: &[u8]) -> Vec<u8> {
    put(target, cookie, timeout, 0, data)
}

/// `CreateUninitializedItem`: an empty session the next read must initialize.
fn create_uninitialized(target: &str, timeout: u32) -> Vec<u8> {
    // The provider serializes an empty session: timeout, two false flags, the 0xFF guard.
    put(target, 0, timeout, 1, &[20, 0, 0, 0, 0, 0, 0xff])
}

/// `RemoveItem` (`Session.Abandon()`).
fn remove_item(target: &str, cookie: u32) -> Vec<u8> {
    format!("DELETE {target} HTTP/1.1\r\nHost: 127.0.0.1:42424\r\nLockCookie: {cookie}\r\n\r\n")
        .into_bytes()
}

/// `ResetItemTimeout`: a request that did not touch session state.
fn reset_item_timeout(target: &str) -> Vec<u8> {
    format!("HEAD {target} HTTP/1.1\r\nHost: 127.0.0.1:42424\r\n\r\n").into_bytes()
}

fn put(target: &str, cookie: u32, timeout: u32, extra_flags: u32, data: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "PUT {target} HTTP/1.1\r\nHost: 127.0.0.1:42424\r\nTimeout: {timeout}\r\nLockCookie: {cookie}\r\nExtraFlags: {extra_flags}\r\nContent-Length: {}\r\n\r\n",
        data.len()
    )
    .into_bytes();
    request.extend_from_slice(data);
    request
}

// --- what the server answers -----------------------------------------------------------------

fn found(timeout: u32, cookie: Option<u32>, initialize: bool, data: &str) -> String {
    let mut head = String::from("HTTP/1.1 200 OK\\r\\nX-AspNet-Version: 4.0.30319\\r\\n");
    if initialize {
        head.push_str("ActionFlags: 1\\r\\n");
    }
    if let Some(cookie) = cookie {
        head.push_str(&format!("LockCookie: {cookie}\\r\\n"));
    }
    head.push_str(&format!(
        "Timeout: {timeout}\\r\\nContent-Length: {}\\r\\n\\r\\n{}",
        data.len(),
        escape(data.as_bytes())
    ));
    head
}

/// A 423 for a lock taken `taken_at` seconds after the start, seen `age` seconds later.
fn locked(cookie: u32, taken_at: u64, age: u64) -> String {
    format!(
        "HTTP/1.1 423 Locked\\r\\nX-AspNet-Version: 4.0.30319\\r\\nLockDate: {}\\r\\nLockAge: {age}\\r\\nLockCookie: {cookie}\\r\\nContent-Length: 0\\r\\n\\r\\n",
        START_TICKS + taken_at * TICKS_PER_SECOND
    )
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

// --- provider calls ---------------------------------------------------------------------------

#[test]
fn a_new_session_is_stored_read_locked_written_and_released() {
    let server = InProcess::start();
    let mut web = connect(server.aspnet);
    assert_eq!(http(&mut web, &get_item(TARGET)), NOT_FOUND);
    assert_eq!(http(&mut web, &get_item_exclusive(TARGET)), NOT_FOUND);
    // End of the first request: a new item, stored with cookie 0.
    assert_eq!(
        http(&mut web, &set_and_release(TARGET, 0, 20, b"cart=1")),
        OK_EMPTY
    );
    assert_eq!(
        http(&mut web, &get_item(TARGET)),
        found(20, None, false, "cart=1")
    );
    // A new item's cookie is 1; the first lock hands out 2.
    assert_eq!(
        http(&mut web, &get_item_exclusive(TARGET)),
        found(20, Some(2), false, "cart=1")
    );
    assert_eq!(
        http(&mut web, &set_and_release(TARGET, 2, 20, b"cart=2")),
        OK_EMPTY
    );
    assert_eq!(
        http(&mut web, &get_item_exclusive(TARGET)),
        found(20, Some(3), false, "cart=2")
    );
    assert_eq!(http(&mut web, &release_item_exclusive(TARGET, 3)), OK_EMPTY);
    assert_eq!(
        http(&mut web, &get_item(TARGET)),
        found(20, None, false, "cart=2")
    );
    // Releasing a lock that is not held is not an error.
    assert_eq!(http(&mut web, &release_item_exclusive(TARGET, 3)), OK_EMPTY);
}

#[test]
fn a_locked_session_answers_423_to_readers_writers_and_wrong_cookies() {
    let server = InProcess::start();
    let mut first = connect(server.aspnet);
    let mut second = connect(server.aspnet);
    http(&mut first, &set_and_release(TARGET, 0, 20, b"v1"));
    server.advance(secs(10));
    assert_eq!(
        http(&mut first, &get_item_exclusive(TARGET)),
        found(20, Some(2), false, "v1")
    );
    server.advance(secs(3));
    assert_eq!(http(&mut second, &get_item(TARGET)), locked(2, 10, 3));
    assert_eq!(
        http(&mut second, &get_item_exclusive(TARGET)),
        locked(2, 10, 3)
    );
    assert_eq!(
        http(&mut second, &release_item_exclusive(TARGET, 7)),
        locked(2, 10, 3)
    );
    // A write without the lock's cookie is refused and changes nothing.
    assert_eq!(
        http(&mut second, &set_and_release(TARGET, 5, 20, b"lost")),
        locked(2, 10, 3)
    );
    let no_cookie = format!(
        "PUT {TARGET} HTTP/1.1\r\nHost: 127.0.0.1:42424\r\nTimeout: 20\r\nContent-Length: 4\r\n\r\nlost"
    )
    .into_bytes();
    assert_eq!(http(&mut second, &no_cookie), locked(2, 10, 3));
    assert_eq!(http(&mut second, &remove_item(TARGET, 1)), locked(2, 10, 3));
    // The holder's write goes through and unlocks.
    assert_eq!(
        http(&mut first, &set_and_release(TARGET, 2, 20, b"v2")),
        OK_EMPTY
    );
    assert_eq!(
        http(&mut second, &get_item(TARGET)),
        found(20, None, false, "v2")
    );
}

#[test]
fn an_uninitialized_item_flags_its_first_read_and_never_replaces_a_session() {
    let server = InProcess::start();
    let mut web = connect(server.aspnet);
    // GetItemExclusive found nothing for a known id: the module creates the item
    // uninitialized and asks again.
    assert_eq!(http(&mut web, &get_item_exclusive(TARGET)), NOT_FOUND);
    assert_eq!(http(&mut web, &create_uninitialized(TARGET, 20)), OK_EMPTY);
    let first = http(&mut web, &get_item_exclusive(TARGET));
    assert_eq!(
        first,
        "HTTP/1.1 200 OK\\r\\nX-AspNet-Version: 4.0.30319\\r\\nActionFlags: 1\\r\\nLockCookie: 2\\r\\nTimeout: 20\\r\\nContent-Length: 7\\r\\n\\r\\n\\x14\\x00\\x00\\x00\\x00\\x00\\xff"
    );
    // Another uninitialized create (a racing request) leaves the session and its lock alone.
    assert_eq!(http(&mut web, &create_uninitialized(TARGET, 20)), OK_EMPTY);
    assert_eq!(http(&mut web, &get_item(TARGET)), locked(2, 0, 0));
    assert_eq!(
        http(&mut web, &set_and_release(TARGET, 2, 20, b"started")),
        OK_EMPTY
    );
    assert_eq!(http(&mut web, &create_uninitialized(TARGET, 20)), OK_EMPTY);
    assert_eq!(
        http(&mut web, &get_item_exclusive(TARGET)),
        found(20, Some(3), false, "started"),
        "only the first read is told to initialize"
    );
}

#[test]
fn remove_item_needs_the_cookie_of_a_held_lock() {
    let server = InProcess::start();
    let mut web = connect(server.aspnet);
    assert_eq!(http(&mut web, &remove_item(TARGET, 0)), NOT_FOUND);
    http(&mut web, &set_and_release(TARGET, 0, 20, b"bye"));
    assert_eq!(
        http(&mut web, &get_item_exclusive(TARGET)),
        found(20, Some(2), false, "bye")
    );
    assert_eq!(http(&mut web, &remove_item(TARGET, 3)), locked(2, 0, 0));
    assert_eq!(http(&mut web, &remove_item(TARGET, 2)), OK_EMPTY);
    assert_eq!(http(&mut web, &get_item(TARGET)), NOT_FOUND);
    // An unlocked session is removed with any cookie, as by the reference server.
    http(&mut web, &set_and_release(TARGET, 0, 20, b"again"));
    assert_eq!(http(&mut web, &remove_item(TARGET, 0)), OK_EMPTY);
    assert_eq!(http(&mut web, &get_item(TARGET)), NOT_FOUND);
}

#[test]
fn reset_item_timeout_keeps_a_session_alive_and_404s_a_missing_one() {
    let server = InProcess::start();
    let mut web = connect(server.aspnet);
    assert_eq!(http(&mut web, &reset_item_timeout(TARGET)), NOT_FOUND);
    http(&mut web, &set_and_release(TARGET, 0, 1, b"short"));
    for _ in 0..5 {
        server.advance(secs(50));
        assert_eq!(http(&mut web, &reset_item_timeout(TARGET)), OK_EMPTY);
    }
    assert_eq!(
        http(&mut web, &get_item(TARGET)),
        found(1, None, false, "short")
    );
    server.advance(secs(60));
    assert_eq!(http(&mut web, &reset_item_timeout(TARGET)), NOT_FOUND);
}

// --- expiry -----------------------------------------------------------------------------------

#[test]
fn sessions_expire_after_their_sliding_timeout_and_every_access_renews_it() {
    let server = InProcess::start();
    let mut web = connect(server.aspnet);
    http(&mut web, &set_and_release(TARGET, 0, 2, b"two minutes"));
    http(&mut web, &set_and_release(OTHER, 0, 2, b"untouched"));
    // Every kind of access slides the timeout: read, lock, refused read, release.
    server.advance(secs(119));
    assert_eq!(
        http(&mut web, &get_item(TARGET)),
        found(2, None, false, "two minutes")
    );
    server.advance(secs(119));
    assert_eq!(
        http(&mut web, &get_item_exclusive(TARGET)),
        found(2, Some(2), false, "two minutes")
    );
    server.advance(secs(119));
    assert_eq!(http(&mut web, &get_item(TARGET)), locked(2, 238, 119));
    server.advance(secs(119));
    assert_eq!(http(&mut web, &release_item_exclusive(TARGET, 2)), OK_EMPTY);
    assert_eq!(http(&mut web, &get_item(OTHER)), NOT_FOUND, "not renewed");
    server.advance(secs(120));
    assert_eq!(http(&mut web, &get_item(TARGET)), NOT_FOUND);
}

#[test]
fn a_locked_session_still_expires() {
    let server = InProcess::start();
    let mut web = connect(server.aspnet);
    http(&mut web, &set_and_release(TARGET, 0, 1, b"abandoned"));
    assert_eq!(
        http(&mut web, &get_item_exclusive(TARGET)),
        found(1, Some(2), false, "abandoned")
    );
    server.advance(secs(60));
    assert_eq!(http(&mut web, &get_item(TARGET)), NOT_FOUND);
    assert_eq!(
        http(&mut web, &release_item_exclusive(TARGET, 2)),
        NOT_FOUND
    );
    // A new session under the id starts its cookies again.
    http(&mut web, &set_and_release(TARGET, 2, 1, b"new"));
    assert_eq!(
        http(&mut web, &get_item_exclusive(TARGET)),
        found(1, Some(2), false, "new")
    );
}

#[test]
fn timeout_zero_never_expires_and_timeouts_past_a_year_are_refused() {
    let server = InProcess::start();
    let mut web = connect(server.aspnet);
    http(&mut web, &set_and_release(TARGET, 0, 0, b"forever"));
    server.advance(secs(400 * 86_400));
    assert_eq!(
        http(&mut web, &get_item(TARGET)),
        found(0, None, false, "forever")
    );
    http(&mut web, &set_and_release(OTHER, 0, 525_600, b"a year"));
    assert_eq!(
        http(&mut web, &get_item(OTHER)),
        found(525_600, None, false, "a year")
    );
    let refused = http(&mut web, &set_and_release(OTHER, 0, 525_601, b"too long"));
    assert!(
        refused.starts_with("HTTP/1.1 400 Bad Request\\r\\n"),
        "{refused}"
    );
    assert!(refused.contains("Http_Timeout"), "{refused}");
    assert_eq!(
        http(&mut web, &get_item(OTHER)),
        found(525_600, None, false, "a year"),
        "a refused write changes nothing and the connection goes on"
    );
}

// --- locks held by requests that never come back ------------------------------------------

#[test]
fn a_stale_lock_is_released_with_the_cookie_from_the_423() {
    let server = InProcess::start();
    let mut crashed = connect(server.aspnet);
    let mut next = connect(server.aspnet);
    http(
        &mut crashed,
        &set_and_release(TARGET, 0, 20, b"before crash"),
    );
    assert_eq!(
        http(&mut crashed, &get_item_exclusive(TARGET)),
        found(20, Some(2), false, "before crash")
    );
    drop(crashed);
    // The next request polls; once the lock is older than executionTimeout (110 s by
    // default) the module releases it with the cookie the 423 reported.
    server.advance(secs(111));
    assert_eq!(
        http(&mut next, &get_item_exclusive(TARGET)),
        locked(2, 0, 111)
    );
    assert_eq!(
        http(&mut next, &release_item_exclusive(TARGET, 2)),
        OK_EMPTY
    );
    assert_eq!(
        http(&mut next, &get_item_exclusive(TARGET)),
        found(20, Some(3), false, "before crash")
    );
    // The crashed request's cookie no longer writes.
    assert_eq!(
        http(&mut next, &set_and_release(TARGET, 2, 20, b"late")),
        locked(3, 111, 0)
    );
}

#[test]
fn two_requests_on_one_session_poll_and_no_update_is_lost() {
    let server = InProcess::start();
    let mut a = connect(server.aspnet);
    let mut b = connect(server.aspnet);
    http(&mut a, &set_and_release(TARGET, 0, 20, b"0"));
    // Request A holds the lock; request B polls every 500 ms until A releases.
    assert_eq!(
        http(&mut a, &get_item_exclusive(TARGET)),
        found(20, Some(2), false, "0")
    );
    for poll in 0..4u64 {
        let reply = http(&mut b, &get_item_exclusive(TARGET));
        assert_eq!(reply, locked(2, 0, poll / 2), "poll {poll}");
        server.advance(Duration::from_millis(500));
    }
    assert_eq!(
        http(&mut a, &set_and_release(TARGET, 2, 20, b"1")),
        OK_EMPTY
    );
    assert_eq!(
        http(&mut b, &get_item_exclusive(TARGET)),
        found(20, Some(3), false, "1"),
        "B sees A's update"
    );
    assert_eq!(
        http(&mut b, &set_and_release(TARGET, 3, 20, b"2")),
        OK_EMPTY
    );
    assert_eq!(http(&mut a, &get_item(TARGET)), found(20, None, false, "2"));
}

// --- the spec's example -------------------------------------------------------------------

/// [MS-ASP] section 4, with the cookies the reference server really hands out (the trace
/// shows 1 after the first acquire, which the server code contradicts) and an empty 423 body.
#[test]
fn the_ms_asp_example_trace() {
    let server = InProcess::start();
    let target =
        "/w3svc/root/fxstatebvt(NDbkwGi0191wFdDv0yOUOobtHns%3d)%2f15hgq1uszp2tjt45lkwxmb55";
    let data = vec![b'd'; 2381];
    let mut first = connect(server.aspnet);
    let mut other = connect(server.aspnet);
    let mut request = format!(
        "PUT {target} HTTP/1.1\r\nHost: 172.30.189.147:42424\r\nContent-Length: 2381\r\nTimeout: 10\r\nLock-Cookie: 1\r\nExtraFlags: 0\r\n\r\n"
    )
    .into_bytes();
    request.extend_from_slice(&data);
    assert_eq!(http(&mut first, &request), OK_EMPTY);
    let acquire = format!(
        "GET {target} HTTP/1.1\r\nHost: 172.30.189.147:42424\r\nExclusive: Acquire\r\n\r\n"
    );
    let reply = http(&mut first, acquire.as_bytes());
    assert!(
        reply.starts_with(
            "HTTP/1.1 200 OK\\r\\nX-AspNet-Version: 4.0.30319\\r\\nLockCookie: 2\\r\\nTimeout: 10\\r\\nContent-Length: 2381\\r\\n\\r\\nddd"
        ),
        "{reply}"
    );
    let plain = format!("GET {target} HTTP/1.1\r\nHost: 172.30.189.147:42424\r\n\r\n");
    server.advance(secs(1));
    assert_eq!(http(&mut other, plain.as_bytes()), locked(2, 0, 1));
    let mut update = format!(
        "PUT {target} HTTP/1.1\r\nHost: 172.30.189.147:42424\r\nContent-Length: 5\r\nTimeout: 10\r\nLock-Cookie: 2\r\nExtraFlags: 0\r\n\r\n"
    )
    .into_bytes();
    update.extend_from_slice(b"fresh");
    assert_eq!(http(&mut first, &update), OK_EMPTY);
    let release = format!(
        "GET {target} HTTP/1.1\r\nHost: 172.30.189.147:42424\r\nExclusive: release\r\nLock-Cookie: 2\r\n\r\n"
    );
    assert_eq!(http(&mut first, release.as_bytes()), OK_EMPTY);
    assert_eq!(
        http(&mut other, plain.as_bytes()),
        found(10, None, false, "fresh")
    );
}

// --- keys -------------------------------------------------------------------------------------

#[test]
fn a_key_is_the_whole_decoded_target_however_it_is_encoded() {
    let server = InProcess::start();
    let mut web = connect(server.aspnet);
    http(&mut web, &set_and_release(TARGET, 0, 20, b"same"));
    // Upper-case escapes, a leading `/` before the encoded one, and the raw form of the
    // .NET 2.0 client all name the same session.
    let upper = TARGET.replace("%2f", "%2F").replace("%3d", "%3D");
    let slashed = format!("/{TARGET}");
    let raw = "/LM/W3SVC/1/ROOT/shop(sx01GGAfrT/Xm/AHJShXDlwTYPCa/39Yvs6vMn0QUyE%3d)/2bxkcwnmq1yqhqv1ozrcc5x0";
    for target in [upper.as_str(), slashed.as_str(), raw] {
        assert_eq!(
            http(&mut web, &get_item(target)),
            found(20, None, false, "same"),
            "{target}"
        );
    }
    // Another application's session with the same id is another session.
    let elsewhere = TARGET.replace("shop", "blog");
    assert_eq!(http(&mut web, &get_item(&elsewhere)), NOT_FOUND);
}

#[test]
fn applications_in_a_shared_group_read_and_write_the_same_sessions() {
    let server = InProcess::start_with_file(
        "[[aspnet.shared_sessions]]\napplications = [\"/LM/W3SVC/1/ROOT/shop\", \"/LM/W3SVC/2/ROOT/account\"]\n",
    );
    let shop = TARGET;
    let account = "%2fLM%2fW3SVC%2f2%2fROOT%2faccount(Qk9HVVNIQVNIQk9HVVNIQVNIQk9HVVNIQVNIMTIzNA%3d%3d)%2f2bxkcwnmq1yqhqv1ozrcc5x0";
    let blog = TARGET.replace("shop", "blog");
    let mut web = connect(server.aspnet);
    http(&mut web, &set_and_release(account, 0, 20, b"user=ana"));
    assert_eq!(
        http(&mut web, &get_item_exclusive(shop)),
        found(20, Some(2), false, "user=ana"),
        "the shop sees the session the account application stored"
    );
    assert_eq!(http(&mut web, &get_item(account)), locked(2, 0, 0));
    http(&mut web, &set_and_release(shop, 2, 20, b"user=ana;cart=1"));
    assert_eq!(
        http(&mut web, &get_item(account)),
        found(20, None, false, "user=ana;cart=1")
    );
    assert_eq!(
        http(&mut web, &get_item(&blog)),
        NOT_FOUND,
        "an application outside the group stays apart"
    );
}

// --- malformed requests -----------------------------------------------------------------------

#[test]
fn invalid_header_values_get_the_reference_400_and_the_connection_goes_on() {
    let server = InProcess::start();
    let mut web = connect(server.aspnet);
    http(&mut web, &set_and_release(TARGET, 0, 20, b"kept"));
    let invalid = |header: &str| {
        format!(
            "HTTP/1.1 400 Bad Request\\r\\nX-AspNet-Version: 4.0.30319\\r\\nContent-Length: {}\\r\\n\\r\\n{}",
            format!("<html><head><title>Bad Request</title></head>\r\n<body><h1>Http/1.1 400 Bad Request</h1>Invalid header <b>{header}</b></body></html>").len(),
            escape(format!("<html><head><title>Bad Request</title></head>\r\n<body><h1>Http/1.1 400 Bad Request</h1>Invalid header <b>{header}</b></body></html>").as_bytes())
        )
    };
    let cases: [(String, &str); 6] = [
        (
            format!("PUT {TARGET} HTTP/1.1\r\nTimeout: soon\r\nContent-Length: 1\r\n\r\nx"),
            "Http_Timeout",
        ),
        (
            format!("PUT {TARGET} HTTP/1.1\r\nTimeout: -5\r\nContent-Length: 1\r\n\r\nx"),
            "Http_Timeout",
        ),
        (
            format!("PUT {TARGET} HTTP/1.1\r\nExtraFlags: one\r\nContent-Length: 1\r\n\r\nx"),
            "Http_ExtraFlags",
        ),
        (
            format!("PUT {TARGET} HTTP/1.1\r\nLockCookie: -1\r\nContent-Length: 1\r\n\r\nx"),
            "Http_LockCookie",
        ),
        (
            format!("GET {TARGET} HTTP/1.1\r\nExclusive: release\r\n\r\n"),
            "Http_LockCookie",
        ),
        (
            format!(
                "GET {TARGET} HTTP/1.1\r\nExclusive: release\r\nLockCookie: 99999999999\r\n\r\n"
            ),
            "Http_LockCookie",
        ),
    ];
    for (request, header) in cases {
        assert_eq!(
            http(&mut web, request.as_bytes()),
            invalid(header),
            "{request:?}"
        );
    }
    let unknown = format!("POST {TARGET} HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(
        http(&mut web, unknown.as_bytes()),
        "HTTP/1.1 400 Bad Request\\r\\nX-AspNet-Version: 4.0.30319\\r\\nContent-Length: 0\\r\\n\\r\\n"
    );
    assert_eq!(
        http(&mut web, &get_item(TARGET)),
        found(20, None, false, "kept")
    );
}

#[test]
fn framing_violations_get_400_and_a_close_and_nothing_else_changes() {
    let server = InProcess::start_with_file(
        "[aspnet]\nmax_body_size = \"4KiB\"\nmax_head_size = \"2KiB\"\nmax_headers = 8\n",
    );
    let mut keeper = connect(server.aspnet);
    http(&mut keeper, &set_and_release(TARGET, 0, 20, b"safe"));
    let long_target = "a".repeat(4096);
    let many_headers: String = (0..20).map(|i| format!("X-{i}: {i}\r\n")).collect();
    let cases: Vec<Vec<u8>> = vec![
        b"this is not http\r\n\r\n".to_vec(),
        format!("GET {long_target} HTTP/1.1\r\n\r\n").into_bytes(),
        format!("GET {TARGET} HTTP/1.1\r\n{many_headers}\r\n").into_bytes(),
        format!("PUT {TARGET} HTTP/1.1\r\nContent-Length: 5000\r\n\r\n").into_bytes(),
        format!("PUT {TARGET} HTTP/1.1\r\nContent-Length: lots\r\n\r\n").into_bytes(),
        format!(
            "PUT {TARGET} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        )
        .into_bytes(),
        b"GET  HTTP/1.1\r\n\r\n".to_vec(),
        b"\x00\x01\x02\xff\r\n\r\n".to_vec(),
    ];
    for request in cases {
        let mut bad = connect(server.aspnet);
        send(&mut bad, &request);
        let reply = read_to_close(&mut bad);
        assert_eq!(
            escape(&reply),
            "HTTP/1.1 400 Bad Request\\r\\nX-AspNet-Version: 4.0.30319\\r\\nContent-Length: 0\\r\\n\\r\\n",
            "{}",
            escape(&request)
        );
    }
    // A head that never ends is cut off at the limit without waiting for more.
    let mut endless = connect(server.aspnet);
    send(
        &mut endless,
        format!("GET {TARGET} HTTP/1.1\r\n").as_bytes(),
    );
    for _ in 0..64 {
        if endless
            .write_all(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n")
            .is_err()
        {
            break;
        }
    }
    let reply = escape(&read_to_close(&mut endless));
    assert!(reply.starts_with("HTTP/1.1 400 Bad Request"), "{reply}");
    assert_eq!(
        http(&mut keeper, &get_item(TARGET)),
        found(20, None, false, "safe"),
        "other clients and stored data are unaffected"
    );
}

#[test]
fn requests_split_into_single_bytes_and_pipelined_requests_are_answered_in_order() {
    let server = InProcess::start();
    let mut web = connect(server.aspnet);
    for byte in set_and_release(TARGET, 0, 20, b"slow") {
        send(&mut web, &[byte]);
    }
    assert_eq!(escape(&read_response(&mut web)), OK_EMPTY);
    let mut batch = get_item_exclusive(TARGET);
    batch.extend(set_and_release(TARGET, 2, 20, b"fast"));
    batch.extend(get_item(TARGET));
    send(&mut web, &batch);
    assert_eq!(
        escape(&read_response(&mut web)),
        found(20, Some(2), false, "slow")
    );
    assert_eq!(escape(&read_response(&mut web)), OK_EMPTY);
    assert_eq!(
        escape(&read_response(&mut web)),
        found(20, None, false, "fast")
    );
}

#[test]
fn connection_close_is_honoured() {
    let server = InProcess::start();
    let mut web = connect(server.aspnet);
    let request = format!("HEAD {TARGET} HTTP/1.1\r\nConnection: close\r\n\r\n");
    send(&mut web, request.as_bytes());
    assert_eq!(escape(&read_to_close(&mut web)), NOT_FOUND);
}
