//! An in-memory model of the kernel objects brouter touches, with Linux's semantics.
//!
//! Each operation fails where Linux fails, with the same [`ErrorKind`] (the differential
//! tests hold it to the real kernel), and does what Linux does implicitly: an address
//! without `noprefixroute` brings its prefix route while the link is up; setting a link
//! down drops the IPv4 routes through it; deleting a bridge releases its ports and takes
//! its addresses and routes along. A link's IPv6 side (addresses, `net.ipv6.conf`) is
//! in [`crate::ipv6`].

use std::collections::{BTreeMap, BTreeSet};

use brouter_engine::backend::{check_ifname, mac_octets};
use brouter_engine::firewall::{Binding, Ruleset};
use brouter_engine::sysctl_side::{
    after_forward_change, link_of_key, reported_keys, ACCEPT_REDIRECTS_ALL, FORWARDING_DEFAULT,
};
use brouter_engine::{
    Address, Address6, BackendError, BridgeOptions, ErrorKind, Link, LinkKind, Observed, PortState, Route,
    ALIAS_PREFIX, IP_FORWARD, OWNER_PROTO, PROTO_KERNEL,
};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::drift::DriftState;
use crate::ipv6::no_sysctl;
use crate::limits::KernelQuirks;

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
    /// `net.ipv4.conf.all.promote_secondaries`: whether deleting a primary address promotes
    /// a secondary of the same subnet (on) or deletes the secondaries with it (off, the
    /// kernel's default; Debian's systemd turns it on).
    #[serde(default)]
    pub promote_secondaries: bool,
    /// Bridges whose MTU was set by hand (BROPT_MTU_SET_BY_USER): the kernel then stops
    /// fitting their MTU to the smallest port's.
    #[serde(default)]
    pub mtu_set_by_user: BTreeSet<String>,
    /// Anti-spoofing bindings: elements of sets inside brouter's tables, by vif.
    #[serde(default)]
    pub bindings: BTreeMap<String, Binding>,
    /// Somebody edited brouter's tables behind its back (a rule inserted, a map flushed):
    /// what a read-back would name. Rewriting or deleting the tables ends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall_edited: Option<String>,
    /// Bridges created in brouter's link group (the kernel backend's second mark): one
    /// whose alias is gone still reads as brouter's (`brouter:`, network unknown).
    #[serde(default)]
    pub owner_group: BTreeSet<String>,
    /// `net.ipv4.conf.<link>.forwarding` of the links whose value is not simply
    /// `conf.default.forwarding` (written by hand since the last `ip_forward` change).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub link_forwarding: BTreeMap<String, String>,
    /// Edits somebody made inside brouter's tables (see [`crate::drift`]).
    #[serde(default, skip_serializing_if = "DriftState::is_empty")]
    pub drift: DriftState,
    /// Where kernels differ, which one this is (see [`crate::limits`]).
    #[serde(default)]
    pub quirks: KernelQuirks,
    /// IPv6 addresses, brouter's and others' (a link-local one added by hand included:
    /// `observe` leaves those out, see [`crate::ipv6`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses6: Vec<Address6>,
    /// brouter's dnsmasq (its process and its directory), if either exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp: Option<crate::dhcp_service::SimDhcp>,
    /// brouter's FRR (an EVPN cluster member), if its daemons or directory exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<crate::routing_service::SimRouting>,
    /// VXLAN devices (`[cluster]`), by name: how each was made and where it floods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vxlans: BTreeMap<String, crate::vxlan::SimVxlan>,
    /// brouter's permanent neighbour entries (`[cluster]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub neighbours: Vec<brouter_engine::Neighbour>,
}

