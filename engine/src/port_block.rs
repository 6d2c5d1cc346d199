//! Default deny for unbound ports of anti-spoofing bridges.
//!
//! A port enslaved to an anti-spoofing bridge without `vif online` (a mistake, a foreign
//! script) has no binding. `bridge brouter`'s `forward` chain keeps it from every bound
//! vif, but no bridge-family rule can name its bridge on the kernels brouter runs on, so
//! it would still reach the dom0 and, routed through it, everything else. So `start`
//! puts every such port in bridge port state `disabled` (`IFLA_BRPORT_STATE`): the kernel
//! drops every frame it receives and delivers none to it (br_handle_frame,
//! should_deliver); with STP off, attaching other ports does not re-open it. `vif online`
//! sets it `forwarding` again once it is bound.
//!
//! Not blocked, only listed: the configured uplink and network cards (a device with no
//! rtnl kind that is not a Xen vif) — disabling an admin's bridged NIC could cut the host
//! off; the bridge fence already keeps them from bound vifs. A bridge running kernel STP
//! refuses port state changes (EBUSY): its unbound ports stay exposed.
//!
//! The kernel re-enables a disabled port on a carrier or up event (and on any link change
//! it announces, `NETDEV_CHANGE`), so `status` reads the state back rather than trusting
//! that `start` once set it. brouter remembers each port it blocked
//! (`port-blocked:<port>` = bridge) so it hands the port back (`forwarding`) when it gets
//! bound by a `start` that resumes a killed `vif online`, when the network stops doing
//! anti-spoofing, and on `stop`.

use serde::{Deserialize, Serialize};

use crate::binding_memory::binding_memory_key;
use crate::desired::Desired;
use crate::model::{Link, Observed, PortState};
use crate::plan::{Op, Scope};

/// The memory key under which brouter notes that it disabled `port`.
pub fn memory_key(port: &str) -> String {
    format!("port-blocked:{port}")
}

const MEMORY_PREFIX: &str = "port-blocked:";

/// What becomes of one unbound port of an anti-spoofing bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// Not disabled yet: `start` disables it.
    Block,
    /// Disabled (by brouter, or by the kernel while it is down or has no carrier): it
    /// reaches nothing.
    Blocked,
    /// The configured uplink: never disabled.
    Uplink,
    /// A network card: never disabled.
    Nic,
    /// brouter's VXLAN device on a cluster network: the other members' VMs, each judged
    /// by anti-spoofing on its own member. Never disabled.
    Overlay,
    /// Its bridge runs kernel STP, which refuses port state changes: left exposed.
    Stp,
}

/// The fate of `port`, unbound on an anti-spoofing bridge whose STP is `stp`.
pub fn fate(port: &Link, uplink: Option<&str>, stp: bool) -> Fate {
    if uplink == Some(port.name.as_str()) {
        Fate::Uplink
    } else if port.is_physical() {
        Fate::Nic
    } else if port.vxlan_owner().is_some() {
        Fate::Overlay
    } else if port.port_state == Some(PortState::Disabled) {
        Fate::Blocked
    } else if stp {
        Fate::Stp
    } else {
        Fate::Block
    }
}

/// Whether `port` is bound: a live binding, or a remembered one `start` puts back.
pub fn is_bound(observed: &Observed, port: &str) -> bool {
    observed.bindings.iter().any(|b| b.vif == port) || observed.memory.contains_key(&binding_memory_key(port))
}

/// `start`'s part: disable every unbound port of the desired anti-spoofing bridges that is
/// up and not disabled (a port that is down is disabled by the kernel already, and the
/// kernel refuses to set a down port's state), remembering each first; hand back the
/// ports brouter blocked that are bound now or no longer need blocking. `raised`: the
/// bridges this plan brings up — the kernel then enables every port that is up, so one
/// that reads disabled now is blocked again after. Planned after the bindings are in
/// place (the firewall step), so a port is opened only once bound.
/// `stale`: the bridges the plan deletes (their ports are detached: nothing to hand back).
pub fn converge(ops: &mut Vec<Op>, desired: &Desired, observed: &Observed, raised: &[&str], stale: &[&str]) {
    let mut blocking: Vec<&str> = Vec::new();
    for b in desired.bridges.iter().filter(|b| b.antispoof) {
        if observed.link(&b.name).is_none() {
            continue;
        }
        for port in observed.ports_of(&b.name) {
            if !port.up || is_bound(observed, &port.name) {
                continue;
            }
            let block = match fate(port, desired.uplink.as_deref(), b.options.stp) {
                Fate::Block => true,
                Fate::Blocked => raised.contains(&b.name.as_str()),
                _ => false,
            };
            if !block {
                continue;
            }
            let key = memory_key(&port.name);
            if observed.memory.get(&key) != Some(&b.name) {
                ops.push(Op::Remember {
                    key,
                    value: b.name.clone(),
                });
            }
            ops.push(Op::SetPortState {
                port: port.name.clone(),
                bridge: b.name.clone(),
                state: PortState::Disabled,
            });
            blocking.push(&port.name);
        }
    }
    for (port, bridge) in remembered(observed, &desired.scope) {
        // Blocked (again) above, perhaps on another bridge than remembered: keep the note.
        if blocking.contains(&port.as_str()) {
            continue;
        }
        let still_blocked = desired
            .bridges
            .iter()
            .find(|b| b.name == bridge && b.antispoof)
            .zip(observed.link(&port))
            .is_some_and(|(b, l)| {
                l.master.as_deref() == Some(bridge.as_str())
                    && !is_bound(observed, &port)
                    && matches!(
                        fate(l, desired.uplink.as_deref(), b.options.stp),
                        Fate::Block | Fate::Blocked
                    )
            });
        if still_blocked {
            continue;
        }
        if stale.contains(&bridge.as_str()) {
            ops.push(Op::Forget {
                key: memory_key(&port),
            });
            continue;
        }
        // STP as the plan leaves it: the kernel refuses port states under kernel STP.
        let stp = match desired.bridges.iter().find(|b| b.name == bridge) {
            Some(b) => b.options.stp,
            None => observed_stp(observed, &bridge),
        };
        hand_back(ops, observed, &port, &bridge, stp);
    }
}

