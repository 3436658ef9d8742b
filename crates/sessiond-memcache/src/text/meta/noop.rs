//! `mn`: the meta no-op, which clients send after quiet commands to know they are all answered.

use bytes::BytesMut;

use crate::Context;
use crate::text::reply;
use crate::text::{Next, Request};

/// Answers `MN`. Replies are written in order as commands run, so everything before it has
/// already been answered.
pub(crate) fn run(request: &Request<'_>, out: &mut BytesMut, _ctx: &Context<'_>) -> Next {
    reply::line(out, b"MN");
    request.done()
}
