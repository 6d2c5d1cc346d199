//! The EVPN control plane of a `control = "evpn"` cluster: what brouter's FRR (zebra and
//! bgpd, one pair per network namespace) should run, decided here and run by a backend.
//!
//! zebra learns the VXLAN devices brouter makes from the kernel and announces the MACs of
//! each member's VMs (EVPN type-2 routes) and the member itself as a flood target (type-3);
//! bgpd carries them to the other members, and their zebra writes the FDB entries (remote
//! MACs and head-end replication). brouter writes the BGP sessions only: one per other
//! member (a full mesh), or with route reflectors, sessions to the reflectors.
//!
//! The config is rendered from [`DesiredRouting`] in one fixed form, and [`parse`] reads
//! that form back, so a running FRR whose sessions alone differ is changed in place
//! ([`reload_commands`]: `vtysh` commands, no restart; a restart of zebra withdraws every
//! FDB entry it wrote and stops the overlay for the second the sessions take to come up),
//! and anything else (the AS, the router id, the host name) restarts it.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use crate::config::cluster::{Cluster, Control};

/// One BGP session of this member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Peer {
    pub address: IpAddr,
    /// This member reflects the peer's routes to its other clients (this member is a route
    /// reflector, the peer is not).
    pub rr_client: bool,
}

/// The FRR brouter wants running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredRouting {
    pub asn: u32,
    /// This member's underlay address: BGP router id and the sessions' source.
    pub router_id: Ipv4Addr,
    /// The member's name (FRR's `hostname`, shown to its peers).
    pub hostname: String,
    /// Sorted by address.
    pub peers: Vec<Peer>,
}

impl DesiredRouting {
    /// The integrated `frr.conf` both daemons read (zebra ignores the `router bgp` lines).
    pub fn config(&self) -> String {
        let asn = self.asn;
        let mut s = format!(
            "! brouter's FRR: BGP EVPN for this member's VXLAN networks. Written by brouter.\n\
             hostname {}\nrouter bgp {asn}\n bgp router-id {}\n no bgp default ipv4-unicast\n",
            self.hostname, self.router_id
        );
        for p in &self.peers {
            s.push_str(&format!(" neighbor {} remote-as {asn}\n", p.address));
            s.push_str(&format!(
                " neighbor {} update-source {}\n",
                p.address, self.router_id
            ));
        }
        s.push_str(" address-family l2vpn evpn\n");
        for p in &self.peers {
            s.push_str(&format!("  neighbor {} activate\n", p.address));
            if p.rr_client {
                s.push_str(&format!("  neighbor {} route-reflector-client\n", p.address));
            }
        }
        s.push_str("  advertise-all-vni\n exit-address-family\nexit\n");
        s
    }

    /// The stamp of [`Self::config`]: equal stamps, the same config.
    pub fn digest(&self) -> String {
        config_digest(&self.config())
    }
}

/// The stamp of a config text.
pub fn config_digest(text: &str) -> String {
    format!("{:016x}", crate::firewall::digest64(text.as_bytes()))
}

/// A config in [`DesiredRouting::config`]'s form, read back; `None` for any other text
/// (written by somebody else, or by another brouter version): then only a restart is sure.
pub fn parse(text: &str) -> Option<DesiredRouting> {
    let mut hostname = None;
    let mut asn = None;
    let mut router_id = None;
    let mut peers: BTreeMap<IpAddr, bool> = BTreeMap::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] | ["!", ..] => {}
            ["hostname", h] => hostname = Some(h.to_string()),
            ["router", "bgp", a] => asn = Some(a.parse().ok()?),
            ["bgp", "router-id", id] => router_id = Some(id.parse().ok()?),
            ["neighbor", a, "remote-as", _] => {
                peers.insert(a.parse().ok()?, false);
            }
            ["neighbor", a, "route-reflector-client"] => {
                *peers.get_mut(&a.parse().ok()?)? = true;
            }
            ["neighbor", _, "update-source", _]
            | ["neighbor", _, "activate"]
            | ["no", "bgp", "default", "ipv4-unicast"]
            | ["address-family", "l2vpn", "evpn"]
            | ["advertise-all-vni"]
            | ["exit-address-family"]
            | ["exit"] => {}
            _ => return None,
        }
    }
    let d = DesiredRouting {
        asn: asn?,
        router_id: router_id?,
        hostname: hostname?,
        peers: peers
            .into_iter()
            .map(|(address, rr_client)| Peer { address, rr_client })
            .collect(),
    };
    (d.config() == text).then_some(d)
}

