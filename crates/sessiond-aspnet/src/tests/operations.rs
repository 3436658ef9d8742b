//! Each operation's answers, byte for byte.

use sessiond_engine::{Engine, EngineConfig, charge};

use super::{BAD_REQUEST, NOT_FOUND, OK, TARGET, invalid_header_page, request, response};
use crate::Limits;
use crate::testing::{Bench, Client};

/// `LockDate` of a lock taken at the bench's start time.
const START_TICKS: &str = "LockDate: 638355968000000000";

fn put(bench: &Bench, target: &str, headers: &[&str], body: &str) -> String {
    bench.once(request("PUT", target, headers, body).as_bytes())
}

fn get(bench: &Bench, target: &str, headers: &[&str]) -> String {
    bench.once(request("GET", target, headers, "").as_bytes())
}

#[test]
fn every_operation_on_a_missing_session_is_404() {
    let bench = Bench::new();
    for (method, headers) in [
        ("GET", &[][..]),
        ("GET", &["Exclusive: acquire"]),
        ("GET", &["Exclusive: release", "LockCookie: 2"]),
        // The reference finds the session before it reads the cookie.
        ("GET", &["Exclusive: release"]),
        ("GET", &["Exclusive: release", "LockCookie: -1"]),
        ("DELETE", &[]),
        ("DELETE", &["LockCookie: x"]),
        ("HEAD", &[]),
    ] {
        let sent = request(method, TARGET, headers, "");
        assert_eq!(bench.once(sent.as_bytes()), NOT_FOUND, "{sent}");
    }
}

#[test]
fn put_then_get_returns_the_data_and_the_timeout_in_minutes() {
    let bench = Bench::new();
    assert_eq!(put(&bench, TARGET, &["Timeout: 10"], "hello"), OK);
    assert_eq!(
        get(&bench, TARGET, &[]),
        response("200 OK", &["Timeout: 10"], "hello")
    );
    // No Timeout header: ASP.NET's default of 20 minutes.
    assert_eq!(put(&bench, TARGET, &[], "again"), OK);
    assert_eq!(
        get(&bench, TARGET, &[]),
        response("200 OK", &["Timeout: 20"], "again")
    );
}

#[test]
fn acquire_locks_and_everyone_else_gets_423_with_the_lock() {
    let mut bench = Bench::new();
    put(&bench, TARGET, &[], "data");
    assert_eq!(
        get(&bench, TARGET, &["Exclusive: acquire"]),
        response("200 OK", &["LockCookie: 2", "Timeout: 20"], "data")
    );
    bench.advance_millis(3_500);
    let locked = response(
        "423 Locked",
        &[START_TICKS, "LockAge: 3", "LockCookie: 2"],
        "",
    );
    assert_eq!(
        get(&bench, TARGET, &[]),
        locked,
        "plain reads are blocked too"
    );
    assert_eq!(get(&bench, TARGET, &["Exclusive: Acquire"]), locked);
    assert_eq!(
        get(&bench, TARGET, &["Exclusive: release", "LockCookie: 3"]),
        locked
    );
    assert_eq!(put(&bench, TARGET, &[], "x"), locked);
    assert_eq!(put(&bench, TARGET, &["LockCookie: 1"], "x"), locked);
    let delete = request("DELETE", TARGET, &[], "");
    assert_eq!(bench.once(delete.as_bytes()), locked);
    let delete = request("DELETE", TARGET, &["LockCookie: 0"], "");
    assert_eq!(bench.once(delete.as_bytes()), locked);
}

#[test]
fn release_with_the_cookie_unlocks_and_is_200_when_not_locked() {
    let bench = Bench::new();
    put(&bench, TARGET, &[], "data");
    get(&bench, TARGET, &["Exclusive: acquire"]);
    assert_eq!(
        get(&bench, TARGET, &["Exclusive: release", "LockCookie: 2"]),
        OK
    );
    assert_eq!(
        get(&bench, TARGET, &["exclusive: RELEASE", "Lock-Cookie: 2"]),
        OK,
        "not locked: 200"
    );
    assert_eq!(
        get(&bench, TARGET, &[]),
        response("200 OK", &["Timeout: 20"], "data")
    );
    assert_eq!(
        get(&bench, TARGET, &["Exclusive: acquire"]),
        response("200 OK", &["LockCookie: 3", "Timeout: 20"], "data"),
        "cookies are monotonic per session"
    );
}

#[test]
fn put_with_the_cookie_writes_and_unlocks() {
    let bench = Bench::new();
    put(&bench, TARGET, &["Timeout: 5"], "old");
    get(&bench, TARGET, &["Exclusive: acquire"]);
    assert_eq!(
        put(
            &bench,
            TARGET,
            &["Timeout: 5", "LockCookie: 2", "ExtraFlags: 0"],
            "new"
        ),
        OK
    );
    assert_eq!(
        get(&bench, TARGET, &[]),
        response("200 OK", &["Timeout: 5"], "new")
    );
}

