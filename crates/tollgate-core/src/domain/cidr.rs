//! Address blocks (CIDR) and the allow/deny rules built from them: which client addresses
//! a tenant or route accepts, and which proxies' `X-Forwarded-For` the gateway believes.
//!
//! Parsed once, when a rule is saved or the live state loads; a request only compares
//! integers. IPv4 addresses written as IPv4-mapped IPv6 (`::ffff:10.0.0.1`), in a rule or
//! as a client's address, are taken as the IPv4 address they carry, so a dual-stack
//! listener's clients match IPv4 rules.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ConsoleError;

/// The most entries one list (allow, deny, trusted proxies) may hold.
pub const MAX_ENTRIES: usize = 256;

/// An address block: a network address and a prefix length, host bits zero.
/// Written `10.0.0.0/8` or `2001:db8::/32`; a bare address is one host (`/32`, `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cidr {
    V4 { net: u32, prefix: u8 },
    V6 { net: u128, prefix: u8 },
}

/// Why text is not a [`Cidr`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("'{0}' is not an IP address or CIDR block (e.g. 10.0.0.0/8, 2001:db8::/32, 192.168.1.7)")]
    Syntax(String),
    #[error("'{text}' has a prefix longer than {max}")]
    Prefix { text: String, max: u8 },
    #[error("'{text}' has host bits set; the block is {block}")]
    HostBits { text: String, block: Cidr },
}

fn mask4(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask6(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

/// `ip` as compared: an IPv4-mapped IPv6 address is its IPv4 address.
#[must_use]
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

impl Cidr {
    /// Whether `ip` is in the block. An IPv4 block never holds an IPv6 address (nor the
    /// reverse), except that IPv4-mapped IPv6 addresses count as IPv4.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (*self, canonical(ip)) {
            (Self::V4 { net, prefix }, IpAddr::V4(a)) => u32::from(a) & mask4(prefix) == net,
            (Self::V6 { net, prefix }, IpAddr::V6(a)) => u128::from(a) & mask6(prefix) == net,
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// Parses `addr/prefix` or a bare address. Host bits must be zero (`10.0.0.5/8` is
    /// refused, naming `10.0.0.0/8`): a typo there usually means a wrong prefix.
    fn from_str(text: &str) -> Result<Self, CidrError> {
        let syntax = || CidrError::Syntax(text.to_string());
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => {
                // Digits only: `u8::from_str` would also take a leading `+`.
                if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(syntax());
                }
                (addr, Some(prefix.parse::<u8>().map_err(|_| syntax())?))
            }
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| syntax())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(CidrError::Prefix { text: text.to_string(), max });
        }
        let block = match addr {
            IpAddr::V4(a) => Self::V4 { net: u32::from(a) & mask4(prefix), prefix },
            // An IPv4-mapped block is the IPv4 block it names.
            IpAddr::V6(a) if a.to_ipv4_mapped().is_some() && prefix >= 96 => {
                let v4 = u32::try_from(u128::from(a) & u128::from(u32::MAX)).expect("low 32 bits");
                Self::V4 { net: v4 & mask4(prefix - 96), prefix: prefix - 96 }
            }
            IpAddr::V6(a) => Self::V6 { net: u128::from(a) & mask6(prefix), prefix },
        };
        let given = match addr {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) if matches!(block, Self::V4 { .. }) => u128::from(a) & u128::from(u32::MAX),
            IpAddr::V6(a) => u128::from(a),
        };
        let net = match block {
            Self::V4 { net, .. } => u128::from(net),
            Self::V6 { net, .. } => net,
        };
        if given != net {
            return Err(CidrError::HostBits { text: text.to_string(), block });
        }
        Ok(block)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::V4 { net, prefix } => write!(f, "{}/{prefix}", Ipv4Addr::from(net)),
            Self::V6 { net, prefix } => write!(f, "{}/{prefix}", Ipv6Addr::from(net)),
        }
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Checks a list as typed: entries trimmed, empty ones skipped (so `""` clears a list),
/// each a CIDR block or a bare address, duplicates dropped, at most [`MAX_ENTRIES`].
/// The error names `field` and the first bad entry.
pub fn list(field: &str, items: &[String]) -> Result<Vec<Cidr>, ConsoleError> {
    let mut out: Vec<Cidr> = Vec::new();
    for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
        let block = item.parse::<Cidr>().map_err(|e| ConsoleError::invalid(field, e.to_string()))?;
        if !out.contains(&block) {
            out.push(block);
        }
        if out.len() > MAX_ENTRIES {
            return Err(ConsoleError::invalid(field, format!("holds more than {MAX_ENTRIES} entries")));
        }
    }
    Ok(out)
}

