//! Xen mode manages one bridge per network-script call, but the firewall is one ruleset:
//! starting a second bridge keeps the first one's zone, in either order.

mod common;

use std::path::Path;

fn brouter(sim: &Path, args: &[&str]) -> String {
    common::stdout(&common::sim_ok(sim, args))
}

#[test]
fn a_second_xen_bridge_keeps_the_first_ones_firewall() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("k.json");
    let zero = ["vifnum=0", "bridgeip=10.1.0.1/24"];
    let one = ["vifnum=1", "bridgeip=10.2.0.1/24"];
    brouter(&sim, &[&["start"][..], &zero].concat());
    brouter(&sim, &[&["start"][..], &one].concat());
    // Both calls now see the same converged host: neither wants to rewrite the tables.
    assert!(brouter(&sim, &[&["plan"][..], &zero].concat()).contains("nothing to do"));
    assert!(brouter(&sim, &[&["plan"][..], &one].concat()).contains("nothing to do"));
    // Stopping one leaves the other bridge in place.
    brouter(&sim, &[&["stop"][..], &one].concat());
    let status = brouter(&sim, &[&["--json", "status"][..], &zero].concat());
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(v["networks"][0]["bridge_state"], "created by brouter");
}

#[test]
fn plan_status_and_stop_without_words_mean_what_start_set_up() {
    // The README's no-root walkthrough, word for word.
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("k.json");
    let started = brouter(&sim, &["start", "bridgeip=10.98.98.1/24", "brnet=10.98.98.0/24"]);
    assert!(
        started.contains("add address 10.98.98.1/24 to xenbr0"),
        "{started}"
    );
    assert!(brouter(&sim, &["plan"]).contains("nothing to do"));
    let status = brouter(&sim, &["status"]);
    assert!(
        status.contains("10.98.98.1/24 (present)") && status.contains("converged"),
        "{status}"
    );
    let stopped = brouter(&sim, &["stop"]);
    assert!(stopped.contains("delete bridge xenbr0"), "{stopped}");
    assert!(brouter(&sim, &["stop"]).contains("nothing to do"));
}

#[test]
fn status_and_explain_with_one_bridges_words_see_every_xen_bridge_of_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("k.json");
    let zero = ["vifnum=0", "bridgeip=10.1.0.1/24"];
    let one = ["vifnum=1", "bridgeip=10.2.0.1/24"];
    brouter(&sim, &[&["start"][..], &zero].concat());
    brouter(&sim, &[&["start"][..], &one].concat());
    // The firewall is one ruleset: the words of xenbr0 describe a host with both zones.
    let status = brouter(&sim, &[&["--json", "status"][..], &zero].concat());
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    let bridges: Vec<&str> = v["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["bridge"].as_str().unwrap())
        .collect();
    assert_eq!(bridges, ["xenbr0", "xenbr1"], "{status}");
    // A VM on xenbr1 is in zone xenbr1, not "external", for explain too.
    let args = [
        "explain",
        "--from",
        "10.2.0.5",
        "--to",
        "10.1.0.7:80",
        "--proto",
        "tcp",
    ];
    let trace = brouter(&sim, &[&args[..], &zero].concat());
    assert!(trace.contains("from zone xenbr1"), "{trace}");
    assert!(trace.contains("no policy for xenbr1 → xenbr0: drop"), "{trace}");
}

/// xend runs `(network-script 'brouter netdev=eth0 bridgeip=…')` as `brouter start …`:
/// words brouter does not use are accepted, as Xen's scripts accept them, with a warning.
#[test]
fn network_script_words_brouter_does_not_use_are_ignored_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let out = common::sim_ok(
        &state,
        &[
            "start",
            "netdev=eth0",
            "bridgeip=10.98.98.1/24",
            "dhcp=yes",
            "brigdeip=10.1.1.1/24",
        ],
    );
    let err = common::stderr(&out);
    assert!(err.contains("netdev=eth0: not used by brouter, ignored"), "{err}");
    assert!(err.contains("dhcp=yes: not used by brouter"), "{err}");
    assert!(err.contains("did you mean `bridgeip`?"), "{err}");
    let kernel = std::fs::read_to_string(&state).unwrap();
    assert!(kernel.contains("10.98.98.1"), "{kernel}");
}
