//! The DNAT maps of the forwards flushed: the forward stops working, the tables keep
//! brouter's fingerprint. `status` names each missing element, `start` puts them back,
//! and the forward works again.

use brouter_integration::drift_lab::DriftLab;
use brouter_integration::root_or_skip;

#[test]
fn a_flushed_dnat_map_is_named_and_the_forward_works_again() {
    if !root_or_skip("a_flushed_dnat_map_is_named_and_the_forward_works_again") {
        return;
    }
    let lab = DriftLab::new("drdnat");
    assert!(lab.forward_works(), "the forward works after start");
    lab.nft(&["flush", "map", "inet", "brouter", "tcp_fwd_addr"]);
    lab.nft(&["flush", "map", "inet", "brouter", "tcp_fwd_port"]);
    assert!(
        !lab.forward_works(),
        "without its map elements the forward is gone"
    );
    // 8080 = 0x1f90 → 10.98.98.10 = 0a62620a; → port 80 = 0x0050.
    lab.assert_drift_named(&[
        "table inet brouter: set tcp_fwd_addr: element 1f90 -> 0a62620a is missing",
        "table inet brouter: set tcp_fwd_port: element 1f90 -> 0050 is missing",
    ]);
    lab.assert_start_repairs();
    assert!(lab.forward_works(), "the forward works again");
}
