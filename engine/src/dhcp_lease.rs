//! A DHCP lease as an anti-spoofing binding: on a network with `antispoof` and `dhcp`, a
//! VM that neither a `[[host]]` address nor Xen's `ip=` pins may send only from the
//! address brouter's dnsmasq leased to its MAC, from the lease's start to its end.
//!
//! dnsmasq runs its lease script (`brouter dhcp-lease add|old|del MAC IP`) for every
//! lease it grants, renews, finds at start, or lets expire; this plans what each such
//! call changes. A vif bound before any lease (`vif online` on such a network) may send
//! only its DHCP discover; the lease adds its one address, its end takes it away. The
//! leased address is remembered (`lease:<vif>`), so only bindings a lease made are ever
//! changed by one: a pinned binding is never widened or narrowed by DHCP.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use crate::binding_memory::binding_memory_key;
use crate::firewall::Binding;
use crate::model::Observed;
use crate::plan::{Op, Plan};

/// What dnsmasq says happened to a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseEvent {
    /// Granted (`add`), or renewed / found at dnsmasq's start (`old`).
    Held,
    /// Released or expired (`del`).
    Ended,
}

impl LeaseEvent {
    /// dnsmasq's word for it (`add`, `old`, `del`); `None` for anything else.
    pub fn parse(word: &str) -> Option<LeaseEvent> {
        match word {
            "add" | "old" => Some(LeaseEvent::Held),
            "del" => Some(LeaseEvent::Ended),
            _ => None,
        }
    }
}

/// The memory key of the address a lease gave a vif's binding.
pub fn lease_memory_key(vif: &str) -> String {
    format!("lease:{vif}")
}

/// The binding changes one lease event makes: for the vif bound to `mac` on `bridge`
/// (dnsmasq's `DNSMASQ_INTERFACE`; any bridge when `None`), if a lease governs its
/// binding. Nothing when no such vif is bound (the VM's vif is not online, or its
/// network does no anti-spoofing) or its binding is pinned.
pub fn plan_lease(
    event: LeaseEvent,
    mac: &str,
    ip: Ipv4Addr,
    bridge: Option<&str>,
    observed: &Observed,
) -> Plan {
    let mac = mac.to_ascii_lowercase();
    let on_bridge = |vif: &str| match bridge {
        Some(br) => observed.link(vif).and_then(|l| l.master.as_deref()) == Some(br),
        None => true,
    };
    let mut ops = Vec::new();
    for b in observed
        .bindings
        .iter()
        .filter(|b| b.mac == mac && on_bridge(&b.vif))
    {
        let key = lease_memory_key(&b.vif);
        let leased = observed.memory.get(&key).and_then(|v| v.parse::<Ipv4Addr>().ok());
        // Leases govern the IPv4 side only: IPv6 entries (a SLAAC address) stay.
        let (v4, v6): (Vec<IpNet>, Vec<IpNet>) = b.addrs.iter().partition(|a| matches!(a, IpNet::V4(_)));
        let governed = v4.is_empty() || leased.is_some_and(|l| v4 == [host(l)]);
        if !governed {
            continue;
        }
        let mut addrs = match event {
            LeaseEvent::Held => vec![host(ip)],
            // Another address's end (an old lease of the same MAC) leaves this one.
            LeaseEvent::Ended if v4 == [host(ip)] => vec![],
            LeaseEvent::Ended => continue,
        };
        addrs.extend(v6);
        Binding::normalise(&mut addrs);
        if addrs == b.addrs && (leased == Some(ip)) == (event == LeaseEvent::Held) {
            continue;
        }
        let binding = Binding {
            vif: b.vif.clone(),
            mac: b.mac.clone(),
            addrs,
        };
        ops.push(Op::AddBinding {
            binding: binding.clone(),
        });
        ops.push(Op::Remember {
            key: binding_memory_key(&b.vif),
            value: serde_json::to_string(&binding).expect("a binding serialises"),
        });
        ops.push(match event {
            LeaseEvent::Held => Op::Remember {
                key,
                value: ip.to_string(),
            },
            LeaseEvent::Ended => Op::Forget { key },
        });
    }
    Plan { ops }
}

