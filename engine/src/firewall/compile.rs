//! Config → firewall IR, and the binding a vif gets when Xen hotplugs it.

use crate::config::{Config, Host};

use super::ir::{Binding, DeclaredHost, External, NetZone, Overlay, PairPolicy, PortForward, Ruleset};

/// Compile a validated configuration to the firewall it asks for. Pure and total.
pub fn compile(config: &Config) -> Ruleset {
    let external = match &config.uplink {
        Some(u) => External::Uplink(u.interface.clone()),
        None => External::AnyOther,
    };
    let networks = config
        .networks
        .iter()
        .map(|n| NetZone {
            name: n.name.clone(),
            bridge: n.bridge.clone(),
            address: n.address,
            subnet: n.subnet,
            masquerade: n.masquerade,
            antispoof: n.antispoof,
            dhcp: n.dhcp,
            address6: n.address6,
            overlay: config.cluster.as_ref().and_then(|c| {
                let vni = crate::config::cluster::vni(&n.name);
                Some(Overlay {
                    port: crate::config::cluster::vxlan_name(vni),
                    gateway_mac: crate::config::cluster::gateway_mac(&n.name),
                    member: c.local_member()?.address,
                })
            }),
        })
        .collect();
    let policies = config
        .policies
        .iter()
        .map(|p| {
            let mut services = p.services.clone();
            services.sort();
            services.dedup();
            PairPolicy {
                from: p.from.clone(),
                to: p.to.clone(),
                action: p.action,
                services,
                log: p.log,
            }
        })
        .collect();
    // Looked up by name: 10,000 forwards searching 1,000 hosts one by one is 10^7 steps.
    let v6_of: std::collections::HashMap<&str, std::net::Ipv6Addr> = config
        .hosts
        .iter()
        .filter_map(|h| Some((h.name.as_str(), *h.addresses6.first()?)))
        .collect();
    let forwards = config
        .forwards
        .iter()
        .map(|f| PortForward {
            proto: f.proto,
            ports: f.ports,
            addr: f.addr,
            addr6: f.host.as_deref().and_then(|h| v6_of.get(h).copied()),
            to_port: f.to_port,
            host: f.host.clone(),
        })
        .collect();
    let hosts = config
        .hosts
        .iter()
        .map(|h: &Host| DeclaredHost {
            name: h.name.clone(),
            network: h.network.clone(),
            mac: h.mac.clone(),
            addrs: h.addresses.clone(),
            addrs6: h.addresses6.clone(),
        })
        .collect();
    Ruleset {
        external,
        networks,
        policies,
        forwards,
        hosts,
        log: config.log,
    }
}

/// The binding a vif gets when it comes online on `bridge` with `mac` (from xenstore):
/// `None` when the bridge's network does not do anti-spoofing (the vif is not guarded);
/// the declared host's addresses when its MAC is declared; no address at all otherwise
/// (the caller adds what Xen gave an undeclared MAC, see `vif::antispoof_binding`).
pub fn binding_for(ruleset: &Ruleset, bridge: &str, vif: &str, mac: &str) -> Option<Binding> {
    let net = ruleset.network_by_bridge(bridge)?;
    if !net.antispoof {
        return None;
    }
    let mac = mac.to_ascii_lowercase();
    let host = ruleset
        .hosts
        .iter()
        .find(|h| h.network == net.name && h.mac.as_deref() == Some(mac.as_str()));
    let mut addrs: Vec<ipnet::IpNet> = host
        .map(|h| {
            let v4 = h.addrs.iter().map(|a| std::net::IpAddr::V4(*a));
            let v6 = h.addrs6.iter().map(|a| std::net::IpAddr::V6(*a));
            v4.chain(v6).map(ipnet::IpNet::from).collect()
        })
        .unwrap_or_default();
    // Any VM on a dual-stack network configures the address SLAAC builds from the
    // announced /64 and its MAC (bound already): it may send from it, declared or not.
    if let Some(p) = net.address6 {
        addrs.extend(slaac_address(p, &mac).map(|a| ipnet::IpNet::from(std::net::IpAddr::V6(a))));
    }
    Binding::normalise(&mut addrs);
    Some(Binding {
        vif: vif.to_string(),
        mac,
        addrs,
    })
}

/// The address SLAAC gives the interface with `mac` in the /64 `prefix` (modified EUI-64,
/// RFC 4291 appendix A): what a VM with default settings configures from the network's
/// router advertisements. `None` for a MAC that does not parse.
pub fn slaac_address(prefix: ipnet::Ipv6Net, mac: &str) -> Option<std::net::Ipv6Addr> {
    let m = crate::backend::mac_octets(mac)?;
    let net = prefix.trunc().network().octets();
    let mut a = [0u8; 16];
    a[..8].copy_from_slice(&net[..8]);
    a[8..].copy_from_slice(&[m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]]);
    Some(std::net::Ipv6Addr::from(a))
}

/// Whether a `[[host]]` of `bridge`'s network declares `mac`: its binding then follows
/// the declaration; an undeclared MAC keeps what Xen gave it (`ip=`, or any address).
pub fn declares(ruleset: &Ruleset, bridge: &str, mac: &str) -> bool {
    let Some(net) = ruleset.network_by_bridge(bridge) else {
        return false;
    };
    ruleset
        .hosts
        .iter()
        .any(|h| h.network == net.name && h.mac.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(mac)))
}

/// `b` refreshed for `start` on `bridge`: a declared MAC gets its host's addresses, an
/// undeclared one (or a declared one without addresses on a `dhcp` network: its lease's)
/// keeps the addresses it was bound to; `None` when the network no longer does
/// anti-spoofing.
pub fn refreshed(ruleset: &Ruleset, bridge: &str, b: &Binding) -> Option<Binding> {
    let mut fresh = binding_for(ruleset, bridge, &b.vif, &b.mac)?;
    let no_v4 = !fresh.addrs.iter().any(|a| matches!(a, ipnet::IpNet::V4(_)));
    let leased = no_v4 && ruleset.network_by_bridge(bridge).is_some_and(|n| n.dhcp);
    if !declares(ruleset, bridge, &b.mac) {
        // An undeclared MAC keeps what Xen gave it.
        fresh.addrs = b.addrs.clone();
    } else if leased {
        // A declared host without IPv4 addresses on a DHCP network keeps what its lease
        // gave it.
        fresh.addrs.extend(
            b.addrs
                .iter()
                .filter(|a| matches!(a, ipnet::IpNet::V4(_)))
                .copied(),
        );
        Binding::normalise(&mut fresh.addrs);
    }
    Some(fresh)
}

/// The bindings `start` must keep when it replaces the tables: those observed on vifs
/// that still exist, refreshed from the declarations (a host whose addresses changed in
/// the config gets its new addresses), and dropped when the vif's network no longer
/// does anti-spoofing.
pub fn bindings_to_keep(ruleset: &Ruleset, observed: &crate::model::Observed) -> Vec<Binding> {
    let mut out: Vec<Binding> = observed
        .bindings
        .iter()
        .filter_map(|b| {
            let link = observed.link(&b.vif)?;
            match link.master.as_deref() {
                Some(bridge) => refreshed(ruleset, bridge, b),
                // Detached but still there (e.g. mid-hotplug): keep it as it was.
                None => Some(b.clone()),
            }
        })
        .collect();
    out.sort();
    out
}
