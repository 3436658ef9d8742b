//! An axum app keeping its sessions as Rust web farms do: tower-sessions with its Redis store
//! (`tower-sessions-redis-store`, over the fred client), pointed at sessiond's Redis listener.
//!
//! Run by crates/sessiond/tests/tower_sessions.rs as `tower-sessions-app REDIS_URL [2|3]` (the
//! RESP version; 2 by default, as in fred): it listens on a free loopback port, prints
//! `listening on PORT` once it serves, and answers JSON describing the request's session.
//! Several of these share sessiond, as web servers behind a balancer do.

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::error::Error;

use axum::Router;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Json;
use axum::routing::get;
use serde_json::{Value, json};
use tower_sessions::cookie::time::Duration;
use tower_sessions::{Expiry, Session, SessionManagerLayer};
use tower_sessions_redis_store::RedisStore;
use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};
use tower_sessions_redis_store::fred::types::RespVersion;

/// Sessions end after this long without a request: the store sets the key's expiry to it
/// (`SET ... EXAT`), and every save moves it on.
const INACTIVITY_SECONDS: i64 = 1440;

/// What a handler answers: the session as JSON, or a 500 saying what failed.
type Answer = Result<Json<Value>, (StatusCode, String)>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: tower-sessions-app redis://[:PASSWORD@]HOST:PORT [2|3]";
    let url = args.next().ok_or(usage)?;
    let mut config = Config::from_url(&url)?;
    // fred connects with AUTH PASSWORD (RESP2) or HELLO 3 AUTH default PASSWORD (RESP3), then
    // sends CLIENT ID and INFO server.
    config.version = match args.next().as_deref() {
        None | Some("2") => RespVersion::RESP2,
        Some("3") => RespVersion::RESP3,
        Some(_) => return Err(usage.into()),
    };
    let pool = Pool::new(config, None, None, None, 2)?;
    pool.init().await?;
    let sessions = SessionManagerLayer::new(RedisStore::new(pool))
        .with_secure(false)
        .with_expiry(Expiry::OnInactivity(Duration::seconds(INACTIVITY_SECONDS)));
    let app = Router::new()
        .route("/login", get(login))
        .route("/whoami", get(whoami))
        .route("/visit", get(visit))
        .route("/cycle", get(cycle))
        .route("/logout", get(logout))
        .layer(sessions);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on {}", listener.local_addr()?.port());
    axum::serve(listener, app).await?;
    Ok(())
}

/// Creates the session: saved at once, so that its id can be answered.
async fn login(session: Session, Query(query): Query<HashMap<String, String>>) -> Answer {
    let user = query.get("user").cloned().unwrap_or_default();
    session.insert("user", user).await.map_err(failed)?;
    session.insert("visits", 1u64).await.map_err(failed)?;
    session.save().await.map_err(failed)?;
    view(&session).await
}

/// Reads without changing anything.
async fn whoami(session: Session) -> Answer {
    view(&session).await
}

/// Read, modify, write: a lost update would show as a count that skips back.
async fn visit(session: Session) -> Answer {
    let visits: u64 = session.get("visits").await.map_err(failed)?.unwrap_or(0);
    session.insert("visits", visits + 1).await.map_err(failed)?;
    view(&session).await
}

/// A new id for the same data, as after a login: the old key is deleted.
async fn cycle(session: Session) -> Answer {
    session.cycle_id().await.map_err(failed)?;
    session.save().await.map_err(failed)?;
    view(&session).await
}

/// Ends the session: its key is deleted and the cookie removed.
async fn logout(session: Session) -> Answer {
    let id = session.id().map(|id| id.to_string());
    session.flush().await.map_err(failed)?;
    Ok(Json(json!({ "destroyed": id })))
}

/// The session's fields as the test reads them; an empty session has no user.
async fn view(session: &Session) -> Answer {
    let user: Option<String> = session.get("user").await.map_err(failed)?;
    let visits: u64 = session.get("visits").await.map_err(failed)?.unwrap_or(0);
    Ok(Json(json!({
        "id": session.id().map(|id| id.to_string()),
        "user": user,
        "visits": visits,
        "server": std::process::id(),
    })))
}

fn failed(error: impl std::fmt::Display) -> (StatusCode, String) {
    eprintln!("session store error: {error}");
    (StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
}
