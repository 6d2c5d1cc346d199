//! The planner's vocabulary: one kernel (or memory) operation per [`Op`], each one
//! backend call, and how it reads in a plan.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::config::{PortRange, Proto};
use crate::firewall::{Binding, Ruleset};
use crate::model::{BridgeOptions, PortState};

use super::elements::SetDelta;

/// One kernel operation. Each maps to exactly one [`crate::NetBackend`] call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    CreateBridge {
        name: String,
        network: String,
        options: BridgeOptions,
    },
    DeleteLink {
        name: String,
    },
    SetMaster {
        link: String,
        master: Option<String>,
    },
    SetUp {
        link: String,
        up: bool,
    },
    AddAddress {
        link: String,
        addr: Ipv4Net,
    },
    DeleteAddress {
        link: String,
        addr: Ipv4Net,
    },
    /// Add an IPv6 address stamped as brouter's, usable at once (no duplicate address
    /// detection: the bridge's own address on a link only brouter's VMs share).
    AddAddress6 {
        link: String,
        addr: Ipv6Net,
    },
    DeleteAddress6 {
        link: String,
        addr: Ipv6Net,
    },
    AddRoute {
        dst: Ipv4Net,
        dev: String,
    },
    DeleteRoute {
        dst: Ipv4Net,
        dev: String,
    },
    SetSysctl {
        key: String,
        value: String,
    },
    Remember {
        key: String,
        value: String,
    },
    Forget {
        key: String,
    },
    ReplaceFirewall {
        fingerprint: String,
        ruleset: Box<Ruleset>,
        /// The anti-spoofing bindings of attached vifs, re-inserted with the tables.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        bindings: Vec<Binding>,
    },
    /// Bring brouter's tables to `ruleset` by adding and deleting elements of their named
    /// sets and maps, in one transaction, and stamp them with `fingerprint`: what the
    /// planner chooses when the read-back found only elements different (a forward or
    /// host changed, a map element edited). Tables, chains, rules and their counters stay.
    UpdateFirewallElements {
        fingerprint: String,
        /// The ruleset the update leads to (the simulator keeps it; the kernel backend
        /// takes the stamped rules from it). Not in a plan's JSON: the op is the elements
        /// that change, and printing a 10,000-forward ruleset for one changed port would
        /// make `start --json` cost as much as a replacement; `fingerprint` names it.
        #[serde(skip_serializing, default)]
        ruleset: Box<Ruleset>,
        sets: Vec<SetDelta>,
    },
    DeleteFirewall,
    RenameLink {
        link: String,
        new_name: String,
    },
    /// Create a cluster network's VXLAN device (`[cluster]`): tunnels from `local` over
    /// `underlay` to UDP `port`, marked `brouter-vxlan:<network>`; `learning` (static
    /// control) or not (EVPN: FRR writes where each MAC is). Attaching and raising it are
    /// ops of their own.
    CreateVxlan {
        name: String,
        network: String,
        vni: u32,
        local: IpAddr,
        underlay: String,
        port: u16,
        #[serde(default = "learning_default")]
        learning: bool,
    },
    /// Delete a VXLAN device brouter made (its FDB goes with it).
    DeleteVxlan {
        name: String,
    },
    /// Send the device's flooded frames to `dst` too (head-end replication: `bridge fdb
    /// append 00:00:00:00:00:00 dev <link> dst <dst>`).
    AddFlood {
        link: String,
        dst: IpAddr,
    },
    /// Stop flooding to a member that left the cluster.
    DeleteFlood {
        link: String,
        dst: IpAddr,
    },
    /// Add (or correct) a permanent neighbour entry stamped as brouter's.
    SetNeighbour {
        link: String,
        ip: IpAddr,
        mac: String,
    },
    /// Delete brouter's neighbour entry for `ip` on `link`.
    DeleteNeighbour {
        link: String,
        ip: IpAddr,
    },
    SetMac {
        link: String,
        mac: String,
    },
    SetMtu {
        link: String,
        mtu: u32,
    },
    /// Delete every IPv6 address of a link (the kernel's link-local one included), as
    /// vif-bridge's `ip address flush` does. One op, not one per address: brouter's model
    /// reads IPv4 addresses only, and a vif netback made carries none of its own.
    FlushIpv6 {
        link: String,
    },
    /// Mark a bridge brouter made with its `ifalias` (`brouter:<network>`) again.
    SetAlias {
        link: String,
        alias: String,
    },
    /// Turn a bridge's spanning tree on or off. A message of its own: the kernel refuses
    /// (ERANGE) STP off and forward delay 0 in one message, so the planner orders the two.
    SetStp {
        link: String,
        stp: bool,
    },
    /// Set a bridge's forward delay (seconds).
    SetForwardDelay {
        link: String,
        seconds: u32,
    },
    /// Bind a vif to its MAC and addresses (anti-spoofing), as one set-element update.
    AddBinding {
        binding: Binding,
    },
    RemoveBinding {
        vif: String,
    },
    /// Set the STP state of `port`, a port of `bridge` (`IFLA_BRPORT_STATE`): `disabled`
    /// for an unbound port of an anti-spoofing bridge (it then reaches nothing, the dom0
    /// included), `forwarding` when `vif online` has bound it (or `stop` hands it back).
    SetPortState {
        port: String,
        bridge: String,
        state: PortState,
    },
    /// Forget the connection-tracking entries that `flows` now forward but the kernel
    /// still sends elsewhere: flows to one of the dom0 addresses `to` on a forwarded port,
    /// except those already translated to the forward's target. The kernel NATs a flow
    /// once, on its first packet: a UDP flow that reached the dom0 before its forward
    /// existed (a game or VoIP client that keeps sending) would never be forwarded
    /// otherwise. One op, one pass over the conntrack table, however many forwards.
    ///
    /// Both families: `to6` are the dom0's IPv6 addresses forwards apply to (the
    /// uplink's), for the forwards that also DNAT IPv6 (`StaleFlow::addr6`); empty when
    /// none does, and then IPv6 flows are left alone (no IPv6 rule would catch them).
    FlushConntrack {
        to: Vec<Ipv4Addr>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        to6: Vec<Ipv6Addr>,
        flows: Vec<StaleFlow>,
    },
    /// Write brouter's dnsmasq files (static leases, host names; see [`crate::dhcp`]),
    /// creating its directory. A running dnsmasq sees them after [`Op::ReloadDhcp`].
    WriteDhcpFiles {
        files: BTreeMap<String, String>,
    },
    /// Run brouter's dnsmasq with `options`, loading the files as they are now, and stamp
    /// it as having loaded `digest`. `restart`: end the instance brouter started before
    /// (its options differ); the leases it gave stay in its lease file.
    StartDhcp {
        options: Vec<String>,
        digest: String,
        restart: bool,
    },
    /// Make the running dnsmasq re-read its files (SIGHUP) and stamp `digest`.
    ReloadDhcp {
        digest: String,
    },
    /// End brouter's dnsmasq and remove its directory (files, leases, pid file).
    StopDhcp,
    /// Run brouter's FRR (zebra, then bgpd) with `config` as its `frr.conf`, and stamp it
    /// as holding `digest`. `restart`: end the daemons brouter started before first (a
    /// zebra that ends withdraws the FDB entries it wrote: the overlay pauses until the
    /// sessions are up again, about a second).
    StartRouting {
        config: String,
        digest: String,
        /// How many BGP sessions the config holds (for the plan's reader).
        peers: usize,
        restart: bool,
    },
    /// Change the running FRR's BGP sessions in place (`commands`, one `vtysh -c` each),
    /// write `config` as its `frr.conf` and stamp `digest`: a member joining or leaving
    /// costs no restart.
    ReloadRouting {
        config: String,
        digest: String,
        commands: Vec<String>,
    },
    /// End brouter's FRR (bgpd, zebra) and remove its directory.
    StopRouting,
}