/// `stop`'s part: hand back every port brouter blocked on a bridge in `scope` that stays
/// (`deleted`: the bridges the plan deletes, whose ports it detaches). Planned before a
/// bridge brouter raised is put down again: the kernel would refuse nothing, but a port
/// set forwarding on a down bridge would not read as it did before `start`.
pub fn release(ops: &mut Vec<Op>, observed: &Observed, scope: &Scope, deleted: &[&str]) {
    for (port, bridge) in remembered(observed, scope) {
        if deleted.contains(&bridge.as_str()) {
            ops.push(Op::Forget {
                key: memory_key(&port),
            });
        } else {
            let stp = observed_stp(observed, &bridge);
            hand_back(ops, observed, &port, &bridge, stp);
        }
    }
}

/// `vif online`'s part, after the binding is in place and the port attached and up:
/// a port that reads disabled and stays up (no up event of this plan re-enables it) with
/// carrier (without, the kernel enables it when carrier comes) is set forwarding; brouter forgets that it blocked it. `up_planned`: the plan brings the
/// port up, which re-enables it by itself.
pub fn reopen_on_online(
    ops: &mut Vec<Op>,
    observed: &Observed,
    link: &Link,
    name: &str,
    bridge: &str,
    up_planned: bool,
) {
    let attached = link.master.as_deref() == Some(bridge);
    let stp = observed_stp(observed, bridge);
    let carrier = link.carrier != Some(false);
    if attached && link.up && carrier && !up_planned && !stp && link.port_state == Some(PortState::Disabled) {
        ops.push(Op::SetPortState {
            port: name.to_string(),
            bridge: bridge.to_string(),
            state: PortState::Forwarding,
        });
    }
    for key in [memory_key(&link.name), memory_key(name)] {
        if observed.memory.contains_key(&key)
            && !ops
                .iter()
                .any(|o| matches!(o, Op::Forget { key: k } if *k == key))
        {
            ops.push(Op::Forget { key });
        }
    }
}

/// `vif offline`'s part: the port leaves its bridge; brouter forgets that it blocked it.
pub fn forget_on_offline(ops: &mut Vec<Op>, observed: &Observed, name: &str) {
    let key = memory_key(name);
    if observed.memory.contains_key(&key) {
        ops.push(Op::Forget { key });
    }
}

/// The ports brouter remembers blocking, with their bridge, for the bridges in `scope`.
fn remembered(observed: &Observed, scope: &Scope) -> Vec<(String, String)> {
    observed
        .memory
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(MEMORY_PREFIX)?.to_string(), v.clone())))
        .filter(|(_, bridge)| scope.includes(bridge))
        .collect()
}

/// Whether `bridge` runs STP, as observed.
fn observed_stp(observed: &Observed, bridge: &str) -> bool {
    observed
        .link(bridge)
        .and_then(|b| b.bridge)
        .is_some_and(|o| o.stp)
}

/// Set `port` forwarding again if it is still a port of `bridge` that is up and reads
/// disabled (and the bridge runs no STP, `stp`), then forget that brouter blocked it.
fn hand_back(ops: &mut Vec<Op>, observed: &Observed, port: &str, bridge: &str, stp: bool) {
    if let Some(l) = observed.link(port) {
        // Without carrier the kernel refuses `forwarding` (ENETDOWN), and enables the
        // disabled port by itself when carrier comes.
        let carrier = l.carrier != Some(false);
        if l.master.as_deref() == Some(bridge)
            && l.up
            && carrier
            && !stp
            && l.port_state == Some(PortState::Disabled)
        {
            ops.push(Op::SetPortState {
                port: port.to_string(),
                bridge: bridge.to_string(),
                state: PortState::Forwarding,
            });
        }
    }
    ops.push(Op::Forget {
        key: memory_key(port),
    });
}

#[cfg(test)]
mod tests;
