//! brouter's masquerade rule deleted: VMs no longer reach the internet (it has no route
//! back to them). `status` names the missing rule, `start` puts it back, egress works.

use brouter_integration::drift_lab::DriftLab;
use brouter_integration::root_or_skip;

#[test]
fn a_deleted_masquerade_rule_is_named_and_restored() {
    if !root_or_skip("a_deleted_masquerade_rule_is_named_and_restored") {
        return;
    }
    let lab = DriftLab::new("drmasq");
    assert!(lab.outbound_works(), "web reaches the internet after start");
    let handle = lab.rule_handle("inet", "postrouting", "masquerade to the outside");
    lab.nft(&[
        "delete",
        "rule",
        "inet",
        "brouter",
        "postrouting",
        "handle",
        &handle,
    ]);
    assert!(
        !lab.outbound_works(),
        "without masquerade the internet cannot answer"
    );
    lab.assert_drift_named(&[
        "table inet brouter: chain postrouting: rule 2 (\"masquerade to the outside\") is missing",
    ]);
    lab.assert_start_repairs();
    assert!(lab.outbound_works(), "web reaches the internet again");
}
