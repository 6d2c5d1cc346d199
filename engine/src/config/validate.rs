//! Semantic validation: everything that can be wrong across keys and sections.
//!
//! Runs after parsing and before anything touches a kernel. It collects every problem
//! rather than stopping at the first, so an admin fixes a file in one pass. Every check
//! here has a case in `fixtures/bad/` pinning its message.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::overlaps::{forward_pairs, network_pairs, NetIndex};
use super::{
    check_interface_name, check_zone_name, did_you_mean, Config, ConfigError, ConfigErrors, Host, Mode,
    Network, Sources, ZONE_DOM0, ZONE_EXTERNAL,
};

/// The shortest prefix a network may have: anything wider would pull routes for a large
/// part of the Internet onto a bridge.
pub const MIN_PREFIX: u8 = 8;
/// The longest prefix a network may have: a /30 holds the bridge and one VM.
pub const MAX_PREFIX: u8 = 30;

/// Collects errors against one [`Sources`], so each check is one line.
struct Report<'s> {
    src: &'s Sources<'s>,
    errors: Vec<ConfigError>,
}

impl Report<'_> {
    fn err(&mut self, key: &str, problem: impl Into<String>, hint: impl Into<String>) {
        self.errors.push(self.src.error(key, problem, hint));
    }
}

/// The key path of a network field, in the vocabulary of where the config came from:
/// `network[1].address` in a file, `bridgeip` / `brnet` / `bridge` on a Xen command line.
fn net_key(config: &Config, i: usize, field: &str) -> String {
    if config.mode == Mode::Xen {
        return match field {
            "address" => "bridgeip".into(),
            "subnet" => "brnet".into(),
            other => other.into(),
        };
    }
    match field {
        // A file has no subnet key: the network is derived from the address.
        "subnet" => format!("network[{i}].address"),
        _ => format!("network[{i}].{field}"),
    }
}

/// Check a parsed configuration as a whole.
pub fn validate(config: &Config, src: &Sources<'_>) -> Result<(), ConfigErrors> {
    let mut r = Report {
        src,
        errors: Vec::new(),
    };
    let ix = NetIndex::new(config);
    uplink(config, &mut r);
    networks(config, &mut r);
    hosts(config, &ix, &mut r);
    forwards(config, &ix, &mut r);
    policies(config, &mut r);
    for (key, problem, hint) in super::validate_ipv6::check(config)
        .into_iter()
        .chain(super::validate_dhcp::check(config))
        .chain(super::validate_cluster::check(config))
    {
        r.err(&key, problem, hint);
    }
    if r.errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(r.errors))
    }
}

fn uplink(config: &Config, r: &mut Report) {
    let Some(up) = &config.uplink else { return };
    if let Err(p) = check_interface_name(&up.interface) {
        r.err(
            "uplink.interface",
            p,
            "name the external NIC as `ip link` shows it: 1-15 bytes without '/', ':' or spaces, e.g. \"eth0\"",
        );
    } else if let Some(n) = config.networks.iter().find(|n| n.bridge == up.interface) {
        r.err(
            "uplink.interface",
            format!(
                "is also the bridge of network {:?}; the uplink is the external NIC, not a brouter",
                n.name
            ),
            "set it to the NIC that faces the outside, e.g. \"eth0\"",
        );
    }
}

/// Every network: its name (in a file), bridge, STP delay, address and subnet, each
/// unique where it must be; then no two networks overlap.
fn networks(config: &Config, r: &mut Report) {
    if config.networks.is_empty() {
        // An empty or truncated file would otherwise be a valid "no networks": `start`
        // would then remove every bridge brouter made (a running xenbr0 and its VMs' links).
        r.err(
            "network",
            "is missing: the configuration defines no [[network]] (an empty or truncated file?)",
            "add a [[network]] with name, bridge and address, e.g. name = \"dmz\", bridge = \"xenbr0\", \
             address = \"10.98.98.1/24\"; to remove everything brouter made, run `brouter stop`",
        );
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut bridges: HashMap<&str, usize> = HashMap::new();
    for (i, n) in config.networks.iter().enumerate() {
        if config.mode == Mode::File {
            network_name(config, i, n, &mut names, r);
        }
        network_bridge(config, i, n, &mut bridges, r);
        if n.stp && !(2..=30).contains(&n.forward_delay) {
            r.err(
                &net_key(config, i, "forward_delay"),
                "is outside 2-30 seconds, which Linux requires while STP is on",
                "use forward_delay = 15 (the kernel's default) or turn stp off",
            );
        }
        let address_ok = bridge_address(config, i, n.address, r);
        network_subnet(config, i, n, address_ok, r);
    }
    overlapping_networks(config, r);
}

/// A file's network name is an identifier, not a built-in zone, and unique (`names`:
/// the networks seen so far).
fn network_name<'c>(
    config: &Config,
    i: usize,
    n: &'c Network,
    names: &mut HashMap<&'c str, usize>,
    r: &mut Report,
) {
    let k_name = net_key(config, i, "name");
    if let Err(p) = check_zone_name(&n.name) {
        r.err(
            &k_name,
            p,
            "a network name is also its zone's name: use an identifier such as \"dmz\"",
        );
    } else if n.name == ZONE_EXTERNAL || n.name == ZONE_DOM0 {
        r.err(
            &k_name,
            format!(
                "is a built-in zone ({} is the uplink, {} the host itself)",
                ZONE_EXTERNAL, ZONE_DOM0
            ),
            "choose another name for the network, e.g. \"dmz\"",
        );
    } else if let Some(j) = names.insert(&n.name, i) {
        r.err(
            &k_name,
            format!("is also the name of network[{j}]"),
            "give every network its own name",
        );
    }
}

