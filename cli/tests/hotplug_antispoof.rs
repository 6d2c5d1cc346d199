//! Xen's meaning of `ip` on an anti-spoofing network, with the hook driven exactly as libxl
//! drives it (argv `online type_if=vif`, libxl's environment, stdin /dev/null, xenstore),
//! against the simulator: the network-script words `antispoof=yes` declare no `[[host]]`,
//! so the vif is bound to what xenstore's `ip` holds — addresses and prefixes of both
//! families — or, without `ip`, to its MAC alone (any address), with a warning. xenstore
//! is the fake tools on PATH, or (`Host::new(true)`) the fake xenstored the hook talks to
//! itself at `$XENSTORED_PATH`.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::fake_xenstore::FakeXenstore;
use common::{brouter, sim_ok, stderr, stdout};

/// Fields drop in order: the fake xenstore (and its server) before its directory.
struct Host {
    xs: FakeXenstore,
    state: PathBuf,
    _dir: tempfile::TempDir,
}

impl Host {
    /// `brouter start bridgeip=10.98.98.1/24 antispoof=yes` in the simulator, a fresh
    /// (down) `vif7.0`, an empty fake xenstore: its tools, or (`wire`) its xenstored with
    /// the tools broken.
    fn new(wire: bool) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        sim_ok(&state, &["start", "bridgeip=10.98.98.1/24", "antispoof=yes"]);
        let mut k: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
        k["links"]["vif7.0"] =
            serde_json::json!({"name": "vif7.0", "kind": "veth", "up": false, "mtu": 1500});
        std::fs::write(&state, k.to_string()).unwrap();
        let xs = FakeXenstore::new(&dir.path().join("xs"));
        if wire {
            xs.serve_socket();
            xs.break_tools();
        }
        Host { _dir: dir, state, xs }
    }

    /// xl's backend keys for domain 7, device 0, then the hook as libxl runs it.
    fn online(&self, pairs: &[(&str, &str)]) -> Output {
        let base = "backend/vif/7/0";
        self.xs.set(&format!("{base}/script"), "/etc/xen/scripts/brouter");
        self.xs.set("/local/domain/7/device/vif/0/mtu", "1500");
        for (k, v) in pairs {
            self.xs.set(&format!("{base}/{k}"), v);
        }
        Command::new(brouter())
            .arg("--sim")
            .arg(&self.state)
            .args(["vif", "online", "type_if=vif"])
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", self.xs.bin_dir().display()),
            )
            .env("BROUTER_STATE_DIR", self.state.parent().unwrap())
            .env("XENSTORED_PATH", self.xs.xenstored_path())
            .env("script", "/etc/xen/scripts/brouter")
            .env("XENBUS_TYPE", "vif")
            .env("XENBUS_PATH", base)
            .env("XENBUS_BASE_PATH", "backend")
            .env("netdev", "")
            .env("vif", "vif7.0")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// The simulated kernel's binding of vif7.0 (`addrs` as JSON strings).
    fn bound_addrs(&self) -> Vec<String> {
        let k: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&self.state).unwrap()).unwrap();
        let b = &k["bindings"]["vif7.0"];
        assert_eq!(b["mac"], "aa:cc:00:00:07:01", "{k:#}");
        b["addrs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    }

    fn connected(&self, out: &Output) {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
        assert_eq!(stdout(out), "", "the hook wrote to stdout");
        assert_eq!(
            self.xs.get("backend/vif/7/0/hotplug-status").as_deref(),
            Some("connected")
        );
    }
}

#[test]
fn xenstore_ip_binds_addresses_and_prefixes_of_both_families() {
    for wire in [false, true] {
        let h = Host::new(wire);
        let out = h.online(&[
            ("bridge", "xenbr0"),
            ("mac", "aa:cc:00:00:07:01"),
            ("ip", "10.98.98.7 10.98.98.20/28 2001:db8::7 fd98::/64"),
        ]);
        h.connected(&out);
        assert_eq!(
            h.bound_addrs(),
            ["10.98.98.7", "10.98.98.16/28", "2001:db8::7", "fd98::/64"]
        );
        assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    }
}

#[test]
fn without_ip_the_vif_is_bound_to_its_mac_alone_with_a_warning() {
    let h = Host::new(false);
    let out = h.online(&[("bridge", "xenbr0"), ("mac", "aa:cc:00:00:07:01")]);
    h.connected(&out);
    assert_eq!(h.bound_addrs(), ["0.0.0.0/0", "::/0"]);
    let err = stderr(&out);
    assert!(err.contains("warning") && err.contains("any address"), "{err}");
}
