//! The SVG of a large topology: one card per zone in a grid, no graph layout.
//!
//! layout-rs orders each rank of a layered layout by counting edge crossings pair by pair
//! over the next rank — cubic in a rank's width, fifty rounds — so a picture with a few
//! hundred hosts in one rank took minutes (32 networks with 320 hosts: 14 s; 64 networks
//! over 10 minutes) and came out tens of thousands of pixels wide. Past
//! [`LAYERED_MAX_NODES`] boxes the picture is instead a grid of cards, one per network
//! (its zone), each listing its brouter, its hosts (already collapsed into counts by the
//! engine past [`diagram::HOST_LIMIT`]), the forwards into it and the policies out of it.
//! Every card has a bounded number of lines of bounded length, so the output grows
//! linearly with the number of networks and stays readable at a thousand.

use std::collections::HashMap;
use std::fmt::Write;

use brouter_engine::diagram::{self, Diagram, EdgeKind, NodeKind};

/// Up to this many boxes the layered layout (layout-rs) draws the picture; it takes
/// well under a second there and draws every wire.
pub const LAYERED_MAX_NODES: usize = 80;

/// Policies listed on one card; more are counted.
const POLICY_LINES: usize = 4;
/// Characters of one card line; longer lines end in "…".
const MAX_CHARS: usize = 46;
const CARD_W: f64 = 320.0;
const LINE_H: f64 = 15.0;
const GAP: f64 = 16.0;
const MARGIN: f64 = 20.0;

/// One line of a card: text, colour, bold.
struct Line {
    text: String,
    color: &'static str,
    bold: bool,
}

/// One card: a zone (network) or a built-in zone's policies, or the addresses outside
/// every network.
struct Card {
    zone: String,
    fill: &'static str,
    lines: Vec<Line>,
}

/// Whether `d` is too big for the layered layout.
pub fn too_big_for_layers(d: &Diagram) -> bool {
    d.nodes.len() > LAYERED_MAX_NODES
}

/// Render `d` as a grid of zone cards under a header row (internet, uplink, dom0).
pub fn svg(d: &Diagram) -> String {
    let forwards = forwards_into(d);
    let policies = policies_from(d);
    let mut cards: Vec<Card> = Vec::new();
    let mut card_of: HashMap<&str, usize> = HashMap::new();
    let mut outside: Vec<Line> = Vec::new();
    for n in &d.nodes {
        let Some(group) = n.group.as_deref() else {
            if n.kind == NodeKind::Address {
                outside.push(node_line(n));
                outside.extend(forward_lines(forwards.get(n.id.as_str())));
            }
            continue;
        };
        if group == diagram::POLICY_GROUP {
            continue;
        }
        let k = *card_of.entry(group).or_insert_with(|| {
            let zone = group.strip_prefix("network ").unwrap_or(group).to_string();
            cards.push(Card {
                zone,
                fill: NodeKind::Brouter.fill(),
                lines: vec![Line {
                    text: clip(group),
                    color: "#1b5e20",
                    bold: true,
                }],
            });
            cards.len() - 1
        });
        let card = &mut cards[k];
        if n.kind == NodeKind::Brouter {
            card.lines.extend(n.lines.iter().map(|l| Line {
                text: clip(l),
                color: "#222222",
                bold: false,
            }));
        } else {
            card.lines.push(node_line(n));
        }
        card.lines.extend(forward_lines(forwards.get(n.id.as_str())));
    }
    for card in &mut cards {
        card.lines.extend(policy_lines(policies.get(card.zone.as_str())));
    }
    if !outside.is_empty() {
        outside.insert(0, title_line("beside dom0 (no network)"));
        cards.push(Card {
            zone: "dom0".into(),
            fill: NodeKind::Dom0.fill(),
            lines: outside,
        });
    }
    for zone in [
        brouter_engine::config::ZONE_DOM0,
        brouter_engine::config::ZONE_EXTERNAL,
    ] {
        if let Some(p) = policies.get(zone) {
            let mut lines = vec![title_line(&format!("zone {zone}: its policies"))];
            lines.extend(policy_lines(Some(p)));
            cards.push(Card {
                zone: zone.into(),
                fill: NodeKind::Zone.fill(),
                lines,
            });
        }
    }
    render(d, &cards)
}

