//! `nft flush ruleset` (a firewall restart does the same) takes brouter's tables and with
//! them every anti-spoofing binding. `status` says so, and `start` brings the tables back
//! *with* the bindings of the vifs still attached, so the VM cannot spoof afterwards.

use brouter_integration::drift_lab::DriftLab;
use brouter_integration::root_or_skip;

#[test]
fn after_nft_flush_ruleset_start_restores_tables_and_bindings() {
    if !root_or_skip("after_nft_flush_ruleset_start_restores_tables_and_bindings") {
        return;
    }
    let lab = DriftLab::new("drflush");
    lab.assert_spoof_dropped();
    lab.nft(&["flush", "ruleset"]);
    lab.assert_drift_named(&["replace firewall tables inet/bridge brouter"]);
    lab.assert_start_repairs();
    let v = lab.status_json();
    let vif = lab.t.vif(0);
    let port = &v["networks"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["vif"] == vif)
        .cloned()
        .unwrap_or_else(|| panic!("{vif} listed: {v:#}"));
    assert!(port["bound"].is_string(), "{vif} bound again: {v:#}");
    lab.assert_spoof_dropped();
}
