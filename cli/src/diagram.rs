//! `brouter diagram`: the topology picture as SVG (laid out in-process by `layout-rs`, no
//! Graphviz needed at run time) or as Graphviz DOT text.
//!
//! The engine decides what is in the picture ([`brouter_engine::diagram`]); this module
//! only lays it out and writes it. The live state refines the picture when a backend can
//! be opened and read; otherwise the picture comes from the config alone and stderr says so.

use std::path::PathBuf;

use brouter_engine::diagram::{self, Diagram, EdgeKind, NodeKind};
use brouter_engine::{Config, Observed};
use layout::backends::svg::SVGWriter;
use layout::core::base::Orientation;
use layout::core::color::Color;
use layout::core::geometry::{get_size_for_str, pad_shape_scalar, Point};
use layout::core::style::{LineStyleKind, StyleAttr};
use layout::std_shapes::shapes::{Arrow, Element, LineEndKind, ShapeKind};
use layout::topo::layout::VisualGraph;

use crate::exit::{Failure, OK};
use crate::load::Backend;

/// `brouter diagram [--format svg|dot] [-o FILE] [--config-only] [VAR=VAL…]`.
#[derive(Debug, clap::Args)]
pub struct DiagramArgs {
    /// Output format: SVG (laid out by brouter itself) or Graphviz DOT (for `dot -Tpng`).
    #[arg(long, value_enum, default_value = "svg")]
    pub format: Format,
    /// Write to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Draw from the configuration alone; do not read the live state.
    #[arg(long)]
    pub config_only: bool,
    /// Xen network-script words, when there is no config file.
    #[arg(value_name = "VAR=VAL")]
    pub words: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Svg,
    Dot,
}

/// Draw `config`, refined by the live state of `backend` when there is one and it reads.
pub async fn diagram(
    config: &Config,
    args: &DiagramArgs,
    backend: Option<&mut Backend>,
    json_out: bool,
) -> Result<u8, Failure> {
    let observed: Option<Observed> = match backend {
        Some(b) => match b.get().observe().await {
            Ok(o) => Some(o),
            Err(e) => {
                eprintln!(
                    "brouter: diagram: cannot read the live state ({e}); drawing from the config alone"
                );
                None
            }
        },
        None => None,
    };
    let d = diagram::diagram(config, observed.as_ref());
    if json_out {
        crate::json::print(topology(&d));
        return Ok(OK);
    }
    let text = match args.format {
        Format::Svg => svg(&d),
        Format::Dot => diagram::to_dot(&d),
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| Failure::op(format!("{}: cannot write the diagram: {e}", path.display())))?,
        None => print!("{text}"),
    }
    Ok(OK)
}

/// `diagram --json`: the topology itself (docs/json.md), not a picture: `nodes` with
/// `id`, `kind`, `lines`, `group`; `edges` with `from`, `to`, `kind` (`wire`, `forward`,
/// `policy`), `action` (policies) and `label`.
fn topology(d: &Diagram) -> serde_json::Value {
    let nodes: Vec<serde_json::Value> = d
        .nodes
        .iter()
        .map(|n| {
            serde_json::json!({
                "id": n.id,
                "kind": kind_class(n.kind),
                "lines": n.lines,
                "group": n.group,
            })
        })
        .collect();
    let edges: Vec<serde_json::Value> = d
        .edges
        .iter()
        .map(|e| {
            let (kind, action) = match e.kind {
                EdgeKind::Wire => ("wire", None),
                EdgeKind::Forward => ("forward", None),
                EdgeKind::Policy(a) => ("policy", Some(a.to_string())),
            };
            serde_json::json!({
                "from": e.from,
                "to": e.to,
                "kind": kind,
                "action": action,
                "label": e.label,
            })
        })
        .collect();
    serde_json::json!({ "title": d.title, "nodes": nodes, "edges": edges })
}

const FONT: usize = 13;
const LABEL_FONT: usize = 11;

