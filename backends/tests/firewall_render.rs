//! The rendered nftables ruleset of every fixture, pinned by snapshots (review a change
//! as a diff: `INSTA_UPDATE=always cargo test -p brouter-backends --test firewall_render`,
//! then `git diff backends/tests/snapshots`), and the rule count's independence of the
//! number of forwards and hosts.

use std::fmt::Write;
use std::path::Path;

use brouter_backends::firewall::render::NA_SPOOF_COMMENT;
use brouter_backends::firewall::{render_text, replace_json, rule_count};
use brouter_engine::config::{from_toml, from_xen_words};
use brouter_engine::firewall::{compile, Binding, Ruleset};

fn fixture(name: &str) -> Ruleset {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    compile(&from_toml(&text, &format!("fixtures/{name}")).unwrap_or_else(|e| panic!("{name}: {e}")))
}

#[test]
fn isp_ruleset_in_nft_syntax() {
    insta::assert_snapshot!("isp", render_text(&fixture("isp.toml")));
}

#[test]
fn seed_ruleset_in_nft_syntax() {
    insta::assert_snapshot!("seed", render_text(&fixture("seed.toml")));
}

#[test]
fn xen_mode_ruleset_in_nft_syntax() {
    let c = from_xen_words(&["bridgeip=10.98.98.1/24", "brnet=10.98.98.0/24", "antispoof=yes"]).unwrap();
    insta::assert_snapshot!("xen_antispoof", render_text(&compile(&c)));
}

/// isp.toml with ten times its forwards and hosts (dmz grows to a /16 to hold them).
fn isp_tenfold() -> String {
    let base =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/isp.toml")).unwrap();
    let mut text = base.replace("address = \"10.1.0.1/24\"", "address = \"10.1.0.1/16\"");
    for i in 0..40u32 {
        let _ = write!(
            text,
            "\n[[host]]\nname = \"extra{i}\"\nnetwork = \"dmz\"\nmac = \"aa:cc:00:01:{:02x}:{:02x}\"\naddresses = [\"10.1.{}.{}\"]\n",
            i / 256,
            i % 256,
            1 + i / 200,
            10 + i % 200
        );
    }
    for i in 0..45u32 {
        let _ = write!(
            text,
            "\n[[forward]]\nproto = \"{}\"\nport = {}\nto = \"extra{}{}\"\n",
            if i % 2 == 0 { "tcp" } else { "udp" },
            20000 + i,
            i % 40,
            if i % 3 == 0 { ":22" } else { "" }
        );
    }
    text
}

#[test]
fn rule_count_does_not_grow_with_forwards_and_hosts() {
    let small = fixture("isp.toml");
    let big = compile(&from_toml(&isp_tenfold(), "isp-tenfold.toml").expect("tenfold variant validates"));
    assert_eq!(big.forwards.len(), small.forwards.len() * 10);
    assert_eq!(big.hosts.len(), small.hosts.len() * 11);
    assert_eq!(rule_count(&big), rule_count(&small));
    // Nor with bindings: they are set elements.
    let many: Vec<Binding> = (0..50)
        .map(|i| Binding {
            vif: format!("vif{i}.0"),
            mac: format!("aa:cc:00:02:00:{i:02x}"),
            addrs: vec![],
        })
        .collect();
    let count_rules = |json: &str| json.matches("{\"add\":{\"rule\"").count();
    assert_eq!(
        count_rules(&replace_json(&small, &many)),
        count_rules(&replace_json(&small, &[]))
    );
    // All of them, but the neighbour-advertisement check nft 1.0.6 cannot parse (the
    // batch brouter applies has it).
    assert_eq!(count_rules(&replace_json(&small, &[])) + 1, rule_count(&small));
    assert!(!replace_json(&small, &[]).contains(NA_SPOOF_COMMENT));
}

