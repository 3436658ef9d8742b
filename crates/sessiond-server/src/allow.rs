//! Which client addresses a listener accepts: the equivalent of the ASP.NET State Service's
//! `AllowRemoteConnection`, with an optional CIDR allow-list, for every listener.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

/// The networks a listener accepts connections from. Empty means every address that can reach
/// the listener (whose own address is loopback unless configured otherwise). Loopback is always
/// accepted, so local health checks and tools keep working under any list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList(Vec<IpNet>);

/// Why an allow-list entry did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a network; write an address (10.1.2.3) or a CIDR block (10.0.0.0/8)")]
pub struct AllowError(String);

impl AllowList {
    /// Whether a client at `addr` may connect.
    pub fn permits(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.is_empty() || addr.is_loopback() || self.0.iter().any(|net| net.contains(&addr))
    }

    /// Whether the list restricts anything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<IpNet> for AllowList {
    fn from_iter<I: IntoIterator<Item = IpNet>>(iter: I) -> Self {
        AllowList(iter.into_iter().collect())
    }
}

impl FromStr for AllowList {
    type Err = AllowError;

    /// A comma-separated list, as a command-line flag gives it.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(parse_entry)
            .collect()
    }
}

impl fmt::Display for AllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, net) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{net}")?;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for AllowList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<String>::deserialize(deserializer)?;
        entries
            .iter()
            .map(|entry| parse_entry(entry))
            .collect::<Result<_, _>>()
            .map_err(serde::de::Error::custom)
    }
}

fn parse_entry(entry: &str) -> Result<IpNet, AllowError> {
    let entry = entry.trim();
    entry
        .parse::<IpNet>()
        .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
        .map(|net| match net {
            // An IPv4 block written as IPv6-mapped would never match: IPv4 clients are compared
            // in their IPv4 form.
            IpNet::V6(v6) => match v6.addr().to_ipv4_mapped() {
                Some(v4) => IpNet::new(IpAddr::V4(v4), v6.prefix_len().saturating_sub(96))
                    .unwrap_or(IpNet::V6(v6)),
                None => IpNet::V6(v6),
            },
            v4 => v4,
        })
        .map_err(|_| AllowError(entry.to_string()))
}

/// IPv4 clients of a dual-stack listener arrive as IPv4-mapped IPv6 addresses.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_empty_list_permits_everyone() {
        assert!(AllowList::default().permits(ip("203.0.113.9")));
    }

    #[test]
    fn a_list_permits_its_networks_and_loopback() {
        let list: AllowList = "10.0.0.0/8, 192.0.2.7, 2001:db8::/32".parse().unwrap();
        assert!(list.permits(ip("10.200.1.1")));
        assert!(list.permits(ip("192.0.2.7")));
        assert!(!list.permits(ip("192.0.2.8")));
        assert!(list.permits(ip("2001:db8::1")));
        assert!(list.permits(ip("127.0.0.1")));
        assert!(list.permits(ip("::1")));
        assert!(list.permits(ip("::ffff:10.1.2.3")), "IPv4-mapped client");
        assert!(!list.permits(ip("::ffff:11.1.2.3")));
        assert_eq!(list.to_string(), "10.0.0.0/8,192.0.2.7/32,2001:db8::/32");
    }

    #[test]
    fn bad_entries_are_named() {
        let error = "10.0.0.0/8,10.0.0.0/33".parse::<AllowList>().unwrap_err();
        assert_eq!(error, AllowError("10.0.0.0/33".into()));
        assert!("office".parse::<AllowList>().is_err());
    }
}
