//! The demo's host and its configuration: one place that says who lives where.
//!
//! Only documentation addresses are used outside the VM networks (TEST-NET-1 for the
//! uplink, TEST-NET-2 for an internet server), and everything lives in the demo's own
//! namespaces, so nothing can leak to a real network.

use std::net::Ipv4Addr;

/// dom0's external NIC.
pub const UPLINK: &str = "eth0";
/// dom0's address on it (what the internet sees after masquerade).
pub const UPLINK_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// The internet side of the uplink: dom0's default gateway.
pub const INTERNET_GW: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// Both ends of the uplink are in this /24.
pub const UPLINK_PREFIX: u8 = 24;
/// The internet end of the uplink veth.
pub const INTERNET_IFACE: &str = "up0";
/// A server "on the internet" (TEST-NET-2), on the internet namespace's `lo`.
pub const INTERNET_HOST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// The data network is routed, not masqueraded, so the internet's router knows a route
/// to it (through dom0); the dmz is masqueraded and has no route back at all.
pub const DATA_NET: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 99, 0, 0), 24);

/// One domU: its namespace holds `eth0`; its vif in dom0 is `vif<domid>.0`.
#[derive(Debug, Clone, Copy)]
pub struct DomU {
    pub name: &'static str,
    pub vif: &'static str,
    pub addr: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    /// Its MAC, which `vif online` uses to find the host (and so the bridge) in the config.
    pub mac: &'static str,
}

pub const WEB1: usize = 0;
pub const WEB2: usize = 1;
pub const DB1: usize = 2;

pub const DOMUS: [DomU; 3] = [
    DomU {
        name: "web1",
        vif: "vif1.0",
        addr: Ipv4Addr::new(10, 98, 98, 10),
        prefix: 24,
        gateway: Ipv4Addr::new(10, 98, 98, 1),
        mac: "aa:cc:00:00:00:01",
    },
    DomU {
        name: "web2",
        vif: "vif2.0",
        addr: Ipv4Addr::new(10, 98, 98, 11),
        prefix: 24,
        gateway: Ipv4Addr::new(10, 98, 98, 1),
        mac: "aa:cc:00:00:00:02",
    },
    DomU {
        name: "db1",
        vif: "vif3.0",
        addr: Ipv4Addr::new(10, 99, 0, 10),
        prefix: 24,
        gateway: Ipv4Addr::new(10, 99, 0, 1),
        mac: "aa:cc:00:00:00:03",
    },
];

/// The configuration the demo starts brouter with (written to a temp file, then loaded
/// like any `--config FILE`).
pub const CONFIG: &str = r#"# brouter demo: two VM networks behind dom0's uplink eth0
[uplink]
interface = "eth0"

[[network]]
name = "dmz"
bridge = "br-dmz"
address = "10.98.98.1/24"     # masqueraded to the uplink

[[network]]
name = "data"
bridge = "br-data"
address = "10.99.0.1/24"
masquerade = false            # routed as is; but see the policy below

[[host]]
name = "web1"
network = "dmz"
mac = "aa:cc:00:00:00:01"
addresses = ["10.98.98.10"]

[[host]]
name = "web2"
network = "dmz"
mac = "aa:cc:00:00:00:02"
addresses = ["10.98.98.11"]

[[host]]
name = "db1"
network = "data"
mac = "aa:cc:00:00:00:03"
addresses = ["10.99.0.10"]

[[forward]]                   # the internet reaches web1 only through this
proto = "tcp"
port = 8080
to = "web1:80"

[[policy]]
from = "dmz"
to = "external"
action = "accept"

[[policy]]
from = "dmz"
to = "data"
action = "accept"
services = ["tcp/5432"]

[[policy]]
from = "data"
to = "external"
action = "drop"

[[policy]]
from = "external"
to = "dom0"
action = "accept"
services = ["tcp/22"]
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_config_is_valid_and_names_every_domu() {
        let c = brouter_engine::config::from_toml(CONFIG, "demo.toml").expect("valid demo config");
        for d in DOMUS {
            let h = c.hosts.iter().find(|h| h.name == d.name).expect("host declared");
            assert_eq!(h.mac.as_deref(), Some(d.mac));
        }
    }
}
