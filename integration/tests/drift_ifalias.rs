//! brouter's bridge lost its mark (`ifalias brouter:<network>`): it is still recognised
//! as brouter's (its link group), `status` names the missing mark, `start` writes it
//! again, and `stop` still removes the bridge.

use brouter_integration::drift_lab::DriftLab;
use brouter_integration::root_or_skip;

#[test]
fn a_cleared_ifalias_is_named_and_written_again() {
    if !root_or_skip("a_cleared_ifalias_is_named_and_written_again") {
        return;
    }
    let lab = DriftLab::new("dralias");
    assert_eq!(lab.bridge()["ifalias"], "brouter:dmz");
    lab.ip(&["link", "set", "dev", "xenbr0", "alias", ""]);
    assert!(lab.bridge()["ifalias"].is_null(), "{:#}", lab.bridge());
    lab.assert_drift_named(&["mark xenbr0 as brouter's again (alias brouter:dmz)"]);
    lab.assert_start_repairs();
    assert_eq!(lab.bridge()["ifalias"], "brouter:dmz");
    lab.ok(&["stop"]);
    let left = lab.dom0().ip(&["-j", "link", "show"]);
    assert!(!left.contains("xenbr0"), "stop removed brouter's bridge: {left}");
}