/// A bridge name is a valid interface name, and each network has its own.
fn network_bridge<'c>(
    config: &Config,
    i: usize,
    n: &'c Network,
    bridges: &mut HashMap<&'c str, usize>,
    r: &mut Report,
) {
    let k_bridge = net_key(config, i, "bridge");
    if let Err(p) = check_interface_name(&n.bridge) {
        r.err(
            &k_bridge,
            p,
            "a bridge name is 1-15 bytes without '/', ':' or spaces, e.g. \"xenbr0\"",
        );
    } else if let Some(j) = bridges.insert(&n.bridge, i) {
        r.err(
            &k_bridge,
            format!(
                "is also the bridge of network[{j}] ({:?})",
                config.networks[j].name
            ),
            format!("give every network its own bridge, e.g. \"xenbr{i}\""),
        );
    }
}

/// The subnet is a network address, and (when the address is valid) contains it.
fn network_subnet(config: &Config, i: usize, n: &Network, address_ok: bool, r: &mut Report) {
    let k_subnet = net_key(config, i, "subnet");
    if n.subnet != n.subnet.trunc() {
        r.err(
            &k_subnet,
            format!(
                "has host bits set, so it is not a network address ({} is)",
                n.subnet.trunc()
            ),
            format!("write the network address, {}", n.subnet.trunc()),
        );
    } else if address_ok && !n.subnet.contains(&n.address.addr()) {
        let bridgeip = net_key(config, i, "address");
        r.err(
            &k_subnet,
            format!(
                "does not contain the bridge address {} ({bridgeip})",
                n.address.addr()
            ),
            format!(
                "use the bridge's own network, {}, or leave {k_subnet} out to derive it",
                n.address.trunc()
            ),
        );
    }
}

/// No two networks' ranges overlap (reported on the later one), found by a sorted sweep
/// ([`network_pairs`]) rather than by comparing every pair.
fn overlapping_networks(config: &Config, r: &mut Report) {
    let subnets: Vec<Ipv4Net> = config.networks.iter().map(|n| n.subnet).collect();
    for (i, j) in network_pairs(&subnets) {
        let (n, m) = (&config.networks[i], &config.networks[j]);
        r.err(
            &net_key(config, i, "subnet"),
            format!(
                "network {} overlaps network[{j}] ({:?}, {})",
                n.subnet, m.name, m.subnet
            ),
            "give each network its own range, e.g. a different /24",
        );
    }
}

/// The bridge address must be a unicast host address of a network that leaves room for
/// VMs. Returns whether it is.
fn bridge_address(config: &Config, i: usize, a: Ipv4Net, r: &mut Report) -> bool {
    let key = net_key(config, i, "address");
    let ip = a.addr();
    let example = "use a private range such as 10.98.98.1/24";
    let kind = if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if ip.octets()[0] == 0 {
        Some("in 0.0.0.0/8, which means \"this host\"")
    } else if ip.octets()[0] >= 240 {
        Some("in the reserved range 240.0.0.0/4")
    } else {
        None
    };
    if let Some(kind) = kind {
        r.err(
            &key,
            format!("{ip} is {kind}, which cannot be a bridge's address"),
            example,
        );
        return false;
    }
    let len = a.prefix_len();
    if len > MAX_PREFIX {
        r.err(
            &key,
            format!("a /{len} leaves no address for VMs beside the bridge"),
            format!("use /{MAX_PREFIX} or shorter, e.g. {}/24", host_of(a)),
        );
        return false;
    }
    if len < MIN_PREFIX {
        r.err(
            &key,
            format!(
                "a /{len} network is {} addresses, far more than a VM network",
                1u64 << (32 - len)
            ),
            format!("use /{MIN_PREFIX} or longer, e.g. {}/24", host_of(a)),
        );
        return false;
    }
    let which = if ip == a.network() {
        "network"
    } else if ip == a.broadcast() {
        "broadcast"
    } else {
        return true;
    };
    r.err(
        &key,
        format!("is the {which} address of {}, not a host address", a.trunc()),
        format!("give the bridge a host address, e.g. {}/{len}", first_host(a)),
    );
    false
}