/// The `vtysh` commands (one `-c` each, in order) that turn a running `from` into `to`
/// without a restart: sessions added, removed, or made (or no longer) route-reflector
/// clients. `None` when more than the sessions differ.
pub fn reload_commands(from: &DesiredRouting, to: &DesiredRouting) -> Option<Vec<String>> {
    if (from.asn, from.router_id, &from.hostname) != (to.asn, to.router_id, &to.hostname) {
        return None;
    }
    let old: BTreeMap<IpAddr, bool> = from.peers.iter().map(|p| (p.address, p.rr_client)).collect();
    let new: BTreeMap<IpAddr, bool> = to.peers.iter().map(|p| (p.address, p.rr_client)).collect();
    let mut c = vec!["configure terminal".to_string(), format!("router bgp {}", to.asn)];
    for (a, _) in old.iter().filter(|(a, _)| !new.contains_key(a)) {
        c.push(format!("no neighbor {a}"));
    }
    for (a, _) in new.iter().filter(|(a, _)| !old.contains_key(a)) {
        c.push(format!("neighbor {a} remote-as {}", to.asn));
        c.push(format!("neighbor {a} update-source {}", to.router_id));
    }
    c.push("address-family l2vpn evpn".into());
    for (a, rr) in &new {
        match old.get(a) {
            None => {
                c.push(format!("neighbor {a} activate"));
                if *rr {
                    c.push(format!("neighbor {a} route-reflector-client"));
                }
            }
            Some(was) if was != rr => c.push(format!(
                "{}neighbor {a} route-reflector-client",
                if *rr { "" } else { "no " }
            )),
            Some(_) => {}
        }
    }
    c.extend(["exit-address-family".to_string(), "end".to_string()]);
    Some(c)
}

/// The FRR `config` asks for: with `control = "evpn"`, sessions to every other member, or
/// with route reflectors in the cluster, a reflector to every other member (its clients
/// marked) and any other member to the reflectors alone.
pub fn compile(cluster: Option<&Cluster>) -> Option<DesiredRouting> {
    let c = cluster.filter(|c| c.control == Control::Evpn)?;
    let me = c.local_member()?;
    let IpAddr::V4(router_id) = me.address else {
        return None;
    };
    let reflectors = c.members.iter().any(|m| m.route_reflector);
    let mut peers: Vec<Peer> = c
        .members
        .iter()
        .filter(|m| m.name != me.name)
        .filter(|m| !reflectors || me.route_reflector || m.route_reflector)
        .map(|m| Peer {
            address: m.address,
            rr_client: me.route_reflector && !m.route_reflector,
        })
        .collect();
    peers.sort();
    Some(DesiredRouting {
        asn: c.asn,
        router_id,
        hostname: me.name.clone(),
        peers,
    })
}

/// One BGP session as FRR reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub peer: String,
    /// FRR's word: `Established` when up, else the state it is stuck in (`Active`,
    /// `Connect`, `Idle`, …).
    pub state: String,
    /// How many EVPN routes the peer has sent (`pfxRcd`): its VMs' MACs and its flood
    /// target. 0 on an established session means that member announces nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<u64>,
}

/// What a backend found of brouter's FRR.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedRouting {
    /// The daemons brouter started, if they run (alive, with brouter's paths on their
    /// command line, in this namespace).
    pub zebra: Option<u32>,
    pub bgpd: Option<u32>,
    /// brouter's `frr.conf` as it is on disk.
    #[serde(default)]
    pub config: Option<String>,
    /// The stamp ([`config_digest`]) of the config the running daemons hold.
    #[serde(default)]
    pub loaded: Option<String>,
    /// The EVPN sessions as bgpd reports them (empty when it does not run or does not answer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<Session>,
}

