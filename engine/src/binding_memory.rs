//! brouter remembers every anti-spoofing binding it makes, so a binding the kernel lost is
//! put back and reported.
//!
//! Why: the bindings live only in set elements of `bridge brouter`. `nft flush ruleset`,
//! a firewall restart or an `nft flush set` takes them away while the VMs keep running;
//! a `start` that re-installs the tables from what it finds would then leave every vif
//! unbound and free to spoof, and `status` would call that converged. `vif online`
//! therefore remembers each binding (`binding:<vif>` in brouter's memory, next to the
//! sysctls it must restore) and `vif offline` forgets it; `start` re-inserts the
//! remembered binding of every vif still attached, and `status` names one that is missing
//! or edited.

use crate::firewall::{bindings_to_keep, refreshed, Binding, Ruleset};
use crate::model::Observed;
use crate::plan::Op;

/// The memory key of a vif's binding.
pub fn binding_memory_key(vif: &str) -> String {
    format!("binding:{vif}")
}

/// The remembered binding of each vif (in memory order); values that do not parse are
/// skipped (an older brouter's, or a hand edit).
pub fn remembered_bindings(observed: &Observed) -> impl Iterator<Item = Binding> + '_ {
    observed
        .memory
        .iter()
        .filter(|(k, _)| k.starts_with("binding:"))
        .filter_map(|(_, v)| serde_json::from_str::<Binding>(v).ok())
}

/// The remembered binding of `vif`, if any.
fn remembered(observed: &Observed, vif: &str) -> Option<Binding> {
    let v = observed.memory.get(&binding_memory_key(vif))?;
    serde_json::from_str(v).ok()
}

/// After `vif online` binds (or finds bound) `b`: remember it, unless memory has it.
pub fn remember_binding(ops: &mut Vec<Op>, observed: &Observed, b: &Binding) {
    if remembered(observed, &b.vif).as_ref() != Some(b) {
        ops.push(Op::Remember {
            key: binding_memory_key(&b.vif),
            value: serde_json::to_string(b).expect("a binding serialises"),
        });
    }
}

/// After `vif offline` unbinds `vif`: forget its binding.
pub fn forget_binding(ops: &mut Vec<Op>, observed: &Observed, vif: &str) {
    let lease = crate::dhcp_lease::lease_memory_key(vif);
    for key in [binding_memory_key(vif), lease] {
        if observed.memory.contains_key(&key) {
            ops.push(Op::Forget { key });
        }
    }
}

/// Whether `vif` is still a port of some bridge: its remembered binding must be in force.
fn attached(observed: &Observed, vif: &str) -> bool {
    observed.link(vif).is_some_and(|l| l.master.is_some())
}

/// The bindings `start` re-inserts when it replaces the tables: those kept from the
/// kernel ([`bindings_to_keep`]) and the remembered ones of attached vifs, refreshed from
/// the declarations like the kept ones. What brouter remembers binding wins over what the
/// kernel holds for the same vif: a binding edited behind its back (another MAC) must not
/// survive the rewrite that repairs the tables.
pub fn bindings_to_restore(ruleset: &Ruleset, observed: &Observed) -> Vec<Binding> {
    let mut out = bindings_to_keep(ruleset, observed);
    for r in remembered_bindings(observed) {
        if !attached(observed, &r.vif) {
            continue;
        }
        out.retain(|b| b.vif != r.vif);
        let bridge = observed
            .link(&r.vif)
            .and_then(|l| l.master.clone())
            .unwrap_or_default();
        match refreshed(ruleset, &bridge, &r) {
            Some(b) => out.push(b),
            None if ruleset.network_by_bridge(&bridge).is_none() => out.push(r),
            None => {} // the network no longer does anti-spoofing
        }
    }
    out.sort();
    out
}

/// When the tables stay: each attached vif whose remembered binding the kernel lacks or
/// holds otherwise (a flushed or edited set) is bound again, one element update each.
pub fn restore_lost_bindings(ops: &mut Vec<Op>, observed: &Observed) {
    for r in remembered_bindings(observed) {
        if !attached(observed, &r.vif) {
            continue;
        }
        if !observed.bindings.contains(&r) {
            ops.push(Op::AddBinding { binding: r });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Link, LinkKind};

    fn web() -> Binding {
        Binding {
            vif: "vif1.0".into(),
            mac: "aa:cc:00:00:00:01".into(),
            addrs: vec!["10.98.98.10/32".parse().unwrap()],
        }
    }

    fn host(attached: bool) -> Observed {
        let mut o = Observed::default();
        o.links.push(Link {
            carrier: None,
            port_state: None,
            name: "vif1.0".into(),
            kind: LinkKind::Other("vif".into()),
            alias: None,
            master: attached.then(|| "xenbr0".into()),
            up: true,
            bridge: None,
            mac: None,
            mtu: None,
        });
        let mut ops = vec![];
        remember_binding(&mut ops, &o, &web());
        let Op::Remember { key, value } = &ops[0] else {
            panic!("{ops:?}")
        };
        o.memory.insert(key.clone(), value.clone());
        o
    }

    #[test]
    fn a_remembered_binding_the_kernel_lost_is_bound_again() {
        let o = host(true);
        let mut ops = vec![];
        restore_lost_bindings(&mut ops, &o);
        assert_eq!(ops, vec![Op::AddBinding { binding: web() }]);
        let mut bound = o.clone();
        bound.bindings.push(web());
        let mut ops = vec![];
        restore_lost_bindings(&mut ops, &bound);
        assert!(ops.is_empty(), "in force: nothing to do");
    }

    #[test]
    fn a_detached_vif_is_not_bound_again_and_offline_forgets() {
        let o = host(false);
        let mut ops = vec![];
        restore_lost_bindings(&mut ops, &o);
        assert!(ops.is_empty());
        forget_binding(&mut ops, &o, "vif1.0");
        assert_eq!(
            ops,
            vec![Op::Forget {
                key: "binding:vif1.0".into()
            }]
        );
    }
}
