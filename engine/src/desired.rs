//! The compiler: a validated [`Config`] → the kernel state that should exist.
//!
//! Pure and total: every `Config` compiles (validation already rejected what cannot).

use std::net::IpAddr;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::config::{Config, Mode};
use crate::firewall::Ruleset;
use crate::model::{BridgeOptions, IP_FORWARD};

/// Which of brouter's objects a run may remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Everything brouter owns (a config file describes the whole host).
    All,
    /// Only these bridges and what brouter put on them (Xen mode: one bridge per call).
    Bridges(Vec<String>),
}

impl Scope {
    pub fn includes(&self, link: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Bridges(b) => b.iter().any(|x| x == link),
        }
    }
}

/// A bridge brouter wants, and the network it belongs to (its ownership mark).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredBridge {
    pub name: String,
    pub network: String,
    pub options: BridgeOptions,
    /// The network does anti-spoofing: its unbound ports are disabled (see
    /// [`crate::port_block`]).
    #[serde(default)]
    pub antispoof: bool,
}

/// An address brouter wants on a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredAddress {
    pub link: String,
    pub addr: Ipv4Net,
}

/// An IPv6 address brouter wants on a link (a bridge's `address6`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredAddress6 {
    pub link: String,
    pub addr: Ipv6Net,
}

/// A link-scope route `dst dev <dev>` brouter wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredRoute {
    pub dst: Ipv4Net,
    pub dev: String,
}

/// A network's VXLAN device on a cluster member: a port of the network's bridge that
/// carries its frames to the other members (`[cluster]`), made and owned by brouter
/// (`ifalias` `brouter-vxlan:<network>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredVxlan {
    /// `vx<vni>` ([`crate::config::cluster::vxlan_name`]).
    pub name: String,
    pub network: String,
    pub bridge: String,
    pub vni: u32,
    /// This member's underlay address (the tunnels' source).
    pub local: IpAddr,
    /// The interface the tunnels leave by: its MTU less the VXLAN overhead is the device's.
    pub underlay: String,
    /// The other members: every flooded frame (ARP, DHCP, unknown unicast) is sent to each
    /// (head-end replication, one all-zero FDB entry per member). Empty under EVPN, where
    /// FRR writes those entries from the members' routes.
    pub remotes: Vec<IpAddr>,
    /// Data-plane learning: on with static control, off under EVPN (FRR writes the
    /// remote MACs, and brouter leaves the device's FDB to it).
    #[serde(default = "crate::model::yes")]
    pub learning: bool,
    /// The bridge's MAC, the same on every member (an anycast gateway).
    pub gateway_mac: String,
    /// The declared hosts of the network (address, MAC): neighbour entries on the bridge.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub neighbours: Vec<(IpAddr, String)>,
}

/// Everything that should exist once `start` has converged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desired {
    /// What this configuration is allowed to remove: everything brouter owns (a config
    /// file describes the whole host), or only its own bridges (Xen mode, where each
    /// `network-script` call describes one bridge, as the seed script did).
    pub scope: Scope,
    pub bridges: Vec<DesiredBridge>,
    pub addresses: Vec<DesiredAddress>,
    /// The bridges' IPv6 addresses (the kernel adds their /64 route itself).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses6: Vec<DesiredAddress6>,
    pub routes: Vec<DesiredRoute>,
    /// `(key, value)` in dotted form (`net.ipv4.ip_forward`).
    pub sysctls: Vec<(String, String)>,
    /// brouter's firewall (the IR of [`crate::firewall`]); `None` means brouter manages
    /// no firewall (kept for tests and backends without one).
    pub firewall: Option<Ruleset>,
    /// The fingerprint of `firewall`, computed once. It outlives the ruleset in a
    /// [`Desired::summary`]: a converged `start` only compares fingerprints.
    #[serde(default)]
    pub firewall_fingerprint: Option<String>,
    /// Facts brouter keeps in its memory while started, `(key, value)`: in Xen mode, the
    /// network-script words of each bridge (`xen:<bridge>`), so the vif hotplug hook,
    /// which xl calls without them, knows the network (anti-spoofing, addresses).
    #[serde(default)]
    pub notes: Vec<(String, String)>,
    /// The configured uplink interface (none in Xen mode): kept in the summary so a
    /// converged `start` answered from the cache still warns when it is missing or down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink: Option<String>,
    /// The dnsmasq serving DHCP and DNS on the `dhcp = true` networks, if any. Kept in
    /// the summary: a converged `start` checks the running process too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp: Option<crate::dhcp::DesiredDhcp>,
    /// The networks' VXLAN devices on a `[cluster]` member (empty without one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vxlans: Vec<DesiredVxlan>,
    /// The FRR of an EVPN cluster member (`control = "evpn"`), if this is one. Kept in the
    /// summary: a converged `start` checks the running daemons too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<crate::routing::DesiredRouting>,
}

impl Desired {
    /// Everything but the firewall ruleset itself (kept: its fingerprint). Small enough to
    /// cache between runs; plans a converged system as well as the whole, and answers
    /// [`crate::PlanError::NeedsRuleset`] when the tables must be rewritten.
    pub fn summary(&self) -> Desired {
        Desired {
            scope: self.scope.clone(),
            bridges: self.bridges.clone(),
            addresses: self.addresses.clone(),
            addresses6: self.addresses6.clone(),
            routes: self.routes.clone(),
            sysctls: self.sysctls.clone(),
            firewall: None,
            firewall_fingerprint: self.firewall_fingerprint.clone(),
            notes: self.notes.clone(),
            uplink: self.uplink.clone(),
            dhcp: self.dhcp.clone(),
            vxlans: self.vxlans.clone(),
            routing: self.routing.clone(),
        }
    }
}

