//! `brouter diagram`: the SVG is a well-formed document that draws every brouter, the DOT
//! parses, the live state (here the simulator's) shows up, and an unreadable live state
//! falls back to the config with a word on stderr. None of these touch a kernel: they
//! draw from the config alone, or read a simulator state file.

mod common;

use common::{run, stderr, stdout, workspace};

fn isp() -> String {
    workspace().join("fixtures/isp.toml").display().to_string()
}

/// The text of every `<text>` element, one string per element (lines joined by spaces).
fn texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not well-formed XML: {e}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| {
            n.descendants()
                .filter(|d| d.is_text())
                .filter_map(|d| d.text())
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|t: &String| !t.is_empty())
        .collect()
}

#[test]
fn svg_is_well_formed_and_draws_every_brouter_host_and_policy() {
    let out = run(&["--config", &isp(), "diagram", "--config-only"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let svg = stdout(&out);
    let texts = texts(&svg);
    for bridge in ["br-dmz", "br-hosting", "br-data"] {
        assert!(
            texts.iter().any(|t| t.starts_with(&format!("brouter {bridge} "))),
            "no box for {bridge} in {texts:?}"
        );
    }
    for expected in [
        "eth0 zone external",
        "host web2 aa:cc:00:00:01:02 10.1.0.11 10.1.0.12 2001:db8:10::11",
        "tcp/8000-8009 → web2:8000-8009 tcp/2222 → web2:22",
        "reject (logged)",
        "accept tcp/80 tcp/443 udp/53 icmp",
    ] {
        assert!(
            texts.iter().any(|t| t == expected),
            "no `{expected}` in {texts:?}"
        );
    }
    // The three brouter boxes and twelve policy arrows (red for drop/reject) are there.
    assert_eq!(svg.matches("class=\"node brouter\"").count(), 3);
    assert_eq!(svg.matches("class=\"edge policy").count(), 12);
    assert_eq!(svg.matches("class=\"edge policy reject\"").count(), 2);
}

#[test]
fn dot_output_parses_as_graphviz_and_goes_to_the_named_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("isp.dot");
    let out = run(&[
        "--config",
        &isp(),
        "diagram",
        "--config-only",
        "--format",
        "dot",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "with -o nothing goes to stdout");
    let dot = std::fs::read_to_string(&file).unwrap();
    let mut parser = layout::gv::DotParser::new(&dot);
    assert!(parser.process().is_ok(), "DOT does not parse:\n{dot}");
    assert!(dot
        .contains("\"net:hosting\" [label=\"brouter br-hosting\\n10.2.0.1/24\\nfd00:2::1/64\\nzone hosting\\nmasquerade, dhcp\""));
}

#[test]
fn live_state_from_the_simulator_shows_uplink_address_and_bridge_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state = state.to_str().unwrap();
    let start = run(&["--sim", state, "--config", &isp(), "start"]);
    assert!(start.status.success(), "{}", stderr(&start));
    let out = run(&["--sim", state, "--config", &isp(), "diagram"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let texts = texts(&stdout(&out));
    assert!(
        texts.iter().any(|t| t == "eth0 zone external 192.0.2.2/24"),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t == "brouter br-data 10.3.0.1/24 fd00:3::1/64 zone data [up]"),
        "{texts:?}"
    );
    assert!(texts
        .iter()
        .any(|t| t == "host db1 aa:cc:00:00:03:01 10.3.0.10 fd00:3::10 (no vif attached)"));
}

#[test]
fn unreadable_live_state_falls_back_to_the_config_and_says_so() {
    let out = run(&[
        "--netns",
        "brt-diagram-no-such-netns",
        "--config",
        &isp(),
        "diagram",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("drawing from the config alone"),
        "{}",
        stderr(&out)
    );
    let texts = texts(&stdout(&out));
    assert!(texts.iter().any(|t| t == "eth0 zone external"), "{texts:?}");
}

/// The picture in the docs is what brouter draws today (and the same config always gives
/// the same bytes, so regenerating it does not churn).
#[test]
fn committed_docs_picture_is_current() {
    let out = std::process::Command::new(common::brouter())
        .current_dir(workspace())
        .args(["--config", "fixtures/isp.toml", "diagram", "--config-only"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let committed = std::fs::read_to_string(workspace().join("docs/isp-topology.svg")).unwrap();
    assert!(
        stdout(&out) == committed,
        "docs/isp-topology.svg is stale; regenerate it with\n  cargo run -p brouter -- --config \
         fixtures/isp.toml diagram --config-only -o docs/isp-topology.svg"
    );
}
