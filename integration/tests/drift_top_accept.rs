//! An `accept` inserted at the top of brouter's anti-spoofing chain lets a VM spoof while
//! the fingerprint comment still says "brouter's ruleset": `status` names the rule,
//! `start` removes it, and the spoofed packet is dropped again.

use brouter_integration::drift_lab::DriftLab;
use brouter_integration::root_or_skip;

#[test]
fn an_accept_inserted_at_the_top_of_a_chain_is_named_and_removed() {
    if !root_or_skip("an_accept_inserted_at_the_top_of_a_chain_is_named_and_removed") {
        return;
    }
    let lab = DriftLab::new("drtop");
    lab.assert_spoof_dropped();
    lab.nft(&["insert", "rule", "bridge", "brouter", "antispoof", "accept"]);
    assert!(
        lab.spoof_passes(brouter_integration::probe::DEADLINE),
        "the inserted accept lets the spoof through"
    );
    lab.assert_drift_named(&["table bridge brouter: chain antispoof: rule 1 (accept) was added"]);
    lab.assert_start_repairs();
    lab.assert_spoof_dropped();
}
