//! Random configuration files for property tests, without a dependency on `proptest`.
//!
//! [`random_config`] turns a slice of numbers (whatever a test's RNG or proptest strategy
//! produced) into TOML text deterministically: the same numbers always give the same
//! file, so a failing case is reproduced from its numbers alone. About half the files are
//! valid: one to four networks with non-overlapping ranges (/16 to /30), hosts with unique
//! MACs and addresses, forwards on distinct ports (single ports and ranges, by host name
//! or address, with and without port translation) and policies between distinct zone
//! pairs. The other half are the same kind of file with exactly one mistake from the
//! bad-config catalogue (`fixtures/bad/`) injected, named by [`Generated::mutation`] —
//! such a file must be rejected by validation, before anything touches a kernel.
//!
//! The numbers are consumed in order; when they run out, every further choice is 0
//! (so `&[]` is the smallest valid config: one network, nothing else).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// The mistakes [`random_config`] can inject, by name (each one is a catalogue case).
pub const MUTATIONS: &[&str] = &[
    "syntax_error",
    "unknown_top_level_key",
    "unknown_network_key",
    "wrong_type_bool",
    "bridge_name_bad",
    "uplink_name_bad",
    "address_without_prefix",
    "address_is_network",
    "address_is_broadcast",
    "address_prefix_too_long_for_vms",
    "networks_overlap",
    "duplicate_bridge",
    "duplicate_network_name",
    "network_named_builtin",
    "network_missing_address",
    "duplicate_host_name",
    "duplicate_mac",
    "bad_mac",
    "duplicate_host_address",
    "host_address_outside_network",
    "host_unknown_network",
    "antispoof_host_without_mac",
    "forward_unknown_host",
    "forward_outside_networks",
    "forward_to_bridge_address",
    "forward_port_range_reversed",
    "forward_port_out_of_range",
    "forward_same_external_port",
    "forward_proto_icmp",
    "policy_unknown_zone",
    "policy_bad_action",
    "policy_bad_service",
    "policy_same_zone",
    "policy_duplicate_pair",
    "uplink_is_bridge",
];

/// One generated configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The TOML text.
    pub text: String,
    /// `None`: the file is valid. `Some(name)`: it contains exactly this mistake (one of
    /// [`MUTATIONS`]) and validation must reject it.
    pub mutation: Option<&'static str>,
}

/// TOML text built from `rng_choices`: sometimes valid, sometimes invalid in one of the
/// catalogue's ways. Deterministic; see the module documentation.
pub fn random_config_text(rng_choices: &[u32]) -> String {
    random_config(rng_choices).text
}

/// Like [`random_config_text`], also saying which mistake (if any) the text contains.
pub fn random_config(rng_choices: &[u32]) -> Generated {
    let mut c = Choices {
        numbers: rng_choices,
        next: 0,
    };
    // The first number decides valid (0..N) or which mutation (N..2N), so 0 is valid.
    let n = MUTATIONS.len() as u32;
    let m = c.below(2 * n);
    let mut d = Draft::generate(&mut c);
    let mutation = if m < n {
        None
    } else {
        let name = MUTATIONS[(m - n) as usize];
        d.mutate(name, &mut c);
        Some(name)
    };
    Generated {
        text: d.render(),
        mutation,
    }
}

/// A cursor over the caller's numbers.
struct Choices<'a> {
    numbers: &'a [u32],
    next: usize,
}

impl Choices<'_> {
    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: u32) -> u32 {
        let v = self.numbers.get(self.next).copied().unwrap_or(0);
        self.next += 1;
        v % n
    }
    fn flip(&mut self) -> bool {
        self.below(2) == 1
    }
    fn pick<'s>(&mut self, options: &[&'s str]) -> &'s str {
        options[self.below(options.len() as u32) as usize]
    }
}

fn q(s: &str) -> String {
    format!("\"{s}\"")
}

