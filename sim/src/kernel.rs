//! An in-memory model of the kernel objects brouter touches, with Linux's semantics.
//!
//! Each operation fails where Linux fails, with the same [`ErrorKind`] (the differential
//! tests hold it to the real kernel), and does what Linux does implicitly: an address
//! without `noprefixroute` brings its prefix route while the link is up; setting a link
//! down drops the IPv4 routes through it; deleting a bridge releases its ports and takes
//! its addresses and routes along.

use std::collections::BTreeMap;

use brouter_engine::firewall::Ruleset;
use brouter_engine::{
    Address, BackendError, BridgeOptions, ErrorKind, Link, LinkKind, Observed, Route, ALIAS_PREFIX,
    IP_FORWARD, OWNER_PROTO, PROTO_KERNEL,
};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// An address as the kernel keeps it: whether it brings a prefix route is a flag of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimAddress {
    pub link: String,
    pub addr: Ipv4Net,
    /// `IFA_PROTO` says brouter.
    pub owned: bool,
    /// `IFA_F_NOPREFIXROUTE`: no implicit prefix route.
    pub noprefixroute: bool,
}

/// The whole simulated kernel of one network namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kernel {
    pub links: BTreeMap<String, Link>,
    pub addresses: Vec<SimAddress>,
    pub routes: Vec<Route>,
    pub sysctls: BTreeMap<String, String>,
    /// brouter's memory (what `/run/brouter/` holds on a real host).
    pub memory: BTreeMap<String, String>,
    /// brouter's firewall tables, if present.
    pub firewall: Option<Ruleset>,
}

impl Default for Kernel {
    /// An empty namespace: only `lo`, forwarding off (the kernel's default).
    fn default() -> Self {
        let mut k = Kernel {
            links: BTreeMap::new(),
            addresses: Vec::new(),
            routes: Vec::new(),
            sysctls: BTreeMap::from([(IP_FORWARD.to_string(), "0".to_string())]),
            memory: BTreeMap::new(),
            firewall: None,
        };
        k.add_link("lo", LinkKind::Other("loopback".into()), true);
        k
    }
}

fn err(kind: ErrorKind, message: impl Into<String>) -> BackendError {
    BackendError::new(kind, message)
}

impl Kernel {
    /// A typical dom0 before brouter: `lo`, an uplink `eth0` with an address and a default
    /// route. What `--sim` starts from when its state file does not exist yet.
    pub fn typical_host() -> Kernel {
        let mut k = Kernel::default();
        k.add_link("eth0", LinkKind::Other("physical".into()), true);
        k.add_foreign_address("eth0", "192.0.2.2/24".parse().unwrap());
        k.routes.push(Route {
            dst: "0.0.0.0/0".parse().unwrap(),
            dev: "eth0".into(),
            gateway: Some("192.0.2.1".parse().unwrap()),
            protocol: brouter_engine::PROTO_BOOT,
            metric: 0,
        });
        k
    }

    /// Set-up helper: a link somebody else made (a NIC, a veth "vif", a foreign bridge).
    pub fn add_link(&mut self, name: &str, kind: LinkKind, up: bool) {
        let bridge = (kind == LinkKind::Bridge).then(BridgeOptions::default);
        let mtu = Some(if name == "lo" { 65536 } else { 1500 });
        self.links.insert(
            name.to_string(),
            Link {
                name: name.to_string(),
                kind,
                alias: None,
                master: None,
                up,
                bridge,
                mac: None,
                mtu,
            },
        );
    }

    /// Set-up helper: an address somebody else added (with its prefix route, as `ip addr add` does).
    pub fn add_foreign_address(&mut self, link: &str, addr: Ipv4Net) {
        self.addresses.push(SimAddress {
            link: link.into(),
            addr,
            owned: false,
            noprefixroute: false,
        });
        if self.links.get(link).is_some_and(|l| l.up) {
            self.add_prefix_route(link, addr);
        }
    }

