//! Helpers for the engine's unit tests.

use bytes::Bytes;

use crate::time::ExpiryUpdate;
use crate::{
    Engine, EngineConfig, Expiry, GetAndExpire, HashWrite, Inspect, Key, KeyInfo, Timestamp,
    WriteString,
};

pub fn engine() -> Engine {
    Engine::new(EngineConfig::default())
}

pub fn secs(s: u64) -> Timestamp {
    Timestamp::from_secs(s)
}

/// Writes a string with no expiry.
pub fn set(engine: &Engine, key: Key<'_>, value: &[u8], now: Timestamp) {
    engine
        .run(&WriteString::new(key, value, Expiry::Never), now)
        .expect("written");
}

/// Replaces whatever `key` holds with a hash of `fields`.
pub fn hash_with(engine: &Engine, key: Key<'_>, fields: &[(&[u8], &[u8])], now: Timestamp) {
    engine.run(&crate::Delete::new(key), now).expect("deleted");
    let write = HashWrite {
        key,
        fields,
        only_if_absent: false,
    };
    engine.run(&write, now).expect("written");
}

/// A string's value, without changing its expiry.
pub fn read(engine: &Engine, key: Key<'_>, now: Timestamp) -> Option<Bytes> {
    let get = GetAndExpire {
        key,
        expiry: ExpiryUpdate::Keep,
    };
    engine.run(&get, now).expect("a string")
}

pub fn inspect(engine: &Engine, key: Key<'_>, now: Timestamp) -> Option<KeyInfo> {
    engine.run(&Inspect { key }, now)
}
