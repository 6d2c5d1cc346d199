//! The uplink is part of the state: a missing or down uplink is reported by `plan` and
//! `start` (a warning), `status` (not converged, exit 3) and `explain` (a flow from
//! external cannot arrive).

mod common;

use std::path::{Path, PathBuf};

use common::{sim_run, stderr, stdout, workspace};

/// isp.toml with its uplink renamed to `uplink`, in `dir`.
fn config_with_uplink(dir: &Path, uplink: &str) -> PathBuf {
    let text = std::fs::read_to_string(workspace().join("fixtures/isp.toml")).unwrap();
    assert!(text.contains("interface = \"eth0\""));
    let path = dir.join("brouter.toml");
    std::fs::write(
        &path,
        text.replace("interface = \"eth0\"", &format!("interface = \"{uplink}\"")),
    )
    .unwrap();
    path
}

const EXPLAIN: [&str; 5] = ["explain", "--from", "external", "--to", "uplink:8080"];

#[test]
fn a_missing_uplink_is_reported_by_plan_start_status_and_explain() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let config = config_with_uplink(dir.path(), "eth9");
    let c = config.to_str().unwrap();

    let plan = sim_run(&state, &["--config", c, "plan"]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    assert!(
        stderr(&plan).contains("warning: the uplink eth9 does not exist"),
        "{}",
        stderr(&plan)
    );
    let plan = sim_run(&state, &["--config", c, "--json", "plan"]);
    let v: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert!(v["warnings"][0].as_str().unwrap().contains("eth9"), "{v}");

    let start = sim_run(&state, &["--config", c, "start"]);
    assert!(start.status.success(), "{}", stderr(&start));
    assert!(
        stderr(&start).contains("warning: the uplink eth9 does not exist"),
        "{}",
        stderr(&start)
    );
    // Converged otherwise, answered from the cached compile: still warned.
    let again = sim_run(&state, &["--config", c, "start"]);
    assert!(
        stderr(&again).contains("eth9 does not exist"),
        "{}",
        stderr(&again)
    );

    let status = sim_run(&state, &["--config", c, "status"]);
    assert_eq!(status.status.code(), Some(3), "{}", stdout(&status));
    assert!(
        stdout(&status).contains("uplink eth9 MISSING"),
        "{}",
        stdout(&status)
    );
    let status = sim_run(&state, &["--config", c, "--json", "status"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["converged"], false, "{v}");
    assert_eq!(v["uplink"]["interface"], "eth9", "{v}");
    assert_eq!(v["uplink"]["present"], false, "{v}");

    let explain = sim_run(&state, &[&["--config", c, "--json"][..], &EXPLAIN].concat());
    let v: serde_json::Value = serde_json::from_slice(&explain.stdout).unwrap();
    assert_eq!(v["verdict"], "drop", "{v}");
    assert!(
        v["steps"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("cannot arrive"),
        "{v}"
    );
}

#[test]
fn a_down_uplink_is_not_converged_and_nothing_arrives_from_external() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let isp = workspace().join("fixtures/isp.toml");
    let c = isp.to_str().unwrap();
    assert!(sim_run(&state, &["--config", c, "start"]).status.success());
    let before = sim_run(&state, &[&["--config", c][..], &EXPLAIN].concat());
    assert!(stdout(&before).contains("verdict: ACCEPT"), "{}", stdout(&before));
    assert_eq!(sim_run(&state, &["--config", c, "status"]).status.code(), Some(0));

    let mut kernel: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    kernel["links"]["eth0"]["up"] = false.into();
    std::fs::write(&state, kernel.to_string()).unwrap();

    let status = sim_run(&state, &["--config", c, "status"]);
    assert_eq!(status.status.code(), Some(3), "{}", stdout(&status));
    assert!(
        stdout(&status).contains("the uplink eth0 is down"),
        "{}",
        stdout(&status)
    );
    let after = sim_run(&state, &[&["--config", c][..], &EXPLAIN].concat());
    assert!(stdout(&after).contains("cannot arrive"), "{}", stdout(&after));
    assert!(stdout(&after).contains("verdict: DROP"), "{}", stdout(&after));
    let plan = sim_run(&state, &["--config", c, "plan"]);
    assert!(stderr(&plan).contains("eth0 is down"), "{}", stderr(&plan));
}