fn learning_default() -> bool {
    true
}

/// One forward whose stale flows [`Op::FlushConntrack`] forgets: `proto` flows to a port in
/// `ports`, except those already going to `addr` (`to_port`, or the same port) — or, over
/// IPv6, to `addr6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleFlow {
    pub proto: Proto,
    pub ports: PortRange,
    pub addr: Ipv4Addr,
    /// The forward's IPv6 target (its host's IPv6 address), when it forwards IPv6 too:
    /// only then are IPv6 flows to the dom0 on its ports stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr6: Option<Ipv6Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_port: Option<u16>,
}

impl Op {
    /// Whether this op writes to the kernel (as opposed to brouter's own memory).
    pub fn is_kernel_write(&self) -> bool {
        !matches!(self, Op::Remember { .. } | Op::Forget { .. })
    }

    /// The one link this op is about, if it is about one (a bridge, a vif, the device of
    /// a route; a `xen:`/`link-up:` note names its bridge). Host-wide ops (the firewall,
    /// a sysctl, conntrack) name none: `status vifnum=1` counts the drift of the bridge it
    /// was asked about plus these, never that of another Xen bridge.
    pub fn link(&self) -> Option<&str> {
        match self {
            Op::CreateBridge { name, .. }
            | Op::DeleteLink { name }
            | Op::CreateVxlan { name, .. }
            | Op::DeleteVxlan { name } => Some(name),
            Op::AddFlood { link, .. }
            | Op::DeleteFlood { link, .. }
            | Op::SetNeighbour { link, .. }
            | Op::DeleteNeighbour { link, .. } => Some(link),
            Op::SetMaster { link, .. }
            | Op::SetUp { link, .. }
            | Op::AddAddress { link, .. }
            | Op::DeleteAddress { link, .. }
            | Op::AddAddress6 { link, .. }
            | Op::DeleteAddress6 { link, .. }
            | Op::RenameLink { link, .. }
            | Op::SetMac { link, .. }
            | Op::SetMtu { link, .. }
            | Op::FlushIpv6 { link }
            | Op::SetAlias { link, .. }
            | Op::SetStp { link, .. }
            | Op::SetForwardDelay { link, .. } => Some(link),
            Op::AddRoute { dev, .. } | Op::DeleteRoute { dev, .. } => Some(dev),
            Op::AddBinding { binding } => Some(&binding.vif),
            Op::RemoveBinding { vif } => Some(vif),
            Op::SetPortState { port, .. } => Some(port),
            Op::Remember { key, .. } | Op::Forget { key } => key.split_once(':').map(|(_, l)| l),
            Op::SetSysctl { .. }
            | Op::ReplaceFirewall { .. }
            | Op::UpdateFirewallElements { .. }
            | Op::DeleteFirewall
            | Op::FlushConntrack { .. }
            | Op::WriteDhcpFiles { .. }
            | Op::StartDhcp { .. }
            | Op::ReloadDhcp { .. }
            | Op::StopDhcp
            | Op::StartRouting { .. }
            | Op::ReloadRouting { .. }
            | Op::StopRouting => None,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::CreateBridge {
                name,
                network,
                options,
            } => write!(
                f,
                "create bridge {name} for network {network} (stp {}, forward delay {}s)",
                if options.stp { "on" } else { "off" },
                options.forward_delay
            ),
            Op::DeleteLink { name } => write!(f, "delete bridge {name}"),
            Op::SetMaster {
                link,
                master: Some(m),
            } => write!(f, "attach {link} to {m}"),
            Op::SetMaster { link, master: None } => write!(f, "detach {link} from its bridge"),
            Op::SetUp { link, up } => write!(f, "set {link} {}", if *up { "up" } else { "down" }),
            Op::AddAddress { link, addr } => write!(f, "add address {addr} to {link}"),
            Op::DeleteAddress { link, addr } => write!(f, "delete address {addr} from {link}"),
            Op::AddAddress6 { link, addr } => write!(f, "add address {addr} to {link}"),
            Op::DeleteAddress6 { link, addr } => write!(f, "delete address {addr} from {link}"),
            Op::AddRoute { dst, dev } => write!(f, "add route {dst} dev {dev}"),
            Op::DeleteRoute { dst, dev } => write!(f, "delete route {dst} dev {dev}"),
            Op::SetSysctl { key, value } => write!(f, "set sysctl {key} = {value}"),
            Op::Remember { key, value } => write!(f, "remember {key} = {value} (to restore on stop)"),
            Op::Forget { key } => write!(f, "forget {key}"),
            Op::ReplaceFirewall { fingerprint, bindings, .. } if !bindings.is_empty() => write!(
                f,
                "replace firewall tables inet/bridge brouter (ruleset {fingerprint}), keeping {} vif binding(s)",
                bindings.len()
            ),
            Op::ReplaceFirewall { fingerprint, .. } => {
                write!(
                    f,
                    "replace firewall tables inet/bridge brouter (ruleset {fingerprint})"
                )
            }
            Op::DeleteFirewall => write!(f, "delete firewall tables inet/bridge brouter"),
            Op::RenameLink { link, new_name } => write!(f, "rename {link} to {new_name}"),
            Op::SetMac { link, mac } => write!(f, "set {link} address {mac}"),
            Op::CreateVxlan {
                name,
                network,
                vni,
                local,
                underlay,
                port,
                learning,
            } => write!(
                f,
                "create vxlan {name} for network {network} (vni {vni}, local {local}, dev {underlay}, port {port}, learning {})",
                if *learning { "on" } else { "off" }
            ),
            Op::DeleteVxlan { name } => write!(f, "delete vxlan {name}"),
            Op::AddFlood { link, dst } => write!(f, "flood {link} to member {dst}"),
            Op::DeleteFlood { link, dst } => write!(f, "stop flooding {link} to {dst}"),
            Op::SetNeighbour { link, ip, mac } => write!(f, "set neighbour {ip} lladdr {mac} on {link}"),
            Op::DeleteNeighbour { link, ip } => write!(f, "delete neighbour {ip} on {link}"),
            Op::SetMtu { link, mtu } => write!(f, "set {link} mtu {mtu}"),
            Op::FlushIpv6 { link } => write!(f, "flush IPv6 addresses of {link}"),
            Op::SetAlias { link, alias } => write!(f, "mark {link} as brouter's again (alias {alias})"),
            Op::SetStp { link, stp } => write!(f, "set {link} stp {}", if *stp { "on" } else { "off" }),
            Op::SetForwardDelay { link, seconds } => write!(f, "set {link} forward delay {seconds}s"),
            Op::AddBinding { binding } => write!(
                f,
                "bind {} to mac {} and {}",
                binding.vif,
                binding.mac,
                binding.describe_addrs()
            ),
            Op::RemoveBinding { vif } => write!(f, "unbind {vif}"),
            Op::SetPortState {
                port,
                bridge,
                state: PortState::Disabled,
            } => write!(
                f,
                "block port {port} of {bridge} (port state disabled: it is unbound on an anti-spoofing bridge)"
            ),
            Op::SetPortState {
                port,
                bridge,
                state: PortState::Forwarding,
            } => write!(f, "open port {port} of {bridge} (port state forwarding)"),
            Op::SetPortState { port, bridge, state } => {
                write!(f, "set port {port} of {bridge} state {state}")
            }
            Op::UpdateFirewallElements { fingerprint, sets, .. } => {
                let (add, del) = sets
                    .iter()
                    .fold((0, 0), |(a, d), s| (a + s.add.len(), d + s.delete.len()));
                write!(
                    f,
                    "update firewall elements (ruleset {fingerprint}): {add} added, {del} deleted"
                )?;
                for s in sets {
                    write!(f, "; {}", super::elements::describe(s))?;
                }
                Ok(())
            }
            Op::FlushConntrack { to6, flows, .. } => match flows.as_slice() {
                [one] => {
                    let port = one.to_port.map(|p| format!(":{p}")).unwrap_or_default();
                    write!(
                        f,
                        "forget tracked {} flows to the dom0 on port {} not yet forwarded to {}{port}",
                        one.proto, one.ports, one.addr
                    )?;
                    match (one.addr6, one.to_port) {
                        (Some(a6), Some(p)) if !to6.is_empty() => write!(f, " or [{a6}]:{p}"),
                        (Some(a6), None) if !to6.is_empty() => write!(f, " or {a6}"),
                        _ => Ok(()),
                    }
                }
                many => write!(
                    f,
                    "forget tracked flows to the dom0{} on the ports of {} forward(s) not yet forwarded (one pass)",
                    if to6.is_empty() { "" } else { " (IPv4 and IPv6)" },
                    many.len()
                ),
            },
            Op::WriteDhcpFiles { files } => {
                let lines: usize = files.values().map(|t| t.lines().count()).sum();
                write!(f, "write dnsmasq's static leases and host names ({lines} line(s))")
            }
            Op::StartDhcp { options, restart, .. } => {
                let bridges: Vec<&str> = options.iter().filter_map(|o| o.strip_prefix("--interface=")).collect();
                let verb = if *restart { "restart" } else { "start" };
                write!(f, "{verb} dnsmasq (DHCP and DNS) on {}", bridges.join(", "))
            }
            Op::ReloadDhcp { .. } => write!(f, "reload dnsmasq's static leases and host names (SIGHUP)"),
            Op::StopDhcp => write!(f, "stop dnsmasq and remove its files and leases"),
            Op::StartRouting { peers, restart, .. } => write!(
                f,
                "{} FRR (zebra, bgpd) for BGP EVPN with {peers} session(s)",
                if *restart { "restart" } else { "start" }
            ),
            Op::ReloadRouting { commands, .. } => {
                let changes: Vec<&str> = commands
                    .iter()
                    .map(String::as_str)
                    .filter(|c| c.starts_with("neighbor ") && c.contains(" remote-as ") || c.starts_with("no neighbor ") || c.contains("route-reflector-client"))
                    .collect();
                write!(f, "change FRR's BGP sessions in place: {}", changes.join(", "))
            }
            Op::StopRouting => write!(f, "stop FRR and remove its files"),
        }
    }
}
