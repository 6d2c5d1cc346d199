//! `vif online` checks all its input before anything changes, and does not guess: a bad
//! MAC is exit 2 with nothing applied; without a bridge it needs exactly one network; an
//! antispoof network refuses a MAC no `[[host]]` of it declares, naming the entry that
//! would fix it.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{brouter, sim_ok, stderr, workspace};

fn isp() -> String {
    workspace().join("fixtures/isp.toml").display().to_string()
}

/// `brouter --sim STATE vif online --vif VIF ARGS` as xl would run it, without Xen.
fn online(state: &Path, config: Option<&str>, vif: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(brouter());
    cmd.arg("--sim").arg(state);
    if let Some(c) = config {
        cmd.args(["--config", c]);
    }
    cmd.args(["vif", "online", "--vif", vif])
        .args(args)
        .env("BROUTER_STATE_DIR", state.parent().unwrap())
        .env_remove("XENBUS_PATH")
        .env_remove("bridge")
        .env_remove("vif")
        .env_remove("ip");
    cmd.output().unwrap()
}

/// A fresh domU end `vif` (down, unattached) in the simulator's kernel.
fn add_vif(state: &Path, vif: &str) {
    let mut k: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap();
    k["links"][vif] = serde_json::json!({"name": vif, "kind": "veth", "up": false, "mtu": 1500});
    std::fs::write(state, k.to_string()).unwrap();
}

fn started_isp(dir: &Path) -> std::path::PathBuf {
    let state = dir.join("state.json");
    sim_ok(&state, &["--config", &isp(), "start"]);
    add_vif(&state, "vif7.0");
    state
}

/// Refused with exit 2, the message containing every one of `words`, nothing changed.
fn refused(state: &Path, out: &Output, before: &str, words: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for w in words {
        assert!(err.contains(w), "{w:?} not in: {err}");
    }
    assert_eq!(
        std::fs::read_to_string(state).unwrap(),
        before,
        "something was applied"
    );
}

#[test]
fn a_bad_mac_is_refused_before_anything_changes() {
    let dir = tempfile::tempdir().unwrap();
    let state = started_isp(dir.path());
    let before = std::fs::read_to_string(&state).unwrap();
    let out = online(
        &state,
        Some(&isp()),
        "vif7.0",
        &["--bridge", "br-dmz", "--mac", "aa:cc:00:00:01"],
    );
    refused(&state, &out, &before, &["not a MAC address"]);
}