/// A TOML section: `[uplink]` or one `[[network]]`/`[[host]]`/`[[forward]]`/`[[policy]]`
/// entry, with its keys and their values as raw TOML.
struct Section {
    kind: &'static str,
    fields: Vec<(String, String)>,
}

struct NetInfo {
    name: String,
    bridge: String,
    /// The bridge address with the network's prefix.
    address: Ipv4Net,
    /// Next free host address offset from the network address.
    next_host: u32,
    section: usize,
}

impl NetInfo {
    fn capacity(&self) -> u32 {
        // Network, broadcast and bridge addresses are taken.
        (1u32 << (32 - self.address.prefix_len())) - 2
    }
    fn take_host(&mut self) -> Option<Ipv4Addr> {
        if self.next_host > self.capacity() {
            return None;
        }
        let a = Ipv4Addr::from(u32::from(self.address.network()) + self.next_host);
        self.next_host += 1;
        Some(a)
    }
}

struct HostInfo {
    name: String,
    net: usize,
    addrs: Vec<Ipv4Addr>,
    section: usize,
}

struct Draft {
    top: Vec<(String, String)>,
    sections: Vec<Section>,
    nets: Vec<NetInfo>,
    hosts: Vec<HostInfo>,
    forwards: Vec<usize>,
    policies: Vec<(String, String, usize)>,
    trailer: String,
}

const NET_NAMES: &[&str] = &["dmz", "hosting", "data", "mgmt"];
const PREFIXES: &[u8] = &[24, 16, 26, 29, 30, 24];

impl Draft {
    fn generate(c: &mut Choices) -> Draft {
        let mut d = Draft {
            top: Vec::new(),
            sections: Vec::new(),
            nets: Vec::new(),
            hosts: Vec::new(),
            forwards: Vec::new(),
            policies: Vec::new(),
            trailer: String::new(),
        };
        if c.flip() {
            d.add_section("uplink", vec![("interface", q("eth0"))]);
        }
        let nets = 1 + c.below(4) as usize;
        for _ in 0..nets {
            d.add_network(c);
        }
        for k in 0..d.nets.len() {
            for _ in 0..c.below(3) {
                d.add_host(k, c);
            }
        }
        for _ in 0..c.below(4) {
            d.add_forward(c);
        }
        for _ in 0..c.below(5) {
            d.add_policy(c);
        }
        d
    }

    fn add_section(&mut self, kind: &'static str, fields: Vec<(&str, String)>) -> usize {
        let fields = fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        self.sections.push(Section { kind, fields });
        self.sections.len() - 1
    }

    fn set(&mut self, section: usize, key: &str, raw: String) {
        let fields = &mut self.sections[section].fields;
        match fields.iter_mut().find(|(k, _)| k == key) {
            Some(f) => f.1 = raw,
            None => fields.push((key.to_string(), raw)),
        }
    }

    fn remove(&mut self, section: usize, key: &str) {
        self.sections[section].fields.retain(|(k, _)| k != key);
    }

    /// A network with a fresh name and a range no other network overlaps (the second
    /// octet is the network's own).
    fn add_network(&mut self, c: &mut Choices) -> usize {
        let k = self.nets.len();
        let name = NET_NAMES
            .get(k)
            .map(|s| s.to_string())
            .unwrap_or_else(|| format!("net{k}"));
        let len = PREFIXES[c.below(PREFIXES.len() as u32) as usize];
        let third = if len <= 16 { 0 } else { c.below(250) };
        let base = Ipv4Addr::new(10, 1 + k as u8, third as u8, 0);
        let address = Ipv4Net::new(Ipv4Addr::from(u32::from(base) + 1), len).expect("prefix ≤ 32");
        let mut fields = vec![("name", q(&name))];
        let bridge = if c.flip() {
            let b = format!("br-{name}");
            fields.push(("bridge", q(&b)));
            b
        } else {
            format!("xenbr{k}")
        };
        fields.push(("address", q(&address.to_string())));
        match c.below(3) {
            1 => fields.push(("masquerade", "false".into())),
            2 => fields.push(("masquerade", "true".into())),
            _ => {}
        }
        if c.flip() {
            fields.push(("antispoof", "true".into()));
        }
        if c.below(4) == 0 {
            fields.push(("dhcp", "true".into()));
        }
        if c.below(4) == 0 {
            fields.push(("stp", "true".into()));
            if c.flip() {
                fields.push(("forward_delay", (2 + c.below(29)).to_string()));
            }
        }
        let section = self.add_section("network", fields);
        self.nets.push(NetInfo {
            name,
            bridge,
            address,
            next_host: 2,
            section,
        });
        k
    }

