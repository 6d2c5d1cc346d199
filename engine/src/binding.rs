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
/// `0.0.0.0:68 → 255.255.255.255:67`, an ARP probe (sender `0.0.0.0`), IPv6 from the
/// MAC's own link-local address ([`Binding::link_local`], which the kernel's set holds
/// beside `addrs`: see [`Binding::kernel_addrs`]) and neighbour and router solicitation
/// from `::` (DAD). Never from a bound vif: router advertisements and redirects, DHCP
/// server replies of either family, a neighbour advertisement for an address it is not
/// bound to (the IPv6 form of ARP spoofing). A bound vif
/// whose `addrs` is empty may send nothing else; one bound to [`Binding::any`] (Xen's "no
/// `ip`") may send from any address of either family. A port without a binding is not
/// checked, only kept from the bound vifs (`bridge brouter`'s `forward` chain): `vif
/// online` binds every vif it attaches to an anti-spoofing network.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

    /// The link-local address the kernel gives an interface with this MAC by default
    /// (fe80::/64 and the MAC's modified EUI-64): the only link-local source a bound vif
    /// may use. Binding it, rather than all of fe80::/10, keeps a VM from taking the
    /// gateway's or a neighbour's link-local address, which is what its neighbours
    /// route through (the IPv6 form of taking the gateway's IPv4 address by ARP). `None`
    /// without a MAC.
    pub fn link_local(&self) -> Option<std::net::Ipv6Addr> {
        let fe80 = Ipv6Net::new(std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 64).ok()?;
        crate::firewall::slaac_address(fe80, &self.mac)
    }

    /// What the kernel's address sets hold for this binding: `addrs` and, unless an entry
    /// covers it already (`::/0`), the MAC's link-local address. Backends write these and
    /// read back through [`Binding::from_kernel`].
    pub fn kernel_addrs(&self) -> Vec<IpNet> {
        let mut v = self.addrs.clone();
        if let Some(ll) = self.link_local() {
            if !self.allows(IpAddr::V6(ll)) {
                v.push(IpNet::from(IpAddr::V6(ll)));
            }
        }
        v
    }

    /// A binding as read from the kernel's sets (`addrs` as [`Binding::kernel_addrs`]
    /// wrote them): the MAC's link-local entry is brouter's, not part of what was bound.
    /// Sorted, as the sets list them.
    pub fn from_kernel(vif: String, mac: String, mut addrs: Vec<IpNet>) -> Binding {
        let b = Binding {
            vif,
            mac,
            addrs: vec![],
        };
        if let Some(ll) = b.link_local() {
            addrs.retain(|a| *a != IpNet::from(IpAddr::V6(ll)));
        }
        addrs.sort();
        Binding { addrs, ..b }
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
    fn the_kernel_holds_the_macs_own_link_local_beside_the_bound_addresses() {
        let b = Binding {
            vif: "vif1.0".into(),
            mac: "aa:cc:00:00:01:01".into(),
            addrs: vec![net("10.1.0.10"), net("2001:db8:10::10")],
        };
        let ll = net("fe80::a8cc:ff:fe00:101");
        assert_eq!(b.link_local(), Some("fe80::a8cc:ff:fe00:101".parse().unwrap()));
        let kernel = b.kernel_addrs();
        assert_eq!(kernel, vec![net("10.1.0.10"), net("2001:db8:10::10"), ll]);
        let back = Binding::from_kernel(b.vif.clone(), b.mac.clone(), kernel);
        assert_eq!(
            back, b,
            "read back, the link-local entry is not part of the binding"
        );
    }

    #[test]
    fn a_binding_to_any_address_adds_no_link_local_entry_and_one_without_a_mac_none() {
        let any = Binding {
            vif: "vif1.0".into(),
            mac: "aa:cc:00:00:01:01".into(),
            addrs: Binding::any(),
        };
        assert_eq!(any.kernel_addrs(), Binding::any(), "::/0 covers it already");
        let no_mac = Binding {
            mac: String::new(),
            addrs: vec![],
            ..any
        };
        assert_eq!(no_mac.link_local(), None);
        assert!(no_mac.kernel_addrs().is_empty());
    }

    #[test]
    fn another_link_local_read_back_stays_visible_as_drift() {
        let foreign = net("fe80::1");
        let back = Binding::from_kernel("vif1.0".into(), "aa:cc:00:00:01:01".into(), vec![foreign]);
        assert_eq!(back.addrs, vec![foreign]);
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
