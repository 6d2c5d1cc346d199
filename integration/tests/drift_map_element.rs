//! One DNAT map element edited (port 8080 now translated to 81, where nothing listens):
//! `status` names the changed element, `start` restores it, the forward works again.

use brouter_integration::drift_lab::DriftLab;
use brouter_integration::root_or_skip;

#[test]
fn an_edited_map_element_is_named_and_restored() {
    if !root_or_skip("an_edited_map_element_is_named_and_restored") {
        return;
    }
    let lab = DriftLab::new("drelem");
    assert!(lab.forward_works(), "the forward works after start");
    lab.nft(&["delete", "element", "inet", "brouter", "tcp_fwd_port", "{ 8080 }"]);
    lab.nft(&[
        "add",
        "element",
        "inet",
        "brouter",
        "tcp_fwd_port",
        "{ 8080 : 81 }",
    ]);
    assert!(
        !lab.forward_works(),
        "the edited element sends the forward elsewhere"
    );
    lab.assert_drift_named(&[
        "table inet brouter: set tcp_fwd_port: element 1f90 -> 0050 was changed to 1f90 -> 0051",
    ]);
    lab.assert_start_repairs();
    assert!(lab.forward_works(), "the forward works again");
}