    /// A host on network `net` with a unique MAC and one or two free addresses (none if
    /// the network is full).
    fn add_host(&mut self, net: usize, c: &mut Choices) -> usize {
        let j = self.hosts.len();
        let name = format!("vm{j}");
        let mut addrs = Vec::new();
        for _ in 0..1 + c.below(2) {
            addrs.extend(self.nets[net].take_host());
        }
        let list = addrs
            .iter()
            .map(|a| q(&a.to_string()))
            .collect::<Vec<_>>()
            .join(", ");
        let mut fields = vec![("name", q(&name)), ("network", q(&self.nets[net].name))];
        fields.push(("mac", q(&format!("aa:cc:00:00:{:02x}:{:02x}", net, j))));
        fields.push(("addresses", format!("[{list}]")));
        let section = self.add_section("host", fields);
        self.hosts.push(HostInfo {
            name,
            net,
            addrs,
            section,
        });
        j
    }

    /// A forward on its own external ports, to a host that has an address. Returns
    /// `None` when no host has one.
    fn add_forward(&mut self, c: &mut Choices) -> Option<usize> {
        let targets: Vec<usize> = (0..self.hosts.len())
            .filter(|h| !self.hosts[*h].addrs.is_empty())
            .collect();
        if targets.is_empty() {
            return None;
        }
        let h = &self.hosts[targets[c.below(targets.len() as u32) as usize]];
        let first = 1000 + 100 * self.forwards.len() as u32;
        let port = if c.flip() {
            first.to_string()
        } else {
            q(&format!("{first}-{}", first + 9))
        };
        let who = if c.flip() {
            h.name.clone()
        } else {
            h.addrs[0].to_string()
        };
        let to = if c.flip() {
            format!("{who}:{}", 1 + c.below(65535))
        } else {
            who
        };
        let proto = c.pick(&["tcp", "udp"]);
        let s = self.add_section(
            "forward",
            vec![("proto", q(proto)), ("port", port), ("to", q(&to))],
        );
        self.forwards.push(s);
        Some(s)
    }

    /// A policy between two different zones no other policy joins yet (skipped if the
    /// chosen pair is taken).
    fn add_policy(&mut self, c: &mut Choices) -> Option<usize> {
        let mut zones = vec!["external".to_string(), "dom0".to_string()];
        zones.extend(self.nets.iter().map(|n| n.name.clone()));
        let from = zones[c.below(zones.len() as u32) as usize].clone();
        let to = zones[c.below(zones.len() as u32) as usize].clone();
        if from == to || self.policies.iter().any(|(f, t, _)| *f == from && *t == to) {
            return None;
        }
        let action = c.pick(&["accept", "drop", "reject"]);
        let mut fields = vec![("from", q(&from)), ("to", q(&to)), ("action", q(action))];
        let services: Vec<String> = (0..c.below(3))
            .map(|_| match c.below(3) {
                0 => "icmp".to_string(),
                1 => format!("tcp/{}", 1 + c.below(65535)),
                _ => {
                    let p = 1 + c.below(60000);
                    format!("udp/{p}-{}", p + c.below(100))
                }
            })
            .collect();
        if !services.is_empty() {
            let list = services.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ");
            fields.push(("services", format!("[{list}]")));
        }
        if c.below(4) == 0 {
            fields.push(("log", "true".into()));
        }
        let s = self.add_section("policy", fields);
        self.policies.push((from, to, s));
        Some(s)
    }

