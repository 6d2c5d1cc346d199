//! What brouter owns is found by its marks, not only by a configuration: `stop` works
//! when the config became invalid or is gone (systemctl stop is never blocked), `status`
//! without `--config` names every brouter-owned object and what it compared against,
//! and `status` of one Xen bridge reports no drift of another.

mod common;

use std::path::Path;

use common::{sim_ok, sim_run, stderr, stdout, workspace};

/// A started isp.toml in a fresh simulator; the state file and a copy of the config.
fn started(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let state = dir.join("state.json");
    let config = dir.join("brouter.toml");
    std::fs::copy(workspace().join("fixtures/isp.toml"), &config).unwrap();
    sim_ok(&state, &["--config", config.to_str().unwrap(), "start"]);
    (state, config)
}

#[test]
fn stop_with_an_invalid_config_removes_everything_brouter_owns_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (state, config) = started(dir.path());
    std::fs::write(&config, "[[network]]\nname = \"dmz\"\nbridge = 7\n").unwrap();
    let out = sim_run(&state, &["--config", config.to_str().unwrap(), "stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("ownership marks"), "{}", stderr(&out));
    assert!(stdout(&out).contains("applied"), "{}", stdout(&out));
    let again = sim_ok(&state, &["stop"]);
    assert!(
        stdout(&again).contains("brouter owns nothing here"),
        "{}",
        stdout(&again)
    );
}

#[test]
fn stop_with_a_missing_config_file_removes_everything_brouter_owns() {
    let dir = tempfile::tempdir().unwrap();
    let (state, config) = started(dir.path());
    std::fs::remove_file(&config).unwrap();
    let out = sim_run(&state, &["--config", config.to_str().unwrap(), "stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot read the config file"),
        "{}",
        stderr(&out)
    );
    let status = sim_run(&state, &["--json", "status"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["owned"], serde_json::json!([]), "{v}");
}

#[test]
fn status_without_config_lists_every_owned_object_and_what_it_compared_against() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _) = started(dir.path());
    let out = sim_run(&state, &["status"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("compared against the seed defaults"), "{text}");
    for bridge in ["br-dmz", "br-hosting", "br-data"] {
        assert!(
            text.contains(&format!("not in this config: bridge {bridge}")),
            "{text}"
        );
    }
    let json = sim_run(&state, &["--json", "status"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let owned = v["owned"].as_array().unwrap();
    assert!(
        owned
            .iter()
            .any(|o| o["name"] == "br-dmz" && o["network"] == "dmz" && o["in_config"] == false),
        "{v}"
    );
    assert!(owned.iter().any(|o| o["kind"] == "firewall"), "{v}");
    assert!(
        v["compared_with"].as_str().unwrap().contains("seed defaults"),
        "{v}"
    );
}

#[test]
fn status_of_one_xen_bridge_reports_no_drift_of_another() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    sim_ok(&state, &["start", "vifnum=0", "bridgeip=198.51.100.1/24"]);
    sim_ok(&state, &["start", "vifnum=1", "bridgeip=203.0.113.1/24"]);
    // xenbr0 drifts: someone took it down.
    let mut kernel: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    kernel["links"]["xenbr0"]["up"] = false.into();
    std::fs::write(&state, kernel.to_string()).unwrap();

    let one = sim_run(&state, &["status", "vifnum=1", "bridgeip=203.0.113.1/24"]);
    assert_eq!(one.status.code(), Some(0), "{}", stdout(&one));
    assert!(!stdout(&one).contains("set xenbr0 up"), "{}", stdout(&one));
    assert!(stdout(&one).contains("converged"), "{}", stdout(&one));
    let all = sim_run(&state, &["status"]);
    assert_eq!(all.status.code(), Some(3), "{}", stdout(&all));
    assert!(stdout(&all).contains("set xenbr0 up"), "{}", stdout(&all));
}

#[test]
fn stop_without_any_config_removes_what_a_config_start_made() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _) = started(dir.path());
    // No --config, no words, no default file: the config is gone.
    let out = sim_run(&state, &["stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("ownership marks"), "{}", stderr(&out));
    assert!(stdout(&out).contains("delete bridge br-dmz"), "{}", stdout(&out));
    let v: serde_json::Value =
        serde_json::from_slice(&sim_run(&state, &["--json", "status"]).stdout).unwrap();
    assert_eq!(v["owned"], serde_json::json!([]), "{v}");
}
