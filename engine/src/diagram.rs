//! The topology picture (`brouter diagram`) as data: who is wired to whom, which ports
//! are forwarded where, and which zone pairs a policy decides.
//!
//! The picture is built from the [`Config`] alone, or refined with what a backend
//! [`Observed`] (the uplink's address, the bridges' state, the vifs attached to each
//! bridge and their anti-spoofing bindings). It is a plain graph — nodes with text lines,
//! edges with a kind and a label — so the engine can print Graphviz DOT without I/O and
//! a renderer elsewhere (the CLI's SVG writer) can lay out exactly the same graph.
//!
//! The zone policies form their own small graph beside the topology — one node per zone,
//! one arrow per listed policy — rather than arrows across the topology boxes: a dozen
//! policy arrows over the wiring make both unreadable. Unlisted zone pairs drop (DESIGN.md,
//! "Firewall model"); drawing them would bury the policies that were written, so only
//! listed policies become arrows.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::net::Ipv4Addr;

use crate::config::{Action, Config, Forward, Host, Mode, NetIndex, Network, ZONE_DOM0, ZONE_EXTERNAL};
use crate::model::{Observed, IP_FORWARD};

/// Node id of the internet beyond the uplink.
pub const INTERNET: &str = "internet";
/// Node id of the uplink (the `external` zone).
pub const UPLINK: &str = "uplink";
/// Node id of the dom0 (the `dom0` zone).
pub const DOM0: &str = "dom0";

/// What a node stands for; renderers pick its shape and colour from this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Internet,
    /// The external NIC, or "every other interface" when the config names none.
    Uplink,
    Dom0,
    /// A brouter: a bridge with an address, and the zone of its network.
    Brouter,
    /// A declared host (VM interface), with its live vif when one is attached.
    Host,
    /// A live port of a bridge that no declared host claims.
    Vif,
    /// A forward's destination address that no declared host carries.
    Address,
    /// A firewall zone, in the zone-policy graph.
    Zone,
}

/// One box of the picture. `id` is unique and stable (`net:dmz`, `host:web1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    pub kind: NodeKind,
    /// Text lines, the first one the node's name.
    pub lines: Vec<String>,
    /// The group the node is drawn in, by its title: `network dmz` for a brouter and
    /// what sits on it, [`POLICY_GROUP`] for the zones; `None` for the uplink side.
    pub group: Option<String>,
}

/// What an edge stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// A cable or bridge port: no direction.
    Wire,
    /// DNAT from the uplink to a VM.
    Forward,
    /// A listed zone policy, from zone to zone.
    Policy(Action),
}

impl EdgeKind {
    /// Colour shared by every renderer: wires grey, forwards blue, accept green,
    /// drop/reject red.
    pub fn color(&self) -> &'static str {
        match self {
            EdgeKind::Wire => "#555555",
            EdgeKind::Forward => "#1565c0",
            EdgeKind::Policy(Action::Accept) => "#2e7d32",
            EdgeKind::Policy(Action::Drop | Action::Reject) => "#c62828",
        }
    }
}

