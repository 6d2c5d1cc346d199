//! The IPv6 side of a configuration: each network's `address6` and the hosts' IPv6
//! addresses, against their network and each other.
//!
//! A network's IPv6 prefix is announced to its VMs by router advertisements, and SLAAC
//! builds an address from a /64 only: any other length would leave the VMs without one.

use std::collections::HashMap;
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

use super::Config;

/// One problem: the key, what is wrong, what would be right.
pub type Finding = (String, String, String);

/// Every problem with the IPv6 keys of `config`.
pub fn check(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut prefixes: HashMap<Ipv6Net, usize> = HashMap::new();
    for (i, n) in config.networks.iter().enumerate() {
        let Some(a) = n.address6 else { continue };
        let key = format!("network[{i}].address6");
        if let Some(problem) = not_a_bridge_address(a) {
            out.push((
                key,
                problem,
                "use a ULA such as fd98:98::1/64, or a /64 of your global prefix".into(),
            ));
            continue;
        }
        if let Some(j) = prefixes.insert(a.trunc(), i) {
            out.push((
                key,
                format!(
                    "is in {}, the prefix of network[{j}] ({:?}) too",
                    a.trunc(),
                    config.networks[j].name
                ),
                "give each network its own /64".into(),
            ));
        }
    }
    let mut seen: HashMap<Ipv6Addr, usize> = HashMap::new();
    for (i, h) in config.hosts.iter().enumerate() {
        let net = config.network(&h.network);
        for a in &h.addresses6 {
            // The list, not an index: IPv4 and IPv6 entries may come in any order.
            let key = format!("host[{i}].addresses");
            let Some(n) = net else { continue };
            let Some(prefix) = n.address6 else {
                out.push((
                    key,
                    format!(
                        "holds {a}, an IPv6 address, but network {:?} has no address6",
                        n.name
                    ),
                    format!(
                        "give network {:?} an address6 (e.g. \"fd98:98::1/64\"), or remove the address",
                        n.name
                    ),
                ));
                continue;
            };
            if !prefix.trunc().contains(a) {
                out.push((
                    key,
                    format!("holds {a}, outside network {:?} ({})", n.name, prefix.trunc()),
                    format!("use an address in {}", prefix.trunc()),
                ));
            } else if *a == prefix.addr() {
                out.push((
                    key,
                    format!(
                        "holds {a}, the bridge address of network {:?}, which belongs to the dom0",
                        n.name
                    ),
                    format!("give the host another address in {}", prefix.trunc()),
                ));
            } else if *a == prefix.network() {
                out.push((
                    key,
                    format!(
                        "holds {a}, the subnet-router anycast address of {}",
                        prefix.trunc()
                    ),
                    format!("use a host address in {}", prefix.trunc()),
                ));
            } else if let Some(j) = seen.insert(*a, i) {
                out.push((
                    key,
                    format!(
                        "holds {a}, also an address of host[{j}] ({:?})",
                        config.hosts[j].name
                    ),
                    "give every host its own addresses".into(),
                ));
            }
        }
    }
    out
}

/// Why `a` cannot be a bridge's IPv6 address with its prefix, if it cannot.
fn not_a_bridge_address(a: Ipv6Net) -> Option<String> {
    let ip = a.addr();
    let seg0 = ip.segments()[0];
    if a.prefix_len() != 64 {
        return Some(format!(
            "has prefix length {}: router advertisements give VMs addresses (SLAAC) from a /64 only",
            a.prefix_len()
        ));
    }
    if ip.is_unspecified() || ip.is_loopback() {
        return Some("is the unspecified or loopback address".into());
    }
    if ip.is_multicast() {
        return Some("is a multicast address".into());
    }
    if seg0 & 0xffc0 == 0xfe80 {
        return Some("is link-local: every link has its own fe80::/64 already".into());
    }
    if ip == a.network() {
        return Some(format!(
            "is the subnet-router anycast address of {} (no host bits set)",
            a.trunc()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::config::from_toml;

    fn errors(text: &str) -> String {
        match from_toml(text, "t.toml") {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    const NET: &str =
        "[[network]]\nname = \"dmz\"\naddress = \"10.98.98.1/24\"\naddress6 = \"fd98:98::1/64\"\n";

    #[test]
    fn a_dual_stack_network_and_host_validate() {
        let text = format!("{NET}[[host]]\nname = \"web1\"\nnetwork = \"dmz\"\naddresses = [\"10.98.98.10\", \"fd98:98::10\"]\n");
        let c = from_toml(&text, "t.toml").unwrap();
        assert_eq!(c.networks[0].address6.unwrap().to_string(), "fd98:98::1/64");
        assert_eq!(c.hosts[0].addresses.len(), 1);
        assert_eq!(c.hosts[0].addresses6[0].to_string(), "fd98:98::10");
    }

    #[test]
    fn bad_prefixes_and_addresses_are_named() {
        assert!(errors(&NET.replace("/64", "/48"))
            .contains("network[0].address6 = \"fd98:98::1/48\": has prefix length 48"));
        assert!(errors(&NET.replace("fd98:98::1/64", "fe80::1/64")).contains("link-local"));
        assert!(errors(&NET.replace("fd98:98::1/64", "fd98:98::/64")).contains("subnet-router anycast"));
        let two = format!(
            "{NET}[[network]]\nname = \"b\"\naddress = \"10.1.0.1/24\"\naddress6 = \"fd98:98::2/64\"\n"
        );
        assert!(errors(&two).contains(
            "network[1].address6 = \"fd98:98::2/64\": is in fd98:98::/64, the prefix of network[0]"
        ));
        let outside = format!("{NET}[[host]]\nname = \"w\"\nnetwork = \"dmz\"\naddresses = [\"fd99::10\"]\n");
        assert!(
            errors(&outside)
                .contains("host[0].addresses = [\"fd99::10\"]: holds fd99::10, outside network \"dmz\""),
            "{}",
            errors(&outside)
        );
        let no6 = "[[network]]\nname = \"dmz\"\naddress = \"10.98.98.1/24\"\n[[host]]\nname = \"w\"\nnetwork = \"dmz\"\naddresses = [\"fd98:98::10\"]\n";
        assert!(errors(no6).contains("has no address6"), "{}", errors(no6));
        let bad = format!("{NET}[[host]]\nname = \"w\"\nnetwork = \"dmz\"\naddresses = [\"fd98:98::zz\"]\n");
        assert!(
            errors(&bad).contains("is not an IPv6 address"),
            "{}",
            errors(&bad)
        );
    }
}
