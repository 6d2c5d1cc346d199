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

use std::fmt::Write;

use crate::config::{Action, Config, Host, Mode, Network, ZONE_DOM0, ZONE_EXTERNAL};
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

/// Build the picture of `config`, refined by `observed` when the live state could be read.
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
    for n in &config.networks {
        d.nodes.push(brouter_node(n, observed));
        wire(&mut d, DOM0, &net_id(&n.name));
        for h in config.hosts.iter().filter(|h| h.network == n.name) {
            d.nodes.push(host_node(h, n, observed));
            wire(&mut d, &net_id(&n.name), &host_id(&h.name));
        }
        if let Some(obs) = observed {
            add_unclaimed_ports(&mut d, config, n, obs);
        }
    }
    add_forwards(&mut d, config);
    add_policies(&mut d, config);
    d
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
    for (side, row) in [(Side::From, "from"), (Side::To, "to")] {
        for z in config.zones() {
            let used = config.policies.iter().any(|p| match side {
                Side::From => p.from == z,
                Side::To => p.to == z,
            });
            if !used {
                continue;
            }
            let what = match z.as_str() {
                ZONE_EXTERNAL => match &config.uplink {
                    Some(u) => u.interface.clone(),
                    None => "any other interface".to_string(),
                },
                ZONE_DOM0 => "the host".to_string(),
                net => config.network(net).map(|n| n.bridge.clone()).unwrap_or_default(),
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
    let mut lines = vec![
        format!("brouter {}", n.bridge),
        n.address.to_string(),
        format!("zone {}", n.name),
    ];
    let flags: Vec<&str> = [(n.masquerade, "masquerade"), (n.antispoof, "antispoof")]
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
    if !h.addresses.is_empty() {
        let addrs: Vec<String> = h.addresses.iter().map(ToString::to_string).collect();
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

/// Ports of `n`'s bridge that no declared host claims, each with its binding if any.
fn add_unclaimed_ports(d: &mut Diagram, config: &Config, n: &Network, obs: &Observed) {
    let claimed: Vec<&str> = config
        .hosts
        .iter()
        .filter(|h| h.network == n.name)
        .filter_map(|h| port_of_host(h, n, obs))
        .collect();
    for port in obs
        .ports_of(&n.bridge)
        .filter(|l| !claimed.contains(&l.name.as_str()))
    {
        let mut lines = vec![format!("vif {}", port.name)];
        match obs.bindings.iter().find(|b| b.vif == port.name) {
            Some(b) => {
                lines.push(format!("bound {}", b.mac));
                if !b.addrs.is_empty() {
                    lines.push(b.describe_addrs().replace(", ", " "));
                }
            }
            None if n.antispoof => lines.push("(no binding: not guarded)".into()),
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

/// One arrow per destination, from the uplink, labelled with every forward to it.
fn add_forwards(d: &mut Diagram, config: &Config) {
    let mut targets: Vec<(String, Vec<String>)> = Vec::new();
    for f in &config.forwards {
        // A forward to a declared host's address points at that host's box.
        let host = f
            .host
            .as_deref()
            .filter(|h| config.host(h).is_some())
            .or_else(|| {
                config
                    .hosts
                    .iter()
                    .find(|h| h.addresses.contains(&f.addr))
                    .map(|h| h.name.as_str())
            });
        let (id, shown) = match host {
            Some(h) => (host_id(h), h.to_string()),
            None => {
                let id = format!("addr:{}", f.addr);
                if d.node(&id).is_none() {
                    let network = config.network_of(f.addr).map(|n| n.name.clone());
                    let group = network.as_deref().and_then(net_group);
                    d.nodes.push(Node {
                        id: id.clone(),
                        kind: NodeKind::Address,
                        lines: vec![f.addr.to_string()],
                        group,
                    });
                    match network {
                        Some(net) => wire(d, &net_id(&net), &id),
                        None => wire(d, DOM0, &id),
                    }
                }
                (id, f.addr.to_string())
            }
        };
        let to_port = match f.to_port {
            Some(p) => p.to_string(),
            None => f.ports.to_string(),
        };
        let line = format!("{}/{} → {shown}:{to_port}", f.proto, f.ports);
        match targets.iter_mut().find(|(t, _)| *t == id) {
            Some((_, lines)) => lines.push(line),
            None => targets.push((id, vec![line])),
        }
    }
    for (to, label) in targets {
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
        assert_eq!(stray.lines, ["vif vif7.0", "(no binding: not guarded)"]);
        assert!(d
            .edges
            .iter()
            .any(|e| e.kind == EdgeKind::Wire && e.from == "net:dmz" && e.to == "vif:vif7.0"));
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
