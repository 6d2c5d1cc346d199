//! `[cluster]` against itself and the networks: members that can be told apart, one
//! address family on the underlay (IPv4 for EVPN), route reflectors only where BGP runs,
//! VNIs and VXLAN device names that meet nothing else.
//!
//! Whether the underlay interface exists and carries the local member's address is a fact
//! of the host, checked when `start` observes it (`plan::cluster`).

use std::collections::HashMap;

use super::check_interface_name;
use super::cluster::{vni, vxlan_name, Control};
use super::Config;

/// One problem: the key, what is wrong, what would be right.
pub type Finding = (String, String, String);

/// Every problem with `config`'s `[cluster]`.
pub fn check(config: &Config) -> Vec<Finding> {
    let Some(c) = &config.cluster else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, m) in c.members.iter().enumerate() {
        if c.control == Control::Static && m.route_reflector {
            out.push((
                format!("cluster.member[{i}].route_reflector"),
                "means nothing with control = \"static\" (no BGP runs)".into(),
                "remove it, or set control = \"evpn\" to run BGP EVPN through FRR".into(),
            ));
        }
        if c.control == Control::Evpn && m.address.is_ipv6() {
            out.push((
                format!("cluster.member[{i}].address"),
                "is an IPv6 address, and EVPN through FRR (8.4, Debian 12) runs VXLAN over an IPv4 underlay only".into(),
                "give the members IPv4 underlay addresses, or use control = \"static\" (which tunnels over IPv6 too)".into(),
            ));
        }
    }
    if !c.underlay.is_empty() {
        if let Err(p) = check_interface_name(&c.underlay) {
            out.push((
                "cluster.underlay".into(),
                p,
                "name the interface as `ip link` shows it, e.g. \"eth1\"".into(),
            ));
        }
    }
    if c.members.is_empty() {
        out.push((
            "cluster".into(),
            "has no [[cluster.member]]".into(),
            "list every dom0, this one included: [[cluster.member]] name = \"dom0-a\" address = \"192.0.2.11\"".into(),
        ));
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut addresses: HashMap<std::net::IpAddr, usize> = HashMap::new();
    for (i, m) in c.members.iter().enumerate() {
        if let Some(j) = names.insert(m.name.as_str(), i) {
            out.push((
                format!("cluster.member[{i}].name"),
                format!("is also the name of cluster.member[{j}]"),
                "give every member its own name".into(),
            ));
        }
        if let Some(j) = addresses.insert(m.address, i) {
            out.push((
                format!("cluster.member[{i}].address"),
                format!("is also the address of cluster.member[{j}]"),
                "give every member its own underlay address".into(),
            ));
        }
        let a = m.address;
        if a.is_unspecified() || a.is_loopback() || a.is_multicast() {
            out.push((
                format!("cluster.member[{i}].address"),
                "is not a unicast address another host can reach".into(),
                "use the member's address on the underlay, e.g. 192.0.2.11".into(),
            ));
        }
        if let Some(first) = c.members.first() {
            if first.address.is_ipv4() != a.is_ipv4() {
                out.push((
                    format!("cluster.member[{i}].address"),
                    "is not of the same IP version as cluster.member[0].address".into(),
                    "give every member an address of one family: the tunnels run over one".into(),
                ));
            }
        }
    }
    let mut vnis: HashMap<u32, &str> = HashMap::new();
    for (i, n) in config.networks.iter().enumerate() {
        let v = vni(&n.name);
        if let Some(other) = vnis.insert(v, &n.name) {
            out.push((
                format!("network[{i}].name"),
                format!("derives VNI {v}, as network {other:?} does"),
                "rename one of the two networks (the VNI is derived from the name)".into(),
            ));
        }
        if n.dhcp {
            out.push((
                format!("network[{i}].dhcp"),
                "cannot be served on a cluster network yet: each member's dnsmasq would lease from its own copy of the pool, and two VMs on two members could get one address".into(),
                "set dhcp = false and give the VMs their addresses ([[host]] addresses, or inside the VM) until pools are split between members".into(),
            ));
        }
        let dev = vxlan_name(v);
        let taken = config.networks.iter().any(|m| m.bridge == dev)
            || config.uplink.as_ref().is_some_and(|u| u.interface == dev)
            || c.underlay == dev;
        if taken {
            out.push((
                format!("network[{i}].name"),
                format!("needs the VXLAN device {dev:?}, a name this file gives to another interface"),
                "rename that interface or this network".into(),
            ));
        }
    }
    out
}
