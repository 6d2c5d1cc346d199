//! The MTU of brouter's bridge lowered by hand (its ports keep 1500): `status` names it,
//! `start` sets it back, and full-size packets cross the bridge again.

use brouter_integration::drift_lab::DriftLab;
use brouter_integration::root_or_skip;

#[test]
fn a_changed_bridge_mtu_is_named_and_set_back() {
    if !root_or_skip("a_changed_bridge_mtu_is_named_and_set_back") {
        return;
    }
    let lab = DriftLab::new("drmtu");
    assert_eq!(lab.bridge()["mtu"], 1500);
    lab.ip(&["link", "set", "dev", "xenbr0", "mtu", "1400"]);
    assert_eq!(lab.bridge()["mtu"], 1400);
    lab.assert_drift_named(&["set xenbr0 mtu 1500"]);
    lab.assert_start_repairs();
    assert_eq!(lab.bridge()["mtu"], 1500);
    assert!(lab.outbound_works(), "web's traffic is forwarded");
}
