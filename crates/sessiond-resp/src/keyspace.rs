//! Keyspace notifications (Redis's `notify.c`): what `notify-keyspace-events` selects, and
//! the messages a change to a key publishes, `__keyspace@<db>__:<key>` with the event as
//! message and `__keyevent@<db>__:<event>` with the key as message.
//!
//! Commands report their events through [`Shared::notify`] with Redis 7.0's event names
//! (`set`, `expire`, `del`, `rename_from`, ...). Expirations come from the engine: the server
//! drains the keys that expired (swept, or found expired on access) and hands them to
//! [`Shared::deliver_expired`], which publishes `expired` in the key's database. The engine
//! collects expired keys only while someone could hear of them
//! ([`Shared::follow_expiry`]).

use sessiond_engine::{Engine, ExpiredKey};

use crate::shared::Shared;

/// Redis's keyspace event classes (`server.h`, `NOTIFY_*`), as flag bits.
pub(crate) mod class {
    /// `K`: publish on `__keyspace@<db>__:<key>`.
    pub(crate) const KEYSPACE: u32 = 1 << 0;
    /// `E`: publish on `__keyevent@<db>__:<event>`.
    pub(crate) const KEYEVENT: u32 = 1 << 1;
    /// `g`: generic commands (`DEL`, `EXPIRE`, `RENAME`, ...).
    pub(crate) const GENERIC: u32 = 1 << 2;
    /// `$`: string commands.
    pub(crate) const STRING: u32 = 1 << 3;
    /// `l`: list commands.
    pub(crate) const LIST: u32 = 1 << 4;
    /// `s`: set commands.
    pub(crate) const SET: u32 = 1 << 5;
    /// `h`: hash commands.
    pub(crate) const HASH: u32 = 1 << 6;
    /// `z`: sorted set commands.
    pub(crate) const ZSET: u32 = 1 << 7;
    /// `x`: expirations.
    pub(crate) const EXPIRED: u32 = 1 << 8;
    /// `e`: evictions (sessiond never evicts).
    pub(crate) const EVICTED: u32 = 1 << 9;
    /// `t`: stream commands.
    pub(crate) const STREAM: u32 = 1 << 10;
    /// `m`: key misses.
    pub(crate) const KEY_MISS: u32 = 1 << 11;
    /// `d`: module events.
    pub(crate) const MODULE: u32 = 1 << 12;
    /// `n`: new keys.
    pub(crate) const NEW: u32 = 1 << 13;
    /// `A`: every class but key misses and new keys.
    pub(crate) const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

impl Shared {
    /// Publishes event `event` of class `class` for `key` in database `db`, as Redis's
    /// `notifyKeyspaceEvent`: nothing unless `notify-keyspace-events` selects the class and
    /// `K` or `E`, and nothing (not even the channel names) while nobody subscribes.
    pub(crate) fn notify(&self, class: u32, event: &str, key: &[u8], db: usize) {
        if !self.notifies(class) {
            return;
        }
        let flags = self.keyspace_events();
        if flags & class::KEYSPACE != 0 {
            let mut channel = format!("__keyspace@{db}__:").into_bytes();
            channel.extend_from_slice(key);
            self.hub.publish(&channel, event.as_bytes());
        }
        if flags & class::KEYEVENT != 0 {
            let channel = format!("__keyevent@{db}__:{event}");
            self.hub.publish(channel.as_bytes(), key);
        }
    }

    /// Whether an event of `class` would be published now: a command that must do extra
    /// work to know its event (`GETEX PERSIST`) asks first.
    pub(crate) fn notifies(&self, class: u32) -> bool {
        let flags = self.keyspace_events();
        flags & class != 0
            && flags & (class::KEYSPACE | class::KEYEVENT) != 0
            && !self.hub.is_idle()
    }