/// Memory key of a Xen-mode bridge's network-script words.
pub fn xen_note_key(bridge: &str) -> String {
    format!("xen:{bridge}")
}

/// The sysctls a configuration needs: IPv4 forwarding; with an `address6`, IPv6
/// forwarding too, after the uplink is told to keep accepting router advertisements
/// (`accept_ra = 2`), so the dom0 keeps its own IPv6 default route.
fn sysctls(config: &Config) -> Vec<(String, String)> {
    let mut out = vec![(IP_FORWARD.to_string(), "1".to_string())];
    if config.networks.iter().any(|n| n.address6.is_some()) {
        if let Some(u) = &config.uplink {
            out.push((crate::model::accept_ra_key(&u.interface), "2".to_string()));
        }
        out.push((crate::model::IPV6_FORWARD.to_string(), "1".to_string()));
    }
    if config.cluster.is_some() {
        // A flow routed on another member arrives here bridged: conntrack must see it, or
        // the reply this member routes back is a stranger to it (docs/cluster.md).
        for key in crate::model::BRIDGE_NF_CALL {
            out.push((key.to_string(), "1".to_string()));
        }
    }
    out
}

/// One VXLAN device per network on a cluster member.
fn vxlans(config: &Config) -> Vec<DesiredVxlan> {
    use crate::config::cluster::{gateway_mac, vni, vxlan_name};
    let Some(c) = &config.cluster else {
        return Vec::new();
    };
    let Some(me) = c.local_member() else {
        return Vec::new();
    };
    let evpn = c.control == crate::config::cluster::Control::Evpn;
    config
        .networks
        .iter()
        .map(|n| {
            let vni = vni(&n.name);
            DesiredVxlan {
                name: vxlan_name(vni),
                network: n.name.clone(),
                bridge: n.bridge.clone(),
                vni,
                local: me.address,
                underlay: c.underlay.clone(),
                remotes: if evpn { Vec::new() } else { c.peers() },
                learning: !evpn,
                gateway_mac: gateway_mac(&n.name),
                neighbours: config
                    .hosts
                    .iter()
                    .filter(|h| h.network == n.name)
                    .filter_map(|h| Some((h, h.mac.as_ref()?)))
                    .flat_map(|(h, mac)| {
                        let v4 = h.addresses.iter().map(|a| IpAddr::V4(*a));
                        let v6 = h.addresses6.iter().map(|a| IpAddr::V6(*a));
                        v4.chain(v6).map(move |a| (a, mac.to_ascii_lowercase()))
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Compile a configuration to the state it asks for.
pub fn compile(config: &Config) -> Desired {
    let scope = match config.mode {
        Mode::File => Scope::All,
        Mode::Xen => Scope::Bridges(config.networks.iter().map(|n| n.bridge.clone()).collect()),
    };
    let bridges = config
        .networks
        .iter()
        .map(|n| DesiredBridge {
            name: n.bridge.clone(),
            network: n.name.clone(),
            options: BridgeOptions {
                stp: n.stp,
                forward_delay: n.forward_delay,
            },
            antispoof: n.antispoof,
        })
        .collect();
    let addresses = config
        .networks
        .iter()
        .map(|n| DesiredAddress {
            link: n.bridge.clone(),
            addr: n.address,
        })
        .collect();
    let routes = config
        .networks
        .iter()
        .map(|n| DesiredRoute {
            dst: n.subnet,
            dev: n.bridge.clone(),
        })
        .collect();
    let ruleset = crate::firewall::compile(config);
    Desired {
        uplink: config.uplink.as_ref().map(|u| u.interface.clone()),
        dhcp: crate::dhcp::compile(config),
        vxlans: vxlans(config),
        routing: crate::routing::compile(config.cluster.as_ref()),
        scope,
        bridges,
        addresses,
        addresses6: config
            .networks
            .iter()
            .filter_map(|n| {
                n.address6.map(|a| DesiredAddress6 {
                    link: n.bridge.clone(),
                    addr: a,
                })
            })
            .collect(),
        routes,
        sysctls: sysctls(config),
        firewall_fingerprint: Some(ruleset.fingerprint()),
        firewall: Some(ruleset),
        notes: match config.mode {
            Mode::File => Vec::new(),
            Mode::Xen => config
                .networks
                .iter()
                .map(|n| (xen_note_key(&n.bridge), crate::config::xen_words(n).join(" ")))
                .collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_xen_words;

    #[test]
    fn seed_compiles_to_bridge_address_route_forwarding() {
        let c = from_xen_words(&["bridgeip=10.98.98.1/24", "brnet=10.98.98.0/24"]).unwrap();
        let d = compile(&c);
        assert_eq!(d.bridges[0].name, "xenbr0");
        assert_eq!(
            d.bridges[0].options,
            BridgeOptions {
                stp: false,
                forward_delay: 0
            }
        );
        assert_eq!(d.addresses[0].addr.to_string(), "10.98.98.1/24");
        assert_eq!(d.routes[0].dst.to_string(), "10.98.98.0/24");
        assert_eq!(
            d.sysctls,
            vec![("net.ipv4.ip_forward".to_string(), "1".to_string())]
        );
        assert_eq!(d.scope, Scope::Bridges(vec!["xenbr0".into()]));
    }
}