/// One party's address rules (a tenant's, a route's), borrowed from where they are kept.
/// Deny wins over allow; an empty allow list lets every address not denied through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpRules<'a> {
    pub allow: &'a [Cidr],
    pub deny: &'a [Cidr],
}

impl IpRules<'_> {
    /// No rules: every address passes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }

    /// Whether `ip` passes: in no deny block, and in an allow block when there are any.
    #[must_use]
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        !self.deny.iter().any(|c| c.contains(ip))
            && (self.allow.is_empty() || self.allow.iter().any(|c| c.contains(ip)))
    }
}

/// The client's address, from the TCP `peer` and the `X-Forwarded-For` values it sent
/// (`forwarded_for`, in header order): when the peer is one of the `trusted` proxies, the
/// header is read from the right, skipping trusted addresses, and the first untrusted one
/// is the client. An entry that is not an address (or `unknown`) stops the walk: the last
/// trusted hop is then the client, as it is when every entry is trusted. From a peer that
/// is not trusted the header is never believed: the client is the peer.
#[must_use]
pub fn client_address<'h>(
    peer: IpAddr,
    trusted: &[Cidr],
    forwarded_for: impl DoubleEndedIterator<Item = &'h str>,
) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if trusted.is_empty() || !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    for value in forwarded_for.rev() {
        for entry in value.rsplit(',') {
            let Some(ip) = forwarded_entry(entry) else { return client };
            client = canonical(ip);
            if !is_trusted(client) {
                return client;
            }
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`), as some proxies write it.
fn forwarded_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Some(rest) = entry.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    entry
        .rsplit_once(':')
        .and_then(|(ip, port)| port.parse::<u16>().ok().and(ip.parse::<Ipv4Addr>().ok()))
        .map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_blocks_and_bare_addresses() {
        assert_eq!(c("10.0.0.0/8"), Cidr::V4 { net: 0x0a00_0000, prefix: 8 });
        assert_eq!(c("10.0.0.5").to_string(), "10.0.0.5/32");
        assert_eq!(c("2001:db8::/32").to_string(), "2001:db8::/32");
        assert_eq!(c("2001:db8::1").to_string(), "2001:db8::1/128");
        assert_eq!(c("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(c("::/0").to_string(), "::/0");
        // An IPv4-mapped block is the IPv4 block.
        assert_eq!(c("::ffff:10.0.0.0/104"), c("10.0.0.0/8"));
        assert_eq!(c("::ffff:10.0.0.1"), c("10.0.0.1/32"));
    }

    #[test]
    fn refuses_what_is_not_a_block() {
        for bad in [
            "",
            "10.0.0",
            "10.0.0.256",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/8/8",
            "example.com",
            "10.0.0.0 /8",
            "::/1x",
        ] {
            assert!(matches!(bad.parse::<Cidr>(), Err(CidrError::Syntax(_))), "{bad:?}");
        }
        assert!(matches!("10.0.0.0/33".parse::<Cidr>(), Err(CidrError::Prefix { max: 32, .. })));
        assert!(matches!("::/129".parse::<Cidr>(), Err(CidrError::Prefix { max: 128, .. })));
        let e = "10.0.0.5/8".parse::<Cidr>().unwrap_err();
        assert_eq!(e.to_string(), "'10.0.0.5/8' has host bits set; the block is 10.0.0.0/8");
        assert!(matches!("2001:db8::1/32".parse::<Cidr>(), Err(CidrError::HostBits { .. })));
    }

    #[test]
    fn containment() {
        assert!(c("10.0.0.0/8").contains(ip("10.255.1.2")));
        assert!(!c("10.0.0.0/8").contains(ip("11.0.0.0")));
        assert!(c("10.0.0.5").contains(ip("10.0.0.5")));
        assert!(!c("10.0.0.5").contains(ip("10.0.0.4")));
        assert!(c("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!c("0.0.0.0/0").contains(ip("2001:db8::1")), "an IPv4 block holds no IPv6 address");
        assert!(c("::/0").contains(ip("2001:db8::1")));
        assert!(!c("::/0").contains(ip("10.0.0.1")), "an IPv6 block holds no IPv4 address");
        assert!(c("2001:db8::/32").contains(ip("2001:db8:ffff::1")));
        assert!(!c("2001:db8::/32").contains(ip("2001:db9::")));
        assert!(c("2001:db8::1").contains(ip("2001:db8::1")));
        assert!(!c("2001:db8::1").contains(ip("2001:db8::2")));
        // IPv4-mapped clients are IPv4 clients.
        assert!(c("10.0.0.0/8").contains(ip("::ffff:10.0.0.1")));
        assert!(!c("::/0").contains(ip("::ffff:10.0.0.1")));
    }

    #[test]
    fn lists_name_the_field_and_the_entry() {
        let items = ["10.0.0.5", " 10.0.0.0/8 ", "", "10.0.0.5/32"].map(String::from);
        assert_eq!(list("ip_allow", &items).unwrap(), vec![c("10.0.0.5/32"), c("10.0.0.0/8")]);
        assert_eq!(list("ip_allow", &[String::new()]).unwrap(), vec![]);
        let e = list("ip_deny", &["10.0.0.0/8".into(), "10.0.0.999".into()]).unwrap_err();
        match e {
            ConsoleError::Invalid { field, message } => {
                assert_eq!(field, "ip_deny");
                assert!(message.contains("'10.0.0.999'"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let many: Vec<String> = (0..=MAX_ENTRIES).map(|i| format!("10.0.{}.{}", i / 256, i % 256)).collect();
        assert!(matches!(list("ip_allow", &many), Err(ConsoleError::Invalid { .. })));
        assert_eq!(list("ip_allow", &many[..MAX_ENTRIES]).unwrap().len(), MAX_ENTRIES);
    }

    #[test]
    fn deny_wins_and_empty_allow_is_everyone() {
        let (allow, deny) = (vec![c("10.0.0.0/8")], vec![c("10.0.0.7")]);
        let rules = IpRules { allow: &allow, deny: &deny };
        assert!(rules.permits(ip("10.1.2.3")));
        assert!(!rules.permits(ip("10.0.0.7")), "deny wins over allow");
        assert!(!rules.permits(ip("192.0.2.1")), "not in the allow list");
        let only_deny = IpRules { allow: &[], deny: &deny };
        assert!(only_deny.permits(ip("192.0.2.1")));
        assert!(IpRules::default().permits(ip("192.0.2.1")));
    }

    #[test]
    fn the_client_behind_trusted_proxies() {
        let trusted = [c("127.0.0.1"), c("10.0.0.0/8")];
        let peer = ip("127.0.0.1");
        let xff = |values: &'static [&'static str]| values.iter().copied();
        // Untrusted peer: the header is never believed.
        assert_eq!(client_address(ip("192.0.2.9"), &trusted, xff(&["203.0.113.5"])), ip("192.0.2.9"));
        assert_eq!(client_address(peer, &[], xff(&["203.0.113.5"])), peer);
        // Trusted peer: from the right, the first untrusted address.
        assert_eq!(client_address(peer, &trusted, xff(&["198.51.100.1, 203.0.113.5, 10.0.0.3"])), ip("203.0.113.5"));
        assert_eq!(
            client_address(peer, &trusted, xff(&["198.51.100.1", "203.0.113.5:4711", "10.0.0.3"])),
            ip("203.0.113.5")
        );
        assert_eq!(client_address(peer, &trusted, xff(&["[2001:db8::5]:443"])), ip("2001:db8::5"));
        // Garbage stops the walk at the last trusted hop; all trusted ends at the leftmost.
        assert_eq!(client_address(peer, &trusted, xff(&["203.0.113.5, garbage, 10.0.0.3"])), ip("10.0.0.3"));
        assert_eq!(client_address(peer, &trusted, xff(&["10.0.0.4, 10.0.0.3"])), ip("10.0.0.4"));
        assert_eq!(client_address(peer, &trusted, xff(&[])), peer);
        // IPv4-mapped peers are IPv4 peers.
        assert_eq!(client_address(ip("::ffff:127.0.0.1"), &trusted, xff(&["203.0.113.5"])), ip("203.0.113.5"));
    }

    proptest! {
        #[test]
        fn a_block_holds_exactly_the_addresses_sharing_its_prefix(a in any::<u32>(), b in any::<u32>(), prefix in 0u8..=32) {
            let block = Cidr::V4 { net: a & mask4(prefix), prefix };
            let shared = prefix == 0 || (a ^ b) >> (32 - u32::from(prefix)) == 0;
            prop_assert_eq!(block.contains(IpAddr::V4(Ipv4Addr::from(b))), shared);
            prop_assert_eq!(block.to_string().parse::<Cidr>(), Ok(block));
        }

        #[test]
        fn ipv6_blocks_round_trip_and_hold_their_network(a in any::<u128>(), prefix in 0u8..=128) {
            let block = Cidr::V6 { net: a & mask6(prefix), prefix };
            let text = block.to_string();
            let parsed = text.parse::<Cidr>();
            // IPv4-mapped networks (prefix >= 96) come back as IPv4 blocks; others exactly.
            if Ipv6Addr::from(a & mask6(prefix)).to_ipv4_mapped().is_none() || prefix < 96 {
                prop_assert_eq!(parsed, Ok(block));
                prop_assert!(block.contains(IpAddr::V6(Ipv6Addr::from(a))));
            }
        }
    }
}
