//! Semantic validation: everything that can be wrong across keys and sections.
//!
//! Runs after parsing and before anything touches a kernel. It collects every problem
//! rather than stopping at the first, so an admin fixes a file in one pass.

use std::collections::{BTreeMap, HashMap};

use super::{
    check_interface_name, check_zone_name, did_you_mean, Config, ConfigError, ConfigErrors, Mode,
    Sources, ZONE_DOM0, ZONE_EXTERNAL,
};

/// The key path of a field, in the vocabulary of where the config came from.
fn key(config: &Config, section: &str, i: usize, field: &str) -> String {
    if config.mode == Mode::Xen && section == "network" {
        return match field {
            "address" => "bridgeip".into(),
            "subnet" => "brnet".into(),
            "bridge" => "bridge".into(),
            other => other.into(),
        };
    }
    format!("{section}[{i}].{field}")
}

/// Check a parsed configuration as a whole.
pub fn validate(config: &Config, src: &Sources) -> Result<(), ConfigErrors> {
    let mut errors: Vec<ConfigError> = Vec::new();
    let mut err = |key: &str, problem: String, hint: String| errors.push(src.error(key, problem, hint));

    let bridges: Vec<&str> = config.networks.iter().map(|n| n.bridge.as_str()).collect();

    if let Some(up) = &config.uplink {
        if let Err(p) = check_interface_name(&up.interface) {
            err("uplink.interface", p, "name the external NIC as `ip link` shows it, e.g. \"eth0\"".into());
        } else if bridges.contains(&up.interface.as_str()) {
            err(
                "uplink.interface",
                "is also the bridge of a network; the uplink must be the external NIC, not a brouter".into(),
                "set it to the NIC that faces the outside, e.g. \"eth0\"".into(),
            );
        }
    }

    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut bridge_seen: HashMap<&str, usize> = HashMap::new();
    for (i, n) in config.networks.iter().enumerate() {
        let k_name = key(config, "network", i, "name");
        if config.mode == Mode::File {
            if let Err(p) = check_zone_name(&n.name) {
                err(&k_name, format!("network name {p}"), "use a short identifier such as \"dmz\"".into());
            } else if n.name == ZONE_EXTERNAL || n.name == ZONE_DOM0 {
                err(
                    &k_name,
                    format!("{:?} is a built-in zone and cannot name a network", n.name),
                    "choose another name, e.g. \"dmz\"".into(),
                );
            } else if let Some(j) = names.insert(&n.name, i) {
                err(&k_name, format!("is also the name of network[{j}]"), "give every network its own name".into());
            }
        }
        let k_bridge = key(config, "network", i, "bridge");
        if let Err(p) = check_interface_name(&n.bridge) {
            err(&k_bridge, format!("bridge name {p}"), "use a name such as \"xenbr0\"".into());
        } else if let Some(j) = bridge_seen.insert(&n.bridge, i) {
            err(&k_bridge, format!("is also the bridge of network[{j}]"), "give every network its own bridge".into());
        }

        let k_addr = key(config, "network", i, "address");
        let a = n.address;
        if a.prefix_len() > 30 {
            err(
                &k_addr,
                format!("a /{} leaves no room for VMs beside the bridge", a.prefix_len()),
                "use a prefix of /30 or shorter, e.g. /24".into(),
            );
        } else if a.addr() == a.network() {
            err(
                &k_addr,
                format!("is the network address of {}, not a host address", a.trunc()),
                format!("give the bridge a host address, e.g. {}/{}", first_host(a), a.prefix_len()),
            );
        } else if a.addr() == a.broadcast() {
            err(
                &k_addr,
                format!("is the broadcast address of {}, not a host address", a.trunc()),
                format!("give the bridge a host address, e.g. {}/{}", first_host(a), a.prefix_len()),
            );
        }
        if n.subnet != n.subnet.trunc() {
            err(
                &key(config, "network", i, "subnet"),
                format!("has host bits set; the network is {}", n.subnet.trunc()),
                format!("write {}", n.subnet.trunc()),
            );
        } else if !n.subnet.contains(&a.addr()) {
            err(
                &key(config, "network", i, "subnet"),
                format!("does not contain the bridge address {}", a.addr()),
                format!("use the bridge's own network, {}", a.trunc()),
            );
        }
    }
    for (i, n) in config.networks.iter().enumerate() {
        for (j, m) in config.networks.iter().enumerate().take(i) {
            if n.subnet.contains(&m.subnet.network()) || m.subnet.contains(&n.subnet.network()) {
                err(
                    &key(config, "network", i, "address"),
                    format!("network {} overlaps {} of network[{j}] ({:?})", n.subnet, m.subnet, m.name),
                    "give each network its own, non-overlapping range".into(),
                );
            }
        }
    }

    // Hosts.
    let net_names: Vec<&str> = config.networks.iter().map(|n| n.name.as_str()).collect();
    let mut host_names: HashMap<&str, usize> = HashMap::new();
    let mut macs: HashMap<&str, usize> = HashMap::new();
    let mut addrs: BTreeMap<std::net::Ipv4Addr, usize> = BTreeMap::new();
    let mut vifs: HashMap<&str, usize> = HashMap::new();
    for (i, h) in config.hosts.iter().enumerate() {
        let k = |f: &str| format!("host[{i}].{f}");
        if let Err(p) = check_zone_name(&h.name) {
            err(&k("name"), format!("host name {p}"), "use a short identifier such as \"web1\"".into());
        } else if let Some(j) = host_names.insert(&h.name, i) {
            err(&k("name"), format!("is also the name of host[{j}]"), "give every host its own name".into());
        }
        let net = config.network(&h.network);
        if net.is_none() {
            let hint = match did_you_mean(&h.network, &net_names) {
                Some(s) => format!("did you mean {s:?}?"),
                None => format!("declared networks: {}", net_names.join(", ")),
            };
            err(&k("network"), format!("names unknown network {:?}", h.network), hint);
        }
        if let Some(mac) = &h.mac {
            if let Some(j) = macs.insert(mac, i) {
                err(&k("mac"), format!("is also the MAC of host[{j}]"), "give every VM interface its own MAC".into());
            }
        } else if net.is_some_and(|n| n.antispoof) {
            err(
                &k("network"),
                format!("network {:?} has antispoof = true, which needs each host's MAC", h.network),
                format!("add mac = \"aa:cc:…\" to host {:?}", h.name),
            );
        }
        if let Some(vif) = &h.vif {
            if let Err(p) = check_interface_name(vif) {
                err(&k("vif"), format!("vif name {p}"), "use the dom0 interface name, e.g. \"vif3.0\"".into());
            } else if let Some(j) = vifs.insert(vif, i) {
                err(&k("vif"), format!("is also the vif of host[{j}]"), "each vif belongs to one host".into());
            }
        }
        for a in &h.addresses {
            if let Some(n) = net {
                if !n.subnet.contains(a) {
                    err(
                        &k("addresses"),
                        format!("{a} is outside network {:?} ({})", n.name, n.subnet),
                        format!("use an address in {}", n.subnet),
                    );
                    continue;
                }
                if *a == n.address.addr() {
                    err(&k("addresses"), format!("{a} is the bridge's own address"), format!("use another address in {}", n.subnet),);
                    continue;
                }
                if *a == n.subnet.network() || *a == n.subnet.broadcast() {
                    err(&k("addresses"), format!("{a} is the network or broadcast address of {}", n.subnet), format!("use a host address in {}", n.subnet));
                    continue;
                }
            }
            if let Some(j) = addrs.insert(*a, i) {
                if j != i {
                    err(&k("addresses"), format!("{a} is also an address of host[{j}]"), "give every host its own addresses".into());
                }
            }
        }
    }

    // Forwards.
    for (i, f) in config.forwards.iter().enumerate() {
        let k = |fl: &str| format!("forward[{i}].{fl}");
        match config.network_of(f.addr) {
            None => err(
                &k("to"),
                format!("{} is outside every network brouter manages", f.addr),
                "forward to a host on one of the [[network]] ranges".into(),
            ),
            Some(n) if n.address.addr() == f.addr => err(
                &k("to"),
                format!("{} is the bridge address of network {:?}, not a VM", f.addr, n.name),
                "forward to a VM's address".into(),
            ),
            Some(_) => {}
        }
        for (j, g) in config.forwards.iter().enumerate().take(i) {
            if f.proto == g.proto && f.ports.overlaps(&g.ports) {
                err(
                    &k("port"),
                    format!("{}/{} is already forwarded by forward[{j}] ({}/{})", f.proto, f.ports, g.proto, g.ports),
                    "each external port can go to one place only; pick another port".into(),
                );
            }
        }
    }

    // Policies.
    let zones = config.zones();
    let zone_refs: Vec<&str> = zones.iter().map(String::as_str).collect();
    let mut pairs: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, p) in config.policies.iter().enumerate() {
        let mut ok = true;
        for (field, z) in [("from", &p.from), ("to", &p.to)] {
            if !zones.contains(z) {
                ok = false;
                let hint = match did_you_mean(z, &zone_refs) {
                    Some(s) => format!("did you mean {s:?}? (zones: {})", zones.join(", ")),
                    None => format!("zones: {}", zones.join(", ")),
                };
                err(&format!("policy[{i}].{field}"), format!("names unknown zone {z:?}"), hint);
            }
        }
        if ok && p.from == p.to {
            err(
                &format!("policy[{i}].to"),
                format!("is the same zone as from ({:?}); traffic inside a zone is bridged, not routed", p.from),
                "a policy joins two different zones".into(),
            );
        } else if ok {
            if let Some(j) = pairs.insert((&p.from, &p.to), i) {
                err(
                    &format!("policy[{i}]"),
                    format!("repeats the zone pair {} -> {} of policy[{j}]", p.from, p.to),
                    "keep one policy per (from, to) pair; list all its services there".into(),
                );
            }
        }
    }

    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errors))
    }
}

fn first_host(n: ipnet::Ipv4Net) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(u32::from(n.network()) + 1)
}
