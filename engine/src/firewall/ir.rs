//! The firewall IR: brouter's whole zone firewall as plain, backend-neutral data.
//!
//! One [`Ruleset`] is what the nftables backend renders, what the simulator holds as its
//! "ruleset" and what [`super::explain`] walks. It is resolved from the config (zones have
//! interfaces, forwards have addresses, unlisted pairs are absent) but says nothing about
//! *how* a backend implements it: a backend must give the semantics documented on each
//! type, and the evaluator is the executable form of those semantics.
//!
//! Dynamic state — which vif is bound to which MAC and addresses — is *not* part of the
//! ruleset: it arrives with Xen's hotplug ([`Binding`]) and is updated element by element.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

pub use crate::binding::{parse_entry, show as show_entry, Binding};
pub use crate::config::{Action, LogSettings, PortRange, Proto, Service};
use crate::config::{ZONE_DOM0, ZONE_EXTERNAL};

/// brouter's whole firewall, applied atomically. Invariant: every name in `policies`
/// is `external`, `dom0` or the name of one of `networks`; at most one policy per pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ruleset {
    /// What the `external` zone is.
    pub external: External,
    /// One zone per brouter network, in config order.
    pub networks: Vec<NetZone>,
    /// The listed zone pairs. A pair that is not listed drops, except a zone to itself
    /// (accepted: it is bridged traffic the kernel may show to the IP hooks) and the host's
    /// own uplink traffic (`external`↔`dom0`), which brouter judges only when listed.
    pub policies: Vec<PairPolicy>,
    /// DNAT from the uplink (and hairpin from the networks) to VMs.
    pub forwards: Vec<PortForward>,
    /// The declared hosts: on anti-spoofing networks, the binding each gets when its vif
    /// comes online. The live bindings themselves are dynamic ([`Binding`]).
    pub hosts: Vec<DeclaredHost>,
    /// The drop log: `drops` logs what unlisted pairs drop (a listed pair says it in its
    /// own `log`); `rate` limits each log rule.
    #[serde(default)]
    pub log: LogSettings,
}

/// The `external` zone: the uplink NIC, or — with no uplink configured (Xen mode) —
/// every interface that is not a brouter bridge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "interface")]
pub enum External {
    /// Exactly this interface.
    Uplink(String),
    /// Any interface that is not one of the networks' bridges.
    #[default]
    AnyOther,
}

/// A network as a zone: its bridge is the zone's only interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetZone {
    pub name: String,
    pub bridge: String,
    /// The bridge's own address (a dom0 address: traffic to it is input, not forwarded).
    pub address: Ipv4Net,
    /// The routed network behind the bridge.
    pub subnet: Ipv4Net,
    /// New connections from `subnet` leaving through `external` get the outgoing
    /// interface's address as source.
    pub masquerade: bool,
    /// Bound vifs of this network may only send from their MAC and addresses.
    pub antispoof: bool,
    /// brouter's dnsmasq serves this bridge: DHCP (udp 67) and DNS (udp/tcp 53) from the
    /// network to the dom0, and DHCP replies (udp 68) back, pass whatever the zone
    /// policies say (a VM must get its address before any policy can name it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dhcp: bool,
    /// The bridge's IPv6 address and /64, if the network is dual stack: neighbour
    /// discovery with the dom0 always passes, and a unique-local prefix is masqueraded
    /// like `subnet` when `masquerade` is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address6: Option<ipnet::Ipv6Net>,
    /// On a `[cluster]` member: the network's VXLAN port and the anycast gateway's MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlay: Option<Overlay>,
}

/// A cluster network's overlay as the anti-spoofing table sees it: the VXLAN port (the
/// other members' VMs, each judged by anti-spoofing on its own member, so never fenced
/// off here) and the gateway MAC every member's bridge answers with — a frame from the
/// overlay with that source is another member's gateway talking (ARP replies, router
/// advertisements, duplicate address detection) and is dropped, so each VM hears its own
/// member's gateway only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overlay {
    pub port: String,
    pub gateway_mac: String,
    /// This member's underlay address: a forwarded connection into the network leaves
    /// from it (SNAT), so the VM's reply comes back to the member that translated it,
    /// wherever the VM is attached.
    pub member: std::net::IpAddr,
}

impl NetZone {
    /// Whether `a` is in this network's IPv6 /64 (false for a network without IPv6).
    pub fn holds6(&self, a: std::net::Ipv6Addr) -> bool {
        self.address6.is_some_and(|p| p.trunc().contains(&a))
    }

    /// Whether `a` is in this network (its IPv4 subnet or its IPv6 /64).
    pub fn holds(&self, a: std::net::IpAddr) -> bool {
        match a {
            std::net::IpAddr::V4(v4) => self.subnet.contains(&v4),
            std::net::IpAddr::V6(v6) => self.holds6(v6),
        }
    }