impl Default for Kernel {
    /// An empty namespace: only `lo`, forwarding off (the kernel's default).
    fn default() -> Self {
        let mut k = Kernel {
            links: BTreeMap::new(),
            addresses: Vec::new(),
            routes: Vec::new(),
            // br_netfilter's switches, on in a new namespace as in the kernel here.
            sysctls: BTreeMap::from([
                (IP_FORWARD.to_string(), "0".to_string()),
                (brouter_engine::BRIDGE_NF_CALL[0].to_string(), "1".to_string()),
                (brouter_engine::BRIDGE_NF_CALL[1].to_string(), "1".to_string()),
            ]),
            memory: BTreeMap::new(),
            firewall: None,
            promote_secondaries: false,
            mtu_set_by_user: BTreeSet::new(),
            bindings: BTreeMap::new(),
            firewall_edited: None,
            owner_group: BTreeSet::new(),
            link_forwarding: BTreeMap::new(),
            drift: DriftState::default(),
            quirks: KernelQuirks::default(),
            addresses6: Vec::new(),
            dhcp: None,
            routing: None,
            vxlans: BTreeMap::new(),
            neighbours: Vec::new(),
        };
        k.add_link("lo", LinkKind::Other("loopback".into()), true);
        k
    }
}

/// The forward delays (seconds) STP accepts; the kernel clamps a bridge's delay into this
/// range when STP is turned on.
const STP_MIN_FORWARD_DELAY: u32 = 2;
const STP_MAX_FORWARD_DELAY: u32 = 30;

/// The MTU of a bridge without ports (and of a new bridge or veth).
const ETH_DATA_LEN: u32 = 1500;

/// A route destination with host bits set (`10.98.98.1/24`): the kernel checks the prefix
/// before anything else about the route (fib_valid_key_len → EINVAL).
fn not_a_network(dst: Ipv4Net) -> BackendError {
    err(
        ErrorKind::Invalid,
        format!(
            "{dst} is not a network: its host bits are set (did you mean {}?)",
            dst.trunc()
        ),
    )
}

