//! `-v` tells on stderr what `start` did, step by step with the time each took; without
//! it stderr stays empty (xl and config-management runs read stdout and the exit code).

mod common;

use std::path::Path;
use std::process::Output;

fn brouter(sim: &Path, args: &[&str]) -> Output {
    common::sim_ok(sim, args)
}

#[test]
fn v_lists_each_applied_step_with_its_time_and_vv_adds_what_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("k.json");
    let quiet = brouter(&sim, &["--json", "plan", "bridgeip=10.98.98.1/24"]);
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );

    let out = brouter(&sim, &["-v", "--json", "start", "bridgeip=10.98.98.1/24"]);
    let err = String::from_utf8_lossy(&out.stderr);
    let steps: Vec<&str> = err.lines().filter(|l| l.starts_with("step ")).collect();
    assert!(steps.len() >= 5, "{err}");
    assert!(
        steps
            .iter()
            .any(|l| l.contains("/") && l.contains("create bridge xenbr0") && l.ends_with(" ms)")),
        "{err}"
    );
    assert!(!err.contains("read the kernel"), "-v alone: {err}");
    // stdout is still the JSON answer.
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["changed"], true);

    let out = brouter(&sim, &["-vv", "stop", "bridgeip=10.98.98.1/24"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("read the kernel: "), "{err}");
    assert!(err.contains("delete bridge xenbr0"), "{err}");
}