    /// Publishes `expired` for each key that expired in one of the databases (keys of other
    /// namespaces are skipped). The server calls it with what it drains from the engine.
    pub fn deliver_expired(&self, keys: &[ExpiredKey]) {
        for key in keys {
            if let Some(db) = self
                .config
                .databases
                .iter()
                .position(|&namespace| namespace == key.namespace)
            {
                self.notify(class::EXPIRED, "expired", &key.name, db);
            }
        }
    }

    /// Whether expirations could be heard: `notify-keyspace-events` selects them and someone
    /// subscribes to something.
    pub fn wants_expired(&self) -> bool {
        self.notifies(class::EXPIRED)
    }

    /// Has `engine` collect the databases' expired keys exactly while
    /// [`wants_expired`](Self::wants_expired): at no cost while nobody listens. Commands that
    /// may start a listener (`SUBSCRIBE`, `CONFIG SET`) call it at once; the server's expiry
    /// sweep calls it on every tick, which also stops the collection once nobody listens.
    pub fn follow_expiry(&self, engine: &Engine) {
        let wanted = self.wants_expired();
        let databases = &self.config.databases;
        if engine.reports_expired(databases[0]) != wanted {
            for &namespace in databases {
                engine.report_expired(namespace, wanted);
            }
        }
    }
}

/// A `notify-keyspace-events` setting: which keyspace notifications are published, as the
/// server starts with it (`CONFIG SET` changes it while the server runs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyspaceEvents(pub(crate) u32);

impl KeyspaceEvents {
    /// Reads Redis's class letters (`"Egx"`, `"KEA"`; empty for none); `None` when a letter
    /// is not one of Redis's.
    pub fn parse(text: &str) -> Option<Self> {
        parse(text.as_bytes()).map(KeyspaceEvents)
    }
}

/// The letters in Redis's canonical order, as `CONFIG GET` answers them.
impl std::fmt::Display for KeyspaceEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format(self.0))
    }
}

/// Redis's `keyspaceEventsStringToFlags`: each character a class; `None` for an unknown one.
/// The value is read as a C string.
pub(crate) fn parse(text: &[u8]) -> Option<u32> {
    let mut flags = 0;
    for &letter in crate::args::c_str(text) {
        flags |= match letter {
            b'A' => class::ALL,
            b'g' => class::GENERIC,
            b'$' => class::STRING,
            b'l' => class::LIST,
            b's' => class::SET,
            b'h' => class::HASH,
            b'z' => class::ZSET,
            b'x' => class::EXPIRED,
            b'e' => class::EVICTED,
            b'K' => class::KEYSPACE,
            b'E' => class::KEYEVENT,
            b't' => class::STREAM,
            b'm' => class::KEY_MISS,
            b'd' => class::MODULE,
            b'n' => class::NEW,
            _ => return None,
        };
    }
    Some(flags)
}

