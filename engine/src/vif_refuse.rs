//! What `vif online` must refuse to touch, decided before any change (exit 2 with the
//! reason), and the ports `status` must point out on an anti-spoofing bridge.
//!
//! `vif online` renames, re-MACs, flushes and enslaves the interface it is given: given the
//! uplink it would wipe the host's address and cut it off; given a bridge, it would nest
//! bridges; given an interface another bridge holds, it would silently move it into a
//! different zone. A second vif with a MAC already bound on the same network would share
//! that identity (its traffic judged as the first domU's). So each of these is refused,
//! naming what the interface is and what would be right.

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::model::{Link, Observed};

/// Why `vif online` will not touch an interface.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum Refusal {
    #[error("{vif} is the uplink ([uplink] interface = \"{vif}\"), not a domU's interface: attaching it would flush its addresses and cut the host off; check $vif / --vif")]
    Uplink { vif: String },
    #[error("{vif} is brouter's bridge for network {network}, not a domU's interface: check $vif / --vif")]
    OwnBridge { vif: String, network: String },
    #[error("{vif} is a bridge, not a domU's interface: check $vif / --vif")]
    Bridge { vif: String },
    #[error("{vif} carries the address {addr}: a vif Xen just created has none, so this looks like one of the host's interfaces; refusing to flush it (check $vif / --vif, or remove the address first)")]
    HasAddress { vif: String, addr: String },
    #[error("{vif} is a port of {master}, a bridge that is not one of this configuration's: refusing to move it into {bridge} (detach it from {master} first if it really belongs there)")]
    ForeignBridge {
        vif: String,
        master: String,
        bridge: String,
    },
    #[error("MAC {mac} is already bound to {other} on {bridge}: two vifs with one MAC on one network would share one identity; give this domU its own MAC (xl: vif = ['mac=…'])")]
    DuplicateMac {
        mac: String,
        other: String,
        bridge: String,
    },
}

/// Addresses `vif online` flushes as vif-bridge does: any on a device Xen names
/// (`vif<domid>.<devid>`, its `-emu` twin: whatever sits there is stale, and vif-bridge
/// flushes it too), IPv4 link-local on any other (a freshly created interface may have
/// picked one up). Any other address marks one of the host's interfaces.
fn flushable(link: &str, addr: &ipnet::Ipv4Net) -> bool {
    xen_backend_name(link) || addr.addr().is_link_local()
}

/// Whether `name` is a backend device name Xen gives (`vif3.0`, `vif3.0-emu`).
fn xen_backend_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("vif") else {
        return false;
    };
    let rest = rest.strip_suffix("-emu").unwrap_or(rest);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    rest.split_once('.')
        .is_some_and(|(domid, devid)| digits(domid) && digits(devid))
}

/// Whether `name` is a bridge of `config` or carries brouter's mark.
fn ours(config: Option<&Config>, observed: &Observed, name: &str) -> bool {
    config.is_some_and(|c| c.networks.iter().any(|n| n.bridge == name))
        || observed.link(name).is_some_and(|l| l.owner().is_some())
}

/// Refuse `link` (about to be attached to `bridge` with the domU's `mac`) when it is not
/// a domU's interface or would clash with one already bound. `observed` may be narrow
/// (the links [`crate::vif::vif_links`] names): a duplicate MAC is then found among the
/// bindings and links it holds.
pub fn check(
    config: Option<&Config>,
    observed: &Observed,
    link: &Link,
    bridge: &str,
    mac: Option<&str>,
) -> Result<(), Refusal> {
    let vif = link.name.clone();
    if config
        .and_then(|c| c.uplink.as_ref())
        .is_some_and(|u| u.interface == link.name)
    {
        return Err(Refusal::Uplink { vif });
    }
    if link.is_bridge() {
        return Err(match link.owner() {
            Some(network) => Refusal::OwnBridge {
                vif,
                network: network.to_string(),
            },
            None => Refusal::Bridge { vif },
        });
    }
    if let Some(a) = observed
        .addresses
        .iter()
        .find(|a| a.link == link.name && !flushable(&a.link, &a.addr))
    {
        return Err(Refusal::HasAddress {
            vif,
            addr: a.addr.to_string(),
        });
    }
    if let Some(master) = link.master.as_deref() {
        if master != bridge && !ours(config, observed, master) {
            return Err(Refusal::ForeignBridge {
                vif,
                master: master.to_string(),
                bridge: bridge.to_string(),
            });
        }
    }
    if let Some(mac) = mac.map(str::to_ascii_lowercase) {
        if let Some(other) = duplicate(observed, &link.name, bridge, &mac) {
            return Err(Refusal::DuplicateMac {
                mac,
                other,
                bridge: bridge.to_string(),
            });
        }
    }
    Ok(())
}

/// Another port of `bridge` bound to `mac`, if any.
fn duplicate(observed: &Observed, vif: &str, bridge: &str, mac: &str) -> Option<String> {
    observed
        .bindings
        .iter()
        .filter(|b| b.vif != vif && b.mac.eq_ignore_ascii_case(mac))
        .find(|b| {
            observed
                .link(&b.vif)
                .is_some_and(|l| l.master.as_deref() == Some(bridge))
        })
        .map(|b| b.vif.clone())
}