#[test]
fn the_transaction_recreates_both_tables_and_only_them() {
    let json = replace_json(&fixture("isp.toml"), &[]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let cmds = v["nftables"].as_array().unwrap();
    let first: Vec<String> = cmds.iter().take(3).map(|c| c.to_string()).collect();
    assert!(first[0].starts_with("{\"add\":{\"table\""), "{}", first[0]);
    assert!(first[1].starts_with("{\"delete\":{\"table\""), "{}", first[1]);
    assert!(first[2].starts_with("{\"add\":{\"table\""), "{}", first[2]);
    for c in cmds {
        let obj = c
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap();
        let table = obj
            .get("table")
            .or_else(|| obj.get("name"))
            .and_then(|t| t.as_str());
        assert_eq!(table, Some("brouter"), "only brouter's tables: {c}");
    }
    if let Ok(dir) = std::env::var("BROUTER_DUMP_DIR") {
        std::fs::write(Path::new(&dir).join("isp.json"), &json).unwrap();
    }
}

/// Every shape of logged policy, and `[log] drops = true` (`fixtures/logged.toml`).
fn logged_text() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/logged.toml")).unwrap()
}

fn logged() -> Ruleset {
    compile(&from_toml(&logged_text(), "logged.toml").expect("the logged config validates"))
}

#[test]
fn logged_ruleset_in_nft_syntax() {
    insta::assert_snapshot!("logged", render_text(&logged()));
}

#[test]
fn each_logged_pair_verdict_has_exactly_one_log_rule() {
    let text = render_text(&logged());
    let mut prefixes: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split("log prefix ").nth(1))
        .collect();
    let total = prefixes.len();
    prefixes.sort();
    prefixes.dedup();
    assert_eq!(prefixes.len(), total, "one log rule per prefix: {prefixes:?}");
    let expected = [
        // reject with services: its services are rejected, the rest dropped.
        "\"brouter drop dmz->data \"",
        "\"brouter reject dmz->data \"",
        // accept with services: the rest is dropped.
        "\"brouter drop dmz->external \"",
        // drop: everything.
        "\"brouter drop data->dmz \"",
        // unlisted pairs, by [log] drops.
        "\"brouter drop data->dom0 \"",
        "\"brouter drop dmz->dom0 \"",
        "\"brouter drop dom0->data \"",
        "\"brouter drop dom0->dmz \"",
        "\"brouter drop external->data \"",
    ];
    for e in expected {
        assert!(prefixes.contains(&e), "{e} missing from {prefixes:?}");
    }
    // An accept-all policy refuses nothing; log = false is honoured.
    assert!(!text.contains("data->external"), "{text}");
    assert!(!text.contains("external->dmz"), "{text}");
    assert_eq!(prefixes.len(), expected.len(), "{prefixes:?}");
}

#[test]
fn logging_does_not_grow_with_forwards_and_hosts() {
    let small = logged();
    let mut text = logged_text().replace("address = \"10.1.0.1/24\"", "address = \"10.1.0.1/16\"");
    for i in 0..30u32 {
        let _ = write!(
            text,
            "\n[[forward]]\nproto = \"udp\"\nport = {}\nto = \"10.1.{}.{}\"\n",
            20000 + i,
            1 + i / 200,
            10 + i % 200
        );
    }
    let big = compile(&from_toml(&text, "logged-big.toml").unwrap());
    assert_eq!(rule_count(&big), rule_count(&small));
}

#[test]
fn forward_maps_and_traffic_sets_count_per_element_and_nothing_else_does() {
    let json = replace_json(&fixture("isp.toml"), &[]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut counted = vec![];
    for c in v["nftables"].as_array().unwrap() {
        for kind in ["set", "map"] {
            if let Some(s) = c.get("add").and_then(|a| a.get(kind)) {
                if s.get("stmt").is_some() {
                    assert_eq!(s["stmt"], serde_json::json!([{ "counter": null }]), "{s}");
                    counted.push(s["name"].as_str().unwrap().to_string());
                }
            }
        }
    }
    counted.sort();
    assert_eq!(
        counted,
        [
            "tcp_fwd_addr",
            "tcp_fwd_keep",
            "tcp_fwd_traffic",
            "tcp_range_fwd_addr",
            "tcp_range_fwd_keep",
            "tcp_range_fwd_traffic",
            "udp_fwd_addr",
            "udp_fwd_keep",
            "udp_fwd_traffic",
            "udp_range_fwd_addr",
            "udp_range_fwd_keep",
            "udp_range_fwd_traffic"
        ]
    );
}
