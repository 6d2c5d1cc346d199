//! `brouter diagram` at scale: a thousand networks give a readable picture of bounded
//! size that names every zone, and collapse their hosts into counts. Timings are not
//! tested here; `just bench` (case "diagram") measures them.

mod common;

use std::fmt::Write;

use common::{run, stderr, stdout};

/// `nets` networks `n<i>`, `hosts` hosts spread over them, one tcp forward per host and
/// one policy per network to external (the bench's shape).
fn config(nets: usize, hosts: usize) -> String {
    let mut s = String::from("[uplink]\ninterface = \"eth0\"\n\n");
    for i in 0..nets {
        let _ = writeln!(
            s,
            "[[network]]\nname = \"n{i}\"\nbridge = \"br{i}\"\naddress = \"10.{}.{}.1/24\"\nantispoof = true\n",
            i / 256,
            i % 256
        );
    }
    for h in 0..hosts {
        let n = h % nets;
        let _ = writeln!(
            s,
            "[[host]]\nname = \"h{h}\"\nnetwork = \"n{n}\"\nmac = \"aa:cc:00:00:{:02x}:{:02x}\"\naddresses = [\"10.{}.{}.{}\"]\n",
            h / 256,
            h % 256,
            n / 256,
            n % 256,
            10 + h / nets
        );
        let _ = writeln!(
            s,
            "[[forward]]\nproto = \"tcp\"\nport = {}\nto = \"h{h}:80\"\n",
            10000 + h
        );
    }
    for i in 0..nets {
        let _ = writeln!(
            s,
            "[[policy]]\nfrom = \"n{i}\"\nto = \"external\"\naction = \"accept\"\n"
        );
    }
    s
}

fn draw(nets: usize, hosts: usize, tag: &str) -> String {
    let dir = std::env::temp_dir().join(format!("brouter-diagram-scale-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("big.toml");
    std::fs::write(&file, config(nets, hosts)).unwrap();
    let out = run(&["--config", file.to_str().unwrap(), "diagram", "--config-only"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// The text of every `<text>` element.
fn texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not well-formed XML: {e}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_string())
        .collect()
}

#[test]
fn a_thousand_networks_give_a_bounded_picture_naming_every_zone() {
    let (nets, hosts) = (1000, 10_000);
    let svg = draw(nets, hosts, "1000");
    // One card per zone, each of a bounded number of short lines: about 1.5 KB here.
    assert!(
        svg.len() <= 3_000 * nets,
        "{} bytes for {nets} networks: not bounded by the networks",
        svg.len()
    );
    let texts = texts(&svg);
    let all: std::collections::HashSet<&str> = texts.iter().map(String::as_str).collect();
    for i in 0..nets {
        let zone = format!("zone n{i}");
        assert!(all.contains(zone.as_str()), "{zone} is not in the picture");
    }
    // Ten hosts a network are past the limit: counted, not drawn one by one.
    assert!(
        texts.iter().any(|t| t.starts_with("▸ 10 hosts · h0 … h9000")),
        "{:?}",
        &texts[..40]
    );
    assert!(
        !texts.iter().any(|t| t.starts_with("▸ host h")),
        "hosts were not collapsed"
    );
    // The picture is not a strip tens of thousands of pixels wide.
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let width: f64 = doc.root_element().attribute("width").unwrap().parse().unwrap();
    let height: f64 = doc.root_element().attribute("height").unwrap().parse().unwrap();
    assert!(
        width <= 4.0 * height && height <= 4.0 * width,
        "{width} × {height}"
    );
}

#[test]
fn sixty_four_networks_are_drawn_as_zone_cards_with_their_hosts_and_forwards() {
    let svg = draw(64, 128, "64");
    let texts = texts(&svg);
    assert!(texts.iter().any(|t| t == "network n63"), "{:?}", &texts[..20]);
    assert!(
        texts.iter().any(|t| t.starts_with("▸ host h127")),
        "two hosts a network are drawn"
    );
    assert!(
        texts.iter().any(|t| t == "⇐ tcp/10127 → h127:80"),
        "{:?}",
        &texts[..40]
    );
    assert!(texts.iter().any(|t| t == "→ external: accept"));
}

#[test]
fn diagram_json_of_a_big_config_counts_collapsed_hosts() {
    let dir = std::env::temp_dir().join(format!("brouter-diagram-scale-{}-json", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("big.toml");
    std::fs::write(&file, config(4, 40)).unwrap();
    let out = run(&[
        "--json",
        "--config",
        file.to_str().unwrap(),
        "diagram",
        "--config-only",
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let node = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "hosts:n0")
        .expect("ten hosts on n0 are one box");
    assert_eq!(node["lines"][0], "10 hosts");
    assert_eq!(node["kind"], "host");
}