/// Redis's `keyspaceEventsFlagsToString`: the classes in its canonical order (`Egx` reads
/// back as `gxE`).
pub(crate) fn format(flags: u32) -> String {
    let mut text = String::new();
    if flags & class::ALL == class::ALL {
        text.push('A');
    } else {
        for (flag, letter) in [
            (class::GENERIC, 'g'),
            (class::STRING, '$'),
            (class::LIST, 'l'),
            (class::SET, 's'),
            (class::HASH, 'h'),
            (class::ZSET, 'z'),
            (class::EXPIRED, 'x'),
            (class::EVICTED, 'e'),
            (class::STREAM, 't'),
            (class::MODULE, 'd'),
            (class::NEW, 'n'),
        ] {
            if flags & flag != 0 {
                text.push(letter);
            }
        }
    }
    for (flag, letter) in [
        (class::KEYSPACE, 'K'),
        (class::KEYEVENT, 'E'),
        (class::KEY_MISS, 'm'),
    ] {
        if flags & flag != 0 {
            text.push(letter);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::{Bytes, BytesMut};
    use sessiond_engine::{EngineConfig, NamespaceId, Timestamp};

    use super::*;
    use crate::encoder::Version;
    use crate::pubsub::{Inbox, Kind};
    use crate::shared::Config;

    #[test]
    fn a_configured_setting_reads_as_redis_reads_it() {
        let setting = KeyspaceEvents::parse("Egx").unwrap();
        assert_eq!(setting.to_string(), "gxE");
        assert_eq!(KeyspaceEvents::parse(""), Some(KeyspaceEvents::default()));
        assert_eq!(KeyspaceEvents::parse("Eq"), None);
        let shared = Shared::new(
            Config {
                keyspace_events: setting,
                ..Config::new(NamespaceId(1))
            },
            Timestamp::from_millis(0),
        );
        assert_eq!(shared.keyspace_events(), setting.0);
    }

    #[test]
    fn keyspace_events_read_back_in_canonical_order() {
        let flags = |text: &str| parse(text.as_bytes()).unwrap();
        assert_eq!(format(flags("Egx")), "gxE");
        assert_eq!(format(flags("")), "");
        assert_eq!(format(flags("KEA")), "AKE");
        assert_eq!(format(flags("g$lshzxetd")), "A");
        assert_eq!(format(flags("An")), "A");
        assert_eq!(format(flags("nm")), "nm");
        assert!(parse(b"Q").is_none());
    }

    fn listening(shared: &Shared, pattern: &'static [u8]) -> Arc<Inbox> {
        let inbox = Arc::new(Inbox::new(1));
        shared
            .hub
            .subscribe(Kind::Pattern, &inbox, &Bytes::from_static(pattern));
        inbox
    }

    fn heard(inbox: &Inbox) -> String {
        let mut out = BytesMut::new();
        inbox.write_into(&mut out, Version::Resp2, usize::MAX);
        String::from_utf8_lossy(&out).replace("\r\n", " ")
    }

    #[test]
    fn events_follow_the_flags_and_name_the_database() {
        let shared = Shared::new(Config::new(NamespaceId(16)), Timestamp::from_millis(0));
        let inbox = listening(&shared, b"__key*");
        shared.notify(class::GENERIC, "del", b"k", 3);
        assert_eq!(heard(&inbox), "", "no flags, no events");
        shared.set_keyspace_events(parse(b"Eg").unwrap());
        shared.notify(class::STRING, "set", b"k", 3);
        assert_eq!(heard(&inbox), "", "strings are not selected");
        shared.notify(class::GENERIC, "del", b"k", 3);
        assert_eq!(
            heard(&inbox),
            "*4 $8 pmessage $6 __key* $18 __keyevent@3__:del $1 k "
        );
        shared.set_keyspace_events(parse(b"K$").unwrap());
        shared.notify(class::STRING, "set", b"k", 0);
        assert_eq!(
            heard(&inbox),
            "*4 $8 pmessage $6 __key* $16 __keyspace@0__:k $3 set "
        );
    }

    #[test]
    fn expired_keys_of_the_databases_are_published_and_collected_only_while_heard() {
        let shared = Shared::new(Config::new(NamespaceId(16)), Timestamp::from_millis(0));
        let engine = Engine::new(EngineConfig::default());
        shared.set_keyspace_events(parse(b"Ex").unwrap());
        shared.follow_expiry(&engine);
        assert!(!engine.reports_expired(NamespaceId(16)), "nobody listens");
        let inbox = listening(&shared, b"*");
        shared.follow_expiry(&engine);
        assert!(engine.reports_expired(NamespaceId(16)));
        assert!(engine.reports_expired(NamespaceId(31)));
        shared.deliver_expired(&[
            ExpiredKey {
                namespace: NamespaceId(18),
                name: Bytes::from_static(b"gone"),
            },
            ExpiredKey {
                namespace: NamespaceId(2),
                name: Bytes::from_static(b"not redis"),
            },
        ]);
        assert_eq!(
            heard(&inbox),
            "*4 $8 pmessage $1 * $22 __keyevent@2__:expired $4 gone "
        );
        shared.set_keyspace_events(parse(b"Eg").unwrap());
        shared.follow_expiry(&engine);
        assert!(!engine.reports_expired(NamespaceId(16)));
    }
}
