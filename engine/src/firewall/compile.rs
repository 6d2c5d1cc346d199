//! Config → firewall IR, and the binding a vif gets when Xen hotplugs it.

use crate::config::{Config, Host};

use super::ir::{Binding, DeclaredHost, External, NetZone, PairPolicy, PortForward, Ruleset};

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
    let forwards = config
        .forwards
        .iter()
        .map(|f| PortForward {
            proto: f.proto,
            ports: f.ports,
            addr: f.addr,
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
/// (an undeclared VM on an anti-spoofing network may not send IP or ARP).
pub fn binding_for(ruleset: &Ruleset, bridge: &str, vif: &str, mac: &str) -> Option<Binding> {
    let net = ruleset.network_by_bridge(bridge)?;
    if !net.antispoof {
        return None;
    }
    let mac = mac.to_ascii_lowercase();
    let addrs = ruleset
        .hosts
        .iter()
        .find(|h| h.network == net.name && h.mac.as_deref() == Some(mac.as_str()))
        .map(|h| h.addrs.clone())
        .unwrap_or_default();
    Some(Binding {
        vif: vif.to_string(),
        mac,
        addrs,
    })
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
                Some(bridge) => binding_for(ruleset, bridge, &b.vif, &b.mac),
                // Detached but still there (e.g. mid-hotplug): keep it as it was.
                None => Some(b.clone()),
            }
        })
        .collect();
    out.sort();
    out
}
