//! brouter reads its tables back over nfnetlink (fast) instead of `nft -j list` (slow with
//! big maps): both readers must agree on the fingerprint and the bindings.

use brouter_backends::firewall;
use brouter_engine::config;
use brouter_engine::firewall::Binding;
use brouter_integration::{root_or_skip, Netns};

#[test]
fn nfnetlink_readback_agrees_with_nft_listing() {
    if !root_or_skip("nfnetlink_readback_agrees_with_nft_listing") {
        return;
    }
    let ns = Netns::new("nfnlread");
    let t = ns.target();
    assert_eq!(firewall::read_fingerprint(&t).unwrap(), None, "no tables yet");
    assert!(firewall::read_bindings(&t).unwrap().is_empty());

    let cfg = config::from_xen_words(&["bridgeip=10.98.98.1/24", "antispoof=yes"]).unwrap();
    let rs = brouter_engine::firewall::compile(&cfg);
    let bindings = vec![
        Binding {
            vif: "vif1.0".into(),
            mac: "aa:cc:00:00:01:01".into(),
            // Xen's `ip`: addresses and prefixes of both families.
            addrs: [
                "10.98.98.10",
                "10.98.98.11",
                "10.98.98.16/28",
                "2001:db8::7",
                "fd00::/64",
            ]
            .iter()
            .map(|a| brouter_engine::firewall::parse_entry(a).unwrap())
            .collect(),
        },
        Binding {
            vif: "vif23.1-emu".into(),
            mac: "aa:cc:00:00:01:02".into(),
            addrs: vec![],
        },
    ];
    firewall::replace_with_bindings(&t, &rs, &bindings).unwrap();
    let fp = firewall::read_fingerprint(&t).unwrap();
    assert_eq!(fp.as_deref(), Some(rs.fingerprint().as_str()));
    assert_eq!(fp, firewall::read_fingerprint_nft(&t).unwrap());
    let read = firewall::read_bindings(&t).unwrap();
    assert_eq!(read, bindings);
    assert_eq!(read, firewall::read_bindings_nft(&t).unwrap());

    // One table gone: the fingerprint reads as inconsistent, the same both ways.
    assert!(ns
        .exec("nft", &["delete", "table", "bridge", "brouter"])
        .status
        .success());
    let half = firewall::read_fingerprint(&t).unwrap();
    assert!(
        half.as_deref().is_some_and(|f| f.starts_with("inconsistent")),
        "{half:?}"
    );
    assert_eq!(half, firewall::read_fingerprint_nft(&t).unwrap());
}

#[test]
fn creating_tables_on_a_fresh_host_then_replacing_them_converges() {
    if !root_or_skip("creating_tables_on_a_fresh_host_then_replacing_them_converges") {
        return;
    }
    let ns = Netns::new("nfnlcreate");
    let t = ns.target();
    let cfg = config::from_xen_words(&["bridgeip=10.98.98.1/24"]).unwrap();
    let rs = brouter_engine::firewall::compile(&cfg);
    firewall::create_with_bindings(&t, &rs, &[]).unwrap();
    // The tables exist now: creating again falls back to replacing, and stays converged.
    firewall::create_with_bindings(&t, &rs, &[]).unwrap();
    assert_eq!(
        firewall::read_fingerprint(&t).unwrap().as_deref(),
        Some(rs.fingerprint().as_str())
    );
}