#[test]
fn a_put_that_changes_the_timeout_keeps_cookies_monotonic() {
    let bench = Bench::new();
    put(&bench, TARGET, &["Timeout: 5"], "a");
    get(&bench, TARGET, &["Exclusive: acquire"]);
    assert_eq!(
        put(&bench, TARGET, &["Timeout: 30", "LockCookie: 2"], "b"),
        OK
    );
    assert_eq!(
        get(&bench, TARGET, &["Exclusive: acquire"]),
        response("200 OK", &["LockCookie: 3", "Timeout: 30"], "b")
    );
}

#[test]
fn delete_removes_with_the_cookie_or_when_unlocked() {
    let bench = Bench::new();
    let delete = |headers: &[&str]| bench.once(request("DELETE", TARGET, headers, "").as_bytes());
    put(&bench, TARGET, &[], "a");
    assert_eq!(delete(&[]), OK);
    assert_eq!(delete(&[]), NOT_FOUND);
    put(&bench, TARGET, &[], "a");
    get(&bench, TARGET, &["Exclusive: acquire"]);
    assert_eq!(delete(&["Lock-Cookie: 2"]), OK);
    assert_eq!(get(&bench, TARGET, &[]), NOT_FOUND);
}

#[test]
fn head_keeps_a_session_alive_locked_or_not() {
    let mut bench = Bench::new();
    let head = |bench: &Bench| bench.once(request("HEAD", TARGET, &[], "").as_bytes());
    put(&bench, TARGET, &["Timeout: 1"], "a");
    bench.advance_secs(50);
    assert_eq!(head(&bench), OK);
    bench.advance_secs(50);
    get(&bench, TARGET, &["Exclusive: acquire"]);
    bench.advance_secs(50);
    assert_eq!(head(&bench), OK);
    bench.advance_secs(50);
    assert_eq!(head(&bench), OK);
    bench.advance_secs(60);
    assert_eq!(
        head(&bench),
        NOT_FOUND,
        "a minute untouched: gone, lock and all"
    );
}

#[test]
fn timeout_0_never_expires_and_reads_back_as_0() {
    let mut bench = Bench::new();
    put(&bench, TARGET, &["Timeout: 0"], "forever");
    bench.advance_secs(2 * 366 * 24 * 3600);
    assert_eq!(
        get(&bench, TARGET, &[]),
        response("200 OK", &["Timeout: 0"], "forever")
    );
}

#[test]
fn an_uninitialized_session_asks_its_first_reader_to_initialize_it() {
    let bench = Bench::new();
    assert_eq!(
        put(
            &bench,
            TARGET,
            &["Timeout: 20", "ExtraFlags: 1", "LockCookie: 0"],
            "\u{1}"
        ),
        OK
    );
    // Never replaces a live session, whatever its cookie says.
    assert_eq!(
        put(
            &bench,
            TARGET,
            &["ExtraFlags: 1", "LockCookie: -5"],
            "other"
        ),
        OK
    );
    assert_eq!(
        get(&bench, TARGET, &["Exclusive: acquire"]),
        response(
            "200 OK",
            &["ActionFlags: 1", "LockCookie: 2", "Timeout: 20"],
            "\u{1}"
        )
    );
    assert_eq!(
        get(&bench, TARGET, &["Exclusive: release", "LockCookie: 2"]),
        OK,
        "only the first read initializes"
    );
}

#[test]
fn a_release_can_be_the_first_read() {
    let bench = Bench::new();
    put(&bench, TARGET, &["ExtraFlags: 1"], "");
    assert_eq!(
        get(&bench, TARGET, &["Exclusive: release", "LockCookie: 1"]),
        response("200 OK", &["ActionFlags: 1"], "")
    );
    // A release whose cookie is invalid still takes the flag, as the reference's does.
    let other = TARGET.replace("x0", "x1");
    put(&bench, &other, &["ExtraFlags: 3"], "");
    assert_eq!(
        get(&bench, &other, &["Exclusive: release"]),
        response(
            "400 Bad Request",
            &["ActionFlags: 1"],
            &invalid_header_page("Http_LockCookie")
        )
    );
    assert_eq!(
        get(&bench, &other, &[]),
        response("200 OK", &["Timeout: 20"], "")
    );
}

#[test]
fn a_real_write_clears_the_uninitialized_flag() {
    let bench = Bench::new();
    put(&bench, TARGET, &["ExtraFlags: 1"], "");
    assert_eq!(put(&bench, TARGET, &["ExtraFlags: 0"], "data"), OK);
    assert_eq!(
        get(&bench, TARGET, &[]),
        response("200 OK", &["Timeout: 20"], "data")
    );
}

