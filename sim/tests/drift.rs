//! Drift inside brouter's own objects, on the simulator: an edited table and a lost
//! binding are not converged, `start` repairs them, and the spoofed packet is dropped again.

use std::net::Ipv4Addr;

use brouter_engine::config::from_xen_words;
use brouter_engine::firewall::Flow;
use brouter_engine::vif::{plan_vif_online, VifRequest};
use brouter_engine::{apply, compile, plan_start, Config, LinkKind, NetBackend, Observed, Op};
use brouter_sim::{Kernel, SimBackend};

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn antispoof() -> Config {
    from_xen_words(&["bridgeip=10.98.98.1/24", "antispoof=yes"]).unwrap()
}

/// What `start` observes: the kernel plus the read-back of its tables.
fn observe(sim: &mut SimBackend, c: &Config) -> Observed {
    let mut o = sim.kernel.observe();
    let rs = compile(c).firewall.unwrap();
    o.firewall_drift = block(sim.firewall_drift(&rs)).unwrap();
    o
}

fn start(sim: &mut SimBackend, c: &Config) -> Vec<Op> {
    let o = observe(sim, c);
    let plan = plan_start(&compile(c), &o).unwrap();
    block(apply(sim, &plan)).unwrap();
    plan.ops
}

fn started_with_a_bound_vif() -> (SimBackend, Config) {
    let c = antispoof();
    let mut sim = SimBackend::new(Kernel::typical_host());
    start(&mut sim, &c);
    sim.kernel.add_link("vif1.0", LinkKind::Veth, false);
    let req = VifRequest {
        device: "vif1.0".into(),
        mac: Some("aa:cc:00:00:00:01".into()),
        // Xen's `ip`: without it the vif would be bound to its MAC alone.
        ips: vec!["10.98.98.10".parse().unwrap()],
        ..Default::default()
    };
    let plan = plan_vif_online(Some(&c), &sim.kernel.observe(), &req).unwrap();
    block(apply(&mut sim, &plan.plan)).unwrap();
    (sim, c)
}

#[test]
fn an_edited_table_is_not_converged_and_start_rewrites_it() {
    let (mut sim, c) = started_with_a_bound_vif();
    assert!(start(&mut sim, &c).is_empty(), "converged");
    sim.kernel
        .drift_firewall("table inet brouter: chain forward: rule 1 (accept) was added");
    let o = observe(&mut sim, &c);
    assert_eq!(o.firewall_drift.len(), 1);
    assert_eq!(
        o.firewall,
        compile(&c).firewall_fingerprint,
        "the fingerprint alone says converged"
    );
    let ops = start(&mut sim, &c);
    assert!(
        matches!(&ops[..], [Op::ReplaceFirewall { bindings, .. }] if bindings.len() == 1),
        "{ops:?}"
    );
    assert!(start(&mut sim, &c).is_empty(), "repaired");
    assert!(
        sim.kernel.bindings.contains_key("vif1.0"),
        "the binding survived the rewrite"
    );
}

#[test]
fn a_flushed_binding_set_is_bound_again_and_spoofing_is_dropped_again() {
    let (mut sim, c) = started_with_a_bound_vif();
    let spoof = Flow::tcp("xenbr0", Ipv4Addr::new(198, 51, 100, 1), 80)
        .with_src("10.98.98.66".parse::<std::net::Ipv4Addr>().unwrap())
        .with_vif("vif1.0");
    assert!(!sim.kernel.send(&spoof).delivered(), "bound: spoof dropped");
    sim.kernel.bindings.clear(); // nft flush set bridge brouter …
    assert!(sim.kernel.send(&spoof).delivered(), "unbound: the spoof passes");
    let ops = start(&mut sim, &c);
    assert!(
        matches!(&ops[..], [Op::AddBinding { binding }] if binding.vif == "vif1.0"),
        "{ops:?}"
    );
    assert!(!sim.kernel.send(&spoof).delivered(), "bound again: spoof dropped");
    assert!(start(&mut sim, &c).is_empty());
}

