//! The planner's choice for brouter's tables: nothing, element updates, or a replacement,
//! from the read-back's [`FirewallDelta`]; and the conntrack pass that follows.

use brouter_engine::config::{from_toml, Proto};
use brouter_engine::model::Address;
use brouter_engine::plan::{Element, FirewallDelta, SetDelta};
use brouter_engine::{compile, plan_start, Desired, Observed, Op};

fn isp() -> Desired {
    compile(&from_toml(include_str!("../../fixtures/isp.toml"), "fixtures/isp.toml").unwrap())
}

fn el(shown: &str) -> Element {
    Element {
        shown: shown.into(),
        wire: "00".into(),
    }
}

fn one_set() -> Vec<SetDelta> {
    vec![SetDelta {
        family: "inet".into(),
        set: "udp_range_fwd_keep".into(),
        add: vec![el("5060 : 10.2.0.10")],
        delete: vec![],
    }]
}

/// brouter's tables (with fingerprint `fp`, read back as `delta`) and the uplink address.
fn observed(fp: Option<String>, delta: Option<FirewallDelta>) -> Observed {
    Observed {
        addresses: vec![Address {
            link: "eth0".into(),
            addr: "192.0.2.2/24".parse().unwrap(),
            owned: false,
        }],
        firewall: fp,
        firewall_delta: delta,
        ..Observed::default()
    }
}

fn firewall_ops(d: &Desired, o: &Observed) -> Vec<Op> {
    plan_start(d, o)
        .unwrap()
        .ops
        .into_iter()
        .filter(|op| {
            matches!(
                op,
                Op::ReplaceFirewall { .. } | Op::UpdateFirewallElements { .. } | Op::FlushConntrack { .. }
            )
        })
        .collect()
}

#[test]
fn only_elements_different_is_one_element_update_stamped_with_the_new_fingerprint() {
    let d = isp();
    let delta = FirewallDelta {
        sets: one_set(),
        forwards: vec![(Proto::Udp, 5060)],
        ..FirewallDelta::default()
    };
    let ops = firewall_ops(&d, &observed(Some("older".into()), Some(delta)));
    match &ops[..] {
        [Op::UpdateFirewallElements {
            fingerprint, sets, ..
        }, Op::FlushConntrack { flows, .. }] => {
            assert_eq!(Some(fingerprint), d.firewall_fingerprint.as_ref());
            assert_eq!(sets, &one_set());
            assert_eq!(flows.len(), 1, "the changed udp forward");
        }
        other => panic!("{other:#?}"),
    }
    assert_eq!(
        ops[0].to_string(),
        format!(
            "update firewall elements (ruleset {}): 1 added, 0 deleted; inet udp_range_fwd_keep: +5060 : 10.2.0.10",
            d.firewall_fingerprint.as_ref().unwrap()
        )
    );
}

#[test]
fn a_changed_tcp_forward_needs_no_flush() {
    let d = isp();
    let delta = FirewallDelta {
        sets: one_set(),
        forwards: vec![(Proto::Tcp, 80)],
        ..FirewallDelta::default()
    };
    let ops = firewall_ops(&d, &observed(Some("older".into()), Some(delta)));
    assert!(
        matches!(&ops[..], [Op::UpdateFirewallElements { .. }]),
        "{ops:#?}"
    );
}

#[test]
fn drifted_elements_under_the_right_fingerprint_are_updated_too() {
    let d = isp();
    let delta = FirewallDelta {
        sets: one_set(),
        ..FirewallDelta::default()
    };
    let mut o = observed(d.firewall_fingerprint.clone(), Some(delta));
    o.firewall_drift = vec!["table inet brouter: set udp_range_fwd_keep: element … is missing".into()];
    let ops = firewall_ops(&d, &o);
    assert!(
        matches!(&ops[..], [Op::UpdateFirewallElements { .. }]),
        "{ops:#?}"
    );
}

#[test]
fn a_structural_difference_or_no_read_back_replaces_the_tables() {
    let d = isp();
    let structural = FirewallDelta {
        structural: true,
        sets: one_set(),
        ..FirewallDelta::default()
    };
    for delta in [Some(structural), None] {
        let ops = firewall_ops(&d, &observed(Some("older".into()), delta.clone()));
        assert!(
            matches!(ops.first(), Some(Op::ReplaceFirewall { .. })),
            "{delta:?}: {ops:#?}"
        );
        // After a replacement, every udp forward's flows go, in one pass.
        assert_eq!(
            ops.iter()
                .filter(|o| matches!(o, Op::FlushConntrack { .. }))
                .count(),
            1
        );
    }
}

#[test]
fn no_difference_under_the_right_fingerprint_plans_nothing() {
    let d = isp();
    let o = observed(d.firewall_fingerprint.clone(), Some(FirewallDelta::default()));
    assert!(firewall_ops(&d, &o).is_empty());
}