    fn ensure_two_networks(&mut self, c: &mut Choices) {
        if self.nets.len() < 2 {
            self.add_network(c);
        }
    }

    /// A host with at least one address (the first network gets room for one: a /30
    /// holds exactly one VM).
    fn ensure_host_with_address(&mut self, c: &mut Choices) -> usize {
        if let Some(h) = self.hosts.iter().position(|h| !h.addrs.is_empty()) {
            return h;
        }
        let net = (0..self.nets.len()).find(|k| self.nets[*k].next_host <= self.nets[*k].capacity());
        let net = net.unwrap_or_else(|| self.add_network(c));
        let h = self.add_host(net, c);
        if self.hosts[h].addrs.is_empty() {
            // Only when the fresh network is full, which a new network never is.
            unreachable!("a new network has room for a host");
        }
        h
    }

    fn ensure_two_hosts(&mut self, c: &mut Choices) -> (usize, usize) {
        let a = self.ensure_host_with_address(c);
        let b = (0..self.hosts.len()).find(|h| *h != a && !self.hosts[*h].addrs.is_empty());
        let b = b.unwrap_or_else(|| {
            let net = (0..self.nets.len()).find(|k| self.nets[*k].next_host <= self.nets[*k].capacity());
            let net = net.unwrap_or_else(|| self.add_network(c));
            self.add_host(net, c)
        });
        (a, b)
    }

    fn ensure_forward(&mut self, c: &mut Choices) -> usize {
        if let Some(f) = self.forwards.first() {
            return *f;
        }
        self.ensure_host_with_address(c);
        self.add_forward(c).expect("a host with an address exists")
    }

    fn ensure_policy(&mut self) -> usize {
        if let Some((_, _, s)) = self.policies.first() {
            return *s;
        }
        let name = self.nets[0].name.clone();
        let s = self.add_section(
            "policy",
            vec![("from", q(&name)), ("to", q("external")), ("action", q("accept"))],
        );
        self.policies.push((name, "external".into(), s));
        s
    }

    fn ensure_uplink(&mut self) -> usize {
        match self.sections.iter().position(|s| s.kind == "uplink") {
            Some(s) => s,
            None => self.add_section("uplink", vec![("interface", q("eth0"))]),
        }
    }

    /// Inject exactly one catalogue mistake.
    fn mutate(&mut self, name: &str, c: &mut Choices) {
        let done = self.mutate_file(name, c)
            || self.mutate_network(name, c)
            || self.mutate_host(name, c)
            || self.mutate_forward(name, c)
            || self.mutate_policy(name, c);
        assert!(done, "unknown mutation {name}");
    }

    /// Mistakes in the file itself, its top-level keys and the uplink; whether `name` is one of them.
    fn mutate_file(&mut self, name: &str, c: &mut Choices) -> bool {
        let net0 = self.nets[0].section;
        let a0 = self.nets[0].address;
        match name {
            "syntax_error" => self.trailer = "[[network]\nname = \"oops\"\n".into(),
            "unknown_top_level_key" => self.top.push(("netwrok".into(), q("dmz"))),
            "unknown_network_key" => self.set(net0, "adress", q(&a0.to_string())),
            "wrong_type_bool" => self.set(net0, "masquerade", q("yes")),
            "uplink_name_bad" => {
                let up = self.ensure_uplink();
                let bad = c.pick(&["enp0s31f6-uplink", "eth/0", "eth 0", "eth0:1", ""]);
                self.set(up, "interface", q(bad));
            }
            "uplink_is_bridge" => {
                let up = self.ensure_uplink();
                let b = self.nets[0].bridge.clone();
                self.set(up, "interface", q(&b));
            }
            _ => return false,
        }
        true
    }