/// Lay out `d` top to bottom and render it as a standalone SVG document: a title, the
/// topology (internet, uplink, dom0, brouters, their hosts, forwards), then under it a
/// heading and the zone-policy rows.
///
/// Past [`crate::diagram_grid::LAYERED_MAX_NODES`] boxes the layered layout is too slow
/// (cubic in a rank's width) and too wide to read: [`crate::diagram_grid`] draws a grid of
/// zone cards instead.
///
/// layout-rs places disconnected parts side by side, which makes a very wide picture;
/// invisible edges (title → internet, every bottom box of the topology → policy heading →
/// the "from" row) stack the parts instead.
pub fn svg(d: &Diagram) -> String {
    if crate::diagram_grid::too_big_for_layers(d) {
        return crate::diagram_grid::svg(d);
    }
    let dir = Orientation::TopToBottom;
    let mut vg = VisualGraph::new(dir);
    let title = vg.add_node(heading(&d.title, 16, dir));
    let mut handles = Vec::new();
    for n in &d.nodes {
        handles.push((n.id.clone(), vg.add_node(node_element(n, dir))));
    }
    let find = |id: &str| handles.iter().find(|(i, _)| i == id).map(|(_, h)| *h);
    if let Some(internet) = find(diagram::INTERNET) {
        vg.add_edge(Arrow::invisible(), title, internet);
    }
    let in_policies = |id: &str| {
        d.node(id)
            .is_some_and(|n| n.group.as_deref() == Some(diagram::POLICY_GROUP))
    };
    let policy_heading = vg.add_node(heading(diagram::POLICY_GROUP, 14, dir));
    for n in d.nodes.iter().filter(|n| !in_policies(&n.id)) {
        let is_bottom = !d.edges.iter().any(|e| e.kind == EdgeKind::Wire && e.from == n.id);
        if let (true, Some(h)) = (is_bottom, find(&n.id)) {
            vg.add_edge(Arrow::invisible(), h, policy_heading);
        }
    }
    for n in d.nodes.iter().filter(|n| in_policies(&n.id)) {
        let is_top = !d.edges.iter().any(|e| e.to == n.id);
        if let (true, Some(h)) = (is_top, find(&n.id)) {
            vg.add_edge(Arrow::invisible(), policy_heading, h);
        }
    }
    for e in &d.edges {
        let (Some(from), Some(to)) = (find(&e.from), find(&e.to)) else {
            continue;
        };
        let (end, style) = match e.kind {
            EdgeKind::Wire => (LineEndKind::None, LineStyleKind::Normal),
            EdgeKind::Forward => (LineEndKind::Arrow, LineStyleKind::Normal),
            EdgeKind::Policy(_) => (LineEndKind::Arrow, LineStyleKind::Dashed),
        };
        let look = StyleAttr::new(Color::fast(e.kind.color()), 2, None, 0, LABEL_FONT);
        let props = format!("class=\"edge {}\"", edge_class(e.kind));
        let label = e.label.join("\n");
        let arrow = Arrow::with_properties(LineEndKind::None, end, style, &label, &look, props, &None, &None);
        vg.add_edge(arrow, from, to);
    }
    let mut writer = SVGWriter::new();
    vg.do_it(false, false, false, &mut writer);
    // layout-rs grows its canvas by a guess for each text (with x and y swapped), which
    // leaves blank space below and clips labels on the right; the laid-out boxes (edge
    // labels included) give the true extent.
    let (mut w, mut h) = (0f64, 0f64);
    for n in vg.iter_nodes() {
        let (_, bottom_right) = vg.pos(n).bbox(true);
        w = w.max(bottom_right.x);
        h = h.max(bottom_right.y);
    }
    finish(&writer.finalize(), &d.title, (w + 20.).ceil(), (h + 20.).ceil())
}

