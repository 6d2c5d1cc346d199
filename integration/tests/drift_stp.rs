//! STP switched on for brouter's bridge (every vif that comes up would then wait in the
//! listening and learning states): `status` names it, `start` switches it off again.

use brouter_integration::drift_lab::DriftLab;
use brouter_integration::root_or_skip;

#[test]
fn stp_switched_on_is_named_and_switched_off() {
    if !root_or_skip("stp_switched_on_is_named_and_switched_off") {
        return;
    }
    let lab = DriftLab::new("drstp");
    lab.ip(&["link", "set", "xenbr0", "type", "bridge", "stp_state", "1"]);
    assert_eq!(lab.bridge()["linkinfo"]["info_data"]["stp_state"], 1);
    lab.assert_drift_named(&["set xenbr0 stp off"]);
    lab.assert_start_repairs();
    let br = lab.bridge();
    assert_eq!(br["linkinfo"]["info_data"]["stp_state"], 0, "{br:#}");
    assert_eq!(br["linkinfo"]["info_data"]["forward_delay"], 0, "{br:#}");
    assert!(lab.outbound_works(), "web's traffic is forwarded");
}
