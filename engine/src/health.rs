//! Host-level warnings for `status`: what other tools on the same host do that breaks
//! VM networking without any error message (peers' issue trackers are full of them).

use crate::model::{HostFacts, Observed, IP_FORWARD};

/// The warnings for a host where brouter owns `owned_bridges` bridges.
pub fn warnings(observed: &Observed, facts: &HostFacts) -> Vec<String> {
    let mut w = Vec::new();
    let started = observed.links.iter().any(|l| l.owner().is_some()) || observed.firewall.is_some();
    if started && observed.sysctls.get(IP_FORWARD).map(String::as_str) != Some("1") {
        w.push(format!(
            "{IP_FORWARD} is off: VMs reach their bridge but nothing beyond it; something reset it \
             after brouter started — run `brouter start`"
        ));
    }
    if started && observed.firewall.is_none() {
        w.push(
            "brouter's nftables tables are gone (a firewall restart or `nft flush ruleset`?): no \
             masquerade, forwards or anti-spoofing — run `brouter start` (the brouter.service unit \
             re-runs it after nftables/firewalld restarts)"
                .into(),
        );
    }
    for d in &facts.foreign_forward_drops {
        w.push(format!(
            "{d}: forwarded VM traffic must also pass this table (Docker sets such a policy), so \
             brouter's accepts are not enough — accept brouter's bridges there"
        ));
    }
    if facts.br_netfilter {
        w.push(
            "br_netfilter is active (net.bridge.bridge-nf-call-iptables = 1): traffic between VMs \
             on one bridge also meets iptables/nftables inet hooks, so another firewall's drop \
             rules hit it too"
                .into(),
        );
    }
    if facts.firewalld_running {
        w.push(
            "firewalld is running: its reloads flush brouter's tables; keep brouter.service \
             enabled so it re-applies them, and put brouter's bridges in a trusted zone"
                .into(),
        );
    }
    w
}

/// Why nothing can arrive from (or leave to) the `external` zone on this host: the
/// configured `uplink` interface is missing or administratively down. Part of the state
/// brouter reports — `plan` and `start` warn, `status` is not converged, `explain` says
/// a flow from external cannot arrive — because a typo (`eth9`) or an unplugged NIC
/// otherwise goes unnoticed until a customer calls. `None` without an uplink (Xen mode:
/// any non-bridge interface is external).
pub fn uplink_problem(uplink: Option<&str>, observed: &Observed) -> Option<String> {
    let name = uplink?;
    match observed.link(name) {
        None => Some(format!(
            "the uplink {name} does not exist: nothing arrives from or leaves to the external \
             zone (check [uplink] interface)"
        )),
        Some(l) if !l.up => Some(format!(
            "the uplink {name} is down: nothing arrives from or leaves to the external zone \
             (ip link set {name} up)"
        )),
        Some(_) => None,
    }
}

/// A cluster whose underlay cannot carry a full 1500-byte frame plus VXLAN's overhead:
/// the devices (and so the bridges) get the smaller MTU, and a VM still at 1500 loses its
/// first oversized packet silently (FIELD-NOTES-DHCP-EVPN, "MTU").
pub fn overlay_mtu_problem(vxlans: &[crate::desired::DesiredVxlan], observed: &Observed) -> Option<String> {
    let v = vxlans.first()?;
    let mtu = observed.link(&v.underlay)?.mtu?;
    let overhead = crate::config::cluster::overhead(v.local);
    if mtu >= 1500 + overhead {
        return None;
    }
    let carried = mtu.saturating_sub(overhead);
    Some(format!(
        "the underlay {u} has MTU {mtu}: the VXLAN devices and the cluster bridges carry {carried} \
         bytes, and a VM sending 1500-byte packets loses the first of each (raise {u}'s MTU to \
         {}, or give the VMs MTU {carried})",
        1500 + overhead,
        u = v.underlay,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Link, LinkKind};

    fn started(forward: &str, firewall: bool) -> Observed {
        let mut o = Observed::default();
        o.links.push(Link {
            carrier: None,
            port_state: None,
            name: "xenbr0".into(),
            kind: LinkKind::Bridge,
            alias: Some("brouter:xenbr0".into()),
            master: None,
            up: true,
            bridge: None,
            mac: None,
            mtu: None,
        });
        o.sysctls.insert(IP_FORWARD.into(), forward.into());
        o.firewall = firewall.then(|| "x".into());
        o
    }

    #[test]
    fn a_missing_or_down_uplink_is_named() {
        let mut o = started("1", true);
        assert!(uplink_problem(None, &o).is_none(), "no uplink configured");
        let missing = uplink_problem(Some("eth9"), &o).unwrap();
        assert!(missing.contains("eth9 does not exist"), "{missing}");
        o.links[0].up = false;
        let down = uplink_problem(Some("xenbr0"), &o).unwrap();
        assert!(down.contains("xenbr0 is down"), "{down}");
        o.links[0].up = true;
        assert!(uplink_problem(Some("xenbr0"), &o).is_none());
    }

    #[test]
    fn a_converged_quiet_host_has_no_warnings() {
        assert!(warnings(&started("1", true), &HostFacts::default()).is_empty());
        assert!(
            warnings(&Observed::default(), &HostFacts::default()).is_empty(),
            "not started"
        );
    }

    #[test]
    fn forwarding_off_and_flushed_tables_are_named() {
        let w = warnings(&started("0", false), &HostFacts::default());
        assert!(w[0].contains("ip_forward is off"), "{w:?}");
        assert!(w[1].contains("tables are gone"), "{w:?}");
    }

    #[test]
    fn a_foreign_drop_policy_on_forward_is_named() {
        let facts = HostFacts {
            foreign_forward_drops: vec!["table ip filter, chain FORWARD: policy drop".into()],
            ..Default::default()
        };
        let w = warnings(&started("1", true), &facts);
        assert!(
            w[0].starts_with("table ip filter, chain FORWARD: policy drop"),
            "{w:?}"
        );
        assert!(w[0].contains("Docker"));
    }
}
