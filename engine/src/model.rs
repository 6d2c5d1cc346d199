//! The kernel objects brouter reasons about, as plain data.
//!
//! These types are the vocabulary shared by the planner, the simulator and the netlink
//! backend. They describe *state*, never policy: which link exists, who owns it, which
//! address and route it carries. Ownership is a field on each object because brouter must
//! touch only what it made (DESIGN.md, "Ownership") and must find it again without a
//! state file.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::binding::Binding;

/// The `ifalias` prefix that marks a bridge brouter created: `brouter:<network>`.
pub const ALIAS_PREFIX: &str = "brouter:";

/// The route protocol (`rtm_protocol`) brouter stamps on its routes, and the `IFA_PROTO`
/// it stamps on its addresses. 0x62 ("b") is unassigned in `/etc/iproute2/rt_protos`.
pub const OWNER_PROTO: u8 = 0x62;

/// The kernel's own route protocol (`proto kernel`), used by implicit prefix routes.
pub const PROTO_KERNEL: u8 = 2;
/// `proto boot`, what `ip route add` uses by default.
pub const PROTO_BOOT: u8 = 3;
/// `proto static`.
pub const PROTO_STATIC: u8 = 4;

/// What sort of link a name refers to. brouter only ever creates bridges; everything
/// else (veths, physical NICs, Xen vifs) is somebody else's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    Bridge,
    Veth,
    Other(String),
}

/// Bridge settings brouter sets when it creates a bridge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BridgeOptions {
    /// Spanning tree on/off. Off by default: a brouter's bridge has no loops to break.
    pub stp: bool,
    /// Forward delay in seconds. 0 by default, so a freshly attached vif forwards at once.
    pub forward_delay: u32,
}

/// A bridge port's STP state (`IFLA_BRPORT_STATE`), as the kernel reports it. brouter
/// sets only two: [`PortState::Disabled`] on an unbound port of an anti-spoofing bridge
/// (the kernel then drops every frame it receives and delivers it none), and
/// [`PortState::Forwarding`] when `vif online` binds that port. A carrier or up event on
/// the port, or any link change the kernel announces (`NETDEV_CHANGE`), re-enables a
/// disabled port: `status` reads the state back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    Disabled,
    Listening,
    Learning,
    Forwarding,
    Blocking,
}

impl PortState {
    /// The kernel's number (`BR_STATE_*`).
    pub fn code(self) -> u8 {
        match self {
            PortState::Disabled => 0,
            PortState::Listening => 1,
            PortState::Learning => 2,
            PortState::Forwarding => 3,
            PortState::Blocking => 4,
        }
    }

    /// From the kernel's number; `None` for one it does not define.
    pub fn from_code(code: u8) -> Option<PortState> {
        Some(match code {
            0 => PortState::Disabled,
            1 => PortState::Listening,
            2 => PortState::Learning,
            3 => PortState::Forwarding,
            4 => PortState::Blocking,
            _ => return None,
        })
    }
}

impl std::fmt::Display for PortState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PortState::Disabled => "disabled",
            PortState::Listening => "listening",
            PortState::Learning => "learning",
            PortState::Forwarding => "forwarding",
            PortState::Blocking => "blocking",
        })
    }
}

/// One network interface as observed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Link {
    pub name: String,
    pub kind: LinkKind,
    /// `ifalias`; `brouter:<network>` marks a bridge brouter created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// The bridge this link is a port of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Bridge settings, for bridges only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<BridgeOptions>,
    /// Hardware address, lower-case `aa:bb:cc:dd:ee:ff` (a vif gets `fe:ff:ff:ff:ff:ff`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// MTU; a vif gets the bridge's (or xenstore's) on `vif online`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Its state as a port of a bridge (`None`: not a bridge port, or not reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_state: Option<PortState>,
    /// Whether a bridge port has carrier (`IFF_LOWER_UP`; `None`: not a bridge port, or not
    /// reported). The kernel sets a port without carrier to no state but `disabled`
    /// (ENETDOWN), and enables it by itself when carrier comes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<bool>,
}

impl Link {
    /// The network whose bridge brouter created here, if it did.
    pub fn owner(&self) -> Option<&str> {
        self.alias.as_deref().and_then(|a| a.strip_prefix(ALIAS_PREFIX))
    }