impl ObservedRouting {
    /// Both daemons run.
    pub fn runs(&self) -> bool {
        self.zebra.is_some() && self.bgpd.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::cluster::Member;

    fn cluster(local: &str, reflectors: &[&str]) -> Cluster {
        Cluster {
            local: local.into(),
            underlay: "eth1".into(),
            control: Control::Evpn,
            asn: 65000,
            members: ["a", "b", "c", "d"]
                .iter()
                .enumerate()
                .map(|(i, n)| Member {
                    name: n.to_string(),
                    address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11 + i as u8)),
                    route_reflector: reflectors.contains(n),
                })
                .collect(),
        }
    }

    fn addrs(d: &DesiredRouting) -> Vec<(String, bool)> {
        d.peers
            .iter()
            .map(|p| (p.address.to_string(), p.rr_client))
            .collect()
    }

    #[test]
    fn a_full_mesh_without_reflectors() {
        let d = compile(Some(&cluster("a", &[]))).unwrap();
        assert_eq!(d.router_id, Ipv4Addr::new(192, 0, 2, 11));
        assert_eq!(
            addrs(&d),
            [
                ("192.0.2.12".into(), false),
                ("192.0.2.13".into(), false),
                ("192.0.2.14".into(), false)
            ]
        );
        let text = d.config();
        assert!(text.contains(" neighbor 192.0.2.12 remote-as 65000\n"), "{text}");
        assert!(text.contains("  advertise-all-vni\n"), "{text}");
    }

    #[test]
    fn reflectors_serve_everyone_clients_see_only_reflectors() {
        let rr = compile(Some(&cluster("a", &["a", "b"]))).unwrap();
        assert_eq!(
            addrs(&rr),
            [
                ("192.0.2.12".into(), false),
                ("192.0.2.13".into(), true),
                ("192.0.2.14".into(), true)
            ]
        );
        let client = compile(Some(&cluster("c", &["a", "b"]))).unwrap();
        assert_eq!(
            addrs(&client),
            [("192.0.2.11".into(), false), ("192.0.2.12".into(), false)]
        );
    }

    #[test]
    fn static_control_runs_no_frr() {
        let mut c = cluster("a", &[]);
        c.control = Control::Static;
        assert_eq!(compile(Some(&c)), None);
        assert_eq!(compile(None), None);
    }

    #[test]
    fn the_config_reads_back_and_nothing_else_does() {
        for c in [cluster("a", &[]), cluster("a", &["a"]), cluster("c", &["a", "b"])] {
            let d = compile(Some(&c)).unwrap();
            assert_eq!(parse(&d.config()), Some(d.clone()));
        }
        let d = compile(Some(&cluster("a", &[]))).unwrap();
        let edited = d.config().replace(
            "  advertise-all-vni\n",
            "  advertise-all-vni\n  advertise-svi-ip\n",
        );
        assert_eq!(parse(&edited), None, "a line brouter does not write");
        assert_eq!(parse(""), None);
    }

    #[test]
    fn only_sessions_differing_is_a_reload() {
        let full = compile(Some(&cluster("a", &[]))).unwrap();
        let mut fewer = full.clone();
        fewer.peers.remove(0);
        let c = reload_commands(&full, &fewer).unwrap();
        assert_eq!(
            c,
            [
                "configure terminal",
                "router bgp 65000",
                "no neighbor 192.0.2.12",
                "address-family l2vpn evpn",
                "exit-address-family",
                "end"
            ]
        );
        let back = reload_commands(&fewer, &full).unwrap();
        assert!(
            back.contains(&"neighbor 192.0.2.12 remote-as 65000".to_string()),
            "{back:?}"
        );
        assert!(
            back.contains(&"neighbor 192.0.2.12 activate".to_string()),
            "{back:?}"
        );
        let mut rr = full.clone();
        rr.peers[1].rr_client = true;
        let c = reload_commands(&full, &rr).unwrap();
        assert!(
            c.contains(&"neighbor 192.0.2.13 route-reflector-client".to_string()),
            "{c:?}"
        );
        let c = reload_commands(&rr, &full).unwrap();
        assert!(
            c.contains(&"no neighbor 192.0.2.13 route-reflector-client".to_string()),
            "{c:?}"
        );
        let mut other_as = full.clone();
        other_as.asn = 65001;
        assert_eq!(reload_commands(&full, &other_as), None);
    }
}