/// `vif online` again for a vif a lease governs (a hotplug replayed while its VM runs):
/// the VM keeps its address and will not ask for it before its lease's renewal, so the
/// binding keeps the leased address instead of falling back to DHCP only.
pub fn keep_lease(b: &mut Binding, config: Option<&crate::Config>, observed: &Observed) {
    let dhcp = config.is_some_and(|c| c.networks.iter().any(|n| n.dhcp));
    if !dhcp || b.addrs.iter().any(|a| matches!(a, IpNet::V4(_))) {
        return;
    }
    let remembered = observed
        .memory
        .get(&binding_memory_key(&b.vif))
        .and_then(|v| serde_json::from_str::<Binding>(v).ok());
    let leased = observed
        .memory
        .get(&lease_memory_key(&b.vif))
        .and_then(|v| v.parse::<Ipv4Addr>().ok());
    if let (Some(r), Some(l)) = (remembered, leased) {
        if r.mac == b.mac && r.addrs.contains(&host(l)) {
            b.addrs.push(host(l));
            Binding::normalise(&mut b.addrs);
        }
    }
}

fn host(ip: Ipv4Addr) -> IpNet {
    IpNet::from(IpAddr::V4(ip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Link, LinkKind};

    fn observed(addrs: &[&str], leased: Option<&str>) -> Observed {
        let mut o = Observed::default();
        o.links.push(Link {
            carrier: None,
            port_state: None,
            name: "vif1.0".into(),
            kind: LinkKind::Other("vif".into()),
            alias: None,
            master: Some("br0".into()),
            up: true,
            bridge: None,
            mac: None,
            mtu: None,
        });
        o.bindings.push(Binding {
            vif: "vif1.0".into(),
            mac: "52:54:00:00:00:02".into(),
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
        });
        if let Some(l) = leased {
            o.memory.insert(lease_memory_key("vif1.0"), l.into());
        }
        o
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn bound(p: &Plan) -> Option<Vec<String>> {
        p.ops.iter().find_map(|o| match o {
            Op::AddBinding { binding } => Some(binding.addrs.iter().map(|a| a.to_string()).collect()),
            _ => None,
        })
    }

    #[test]
    fn a_lease_binds_its_address_and_its_end_unbinds_it() {
        let o = observed(&[], None);
        let p = plan_lease(
            LeaseEvent::Held,
            "52:54:00:00:00:02",
            ip("10.98.98.150"),
            Some("br0"),
            &o,
        );
        assert_eq!(bound(&p), Some(vec!["10.98.98.150/32".to_string()]));
        assert_eq!(p.ops.len(), 3, "{:?}", p.ops);
        let o = observed(&["10.98.98.150/32"], Some("10.98.98.150"));
        assert!(plan_lease(
            LeaseEvent::Held,
            "52:54:00:00:00:02",
            ip("10.98.98.150"),
            Some("br0"),
            &o
        )
        .is_empty());
        let p = plan_lease(
            LeaseEvent::Ended,
            "52:54:00:00:00:02",
            ip("10.98.98.150"),
            Some("br0"),
            &o,
        );
        assert_eq!(bound(&p), Some(vec![]));
        assert!(p.ops.contains(&Op::Forget {
            key: lease_memory_key("vif1.0")
        }));
    }

    #[test]
    fn a_new_lease_replaces_the_old_address() {
        let o = observed(&["10.98.98.150/32"], Some("10.98.98.150"));
        let p = plan_lease(
            LeaseEvent::Held,
            "52:54:00:00:00:02",
            ip("10.98.98.151"),
            None,
            &o,
        );
        assert_eq!(bound(&p), Some(vec!["10.98.98.151/32".to_string()]));
        // The end of the old one then changes nothing.
        let o = observed(&["10.98.98.151/32"], Some("10.98.98.151"));
        assert!(plan_lease(
            LeaseEvent::Ended,
            "52:54:00:00:00:02",
            ip("10.98.98.150"),
            None,
            &o
        )
        .is_empty());
    }

    #[test]
    fn pinned_bindings_and_other_macs_and_bridges_are_left_alone() {
        let pinned = observed(&["10.98.98.10/32"], None);
        assert!(plan_lease(
            LeaseEvent::Held,
            "52:54:00:00:00:02",
            ip("10.98.98.150"),
            None,
            &pinned
        )
        .is_empty());
        assert!(plan_lease(
            LeaseEvent::Ended,
            "52:54:00:00:00:02",
            ip("10.98.98.10"),
            None,
            &pinned
        )
        .is_empty());
        let o = observed(&[], None);
        assert!(plan_lease(
            LeaseEvent::Held,
            "52:54:00:00:00:99",
            ip("10.98.98.150"),
            None,
            &o
        )
        .is_empty());
        assert!(plan_lease(
            LeaseEvent::Held,
            "52:54:00:00:00:02",
            ip("10.98.98.150"),
            Some("br1"),
            &o
        )
        .is_empty());
        assert!(
            plan_lease(
                LeaseEvent::Held,
                "52:54:00:00:00:02",
                ip("10.98.98.150"),
                Some("br0"),
                &o
            )
            .len()
                == 3
        );
    }
}