#[test]
fn after_the_tables_vanish_start_restores_every_remembered_binding() {
    let (mut sim, c) = started_with_a_bound_vif();
    sim.kernel.delete_firewall(); // nft flush ruleset
    let ops = start(&mut sim, &c);
    assert!(
        ops.iter().any(|o| matches!(o, Op::ReplaceFirewall { bindings, .. } if bindings.iter().any(|b| b.vif == "vif1.0"))),
        "{ops:?}"
    );
    assert!(sim.kernel.bindings.contains_key("vif1.0"));
    assert!(start(&mut sim, &c).is_empty());
}

#[test]
fn a_bridges_stp_delay_alias_and_mtu_are_put_back() {
    let (mut sim, c) = started_with_a_bound_vif();
    sim.kernel.set_stp("xenbr0", true).unwrap(); // the delay is pulled up to 2 s
    sim.kernel.set_alias("xenbr0", "").unwrap();
    sim.kernel.set_mtu("xenbr0", 1400).unwrap();
    let ops = start(&mut sim, &c);
    assert_eq!(
        ops.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "mark xenbr0 as brouter's again (alias brouter:xenbr0)",
            "set xenbr0 stp off",
            "set xenbr0 forward delay 0s",
            "set xenbr0 mtu 1500",
        ]
    );
    assert!(start(&mut sim, &c).is_empty(), "repaired");
}

#[test]
fn a_foreign_bridge_keeps_its_attributes() {
    let c = antispoof();
    let mut k = Kernel::typical_host();
    k.add_link("xenbr0", LinkKind::Bridge, true);
    let mut sim = SimBackend::new(k);
    start(&mut sim, &c);
    sim.kernel.set_mtu("xenbr0", 1400).unwrap();
    assert!(
        start(&mut sim, &c).is_empty(),
        "not brouter's bridge: not touched"
    );
}

#[test]
fn a_foreign_table_with_brouters_name_is_refused_by_start_and_kept_by_stop() {
    let (sim, c) = started_with_a_bound_vif();
    let mut o = sim.kernel.observe();
    o.foreign_tables = vec!["inet brouter".into()];
    let e = plan_start(&compile(&c), &o).unwrap_err();
    assert!(
        e.to_string()
            .contains("table inet brouter exists but is not brouter's"),
        "{e}"
    );
    let stop = brouter_engine::plan_stop(&compile(&c).scope, &o);
    assert!(!stop.ops.contains(&Op::DeleteFirewall), "{stop:?}");
}

/// Found by `sim/tests/mixed.rs`: with the tables drifted (a rule inserted) and a vif's
/// binding edited to another MAC, the rewrite kept the kernel's edited binding; what
/// brouter remembers binding wins, and the spoofer's MAC is dropped again.
#[test]
fn an_edited_binding_does_not_survive_the_rewrite_of_drifted_tables() {
    use brouter_sim::{Family, FirewallDrift};
    let (mut sim, c) = started_with_a_bound_vif();
    sim.kernel.drift(&FirewallDrift::RuleInserted {
        family: Family::Inet,
        chain: "forward".into(),
        rule: "accept".into(),
    });
    sim.kernel.drift(&FirewallDrift::BindingChanged {
        vif: "vif1.0".into(),
        mac: "aa:cc:00:00:00:66".into(),
    });
    let ops = start(&mut sim, &c);
    assert!(
        matches!(&ops[..], [Op::ReplaceFirewall { bindings, .. }]
            if bindings.iter().map(|b| b.mac.as_str()).collect::<Vec<_>>() == ["aa:cc:00:00:00:01"]),
        "{ops:?}"
    );
    assert_eq!(sim.kernel.bindings["vif1.0"].mac, "aa:cc:00:00:00:01");
    assert!(start(&mut sim, &c).is_empty(), "repaired");
}