    /// The bridge's own address in `a`'s family (`None`: the network has no IPv6).
    pub fn own_address(&self, v6: bool) -> Option<std::net::IpAddr> {
        match v6 {
            false => Some(self.address.addr().into()),
            true => self.address6.map(|a| a.addr().into()),
        }
    }
}

/// The decision for one ordered zone pair (new connections only; replies of accepted
/// connections are always accepted, invalid packets always dropped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairPolicy {
    pub from: String,
    pub to: String,
    pub action: Action,
    /// Empty: `action` applies to all traffic. Otherwise to these services; the rest drops.
    pub services: Vec<Service>,
    /// Log (rate-limited) what this policy drops or rejects.
    pub log: bool,
}

/// A port forward: new tcp/udp connections to a dom0 address that is not a bridge
/// address (in practice the uplink's) on `ports` go to `addr`, on `to_port` if given
/// (every port of a range then goes to that one port), else on the same port. A forward
/// implies its accept, and the client's source address is kept — except for hairpin
/// (the client is itself on a brouter network): then the source becomes the address of
/// the bridge the server sits behind, so the reply comes back through the dom0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortForward {
    pub proto: Proto,
    pub ports: PortRange,
    pub addr: Ipv4Addr,
    /// The same host's IPv6 address (its first), when the forward names a host that has
    /// one on a dual-stack network: IPv6 connections to the uplink go there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr6: Option<std::net::Ipv6Addr>,
    pub to_port: Option<u16>,
    /// The host name the config used, for traces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// A declared host: on an anti-spoofing network, what its vif is allowed to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredHost {
    pub name: String,
    pub network: String,
    /// Required on anti-spoofing networks (validation checks it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    pub addrs: Vec<Ipv4Addr>,
    /// Its IPv6 addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addrs6: Vec<std::net::Ipv6Addr>,
}

/// How a pair of zones is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairDecision<'a> {
    /// A listed policy.
    Listed(&'a PairPolicy),
    /// The same zone on both sides: accepted.
    SameZone,
    /// `external`↔`dom0` without a policy: the host's own traffic, left to the host firewall.
    NotJudged,
    /// Not listed: dropped.
    Unlisted,
}

impl Ruleset {
    /// A stable digest of the ruleset (bindings are not part of it); the backend stores
    /// it with the tables so a converged `start` can compare instead of rewriting.
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_string(self).expect("ruleset serialises");
        format!("{:016x}", super::digest64(json.as_bytes()))
    }

    pub fn network(&self, name: &str) -> Option<&NetZone> {
        self.networks.iter().find(|n| n.name == name)
    }

    /// The network whose bridge is `iface`.
    pub fn network_by_bridge(&self, iface: &str) -> Option<&NetZone> {
        self.networks.iter().find(|n| n.bridge == iface)
    }

    /// The network whose subnet holds `addr`.
    pub fn network_of(&self, addr: Ipv4Addr) -> Option<&NetZone> {
        self.networks.iter().find(|n| n.subnet.contains(&addr))
    }

    /// The network whose subnet (IPv4) or /64 (IPv6, `address6`) holds `addr`.
    pub fn network_of_ip(&self, addr: std::net::IpAddr) -> Option<&NetZone> {
        match addr {
            std::net::IpAddr::V4(a) => self.network_of(a),
            std::net::IpAddr::V6(a) => self.networks.iter().find(|n| n.holds6(a)),
        }
    }

    /// The uplink interface, if one is configured.
    pub fn uplink(&self) -> Option<&str> {
        match &self.external {
            External::Uplink(i) => Some(i),
            External::AnyOther => None,
        }
    }

    /// The zone an interface belongs to, or `None` for an interface that is in no zone
    /// (with an uplink configured, any other non-bridge interface).
    pub fn zone_of_interface(&self, iface: &str) -> Option<&str> {
        if let Some(n) = self.network_by_bridge(iface) {
            return Some(&n.name);
        }
        match &self.external {
            External::Uplink(u) if u == iface => Some(ZONE_EXTERNAL),
            External::Uplink(_) => None,
            External::AnyOther => Some(ZONE_EXTERNAL),
        }
    }

    pub fn policy(&self, from: &str, to: &str) -> Option<&PairPolicy> {
        self.policies.iter().find(|p| p.from == from && p.to == to)
    }

    /// How new connections from zone `from` to zone `to` are decided.
    pub fn decide(&self, from: &str, to: &str) -> PairDecision<'_> {
        decision(self.policy(from, to), from, to)
    }

    /// The kernel-log prefix of what the pair `from → to` refuses with `action`
    /// (`brouter drop dmz->data `), if that is logged: a listed pair with `log` that
    /// drops or rejects, or an unlisted pair under `[log] drops = true`. The trailing
    /// space keeps the kernel's `IN=` apart from the prefix.
    pub fn log_prefix(&self, from: &str, to: &str, action: Action) -> Option<String> {
        let logged = match self.decide(from, to) {
            PairDecision::Listed(p) => p.log && action != Action::Accept,
            PairDecision::Unlisted => self.log.drops && action == Action::Drop,
            PairDecision::SameZone | PairDecision::NotJudged => false,
        };
        logged.then(|| log_prefix(from, to, action))
    }

    /// Whether the host's own traffic on the uplink in this direction is judged
    /// (only when the config lists `external → dom0` / `dom0 → external`).
    pub fn judges_host_uplink(&self, from: &str, to: &str) -> bool {
        self.policy(from, to).is_some()
    }

    /// The subnets whose connections are masqueraded when they leave through `external`.
    pub fn masquerade_sources(&self) -> impl Iterator<Item = Ipv4Net> + '_ {
        self.networks.iter().filter(|n| n.masquerade).map(|n| n.subnet)
    }

    /// The IPv6 prefixes masqueraded to the uplink's address: the unique-local (fc00::/7)
    /// ones of masquerading networks. A global prefix is routed as it is.
    pub fn masquerade_sources6(&self) -> impl Iterator<Item = ipnet::Ipv6Net> + '_ {
        self.networks
            .iter()
            .filter(|n| n.masquerade)
            .filter_map(|n| n.address6.map(|a| a.trunc()))
            .filter(|p| p.addr().segments()[0] & 0xfe00 == 0xfc00)
    }

    /// Whether any forward has an IPv6 target.
    pub fn forwards_ipv6(&self) -> bool {
        self.forwards.iter().any(|f| f.addr6.is_some())
    }

    /// Whether any network is dual stack.
    pub fn has_ipv6(&self) -> bool {
        self.networks.iter().any(|n| n.address6.is_some())
    }

    /// The forward for an external `proto`/`port`, if any.
    pub fn forward_for(&self, proto: Proto, port: u16) -> Option<&PortForward> {
        self.forwards
            .iter()
            .find(|f| f.proto == proto && f.ports.contains(port))
    }

    /// The declared host with this MAC.
    pub fn host_by_mac(&self, mac: &str) -> Option<&DeclaredHost> {
        self.hosts
            .iter()
            .find(|h| h.mac.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(mac)))
    }

    pub fn host(&self, name: &str) -> Option<&DeclaredHost> {
        self.hosts.iter().find(|h| h.name == name)
    }
}

