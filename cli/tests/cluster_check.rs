//! docs/cluster.md shows what `check` prints for a member of each control mode: those
//! lines are what `check` prints for the fixtures that hold the document's examples.

mod common;

use common::{run, workspace};

/// The `# …` lines of docs/cluster.md's code block that follows `marker`, without the
/// ones the document shortens with `…`.
fn documented(marker: &str) -> Vec<String> {
    let text = std::fs::read_to_string(workspace().join("docs/cluster.md")).unwrap();
    let after = &text[text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} in docs/cluster.md"))..];
    let block = after.split("```").nth(1).expect("a code block after it");
    block
        .lines()
        .filter(|l| l.starts_with("# ") && !l.contains('…'))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_evpn_example_is_what_check_prints() {
    let fixture = workspace().join("fixtures/cluster_evpn.toml");
    let out = run(&["--config", fixture.to_str().unwrap(), "check"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout);
    let lines = documented("leaves it running). `brouter --config … check` shows");
    assert!(lines.len() >= 2, "{lines:?}");
    for line in lines {
        assert!(
            printed.lines().any(|l| l == line),
            "check does not print {line:?}:\n{printed}"
        );
    }
    // The VXLAN lines as far as the document shows them.
    assert!(
        printed.contains("# vxlan vx7152921 (vni 7152921) on br-dmz: local 192.0.2.11, floods to the members FRR learns by BGP EVPN (learning off); "),
        "{printed}"
    );
}
