//! The attributes of the bridges brouter made — its mark (`ifalias`), spanning tree,
//! forward delay and MTU — observed and put back when somebody changed them.
//!
//! Why: `start` used to set them only when it created a bridge, so `ip link set xenbr0
//! type bridge stp_state 1` (a 30-second forwarding stall for every vif that comes up)
//! or a cleared alias (the bridge no longer reads as brouter's) stayed for good while
//! `status` said converged. Only bridges brouter made are touched: an adopted foreign
//! bridge keeps whatever its owner set. A bridge that lost its alias is still known as
//! brouter's by the link group it was created in (the backend reports it as
//! `brouter:` with no network), so it is marked again.
//!
//! Kernel quirk (FIELD-NOTES): STP off and forward delay 0 in one message fail with
//! ERANGE, and while STP is on the delay must lie in 2–30 s. So each is its own op, in
//! the order the kernel accepts: STP off before a delay outside that range, a delay
//! inside it before STP on.

use crate::desired::{Desired, DesiredBridge};
use crate::model::{Link, ALIAS_PREFIX};
use crate::plan::Op;

/// The MTU of a bridge brouter made (Ethernet's), unless a port's is smaller: the kernel
/// fits a bridge to its smallest port, and Xen gives a vif the MTU xenstore names.
pub const BRIDGE_MTU: u32 = 1500;

/// Whether `l` is the bridge brouter made for `b` (or one it made and whose alias is gone).
fn made_by_brouter(l: &Link, b: &DesiredBridge) -> bool {
    l.is_bridge() && matches!(l.owner(), Some(n) if n == b.network || n.is_empty())
}

/// The ops that put the attributes of brouter's existing bridges back.
pub fn repair(ops: &mut Vec<Op>, desired: &Desired, observed: &super::index::Indexed) {
    for b in &desired.bridges {
        let Some(l) = observed.link(&b.name) else {
            continue;
        };
        if !made_by_brouter(l, b) {
            continue;
        }
        let alias = format!("{ALIAS_PREFIX}{}", b.network);
        if l.alias.as_deref() != Some(alias.as_str()) {
            ops.push(Op::SetAlias {
                link: b.name.clone(),
                alias,
            });
        }
        if let Some(cur) = l.bridge {
            stp_and_delay(
                ops,
                &b.name,
                cur.stp,
                cur.forward_delay,
                b.options.stp,
                b.options.forward_delay,
            );
        }
        let smallest_port = observed.ports_of(&b.name).filter_map(|p| p.mtu).min();
        let want = smallest_port.map_or(BRIDGE_MTU, |p| p.min(BRIDGE_MTU));
        if l.mtu.is_some_and(|m| m != want) {
            ops.push(Op::SetMtu {
                link: b.name.clone(),
                mtu: want,
            });
        }
    }
}

/// STP and forward delay from `(stp, delay)` to `(want_stp, want_delay)`, in an order the
/// kernel accepts.
fn stp_and_delay(ops: &mut Vec<Op>, link: &str, stp: bool, delay: u32, want_stp: bool, want_delay: u32) {
    let stp_op = (stp != want_stp).then(|| Op::SetStp {
        link: link.to_string(),
        stp: want_stp,
    });
    let delay_op = (delay != want_delay).then(|| Op::SetForwardDelay {
        link: link.to_string(),
        seconds: want_delay,
    });
    if want_stp {
        ops.extend(delay_op);
        ops.extend(stp_op);
    } else {
        ops.extend(stp_op);
        ops.extend(delay_op);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stp_goes_off_before_the_delay_drops_to_zero_and_on_after_it_rises() {
        let mut ops = vec![];
        stp_and_delay(&mut ops, "xenbr0", true, 15, false, 0);
        assert_eq!(
            ops,
            vec![
                Op::SetStp {
                    link: "xenbr0".into(),
                    stp: false
                },
                Op::SetForwardDelay {
                    link: "xenbr0".into(),
                    seconds: 0
                },
            ]
        );
        let mut ops = vec![];
        stp_and_delay(&mut ops, "xenbr0", false, 0, true, 15);
        assert!(
            matches!(
                ops[..],
                [Op::SetForwardDelay { .. }, Op::SetStp { stp: true, .. }]
            ),
            "{ops:?}"
        );
        let mut ops = vec![];
        stp_and_delay(&mut ops, "xenbr0", false, 0, false, 0);
        assert!(ops.is_empty());
    }
}