/// How the pair `from → to` is decided, given its listed policy (if any): shared by
/// [`Ruleset::decide`] and [`super::ZoneIndex::decide`], which differ only in the lookup.
pub(super) fn decision<'a>(listed: Option<&'a PairPolicy>, from: &str, to: &str) -> PairDecision<'a> {
    if let Some(p) = listed {
        return PairDecision::Listed(p);
    }
    if from == to {
        return PairDecision::SameZone;
    }
    let host_uplink =
        (from == ZONE_EXTERNAL && to == ZONE_DOM0) || (from == ZONE_DOM0 && to == ZONE_EXTERNAL);
    if host_uplink {
        PairDecision::NotJudged
    } else {
        PairDecision::Unlisted
    }
}

impl PairPolicy {
    /// The verdict for one new connection, and the service that decided it (if any).
    pub fn verdict_for(&self, proto: FlowProto, port: Option<u16>) -> (Action, Option<Service>) {
        if self.services.is_empty() {
            return (self.action, None);
        }
        match self.services.iter().find(|s| service_matches(s, proto, port)) {
            Some(s) => (self.action, Some(*s)),
            None => (Action::Drop, None),
        }
    }
}

/// The kernel-log prefix for `action` on the pair `from → to`: `brouter drop dmz->data `.
/// `journalctl -k | grep 'brouter drop'` finds these lines.
pub fn log_prefix(from: &str, to: &str, action: Action) -> String {
    format!("brouter {action} {from}->{to} ")
}

/// The protocols a flow may have (`explain --proto`); ARP is for anti-spoofing flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowProto {
    Tcp,
    Udp,
    Icmp,
    Arp,
}

impl std::fmt::Display for FlowProto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FlowProto::Tcp => "tcp",
            FlowProto::Udp => "udp",
            FlowProto::Icmp => "icmp",
            FlowProto::Arp => "arp",
        })
    }
}

impl FlowProto {
    /// The forwardable protocol, for tcp and udp.
    pub fn l4(self) -> Option<Proto> {
        match self {
            FlowProto::Tcp => Some(Proto::Tcp),
            FlowProto::Udp => Some(Proto::Udp),
            _ => None,
        }
    }
}

/// Whether a service covers a flow. A tcp/udp flow without a port matches no port service.
pub fn service_matches(s: &Service, proto: FlowProto, port: Option<u16>) -> bool {
    match (s, proto) {
        (Service::Tcp(r), FlowProto::Tcp) | (Service::Udp(r), FlowProto::Udp) => {
            port.is_some_and(|p| r.contains(p))
        }
        (Service::Icmp, FlowProto::Icmp) => true,
        _ => false,
    }
}