    /// Mistakes in a network: its bridge, address, name, or two that clash; whether `name` is one of them.
    fn mutate_network(&mut self, name: &str, c: &mut Choices) -> bool {
        let net0 = self.nets[0].section;
        let a0 = self.nets[0].address;
        match name {
            "bridge_name_bad" => {
                let bad = c.pick(&["xenbr-dmz-public0", "br/0", "br 0", "br0:1", ""]);
                self.set(net0, "bridge", q(bad));
            }
            "address_without_prefix" => self.set(net0, "address", q(&a0.addr().to_string())),
            "address_is_network" => self.set(net0, "address", q(&a0.trunc().to_string())),
            "address_is_broadcast" => self.set(
                net0,
                "address",
                q(&format!("{}/{}", a0.broadcast(), a0.prefix_len())),
            ),
            "address_prefix_too_long_for_vms" => {
                let len = c.pick(&["31", "32"]);
                self.set(net0, "address", q(&format!("{}/{len}", a0.addr())));
            }
            "networks_overlap" => {
                self.ensure_two_networks(c);
                // A /8 around the first network's range.
                let s = self.nets[1].section;
                let o = a0.addr().octets();
                self.set(s, "address", q(&format!("{}.200.0.1/8", o[0])));
            }
            "duplicate_bridge" => {
                self.ensure_two_networks(c);
                let (s, b) = (self.nets[1].section, self.nets[0].bridge.clone());
                self.set(s, "bridge", q(&b));
            }
            "duplicate_network_name" => {
                self.ensure_two_networks(c);
                let (s, n) = (self.nets[1].section, self.nets[0].name.clone());
                self.set(s, "name", q(&n));
            }
            "network_named_builtin" => {
                let z = c.pick(&["external", "dom0"]);
                self.set(net0, "name", q(z));
            }
            "network_missing_address" => self.remove(net0, "address"),
            _ => return false,
        }
        true
    }

    /// Mistakes in a host: its name, MAC, addresses, network, or two that clash; whether `name` is one of them.
    fn mutate_host(&mut self, name: &str, c: &mut Choices) -> bool {
        match name {
            "duplicate_host_name" => {
                let (a, b) = self.ensure_two_hosts(c);
                let (s, n) = (self.hosts[b].section, self.hosts[a].name.clone());
                self.set(s, "name", q(&n));
            }
            "duplicate_mac" => {
                let (a, b) = self.ensure_two_hosts(c);
                let mac = format!("AA:CC:00:00:{:02x}:{:02x}", self.hosts[a].net, a);
                let s = self.hosts[b].section;
                self.set(s, "mac", q(&mac));
            }
            "bad_mac" => {
                let h = self.ensure_host_with_address(c);
                let bad = c.pick(&[
                    "aa:cc:00:00:01",
                    "01:00:5e:00:00:01",
                    "aa:cc:00:00:00:zz",
                    "00:00:00:00:00:00",
                ]);
                let s = self.hosts[h].section;
                self.set(s, "mac", q(bad));
            }
            "duplicate_host_address" => {
                let (a, b) = self.ensure_two_hosts(c);
                // b claims a's address; moving b onto a's network keeps it in range.
                let (s, addr, net) = (self.hosts[b].section, self.hosts[a].addrs[0], self.hosts[a].net);
                let net_name = self.nets[net].name.clone();
                self.set(s, "network", q(&net_name));
                self.set(s, "addresses", format!("[{}]", q(&addr.to_string())));
            }
            "host_address_outside_network" => {
                let h = self.ensure_host_with_address(c);
                let s = self.hosts[h].section;
                self.set(s, "addresses", format!("[{}]", q("192.168.77.7")));
            }
            "host_unknown_network" => {
                let h = self.ensure_host_with_address(c);
                let s = self.hosts[h].section;
                self.set(s, "network", q("nosuchnet"));
            }
            "antispoof_host_without_mac" => {
                let h = self.ensure_host_with_address(c);
                let (s, net) = (self.hosts[h].section, self.nets[self.hosts[h].net].section);
                self.set(net, "antispoof", "true".into());
                self.remove(s, "mac");
            }
            _ => return false,
        }
        true
    }

