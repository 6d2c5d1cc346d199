//! The planner: the ordered operations that take what exists to what should exist.
//!
//! Pure functions of `(Desired, Observed)`. The invariants the property tests hold it to:
//! a converged system plans nothing; nothing brouter did not create is ever removed; a
//! plan interrupted after any step and planned again converges to the same state.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::config::Proto;

use crate::desired::Desired;
pub use crate::desired::Scope;

mod addresses6;
mod bridge_attrs;
mod cluster;
mod dhcp;
pub mod elements;
mod index;
mod op;
pub mod resume;
mod routing;
use crate::binding_memory::{bindings_to_restore, remember_binding, restore_lost_bindings};
use crate::firewall::Ruleset;
use crate::model::{link_up_memory_key, sysctl_memory_key, Observed, ALIAS_PREFIX, IP_FORWARD};
pub use elements::{Element, FirewallDelta, SetDelta};
pub use op::{Op, StaleFlow};

/// An ordered list of operations. Empty means converged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub ops: Vec<Op>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
    pub fn len(&self) -> usize {
        self.ops.len()
    }
}

/// Why the desired state cannot be reached without touching something brouter does not own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum PlanError {
    #[error("{name} exists and is not a bridge (it is a {kind}); brouter will not replace it — rename the network's bridge or remove that link")]
    NotABridge { name: String, kind: String },
    #[error("route {dst} already goes via {existing_dev}, not {dev}; brouter will not replace a route it did not create — delete it or change the network's address")]
    RouteConflict {
        dst: Ipv4Net,
        dev: String,
        existing_dev: String,
    },
    #[error("table {table} exists but is not brouter's (it carries no `brouter ruleset` mark); brouter will not replace it — rename or delete that table (nft delete table {table}) and run start again")]
    ForeignTable { table: String },
    /// Planned from a [`Desired::summary`], but the firewall tables must be rewritten:
    /// plan again with the whole [`Desired`].
    #[error("the firewall must be rewritten, which needs the whole compiled configuration")]
    NeedsRuleset,
    #[error("the cluster's underlay interface {name} does not exist; set [cluster] underlay to the interface that reaches the other members")]
    UnderlayMissing { name: String },
    #[error("no interface of this host carries {address}, this member's address in [[cluster.member]]; add it to the underlay interface or correct the member's address (or cluster.local)")]
    LocalMemberAddressMissing { address: std::net::IpAddr },
    #[error("{name} exists and is not brouter's VXLAN device; network {network} needs that name (its VNI) on every member — remove that link")]
    VxlanNameTaken { name: String, network: String },
    #[error("bridge {bridge} exists and is not brouter's; on a cluster, network {network}'s bridge becomes the anycast gateway (its MAC is the same on every member), so brouter makes it itself — give the network another bridge name, or remove that bridge")]
    ClusterBridgeForeign { bridge: String, network: String },
}

/// Plan `start`: converge `observed` to `desired`.
pub fn plan_start(desired: &Desired, observed: &Observed) -> Result<Plan, PlanError> {
    let observed = &index::Indexed::new(observed);
    refuse_foreign_bridge_names(desired, observed)?;
    refuse_foreign_routes(desired, observed)?;
    if let Some(table) = observed.foreign_tables.first() {
        return Err(PlanError::ForeignTable { table: table.clone() });
    }
    cluster::refuse(desired, observed)?;
    let mut ops = Vec::new();
    let rebuilt = cluster::remove_stale(&mut ops, desired, observed);
    let stale = stale_bridges(desired, observed);
    remove_stale_routes_and_bridges(&mut ops, desired, observed, &stale);
    remember_notes(&mut ops, desired, observed);
    set_sysctls(&mut ops, desired, observed);
    create_and_raise_bridges(&mut ops, desired, observed);
    bridge_attrs::repair(&mut ops, desired, observed);
    cluster::converge(&mut ops, desired, observed, &rebuilt);
    let flushed = converge_addresses(&mut ops, desired, observed, &stale);
    addresses6::converge(&mut ops, desired, observed, &stale);
    add_missing_routes(&mut ops, desired, observed, &flushed);
    replace_firewall_if_changed(&mut ops, desired, observed)?;
    let raised: Vec<&str> = desired
        .bridges
        .iter()
        .filter(|b| observed.link(&b.name).is_some_and(|l| !l.up))
        .map(|b| b.name.as_str())
        .collect();
    crate::port_block::converge(&mut ops, desired, observed, &raised, &stale);
    // Last: dnsmasq binds the bridges as they are now (it follows them if they change).
    dhcp::converge(&mut ops, desired.dhcp.as_ref(), observed.dhcp.as_ref());
    routing::converge(&mut ops, desired.routing.as_ref(), observed.routing.as_ref());
    Ok(Plan { ops })
}

