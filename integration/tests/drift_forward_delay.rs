//! The forward delay of brouter's bridge changed: `status` names it, `start` sets it back
//! to 0 (a fresh vif forwards at once).

use brouter_integration::drift_lab::DriftLab;
use brouter_integration::root_or_skip;

#[test]
fn a_changed_forward_delay_is_named_and_set_back() {
    if !root_or_skip("a_changed_forward_delay_is_named_and_set_back") {
        return;
    }
    let lab = DriftLab::new("drfd");
    // iproute2 takes the delay in centiseconds: 5 s.
    lab.ip(&["link", "set", "xenbr0", "type", "bridge", "forward_delay", "500"]);
    assert_eq!(lab.bridge()["linkinfo"]["info_data"]["forward_delay"], 500);
    lab.assert_drift_named(&["set xenbr0 forward delay 0s"]);
    lab.assert_start_repairs();
    let br = lab.bridge();
    assert_eq!(br["linkinfo"]["info_data"]["forward_delay"], 0, "{br:#}");
    assert!(lab.outbound_works(), "web's traffic is forwarded");
}