    pub fn is_bridge(&self) -> bool {
        self.kind == LinkKind::Bridge
    }

    /// The network whose VXLAN device brouter created here (`[cluster]`), if it did.
    pub fn vxlan_owner(&self) -> Option<&str> {
        self.alias
            .as_deref()
            .and_then(|a| a.strip_prefix(VXLAN_ALIAS_PREFIX))
    }

    /// A network card (a device with no rtnl kind that is not a Xen backend vif): the
    /// admin's, bridged on purpose. brouter never disables such a port (it could cut the
    /// host off).
    pub fn is_physical(&self) -> bool {
        self.kind == LinkKind::Other(PHYSICAL.into())
    }
}

/// The `ifalias` prefix that marks a VXLAN device brouter created for a cluster network:
/// `brouter-vxlan:<network>` (not a bridge: [`Link::owner`] does not see it).
pub const VXLAN_ALIAS_PREFIX: &str = "brouter-vxlan:";

/// The rtnl kind of a VXLAN device.
pub const VXLAN_KIND: &str = "vxlan";

/// A VXLAN device as observed: what it was made with and where it replicates floods.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObservedVxlan {
    pub name: String,
    pub vni: u32,
    /// The tunnels' source address (`local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<std::net::IpAddr>,
    /// The underlay interface (`dev`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlay: Option<String>,
    pub port: u16,
    /// Data-plane learning (`IFLA_VXLAN_LEARNING`).
    #[serde(default = "crate::model::yes")]
    pub learning: bool,
    /// The all-zero FDB entries' destinations: the members floods go to.
    #[serde(default)]
    pub remotes: Vec<std::net::IpAddr>,
}

/// A permanent neighbour entry brouter made (stamped with [`OWNER_PROTO`]): on a cluster
/// network, a declared host's address and MAC on every member, so a member routes to a VM
/// attached to another one without asking (the VM would answer the anycast gateway's MAC,
/// which its own member keeps).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Neighbour {
    pub link: String,
    pub ip: std::net::IpAddr,
    pub mac: String,
}

/// The kind the backends report for a device without an rtnl kind (a NIC).
pub const PHYSICAL: &str = "physical";
/// The kind the backends report for a Xen netback vif (no rtnl kind, parent bus
/// `xen-backend`).
pub const XEN_VIF: &str = "xen-vif";

/// An IPv4 address on a link.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Address {
    pub link: String,
    /// The address with its prefix length (`10.98.98.1/24`).
    pub addr: Ipv4Net,
    /// Stamped with [`OWNER_PROTO`] by brouter.
    pub owned: bool,
}

/// An IPv6 address on a link (global or unique-local: link-local ones are the kernel's
/// and never reported).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Address6 {
    pub link: String,
    /// The address with its prefix length (`fd98:98::1/64`).
    pub addr: Ipv6Net,
    /// Stamped with [`OWNER_PROTO`] by brouter.
    pub owned: bool,
}

impl Address6 {
    /// Whether `ip` is an address the kernel makes by itself and an observation leaves
    /// out: link-local (`fe80::/10`, one per link that is up) or `lo`'s `::1`. brouter never
    /// adds one, and a kernel-made link-local address depends on the link's random MAC, so
    /// every backend filters with this one function and they report the same addresses.
    pub fn kernels_own(ip: std::net::Ipv6Addr) -> bool {
        ip.segments()[0] & 0xffc0 == 0xfe80 || ip.is_loopback()
    }
}

/// An IPv4 route in the main table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Route {
    pub dst: Ipv4Net,
    pub dev: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Ipv4Addr>,
    /// `rtm_protocol`; [`OWNER_PROTO`] means brouter's.
    pub protocol: u8,
    /// Route priority (metric).
    #[serde(default)]
    pub metric: u32,
}

impl Route {
    pub fn owned(&self) -> bool {
        self.protocol == OWNER_PROTO
    }
}

/// The fingerprint of the firewall ruleset brouter applied, as read back from the kernel.
/// Comparing fingerprints lets a converged `start` skip rewriting the tables.
pub type FirewallFingerprint = String;

