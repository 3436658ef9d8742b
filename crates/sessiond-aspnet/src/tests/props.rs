//! Property tests: no input panics, and junk on one connection never touches another's data.

use proptest::prelude::*;

use super::{TARGET, request, response};
use crate::Limits;
use crate::testing::{Bench, Client};

/// A piece likely to mean something to the parser.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "GET ",
            "PUT ",
            "DELETE ",
            "HEAD ",
            "POST ",
            " HTTP/1.1",
            " HTTP/1.0",
            "\r\n",
            "\n",
            "\r",
            " ",
            ":",
            "Exclusive: acquire",
            "Exclusive: release",
            "LockCookie: ",
            "Lock-Cookie: ",
            "Timeout: ",
            "ExtraFlags: ",
            "Content-Length: ",
            "Connection: close",
            "Transfer-Encoding: chunked",
            "0",
            "1",
            "2",
            "-1",
            "20",
            "525601",
            "2147483648",
            "%",
            "%2f",
            "%u0041",
            "%ud800",
            "+",
            "/",
            "//",
            "/other",
            "(hash)",
            "?q",
        ])
        .prop_map(str::to_string),
        "[ -~]{0,12}",
        prop::collection::vec(any::<u8>(), 0..12)
            .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
    ]
}

const LIMITS: Limits = Limits {
    max_head_size: 512,
    max_headers: 8,
    max_body_size: 64,
};

proptest! {
    #[test]
    fn random_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        piece in 1usize..40,
    ) {
        let bench = Bench::with_limits(LIMITS);
        Client::default().send_in(&bench, &bytes, piece);
    }

    #[test]
    fn junk_never_touches_another_key(
        words in prop::collection::vec(word(), 0..60),
        piece in 1usize..40,
    ) {
        let bench = Bench::with_limits(LIMITS);
        let mut owner = Client::default();
        owner.send(&bench, request("PUT", TARGET, &["Timeout: 0"], "mine").as_bytes());
        let junk = words.concat();
        let mut client = Client::default();
        client.send_in(&bench, junk.as_bytes(), piece);
        // What stays buffered is at most a head being read or a body being waited for.
        let bound = client.conn.wants(&client.input).unwrap_or(0).max(LIMITS.max_head_size);
        prop_assert!(client.closed || client.input.len() <= bound);
        let read = owner.send(&bench, request("GET", TARGET, &[], "").as_bytes());
        prop_assert_eq!(read, response("200 OK", &["Timeout: 0"], "mine"));
    }
}
