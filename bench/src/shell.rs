//! The per-command shell baseline: one `ip` / `sysctl` / `nft` process per step, the way
//! the seed `network-virtual` script and Xen's `vif-bridge` do the same work.

use std::process::Command;
use std::time::{Duration, Instant};

/// One step of a shell script: a program and its arguments; `may_fail` for the steps
/// the scripts run without checking (the seed's `ip route add` of a route that exists).
pub struct Step {
    pub argv: Vec<String>,
    pub may_fail: bool,
}

fn ip(ns: &str, args: &str) -> Step {
    let mut argv = vec!["ip".to_string(), "-n".into(), ns.into()];
    argv.extend(args.split_whitespace().map(String::from));
    Step {
        argv,
        may_fail: false,
    }
}

fn exec(ns: &str, args: &str) -> Step {
    let mut argv = vec!["ip".to_string(), "netns".into(), "exec".into(), ns.into()];
    argv.extend(args.split_whitespace().map(String::from));
    Step {
        argv,
        may_fail: false,
    }
}

/// The seed script's `op_start` for `bridgeip=10.98.98.1/24 brnet=10.98.98.0/24`, with
/// `rcSuSEfirewall2 start` replaced by one `nft -f` of brouter's own ruleset.
pub fn seed_start(ns: &str, ruleset_file: &str) -> Vec<Step> {
    let mut check = ip(ns, "link show xenbr0");
    check.may_fail = true; // link_exists: absent on a fresh host
    let mut route = ip(ns, "route add to 10.98.98.0/24 dev xenbr0");
    route.may_fail = true; // the kernel already made the prefix route: "File exists"
    vec![
        check,
        ip(ns, "link add xenbr0 type bridge"),
        ip(ns, "link set xenbr0 type bridge stp_state 0"),
        ip(ns, "link set xenbr0 type bridge forward_delay 0"),
        ip(ns, "link set xenbr0 up"),
        ip(ns, "address add dev xenbr0 10.98.98.1/24"),
        ip(ns, "link set xenbr0 up arp on"),
        route,
        exec(ns, "sysctl -q -w net.ipv4.ip_forward=1"),
        exec(ns, &format!("nft -f {ruleset_file}")),
    ]
}

/// `vif-bridge online` for one vif: MAC, MTU, flush, attach, up.
pub fn vif_online(ns: &str, vif: &str, bridge: &str) -> Vec<Step> {
    vec![
        ip(ns, &format!("link set dev {vif} address fe:ff:ff:ff:ff:ff")),
        ip(ns, &format!("link set dev {vif} mtu 1500")),
        ip(ns, &format!("addr flush dev {vif}")),
        ip(ns, &format!("link set dev {vif} master {bridge}")),
        ip(ns, &format!("link set dev {vif} up")),
    ]
}

/// `vif-bridge offline`: detach and down.
pub fn vif_offline(ns: &str, vif: &str) -> Vec<Step> {
    vec![
        ip(ns, &format!("link set dev {vif} nomaster")),
        ip(ns, &format!("link set dev {vif} down")),
    ]
}

/// Run the steps one process after the other; the wall time of the whole script.
pub fn run(steps: &[Step]) -> Duration {
    let t = Instant::now();
    for s in steps {
        let out = Command::new(&s.argv[0])
            .args(&s.argv[1..])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", s.argv.join(" ")));
        if !s.may_fail && !out.status.success() {
            panic!(
                "shell baseline step failed: {}: {}",
                s.argv.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    t.elapsed()
}
