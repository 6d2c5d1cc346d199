//! The question `explain` answers: one new connection (or ARP packet), and what is
//! known about the live system it crosses.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ir::{Binding, FlowProto};

/// An address in a trace: a literal one of either family, or the dom0's uplink address
/// when the evaluator does not know it (it is the kernel's, often from DHCP or SLAAC).
/// The uplink has one address per family, so there are two names for it: a flow to
/// [`Address::Uplink6`] is an IPv6 flow. JSON: `{"ip": "10.1.0.10"}`, `{"ip": "fd00:1::10"}`,
/// `"uplink"`, `"uplink6"` (IPv4 traces read as they did before IPv6 existed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Address {
    Ip(IpAddr),
    /// "the uplink's (IPv4) address", whatever it is.
    Uplink,
    /// "the uplink's IPv6 address", whatever it is.
    Uplink6,
}

impl Address {
    /// Whether this is an IPv6 address (a literal one, or the uplink's IPv6 address).
    pub fn is_ipv6(self) -> bool {
        matches!(self, Address::Ip(IpAddr::V6(_)) | Address::Uplink6)
    }

    /// The literal address, if it is one.
    pub fn ip(self) -> Option<IpAddr> {
        match self {
            Address::Ip(ip) => Some(ip),
            Address::Uplink | Address::Uplink6 => None,
        }
    }

    /// `addr:port`, with an IPv6 address in brackets (`[fd00:1::10]:80`) so the port
    /// cannot be read as part of it; just the address without a port.
    pub fn with_port(self, port: Option<u16>) -> String {
        match (self, port) {
            (Address::Ip(IpAddr::V6(a)), Some(p)) => format!("[{a}]:{p}"),
            (a, Some(p)) => format!("{a}:{p}"),
            (a, None) => a.to_string(),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Ip(a) => write!(f, "{a}"),
            Address::Uplink => f.write_str("the uplink address"),
            Address::Uplink6 => f.write_str("the uplink's IPv6 address"),
        }
    }
}

impl FromStr for Address {
    type Err = String;
    /// `10.1.0.10`, `fd00:1::10`, `uplink` (its IPv4 address) or `uplink6` (its IPv6
    /// address).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "uplink" => return Ok(Address::Uplink),
            "uplink6" => return Ok(Address::Uplink6),
            _ => {}
        }
        s.parse()
            .map(Address::Ip)
            .map_err(|_| format!("{s:?} is neither an IP address nor \"uplink\" or \"uplink6\""))
    }
}

/// One flow to explain. Only the fields a user knows are needed: the zone or source
/// address decides where it enters; `host`, `vif` and `src_mac` matter for anti-spoofing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// The zone it comes from (`external`, `dom0`, a network). Default: the zone of `src`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The source address it is sent with, of the destination's family. Default: a
    /// representative address of the zone in that family (a declared host of the network,
    /// an outside address, the dom0's own address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<IpAddr>,
    /// The declared host that sends it, as if its vif were online with its declared binding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The vif it is sent through (looked up in the live bindings of the context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vif: Option<String>,
    /// The Ethernet source (and ARP sender) MAC. Default: the binding's own MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_mac: Option<String>,
    pub to: Address,
    /// Destination port (tcp/udp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    pub proto: FlowProto,
}

impl Flow {
    /// A flow from a zone to an address; refine with the builder methods.
    pub fn new(from: &str, to: Address, proto: FlowProto, port: Option<u16>) -> Flow {
        Flow {
            from: Some(from.to_string()),
            src: None,
            host: None,
            vif: None,
            src_mac: None,
            to,
            port,
            proto,
        }
    }
    pub fn tcp(from: &str, to: impl Into<Address>, port: u16) -> Flow {
        Flow::new(from, to.into(), FlowProto::Tcp, Some(port))
    }
    pub fn udp(from: &str, to: impl Into<Address>, port: u16) -> Flow {
        Flow::new(from, to.into(), FlowProto::Udp, Some(port))
    }
    pub fn icmp(from: &str, to: impl Into<Address>) -> Flow {
        Flow::new(from, to.into(), FlowProto::Icmp, None)
    }
    pub fn with_src(mut self, src: impl Into<IpAddr>) -> Flow {
        self.src = Some(src.into());
        self
    }
    pub fn with_host(mut self, host: &str) -> Flow {
        self.host = Some(host.to_string());
        self
    }
    pub fn with_vif(mut self, vif: &str) -> Flow {
        self.vif = Some(vif.to_string());
        self
    }
    pub fn with_mac(mut self, mac: &str) -> Flow {
        self.src_mac = Some(mac.to_ascii_lowercase());
        self
    }
}

impl From<Ipv4Addr> for Address {
    fn from(a: Ipv4Addr) -> Self {
        Address::Ip(a.into())
    }
}

impl From<Ipv6Addr> for Address {
    fn from(a: Ipv6Addr) -> Self {
        Address::Ip(a.into())
    }
}

impl From<IpAddr> for Address {
    fn from(a: IpAddr) -> Self {
        Address::Ip(a)
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.proto)?;
        match (&self.from, &self.src) {
            (Some(z), Some(s)) => write!(f, " from {z} ({s})")?,
            (Some(z), None) => write!(f, " from {z}")?,
            (None, Some(s)) => write!(f, " from {s}")?,
            (None, None) => {}
        }
        if let Some(h) = &self.host {
            write!(f, " host {h}")?;
        }
        if let Some(v) = &self.vif {
            write!(f, " vif {v}")?;
        }
        if let Some(m) = &self.src_mac {
            write!(f, " mac {m}")?;
        }
        write!(f, " to {}", self.to.with_port(self.port))
    }
}

/// What the evaluator knows of the live system beyond the ruleset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExplainContext {
    /// The uplink's address; traces say "the uplink address" without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink_address: Option<Ipv4Addr>,
    /// The uplink's IPv6 address (global or unique-local, not link-local): where IPv6
    /// forwards are reached and what masqueraded IPv6 leaves with; traces say "the
    /// uplink's IPv6 address" without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink_address6: Option<Ipv6Addr>,
    /// The live anti-spoofing bindings (`observe()` reports them).
    #[serde(default)]
    pub bindings: Vec<Binding>,
    /// Bridge ports whose state reads `disabled` (`observe()` reports it): the bridge drops
    /// whatever arrives on them — `start` disables the unbound ports of anti-spoofing
    /// bridges so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disabled_ports: Vec<String>,
}

impl ExplainContext {
    /// The live facts `explain` uses from an observation: the bindings and the disabled
    /// ports (the uplink addresses are the caller's: it knows which link is the uplink;
    /// see [`ExplainContext::with_uplink`]).
    pub fn from_observed(observed: &crate::model::Observed) -> ExplainContext {
        ExplainContext {
            uplink_address: None,
            uplink_address6: None,
            bindings: observed.bindings.clone(),
            disabled_ports: observed
                .links
                .iter()
                .filter(|l| l.port_state == Some(crate::model::PortState::Disabled))
                .map(|l| l.name.clone())
                .collect(),
        }
    }
}

impl ExplainContext {
    /// This context with the uplink's addresses of both families as `observed` has them on
    /// link `uplink` (the first of each; IPv6 link-local addresses are never observed).
    pub fn with_uplink(mut self, observed: &crate::model::Observed, uplink: &str) -> ExplainContext {
        self.uplink_address = observed
            .addresses
            .iter()
            .find(|a| a.link == uplink)
            .map(|a| a.addr.addr());
        self.uplink_address6 = observed
            .addresses6
            .iter()
            .find(|a| a.link == uplink)
            .map(|a| a.addr.addr());
        self
    }
}