/// One port of an anti-spoofing bridge that `status` must point out: it passes traffic
/// no binding vouches for, or shares a MAC, or sits on a bridge brouter does not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuspectPort {
    /// The port (a vif, or whatever was enslaved).
    pub port: String,
    /// Its bridge.
    pub bridge: String,
    /// Unbound (no binding: nothing vouches for what it sends), by what becomes of it
    /// ([`crate::port_block::Fate`]): `unbound` (not disabled: it reaches the dom0),
    /// `unbound_stp` (not disabled: its bridge runs STP, which refuses port states),
    /// `unbound_blocked` (its port state is disabled: it reaches nothing),
    /// `unbound_uplink` / `unbound_nic` (the uplink or a network card: never disabled,
    /// kept from the bound vifs only). Or `duplicate_mac` (its bound MAC is bound to
    /// another port of the same bridge too).
    pub problem: String,
    /// The MAC concerned (duplicate_mac).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

/// The unbound and duplicate-MAC ports of the anti-spoofing bridges named in
/// `antispoof_bridges`, sorted by bridge and port. An unbound port there that is not
/// disabled (`unbound`, `unbound_stp`) means a VM (or a foreign script's interface) is not
/// fenced: `status` is then not converged. `uplink`: the configured uplink, never disabled.
pub fn suspect_ports(
    observed: &Observed,
    antispoof_bridges: &[&str],
    uplink: Option<&str>,
) -> Vec<SuspectPort> {
    use crate::port_block::{fate, Fate};
    use std::collections::HashMap;
    // Looked up by name and MAC: 1,000 bound vifs searched one by one for each port is
    // millions of comparisons. The first binding of a vif counts, as in `binding_of`.
    let mut by_vif: HashMap<&str, &crate::firewall::Binding> = HashMap::new();
    let mut by_mac: HashMap<String, Vec<&str>> = HashMap::new();
    for b in &observed.bindings {
        by_vif.entry(b.vif.as_str()).or_insert(b);
        by_mac
            .entry(b.mac.to_ascii_lowercase())
            .or_default()
            .push(b.vif.as_str());
    }
    let masters: HashMap<&str, Option<&str>> = observed
        .links
        .iter()
        .rev()
        .map(|l| (l.name.as_str(), l.master.as_deref()))
        .collect();
    // Another port of `bridge` bound to `mac` (as [`duplicate`] finds it).
    let duplicate = |vif: &str, bridge: &str, mac: &str| {
        by_mac.get(&mac.to_ascii_lowercase()).is_some_and(|vifs| {
            vifs.iter()
                .any(|v| *v != vif && masters.get(v).copied().flatten() == Some(bridge))
        })
    };
    let mut out = Vec::new();
    for bridge in antispoof_bridges {
        let stp = observed
            .link(bridge)
            .and_then(|b| b.bridge)
            .is_some_and(|o| o.stp);
        for port in observed.ports_of(bridge) {
            match by_vif.get(port.name.as_str()) {
                // The cluster's overlay: each VM behind it is judged on its own member.
                None if port.vxlan_owner().is_some() => {}
                None => out.push(SuspectPort {
                    port: port.name.clone(),
                    bridge: bridge.to_string(),
                    problem: match fate(port, uplink, stp) {
                        Fate::Block => "unbound",
                        Fate::Stp => "unbound_stp",
                        Fate::Blocked => "unbound_blocked",
                        Fate::Uplink => "unbound_uplink",
                        Fate::Nic => "unbound_nic",
                        Fate::Overlay => "overlay",
                    }
                    .into(),
                    mac: None,
                }),
                Some(b) => {
                    if duplicate(&port.name, bridge, &b.mac) {
                        out.push(SuspectPort {
                            port: port.name.clone(),
                            bridge: bridge.to_string(),
                            problem: "duplicate_mac".into(),
                            mac: Some(b.mac.clone()),
                        });
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| (&a.bridge, &a.port).cmp(&(&b.bridge, &b.port)));
    out
}

/// The bridges that are not of `config` and carry no brouter mark, with their ports: the
/// "foreign ports" `status` lists, so an admin sees a vif that went to a bridge brouter
/// does not manage.
pub fn foreign_ports(config: &Config, observed: &Observed) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = observed
        .links
        .iter()
        .filter_map(|l| {
            let master = l.master.as_deref()?;
            let m = observed.link(master)?;
            (m.is_bridge() && !ours(Some(config), observed, master))
                .then(|| (master.to_string(), l.name.clone()))
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::Binding;
    use crate::model::{Address, LinkKind};

    fn link(name: &str, kind: LinkKind, master: Option<&str>, alias: Option<&str>) -> Link {
        Link {
            carrier: None,
            port_state: None,
            name: name.into(),
            kind,
            master: master.map(String::from),
            alias: alias.map(String::from),
            up: true,
            bridge: None,
            mac: None,
            mtu: None,
        }
    }

    fn world() -> Observed {
        Observed {
            links: vec![
                link("xenbr0", LinkKind::Bridge, None, Some("brouter:lan")),
                link("docker0", LinkKind::Bridge, None, None),
                link("eth0", LinkKind::Veth, None, None),
                link("vif1.0", LinkKind::Veth, Some("xenbr0"), None),
                link("vif2.0", LinkKind::Veth, None, None),
                link("vif3.0", LinkKind::Veth, Some("docker0"), None),
                link("vif4.0", LinkKind::Veth, Some("xenbr0"), None),
            ],
            addresses: vec![
                Address {
                    link: "eth0".into(),
                    addr: "192.0.2.2/24".parse().unwrap(),
                    owned: false,
                },
                Address {
                    link: "vif2.0".into(),
                    addr: "169.254.3.3/16".parse().unwrap(),
                    owned: false,
                },
            ],
            bindings: vec![Binding {
                vif: "vif1.0".into(),
                mac: "aa:cc:00:00:00:01".into(),
                addrs: vec![],
            }],
            ..Observed::default()
        }
    }

    fn refusal(name: &str, mac: Option<&str>) -> Result<(), Refusal> {
        let o = world();
        let config = crate::config::from_toml(
            "[uplink]\ninterface = \"eth0\"\n[[network]]\nname = \"lan\"\nbridge = \"xenbr0\"\naddress = \"10.1.0.1/24\"\n",
            "t.toml",
        )
        .unwrap();
        check(Some(&config), &o, o.link(name).unwrap(), "xenbr0", mac)
    }

    #[test]
    fn host_interfaces_and_bridges_are_refused_with_the_reason() {
        assert!(matches!(refusal("eth0", None), Err(Refusal::Uplink { .. })));
        assert!(matches!(refusal("xenbr0", None), Err(Refusal::OwnBridge { .. })));
        assert!(matches!(refusal("docker0", None), Err(Refusal::Bridge { .. })));
        let e = refusal("vif3.0", None).unwrap_err();
        assert!(matches!(e, Refusal::ForeignBridge { .. }));
        assert!(e.to_string().contains("docker0"), "{e}");
    }

    #[test]
    fn a_fresh_vif_with_a_link_local_address_is_accepted() {
        assert_eq!(refusal("vif2.0", Some("aa:cc:00:00:00:02")), Ok(()));
    }

    #[test]
    fn a_mac_bound_to_another_port_of_the_bridge_is_refused() {
        let e = refusal("vif2.0", Some("AA:CC:00:00:00:01")).unwrap_err();
        assert!(e.to_string().contains("vif1.0"), "{e}");
        // Rebinding the same vif is not a duplicate.
        assert_eq!(refusal("vif1.0", Some("aa:cc:00:00:00:01")), Ok(()));
    }

    #[test]
    fn status_points_at_unbound_duplicate_and_foreign_ports() {
        let mut o = world();
        o.bindings.push(Binding {
            vif: "vif4.0".into(),
            mac: "aa:cc:00:00:00:01".into(),
            addrs: vec![],
        });
        let s = suspect_ports(&o, &["xenbr0"], None);
        let problems: Vec<(&str, &str)> = s.iter().map(|p| (p.port.as_str(), p.problem.as_str())).collect();
        assert_eq!(
            problems,
            [("vif1.0", "duplicate_mac"), ("vif4.0", "duplicate_mac")]
        );
        o.bindings.clear();
        let s = suspect_ports(&o, &["xenbr0"], None);
        assert!(s.iter().all(|p| p.problem == "unbound") && s.len() == 2);
        // Disabled, the uplink, a NIC, a bridge running STP: each says so.
        o.links
            .iter_mut()
            .find(|l| l.name == "vif1.0")
            .unwrap()
            .port_state = Some(crate::model::PortState::Disabled);
        o.links.iter_mut().find(|l| l.name == "vif4.0").unwrap().kind = LinkKind::Other("physical".into());
        let s = suspect_ports(&o, &["xenbr0"], None);
        let problems: Vec<&str> = s.iter().map(|p| p.problem.as_str()).collect();
        assert_eq!(problems, ["unbound_blocked", "unbound_nic"]);
        o.links.iter_mut().find(|l| l.name == "vif4.0").unwrap().kind = LinkKind::Veth;
        let s = suspect_ports(&o, &["xenbr0"], Some("vif4.0"));
        assert_eq!(s[1].problem, "unbound_uplink");
        o.links.iter_mut().find(|l| l.name == "xenbr0").unwrap().bridge = Some(crate::model::BridgeOptions {
            stp: true,
            forward_delay: 15,
        });
        let s = suspect_ports(&o, &["xenbr0"], None);
        assert_eq!(s[1].problem, "unbound_stp");
        let config = crate::config::from_xen_words(&["bridgeip=10.1.0.1/24"]).unwrap();
        assert_eq!(
            foreign_ports(&config, &o),
            [("docker0".to_string(), "vif3.0".to_string())]
        );
    }
}
