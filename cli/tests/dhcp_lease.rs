//! A DHCP lease as an anti-spoofing binding, driven as dnsmasq drives it (`brouter
//! dhcp-lease add|old|del MAC IP`, `DNSMASQ_INTERFACE` in the environment) against the
//! simulator: a VM on an anti-spoofing network with `dhcp = true` that no `[[host]]`
//! address pins may send only its DHCP discover until it holds a lease, then only from
//! the leased address, and nothing again once the lease ends; a pinned VM is untouched.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{brouter, sim_ok, stderr};

const CONFIG: &str = "[[network]]\nname = \"dmz\"\nbridge = \"br0\"\naddress = \"10.98.98.1/24\"\n\
    antispoof = true\ndhcp = true\n\
    [[host]]\nname = \"guest\"\nnetwork = \"dmz\"\nmac = \"52:54:00:00:00:02\"\n\
    [[host]]\nname = \"web1\"\nnetwork = \"dmz\"\nmac = \"52:54:00:00:00:01\"\naddresses = [\"10.98.98.10\"]\n";

struct Host {
    _dir: tempfile::TempDir,
    state: PathBuf,
    config: PathBuf,
}

impl Host {
    /// `start` in the simulator, then `vif online` of vif1.0 (web1) and vif2.0 (guest).
    fn new() -> Host {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let config = dir.path().join("brouter.toml");
        std::fs::write(&config, CONFIG).unwrap();
        let h = Host {
            _dir: dir,
            state,
            config,
        };
        h.ok(&["start"]);
        let mut k: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&h.state).unwrap()).unwrap();
        for vif in ["vif1.0", "vif2.0"] {
            k["links"][vif] = serde_json::json!({"name": vif, "kind": "veth", "up": false, "mtu": 1500});
        }
        std::fs::write(&h.state, k.to_string()).unwrap();
        h.ok(&["vif", "online", "--vif", "vif1.0", "--mac", "52:54:00:00:00:01"]);
        h.ok(&["vif", "online", "--vif", "vif2.0", "--mac", "52:54:00:00:00:02"]);
        h
    }

    fn ok(&self, args: &[&str]) {
        let mut all = vec!["--config", self.config.to_str().unwrap()];
        all.extend_from_slice(args);
        sim_ok(&self.state, &all);
    }

    /// dnsmasq's call of its lease script, with its environment.
    fn lease(&self, event: &str, mac: &str, ip: &str) {
        let out = Command::new(brouter())
            .arg("--sim")
            .arg(&self.state)
            .args(["dhcp-lease", event, mac, ip, "guest"])
            .env("BROUTER_STATE_DIR", self.state.parent().unwrap())
            .env("DNSMASQ_INTERFACE", "br0")
            .output()
            .unwrap();
        assert!(out.status.success(), "dhcp-lease {event}: {}", stderr(&out));
    }

    fn bound(&self, vif: &str) -> Vec<String> {
        bound(&self.state, vif)
    }
}

fn bound(state: &Path, vif: &str) -> Vec<String> {
    let k: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap();
    k["bindings"][vif]["addrs"]
        .as_array()
        .unwrap_or_else(|| panic!("{vif} is not bound: {k:#}"))
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_unpinned_vm_is_bound_to_its_lease_for_as_long_as_it_lasts() {
    let h = Host::new();
    assert!(h.bound("vif2.0").is_empty(), "before a lease: DHCP only");
    h.lease("add", "52:54:00:00:00:02", "10.98.98.150");
    assert_eq!(h.bound("vif2.0"), ["10.98.98.150"]);
    // A renewal (or dnsmasq's restart) changes nothing; a new address replaces the old.
    h.lease("old", "52:54:00:00:00:02", "10.98.98.150");
    assert_eq!(h.bound("vif2.0"), ["10.98.98.150"]);
    h.lease("add", "52:54:00:00:00:02", "10.98.98.151");
    assert_eq!(h.bound("vif2.0"), ["10.98.98.151"]);
    // A `start` that finds everything in place keeps the leased binding.
    h.ok(&["start"]);
    assert_eq!(h.bound("vif2.0"), ["10.98.98.151"]);
    h.lease("del", "52:54:00:00:00:02", "10.98.98.151");
    assert!(h.bound("vif2.0").is_empty(), "the lease ended: DHCP only again");
}

#[test]
fn a_pinned_vm_and_other_macs_are_not_changed_by_leases() {
    let h = Host::new();
    assert_eq!(h.bound("vif1.0"), ["10.98.98.10"]);
    h.lease("add", "52:54:00:00:00:01", "10.98.98.150");
    assert_eq!(
        h.bound("vif1.0"),
        ["10.98.98.10"],
        "web1 is pinned by its [[host]] address"
    );
    h.lease("add", "52:54:00:00:00:99", "10.98.98.160");
    assert!(h.bound("vif2.0").is_empty());
}