/// Everything a backend reports about the kernel it drives.
///
/// Links, addresses and routes are reported whole (owned and foreign) because the
/// planner needs the foreign facts too: a bridge that already exists is adopted, a
/// foreign route to the same prefix is a conflict, a foreign address is left alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    pub links: Vec<Link>,
    pub addresses: Vec<Address>,
    /// IPv6 addresses (not link-local) on the links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses6: Vec<Address6>,
    pub routes: Vec<Route>,
    /// Current values of the sysctls brouter manages.
    pub sysctls: BTreeMap<String, String>,
    /// What brouter remembered before it first changed something it must restore
    /// (`sysctl:<key>`, `link-up:<bridge>`), kept under `/run/brouter/` on a real host.
    pub memory: BTreeMap<String, String>,
    /// The fingerprint of brouter's firewall tables, if they exist.
    pub firewall: Option<FirewallFingerprint>,
    /// What the read-back of brouter's tables found changed inside them (a rule added or
    /// deleted, a set flushed, a map element edited), one line per difference. Empty when
    /// the read-back proved nothing differs, or was not made (see
    /// [`crate::NetBackend::firewall_drift`]); the planner rewrites the tables unless it
    /// is empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub firewall_drift: Vec<String>,
    /// The read-back of brouter's tables against the desired ruleset, in elements: made
    /// (by `start`, `plan`, `status`) whenever brouter's tables exist, so the planner can
    /// update only the elements that differ instead of replacing the tables. `None`: not
    /// read (or unreadable), and then only a replacement is sure to converge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall_delta: Option<crate::plan::FirewallDelta>,
    /// Tables with brouter's names (`inet brouter`, `bridge brouter`) that do not carry its
    /// mark (the fingerprint comment): somebody else's, never replaced or deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign_tables: Vec<String>,
    /// The live anti-spoofing bindings in brouter's tables (one per bound vif).
    #[serde(default)]
    pub bindings: Vec<Binding>,
    /// brouter's dnsmasq: its process and files, if either exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp: Option<crate::dhcp::ObservedDhcp>,
    /// The VXLAN devices on the host (anybody's: a foreign one may hold a name brouter
    /// wants) with their head-end replication entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vxlans: Vec<ObservedVxlan>,
    /// brouter's own neighbour entries (read only where VXLAN devices exist).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub neighbours: Vec<Neighbour>,
    /// The neighbour entries FRR's zebra wrote (`proto zebra`): under EVPN, a VM's address
    /// and MAC learned by BGP from the member it is attached to. One that says what a
    /// declared host's entry would say stands for brouter's (zebra replaces brouter's entry
    /// with its own when that route arrives; writing it back would only start a tug of war).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zebra_neighbours: Vec<Neighbour>,
    /// brouter's FRR (an EVPN cluster member): its daemons and config, if either exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<crate::routing::ObservedRouting>,
}

impl Observed {
    pub fn link(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }

    /// Ports currently attached to `bridge`.
    pub fn ports_of<'a>(&'a self, bridge: &'a str) -> impl Iterator<Item = &'a Link> + 'a {
        self.links
            .iter()
            .filter(move |l| l.master.as_deref() == Some(bridge))
    }

    /// The part of this observation [`crate::NetBackend::observe_links`] reports for
    /// `names`: those links, their addresses and their bindings, plus brouter's memory.
    /// Routes, sysctls and the firewall fingerprint are not part of it (empty / `None`).
    /// Backends that cannot read less than everything answer with this, so every backend
    /// gives a narrow observation the same shape.
    pub fn restricted_to(mut self, names: &[String]) -> Observed {
        let named = |n: &str| names.iter().any(|m| m == n);
        self.links.retain(|l| named(&l.name));
        self.addresses.retain(|a| named(&a.link));
        self.addresses6.retain(|a| named(&a.link));
        self.bindings.retain(|b| named(&b.vif));
        self.routes.clear();
        self.sysctls.clear();
        self.firewall = None;
        self.firewall_drift.clear();
        self.firewall_delta = None;
        self.foreign_tables.clear();
        self.dhcp = None;
        self.routing = None;
        self
    }

    /// A canonical form (everything sorted) so two observations compare structurally.
    pub fn normalized(mut self) -> Observed {
        self.links.sort();
        self.addresses.sort();
        self.addresses6.sort();
        self.routes.sort();
        self.bindings.sort();
        self.neighbours.sort();
        self.zebra_neighbours.sort();
        // Which process serves is not structure: only whether one does.
        if let Some(d) = &mut self.dhcp {
            d.pid = d.pid.map(|_| 1);
        }
        if let Some(r) = &mut self.routing {
            r.zebra = r.zebra.map(|_| 1);
            r.bgpd = r.bgpd.map(|_| 1);
            r.sessions.clear();
        }
        self
    }
}

