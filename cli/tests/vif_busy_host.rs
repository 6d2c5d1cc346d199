//! `brouter vif online|offline` on a busy dom0: with 200 other vifs attached and bound,
//! the hotplug hook reads only the links it names, and still attaches, flushes, binds and
//! raises the new vif exactly as on an empty host — and touches no other vif.

mod common;

use std::process::Command;

use brouter_backends::firewall;
use brouter_integration::{root_or_skip, Netns};
use common::{brouter, stderr, stdout};

const OTHERS: usize = 200;

fn run(ns: &Netns, state: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(brouter())
        .args(["--netns", ns.name()])
        .args(args)
        .env("BROUTER_STATE_DIR", state)
        .output()
        .unwrap();
    assert!(out.status.success(), "brouter {args:?}: {}", stderr(&out));
    stdout(&out)
}

fn online(ns: &Netns, state: &std::path::Path, vif: &str, mac: &str, ip: &str) -> String {
    run(
        ns,
        state,
        &[
            "vif",
            "online",
            "type_if=vif",
            "--vif",
            vif,
            "--bridge",
            "xenbr0",
            "--mac",
            mac,
            "--ip",
            ip,
        ],
    )
}

/// The ports of xenbr0 that are up, as `ip` lists them.
fn ports_up(ns: &Netns) -> Vec<String> {
    ns.ip(&["-o", "link", "show", "master", "xenbr0", "up"])
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

#[test]
fn vif_online_and_offline_work_with_two_hundred_other_vifs_attached() {
    if !root_or_skip("vif_online_and_offline_work_with_two_hundred_other_vifs_attached") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path();
    let ns = Netns::new("vifbusy");
    run(&ns, state, &["start", "bridgeip=10.98.96.1/22", "antispoof=yes"]);
    let lines: Vec<String> = (1..=OTHERS + 1)
        .map(|i| format!("link add vif{i}.0 type veth peer name peer{i}"))
        .collect();
    ns.ip_batch(&lines);
    for i in 1..=OTHERS {
        let mac = format!("aa:cc:00:00:{:02x}:{:02x}", i / 256, i % 256);
        let ip = format!("10.98.97.{i}");
        online(&ns, state, &format!("vif{i}.0"), &mac, &ip);
    }
    assert_eq!(ports_up(&ns).len(), OTHERS);

    let new = format!("vif{}.0", OTHERS + 1);
    ns.ip(&["addr", "add", "169.254.9.9/16", "dev", &new]);
    let said = online(&ns, state, &new, "AA:CC:00:00:09:09", "10.98.98.9");
    assert_eq!(said.trim(), format!("{new} attached to xenbr0"));

    let link: serde_json::Value = serde_json::from_str(&ns.ip(&["-j", "addr", "show", "dev", &new])).unwrap();
    let link = &link[0];
    assert_eq!(link["master"], "xenbr0");
    assert_eq!(link["address"], "fe:ff:ff:ff:ff:ff", "vif-bridge's MAC");
    assert!(
        link["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
        "{link}"
    );
    assert!(
        link["addr_info"].as_array().unwrap().is_empty(),
        "the stray address is flushed: {link}"
    );
    let bindings = firewall::read_bindings_nft(&ns.target()).unwrap();
    assert_eq!(bindings.len(), OTHERS + 1, "every other vif stays bound");
    let ours = bindings
        .iter()
        .find(|b| b.vif == new)
        .expect("the new vif is bound");
    assert_eq!(ours.mac, "aa:cc:00:00:09:09");
    assert_eq!(ours.addrs, vec!["10.98.98.9/32".parse::<ipnet::IpNet>().unwrap()]);
    assert_eq!(ports_up(&ns).len(), OTHERS + 1);

    let said = run(&ns, state, &["vif", "offline", "type_if=vif", "--vif", &new]);
    assert_eq!(said.trim(), format!("{new} detached from xenbr0"));
    let ports = ports_up(&ns);
    assert_eq!(ports.len(), OTHERS, "only the offlined vif left the bridge");
    assert!(!ports.contains(&new));
    let bindings = firewall::read_bindings_nft(&ns.target()).unwrap();
    assert_eq!(bindings.len(), OTHERS);
    assert!(bindings.iter().all(|b| b.vif != new), "its binding is gone");
}