/// What the hosts seen so far use, each with the index of the host that does: names,
/// MACs, addresses and vifs must be unique.
#[derive(Default)]
struct HostsSeen<'c> {
    names: HashMap<&'c str, usize>,
    macs: HashMap<&'c str, usize>,
    addrs: BTreeMap<Ipv4Addr, usize>,
    vifs: HashMap<&'c str, usize>,
}

/// Every host: its name, network, MAC, vif and addresses.
fn hosts(config: &Config, ix: &NetIndex, r: &mut Report) {
    let net_names: Vec<&str> = config.networks.iter().map(|n| n.name.as_str()).collect();
    let mut seen = HostsSeen::default();
    for (i, h) in config.hosts.iter().enumerate() {
        let k = |f: &str| format!("host[{i}].{f}");
        if let Err(p) = check_zone_name(&h.name) {
            r.err(&k("name"), p, "a host name is an identifier such as \"web1\"");
        } else if let Some(j) = seen.names.insert(&h.name, i) {
            r.err(
                &k("name"),
                format!("is also the name of host[{j}]"),
                "give every host its own name",
            );
        }
        let net = ix.network(&h.network);
        if net.is_none() {
            let hint = match did_you_mean(&h.network, &net_names) {
                Some(s) => format!("did you mean {s:?}? (networks: {})", net_names.join(", ")),
                None if net_names.is_empty() => "declare the network in a [[network]] section".into(),
                None => format!("networks: {}", net_names.join(", ")),
            };
            r.err(
                &k("network"),
                format!("names unknown network {:?}", h.network),
                hint,
            );
        }
        host_mac(config, i, h, net, &mut seen, r);
        host_vif(i, h, &mut seen, r);
        for (ai, a) in h.addresses.iter().enumerate() {
            host_address(config, (i, ai), *a, net, &mut seen, r);
        }
    }
}

/// A host's MAC is unique; a host of an anti-spoofing network must have one.
fn host_mac<'c>(
    config: &Config,
    i: usize,
    h: &'c Host,
    net: Option<&Network>,
    seen: &mut HostsSeen<'c>,
    r: &mut Report,
) {
    if let Some(mac) = &h.mac {
        if let Some(j) = seen.macs.insert(mac, i) {
            r.err(
                &format!("host[{i}].mac"),
                format!("is also the MAC of host[{j}] ({:?})", config.hosts[j].name),
                "give every VM interface its own MAC",
            );
        }
    } else if let Some(n) = net.filter(|n| n.antispoof) {
        let mut e = r.src.missing(
            &format!("host[{i}].mac"),
            &format!("host[{i}]"),
            format!(
                "network {:?} has antispoof = true, which binds each host to its MAC: add mac = \"aa:cc:…\"",
                n.name
            ),
        );
        e.problem = format!("is missing for host {:?}", h.name);
        r.errors.push(e);
    }
}

/// A host's vif is a valid interface name and belongs to no other host.
fn host_vif<'c>(i: usize, h: &'c Host, seen: &mut HostsSeen<'c>, r: &mut Report) {
    let Some(vif) = &h.vif else { return };
    if let Err(p) = check_interface_name(vif) {
        r.err(
            &format!("host[{i}].vif"),
            p,
            "use the dom0 interface name, e.g. \"vif3.0\"",
        );
    } else if let Some(j) = seen.vifs.insert(vif, i) {
        r.err(
            &format!("host[{i}].vif"),
            format!("is also the vif of host[{j}]"),
            "each vif belongs to one host",
        );
    }
}

