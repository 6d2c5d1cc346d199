//! A table that is called `inet brouter` but is not brouter's (no fingerprint mark) is
//! refused with a message that says what to do, and survives `start`, `status` and
//! `stop` bit for bit.

use brouter_integration::drift_lab::DriftLab;
use brouter_integration::root_or_skip;

#[test]
fn a_foreign_table_named_like_brouters_is_refused_and_never_replaced() {
    if !root_or_skip("a_foreign_table_named_like_brouters_is_refused_and_never_replaced") {
        return;
    }
    let lab = DriftLab::new("drforeign");
    lab.nft(&["delete", "table", "inet", "brouter"]);
    lab.nft(&["add", "table", "inet", "brouter"]);
    lab.nft(&["add", "chain", "inet", "brouter", "theirs"]);
    lab.nft(&[
        "add",
        "rule",
        "inet",
        "brouter",
        "theirs",
        "counter",
        "accept",
        "comment",
        "\"somebody else's\"",
    ]);
    let listing = || {
        String::from_utf8_lossy(
            &lab.dom0()
                .exec("nft", &["list", "table", "inet", "brouter"])
                .stdout,
        )
        .into_owned()
    };
    let before = listing();

    let out = lab.brouter(&["start"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "start must refuse");
    assert!(
        err.contains("table inet brouter exists but is not brouter's")
            && err.contains("nft delete table inet brouter"),
        "{err}"
    );
    assert_eq!(listing(), before, "the foreign table is untouched by start");

    let st = lab.brouter(&["status"]);
    let text = String::from_utf8_lossy(&st.stdout);
    assert_eq!(st.status.code(), Some(3), "{text}");
    assert!(
        text.contains("conflict: table inet brouter exists but is not brouter's"),
        "{text}"
    );

    lab.ok(&["stop"]);
    assert_eq!(listing(), before, "the foreign table survives stop");
}