#[test]
fn without_a_bridge_several_networks_are_a_question_not_a_guess() {
    let dir = tempfile::tempdir().unwrap();
    let state = started_isp(dir.path());
    let before = std::fs::read_to_string(&state).unwrap();
    let out = online(&state, Some(&isp()), "vif7.0", &[]);
    refused(
        &state,
        &out,
        &before,
        &["br-dmz", "br-hosting", "br-data", "bridge="],
    );
    // A declared MAC names its network: no question then.
    let out = online(&state, Some(&isp()), "vif7.0", &["--mac", "AA:CC:00:00:02:01"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        common::stdout(&out).contains("attached to br-hosting"),
        "{}",
        common::stdout(&out)
    );
}

#[test]
fn without_a_config_several_xen_bridges_are_a_question_too() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    sim_ok(&state, &["start", "vifnum=0", "bridgeip=198.51.100.1/24"]);
    sim_ok(&state, &["start", "vifnum=1", "bridgeip=203.0.113.1/24"]);
    add_vif(&state, "vif7.0");
    let before = std::fs::read_to_string(&state).unwrap();
    let out = online(&state, None, "vif7.0", &[]);
    refused(&state, &out, &before, &["xenbr0", "xenbr1"]);
    let out = online(&state, None, "vif7.0", &["--bridge", "xenbr1"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn an_antispoof_network_refuses_an_unknown_or_misplaced_mac() {
    let dir = tempfile::tempdir().unwrap();
    let state = started_isp(dir.path());
    let before = std::fs::read_to_string(&state).unwrap();
    let unknown = online(
        &state,
        Some(&isp()),
        "vif7.0",
        &["--bridge", "br-dmz", "--mac", "aa:cc:00:00:09:09"],
    );
    refused(
        &state,
        &unknown,
        &before,
        &["[[host]]", "network = \"dmz\"", "mac = \"aa:cc:00:00:09:09\""],
    );
    // app1's MAC belongs to hosting.
    let misplaced = online(
        &state,
        Some(&isp()),
        "vif7.0",
        &["--bridge", "br-dmz", "--mac", "aa:cc:00:00:02:01"],
    );
    refused(
        &state,
        &misplaced,
        &before,
        &["[[host]] app1", "hosting", "br-hosting"],
    );
    // web1's MAC on dmz is what the config says.
    let ok = online(
        &state,
        Some(&isp()),
        "vif7.0",
        &["--bridge", "br-dmz", "--mac", "aa:cc:00:00:01:01"],
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
}

/// Edit the simulator's kernel (a link, an address) as a foreign script would.
fn edit(state: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut k: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap();
    f(&mut k);
    std::fs::write(state, k.to_string()).unwrap();
}

#[test]
fn host_interfaces_bridges_and_foreign_ports_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let state = started_isp(dir.path());
    edit(&state, |k| {
        k["links"]["eth0"] = serde_json::json!({"name": "eth0", "kind": "veth", "up": true, "mtu": 1500});
        k["links"]["docker0"] =
            serde_json::json!({"name": "docker0", "kind": "bridge", "up": true, "mtu": 1500});
        k["links"]["vif8.0"] = serde_json::json!({"name": "vif8.0", "kind": "veth", "up": true, "mtu": 1500, "master": "docker0"});
        k["links"]["eth1"] = serde_json::json!({"name": "eth1", "kind": "veth", "up": false, "mtu": 1500});
        let addrs = k["addresses"].as_array_mut().unwrap();
        addrs.push(serde_json::json!({"link": "eth0", "addr": "192.0.2.2/24", "owned": false, "noprefixroute": false}));
        addrs.push(serde_json::json!({"link": "eth1", "addr": "10.200.0.1/24", "owned": false, "noprefixroute": false}));
    });
    let before = std::fs::read_to_string(&state).unwrap();
    let web1 = ["--bridge", "br-dmz", "--mac", "aa:cc:00:00:01:01"];
    for (vif, words) in [
        ("eth0", &["uplink", "[uplink] interface"][..]),
        ("br-hosting", &["brouter's bridge for network hosting"][..]),
        ("docker0", &["is a bridge"][..]),
        (
            "vif8.0",
            &["port of docker0", "not one of this configuration's"][..],
        ),
        ("eth1", &["carries the address 10.200.0.1/24"][..]),
    ] {
        let out = online(&state, Some(&isp()), vif, &web1);
        refused(&state, &out, &before, words);
    }
}

#[test]
fn status_names_an_unbound_port_on_an_antispoof_bridge_and_is_not_converged() {
    let dir = tempfile::tempdir().unwrap();
    let state = started_isp(dir.path());
    let status = |json: bool| {
        let mut args = vec!["--config".to_string(), isp()];
        if json {
            args.push("--json".into());
        }
        args.push("status".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::sim_run(&state, &args)
    };
    assert_eq!(
        status(false).status.code(),
        Some(0),
        "{}",
        common::stdout(&status(false))
    );
    // A foreign script enslaves a vif without `vif online`: nothing fences it yet.
    edit(&state, |k| {
        k["links"]["vif7.0"]["master"] = serde_json::json!("br-dmz");
        k["links"]["vif7.0"]["up"] = serde_json::json!(true);
        k["links"]["vif7.0"]["port_state"] = serde_json::json!("forwarding");
    });
    let text = status(false);
    assert_eq!(text.status.code(), Some(3), "{}", common::stdout(&text));
    let said = common::stdout(&text);
    assert!(
        said.contains(
            "EXPOSED: port vif7.0 of anti-spoofing bridge br-dmz has no binding and is not disabled"
        ),
        "{said}"
    );
    assert!(said.contains("block port vif7.0 of br-dmz"), "{said}");
    let json: serde_json::Value = serde_json::from_slice(&status(true).stdout).unwrap();
    assert_eq!(json["converged"], false);
    assert_eq!(
        json["ports_at_risk"],
        serde_json::json!([{"port": "vif7.0", "bridge": "br-dmz", "problem": "unbound"}])
    );
    // `start` disables it: converged, the port listed as blocked; a second start does nothing.
    sim_ok(&state, &["--config", &isp(), "start"]);
    let text = status(false);
    assert_eq!(text.status.code(), Some(0), "{}", common::stdout(&text));
    assert!(
        common::stdout(&text).contains("blocked: port vif7.0 of anti-spoofing bridge br-dmz"),
        "{}",
        common::stdout(&text)
    );
    let json: serde_json::Value = serde_json::from_slice(&status(true).stdout).unwrap();
    assert_eq!(json["ports_at_risk"][0]["problem"], "unbound_blocked");
    let plan = common::sim_run(&state, &["--config", &isp(), "plan"]);
    assert!(
        common::stdout(&plan).contains("nothing to do"),
        "{}",
        common::stdout(&plan)
    );
    // Bound by the hook: fenced, opened, converged again.
    let ok = online(
        &state,
        Some(&isp()),
        "vif7.0",
        &["--bridge", "br-dmz", "--mac", "aa:cc:00:00:01:01"],
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert_eq!(
        status(false).status.code(),
        Some(0),
        "{}",
        common::stdout(&status(false))
    );
    let k: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(k["links"]["vif7.0"]["port_state"], "forwarding");
    assert!(
        k["memory"].get("port-blocked:vif7.0").is_none(),
        "{}",
        k["memory"]
    );
}
