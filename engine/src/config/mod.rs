//! The configuration model: what the admin asked for, validated.
//!
//! Two front ends produce a [`Config`]: a TOML file ([`from_toml`]) and the Xen
//! network-script words ([`from_xen_words`]). Both end in [`validate`], so a `Config`
//! that exists is a `Config` brouter can apply: nothing downstream re-checks it.

pub mod arbitrary;
pub mod cluster;
mod error;
mod names;
mod overlaps;
mod risks;
mod sources;
mod toml_fast;
mod toml_file;
mod validate;
mod validate_cluster;
mod validate_dhcp;
mod validate_ipv6;
mod values;
mod xen;

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

pub use error::{did_you_mean, ConfigError, ConfigErrors};
pub use names::{check_interface_name, check_zone_name};
pub use overlaps::NetIndex;
pub use risks::risks;
pub use sources::{Located, Sources};
pub use toml_file::{from_toml, KEYS as TOML_KEYS};
pub use validate::validate;
pub use xen::{
    from_xen_words, from_xen_words_warn, ignored_xen_words, remembered_xen_words, with_other_xen_networks,
    xen_words, XEN_KEYS,
};

/// Built-in zone: the uplink (or, without one, anything that is not a brouter bridge).
pub const ZONE_EXTERNAL: &str = "external";
/// Built-in zone: the dom0 itself (input/output of the host).
pub const ZONE_DOM0: &str = "dom0";

/// Where a configuration came from; changes a few defaults (DESIGN.md, Xen mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// A TOML file.
    File,
    /// Xen network-script `VAR=VAL` words, no file: one network, seed-script defaults.
    Xen,
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The file name, or `command line`.
    pub origin: String,
    pub mode: Mode,
    pub uplink: Option<Uplink>,
    pub networks: Vec<Network>,
    pub hosts: Vec<Host>,
    pub forwards: Vec<Forward>,
    pub policies: Vec<Policy>,
    /// `[log]`: how refused connections are logged to the kernel log.
    #[serde(default)]
    pub log: LogSettings,
    /// `[cluster]`: these networks stretched over several dom0s by VXLAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<cluster::Cluster>,
}

impl Config {
    pub fn network(&self, name: &str) -> Option<&Network> {
        self.networks.iter().find(|n| n.name == name)
    }

    /// The network whose subnet holds `addr`.
    pub fn network_of(&self, addr: Ipv4Addr) -> Option<&Network> {
        self.networks.iter().find(|n| n.subnet.contains(&addr))
    }

    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// All zone names: the built-ins, then one per network.
    pub fn zones(&self) -> Vec<String> {
        let mut z = vec![ZONE_EXTERNAL.to_string(), ZONE_DOM0.to_string()];
        z.extend(self.networks.iter().map(|n| n.name.clone()));
        z
    }
}

/// The external NIC: the `external` zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uplink {
    pub interface: String,
}

/// A brouter: a bridge with an address, and the zone of the same name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub bridge: String,
    /// The bridge's own address with the prefix length (`10.98.98.1/24`).
    pub address: Ipv4Net,
    /// The routed network (`10.98.98.0/24`), derived from `address` unless given (Xen `brnet`).
    pub subnet: Ipv4Net,
    pub masquerade: bool,
    pub antispoof: bool,
    pub stp: bool,
    pub forward_delay: u32,
    /// The bridge's IPv6 address with its /64 (`fd98:98::1/64`): announced to the VMs by
    /// router advertisements (SLAAC) and routed; a ULA prefix is masqueraded when
    /// `masquerade` is on, a global one routed as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address6: Option<Ipv6Net>,
    /// DHCPv4 and DNS for the VMs on this bridge, served by brouter's dnsmasq.
    #[serde(default)]
    pub dhcp: bool,
    /// The dynamic pool (`dhcp_range = "10.98.98.100-10.98.98.199"`); `None` means every
    /// host address of the subnet that no `[[host]]` holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp_range: Option<DhcpRange>,
}

/// A DHCP pool: the addresses from `first` to `last`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpRange {
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
}

impl DhcpRange {
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        self.first <= a && a <= self.last
    }
}

impl std::fmt::Display for DhcpRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// A VM interface: who may use which MAC and addresses on which network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    pub name: String,
    pub network: String,
    /// Lower-case `aa:bb:cc:dd:ee:ff`.
    pub mac: Option<String>,
    pub addresses: Vec<Ipv4Addr>,
    /// Its IPv6 addresses (the IPv6 entries of `addresses`), inside its network's `address6`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses6: Vec<Ipv6Addr>,
    /// The dom0-side interface name (`vif3.0`), when the admin pins it.
    pub vif: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// An inclusive port range; a single port is `first == last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn single(p: u16) -> Self {
        PortRange { first: p, last: p }
    }
    pub fn contains(&self, p: u16) -> bool {
        self.first <= p && p <= self.last
    }
    pub fn overlaps(&self, o: &PortRange) -> bool {
        self.first <= o.last && o.first <= self.last
    }
    pub fn is_single(&self) -> bool {
        self.first == self.last
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_single() {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// DNAT from the uplink to a VM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forward {
    pub proto: Proto,
    /// External port(s) on the uplink.
    pub ports: PortRange,
    /// The host name, when the forward named one.
    pub host: Option<String>,
    /// The VM address the traffic goes to.
    pub addr: Ipv4Addr,
    /// Port on the VM; `None` keeps the external port.
    pub to_port: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Accept,
    Drop,
    Reject,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Action::Accept => "accept",
            Action::Drop => "drop",
            Action::Reject => "reject",
        })
    }
}

/// A service a policy may be limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Service {
    Tcp(PortRange),
    Udp(PortRange),
    Icmp,
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Service::Tcp(p) => write!(f, "tcp/{p}"),
            Service::Udp(p) => write!(f, "udp/{p}"),
            Service::Icmp => f.write_str("icmp"),
        }
    }
}

/// The decision for one (from, to) zone pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub from: String,
    pub to: String,
    pub action: Action,
    /// Empty: all traffic. Otherwise the action applies to these services and the rest drops.
    pub services: Vec<Service>,
    /// Log what this policy drops or rejects (rate-limited).
    pub log: bool,
}

/// `[log]`: the drop log. Every log line is rate-limited, so a flood of refused packets
/// cannot fill the kernel log (and the journal) — the admin sees a sample, not each one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSettings {
    /// Log drops by default: of policies without a `log` of their own, and of zone pairs
    /// that have no policy at all.
    pub drops: bool,
    /// How many lines each log rule may write.
    pub rate: LogRate,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            drops: false,
            rate: LogRate::DEFAULT,
        }
    }
}

/// A rate limit in nft's `limit rate N/unit` terms (`5/minute`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRate {
    /// At least 1.
    pub count: u32,
    pub per: RateUnit,
}

impl LogRate {
    /// Five lines a minute per log rule: enough to see who is refused, too few to flood.
    pub const DEFAULT: LogRate = LogRate {
        count: 5,
        per: RateUnit::Minute,
    };
}

impl std::fmt::Display for LogRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.count, self.per)
    }
}

/// The time units nft's `limit` accepts that make sense for a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateUnit {
    Second,
    Minute,
    Hour,
}

impl std::fmt::Display for RateUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RateUnit::Second => "second",
            RateUnit::Minute => "minute",
            RateUnit::Hour => "hour",
        })
    }
}
