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
use crate::pubsub::{Inbox, Subscriptions};
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
/// whether it has authenticated, its entry in the client list, its transaction, its
/// subscriptions.
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
    /// Its channels and patterns, from its first `SUBSCRIBE` or `PSUBSCRIBE` on.
    pub(crate) subscriptions: Option<Box<Subscriptions>>,
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
            subscriptions: None,
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

    /// How many channels and patterns it listens to.
    pub(crate) fn subscription_count(&self) -> usize {
        self.subscriptions
            .as_ref()
            .map_or(0, |subscriptions| subscriptions.count())
    }

    /// Whether Redis's RESP2 subscribed state holds: only (un)subscribing, `PING`, `QUIT` and
    /// `RESET` are allowed, and `PING` answers with an array.
    pub(crate) fn in_subscribed_mode(&self) -> bool {
        self.version == Version::Resp2 && self.subscription_count() > 0
    }

    /// Writes the messages waiting for this connection into `out` at `at` (before the reply
    /// of the command that just ran, as Redis writes a message published during a command
    /// before its reply), up to the output high-water mark.
    pub(crate) fn deliver_at(&self, out: &mut BytesMut, at: usize) {
        let Some(subscriptions) = &self.subscriptions else {
            return;
        };
        if !subscriptions.inbox.has_messages() {
            return;
        }
        let reply = out.split_off(at);
        subscriptions
            .inbox
            .write_into(out, self.version, OUTPUT_HIGH_WATER);
        out.unsplit(reply);
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
                subscriptions: None,
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
    /// A subscriber's waiting messages come first, and any that arrive while a command runs
    /// are written before its reply, as Redis writes them.
    ///
    /// Returns [`Flow::Close`] after `QUIT` and after a protocol error: the caller sends what
    /// is in `output` and closes; and for a subscriber cut off for falling too far behind,
    /// with nothing more written: the caller closes at once.
    pub fn process(
        &mut self,
        input: &mut BytesMut,
        output: &mut BytesMut,
        ctx: &Context<'_>,
    ) -> Flow {
        let replies_start = output.len();
        if let Some(subscriptions) = &self.session.subscriptions {
            if subscriptions.inbox.is_cut() {
                // Redis frees a client past its output buffer limit without another byte.
                return Flow::Close;
            }
            subscriptions
                .inbox
                .write_into(output, self.session.version, OUTPUT_HIGH_WATER);
        }
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
                    self.session.subscriptions = None;
                    return Flow::Close;
                }
            };
            input.advance(consumed);
            if self.session.closing {
                // Gone from the channels before the client can see the close.
                self.session.subscriptions = None;
                return Flow::Close;
            }
        }
    }

    /// The queue that pub/sub messages for this connection arrive in, once it has
    /// subscribed: the server waits on it ([`Inbox::ready`]) beside the socket, and runs
    /// [`Connection::process`] when it fires, which writes the messages (or answers
    /// [`Flow::Close`] when the subscriber fell too far behind, [`Inbox::cut_off`]).
    pub fn inbox(&self) -> Option<&Arc<Inbox>> {
        self.session
            .subscriptions
            .as_ref()
            .map(|subscriptions| &subscriptions.inbox)
    }

    /// Whether the connection listens to any channel or pattern: Redis never closes such a
    /// client for being idle (it only receives).
    pub fn subscribed(&self) -> bool {
        self.session.subscription_count() > 0
    }

    /// How many bytes must be buffered before the command being read can make progress, when
    /// known (an argument being received); the server sizes its reads by it.
    pub fn wants(&self, _input: &BytesMut) -> Option<usize> {
        self.parser.wants()
    }
}