/// Address `ai` of host `i`: a host address of its network (not the bridge's), listed
/// once and by no other host.
fn host_address(
    config: &Config,
    (i, ai): (usize, usize),
    a: Ipv4Addr,
    net: Option<&Network>,
    seen: &mut HostsSeen,
    r: &mut Report,
) {
    let ka = format!("host[{i}].addresses[{ai}]");
    if let Some(n) = net {
        if !n.subnet.contains(&a) {
            r.err(
                &ka,
                format!("is outside network {:?} ({})", n.name, n.subnet),
                format!("use an address in {}", n.subnet),
            );
            return;
        }
        if a == n.address.addr() {
            r.err(
                &ka,
                format!(
                    "is the bridge address of network {:?}, which belongs to the dom0",
                    n.name
                ),
                format!("give the host another address in {}", n.subnet),
            );
            return;
        }
        if a == n.subnet.network() || a == n.subnet.broadcast() {
            r.err(
                &ka,
                format!("is the network or broadcast address of {}", n.subnet),
                format!("use a host address in {}", n.subnet),
            );
            return;
        }
    }
    match seen.addrs.insert(a, i) {
        Some(j) if j == i => {
            r.err(&ka, "is listed twice for this host", "list each address once");
        }
        Some(j) => r.err(
            &ka,
            format!("is also an address of host[{j}] ({:?})", config.hosts[j].name),
            "give every host its own addresses",
        ),
        None => {}
    }
}

fn forwards(config: &Config, ix: &NetIndex, r: &mut Report) {
    let ranges = || {
        let v: Vec<String> = config.networks.iter().map(|n| n.subnet.to_string()).collect();
        v.join(", ")
    };
    // Comparing every pair is quadratic (50 M pairs at 10,000 forwards): a sorted sweep
    // finds the same pairs.
    let shared = forward_pairs(&config.forwards);
    for (i, f) in config.forwards.iter().enumerate() {
        let k = |fl: &str| format!("forward[{i}].{fl}");
        match ix.network_of(f.addr) {
            None => r.err(
                &k("to"),
                format!("{} is outside every network brouter manages", f.addr),
                if config.networks.is_empty() {
                    "declare the VM's network in a [[network]] section".to_string()
                } else {
                    format!("forward to a VM in {}", ranges())
                },
            ),
            Some(n) if n.address.addr() == f.addr => r.err(
                &k("to"),
                format!("{} is the bridge address of network {:?}, the dom0 itself, not a VM", f.addr, n.name),
                "forward to a VM's address or host name; to reach the dom0, write a policy from external to dom0",
            ),
            Some(n) if f.addr == n.subnet.network() || f.addr == n.subnet.broadcast() => r.err(
                &k("to"),
                format!(
                    "{} is the {} address of {}, not a VM",
                    f.addr,
                    if f.addr == n.subnet.network() { "network" } else { "broadcast" },
                    n.subnet
                ),
                "forward to a VM's address or host name",
            ),
            Some(_) => {}
        }
        for &j in &shared[i] {
            let g = &config.forwards[j];
            r.err(
                &k("port"),
                format!(
                    "{}/{} is already forwarded by forward[{j}] ({}/{})",
                    f.proto, f.ports, g.proto, g.ports
                ),
                "an external port can go to one place only: pick ports no other forward uses",
            );
        }
    }
}

fn policies(config: &Config, r: &mut Report) {
    let zones = config.zones();
    let zone_refs: Vec<&str> = zones.iter().map(String::as_str).collect();
    let known: std::collections::HashSet<&str> = zone_refs.iter().copied().collect();
    let mut pairs: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, p) in config.policies.iter().enumerate() {
        let mut ok = true;
        for (field, z) in [("from", &p.from), ("to", &p.to)] {
            if !known.contains(z.as_str()) {
                ok = false;
                let hint = match did_you_mean(z, &zone_refs) {
                    Some(s) => format!("did you mean {s:?}? (zones: {})", zones.join(", ")),
                    None => format!("zones: {}", zones.join(", ")),
                };
                r.err(
                    &format!("policy[{i}].{field}"),
                    format!("names unknown zone {z:?}"),
                    hint,
                );
            }
        }
        if !ok {
            continue;
        }
        if p.from == p.to {
            r.err(
                &format!("policy[{i}].to"),
                "is the same zone as from; traffic inside a zone is bridged, not routed, so no policy applies",
                "a policy joins two different zones",
            );
        } else if let Some(j) = pairs.insert((&p.from, &p.to), i) {
            r.err(
                &format!("policy[{i}]"),
                format!("repeats the zone pair {} -> {} of policy[{j}]", p.from, p.to),
                "keep one policy per (from, to) pair and list all its services there",
            );
        }
    }
}

/// The first host address of `n` (`10.98.98.1` for `10.98.98.0/24`), for hints.
fn first_host(n: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(n.network()) + 1)
}

/// `a`'s own address unless it is the network address of a /24, for "e.g. …/24" hints.
fn host_of(a: Ipv4Net) -> Ipv4Addr {
    let n24 = Ipv4Net::new(a.addr(), 24).expect("24 is a valid prefix").trunc();
    if a.addr() == n24.network() || a.addr() == n24.broadcast() {
        first_host(n24)
    } else {
        a.addr()
    }
}
