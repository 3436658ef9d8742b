//! Tests through [`crate::Connection`]: requests in, responses out, byte for byte.

mod framing;
mod operations;
mod props;
mod sharing;
mod trace;

/// The request-target the .NET 4 client sends for application `/LM/W3SVC/1/ROOT/shop` and
/// session `2bxkcwnmq1yqhqv1ozrcc5x0` ([MS-ASP] notes, §1.2 of the protocol reference).
pub(crate) const TARGET: &str = "%2fLM%2fW3SVC%2f1%2fROOT%2fshop(sx01GGAfrT%2fXm%2fAHJShXDlwTYPCa%2f39Yvs6vMn0QUyE%3d)%2f2bxkcwnmq1yqhqv1ozrcc5x0";

/// A request with `headers` (each without its line end) and `body`, adding `Content-Length`
/// when there is a body.
pub(crate) fn request(method: &str, target: &str, headers: &[&str], body: &str) -> String {
    let mut text = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:42424\r\n");
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    if !body.is_empty() {
        text.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    text.push_str("\r\n");
    text.push_str(body);
    text
}

/// A response as the server writes it: status line, `X-AspNet-Version`, `headers` (each
/// without its line end), `Content-Length`, the body.
pub(crate) fn response(status: &str, headers: &[&str], body: &str) -> String {
    let mut text = format!("HTTP/1.1 {status}\r\nX-AspNet-Version: 4.0.30319\r\n");
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    text
}

/// The reference's page for an invalid header.
pub(crate) fn invalid_header_page(name: &str) -> String {
    format!(
        "<html><head><title>Bad Request</title></head>\r\n<body><h1>Http/1.1 400 Bad Request</h1>Invalid header <b>{name}</b></body></html>"
    )
}

pub(crate) const OK: &str =
    "HTTP/1.1 200 OK\r\nX-AspNet-Version: 4.0.30319\r\nContent-Length: 0\r\n\r\n";
pub(crate) const NOT_FOUND: &str =
    "HTTP/1.1 404 Not Found\r\nX-AspNet-Version: 4.0.30319\r\nContent-Length: 0\r\n\r\n";
pub(crate) const BAD_REQUEST: &str =
    "HTTP/1.1 400 Bad Request\r\nX-AspNet-Version: 4.0.30319\r\nContent-Length: 0\r\n\r\n";