impl NodeKind {
    /// Fill colour shared by every renderer.
    pub fn fill(&self) -> &'static str {
        match self {
            NodeKind::Internet => "#eeeeee",
            NodeKind::Uplink => "#fff3e0",
            NodeKind::Dom0 => "#e3f2fd",
            NodeKind::Brouter => "#e8f5e9",
            NodeKind::Host => "#ffffff",
            NodeKind::Vif => "#fffde7",
            NodeKind::Address => "#ffffff",
            NodeKind::Zone => "#f3e5f5",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
    /// Label lines; empty for none.
    pub label: Vec<String>,
}

/// The whole picture, nodes and edges in a deterministic order (config order, then live
/// ports in the order the backend reported them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagram {
    pub title: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Diagram {
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

/// The node id of a network's brouter.
fn net_id(network: &str) -> String {
    format!("net:{network}")
}

/// Which row of the zone-policy graph a zone node sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Zones that open connections.
    From,
    /// Zones that receive them.
    To,
}

/// The node id of a zone in the zone-policy graph (`from:dmz`, `to:external`).
pub fn zone_id(side: Side, zone: &str) -> String {
    match side {
        Side::From => format!("from:{zone}"),
        Side::To => format!("to:{zone}"),
    }
}

/// The group (DOT cluster) that holds the zone-policy graph.
pub const POLICY_GROUP: &str = "zone policies (unlisted pairs drop)";

fn net_group(network: &str) -> Option<String> {
    Some(format!("network {network}"))
}

fn host_id(name: &str) -> String {
    format!("host:{name}")
}

/// More hosts (or unclaimed ports, or bare forward addresses) than this on one network
/// are drawn as one box that counts them: a bridge with hundreds of ports is readable as
/// "240 hosts", not as 240 boxes side by side, and the picture's size stays bounded by
/// the number of networks.
pub const HOST_LIMIT: usize = 8;

/// More forwards to one box than this are labelled with the first ones and a count.
pub const LABEL_LIMIT: usize = 6;

/// Build the picture of `config`, refined by `observed` when the live state could be read.
///
/// Linear in networks, hosts, forwards and policies (lookups are indexed), so that a
/// thousand-network config is drawn in milliseconds.
pub fn diagram(config: &Config, observed: Option<&Observed>) -> Diagram {
    let mut d = Diagram {
        title: match config.mode {
            Mode::File => format!("brouter topology: {}", config.origin),
            Mode::Xen => "brouter topology: Xen network-script words".to_string(),
        },
        nodes: Vec::new(),
        edges: Vec::new(),
    };
    d.nodes.push(Node {
        id: INTERNET.into(),
        kind: NodeKind::Internet,
        lines: vec!["internet".into()],
        group: None,
    });
    d.nodes.push(uplink_node(config, observed));
    d.nodes.push(dom0_node(observed));
    wire(&mut d, INTERNET, UPLINK);
    wire(&mut d, UPLINK, DOM0);
    let mut hosts_of: HashMap<&str, Vec<&Host>> = HashMap::new();
    for h in &config.hosts {
        hosts_of.entry(h.network.as_str()).or_default().push(h);
    }
    // Which box a host's forwards point at: its own, or its network's count box.
    let mut host_box: HashMap<&str, String> = HashMap::new();
    for n in &config.networks {
        d.nodes.push(brouter_node(n, observed));
        wire(&mut d, DOM0, &net_id(&n.name));
        let hosts = hosts_of.get(n.name.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        if hosts.len() > HOST_LIMIT {
            let id = format!("hosts:{}", n.name);
            d.nodes.push(hosts_node(&id, hosts, n, observed));
            wire(&mut d, &net_id(&n.name), &id);
            for h in hosts {
                host_box.entry(h.name.as_str()).or_insert_with(|| id.clone());
            }
        } else {
            for h in hosts {
                d.nodes.push(host_node(h, n, observed));
                wire(&mut d, &net_id(&n.name), &host_id(&h.name));
                host_box
                    .entry(h.name.as_str())
                    .or_insert_with(|| host_id(&h.name));
            }
        }
        if let Some(obs) = observed {
            add_unclaimed_ports(&mut d, hosts, n, obs);
        }
    }
    add_forwards(&mut d, config, &host_box);
    add_policies(&mut d, config);
    d
}

/// One box for the hosts of a network that has more than [`HOST_LIMIT`]: how many, the
/// first and last by name, and (live) how many have a vif attached.
fn hosts_node(id: &str, hosts: &[&Host], n: &Network, observed: Option<&Observed>) -> Node {
    let mut lines = vec![format!("{} hosts", hosts.len())];
    if let (Some(first), Some(last)) = (hosts.first(), hosts.last()) {
        lines.push(format!("{} … {}", first.name, last.name));
    }
    if let Some(obs) = observed {
        let attached = hosts.iter().filter(|h| port_of_host(h, n, obs).is_some()).count();
        lines.push(format!("{attached} with a vif attached"));
    }
    Node {
        id: id.to_string(),
        kind: NodeKind::Host,
        lines,
        group: net_group(&n.name),
    }
}

/// The zone-policy graph as two rows: each zone that opens connections under some policy
/// once in the "from" row, each zone that receives them once in the "to" row, and one
/// arrow per listed policy between the rows. Drawing each zone once would make a cyclic
/// graph (dmz → dom0 and dom0 → dmz) that a layered layout can only tangle; two rows keep
/// every arrow pointing down and let the layout untangle the crossings.
fn add_policies(d: &mut Diagram, config: &Config) {
    if config.policies.is_empty() {
        d.nodes.push(Node {
            id: "zone:none".into(),
            kind: NodeKind::Zone,
            lines: vec!["no policies:".into(), "traffic between zones drops".into()],
            group: Some(POLICY_GROUP.to_string()),
        });
        return;
    }
    let ix = NetIndex::new(config);
    let from: HashSet<&str> = config.policies.iter().map(|p| p.from.as_str()).collect();
    let to: HashSet<&str> = config.policies.iter().map(|p| p.to.as_str()).collect();
    for (side, row, used) in [(Side::From, "from", &from), (Side::To, "to", &to)] {
        for z in config.zones() {
            if !used.contains(z.as_str()) {
                continue;
            }
            let what = match z.as_str() {
                ZONE_EXTERNAL => match &config.uplink {
                    Some(u) => u.interface.clone(),
                    None => "any other interface".to_string(),
                },
                ZONE_DOM0 => "the host".to_string(),
                net => ix.network(net).map(|n| n.bridge.clone()).unwrap_or_default(),
            };
            d.nodes.push(Node {
                id: zone_id(side, &z),
                kind: NodeKind::Zone,
                lines: vec![format!("{row} {z}"), what],
                group: Some(POLICY_GROUP.to_string()),
            });
        }
    }
    for p in &config.policies {
        let mut label = vec![if p.log {
            format!("{} (logged)", p.action)
        } else {
            p.action.to_string()
        }];
        let services: Vec<String> = p.services.iter().map(ToString::to_string).collect();
        label.extend(services.chunks(2).map(|c| c.join(" ")));
        d.edges.push(Edge {
            from: zone_id(Side::From, &p.from),
            to: zone_id(Side::To, &p.to),
            kind: EdgeKind::Policy(p.action),
            label,
        });
    }
}

fn wire(d: &mut Diagram, from: &str, to: &str) {
    d.edges.push(Edge {
        from: from.into(),
        to: to.into(),
        kind: EdgeKind::Wire,
        label: Vec::new(),
    });
}

fn uplink_node(config: &Config, observed: Option<&Observed>) -> Node {
    let mut lines = Vec::new();
    match &config.uplink {
        Some(u) => {
            lines.push(u.interface.clone());
            lines.push("zone external".into());
            if let Some(obs) = observed {
                let addrs: Vec<String> = obs
                    .addresses
                    .iter()
                    .filter(|a| a.link == u.interface)
                    .map(|a| a.addr.to_string())
                    .collect();
                if obs.link(&u.interface).is_none() {
                    lines.push("(no such interface)".into());
                } else if !addrs.is_empty() {
                    lines.push(addrs.join(" "));
                }
            }
        }
        None => {
            lines.push("uplink: any other interface".into());
            lines.push("zone external".into());
        }
    }
    Node {
        id: UPLINK.into(),
        kind: NodeKind::Uplink,
        lines,
        group: None,
    }
}

fn dom0_node(observed: Option<&Observed>) -> Node {
    let mut lines = vec!["dom0".to_string(), "zone dom0".to_string()];
    if let Some(v) = observed.and_then(|o| o.sysctls.get(IP_FORWARD)) {
        lines.push(format!("ip_forward={v}"));
    }
    Node {
        id: DOM0.into(),
        kind: NodeKind::Dom0,
        lines,
        group: None,
    }
}

fn brouter_node(n: &Network, observed: Option<&Observed>) -> Node {
    let mut lines = vec![format!("brouter {}", n.bridge), n.address.to_string()];
    if let Some(a6) = n.address6 {
        lines.push(a6.to_string());
    }
    lines.push(format!("zone {}", n.name));
    let flags: Vec<&str> = [
        (n.masquerade, "masquerade"),
        (n.antispoof, "antispoof"),
        (n.dhcp, "dhcp"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, f)| *f)
    .collect();
    if !flags.is_empty() {
        lines.push(flags.join(", "));
    }
    if let Some(obs) = observed {
        let state = match obs.link(&n.bridge) {
            None => "bridge missing".to_string(),
            Some(l) => {
                let has_addr = obs
                    .addresses
                    .iter()
                    .any(|a| a.link == n.bridge && a.addr == n.address);
                let up = if l.up { "up" } else { "down" };
                if has_addr {
                    up.to_string()
                } else {
                    format!("{up}, address missing")
                }
            }
        };
        lines.push(format!("[{state}]"));
    }
    Node {
        id: net_id(&n.name),
        kind: NodeKind::Brouter,
        lines,
        group: net_group(&n.name),
    }
}

/// The live port of `n`'s bridge that belongs to host `h`: pinned by vif name, or bound
/// (anti-spoofing) to the host's MAC.
fn port_of_host<'a>(h: &Host, n: &'a Network, obs: &'a Observed) -> Option<&'a str> {
    obs.ports_of(&n.bridge)
        .find(|l| {
            h.vif.as_deref() == Some(l.name.as_str())
                || obs
                    .bindings
                    .iter()
                    .any(|b| b.vif == l.name && h.mac.as_deref() == Some(b.mac.as_str()))
        })
        .map(|l| l.name.as_str())
}

fn host_node(h: &Host, n: &Network, observed: Option<&Observed>) -> Node {
    let mut lines = vec![format!("host {}", h.name)];
    if let Some(mac) = &h.mac {
        lines.push(mac.clone());
    }
    if !h.addresses.is_empty() || !h.addresses6.is_empty() {
        let v4 = h.addresses.iter().map(ToString::to_string);
        let addrs: Vec<String> = v4.chain(h.addresses6.iter().map(ToString::to_string)).collect();
        lines.push(addrs.join(" "));
    }
    match observed {
        Some(obs) => match port_of_host(h, n, obs) {
            Some(vif) => {
                let bound = obs.bindings.iter().any(|b| b.vif == vif);
                lines.push(format!("vif {vif}{}", if bound { " (bound)" } else { "" }));
            }
            None => lines.push("(no vif attached)".into()),
        },
        None => {
            if let Some(vif) = &h.vif {
                lines.push(format!("vif {vif}"));
            }
        }
    }
    Node {
        id: host_id(&h.name),
        kind: NodeKind::Host,
        lines,
        group: net_group(&n.name),
    }
}

/// Ports of `n`'s bridge that no declared host claims, each with its binding if any;
/// more than [`HOST_LIMIT`] of them as one box that counts them.
fn add_unclaimed_ports(d: &mut Diagram, hosts: &[&Host], n: &Network, obs: &Observed) {
    let claimed: HashSet<&str> = hosts.iter().filter_map(|h| port_of_host(h, n, obs)).collect();
    let ports: Vec<_> = obs
        .ports_of(&n.bridge)
        .filter(|l| !claimed.contains(l.name.as_str()))
        .collect();
    if ports.len() > HOST_LIMIT {
        let bound = ports
            .iter()
            .filter(|p| obs.bindings.iter().any(|b| b.vif == p.name))
            .count();
        let id = format!("vifs:{}", n.name);
        d.nodes.push(Node {
            id: id.clone(),
            kind: NodeKind::Vif,
            lines: vec![
                format!("{} other vifs", ports.len()),
                format!("{bound} bound, {} not", ports.len() - bound),
            ],
            group: net_group(&n.name),
        });
        wire(d, &net_id(&n.name), &id);
        return;
    }
    for port in ports {
        let mut lines = vec![format!("vif {}", port.name)];
        match obs.bindings.iter().find(|b| b.vif == port.name) {
            Some(b) => {
                lines.push(format!("bound {}", b.mac));
                if !b.addrs.is_empty() {
                    lines.push(b.describe_addrs().replace(", ", " "));
                }
            }
            // Disabled by `start`, it reaches nothing; until then `bridge brouter` keeps it
            // from every bound vif, but not from the dom0 (docs/xen.md).
            None if n.antispoof && port.port_state == Some(crate::model::PortState::Disabled) => {
                lines.push("unbound: blocked (port disabled)".into())
            }
            None if n.antispoof => lines.push("unbound: kept from bound vifs only".into()),
            None => lines.push("(undeclared)".into()),
        }
        let id = format!("vif:{}", port.name);
        d.nodes.push(Node {
            id: id.clone(),
            kind: NodeKind::Vif,
            lines,
            group: net_group(&n.name),
        });
        wire(d, &net_id(&n.name), &id);
    }
}

/// One arrow per destination, from the uplink, labelled with its forwards (the first
/// [`LABEL_LIMIT`] - 1 and a count past that). A destination is a host's box, or, for an
/// address no host carries, a box of that address in its network (or beside dom0); more
/// than [`HOST_LIMIT`] such addresses in one network share one box that counts them.
fn add_forwards<'c>(d: &mut Diagram, config: &'c Config, host_box: &HashMap<&str, String>) {
    let ix = NetIndex::new(config);
    let mut by_addr: HashMap<Ipv4Addr, &'c str> = HashMap::new();
    for h in &config.hosts {
        for a in &h.addresses {
            by_addr.entry(*a).or_insert(h.name.as_str());
        }
    }
    // A forward to a declared host's address points at that host's box.
    let target_host = |f: &'c Forward| -> Option<&'c str> {
        f.host
            .as_deref()
            .filter(|h| host_box.contains_key(h))
            .or_else(|| by_addr.get(&f.addr).copied())
    };
    // Bare addresses per network (`None`: outside every network), in config order.
    let mut bare: Vec<(Option<&str>, Vec<Ipv4Addr>)> = Vec::new();
    let mut bare_ix: HashMap<Option<&str>, usize> = HashMap::new();
    let mut seen: HashSet<Ipv4Addr> = HashSet::new();
    for f in &config.forwards {
        if target_host(f).is_none() && seen.insert(f.addr) {
            let net = ix.network_of(f.addr).map(|n| n.name.as_str());
            let k = *bare_ix.entry(net).or_insert_with(|| {
                bare.push((net, Vec::new()));
                bare.len() - 1
            });
            bare[k].1.push(f.addr);
        }
    }
    let mut addr_box: HashMap<Ipv4Addr, String> = HashMap::new();
    for (net, addrs) in &bare {
        let group = net.and_then(net_group);
        let parent = net.map(net_id).unwrap_or_else(|| DOM0.to_string());
        if addrs.len() > HOST_LIMIT {
            let id = format!("addrs:{}", net.unwrap_or(DOM0));
            d.nodes.push(Node {
                id: id.clone(),
                kind: NodeKind::Address,
                lines: vec![
                    format!("{} addresses", addrs.len()),
                    format!("{} … {}", addrs[0], addrs[addrs.len() - 1]),
                ],
                group,
            });
            wire(d, &parent, &id);
            for a in addrs {
                addr_box.insert(*a, id.clone());
            }
        } else {
            for a in addrs {
                let id = format!("addr:{a}");
                d.nodes.push(Node {
                    id: id.clone(),
                    kind: NodeKind::Address,
                    lines: vec![a.to_string()],
                    group: group.clone(),
                });
                wire(d, &parent, &id);
                addr_box.insert(*a, id);
            }
        }
    }
    let mut targets: Vec<(String, Vec<String>, usize)> = Vec::new();
    let mut target_ix: HashMap<String, usize> = HashMap::new();
    for f in &config.forwards {
        let (id, shown) = match target_host(f) {
            Some(h) => (host_box[h].clone(), h.to_string()),
            None => (addr_box[&f.addr].clone(), f.addr.to_string()),
        };
        let to_port = match f.to_port {
            Some(p) => p.to_string(),
            None => f.ports.to_string(),
        };
        let k = *target_ix.entry(id.clone()).or_insert_with(|| {
            targets.push((id, Vec::new(), 0));
            targets.len() - 1
        });
        let (_, lines, more) = &mut targets[k];
        if lines.len() < LABEL_LIMIT {
            lines.push(format!("{}/{} → {shown}:{to_port}", f.proto, f.ports));
        } else {
            *more += 1;
        }
    }
    for (to, mut label, mut more) in targets {
        if more > 0 {
            label.pop();
            more += 1;
        }
        match more {
            0 => {}
            1 => label.push("and 1 more forward".into()),
            k => label.push(format!("and {k} more forwards")),
        }
        d.edges.push(Edge {
            from: UPLINK.into(),
            to,
            kind: EdgeKind::Forward,
            label,
        });
    }
}

/// Quote a DOT string: `"`, `\` escaped, each line ended by `\n` (centred lines).
fn quote(lines: &[String]) -> String {
    let escaped: Vec<String> = lines
        .iter()
        .map(|l| l.replace('\\', "\\\\").replace('"', "\\\""))
        .collect();
    format!("\"{}\"", escaped.join("\\n"))
}

/// Graphviz DOT text for `d`: one cluster per network and one for the zone-policy graph,
/// wires without arrowheads, forwards bold, policies dashed.
pub fn to_dot(d: &Diagram) -> String {
    let mut out = String::new();
    let q = |s: &str| quote(&[s.to_string()]);
    let _ = writeln!(out, "digraph brouter {{");
    let _ = writeln!(
        out,
        "  graph [label={}, labelloc=t, rankdir=TB, nodesep=0.4, ranksep=0.8, fontname=\"Helvetica\"];",
        q(&d.title)
    );
    let _ = writeln!(
        out,
        "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=11];"
    );
    let _ = writeln!(out, "  edge [fontname=\"Helvetica\", fontsize=10];");
    let node_line = |n: &Node| {
        let shape = match n.kind {
            NodeKind::Internet => ", shape=ellipse",
            _ => "",
        };
        format!(
            "{} [label={}, fillcolor={}{shape}];",
            q(&n.id),
            quote(&n.lines),
            q(n.kind.fill())
        )
    };
    for n in d.nodes.iter().filter(|n| n.group.is_none()) {
        let _ = writeln!(out, "  {}", node_line(n));
    }
    let mut groups: Vec<&str> = Vec::new();
    for n in &d.nodes {
        if let Some(g) = n.group.as_deref() {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
    }
    for (i, g) in groups.iter().enumerate() {
        let _ = writeln!(out, "  subgraph cluster_{i} {{");
        let _ = writeln!(out, "    label={}; style=dashed; color=\"#999999\";", q(g));
        for n in d.nodes.iter().filter(|n| n.group.as_deref() == Some(g)) {
            let _ = writeln!(out, "    {}", node_line(n));
        }
        let _ = writeln!(out, "  }}");
    }
    for e in &d.edges {
        let mut attrs = vec![format!("color={}", q(e.kind.color()))];
        match e.kind {
            EdgeKind::Wire => attrs.push("dir=none, penwidth=2".into()),
            EdgeKind::Forward => attrs.push("style=bold".into()),
            EdgeKind::Policy(_) => attrs.push("style=dashed".into()),
        }
        if !e.label.is_empty() {
            attrs.push(format!(
                "label={}, fontcolor={}",
                quote(&e.label),
                q(e.kind.color())
            ));
        }
        let _ = writeln!(out, "  {} -> {} [{}];", q(&e.from), q(&e.to), attrs.join(", "));
    }
    let _ = writeln!(out, "}}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{from_toml, from_xen_words};
    use crate::firewall::Binding;
    use crate::model::{Address, Link, LinkKind};

    const TWO_NETS: &str = r#"
[uplink]
interface = "eth0"

[[network]]
name = "dmz"
bridge = "br-dmz"
address = "10.1.0.1/24"
antispoof = true

[[network]]
name = "data"
bridge = "br-data"
address = "10.3.0.1/24"
masquerade = false

[[host]]
name = "web1"
network = "dmz"
mac = "aa:cc:00:00:01:01"
addresses = ["10.1.0.10"]

[[forward]]
proto = "tcp"
port = 80
to = "web1"

[[forward]]
proto = "tcp"
port = 2222
to = "web1:22"

[[forward]]
proto = "udp"
port = 5060
to = "10.3.0.20"

[[policy]]
from = "dmz"
to = "external"
action = "accept"
services = ["tcp/80", "tcp/443", "udp/53"]

[[policy]]
from = "dmz"
to = "data"
action = "reject"
log = true
"#;

    fn config() -> Config {
        from_toml(TWO_NETS, "two.toml").unwrap()
    }

    fn link(name: &str, kind: LinkKind, master: Option<&str>) -> Link {
        Link {
            carrier: None,
            port_state: None,
            name: name.into(),
            kind,
            alias: None,
            master: master.map(Into::into),
            up: true,
            bridge: None,
            mac: None,
            mtu: None,
        }
    }

    #[test]
    fn only_listed_policies_become_arrows_coloured_by_action() {
        let d = diagram(&config(), None);
        let policies: Vec<&Edge> = d
            .edges
            .iter()
            .filter(|e| matches!(e.kind, EdgeKind::Policy(_)))
            .collect();
        assert_eq!(policies.len(), 2, "unlisted pairs drop and are not drawn");
        assert_eq!(policies[0].from, "from:dmz");
        assert_eq!(policies[0].to, "to:external");
        assert_eq!(policies[0].label, ["accept", "tcp/80 tcp/443", "udp/53"]);
        assert_eq!(policies[0].kind.color(), "#2e7d32");
        assert_eq!(policies[1].to, "to:data");
        assert_eq!(policies[1].label, ["reject (logged)"]);
        assert_eq!(policies[1].kind.color(), "#c62828");
    }

    #[test]
    fn forwards_to_one_host_share_an_arrow_and_an_address_gets_its_own_box() {
        let d = diagram(&config(), None);
        let fwd: Vec<&Edge> = d.edges.iter().filter(|e| e.kind == EdgeKind::Forward).collect();
        assert_eq!(fwd.len(), 2);
        assert_eq!(fwd[0].to, "host:web1");
        assert_eq!(fwd[0].label, ["tcp/80 → web1:80", "tcp/2222 → web1:22"]);
        assert_eq!(fwd[1].to, "addr:10.3.0.20");
        assert_eq!(
            d.node("addr:10.3.0.20").unwrap().group.as_deref(),
            Some("network data")
        );
    }

    #[test]
    fn brouter_box_names_bridge_address_zone_and_flags() {
        let d = diagram(&config(), None);
        assert_eq!(
            d.node("net:dmz").unwrap().lines,
            [
                "brouter br-dmz",
                "10.1.0.1/24",
                "zone dmz",
                "masquerade, antispoof"
            ]
        );
        assert_eq!(
            d.node("net:data").unwrap().lines,
            ["brouter br-data", "10.3.0.1/24", "zone data"]
        );
    }

    #[test]
    fn live_state_shows_uplink_address_attached_vifs_and_bindings() {
        let mut obs = Observed::default();
        obs.links
            .push(link("eth0", LinkKind::Other("ether".into()), None));
        obs.links.push(link("br-dmz", LinkKind::Bridge, None));
        obs.links
            .push(link("vif3.0", LinkKind::Other("vif".into()), Some("br-dmz")));
        obs.links
            .push(link("vif7.0", LinkKind::Other("vif".into()), Some("br-dmz")));
        obs.addresses.push(Address {
            link: "eth0".into(),
            addr: "192.0.2.2/24".parse().unwrap(),
            owned: false,
        });
        obs.addresses.push(Address {
            link: "br-dmz".into(),
            addr: "10.1.0.1/24".parse().unwrap(),
            owned: true,
        });
        obs.bindings.push(Binding {
            vif: "vif3.0".into(),
            mac: "aa:cc:00:00:01:01".into(),
            addrs: vec!["10.1.0.10/32".parse().unwrap()],
        });
        let d = diagram(&config(), Some(&obs));
        assert_eq!(
            d.node("uplink").unwrap().lines,
            ["eth0", "zone external", "192.0.2.2/24"]
        );
        assert_eq!(d.node("net:dmz").unwrap().lines.last().unwrap(), "[up]");
        assert_eq!(
            d.node("net:data").unwrap().lines.last().unwrap(),
            "[bridge missing]"
        );
        assert_eq!(
            d.node("host:web1").unwrap().lines.last().unwrap(),
            "vif vif3.0 (bound)"
        );
        let stray = d.node("vif:vif7.0").expect("an unclaimed port is drawn");
        assert_eq!(stray.lines, ["vif vif7.0", "unbound: kept from bound vifs only"]);
        let mut blocked = obs.clone();
        for l in blocked.links.iter_mut().filter(|l| l.name == "vif7.0") {
            l.port_state = Some(crate::model::PortState::Disabled);
        }
        let d = diagram(&config(), Some(&blocked));
        assert_eq!(
            d.node("vif:vif7.0").unwrap().lines,
            ["vif vif7.0", "unbound: blocked (port disabled)"]
        );
        assert!(d
            .edges
            .iter()
            .any(|e| e.kind == EdgeKind::Wire && e.from == "net:dmz" && e.to == "vif:vif7.0"));
    }

    /// `config()` with `extra` more hosts on dmz, each with a forward.
    fn crowded(extra: usize) -> Config {
        let mut text = TWO_NETS.to_string();
        for k in 0..extra {
            text.push_str(&format!(
                "[[host]]\nname = \"vm{k}\"\nnetwork = \"dmz\"\nmac = \"aa:cc:00:00:02:{k:02x}\"\naddresses = [\"10.1.0.{}\"]\n\n\
                 [[forward]]\nproto = \"tcp\"\nport = {}\nto = \"vm{k}\"\n\n",
                100 + k,
                3000 + k
            ));
        }
        from_toml(&text, "crowded.toml").unwrap()
    }

    #[test]
    fn up_to_the_limit_every_host_has_its_own_box() {
        let d = diagram(&crowded(HOST_LIMIT - 1), None);
        assert!(d.node("host:web1").is_some());
        assert!(d.node(&format!("host:vm{}", HOST_LIMIT - 2)).is_some());
        assert!(d.node("hosts:dmz").is_none());
    }

    #[test]
    fn past_the_limit_a_network_s_hosts_are_one_box_that_counts_them_and_takes_their_forwards() {
        let d = diagram(&crowded(40), None);
        assert!(d.node("host:web1").is_none() && d.node("host:vm0").is_none());
        let hosts = d.node("hosts:dmz").expect("one box for dmz's 41 hosts");
        assert_eq!(hosts.lines, ["41 hosts", "web1 … vm39"]);
        assert_eq!(hosts.group.as_deref(), Some("network dmz"));
        let fwd: Vec<&Edge> = d.edges.iter().filter(|e| e.kind == EdgeKind::Forward).collect();
        assert_eq!(
            fwd.len(),
            2,
            "dmz's 42 forwards share one arrow; data's address keeps its own"
        );
        assert_eq!(fwd[0].to, "hosts:dmz");
        assert_eq!(fwd[0].label.len(), LABEL_LIMIT);
        assert_eq!(fwd[0].label[0], "tcp/80 → web1:80");
        assert_eq!(
            fwd[0].label[LABEL_LIMIT - 1],
            format!("and {} more forwards", 42 - (LABEL_LIMIT - 1))
        );
        assert!(d.edges.iter().any(|e| e.from == "net:dmz" && e.to == "hosts:dmz"));
    }

    #[test]
    fn many_forwards_to_bare_addresses_of_one_network_share_a_counting_box() {
        let mut c = config();
        for k in 0..20u16 {
            let mut f = c.forwards[2].clone();
            f.ports = crate::config::PortRange {
                first: 6000 + k,
                last: 6000 + k,
            };
            f.addr = std::net::Ipv4Addr::new(10, 3, 0, 100 + k as u8);
            c.forwards.push(f);
        }
        let d = diagram(&c, None);
        let addrs = d
            .node("addrs:data")
            .expect("21 bare addresses in data are one box");
        assert_eq!(addrs.lines, ["21 addresses", "10.3.0.20 … 10.3.0.119"]);
        assert!(d.node("addr:10.3.0.20").is_none());
    }

    #[test]
    fn without_an_uplink_the_external_zone_is_every_other_interface() {
        let c = from_xen_words(&["bridgeip=10.98.98.1/24"]).unwrap();
        let d = diagram(&c, None);
        assert_eq!(d.node("uplink").unwrap().lines[0], "uplink: any other interface");
        assert_eq!(d.title, "brouter topology: Xen network-script words");
    }

    #[test]
    fn dot_quotes_labels_and_draws_networks_and_zones_as_clusters() {
        let dot = to_dot(&diagram(&config(), None));
        assert!(dot.starts_with("digraph brouter {\n"));
        assert!(dot.contains("subgraph cluster_0 {\n    label=\"network dmz\";"));
        assert!(dot.contains(
            r##""from:dmz" -> "to:external" [color="#2e7d32", style=dashed, label="accept\ntcp/80 tcp/443\nudp/53""##
        ));
        assert!(dot.contains(r##""internet" -> "uplink" [color="#555555", dir=none, penwidth=2];"##));
        assert_eq!(quote(&["a \"b\" \\".into()]), r#""a \"b\" \\""#);
    }
}
