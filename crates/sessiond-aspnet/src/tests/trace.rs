//! The [MS-ASP] §4 protocol example, replayed against the server.
//!
//! The documented trace is edited (its GETs carry a `Content-Length` with no body, its 423 a
//! body, its cookie after the first acquisition is 1), so this replays its requests and checks
//! the answers the reference server's logic gives: the first acquisition of a new session hands
//! out cookie 2, the 423 is empty, and response headers come in the reference's order.

use super::{OK, response};
use crate::testing::{Bench, Client};

const TARGET: &str =
    "/w3svc/root/fxstatebvt(NDbkwGi0191wFdDv0yOUOobtHns%3d)%2f15hgq1uszp2tjt45lkwxmb55";

fn with_body(head: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = head.replace("{len}", &body.len().to_string()).into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

#[test]
fn the_ms_asp_example() {
    let mut bench = Bench::new();
    let mut web1 = Client::default();
    let mut web2 = Client::default();
    let data: Vec<u8> = (0..2381u32).map(|i| (i * 7 % 256) as u8).collect();

    // The first write: the cookie is ignored for a new session.
    let put = with_body(
        &format!(
            "PUT {TARGET} HTTP/1.1\r\nHost: 172.30.189.147:42424\r\nContent-Length: {{len}}\r\n\
             Timeout: 10\r\nLock-Cookie: 1\r\nExtraFlags: 0\r\n\r\n"
        ),
        &data,
    );
    assert_eq!(web1.send_bytes(&bench, &put, put.len()), OK.as_bytes());

    // GetItemExclusive.
    let acquire = format!(
        "GET {TARGET} HTTP/1.1\r\nHost: 172.30.189.147:42424\r\nExclusive: Acquire\r\n\r\n"
    );
    let mut expected = response("200 OK", &["LockCookie: 2", "Timeout: 10"], "").into_bytes();
    expected.truncate(expected.len() - "Content-Length: 0\r\n\r\n".len());
    expected.extend_from_slice(b"Content-Length: 2381\r\n\r\n");
    expected.extend_from_slice(&data);
    assert_eq!(
        web1.send_bytes(&bench, acquire.as_bytes(), usize::MAX),
        expected
    );

    // Another web server reads while the first holds the lock.
    bench.advance_secs(1);
    let read = format!("GET {TARGET} HTTP/1.1\r\nHost: 172.30.189.147:42424\r\n\r\n");
    assert_eq!(
        web2.send(&bench, read.as_bytes()),
        response(
            "423 Locked",
            &[
                "LockDate: 638355968000000000",
                "LockAge: 1",
                "LockCookie: 2"
            ],
            ""
        )
    );

    // The holder writes back and releases with its cookie.
    let updated: Vec<u8> = data.iter().rev().copied().collect();
    let put = with_body(
        &format!(
            "PUT {TARGET} HTTP/1.1\r\nHost: 172.30.189.147:42424\r\nContent-Length: {{len}}\r\n\
             Timeout: 10\r\nLock-Cookie: 2\r\nExtraFlags: 0\r\n\r\n"
        ),
        &updated,
    );
    assert_eq!(web1.send_bytes(&bench, &put, put.len()), OK.as_bytes());
    let release = format!(
        "GET {TARGET} HTTP/1.1\r\nHost: 172.30.189.147:42424\r\nExclusive: release\r\n\
         Lock-Cookie: 2\r\n\r\n"
    );
    assert_eq!(
        web1.send(&bench, release.as_bytes()),
        OK,
        "no lock left: 200"
    );

    // The other web server now reads the update.
    let got = web2.send_bytes(&bench, read.as_bytes(), usize::MAX);
    assert!(got.ends_with(&updated));
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\nX-AspNet-Version: 4.0.30319\r\nTimeout: 10\r\nContent-Length: 2381\r\n\r\n"));
    assert!(!web1.closed && !web2.closed);
}
