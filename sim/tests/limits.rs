//! The kernel's limits and a second writer, on concrete cases: the sim refuses where the
//! kernel refuses, with the kernel's error kind (integration/tests/differential.rs holds
//! the same cases against the kernel).

use brouter_engine::config::from_xen_words;
use brouter_engine::{apply, compile, plan_start, BridgeOptions, ErrorKind, LinkKind, NetBackend};
use brouter_sim::limits::BRIDGE_MAX_PORTS;
use brouter_sim::{Family, FirewallDrift, ForeignEdit, Kernel, SimBackend};

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn a_bridge_takes_1023_ports_and_the_next_attach_is_exfull() {
    let mut k = Kernel::default();
    k.add_link("br0", LinkKind::Bridge, true);
    for i in 0..=BRIDGE_MAX_PORTS {
        k.add_link(&format!("p{i}"), LinkKind::Veth, false);
    }
    for i in 0..BRIDGE_MAX_PORTS {
        k.set_master(&format!("p{i}"), Some("br0")).unwrap();
    }
    let last = format!("p{BRIDGE_MAX_PORTS}");
    let e = k.set_master(&last, Some("br0")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Full, "{e}");
    assert_eq!(k.links[&last].master, None);
    // A port that leaves makes room again.
    k.set_master("p0", None).unwrap();
    k.set_master(&last, Some("br0")).unwrap();
}

#[test]
fn a_sixteen_byte_name_is_enametoolong_for_a_bridge_and_a_rename() {
    let mut k = Kernel::default();
    k.add_link("vif1.0", LinkKind::Veth, false);
    let e = k
        .create_bridge("br-0123456789abc", "dmz", BridgeOptions::default())
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NameTooLong, "{e}");
    let e = k.rename_link("vif1.0", "vif-0123456789abc").unwrap_err();
    assert_eq!(e.kind, ErrorKind::NameTooLong, "{e}");
    k.create_bridge("br-0123456789ab", "dmz", BridgeOptions::default())
        .unwrap();
    k.rename_link("vif1.0", "vif-0123456789a").unwrap();
}

#[test]
fn renaming_an_up_link_is_ebusy_only_on_a_kernel_before_6_2() {
    let mut k = Kernel::default();
    k.add_link("vif1.0", LinkKind::Veth, true);
    k.rename_link("vif1.0", "web1").unwrap();
    k.quirks.rename_up_is_busy = true;
    let e = k.rename_link("web1", "web2").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Busy, "{e}");
    k.set_up("web1", false).unwrap();
    k.rename_link("web1", "web2").unwrap();
}

fn started() -> (SimBackend, brouter_engine::Desired) {
    let d = compile(&from_xen_words(&["bridgeip=10.98.98.1/24", "antispoof=yes"]).unwrap());
    let mut sim = SimBackend::new(Kernel::typical_host());
    let p = plan_start(&d, &sim.kernel.observe()).unwrap();
    block(apply(&mut sim, &p)).unwrap();
    (sim, d)
}

#[test]
fn each_edit_inside_the_tables_is_one_read_back_line_until_a_rewrite() {
    let (mut sim, d) = started();
    let rs = d.firewall.clone().unwrap();
    let edits = [
        FirewallDrift::RuleInserted {
            family: Family::Inet,
            chain: "forward".into(),
            rule: "accept".into(),
        },
        FirewallDrift::ElementDeleted {
            family: Family::Inet,
            set: "net_subnets".into(),
            elem: "0a626200".into(),
        },
        FirewallDrift::ChainChanged {
            family: Family::Bridge,
            chain: "prerouting".into(),
        },
    ];
    for e in &edits {
        sim.kernel.drift(e);
    }
    let lines = block(sim.firewall_drift(&rs)).unwrap();
    assert_eq!(
        lines,
        [
            "table inet brouter: chain forward: rule 1 (accept) was added",
            "table inet brouter: set net_subnets: element 0a626200 is missing",
            "table bridge brouter: chain prerouting has another hook, priority or policy",
        ]
    );
    // The fingerprint still matches: only the read-back tells.
    assert_eq!(sim.kernel.observe().firewall, Some(rs.fingerprint()));
    sim.kernel.replace_firewall(&rs);
    assert!(block(sim.firewall_drift(&rs)).unwrap().is_empty());
}

#[test]
fn one_deleted_table_reads_as_a_fingerprint_no_ruleset_has() {
    let (mut sim, d) = started();
    sim.kernel.drift(&FirewallDrift::TableDeleted(Family::Bridge));
    let o = sim.kernel.observe();
    assert!(
        o.firewall.as_deref().unwrap().starts_with("inconsistent("),
        "{o:?}"
    );
    let plan = plan_start(&d, &o).unwrap();
    assert!(
        plan.ops
            .iter()
            .any(|op| matches!(op, brouter_engine::Op::ReplaceFirewall { .. })),
        "{:?}",
        plan.ops
    );
    // The other table too: nothing left.
    sim.kernel.drift(&FirewallDrift::TableDeleted(Family::Inet));
    assert_eq!(sim.kernel.observe().firewall, None);
}

#[test]
fn a_second_writer_deleting_the_bridge_mid_start_is_repaired_by_the_next_start() {
    let d = compile(&from_xen_words(&["bridgeip=10.98.98.1/24"]).unwrap());
    let mut sim = SimBackend::new(Kernel::typical_host());
    let p = plan_start(&d, &sim.kernel.observe()).unwrap();
    // Another process deletes the bridge right after brouter created it.
    let created = p
        .ops
        .iter()
        .position(|op| matches!(op, brouter_engine::Op::CreateBridge { .. }))
        .unwrap();
    sim.interleave(
        created + 1,
        ForeignEdit::DeleteLink {
            name: "xenbr0".into(),
        },
    );
    let e = block(apply(&mut sim, &p)).unwrap_err();
    assert_eq!(e.error.kind, ErrorKind::NoDevice, "{e}");
    let mut next = SimBackend::new(sim.kernel.clone());
    let p = plan_start(&d, &next.kernel.observe()).unwrap();
    block(apply(&mut next, &p)).unwrap();
    assert!(plan_start(&d, &next.kernel.observe()).unwrap().is_empty());
}
