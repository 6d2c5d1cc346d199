//! The DHCP keys of a network (`dhcp`, `dhcp_range`) against the network and its hosts.
//!
//! A pool that reaches outside the subnet, or holds an address a `[[host]]` declares,
//! would make dnsmasq hand one VM's address to another: refused before anything starts.

use super::{Config, DhcpRange, Network};

/// One problem: the key, what is wrong, what would be right.
pub type Finding = (String, String, String);

/// Every problem with the DHCP keys of `config`'s networks.
pub fn check(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, n) in config.networks.iter().enumerate() {
        let Some(range) = n.dhcp_range else { continue };
        let key = format!("network[{i}].dhcp_range");
        if !n.dhcp {
            out.push((
                key,
                format!("is set but dhcp is not true for network {:?}", n.name),
                "add dhcp = true to serve the pool, or remove dhcp_range".into(),
            ));
            continue;
        }
        if let Some(problem) = outside(n, range) {
            out.push((
                key,
                problem,
                format!("use host addresses of {}, e.g. {}", n.subnet, example(n)),
            ));
            continue;
        }
        for h in config.hosts.iter().filter(|h| h.network == n.name) {
            if let Some(a) = h.addresses.iter().find(|a| range.contains(**a)) {
                out.push((
                    key.clone(),
                    format!(
                        "holds {a}, the address of host {:?}: dnsmasq could lease it to another VM",
                        h.name
                    ),
                    "start or end the pool so the declared hosts stay outside it".into(),
                ));
            }
        }
    }
    out
}

/// Why `range` is not a pool of host addresses of `n`, if it is not.
fn outside(n: &Network, range: DhcpRange) -> Option<String> {
    for a in [range.first, range.last] {
        if !n.subnet.contains(&a) {
            return Some(format!(
                "reaches {a}, outside network {:?} ({})",
                n.name, n.subnet
            ));
        }
        if a == n.subnet.network() || a == n.subnet.broadcast() {
            return Some(format!(
                "starts or ends at {a}, the network or broadcast address of {}",
                n.subnet
            ));
        }
    }
    None
}

/// A pool in the upper half of `n`, for hints.
fn example(n: &Network) -> String {
    let net = u32::from(n.subnet.network());
    let size = 1u32 << (32 - n.subnet.prefix_len());
    let first = std::net::Ipv4Addr::from(net + size / 2);
    let last = std::net::Ipv4Addr::from(net + size - 2);
    format!("\"{first}-{last}\"")
}
