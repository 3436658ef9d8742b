//! HEAD: keep a session alive without reading it (`ResetItemTimeout`).

use bytes::BytesMut;
use sessiond_engine::{ResetTimeout, ResetTimeoutOutcome};

use crate::Context;
use crate::dispatch::Request;
use crate::reply::{self, Status};

/// Answers a HEAD: 200 when the session lives (its sliding timeout starts again, locked or
/// not), 404 when there is none.
pub(crate) fn run(request: &Request<'_>, out: &mut BytesMut, ctx: &Context<'_>) {
    let reset = ResetTimeout { key: request.key };
    let status = match ctx.engine.run(&reset, ctx.now) {
        ResetTimeoutOutcome::Renewed => Status::Ok,
        ResetTimeoutOutcome::NotFound => Status::NotFound,
    };
    reply::empty(out, status);
}
