//! Listener addresses in configuration: an address, or `off`.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// Where a protocol listens, or that it does not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    /// The listener is disabled.
    Off,
    /// Listen on this address.
    On(SocketAddr),
}

/// Why a listen address did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not an address to listen on; write HOST:PORT (for example 127.0.0.1:11211) or off"
)]
pub struct ListenError(String);

impl FromStr for Listen {
    type Err = ListenError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(Listen::Off);
        }
        if let Ok(addr) = text.parse() {
            return Ok(Listen::On(addr));
        }
        // Host names resolve once, at start-up ("localhost:11211").
        text.to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .map(Listen::On)
            .ok_or_else(|| ListenError(text.to_string()))
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Off => f.write_str("off"),
            Listen::On(addr) => write!(f, "{addr}"),
        }
    }
}

impl<'de> Deserialize<'de> for Listen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses_and_off() {
        assert_eq!("off".parse(), Ok(Listen::Off));
        assert_eq!(
            "127.0.0.1:11211".parse(),
            Ok(Listen::On("127.0.0.1:11211".parse().unwrap()))
        );
        assert!("127.0.0.1".parse::<Listen>().is_err());
        assert!("nonsense:port".parse::<Listen>().is_err());
    }
}
