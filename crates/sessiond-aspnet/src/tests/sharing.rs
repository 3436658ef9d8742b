//! Applications in a shared group read and write one session per session id.

use super::{NOT_FOUND, OK, TARGET, request, response};
use crate::testing::Bench;
use sessiond_engine::NamespaceId;

/// The session of [`TARGET`] as application `blog` names it: another path, another hash.
const BLOG: &str = "%2fLM%2fW3SVC%2f1%2fROOT%2fblog(kE0NmVBzUo0uyAGWqkLq8NdC4HjnTUjN0c2jGF2Y3jA%3d)%2f2bxkcwnmq1yqhqv1ozrcc5x0";
/// The same session id in an application that shares with none.
const WIKI: &str = "%2fLM%2fW3SVC%2f1%2fROOT%2fwiki(Q7y2Gf0h1bXvQ7yV2k5ZQ1cR8W4p3mT6nL9sD0aE2fI%3d)%2f2bxkcwnmq1yqhqv1ozrcc5x0";

fn shared_bench() -> Bench {
    let mut bench = Bench::new();
    let group = [
        "/LM/W3SVC/1/ROOT/shop".to_string(),
        "lm/w3svc/1/root/BLOG/".to_string(),
    ];
    bench
        .applications
        .share(&group, NamespaceId(1 << 16))
        .unwrap();
    bench
}

#[test]
fn a_session_written_by_one_application_is_read_and_locked_by_the_other() {
    let bench = shared_bench();
    let send = |method: &str, target: &str, headers: &[&str], body: &str| {
        bench.once(request(method, target, headers, body).as_bytes())
    };
    assert_eq!(send("PUT", TARGET, &[], "signed in"), OK);
    assert_eq!(
        send("GET", BLOG, &["Exclusive: acquire"], ""),
        response("200 OK", &["LockCookie: 2", "Timeout: 20"], "signed in")
    );
    assert!(send("GET", TARGET, &[], "").starts_with("HTTP/1.1 423 Locked\r\n"));
    assert_eq!(send("PUT", TARGET, &["LockCookie: 2"], "updated"), OK);
    assert_eq!(
        send("GET", BLOG, &[], ""),
        response("200 OK", &["Timeout: 20"], "updated")
    );
    assert_eq!(send("GET", WIKI, &[], ""), NOT_FOUND, "not in the group");
    assert_eq!(send("DELETE", BLOG, &[], ""), OK);
    assert_eq!(send("HEAD", TARGET, &[], ""), NOT_FOUND);
}

#[test]
fn a_shared_target_without_a_session_id_is_400() {
    let bench = shared_bench();
    let target = "/LM/W3SVC/1/ROOT/shop(hash)/";
    let sent = request("PUT", target, &[], "x");
    assert_eq!(
        bench.once(sent.as_bytes()),
        "HTTP/1.1 400 Bad Request\r\nX-AspNet-Version: 4.0.30319\r\nContent-Length: 0\r\n\r\n"
    );
}
