//! The cluster's share of a plan: one VXLAN device per network, attached to its bridge,
//! flooding to every other member, and the bridge answering with the network's anycast
//! gateway MAC.
//!
//! A VXLAN device is rebuilt rather than edited when what it was made with (VNI, local
//! address, underlay, port) differs: the kernel refuses most of those changes on a live
//! device, and a rebuild is one delete and one create.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::config::cluster::VXLAN_PORT;
use crate::desired::{Desired, DesiredVxlan, Scope};
use crate::model::{Neighbour, Observed, ObservedVxlan};

use super::{Op, PlanError};

/// Refuse what `start` cannot do without touching somebody else's link: a cluster
/// network's bridge that brouter did not make (it would get the anycast gateway's MAC,
/// which `stop` could not give back), a VXLAN name held by a device brouter did not make,
/// an underlay that is not there, a local member address the host does not carry.
pub fn refuse(desired: &Desired, observed: &Observed) -> Result<(), PlanError> {
    let Some(first) = desired.vxlans.first() else {
        return Ok(());
    };
    if observed.link(&first.underlay).is_none() {
        return Err(PlanError::UnderlayMissing {
            name: first.underlay.clone(),
        });
    }
    if !carries(observed, first.local) {
        return Err(PlanError::LocalMemberAddressMissing { address: first.local });
    }
    for v in &desired.vxlans {
        if observed.link(&v.bridge).is_some_and(|l| l.owner().is_none()) {
            return Err(PlanError::ClusterBridgeForeign {
                bridge: v.bridge.clone(),
                network: v.network.clone(),
            });
        }
        if let Some(l) = observed.link(&v.name) {
            if l.vxlan_owner().is_none() {
                return Err(PlanError::VxlanNameTaken {
                    name: v.name.clone(),
                    network: v.network.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Whether an address of the host is `addr` (the tunnels' source must be one).
fn carries(observed: &Observed, addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => observed.addresses.iter().any(|x| x.addr.addr() == a),
        IpAddr::V6(a) => observed.addresses6.iter().any(|x| x.addr.addr() == a),
    }
}

fn observed_vxlan<'o>(observed: &'o Observed, name: &str) -> Option<&'o ObservedVxlan> {
    observed.vxlans.iter().find(|v| v.name == name)
}

/// Whether the device was made as `want` says.
fn made_as(have: &ObservedVxlan, want: &DesiredVxlan) -> bool {
    have.vni == want.vni
        && have.local == Some(want.local)
        && have.underlay.as_deref() == Some(want.underlay.as_str())
        && have.port == VXLAN_PORT
        && have.learning == want.learning
}

/// Delete brouter's VXLAN devices in scope that are not wanted, or not made as wanted
/// (first, so a stale bridge is deleted without them as ports). Returns the names deleted.
pub fn remove_stale(ops: &mut Vec<Op>, desired: &Desired, observed: &Observed) -> BTreeSet<String> {
    let mut gone = BTreeSet::new();
    for l in observed.links.iter().filter(|l| l.vxlan_owner().is_some()) {
        let want = desired.vxlans.iter().find(|v| v.name == l.name);
        let keep = match (want, observed_vxlan(observed, &l.name)) {
            (Some(w), Some(have)) => made_as(have, w),
            (Some(_), None) => true,
            (None, _) => false,
        };
        if !keep && in_scope(&desired.scope, l.name.as_str(), l.master.as_deref()) {
            ops.push(Op::DeleteVxlan { name: l.name.clone() });
            gone.insert(l.name.clone());
        }
    }
    gone
}

/// A VXLAN device is in scope where its bridge is (Xen mode names bridges only).
fn in_scope(scope: &Scope, name: &str, master: Option<&str>) -> bool {
    match scope {
        Scope::All => true,
        Scope::Bridges(_) => scope.includes(name) || master.is_some_and(|m| scope.includes(m)),
    }
}

/// Create, attach and raise each wanted device, flood to exactly the other members, and
/// give each cluster bridge its anycast gateway MAC. After the bridges exist.
pub fn converge(ops: &mut Vec<Op>, desired: &Desired, observed: &Observed, rebuilt: &BTreeSet<String>) {
    for v in &desired.vxlans {
        let link = observed.link(&v.name).filter(|_| !rebuilt.contains(&v.name));
        let bridge_mac = observed.link(&v.bridge).and_then(|l| l.mac.as_deref());
        if bridge_mac != Some(v.gateway_mac.as_str()) {
            ops.push(Op::SetMac {
                link: v.bridge.clone(),
                mac: v.gateway_mac.clone(),
            });
        }
        if link.is_none() {
            ops.push(Op::CreateVxlan {
                name: v.name.clone(),
                network: v.network.clone(),
                vni: v.vni,
                local: v.local,
                underlay: v.underlay.clone(),
                port: VXLAN_PORT,
                learning: v.learning,
            });
        }
        if link.and_then(|l| l.master.as_deref()) != Some(v.bridge.as_str()) {
            ops.push(Op::SetMaster {
                link: v.name.clone(),
                master: Some(v.bridge.clone()),
            });
        }
        if !link.is_some_and(|l| l.up) {
            ops.push(Op::SetUp {
                link: v.name.clone(),
                up: true,
            });
        }
        neighbours(ops, v, observed);
        if !v.learning {
            // EVPN: the device's FDB (flood targets, remote MACs) is FRR's to write.
            continue;
        }
        let have: &[IpAddr] = match link.and(observed_vxlan(observed, &v.name)) {
            Some(o) => &o.remotes,
            None => &[],
        };
        for dst in v.remotes.iter().filter(|d| !have.contains(d)) {
            ops.push(Op::AddFlood {
                link: v.name.clone(),
                dst: *dst,
            });
        }
        for dst in have.iter().filter(|d| !v.remotes.contains(d)) {
            ops.push(Op::DeleteFlood {
                link: v.name.clone(),
                dst: *dst,
            });
        }
    }
}

/// The declared hosts' entries on the bridge, exactly: missing or wrong ones set (one
/// zebra wrote with the declared MAC counts), brouter's others deleted.
fn neighbours(ops: &mut Vec<Op>, v: &DesiredVxlan, observed: &Observed) {
    let have: Vec<&Neighbour> = observed
        .neighbours
        .iter()
        .filter(|n| n.link == v.bridge)
        .collect();
    let zebras = observed.zebra_neighbours.iter().filter(|n| n.link == v.bridge);
    let have_any: Vec<&Neighbour> = have.iter().copied().chain(zebras).collect();
    for (ip, mac) in &v.neighbours {
        if !have_any.iter().any(|n| n.ip == *ip && n.mac == *mac) {
            ops.push(Op::SetNeighbour {
                link: v.bridge.clone(),
                ip: *ip,
                mac: mac.clone(),
            });
        }
    }
    for n in have
        .iter()
        .filter(|n| !v.neighbours.iter().any(|(ip, _)| *ip == n.ip))
    {
        ops.push(Op::DeleteNeighbour {
            link: n.link.clone(),
            ip: n.ip,
        });
    }
}

/// `stop`: delete brouter's VXLAN devices in scope (before their bridges), and its
/// neighbour entries on links in scope that stay (a bridge it adopted).
pub fn remove(ops: &mut Vec<Op>, scope: &Scope, observed: &Observed) -> BTreeSet<String> {
    for n in &observed.neighbours {
        let deleted = observed.link(&n.link).is_some_and(|l| l.owner().is_some());
        if scope.includes(&n.link) && !deleted {
            ops.push(Op::DeleteNeighbour {
                link: n.link.clone(),
                ip: n.ip,
            });
        }
    }
    let mut gone = BTreeSet::new();
    for l in observed.links.iter().filter(|l| l.vxlan_owner().is_some()) {
        if in_scope(scope, &l.name, l.master.as_deref()) {
            ops.push(Op::DeleteVxlan { name: l.name.clone() });
            gone.insert(l.name.clone());
        }
    }
    gone
}
