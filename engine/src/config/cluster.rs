//! `[cluster]`: the same networks stretched over several dom0s, joined by VXLAN, so a VM
//! keeps its address and its zone when it moves to another member.
//!
//! Every member reads the same networks (the same file, but for `local`), so everything a
//! member must agree on with the others is *derived* from the network, never chosen per
//! host: the VNI and the VXLAN device's name from the network's name, and the gateway's MAC
//! (the anycast gateway: the same address and the same MAC on every member, so a VM that
//! moves keeps its ARP entry for the gateway).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The IANA VXLAN port (`dstport 4789`), what the Linux driver and FRR use.
pub const VXLAN_PORT: u16 = 4789;

/// How the members learn where a VM's MAC lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Control {
    /// Head-end replication to every other member and data-plane learning: no daemon,
    /// for small clusters.
    Static,
    /// BGP EVPN through FRR (bgpd + zebra), for large clusters.
    Evpn,
}

impl std::fmt::Display for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Control::Static => "static",
            Control::Evpn => "evpn",
        })
    }
}

/// One dom0 of the cluster and its underlay address (its VTEP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    pub address: IpAddr,
    /// With `control = "evpn"`: a BGP route reflector. Without any, every member holds a
    /// session to every other (a full mesh, n-1 sessions each); with some, a member that is
    /// not one holds sessions to the reflectors only, and they pass its routes on.
    #[serde(default)]
    pub route_reflector: bool,
}

/// A validated `[cluster]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    /// This host's member name (the file's `local`, else the host name).
    pub local: String,
    /// The interface that carries the overlay (the file's `underlay`, else the uplink).
    pub underlay: String,
    pub control: Control,
    /// The BGP autonomous system the members share (`control = "evpn"`; iBGP).
    #[serde(default = "default_asn")]
    pub asn: u32,
    pub members: Vec<Member>,
}

/// The AS number when the file gives none: a private one (RFC 6996), the one FRR's own
/// EVPN examples use.
pub const DEFAULT_ASN: u32 = 65000;

fn default_asn() -> u32 {
    DEFAULT_ASN
}

impl Cluster {
    /// This host's member (validation guarantees it exists).
    pub fn local_member(&self) -> Option<&Member> {
        self.members.iter().find(|m| m.name == self.local)
    }

    /// The other members' underlay addresses: where a flooded frame is replicated to.
    pub fn peers(&self) -> Vec<IpAddr> {
        self.members
            .iter()
            .filter(|m| m.name != self.local)
            .map(|m| m.address)
            .collect()
    }
}

/// FNV-1a: a stable hash every member computes alike (std's hasher is seeded per process).
fn fnv1a(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// The network's VXLAN network identifier: 24 bits derived from its name, so every member
/// agrees without a key to keep in sync (two names that meet are refused by validation).
pub fn vni(network: &str) -> u32 {
    let h = fnv1a(network.as_bytes());
    match (h ^ (h >> 24)) & 0x00ff_ffff {
        0 => 1,
        v => v,
    }
}

/// The VXLAN device of a network: `vx<vni>`, at most 10 bytes, the same on every member.
pub fn vxlan_name(vni: u32) -> String {
    format!("vx{vni}")
}

/// The bridge's MAC on a cluster network, the same on every member (an anycast gateway):
/// locally administered, unicast, `02:62:` ("b") and 32 bits derived from the name.
pub fn gateway_mac(network: &str) -> String {
    let h = fnv1a(format!("gateway:{network}").as_bytes()).to_be_bytes();
    format!("02:62:{:02x}:{:02x}:{:02x}:{:02x}", h[0], h[1], h[2], h[3])
}

/// The bytes VXLAN adds to every frame: outer IP, UDP, VXLAN header and inner Ethernet.
pub fn overhead(underlay: IpAddr) -> u32 {
    match underlay {
        IpAddr::V4(_) => 50,
        IpAddr::V6(_) => 70,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_fit_and_agree() {
        let v = vni("dmz");
        assert!((1..=0x00ff_ffff).contains(&v));
        assert_eq!(v, vni("dmz"), "stable");
        assert_ne!(v, vni("hosting"));
        assert!(vxlan_name(0x00ff_ffff).len() <= 15);
        let mac = gateway_mac("dmz");
        assert!(mac.starts_with("02:62:") && mac.len() == 17, "{mac}");
        assert_ne!(mac, gateway_mac("hosting"));
    }
}
