//! The anti-spoofing binding of one vif: both a firewall input (what `start` re-inserts
//! with the tables) and observed state (what the kernel's sets hold). It lives apart from
//! `firewall` and `model` so that each can use it without using the other.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

/// A live anti-spoofing binding: the vif Xen attached, and the only MAC and the IPv4 and
/// IPv6 addresses and prefixes it may use as source (Ethernet, IP and ARP sender).
///
/// What always passes from the bound MAC, whatever `addrs` holds: a DHCP client's
/// `0.0.0.0:68 → 255.255.255.255:67`, an ARP probe (sender `0.0.0.0`), IPv6 from a
/// link-local source (`fe80::/10`) and neighbour discovery from `::` (DAD). A bound vif
/// whose `addrs` is empty may send nothing else; one bound to [`Binding::any`] (Xen's "no
/// `ip`") may send from any address of either family. A port without a binding is not
/// checked, only kept from the bound vifs (`bridge brouter`'s `forward` chain): `vif
/// online` binds every vif it attaches to an anti-spoofing network.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Binding {
    pub vif: String,
    /// Lower-case `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// Host addresses (`/32`, `/128`) and prefixes, truncated to their network, sorted.
    /// JSON: a host address is written bare (`"10.1.0.10"`), a prefix with its length.
    #[serde(with = "addr_list")]
    pub addrs: Vec<IpNet>,
}

impl Binding {
    /// What a MAC-only binding allows: any address of either family.
    pub fn any() -> Vec<IpNet> {
        vec![IpNet::V4(Ipv4Net::default()), IpNet::V6(Ipv6Net::default())]
    }

    /// Whether this binding allows any address (bound by MAC only).
    pub fn mac_only(&self) -> bool {
        Binding::any().iter().all(|a| self.addrs.contains(a))
    }

    /// Whether `src` is one of the bound addresses or inside a bound prefix.
    pub fn allows(&self, src: IpAddr) -> bool {
        self.addrs.iter().any(|n| n.contains(&src))
    }

    /// An IPv4 address the binding allows, for `explain` to send from: its first host
    /// address, else the first host of its first IPv4 prefix; none when it allows no
    /// IPv4 address or any (then the network's own example is as good as any).
    pub fn first_v4(&self) -> Option<std::net::Ipv4Addr> {
        self.addrs.iter().find_map(|n| match n {
            IpNet::V4(v) if v.prefix_len() == 0 => None,
            IpNet::V4(v) if v.prefix_len() >= 31 => Some(v.addr()),
            IpNet::V4(v) => Some(std::net::Ipv4Addr::from(u32::from(v.network()) + 1)),
            IpNet::V6(_) => None,
        })
    }

    /// Put `addrs` in the form the kernel gives back: each truncated to its network,
    /// sorted, without duplicates and without entries inside another entry.
    pub fn normalise(addrs: &mut Vec<IpNet>) {
        for a in addrs.iter_mut() {
            *a = a.trunc();
        }
        addrs.sort();
        addrs.dedup();
        let all = addrs.clone();
        addrs.retain(|a| !all.iter().any(|b| b != a && b.contains(a)));
    }

    /// The bound addresses for people: `10.1.0.10, 10.1.0.16/28`, or "any address".
    pub fn describe_addrs(&self) -> String {
        if self.mac_only() {
            return "any address".into();
        }
        if self.addrs.is_empty() {
            return "no address".into();
        }
        self.addrs.iter().map(show).collect::<Vec<_>>().join(", ")
    }
}

/// A host address bare, a prefix with its length.
pub fn show(a: &IpNet) -> String {
    if a.prefix_len() == a.max_prefix_len() {
        a.addr().to_string()
    } else {
        a.to_string()
    }
}

/// Parse a bound entry: an address (a host entry) or a prefix.
pub fn parse_entry(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

mod addr_list {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[IpNet], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(show))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
        let raw = Vec::<String>::deserialize(d)?;
        raw.iter()
            .map(|s| {
                parse_entry(s)
                    .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not an address or a prefix")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        parse_entry(s).unwrap()
    }

    #[test]
    fn json_keeps_host_addresses_bare_and_prefixes_with_their_length() {
        let b = Binding {
            vif: "vif1.0".into(),
            mac: "aa:cc:00:00:01:01".into(),
            addrs: vec![net("10.1.0.10"), net("10.1.0.16/28"), net("fd00::/64")],
        };
        let j = serde_json::to_string(&b).unwrap();
        assert!(j.contains(r#"["10.1.0.10","10.1.0.16/28","fd00::/64"]"#), "{j}");
        assert_eq!(serde_json::from_str::<Binding>(&j).unwrap(), b);
    }

    #[test]
    fn normalising_truncates_and_drops_covered_entries() {
        let mut a = vec![
            net("10.1.0.20/28"),
            net("10.1.0.18"),
            net("fd00::1"),
            net("fd00::/64"),
        ];
        Binding::normalise(&mut a);
        assert_eq!(a, vec![net("10.1.0.16/28"), net("fd00::/64")]);
    }

    #[test]
    fn a_mac_only_binding_allows_any_address() {
        let b = Binding {
            vif: "v".into(),
            mac: "aa:cc:00:00:01:01".into(),
            addrs: Binding::any(),
        };
        assert!(
            b.mac_only()
                && b.allows("192.0.2.1".parse().unwrap())
                && b.allows("2001:db8::1".parse().unwrap())
        );
        assert_eq!(b.describe_addrs(), "any address");
    }
}