fn title_line(text: &str) -> Line {
    Line {
        text: clip(text),
        color: "#1b5e20",
        bold: true,
    }
}

/// A host, vif or address box as one line: its text lines joined.
fn node_line(n: &diagram::Node) -> Line {
    let mark = match n.kind {
        NodeKind::Vif => "◦ ",
        _ => "▸ ",
    };
    Line {
        text: clip(&format!("{mark}{}", n.lines.join(" · "))),
        color: "#37474f",
        bold: false,
    }
}

/// The forward labels into each box, by box id.
fn forwards_into(d: &Diagram) -> HashMap<&str, &[String]> {
    d.edges
        .iter()
        .filter(|e| e.kind == EdgeKind::Forward)
        .map(|e| (e.to.as_str(), e.label.as_slice()))
        .collect()
}

/// One listed policy out of a zone: `(to zone, colour, label)`.
type PolicyLine<'d> = (&'d str, &'static str, &'d [String]);

/// The listed policies out of each zone.
fn policies_from(d: &Diagram) -> HashMap<&str, Vec<PolicyLine<'_>>> {
    let mut out: HashMap<&str, Vec<_>> = HashMap::new();
    for e in &d.edges {
        if let EdgeKind::Policy(_) = e.kind {
            let from = e.from.strip_prefix("from:").unwrap_or(&e.from);
            let to = e.to.strip_prefix("to:").unwrap_or(&e.to);
            out.entry(from)
                .or_default()
                .push((to, e.kind.color(), e.label.as_slice()));
        }
    }
    out
}

