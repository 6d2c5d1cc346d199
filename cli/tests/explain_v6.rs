//! `brouter explain` of IPv6 flows, on the dual-stack fixture in the simulator (no root):
//! `-6` resolves a host name and `uplink` to IPv6, `[addr]:port` names an IPv6 port, the
//! uplink's observed IPv6 address is what masqueraded traffic leaves with.

mod common;

use std::path::{Path, PathBuf};

use common::{sim_ok, sim_run, stderr, stdout, workspace};

/// The uplink's IPv6 address the test gives the simulated eth0.
const UPLINK6: &str = "2001:db8:fe::2";

/// A simulated dom0 started with fixtures/dualstack.toml whose uplink eth0 also has an
/// IPv6 address: the state file and the config.
fn dualstack_dom0(dir: &Path) -> (PathBuf, String) {
    let state = dir.join("state.json");
    let config = workspace().join("fixtures/dualstack.toml");
    let c = config.to_str().unwrap().to_string();
    sim_ok(&state, &["--config", &c, "start"]);
    let mut kernel: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    kernel["addresses6"]
        .as_array_mut()
        .expect("the sim keeps IPv6 addresses")
        .push(serde_json::json!({"link": "eth0", "addr": format!("{UPLINK6}/64"), "owned": false}));
    std::fs::write(&state, kernel.to_string()).unwrap();
    (state, c)
}

#[test]
fn an_ipv6_forward_by_host_name_and_uplink6_reaches_the_hosts_ipv6_address() {
    let dir = tempfile::tempdir().unwrap();
    let (state, c) = dualstack_dom0(dir.path());
    for args in [
        &["explain", "--from", "external", "--to", "uplink6:80"][..],
        &["explain", "-6", "--from", "external", "--to", "uplink:80"][..],
    ] {
        let out = sim_ok(&state, &[&["--config", &c][..], args].concat());
        let trace = stdout(&out);
        assert!(
            trace.contains("verdict: ACCEPT — arrives in dmz at [fd00:1::10]:80"),
            "{args:?}: {trace}"
        );
    }
    // `-6 --to web1:80` is web1's IPv6 address.
    let out = sim_ok(
        &state,
        &[
            "--config", &c, "explain", "-6", "--from", "lan", "--to", "web1:80",
        ],
    );
    assert!(
        stdout(&out).contains("arrives in dmz at [fd00:1::10]:80"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_unique_local_vm_leaves_as_the_uplinks_observed_ipv6_address() {
    let dir = tempfile::tempdir().unwrap();
    let (state, c) = dualstack_dom0(dir.path());
    let out = sim_ok(
        &state,
        &[
            "--config",
            &c,
            "--json",
            "explain",
            "--from",
            "dmz",
            "--to",
            "[2001:db8:ffff::1]:443",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verdict"], "accept", "{v}");
    assert_eq!(
        v["flow"]["to"],
        serde_json::json!({"ip": "2001:db8:ffff::1"}),
        "{v}"
    );
    assert_eq!(
        v["delivered"]["source"],
        serde_json::json!({"ip": UPLINK6}),
        "{v}"
    );
    assert_eq!(v["delivered"]["zone"], "external", "{v}");
}

#[test]
fn an_ipv6_flow_with_an_ipv4_address_or_an_unbracketed_port_is_bad_usage() {
    let dir = tempfile::tempdir().unwrap();
    let (state, c) = dualstack_dom0(dir.path());
    let bad = [
        (&["-6", "--to", "10.1.0.10:80"][..], "-6 asks for an IPv6 flow"),
        (&["--to", "fd00:1::10:80"][..], "[fd00:1::10]:80"),
        (&["--to", "[fd00:1::10:80"][..], "no closing ']'"),
    ];
    for (args, says) in bad {
        let out = sim_run(
            &state,
            &[&["--config", &c, "explain", "--from", "lan"][..], args].concat(),
        );
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
}
