//! brouter's nftables tables in a real kernel, in throwaway namespaces: applied in one
//! transaction, read back by fingerprint, replaced idempotently, deleted without touching
//! anybody else's table, and bindings updated element by element.

use std::path::Path;

use brouter_backends::firewall;
use brouter_engine::config::from_toml;
use brouter_engine::firewall::{compile, Binding, Ruleset};
use brouter_integration::{root_or_skip, Netns};

fn isp() -> Ruleset {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/isp.toml");
    compile(&from_toml(&std::fs::read_to_string(path).unwrap(), "fixtures/isp.toml").unwrap())
}

fn nft(ns: &Netns, args: &[&str]) -> String {
    let out = ns.exec("nft", args);
    assert!(
        out.status.success(),
        "nft {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The rules of one of brouter's tables, as the kernel lists them.
fn kernel_rules(ns: &Netns, family: &str) -> usize {
    nft(ns, &["-j", "list", "table", family, "brouter"])
        .matches("{\"rule\":")
        .count()
}

fn web1(addrs: &[&str]) -> Binding {
    Binding {
        vif: "vif1.0".into(),
        mac: "aa:cc:00:00:01:01".into(),
        addrs: addrs
            .iter()
            .map(|a| brouter_engine::firewall::parse_entry(a).unwrap())
            .collect(),
    }
}

#[test]
fn replace_applies_both_tables_and_reads_back_the_fingerprint() {
    if !root_or_skip("replace_applies_both_tables_and_reads_back_the_fingerprint") {
        return;
    }
    let ns = Netns::new("fwapply");
    let rs = isp();
    assert_eq!(
        firewall::read_fingerprint(&ns.target()).unwrap(),
        None,
        "nothing before"
    );
    firewall::replace(&ns.target(), &rs).unwrap();
    assert_eq!(
        firewall::read_fingerprint(&ns.target()).unwrap(),
        Some(rs.fingerprint())
    );
    let total = kernel_rules(&ns, "inet") + kernel_rules(&ns, "bridge");
    assert_eq!(
        total,
        firewall::rule_count(&rs),
        "the kernel holds exactly the rendered rules"
    );
}

#[test]
fn replace_is_idempotent_and_a_changed_ruleset_replaces_the_old_one() {
    if !root_or_skip("replace_is_idempotent_and_a_changed_ruleset_replaces_the_old_one") {
        return;
    }
    let ns = Netns::new("fwidem");
    let rs = isp();
    firewall::replace(&ns.target(), &rs).unwrap();
    let first = nft(&ns, &["list", "ruleset"]);
    firewall::replace(&ns.target(), &rs).unwrap();
    assert_eq!(nft(&ns, &["list", "ruleset"]), first);

    let mut changed = rs.clone();
    changed.forwards.pop();
    changed.policies.pop();
    firewall::replace(&ns.target(), &changed).unwrap();
    assert_eq!(
        firewall::read_fingerprint(&ns.target()).unwrap(),
        Some(changed.fingerprint())
    );
    let listed = nft(&ns, &["list", "ruleset"]);
    assert!(
        !listed.contains("5060-5061"),
        "the removed forward's element is gone:\n{listed}"
    );
    assert!(
        !listed.contains("pair.dom0.data"),
        "the removed policy's chain is gone"
    );
}

#[test]
fn a_foreign_table_survives_replace_and_delete_untouched() {
    if !root_or_skip("a_foreign_table_survives_replace_and_delete_untouched") {
        return;
    }
    let ns = Netns::new("fwforeign");
    nft(&ns, &["add", "table", "inet", "foreign"]);
    nft(
        &ns,
        &[
            "add",
            "chain",
            "inet",
            "foreign",
            "fwdchain",
            "{ type filter hook forward priority 10; policy accept; }",
        ],
    );
    nft(
        &ns,
        &[
            "add", "rule", "inet", "foreign", "fwdchain", "iifname", "eth9", "counter", "accept",
        ],
    );
    nft(&ns, &["add", "table", "bridge", "foreign"]);
    let before = (
        nft(&ns, &["list", "table", "inet", "foreign"]),
        nft(&ns, &["list", "table", "bridge", "foreign"]),
    );

    firewall::replace(&ns.target(), &isp()).unwrap();
    firewall::replace(&ns.target(), &isp()).unwrap();
    firewall::delete(&ns.target()).unwrap();
    firewall::delete(&ns.target()).unwrap();

    let after = (
        nft(&ns, &["list", "table", "inet", "foreign"]),
        nft(&ns, &["list", "table", "bridge", "foreign"]),
    );
    assert_eq!(after, before);
    let tables = nft(&ns, &["list", "tables"]);
    assert!(!tables.contains("brouter"), "brouter's tables are gone: {tables}");
    assert_eq!(firewall::read_fingerprint(&ns.target()).unwrap(), None);
}

#[test]
fn bindings_are_added_replaced_and_removed_by_element() {
    if !root_or_skip("bindings_are_added_replaced_and_removed_by_element") {
        return;
    }
    let ns = Netns::new("fwbind");
    let rs = isp();
    firewall::replace(&ns.target(), &rs).unwrap();
    let rules_before = kernel_rules(&ns, "bridge");

    let web2 = Binding {
        vif: "vif2.0".into(),
        mac: "aa:cc:00:00:01:02".into(),
        addrs: vec!["10.1.0.11/32".parse().unwrap(), "10.1.0.12/32".parse().unwrap()],
    };
    let stranger = Binding {
        vif: "vif3.0".into(),
        mac: "aa:cc:00:00:09:09".into(),
        addrs: vec![],
    };
    firewall::add_binding(&ns.target(), &web1(&["10.1.0.10"])).unwrap();
    firewall::add_binding(&ns.target(), &web2).unwrap();
    firewall::add_binding(&ns.target(), &stranger).unwrap();
    let read = firewall::read_bindings(&ns.target()).unwrap();
    assert_eq!(read, vec![web1(&["10.1.0.10"]), web2.clone(), stranger.clone()]);

    // Binding again replaces, it does not accumulate.
    firewall::add_binding(&ns.target(), &web1(&["10.1.0.20"])).unwrap();
    let read = firewall::read_bindings(&ns.target()).unwrap();
    assert_eq!(read[0], web1(&["10.1.0.20"]));

    firewall::remove_binding(&ns.target(), "vif2.0").unwrap();
    firewall::remove_binding(&ns.target(), "vif2.0").unwrap();
    let read = firewall::read_bindings(&ns.target()).unwrap();
    assert_eq!(read, vec![web1(&["10.1.0.20"]), stranger]);

    assert_eq!(kernel_rules(&ns, "bridge"), rules_before, "elements, not rules");
    assert_eq!(
        firewall::read_fingerprint(&ns.target()).unwrap(),
        Some(rs.fingerprint()),
        "tables not rewritten"
    );
}

#[test]
fn replace_with_bindings_keeps_them_in_the_same_transaction() {
    if !root_or_skip("replace_with_bindings_keeps_them_in_the_same_transaction") {
        return;
    }
    let ns = Netns::new("fwkeep");
    let rs = isp();
    firewall::replace(&ns.target(), &rs).unwrap();
    firewall::add_binding(&ns.target(), &web1(&["10.1.0.10"])).unwrap();
    let kept = firewall::read_bindings(&ns.target()).unwrap();
    firewall::replace_with_bindings(&ns.target(), &rs, &kept).unwrap();
    assert_eq!(firewall::read_bindings(&ns.target()).unwrap(), kept);
    // A plain replace starts from empty sets.
    firewall::replace(&ns.target(), &rs).unwrap();
    assert!(firewall::read_bindings(&ns.target()).unwrap().is_empty());
}

#[test]
fn the_kernel_complaint_is_reported_and_nothing_changes() {
    if !root_or_skip("the_kernel_complaint_is_reported_and_nothing_changes") {
        return;
    }
    let ns = Netns::new("fwerr");
    let rs = isp();
    firewall::replace(&ns.target(), &rs).unwrap();
    let bad = Binding {
        vif: "vif1.0".into(),
        mac: "not-a-mac".into(),
        addrs: vec![],
    };
    let e = firewall::add_binding(&ns.target(), &bad).unwrap_err();
    assert!(
        e.message.contains("nft refused binding vif1.0 to MAC not-a-mac"),
        "{e}"
    );
    assert!(
        e.message.contains("Invalid LL address"),
        "nft's own complaint is kept: {e}"
    );
    assert!(
        firewall::read_bindings(&ns.target()).unwrap().is_empty(),
        "the failed transaction changed nothing"
    );
}

#[test]
fn check_validates_with_the_kernel_without_applying() {
    if !root_or_skip("check_validates_with_the_kernel_without_applying") {
        return;
    }
    let ns = Netns::new("fwcheck");
    let text = firewall::check(&ns.target(), &isp()).unwrap();
    assert!(text.contains("table inet brouter") && text.contains("table bridge brouter"));
    assert_eq!(
        firewall::read_fingerprint(&ns.target()).unwrap(),
        None,
        "check applies nothing"
    );
}

#[test]
fn binding_without_the_tables_says_to_start_first() {
    if !root_or_skip("binding_without_the_tables_says_to_start_first") {
        return;
    }
    let ns = Netns::new("fwnotab");
    let e = firewall::add_binding(&ns.target(), &web1(&["10.1.0.10"])).unwrap_err();
    assert!(e.message.contains("brouter start"), "{e}");
    firewall::remove_binding(&ns.target(), "vif1.0").unwrap();
    assert!(firewall::read_bindings(&ns.target()).unwrap().is_empty());
}

/// What `brouter check` prints is a ruleset an admin can load by hand (`brouter check |
/// nft -f -`) to inspect or diff: every fixture's loads in a namespace with nft 1.0.6, and
/// lists the same tables. The one rule nft cannot read is printed as a comment.
#[test]
fn the_ruleset_check_prints_loads_with_nft() {
    if !root_or_skip("the_ruleset_check_prints_loads_with_nft") {
        return;
    }
    for name in ["isp.toml", "seed.toml", "dualstack.toml", "logged.toml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures")
            .join(name);
        let config = from_toml(&std::fs::read_to_string(&path).unwrap(), name).unwrap();
        let text = firewall::render_text(&compile(&config));
        let ns = Netns::new("fwtext");
        let file = std::env::temp_dir().join(format!("brt-check-{}-{name}.nft", std::process::id()));
        std::fs::write(&file, &text).unwrap();
        let out = ns.exec("nft", &["-f", file.to_str().unwrap()]);
        let _ = std::fs::remove_file(&file);
        assert!(
            out.status.success(),
            "{name}: nft -f of the check output: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tables = nft(&ns, &["list", "tables"]);
        assert!(
            tables.contains("table inet brouter") && tables.contains("table bridge brouter"),
            "{name}: {tables}"
        );
    }
}
