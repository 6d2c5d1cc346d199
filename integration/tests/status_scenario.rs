//! `brouter status` on a real kernel: it says when someone changed what brouter set up,
//! and warns about what other tools do that silently breaks VM networking.

use std::process::{Command, Output};

use brouter_integration::binary::brouter_bin;
use brouter_integration::{root_or_skip, Netns};

const SEED: &[&str] = &["bridgeip=10.98.98.1/24", "brnet=10.98.98.0/24"];

fn brouter(ns: &Netns, state: &std::path::Path, args: &[&str]) -> Output {
    Command::new(brouter_bin())
        .args(["--netns", ns.name()])
        .args(args)
        .env("BROUTER_STATE_DIR", state)
        .output()
        .expect("run brouter")
}

fn status(ns: &Netns, state: &std::path::Path) -> (i32, String) {
    let out = brouter(ns, state, &[&["status"], SEED].concat());
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn status_reports_drift_and_warns_about_a_foreign_drop_policy() {
    if !root_or_skip("status_reports_drift_and_warns_about_a_foreign_drop_policy") {
        return;
    }
    let ns = Netns::new("status");
    let state = std::env::temp_dir().join(format!("brouter-status-{}", std::process::id()));
    std::fs::create_dir_all(&state).unwrap();

    let (code, out) = status(&ns, &state);
    assert_eq!(code, 3, "not started yet is 'drifted':\n{out}");
    assert!(brouter(&ns, &state, &[&["start"], SEED].concat())
        .status
        .success());
    let (code, out) = status(&ns, &state);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("converged"), "{out}");

    // Someone deletes the bridge address.
    ns.ip(&["addr", "del", "10.98.98.1/24", "dev", "xenbr0"]);
    let (code, out) = status(&ns, &state);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("address  10.98.98.1/24 (MISSING)"), "{out}");
    assert!(out.contains("add address 10.98.98.1/24 to xenbr0"), "{out}");
    assert!(brouter(&ns, &state, &[&["start"], SEED].concat())
        .status
        .success());
    assert_eq!(status(&ns, &state).0, 0);

    // Someone flushes the whole ruleset (a firewall restart does this).
    assert!(ns.exec("nft", &["flush", "ruleset"]).status.success());
    let (code, out) = status(&ns, &state);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("tables are gone"), "{out}");
    assert!(out.contains("replace firewall tables"), "{out}");
    assert!(brouter(&ns, &state, &[&["start"], SEED].concat())
        .status
        .success());

    // Another tool's forward chain drops by policy (as Docker's does).
    let rules =
        "table ip filter {\n chain FORWARD {\n  type filter hook forward priority 0; policy drop;\n }\n}\n";
    let f = state.join("foreign.nft");
    std::fs::write(&f, rules).unwrap();
    assert!(ns.exec("nft", &["-f", f.to_str().unwrap()]).status.success());
    let (code, out) = status(&ns, &state);
    assert_eq!(code, 0, "brouter's own state is converged:\n{out}");
    assert!(
        out.contains("WARNING: table ip filter, chain FORWARD: policy drop"),
        "{out}"
    );

    let json = brouter(&ns, &state, &[&["--json", "status"], SEED].concat());
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["converged"], true);
    assert!(v["warnings"][0].as_str().unwrap().contains("policy drop"));

    // Another table's forward chain accepts by policy but holds a drop rule.
    let rules = "table inet guard {\n chain filter_fwd {\n  type filter hook forward priority 0; policy accept;\n  tcp dport 23 drop\n }\n}\n";
    std::fs::write(&f, rules).unwrap();
    assert!(ns.exec("nft", &["-f", f.to_str().unwrap()]).status.success());
    let (code, out) = status(&ns, &state);
    assert_eq!(code, 0, "brouter's own state is converged:\n{out}");
    assert!(
        out.contains("WARNING: table inet guard, chain filter_fwd: drop rules"),
        "{out}"
    );
    assert!(
        out.contains("WARNING: table ip filter, chain FORWARD: policy drop"),
        "{out}"
    );
    assert!(brouter(&ns, &state, &[&["stop"], SEED].concat()).status.success());
    let _ = std::fs::remove_dir_all(&state);
}