/// A wanted bridge's name taken by a link that is not a bridge: brouter will not replace it.
fn refuse_foreign_bridge_names(desired: &Desired, observed: &index::Indexed) -> Result<(), PlanError> {
    for b in &desired.bridges {
        if let Some(l) = observed.link(&b.name) {
            if !l.is_bridge() {
                return Err(PlanError::NotABridge {
                    name: b.name.clone(),
                    kind: format!("{:?}", l.kind).to_lowercase(),
                });
            }
        }
    }
    Ok(())
}

/// A wanted route whose destination a route brouter did not create sends elsewhere.
fn refuse_foreign_routes(desired: &Desired, observed: &index::Indexed) -> Result<(), PlanError> {
    for r in &desired.routes {
        let same_dst = observed.routes_to(&r.dst);
        let owned_here = same_dst.iter().any(|o| o.owned() && o.dev == r.dev);
        if owned_here {
            continue;
        }
        if let Some(o) = same_dst.iter().find(|o| o.metric == 0 && !o.owned()) {
            if o.dev != r.dev {
                return Err(PlanError::RouteConflict {
                    dst: r.dst,
                    dev: r.dev.clone(),
                    existing_dev: o.dev.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The bridges brouter owns in scope but no longer wants.
fn stale_bridges<'o>(desired: &Desired, observed: &'o Observed) -> Vec<&'o str> {
    let wanted_bridges: BTreeSet<&str> = desired.bridges.iter().map(|b| b.name.as_str()).collect();
    observed
        .links
        .iter()
        .filter(|l| {
            l.owner().is_some()
                && desired.scope.includes(&l.name)
                && !wanted_bridges.contains(l.name.as_str())
        })
        .map(|l| l.name.as_str())
        .collect()
}

/// Step 1: what brouter owns in scope but no longer wants — its routes on kept links,
/// then the stale bridges (which take their own addresses and routes with them).
fn remove_stale_routes_and_bridges(
    ops: &mut Vec<Op>,
    desired: &Desired,
    observed: &Observed,
    stale: &[&str],
) {
    let wanted_routes: HashSet<(Ipv4Net, &str)> =
        desired.routes.iter().map(|d| (d.dst, d.dev.as_str())).collect();
    for r in &observed.routes {
        let wanted = wanted_routes.contains(&(r.dst, r.dev.as_str()));
        if r.owned() && desired.scope.includes(&r.dev) && !wanted && !stale.contains(&r.dev.as_str()) {
            ops.push(Op::DeleteRoute {
                dst: r.dst,
                dev: r.dev.clone(),
            });
        }
    }
    for name in stale {
        remove_bridge(ops, observed, name);
    }
}

/// Step 2a: notes for later hooks (Xen mode's words), when memory differs.
fn remember_notes(ops: &mut Vec<Op>, desired: &Desired, observed: &Observed) {
    for (key, value) in &desired.notes {
        if observed.memory.get(key) != Some(value) {
            ops.push(Op::Remember {
                key: key.clone(),
                value: value.clone(),
            });
        }
    }
}

/// Step 2b: sysctls, remembering what was there before brouter first changed it.
fn set_sysctls(ops: &mut Vec<Op>, desired: &Desired, observed: &Observed) {
    for (key, value) in &desired.sysctls {
        // A missing uplink has no `accept_ra` to set (warned about elsewhere); the next
        // `start` after it appears sets it.
        if crate::model::sysctl_link(key).is_some_and(|l| observed.link(&l).is_none()) {
            continue;
        }
        let current = observed.sysctls.get(key);
        if current != Some(value) {
            let mkey = sysctl_memory_key(key);
            if let Some(cur) = current {
                if !observed.memory.contains_key(&mkey) {
                    ops.push(Op::Remember {
                        key: mkey,
                        value: cur.clone(),
                    });
                }
            }
            // Also when ip_forward is remembered already: a kill may have come between.
            if key == IP_FORWARD {
                crate::sysctl_side::remember(ops, observed);
            }
            ops.push(Op::SetSysctl {
                key: key.clone(),
                value: value.clone(),
            });
        }
    }
}

/// Step 3: bridges — create missing ones; bring all up (noting foreign ones we raised,
/// so `stop` puts them down again).
fn create_and_raise_bridges(ops: &mut Vec<Op>, desired: &Desired, observed: &index::Indexed) {
    for b in &desired.bridges {
        let up = match observed.link(&b.name) {
            None => {
                ops.push(Op::CreateBridge {
                    name: b.name.clone(),
                    network: b.network.clone(),
                    options: b.options,
                });
                false
            }
            Some(l) => {
                let mkey = link_up_memory_key(&b.name);
                if l.owner().is_none() && !l.up && !observed.memory.contains_key(&mkey) {
                    ops.push(Op::Remember {
                        key: mkey,
                        value: "down".into(),
                    });
                }
                l.up
            }
        };
        if !up {
            ops.push(Op::SetUp {
                link: b.name.clone(),
                up: true,
            });
        }
    }
}

/// The addresses on each link as the plan goes, and the links whose last address the
/// plan deletes (the kernel flushes their routes).
struct AddressTrack {
    /// Each link's addresses.
    present: HashMap<String, Vec<Ipv4Net>>,
    flushed: BTreeSet<String>,
}

impl AddressTrack {
    fn delete(&mut self, ops: &mut Vec<Op>, link: &str, addr: Ipv4Net) {
        ops.push(Op::DeleteAddress {
            link: link.to_string(),
            addr,
        });
        let left = self.present.get_mut(link).map(|on| {
            on.retain(|x| *x != addr);
            on.len()
        });
        if left.unwrap_or(0) == 0 {
            self.flushed.insert(link.to_string());
        }
    }

    fn has(&self, link: &str, addr: Ipv4Net) -> bool {
        self.present.get(link).is_some_and(|on| on.contains(&addr))
    }

    fn add(&mut self, link: &str, addr: Ipv4Net) {
        self.present.entry(link.to_string()).or_default().push(addr);
    }
}

/// Whether `a` is an address brouter owns in scope, on a kept link, that is no longer
/// wanted.
fn is_stale_address(
    desired: &Desired,
    wanted: &HashSet<(&str, Ipv4Net)>,
    stale: &[&str],
    a: &crate::model::Address,
) -> bool {
    a.owned
        && desired.scope.includes(&a.link)
        && !stale.contains(&a.link.as_str())
        && !wanted.contains(&(a.link.as_str(), a.addr))
}

/// Step 4: addresses (a foreign identical address already satisfies the wish). The kernel
/// flushes every route through a link whose last IPv4 address goes, and (with
/// promote_secondaries off, its default) deletes a primary's secondaries with it. So an
/// old address of brouter's in the *same* subnet as a new one goes first (or the new one
/// would be its secondary and vanish with it); other old addresses go after the new ones
/// exist. Returns the links whose routes the plan drops.
fn converge_addresses(
    ops: &mut Vec<Op>,
    desired: &Desired,
    observed: &index::Indexed,
    stale: &[&str],
) -> BTreeSet<String> {
    let mut track = AddressTrack {
        present: HashMap::new(),
        flushed: BTreeSet::new(),
    };
    for a in &observed.addresses {
        track.add(&a.link, a.addr);
    }
    let wanted: HashSet<(&str, Ipv4Net)> = desired
        .addresses
        .iter()
        .map(|d| (d.link.as_str(), d.addr))
        .collect();
    let is_stale = |a: &crate::model::Address| is_stale_address(desired, &wanted, stale, a);
    let mut deleted: HashSet<usize> = HashSet::new();
    for a in &desired.addresses {
        if track.has(&a.link, a.addr) {
            continue;
        }
        for &(k, old) in observed.addresses_on(&a.link) {
            if is_stale(old) && old.addr.trunc() == a.addr.trunc() && !deleted.contains(&k) {
                track.delete(ops, &old.link, old.addr);
                deleted.insert(k);
            }
        }
        ops.push(Op::AddAddress {
            link: a.link.clone(),
            addr: a.addr,
        });
        track.add(&a.link, a.addr);
    }
    for (k, old) in observed.addresses.iter().enumerate() {
        if is_stale(old) && !deleted.contains(&k) {
            track.delete(ops, &old.link, old.addr);
        }
    }
    track.flushed
}

/// Step 5: routes, after the bridge is up: the kernel refuses routes via a down link and
/// drops them when a link goes down; only the prefix routes of (foreign) addresses come
/// back by themselves when it goes up again. Routes through `flushed` links are gone.
fn add_missing_routes(
    ops: &mut Vec<Op>,
    desired: &Desired,
    observed: &index::Indexed,
    flushed: &BTreeSet<String>,
) {
    for r in &desired.routes {
        let present = if flushed.contains(r.dev.as_str()) {
            false
        } else if observed.link(&r.dev).is_some_and(|l| l.up) {
            observed
                .routes_to(&r.dst)
                .iter()
                .any(|o| o.dev == r.dev && o.metric == 0)
        } else {
            observed
                .addresses_on(&r.dev)
                .iter()
                .any(|(_, a)| !a.owned && a.addr.trunc() == r.dst)
        };
        if !present {
            ops.push(Op::AddRoute {
                dst: r.dst,
                dev: r.dev.clone(),
            });
        }
    }
}

/// Step 6: the firewall, only when it differs: by element updates when the read-back
/// found only elements different ([`FirewallDelta`]), else as one replacement that puts
/// back the bindings of vifs that are still attached. A summary cannot rewrite it.
fn replace_firewall_if_changed(
    ops: &mut Vec<Op>,
    desired: &Desired,
    observed: &Observed,
) -> Result<(), PlanError> {
    // A fingerprint skips work only when the read-back found nothing changed inside.
    let converged_fw = desired.firewall_fingerprint.is_some()
        && observed.firewall.as_deref() == desired.firewall_fingerprint.as_deref()
        && observed.firewall_drift.is_empty()
        && observed
            .firewall_delta
            .as_ref()
            .is_none_or(|d| d.sets.is_empty() && !d.structural);
    let pending = resume::flush_pending(observed);
    match &desired.firewall {
        Some(fw) if !converged_fw => {
            let fp = desired
                .firewall_fingerprint
                .clone()
                .unwrap_or_else(|| fw.fingerprint());
            let delta = observed.firewall_delta.as_ref();
            let differs = observed.firewall.as_deref() != Some(fp.as_str())
                || !observed.firewall_drift.is_empty()
                || delta.is_some_and(|d| !d.sets.is_empty() || d.structural);
            if differs {
                match delta.filter(|d| observed.firewall.is_some() && d.elements_only()) {
                    Some(d) => {
                        let at = ops.len();
                        ops.push(Op::UpdateFirewallElements {
                            fingerprint: fp,
                            ruleset: Box::new(fw.clone()),
                            sets: d.sets.clone(),
                        });
                        ops.extend(stale_udp_flows(fw, observed, Some(&d.forwards)));
                        resume::guard_flushes(ops, at, observed);
                    }
                    None => {
                        let bindings = bindings_to_restore(fw, observed);
                        for b in &bindings {
                            remember_binding(ops, observed, b);
                        }
                        let at = ops.len();
                        ops.push(Op::ReplaceFirewall {
                            fingerprint: fp,
                            ruleset: Box::new(fw.clone()),
                            bindings,
                        });
                        ops.extend(stale_udp_flows(fw, observed, None));
                        resume::guard_flushes(ops, at, observed);
                        return Ok(());
                    }
                }
            } else if pending {
                redo_flushes(ops, fw, observed);
            }
        }
        Some(fw) if pending => redo_flushes(ops, fw, observed),
        None if desired.firewall_fingerprint.is_some() && (!converged_fw || pending) => {
            return Err(PlanError::NeedsRuleset);
        }
        None if pending => ops.push(Op::Forget {
            key: resume::FLUSH_PENDING.into(),
        }),
        _ => {}
    }
    // The tables stay: bindings the kernel lost go back, one element update each.
    if observed.firewall.is_some() {
        restore_lost_bindings(ops, observed);
    }
    Ok(())
}

/// The flushes of a firewall update a kill interrupted (see [`resume`]), then forget
/// that they were pending. Which forwards were new is not remembered, so every UDP
/// forward's stale flows go: still one pass.
fn redo_flushes(ops: &mut Vec<Op>, fw: &Ruleset, observed: &Observed) {
    ops.extend(stale_udp_flows(fw, observed, None));
    ops.push(Op::Forget {
        key: resume::FLUSH_PENDING.into(),
    });
}

/// After the tables change: UDP flows that reached the dom0 (or an old target) on a port
/// that is now forwarded keep their old path while they last (conntrack NATs a flow
/// once), so their entries go — for the forwards that are new or changed (`changed`, as
/// the read-back found them; `None`: every UDP forward, as after a replacement), in one
/// op (one pass over the conntrack table). TCP needs nothing: a connection to a port
/// nobody forwarded was refused and has no entry worth keeping.
fn stale_udp_flows(fw: &Ruleset, observed: &Observed, changed: Option<&[(Proto, u16)]>) -> Option<Op> {
    // The dom0's own addresses that forwards apply to: all but the bridges' (DNAT
    // matches `fib daddr type local` minus the bridge addresses), in both families.
    let mut to: Vec<Ipv4Addr> = observed
        .addresses
        .iter()
        .map(|a| a.addr.addr())
        .filter(|a| !fw.networks.iter().any(|n| n.address.addr() == *a))
        .collect();
    to.sort();
    to.dedup();
    let mut to6: Vec<Ipv6Addr> = observed
        .addresses6
        .iter()
        .map(|a| a.addr.addr())
        .filter(|a| {
            !fw.networks
                .iter()
                .any(|n| n.address6.is_some_and(|b| b.addr() == *a))
        })
        .collect();
    to6.sort();
    to6.dedup();
    let changed: Option<BTreeSet<(Proto, u16)>> = changed.map(|c| c.iter().copied().collect());
    let flows: Vec<StaleFlow> = fw
        .forwards
        .iter()
        .filter(|f| f.proto == Proto::Udp)
        .filter(|f| {
            changed
                .as_ref()
                .is_none_or(|c| c.contains(&(f.proto, f.ports.first)))
        })
        .map(|f| StaleFlow {
            proto: f.proto,
            ports: f.ports,
            addr: f.addr,
            addr6: f.addr6,
            to_port: f.to_port,
        })
        .collect();
    // IPv6 flows are stale only for forwards that DNAT IPv6 too.
    if !flows.iter().any(|f| f.addr6.is_some()) {
        to6.clear();
    }
    let nowhere = to.is_empty() && to6.is_empty();
    (!flows.is_empty() && !nowhere).then_some(Op::FlushConntrack { to, to6, flows })
}

/// Plan `stop`: remove everything brouter owns in `scope` and restore what it changed.
pub fn plan_stop(scope: &Scope, observed: &Observed) -> Plan {
    let mut ops = Vec::new();
    let owned_bridges: Vec<&str> = observed
        .links
        .iter()
        .filter(|l| l.owner().is_some())
        .map(|l| l.name.as_str())
        .collect();
    let remaining_elsewhere = owned_bridges.iter().any(|b| !scope.includes(b));

    // DHCP and DNS first: nothing answers on a network being torn down.
    if !remaining_elsewhere {
        dhcp::stop(&mut ops, observed.dhcp.as_ref());
        routing::stop(&mut ops, observed.routing.as_ref());
    }
    // Firewall next: DNAT'd packets must not leak to the default route while links go.
    if observed.firewall.is_some() && !remaining_elsewhere && observed.foreign_tables.is_empty() {
        ops.push(Op::DeleteFirewall);
    }
    for r in &observed.routes {
        if r.owned() && scope.includes(&r.dev) && !owned_bridges.contains(&r.dev.as_str()) {
            ops.push(Op::DeleteRoute {
                dst: r.dst,
                dev: r.dev.clone(),
            });
        }
    }
    for a in &observed.addresses {
        if a.owned && scope.includes(&a.link) && !owned_bridges.contains(&a.link.as_str()) {
            ops.push(Op::DeleteAddress {
                link: a.link.clone(),
                addr: a.addr,
            });
        }
    }
    let deleted: Vec<&str> = owned_bridges
        .iter()
        .copied()
        .filter(|b| scope.includes(b))
        .collect();
    cluster::remove(&mut ops, scope, observed);
    addresses6::remove(&mut ops, scope, observed, &deleted);
    crate::port_block::release(&mut ops, observed, scope, &deleted);
    for b in &deleted {
        remove_bridge(&mut ops, observed, b);
    }
    for (key, value) in &observed.memory {
        if let Some(bridge) = key.strip_prefix("xen:") {
            if scope.includes(bridge) {
                ops.push(Op::Forget { key: key.clone() });
            }
        } else if let Some(bridge) = key.strip_prefix("link-up:") {
            if !scope.includes(bridge) {
                continue;
            }
            if value == "down" && observed.link(bridge).is_some_and(|l| l.up) {
                ops.push(Op::SetUp {
                    link: bridge.to_string(),
                    up: false,
                });
            }
            ops.push(Op::Forget { key: key.clone() });
        } else if key == resume::FLUSH_PENDING && !remaining_elsewhere {
            ops.push(Op::Forget { key: key.clone() });
        }
    }
    // Sysctls last, ip_forward first among them (it rewrites the others).
    if !remaining_elsewhere {
        crate::sysctl_side::restore(&mut ops, observed);
    }
    Plan { ops }
}

/// Detach every port (the seed script's FIXME), then delete the bridge; the kernel takes
/// its addresses and routes with it.
fn remove_bridge(ops: &mut Vec<Op>, observed: &Observed, name: &str) {
    // brouter's VXLAN devices are deleted on their own, before their bridge.
    for port in observed.ports_of(name).filter(|p| p.vxlan_owner().is_none()) {
        ops.push(Op::SetMaster {
            link: port.name.clone(),
            master: None,
        });
    }
    ops.push(Op::DeleteLink {
        name: name.to_string(),
    });
}

/// The alias brouter writes on a bridge it creates for `network`.
pub fn owner_alias(network: &str) -> String {
    format!("{ALIAS_PREFIX}{network}")
}