    fn add_prefix_route(&mut self, link: &str, addr: Ipv4Net) {
        let dst = addr.trunc();
        if !self.routes.iter().any(|r| r.dst == dst && r.metric == 0) {
            self.routes.push(Route {
                dst,
                dev: link.into(),
                gateway: None,
                protocol: PROTO_KERNEL,
                metric: 0,
            });
        }
    }

    fn link_mut(&mut self, name: &str) -> Result<&mut Link, BackendError> {
        self.links
            .get_mut(name)
            .ok_or_else(|| err(ErrorKind::NoDevice, format!("cannot find device \"{name}\"")))
    }

    pub fn observe(&self) -> Observed {
        Observed {
            links: self.links.values().cloned().collect(),
            addresses: self
                .addresses
                .iter()
                .map(|a| Address {
                    link: a.link.clone(),
                    addr: a.addr,
                    owned: a.owned,
                })
                .collect(),
            routes: self.routes.clone(),
            sysctls: self.sysctls.clone(),
            memory: self.memory.clone(),
            firewall: self.firewall.as_ref().map(Ruleset::fingerprint),
            bindings: Vec::new(),
        }
        .normalized()
    }

    pub fn create_bridge(
        &mut self,
        name: &str,
        network: &str,
        options: BridgeOptions,
    ) -> Result<(), BackendError> {
        if self.links.contains_key(name) {
            return Err(err(ErrorKind::Exists, format!("link {name} already exists")));
        }
        self.links.insert(
            name.to_string(),
            Link {
                name: name.to_string(),
                kind: LinkKind::Bridge,
                alias: Some(format!("{ALIAS_PREFIX}{network}")),
                master: None,
                up: false,
                bridge: Some(options),
                mac: None,
                mtu: Some(1500),
            },
        );
        Ok(())
    }

    pub fn delete_link(&mut self, name: &str) -> Result<(), BackendError> {
        if self.links.remove(name).is_none() {
            return Err(err(ErrorKind::NoDevice, format!("cannot find device \"{name}\"")));
        }
        for l in self.links.values_mut() {
            if l.master.as_deref() == Some(name) {
                l.master = None;
            }
        }
        self.addresses.retain(|a| a.link != name);
        self.routes.retain(|r| r.dev != name);
        Ok(())
    }

    pub fn set_master(&mut self, link: &str, master: Option<&str>) -> Result<(), BackendError> {
        self.link_mut(link)?;
        if let Some(m) = master {
            let ml = self
                .links
                .get(m)
                .ok_or_else(|| err(ErrorKind::NoDevice, format!("cannot find device \"{m}\"")))?;
            if !ml.is_bridge() {
                return Err(err(ErrorKind::Unsupported, format!("{m} is not a bridge")));
            }
            if m == link {
                return Err(err(ErrorKind::Invalid, format!("cannot attach {link} to itself")));
            }
        }
        self.link_mut(link)?.master = master.map(str::to_string);
        Ok(())
    }

    pub fn set_up(&mut self, link: &str, up: bool) -> Result<(), BackendError> {
        let l = self.link_mut(link)?;
        if l.up == up {
            return Ok(());
        }
        l.up = up;
        if up {
            let prefixes: Vec<Ipv4Net> = self
                .addresses
                .iter()
                .filter(|a| a.link == link && !a.noprefixroute)
                .map(|a| a.addr)
                .collect();
            for a in prefixes {
                self.add_prefix_route(link, a);
            }
        } else {
            self.routes.retain(|r| r.dev != link);
        }
        Ok(())
    }

    pub fn add_address(&mut self, link: &str, addr: Ipv4Net) -> Result<(), BackendError> {
        self.link_mut(link)?;
        if self.addresses.iter().any(|a| a.link == link && a.addr == addr) {
            return Err(err(
                ErrorKind::Exists,
                format!("address {addr} already on {link}"),
            ));
        }
        self.addresses.push(SimAddress {
            link: link.into(),
            addr,
            owned: true,
            noprefixroute: true,
        });
        Ok(())
    }