/// One line: "⇐ the forward", or "⇐ N forwards: the first, …" (the engine's label
/// already counts past its own limit).
fn forward_lines(label: Option<&&[String]>) -> Vec<Line> {
    let Some(label) = label else { return vec![] };
    let color = EdgeKind::Forward.color();
    let mut out = vec![];
    if let Some(first) = label.first() {
        out.push(Line {
            text: clip(&format!("  ⇐ {first}")),
            color,
            bold: false,
        });
    }
    // The engine's label ends in "and K more forwards" past its own limit.
    let counted = label
        .last()
        .and_then(|l| l.strip_prefix("and "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|k| k.parse::<usize>().ok());
    let total = match counted {
        Some(k) => label.len() - 1 + k,
        None => label.len(),
    };
    if total > 1 {
        out[0].text = clip(&format!("  ⇐ {total} forwards: {}, …", label[0]));
    }
    out
}

fn policy_lines(policies: Option<&Vec<PolicyLine<'_>>>) -> Vec<Line> {
    let Some(policies) = policies else { return vec![] };
    let mut out: Vec<Line> = policies
        .iter()
        .take(POLICY_LINES)
        .map(|(to, color, label)| Line {
            text: clip(&format!("→ {to}: {}", label.join(" "))),
            color,
            bold: false,
        })
        .collect();
    if policies.len() > POLICY_LINES {
        out.push(Line {
            text: format!("→ and {} more policies", policies.len() - POLICY_LINES),
            color: "#555555",
            bold: false,
        });
    }
    out
}

/// `s` cut to [`MAX_CHARS`] characters, "…" marking the cut.
fn clip(s: &str) -> String {
    if s.chars().count() <= MAX_CHARS {
        return s.to_string();
    }
    let mut out: String = s.chars().take(MAX_CHARS - 1).collect();
    out.push('…');
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The header row (ungrouped internet, uplink, dom0 boxes joined by wires), a caption,
/// then the cards in rows of `ceil(sqrt(cards))`, each row as tall as its tallest card.
fn render(d: &Diagram, cards: &[Card]) -> String {
    let cols = ((cards.len() as f64).sqrt().ceil() as usize).max(1);
    let mut body = String::new();
    // Header: the ungrouped built-in boxes side by side.
    let header: Vec<&diagram::Node> = d
        .nodes
        .iter()
        .filter(|n| n.group.is_none() && n.kind != NodeKind::Address)
        .collect();
    let top = MARGIN + 30.0;
    let mut x = MARGIN;
    let head_h = header.iter().map(|n| n.lines.len()).max().unwrap_or(1) as f64 * LINE_H + 12.0;
    let mut centres = vec![];
    for n in &header {
        let w = n.lines.iter().map(|l| l.chars().count()).max().unwrap_or(1) as f64 * 7.0 + 20.0;
        let _ = writeln!(
            body,
            "<g class=\"node {}\" data-id=\"{}\"><rect x=\"{x}\" y=\"{top}\" width=\"{w}\" height=\"{head_h}\" rx=\"8\" fill=\"{}\" stroke=\"#37474f\" stroke-width=\"2\"/>",
            kind_name(n.kind),
            esc(&n.id),
            n.kind.fill()
        );
        for (i, l) in n.lines.iter().enumerate() {
            let _ = writeln!(
                body,
                "<text x=\"{}\" y=\"{}\" font-size=\"12\">{}</text>",
                x + 10.0,
                top + 18.0 + i as f64 * LINE_H,
                esc(l)
            );
        }
        let _ = writeln!(body, "</g>");
        centres.push((x, w));
        x += w + 40.0;
    }
    for pair in centres.windows(2) {
        let (x0, w0) = pair[0];
        let (x1, _) = pair[1];
        let y = top + head_h / 2.0;
        let _ = writeln!(
            body,
            "<line class=\"edge wire\" x1=\"{}\" y1=\"{y}\" x2=\"{x1}\" y2=\"{y}\" stroke=\"{}\" stroke-width=\"2\"/>",
            x0 + w0,
            EdgeKind::Wire.color()
        );
    }
    let caption_y = top + head_h + 24.0;
    let _ = writeln!(
        body,
        "<text x=\"{MARGIN}\" y=\"{caption_y}\" font-size=\"12\" fill=\"#555555\">{}</text>",
        esc(&format!(
            "{} zones, one card each: dom0 routes between them; ⇐ forwards from the uplink; → listed policies (unlisted pairs drop). More than {} hosts on a network are counted.",
            cards.len(),
            diagram::HOST_LIMIT
        ))
    );
    let mut y = caption_y + 16.0;
    let mut width = x;
    for row in cards.chunks(cols) {
        let row_h = row.iter().map(|c| c.lines.len()).max().unwrap_or(1) as f64 * LINE_H + 14.0;
        for (i, card) in row.iter().enumerate() {
            let cx = MARGIN + i as f64 * (CARD_W + GAP);
            let h = card.lines.len() as f64 * LINE_H + 14.0;
            let _ = writeln!(
                body,
                "<g class=\"zone\" data-zone=\"{}\"><rect x=\"{cx}\" y=\"{y}\" width=\"{CARD_W}\" height=\"{h}\" rx=\"6\" fill=\"{}\" stroke=\"#2e7d32\" stroke-width=\"1.5\"/>",
                esc(&card.zone),
                card.fill
            );
            for (k, l) in card.lines.iter().enumerate() {
                let weight = if l.bold { " font-weight=\"bold\"" } else { "" };
                let _ = writeln!(
                    body,
                    "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{}\"{weight}>{}</text>",
                    cx + 8.0,
                    y + 16.0 + k as f64 * LINE_H,
                    l.color,
                    esc(&l.text)
                );
            }
            let _ = writeln!(body, "</g>");
            width = width.max(cx + CARD_W);
        }
        y += row_h + GAP;
    }
    let (w, h) = ((width + MARGIN).ceil(), (y + MARGIN).ceil());
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         xmlns=\"http://www.w3.org/2000/svg\">\n<title>{title}</title>\n<style>\n\
         text {{ font-family: \"DejaVu Sans\", Helvetica, Arial, sans-serif; }}\n</style>\n\
         <rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{MARGIN}\" y=\"{ty}\" font-size=\"16\" font-weight=\"bold\">{title}</text>\n{body}</svg>\n",
        title = esc(&d.title),
        ty = MARGIN + 12.0,
    )
}

fn kind_name(k: NodeKind) -> &'static str {
    match k {
        NodeKind::Internet => "internet",
        NodeKind::Uplink => "uplink",
        NodeKind::Dom0 => "dom0",
        _ => "other",
    }
}