pub(crate) fn yes() -> bool {
    true
}

/// The sysctl that turns a Linux host into a router.
pub const IP_FORWARD: &str = "net.ipv4.ip_forward";

/// `br_netfilter`'s switches: bridged IPv4 and IPv6 pass the IP hooks (and conntrack).
/// A cluster member keeps them on (see [`crate::desired::compile`]).
pub const BRIDGE_NF_CALL: [&str; 2] = [
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
];

/// Its IPv6 counterpart, turned on when a network has an `address6`.
pub const IPV6_FORWARD: &str = "net.ipv6.conf.all.forwarding";

/// `net.ipv6.conf.<link>.accept_ra`: with IPv6 forwarding on, the kernel ignores router
/// advertisements on a link unless this is 2 — the uplink would lose the default route
/// it learned from them.
pub fn accept_ra_key(link: &str) -> String {
    format!("net.ipv6.conf.{}.accept_ra", link.replace('.', "/"))
}

/// The link a per-interface sysctl (`net.ipv{4,6}.conf.<link>.*`) belongs to; `None`
/// for global keys and for `all`/`default`. Such a key exists only while its link does.
pub fn sysctl_link(key: &str) -> Option<String> {
    let rest = key
        .strip_prefix("net.ipv6.conf.")
        .or_else(|| key.strip_prefix("net.ipv4.conf."))?;
    let (link, _) = rest.split_once('.')?;
    (link != "all" && link != "default").then(|| link.replace('/', "."))
}

/// Memory key under which the pre-brouter value of a sysctl is kept.
pub fn sysctl_memory_key(key: &str) -> String {
    format!("sysctl:{key}")
}

/// Memory key under which brouter notes that it brought up a bridge it did not create.
pub fn link_up_memory_key(bridge: &str) -> String {
    format!("link-up:{bridge}")
}

/// Facts about the rest of the host that `status` turns into warnings. Foreign by
/// definition: brouter reads them and never changes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    /// Other tables' forward-hook chains that drop (`table inet filter, chain forward: policy drop`).
    pub foreign_forward_drops: Vec<String>,
    /// `net.bridge.bridge-nf-call-iptables = 1`: bridged frames meet the inet hooks.
    pub br_netfilter: bool,
    /// firewalld runs; its restarts flush every table, brouter's included.
    pub firewalld_running: bool,
}

/// A packet and byte count, as an nftables `counter` keeps them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hits {
    pub packets: u64,
    pub bytes: u64,
}

impl std::ops::AddAssign for Hits {
    fn add_assign(&mut self, o: Hits) {
        self.packets += o.packets;
        self.bytes += o.bytes;
    }
}

/// What went through one port forward since brouter's tables were last written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardHits {
    pub proto: crate::config::Proto,
    /// The external port(s), as the forward names them.
    pub ports: crate::config::PortRange,
    /// Connections DNAT'd (the first packet of each).
    pub connections: u64,
    /// Every packet of those connections, both directions.
    pub traffic: Hits,
}

/// What one zone pair's policy decided, per verdict: the new connections its rules
/// accepted, dropped or rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyHits {
    pub from: String,
    pub to: String,
    pub verdict: crate::config::Action,
    pub hits: Hits,
}

/// Lines one log rule wrote to the kernel log (after its rate limit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogHits {
    pub from: String,
    pub to: String,
    pub verdict: crate::config::Action,
    pub lines: u64,
}

/// The counters on brouter's own nftables rules and forward maps, for `status`: what the
/// firewall actually did, as opposed to what `explain` predicts. Counts start at zero
/// whenever `start` rewrites the tables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallCounters {
    /// One per forward, sorted by protocol and port.
    pub forwards: Vec<ForwardHits>,
    /// Listed zone pairs, one entry per verdict their rules can give.
    pub policies: Vec<PolicyHits>,
    /// New connections dropped because no policy lists their zone pair (all pairs together).
    pub unlisted: Hits,
    /// Logged refusals per zone pair and verdict.
    pub logged: Vec<LogHits>,
}