    pub fn delete_address(&mut self, link: &str, addr: Ipv4Net) -> Result<(), BackendError> {
        self.link_mut(link)?;
        let Some(i) = self
            .addresses
            .iter()
            .position(|a| a.link == link && a.addr == addr)
        else {
            return Err(err(
                ErrorKind::AddrNotAvail,
                format!("address {addr} is not on {link}"),
            ));
        };
        let a = self.addresses.remove(i);
        if !self.addresses.iter().any(|o| o.link == link) {
            // The last IPv4 address gone: the kernel disables IP on the link and flushes
            // every route through it, brouter's too (fib_disable_ip).
            self.routes.retain(|r| r.dev != link);
        } else if !a.noprefixroute {
            let still = self
                .addresses
                .iter()
                .any(|o| o.link == link && !o.noprefixroute && o.addr.trunc() == addr.trunc());
            if !still {
                self.routes
                    .retain(|r| !(r.dev == link && r.dst == addr.trunc() && r.protocol == PROTO_KERNEL));
            }
        }
        Ok(())
    }

    pub fn add_route(&mut self, dst: Ipv4Net, dev: &str) -> Result<(), BackendError> {
        let l = self.link_mut(dev)?;
        if !l.up {
            return Err(err(ErrorKind::NetDown, format!("{dev} is down")));
        }
        if self.routes.iter().any(|r| r.dst == dst && r.metric == 0) {
            return Err(err(ErrorKind::Exists, format!("route {dst} already exists")));
        }
        self.routes.push(Route {
            dst,
            dev: dev.into(),
            gateway: None,
            protocol: OWNER_PROTO,
            metric: 0,
        });
        Ok(())
    }

    pub fn delete_route(&mut self, dst: Ipv4Net, dev: &str) -> Result<(), BackendError> {
        self.link_mut(dev)?;
        let Some(i) = self
            .routes
            .iter()
            .position(|r| r.dst == dst && r.dev == dev && r.protocol == OWNER_PROTO)
        else {
            return Err(err(ErrorKind::NoSuchRoute, format!("no route {dst} dev {dev}")));
        };
        self.routes.remove(i);
        Ok(())
    }

    pub fn rename_link(&mut self, link: &str, new_name: &str) -> Result<(), BackendError> {
        // Linux ≥ 6.2 renames a link that is up; older kernels answer EBUSY, which is why
        // the vif planner takes the link down first.
        self.link_mut(link)?;
        if self.links.contains_key(new_name) {
            return Err(err(ErrorKind::Exists, format!("link {new_name} already exists")));
        }
        let mut l = self.links.remove(link).expect("checked");
        l.name = new_name.to_string();
        self.links.insert(new_name.to_string(), l);
        for o in self.links.values_mut() {
            if o.master.as_deref() == Some(link) {
                o.master = Some(new_name.to_string());
            }
        }
        for a in self.addresses.iter_mut().filter(|a| a.link == link) {
            a.link = new_name.to_string();
        }
        for r in self.routes.iter_mut().filter(|r| r.dev == link) {
            r.dev = new_name.to_string();
        }
        Ok(())
    }

    pub fn set_mac(&mut self, link: &str, mac: &str) -> Result<(), BackendError> {
        self.link_mut(link)?.mac = Some(mac.to_string());
        Ok(())
    }

    pub fn set_mtu(&mut self, link: &str, mtu: u32) -> Result<(), BackendError> {
        if !(68..=65535).contains(&mtu) {
            return Err(err(ErrorKind::Invalid, format!("MTU {mtu} is out of range")));
        }
        self.link_mut(link)?.mtu = Some(mtu);
        Ok(())
    }

    pub fn set_sysctl(&mut self, key: &str, value: &str) -> Result<(), BackendError> {
        match self.sysctls.get_mut(key) {
            Some(v) => {
                *v = value.to_string();
                Ok(())
            }
            None => Err(err(ErrorKind::Other, format!("no sysctl {key}"))),
        }
    }
}