    /// Mistakes in a forward: its target, ports or protocol; whether `name` is one of them.
    fn mutate_forward(&mut self, name: &str, c: &mut Choices) -> bool {
        let a0 = self.nets[0].address;
        match name {
            "forward_unknown_host" => {
                let f = self.ensure_forward(c);
                self.set(f, "to", q("nosuchhost"));
            }
            "forward_outside_networks" => {
                let f = self.ensure_forward(c);
                self.set(f, "to", q("192.168.1.10:80"));
            }
            "forward_to_bridge_address" => {
                let f = self.ensure_forward(c);
                self.set(f, "to", q(&a0.addr().to_string()));
            }
            "forward_port_range_reversed" => {
                let f = self.ensure_forward(c);
                self.set(f, "port", q("9000-8000"));
            }
            "forward_port_out_of_range" => {
                let f = self.ensure_forward(c);
                let p = c.pick(&["0", "70000", "\"0-10\"", "\"65000-65536\""]);
                self.set(f, "port", p.to_string());
            }
            "forward_same_external_port" => {
                let f = self.ensure_forward(c);
                let copy = self.sections[f].fields.clone();
                self.sections.push(Section {
                    kind: "forward",
                    fields: copy,
                });
            }
            "forward_proto_icmp" => {
                let f = self.ensure_forward(c);
                self.set(f, "proto", q("icmp"));
            }
            _ => return false,
        }
        true
    }

    /// Mistakes in a policy: its zones, action or services, or a duplicate pair; whether `name` is one of them.
    fn mutate_policy(&mut self, name: &str, c: &mut Choices) -> bool {
        match name {
            "policy_unknown_zone" => {
                let p = self.ensure_policy();
                let field = c.pick(&["from", "to"]);
                self.set(p, field, q("internet"));
            }
            "policy_bad_action" => {
                let p = self.ensure_policy();
                self.set(p, "action", q(c.pick(&["allow", "deny", "ACCEPT"])));
            }
            "policy_bad_service" => {
                let p = self.ensure_policy();
                let bad = c.pick(&["tcp/http", "sctp/1", "tcp/0", "udp/9-1", "tcp"]);
                self.set(p, "services", format!("[{}]", q(bad)));
            }
            "policy_same_zone" => {
                let p = self.ensure_policy();
                let from = self.sections[p]
                    .fields
                    .iter()
                    .find(|(k, _)| k == "from")
                    .expect("from")
                    .1
                    .clone();
                self.set(p, "to", from);
            }
            "policy_duplicate_pair" => {
                let p = self.ensure_policy();
                let copy = self.sections[p].fields.clone();
                self.sections.push(Section {
                    kind: "policy",
                    fields: copy,
                });
            }
            _ => return false,
        }
        true
    }

    fn render(&self) -> String {
        let mut out = String::from("# generated by brouter_engine::config::arbitrary\n");
        for (k, v) in &self.top {
            out.push_str(&format!("{k} = {v}\n"));
        }
        for kind in ["uplink", "network", "host", "forward", "policy"] {
            for s in self.sections.iter().filter(|s| s.kind == kind) {
                if kind == "uplink" {
                    out.push_str("\n[uplink]\n");
                } else {
                    out.push_str(&format!("\n[[{kind}]]\n"));
                }
                for (k, v) in &s.fields {
                    out.push_str(&format!("{k} = {v}\n"));
                }
            }
        }
        out.push_str(&self.trailer);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_choices_is_the_smallest_valid_config() {
        let g = random_config(&[]);
        assert_eq!(g.mutation, None);
        assert!(g.text.contains("[[network]]"), "{}", g.text);
    }

    #[test]
    fn same_choices_same_text() {
        let choices = [7, 3, 99, 12, 5, 8, 1, 0, 42];
        assert_eq!(random_config(&choices), random_config(&choices));
    }

    #[test]
    fn every_mutation_is_reachable() {
        let n = MUTATIONS.len() as u32;
        for (i, name) in MUTATIONS.iter().enumerate() {
            assert_eq!(random_config(&[n + i as u32]).mutation, Some(*name));
        }
    }
}