/// A box (an ellipse for the internet and the zones) sized for its text.
fn node_element(n: &diagram::Node, dir: Orientation) -> Element {
    let text = n.lines.join("\n");
    let shape = match n.kind {
        NodeKind::Internet | NodeKind::Zone => ShapeKind::new_circle(&text),
        _ => ShapeKind::new_box(&text),
    };
    let (line, width, rounded) = match n.kind {
        NodeKind::Brouter => ("#2e7d32", 2, 8),
        NodeKind::Uplink | NodeKind::Dom0 => ("#37474f", 2, 8),
        _ => ("#78909c", 1, 4),
    };
    let look = StyleAttr::new(
        Color::fast(line),
        width,
        Some(Color::fast(n.kind.fill())),
        rounded,
        FONT,
    );
    let props = format!(
        "class=\"node {}\" data-id=\"{}\"",
        kind_class(n.kind),
        xml_escape(&n.id)
    );
    Element::create_with_properties(shape, look, dir, text_size(&text, FONT), props)
}

/// Text without a frame: the title and the policy heading.
fn heading(text: &str, font: usize, dir: Orientation) -> Element {
    let look = StyleAttr::new(Color::transparent(), 0, Some(Color::transparent()), 0, font);
    Element::create_with_properties(
        ShapeKind::new_box(text),
        look,
        dir,
        text_size(text, font),
        "class=\"heading\"",
    )
}

/// layout-rs sizes text at one em per character, far wider than the glyphs; 0.62 em per
/// character fits the sans-serif font [`finish`] selects without wasting the page.
fn text_size(text: &str, font: usize) -> Point {
    let em = get_size_for_str(text, font);
    pad_shape_scalar(Point::new(em.x * 0.62, em.y * 1.25), 12.)
}

fn kind_class(k: NodeKind) -> &'static str {
    match k {
        NodeKind::Internet => "internet",
        NodeKind::Uplink => "uplink",
        NodeKind::Dom0 => "dom0",
        NodeKind::Brouter => "brouter",
        NodeKind::Host => "host",
        NodeKind::Vif => "vif",
        NodeKind::Address => "address",
        NodeKind::Zone => "zone",
    }
}

fn edge_class(k: EdgeKind) -> String {
    match k {
        EdgeKind::Wire => "wire".into(),
        EdgeKind::Forward => "forward".into(),
        EdgeKind::Policy(a) => format!("policy {a}"),
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Post-process layout-rs's SVG: the canvas size measured by [`svg`], a sans-serif font
/// instead of its hard-coded Times (the box sizes assume it), edge labels with a white
/// halo so the lines they cross do not strike them through, a white background and a
/// `<title>`. layout-rs 0.1.3 moves the label of a long edge onto one of the edge's
/// filler connectors without its style, so such labels come out in its default 15px
/// class `a15` (used by nothing else here); giving that class the label size makes every
/// label the same size. The font classes come out of a `HashMap`; sorting them makes
/// the same config give the same bytes (docs/isp-topology.svg does not churn).
fn finish(svg: &str, title: &str, width: f64, height: f64) -> String {
    let svg = svg.replace(
        ".a15 { font-size: 15px;",
        &format!(".a15 {{ font-size: {LABEL_FONT}px;"),
    );
    let svg = sort_font_classes(&svg);
    let (Some(open), Some(defs)) = (svg.find("<svg "), svg.find("<defs>")) else {
        return svg;
    };
    format!(
        "{}<svg width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" \
         xmlns=\"http://www.w3.org/2000/svg\">\n<title>{}</title>\n<style>\n\
         text {{ font-family: \"DejaVu Sans\", Helvetica, Arial, sans-serif !important; }}\n\
         .a{LABEL_FONT}, .a15 {{ paint-order: stroke; stroke: #ffffff; stroke-width: 4px; stroke-linejoin: round; }}\n\
         </style>\n<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"white\"/>\n{}",
        &svg[..open],
        xml_escape(title),
        &svg[defs..]
    )
}

/// layout-rs's `</defs><style>` block of font classes, its lines sorted.
fn sort_font_classes(svg: &str) -> String {
    const OPEN: &str = "</defs><style>\n";
    let Some(start) = svg.find(OPEN).map(|i| i + OPEN.len()) else {
        return svg.to_string();
    };
    let Some(len) = svg[start..].find("</style>") else {
        return svg.to_string();
    };
    let mut lines: Vec<&str> = svg[start..start + len].lines().collect();
    lines.sort_unstable();
    format!("{}{}\n{}", &svg[..start], lines.join("\n"), &svg[start + len..])
}