#[test]
fn invalid_headers_get_the_reference_page_and_the_connection_stays_open() {
    let bench = Bench::new();
    let mut client = Client::default();
    let mut check = |sent: String, expected: String| {
        assert_eq!(client.send(&bench, sent.as_bytes()), expected, "{sent}");
        assert!(!client.closed);
    };
    let page = |name: &str| response("400 Bad Request", &[], &invalid_header_page(name));
    for timeout in [
        "Timeout: -1",
        "Timeout: 525601",
        "Timeout: ten",
        "Timeout: 2147483648",
    ] {
        check(
            request("PUT", TARGET, &[timeout], "a"),
            page("Http_Timeout"),
        );
    }
    check(
        request("PUT", TARGET, &["Timeout: 1", "Timeout: 1"], "a"),
        page("Http_Timeout"),
    );
    check(
        request("PUT", TARGET, &["ExtraFlags: one"], "a"),
        page("Http_ExtraFlags"),
    );
    // Timeout is checked first.
    check(
        request("PUT", TARGET, &["ExtraFlags: one", "Timeout: x"], "a"),
        page("Http_Timeout"),
    );
    // The first write of a key ignores the cookie, valid or not.
    check(
        request("PUT", TARGET, &["LockCookie: -1"], "first"),
        OK.to_string(),
    );
    check(
        request("PUT", TARGET, &["LockCookie: -1"], "second"),
        page("Http_LockCookie"),
    );
    check(
        request("PUT", TARGET, &["LockCookie: 1x"], "second"),
        page("Http_LockCookie"),
    );
    check(
        request("DELETE", TARGET, &["LockCookie: x"], ""),
        page("Http_LockCookie"),
    );
    check(
        request("GET", TARGET, &["Exclusive: release"], ""),
        page("Http_LockCookie"),
    );
    check(
        request("GET", TARGET, &["Exclusive: release", "LockCookie: -2"], ""),
        page("Http_LockCookie"),
    );
    check(
        request("GET", TARGET, &[], ""),
        response("200 OK", &["Timeout: 20"], "first"),
    );
}

#[test]
fn other_exclusive_values_are_plain_reads() {
    let bench = Bench::new();
    put(&bench, TARGET, &[], "a");
    for value in [
        "Exclusive: none",
        "Exclusive: ",
        "Exclusive: acquire, release",
    ] {
        assert_eq!(
            get(&bench, TARGET, &[value]),
            response("200 OK", &["Timeout: 20"], "a"),
            "{value}"
        );
    }
}

#[test]
fn unknown_verbs_are_400_without_a_page_and_their_body_is_consumed() {
    let bench = Bench::new();
    let mut client = Client::default();
    for method in ["POST", "OPTIONS", "get", "Put"] {
        let sent = request(method, TARGET, &[], "body bytes");
        assert_eq!(
            client.send(&bench, sent.as_bytes()),
            BAD_REQUEST,
            "{method}"
        );
    }
    assert!(!client.closed);
    assert_eq!(
        client.send(&bench, request("HEAD", TARGET, &[], "").as_bytes()),
        NOT_FOUND
    );
}

#[test]
fn a_write_the_store_refuses_is_500_and_changes_nothing() {
    let engine = Engine::new(EngineConfig {
        max_memory: charge(200, 100),
    });
    let bench = Bench::with_engine(engine, Limits::default());
    let mut client = Client::default();
    let small = request("PUT", "/app/sid", &[], "small");
    assert_eq!(client.send(&bench, small.as_bytes()), OK);
    let big = request("PUT", "/app/sid", &[], &"x".repeat(1000));
    assert_eq!(
        client.send(&bench, big.as_bytes()),
        "HTTP/1.1 500 Internal Server Error\r\nX-AspNet-Version: 4.0.30319\r\nContent-Length: 0\r\n\r\n"
    );
    assert!(!client.closed);
    assert_eq!(
        client.send(&bench, request("GET", "/app/sid", &[], "").as_bytes()),
        response("200 OK", &["Timeout: 20"], "small")
    );
}

#[test]
fn the_key_is_the_whole_decoded_target() {
    let bench = Bench::new();
    put(&bench, "/app/sid", &[], "plain");
    // Escapes of either case, and the ASP.NET 1.1 client's extra slash, name the same key.
    for same in [
        "%2fapp%2fsid",
        "%2Fapp%2Fsid",
        "//app/sid",
        "/%61pp/sid",
        "/%u0061pp/sid",
    ] {
        assert_eq!(
            get(&bench, same, &[]),
            response("200 OK", &["Timeout: 20"], "plain"),
            "{same}"
        );
    }
    // The query is part of the key, case matters, and `+` is a space.
    for other in [
        "/app/sid?x=1",
        "/APP/sid",
        "/app/sid/",
        "app/sid",
        "/app+/sid",
    ] {
        assert_eq!(get(&bench, other, &[]), NOT_FOUND, "{other}");
    }
    put(&bench, "/app%20/sid", &[], "space");
    assert_eq!(
        get(&bench, "/app+/sid", &[]),
        response("200 OK", &["Timeout: 20"], "space")
    );
}

#[test]
fn bodies_on_other_verbs_are_consumed_and_ignored() {
    let bench = Bench::new();
    let mut client = Client::default();
    put(&bench, TARGET, &[], "kept");
    let sent = format!(
        "{}{}",
        request("GET", TARGET, &[], "ignored"),
        request("HEAD", TARGET, &[], "ignored too")
    );
    assert_eq!(
        client.send(&bench, sent.as_bytes()),
        format!("{}{OK}", response("200 OK", &["Timeout: 20"], "kept"))
    );
}
