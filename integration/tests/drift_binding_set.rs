//! The anti-spoofing binding sets flushed (`nft flush set`): the VM is unbound while the
//! tables look like brouter's. `status` names the lost binding, `start` binds the vif
//! again from brouter's memory, and the spoofed packet is dropped again.

use brouter_integration::drift_lab::DriftLab;
use brouter_integration::root_or_skip;

#[test]
fn a_flushed_binding_set_is_named_and_the_binding_restored() {
    if !root_or_skip("a_flushed_binding_set_is_named_and_the_binding_restored") {
        return;
    }
    let lab = DriftLab::new("drbind");
    lab.assert_spoof_dropped();
    for set in ["ports", "mac_bind", "ip_host", "ip_bind"] {
        lab.nft(&["flush", "set", "bridge", "brouter", set]);
    }
    let vif = lab.t.vif(0).to_string();
    lab.assert_drift_named(&[&format!("bind {vif} to mac aa:cc:00:00:00:01 and 10.98.98.10")]);
    lab.assert_start_repairs();
    lab.assert_spoof_dropped();
}
