//! The bridges' IPv6 addresses: added where missing, brouter's own removed where no
//! longer wanted. Simpler than IPv4's: the kernel keeps IPv6 addresses independent of
//! each other (no primary/secondary) and adds and removes their /64 route with them.

use std::collections::HashSet;

use ipnet::Ipv6Net;

use crate::desired::{Desired, Scope};
use crate::model::Observed;
use crate::plan::Op;

/// `start`: add the wanted IPv6 addresses (an identical foreign one satisfies the wish),
/// then delete brouter's that are no longer wanted on the links it keeps (`stale`
/// bridges go with their addresses).
pub fn converge(ops: &mut Vec<Op>, desired: &Desired, observed: &Observed, stale: &[&str]) {
    let present: HashSet<(&str, Ipv6Net)> = observed
        .addresses6
        .iter()
        .map(|a| (a.link.as_str(), a.addr))
        .collect();
    let wanted: HashSet<(&str, Ipv6Net)> = desired
        .addresses6
        .iter()
        .map(|a| (a.link.as_str(), a.addr))
        .collect();
    for a in &desired.addresses6 {
        if !present.contains(&(a.link.as_str(), a.addr)) {
            ops.push(Op::AddAddress6 {
                link: a.link.clone(),
                addr: a.addr,
            });
        }
    }
    for a in &observed.addresses6 {
        let kept_link = desired.scope.includes(&a.link) && !stale.contains(&a.link.as_str());
        if a.owned && kept_link && !wanted.contains(&(a.link.as_str(), a.addr)) {
            ops.push(Op::DeleteAddress6 {
                link: a.link.clone(),
                addr: a.addr,
            });
        }
    }
}

/// `stop`: brouter's IPv6 addresses on links in `scope` that stay (a foreign bridge it
/// adopted); the bridges it deletes take theirs with them.
pub fn remove(ops: &mut Vec<Op>, scope: &Scope, observed: &Observed, deleted_bridges: &[&str]) {
    for a in &observed.addresses6 {
        if a.owned && scope.includes(&a.link) && !deleted_bridges.contains(&a.link.as_str()) {
            ops.push(Op::DeleteAddress6 {
                link: a.link.clone(),
                addr: a.addr,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_toml;
    use crate::model::Address6;

    fn desired(a6: &str) -> Desired {
        let text = format!("[[network]]\nname = \"dmz\"\nbridge = \"br0\"\naddress = \"10.98.98.1/24\"\naddress6 = \"{a6}\"\n");
        crate::compile(&from_toml(&text, "t.toml").unwrap())
    }

    fn on_br0(addr: &str, owned: bool) -> Address6 {
        Address6 {
            link: "br0".into(),
            addr: addr.parse().unwrap(),
            owned,
        }
    }

    #[test]
    fn missing_is_added_changed_is_replaced_converged_is_nothing() {
        let d = desired("fd98:98::1/64");
        let mut o = Observed::default();
        let mut ops = vec![];
        converge(&mut ops, &d, &o, &[]);
        assert_eq!(
            ops.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["add address fd98:98::1/64 to br0"]
        );
        o.addresses6.push(on_br0("fd98:98::1/64", true));
        ops.clear();
        converge(&mut ops, &d, &o, &[]);
        assert!(ops.is_empty());
        let d2 = desired("fd98:99::1/64");
        converge(&mut ops, &d2, &o, &[]);
        assert_eq!(
            ops.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "add address fd98:99::1/64 to br0",
                "delete address fd98:98::1/64 from br0"
            ]
        );
    }

    #[test]
    fn foreign_addresses_stay_and_stop_removes_only_brouters_on_kept_links() {
        let d = desired("fd98:98::1/64");
        let mut o = Observed::default();
        o.addresses6.push(on_br0("fd98:98::1/64", false));
        o.addresses6.push(on_br0("2001:db8::7/64", false));
        let mut ops = vec![];
        converge(&mut ops, &d, &o, &[]);
        assert!(
            ops.is_empty(),
            "a foreign identical address satisfies the wish: {ops:?}"
        );
        o.addresses6.push(on_br0("fd98:97::1/64", true));
        remove(&mut ops, &Scope::All, &o, &[]);
        assert_eq!(ops.len(), 1);
        ops.clear();
        remove(&mut ops, &Scope::All, &o, &["br0"]);
        assert!(ops.is_empty(), "a deleted bridge takes its addresses");
    }
}
