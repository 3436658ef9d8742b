//! One client connection: its parser and its session state, and the loop that runs every
//! complete command in the input.

use std::sync::Arc;

use bytes::{Buf, BytesMut};
use sessiond_engine::Timestamp;

use crate::clients::{ClientEntry, Clients, Peer};
use crate::commands;
use crate::encoder::Version;
use crate::error::Close;
use crate::limits::Access;
use crate::parser::Parser;
use crate::shared::Shared;
use crate::transaction::Multi;
use crate::{Context, Flow, OUTPUT_HIGH_WATER};

/// One client connection's protocol state.
#[derive(Debug)]
pub struct Connection {
    parser: Parser,
    session: Session,
}

/// What a connection remembers between commands: its protocol version, its database,
/// whether it has authenticated, its entry in the client list, its transaction.
#[derive(Debug)]
pub(crate) struct Session {
    /// The reply protocol (`HELLO 2`/`HELLO 3`).
    pub(crate) version: Version,
    /// The selected database, an index into the configured databases.
    pub(crate) db: usize,
    /// Whether the client may run commands (always, when no password is set).
    pub(crate) authenticated: bool,
    /// This connection's entry in the client list.
    pub(crate) client: Arc<ClientEntry>,
    /// The list, to leave it when the connection is dropped (`None` for a script's session,
    /// which is in no list).
    clients: Option<Arc<Clients>>,
    /// The connection ends after the replies written so far (`QUIT`).
    pub(crate) closing: bool,
    /// The transaction under way and the watched keys (`MULTI`, `WATCH`); dropped with the
    /// connection.
    pub(crate) multi: Multi,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(clients) = &self.clients {
            clients.unregister(&self.client);
        }
    }
}

impl Session {
    /// The session a script's commands run in: the caller's database and authentication,
    /// RESP2 (until `redis.setresp(3)`), no transaction, and a client entry of its own in no
    /// list, so that a `SELECT` inside the script changes neither the caller's database nor
    /// what `CLIENT LIST` shows of it.
    pub(crate) fn for_script(&self) -> Session {
        Session {
            version: Version::Resp2,
            db: self.db,
            authenticated: true,
            client: Arc::new(ClientEntry::detached(self.client.id, self.client.peer)),
            clients: None,
            closing: false,
            multi: Multi::default(),
        }
    }

    /// Changes the protocol version, and what `CLIENT LIST` shows of it.
    pub(crate) fn set_version(&mut self, version: Version) {
        self.version = version;
        self.client.info.lock().resp = match version {
            Version::Resp2 => 2,
            Version::Resp3 => 3,
        };
    }

    /// Selects database `db`, and shows it in `CLIENT LIST`.
    pub(crate) fn select(&mut self, db: usize) {
        self.db = db;
        self.client.info.lock().db = db;
    }
}

impl Connection {
    /// A new connection from `peer`, opened at `now`, registered in the client list until it
    /// is dropped.
    pub fn new(shared: &Shared, peer: Peer, now: Timestamp) -> Self {
        let client = shared.clients.register(peer, now);
        Connection {
            parser: Parser::new(shared.config.limits),
            session: Session {
                version: Version::Resp2,
                db: 0,
                authenticated: !shared.requires_auth(),
                client,
                clients: Some(Arc::clone(&shared.clients)),
                closing: false,
                multi: Multi::default(),
            },
        }
    }

    /// This connection's id, as `CLIENT ID` reports it.
    pub fn id(&self) -> u64 {
        self.session.client.id
    }

    /// Runs every complete command at the front of `input`, removing it from `input` and
    /// appending its reply to `output`. An incomplete command stays in `input` for the next
    /// call. Stops early, with complete commands left in `input`, once `output` holds
    /// [`OUTPUT_HIGH_WATER`] bytes: the caller writes the output out and calls again.
    ///
    /// Returns [`Flow::Close`] after `QUIT` and after a protocol error: the caller sends what
    /// is in `output` and closes.
    pub fn process(
        &mut self,
        input: &mut BytesMut,
        output: &mut BytesMut,
        ctx: &Context<'_>,
    ) -> Flow {
        let replies_start = output.len();
        loop {
            if output.len() >= OUTPUT_HIGH_WATER {
                return Flow::Continue;
            }
            let access = if self.session.authenticated {
                Access::Authenticated
            } else {
                Access::Unauthenticated
            };
            let consumed = match self.parser.parse(input, access) {
                Ok(None) => return Flow::Continue,
                Ok(Some(command)) => {
                    // An empty request (`*0`, a blank line) gets no reply, as in Redis.
                    if !command.is_empty() {
                        commands::run(&command, &mut self.session, ctx, output);
                    }
                    command.consumed()
                }
                Err(error) => {
                    if error.close() == Close::WithoutReply {
                        // Redis drops a client over its query buffer limit at once, with the
                        // replies it had not sent yet.
                        output.truncate(replies_start);
                    }
                    error.write_reply(output);
                    return Flow::Close;
                }
            };
            input.advance(consumed);
            if self.session.closing {
                return Flow::Close;
            }
        }
    }

    /// How many bytes must be buffered before the command being read can make progress, when
    /// known (an argument being received); the server sizes its reads by it.
    pub fn wants(&self, _input: &BytesMut) -> Option<usize> {
        self.parser.wants()
    }
}