pub(crate) fn err(kind: ErrorKind, message: impl Into<String>) -> BackendError {
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
                carrier: None,
                port_state: None,
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

    /// The kernel's implicit route for an address's network. It is *appended* (fib_magic:
    /// NLM_F_APPEND), so it sits beside another route to the same network — brouter's,
    /// or another link's — and is only skipped if this very route is there already.
    fn add_prefix_route(&mut self, link: &str, addr: Ipv4Net) {
        let dst = addr.trunc();
        let present = self
            .routes
            .iter()
            .any(|r| r.dst == dst && r.dev == link && r.metric == 0 && r.protocol == PROTO_KERNEL);
        if !present {
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
            links: self
                .links
                .values()
                .cloned()
                .map(|mut l| {
                    if l.alias.is_none() && self.owner_group.contains(&l.name) {
                        l.alias = Some(match self.vxlans.contains_key(&l.name) {
                            true => brouter_engine::VXLAN_ALIAS_PREFIX.to_string(),
                            false => ALIAS_PREFIX.to_string(),
                        });
                    }
                    // The sim has no carrier of its own: a port that is up has one.
                    l.carrier = l.master.is_some().then_some(l.up);
                    l
                })
                .collect(),
            addresses: self
                .addresses
                .iter()
                .map(|a| Address {
                    link: a.link.clone(),
                    addr: a.addr,
                    owned: a.owned,
                })
                .collect(),
            addresses6: self
                .addresses6
                .iter()
                .filter(|a| !Address6::kernels_own(a.addr.addr()))
                .cloned()
                .collect(),
            routes: self.routes.clone(),
            sysctls: self.reported_sysctls(),
            memory: self.memory.clone(),
            firewall: self.observed_fingerprint(),
            bindings: self.bindings.values().cloned().collect(),
            firewall_drift: vec![],
            firewall_delta: None,
            foreign_tables: vec![],
            dhcp: self.dhcp.as_ref().map(|d| d.observe()),
            routing: self.routing.as_ref().map(|r| r.observe()),
            vxlans: self.observed_vxlans(),
            // As the kernel backend reads them: only where VXLAN devices exist.
            neighbours: match self.vxlans.is_empty() {
                true => Vec::new(),
                false => self.neighbours.clone(),
            },
            // The sim runs no zebra.
            zebra_neighbours: Vec::new(),
        }
        .normalized()
    }

    pub fn create_bridge(
        &mut self,
        name: &str,
        network: &str,
        options: BridgeOptions,
    ) -> Result<(), BackendError> {
        check_ifname(name)?;
        if self.links.contains_key(name) {
            return Err(err(ErrorKind::Exists, format!("link {name} already exists")));
        }
        // Turning STP on pulls the forward delay into STP's range (br_stp_start).
        let mut options = options;
        if options.stp {
            options.forward_delay = options
                .forward_delay
                .clamp(STP_MIN_FORWARD_DELAY, STP_MAX_FORWARD_DELAY);
        }
        self.owner_group.insert(name.to_string());
        self.links.insert(
            name.to_string(),
            Link {
                carrier: None,
                port_state: None,
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
        let Some(gone) = self.links.remove(name) else {
            return Err(err(ErrorKind::NoDevice, format!("cannot find device \"{name}\"")));
        };
        self.mtu_set_by_user.remove(name);
        self.owner_group.remove(name);
        self.vxlans.remove(name);
        self.neighbours.retain(|n| n.link != name);
        // A VXLAN device goes with its underlay (vxlan_handle_lowerdev_unregister).
        let riders: Vec<String> = self
            .vxlans
            .iter()
            .filter(|(_, v)| v.underlay == name)
            .map(|(n, _)| n.clone())
            .collect();
        for vx in riders {
            self.delete_link(&vx)?;
        }
        self.link_forwarding.remove(name);
        for l in self.links.values_mut() {
            if l.master.as_deref() == Some(name) {
                l.master = None;
                l.port_state = None;
            }
        }
        if let Some(bridge) = gone.master {
            self.fit_bridge_mtu(&bridge);
        }
        self.addresses.retain(|a| a.link != name);
        self.drop_ipv6(name);
        self.routes.retain(|r| r.dev != name);
        Ok(())
    }

    /// br_mtu_auto_adjust: unless set by hand, a bridge's MTU follows its smallest port's
    /// (1500 with no ports), after every attach, detach and port MTU change.
    fn fit_bridge_mtu(&mut self, bridge: &str) {
        if self.mtu_set_by_user.contains(bridge) {
            return;
        }
        let smallest = self.ports_mtu_min(bridge).unwrap_or(ETH_DATA_LEN);
        if let Some(b) = self.links.get_mut(bridge) {
            b.mtu = Some(smallest);
        }
        self.ipv6_after_mtu_change(bridge);
    }

    fn ports_mtu_min(&self, bridge: &str) -> Option<u32> {
        self.links
            .values()
            .filter(|l| l.master.as_deref() == Some(bridge))
            .filter_map(|l| l.mtu)
            .min()
    }

    /// Attach `link` to bridge `master`, or detach it. Like the kernel (do_set_master), a
    /// port moving elsewhere leaves its old bridge *before* the new bridge is asked, so a
    /// refused attach still detaches it.
    pub fn set_master(&mut self, link: &str, master: Option<&str>) -> Result<(), BackendError> {
        if let Some(m) = master {
            // The backend looks the bridge up before it asks the kernel.
            if !self.links.contains_key(m) {
                return Err(err(ErrorKind::NoDevice, format!("cannot find device \"{m}\"")));
            }
        }
        let current = self.link_mut(link)?.master.clone();
        if current.is_some() && current.as_deref() == master {
            return Ok(());
        }
        if let Some(old) = current {
            let l = self.link_mut(link)?;
            l.master = None;
            l.port_state = None;
            self.fit_bridge_mtu(&old);
        }
        if let Some(m) = master {
            if !self.links[m].is_bridge() {
                return Err(err(ErrorKind::Unsupported, format!("{m} is not a bridge")));
            }
            // The kernel refuses a bridge as a port (itself included) with ELOOP, which
            // the backend reports as an invalid request.
            if self.links[link].is_bridge() {
                return Err(err(
                    ErrorKind::Invalid,
                    format!("cannot attach bridge {link} to bridge {m}"),
                ));
            }
            self.check_port_room(m)?;
            // br_add_if: the port is enabled if it and its bridge are up (the sim has no
            // carrier: a link that is up has one).
            let bridge_up = self.links[m].up;
            let l = self.link_mut(link)?;
            l.master = Some(m.to_string());
            l.port_state = Some(if l.up && bridge_up {
                PortState::Forwarding
            } else {
                PortState::Disabled
            });
            self.fit_bridge_mtu(m);
        }
        Ok(())
    }

    pub fn set_up(&mut self, link: &str, up: bool) -> Result<(), BackendError> {
        let l = self.link_mut(link)?;
        if l.up == up {
            return Ok(());
        }
        l.up = up;
        self.port_states_after_up(link, up);
        if !up {
            // `keep_addr_on_down` is 0 by default: a link set down loses its IPv6
            // addresses, and they do not come back when it comes up again.
            self.addresses6.retain(|a| a.link != link);
            // NETDEV_DOWN (neigh_ifdown) takes every neighbour entry, permanent ones too.
            self.neighbours.retain(|n| n.link != link);
        }
        if up {
            // Only primaries bring prefix routes.
            let prefixes: Vec<Ipv4Net> = (0..self.addresses.len())
                .filter(|&i| self.is_primary(i))
                .map(|i| &self.addresses[i])
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

    /// What an up or down event does to port states: a port going down is disabled, one
    /// coming up is enabled by br_port_carrier_check (a disabled one too); a bridge going
    /// down disables its ports, one coming up enables every port that is up
    /// (br_stp_enable_bridge), whatever state it was set to.
    fn port_states_after_up(&mut self, link: &str, up: bool) {
        let is_bridge = self.links.get(link).is_some_and(Link::is_bridge);
        if is_bridge {
            for p in self
                .links
                .values_mut()
                .filter(|p| p.master.as_deref() == Some(link))
            {
                p.port_state = Some(if up && p.up {
                    PortState::Forwarding
                } else {
                    PortState::Disabled
                });
            }
            return;
        }
        let bridge_up = self.port_bridge_up(link);
        if let Some(l) = self.links.get_mut(link).filter(|l| l.master.is_some()) {
            l.port_state = Some(if up && bridge_up {
                PortState::Forwarding
            } else {
                PortState::Disabled
            });
        }
    }

    /// Whether `link` is a port whose bridge is up.
    fn port_bridge_up(&self, link: &str) -> bool {
        self.links
            .get(link)
            .and_then(|l| l.master.as_deref())
            .and_then(|m| self.links.get(m))
            .is_some_and(|b| b.up)
    }

    /// Set a bridge port's STP state (br_setlink → br_set_port_state): EOPNOTSUPP for a
    /// link that is no port, EBUSY while its bridge runs kernel STP, ENETDOWN while the
    /// port is down. Nothing else moves a disabled port on a bridge without STP.
    pub fn set_port_state(&mut self, link: &str, state: PortState) -> Result<(), BackendError> {
        let l = self.link_mut(link)?;
        let Some(master) = l.master.clone() else {
            return Err(err(
                ErrorKind::Unsupported,
                format!("{link} is not a port of a bridge"),
            ));
        };
        let up = l.up;
        if self
            .links
            .get(&master)
            .and_then(|b| b.bridge)
            .is_some_and(|o| o.stp)
        {
            return Err(err(
                ErrorKind::Busy,
                format!("{master} runs STP, which sets the state of {link} itself (EBUSY)"),
            ));
        }
        if !up {
            return Err(err(ErrorKind::NetDown, format!("{link} is down (ENETDOWN)")));
        }
        self.link_mut(link)?.port_state = Some(state);
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
        let primary = self.is_primary(i);
        let a = self.addresses.remove(i);
        if primary {
            // The primary's prefix route goes with it (fib_del_ifaddr).
            if !a.noprefixroute {
                self.routes
                    .retain(|r| !(r.dev == link && r.dst == addr.trunc() && r.protocol == PROTO_KERNEL));
            }
            if self.promote_secondaries {
                // The oldest secondary of the subnet becomes the primary, with its route.
                if let Some(p) = self.addresses.iter().find(|o| same_subnet(o, &a)).cloned() {
                    if !p.noprefixroute && self.links.get(link).is_some_and(|l| l.up) {
                        self.add_prefix_route(link, p.addr);
                    }
                }
            } else {
                // Without promotion the secondaries of the subnet are deleted with it.
                self.addresses.retain(|o| !same_subnet(o, &a));
            }
        }
        if !self.addresses.iter().any(|o| o.link == link) {
            // The last IPv4 address gone: the kernel disables IP on the link and flushes
            // every route through it, brouter's too (fib_disable_ip).
            self.routes.retain(|r| r.dev != link);
        }
        Ok(())
    }

    /// Whether `addresses[i]` is its subnet's primary on its link: the kernel makes an
    /// address a secondary if the link already has one of the same subnet and prefix
    /// length, and promotes the oldest secondary, so in insertion order the first wins.
    fn is_primary(&self, i: usize) -> bool {
        !self.addresses[..i]
            .iter()
            .any(|o| same_subnet(o, &self.addresses[i]))
    }

    pub fn add_route(&mut self, dst: Ipv4Net, dev: &str) -> Result<(), BackendError> {
        let l = self.link_mut(dev)?;
        if dst != dst.trunc() {
            return Err(not_a_network(dst));
        }
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
        if dst != dst.trunc() {
            return Err(not_a_network(dst));
        }
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
        check_ifname(new_name)?;
        self.link_mut(link)?;
        self.check_rename_allowed(link)?;
        if link == new_name {
            // dev_change_name: the same name is no change, not a clash.
            return Ok(());
        }
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
        self.rename_ipv6(link, new_name);
        // Neighbour entries and a VXLAN device's underlay are held by index: they follow.
        for n in self.neighbours.iter_mut().filter(|n| n.link == link) {
            n.link = new_name.to_string();
        }
        for v in self.vxlans.values_mut().filter(|v| v.underlay == link) {
            v.underlay = new_name.to_string();
        }
        if let Some(v) = self.vxlans.remove(link) {
            self.vxlans.insert(new_name.to_string(), v);
        }
        for r in self.routes.iter_mut().filter(|r| r.dev == link) {
            r.dev = new_name.to_string();
        }
        if self.mtu_set_by_user.remove(link) {
            self.mtu_set_by_user.insert(new_name.to_string());
        }
        if let Some(v) = self.link_forwarding.remove(link) {
            self.link_forwarding.insert(new_name.to_string(), v);
        }
        Ok(())
    }

    pub fn set_mac(&mut self, link: &str, mac: &str) -> Result<(), BackendError> {
        // Not a MAC at all is refused before anything is asked (the backend cannot even
        // encode it); a multicast or all-zero one is refused by the kernel for the link
        // (is_valid_ether_addr → EADDRNOTAVAIL).
        let Some(bytes) = mac_octets(mac) else {
            return Err(err(ErrorKind::Invalid, format!("{mac} is not a MAC address")));
        };
        let l = self.link_mut(link)?;
        if bytes[0] & 1 == 1 || bytes.iter().all(|b| *b == 0) {
            return Err(err(
                ErrorKind::AddrNotAvail,
                format!("{mac} is not a unicast MAC address"),
            ));
        }
        l.mac = Some(mac.to_ascii_lowercase());
        // NETDEV_CHANGEADDR: the link's neighbour entries go, permanent ones included
        // (neigh_changeaddr), so a cluster bridge's MAC is set before its entries.
        self.neighbours.retain(|n| n.link != link);
        Ok(())
    }

    /// Set a link's `ifalias` (an empty one removes it, as the kernel does).
    pub fn set_alias(&mut self, link: &str, alias: &str) -> Result<(), BackendError> {
        let bridge_up = self.port_bridge_up(link);
        let l = self.link_mut(link)?;
        l.alias = (!alias.is_empty()).then(|| alias.to_string());
        // The kernel announces the change (NETDEV_CHANGE) and br_port_carrier_check
        // re-enables a disabled port that is up (measured on 6.18; a MAC or MTU change
        // does not).
        if l.up && bridge_up && l.port_state == Some(PortState::Disabled) {
            l.port_state = Some(PortState::Forwarding);
        }
        Ok(())
    }

    /// The options of bridge `link`, for a change (EOPNOTSUPP on anything else).
    fn bridge_mut(&mut self, link: &str) -> Result<&mut BridgeOptions, BackendError> {
        let l = self.link_mut(link)?;
        l.bridge
            .as_mut()
            .ok_or_else(|| err(ErrorKind::Unsupported, format!("{link} is not a bridge")))
    }

    /// Turn STP on or off; on pulls the forward delay into STP's range (br_stp_start).
    pub fn set_stp(&mut self, link: &str, stp: bool) -> Result<(), BackendError> {
        let o = self.bridge_mut(link)?;
        o.stp = stp;
        if stp {
            o.forward_delay = o
                .forward_delay
                .clamp(STP_MIN_FORWARD_DELAY, STP_MAX_FORWARD_DELAY);
        }
        Ok(())
    }

    /// Set the forward delay: out of STP's range while STP is on is ERANGE
    /// (br_set_forward_delay), which is why STP off and delay 0 cannot share a message.
    pub fn set_forward_delay(&mut self, link: &str, seconds: u32) -> Result<(), BackendError> {
        let o = self.bridge_mut(link)?;
        if o.stp && !(STP_MIN_FORWARD_DELAY..=STP_MAX_FORWARD_DELAY).contains(&seconds) {
            return Err(err(
                ErrorKind::Invalid,
                format!("forward delay {seconds}s is out of range while STP is on (ERANGE)"),
            ));
        }
        o.forward_delay = seconds;
        Ok(())
    }

    pub fn set_mtu(&mut self, link: &str, mtu: u32) -> Result<(), BackendError> {
        let l = self.link_mut(link)?;
        if !(68..=65535).contains(&mtu) {
            return Err(err(ErrorKind::Invalid, format!("MTU {mtu} is out of range")));
        }
        if l.mtu == Some(mtu) {
            // dev_set_mtu: no change, no notifier, no "set by hand".
            return Ok(());
        }
        l.mtu = Some(mtu);
        let (is_bridge, master) = (l.is_bridge(), l.master.clone());
        if is_bridge {
            self.mtu_set_by_user.insert(link.to_string());
        }
        self.ipv6_after_mtu_change(link);
        if let Some(bridge) = master {
            self.fit_bridge_mtu(&bridge);
        }
        Ok(())
    }

    /// Replace brouter's tables: the sets go with them, so every binding is dropped.
    pub fn replace_firewall(&mut self, ruleset: &Ruleset) {
        self.firewall = Some(ruleset.clone());
        self.bindings.clear();
        self.firewall_edited = None;
        self.drift = DriftState::default();
    }

    pub fn delete_firewall(&mut self) {
        self.firewall = None;
        self.bindings.clear();
        self.firewall_edited = None;
        self.drift = DriftState::default();
    }

    /// Edit brouter's tables as an admin or another tool would (`what` is how a read-back
    /// names the change); nothing happens without the tables. The fingerprint stays.
    pub fn drift_firewall(&mut self, what: &str) {
        if self.firewall.is_some() {
            self.firewall_edited = Some(what.to_string());
        }
    }

    /// Bindings are set elements: without brouter's tables there is no set to add to.
    pub fn add_binding(&mut self, binding: &Binding) -> Result<(), BackendError> {
        if !self.binding_sets_exist() {
            return Err(err(
                ErrorKind::Other,
                "brouter's firewall tables do not exist: run `brouter start` first",
            ));
        }
        self.bindings.insert(binding.vif.clone(), binding.clone());
        Ok(())
    }

    pub fn remove_binding(&mut self, vif: &str) -> Result<(), BackendError> {
        self.bindings.remove(vif);
        Ok(())
    }

    /// Write a sysctl as the kernel does, side effects included: changing `ip_forward`
    /// runs `inet_forward_change` (`conf.all.accept_redirects` = its opposite,
    /// `conf.default.forwarding` and every link's `forwarding` = it; see
    /// `brouter_engine::sysctl_side`).
    pub fn set_sysctl(&mut self, key: &str, value: &str) -> Result<(), BackendError> {
        if crate::ipv6::is_conf_key(key) {
            return self.set_sysctl6(key, value);
        }
        if let Some(link) = link_of_key(key) {
            if !self.links.contains_key(&link) {
                return Err(no_sysctl(key));
            }
            self.link_forwarding.insert(link, value.to_string());
            return Ok(());
        }
        if key == FORWARDING_DEFAULT {
            // Links keep the value they have: only links created later take the new one.
            let old = self.sysctl(FORWARDING_DEFAULT).unwrap_or_default();
            for name in self.links.keys() {
                self.link_forwarding
                    .entry(name.clone())
                    .or_insert_with(|| old.clone());
            }
        }
        if key == ACCEPT_REDIRECTS_ALL || key == FORWARDING_DEFAULT {
            self.sysctls.insert(key.to_string(), value.to_string());
            return Ok(());
        }
        let changed = match self.sysctls.get_mut(key) {
            Some(v) => {
                let changed = v != value;
                *v = value.to_string();
                changed
            }
            None => return Err(no_sysctl(key)),
        };
        if key == IP_FORWARD && changed {
            for k in [ACCEPT_REDIRECTS_ALL, FORWARDING_DEFAULT] {
                let v = after_forward_change(k, value).expect("a side effect");
                self.sysctls.insert(k.to_string(), v);
            }
            self.link_forwarding.clear();
        }
        Ok(())
    }

    /// The current value of a sysctl the sim knows (the kernel's defaults for the side
    /// effects of `ip_forward` until they are written).
    pub fn sysctl(&self, key: &str) -> Option<String> {
        if let Some(link) = link_of_key(key) {
            self.links.get(&link)?;
            return self
                .link_forwarding
                .get(&link)
                .cloned()
                .or_else(|| self.sysctl(FORWARDING_DEFAULT));
        }
        if crate::ipv6::is_conf_key(key) {
            return self.sysctl6(key);
        }
        let default = match key {
            ACCEPT_REDIRECTS_ALL => Some("1"),
            FORWARDING_DEFAULT => Some("0"),
            _ => None,
        };
        self.sysctls
            .get(key)
            .cloned()
            .or_else(|| default.map(String::from))
    }

    /// What a backend reports, by the same rule as the kernel backend: the managed
    /// sysctl (`ip_forward`), the ones brouter remembered, and while forwarding is off the
    /// keys turning it on would change (`sysctl_side::reported_keys`). Any other key —
    /// IPv6 forwarding, a link's `accept_ra` — only through `read_sysctls`, even once
    /// written, as on the kernel.
    fn reported_sysctls(&self) -> BTreeMap<String, String> {
        let mut keys = vec![IP_FORWARD.to_string()];
        keys.extend(
            self.memory
                .keys()
                .filter_map(|k| k.strip_prefix("sysctl:"))
                .map(String::from),
        );
        let forward = self.sysctl(IP_FORWARD);
        keys.extend(reported_keys(
            forward.as_deref(),
            self.links.keys().map(String::as_str),
        ));
        keys.into_iter()
            .filter_map(|k| self.sysctl(&k).map(|v| (k, v)))
            .collect()
    }
}

/// Same link, same prefix length, same network: a primary address and its secondaries.
fn same_subnet(a: &SimAddress, b: &SimAddress) -> bool {
    a.link == b.link && a.addr.trunc() == b.addr.trunc()
}
