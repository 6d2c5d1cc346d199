//! `brouter vif` driven exactly as libxl drives a hotplug script — argv `online|offline
//! type_if=vif` (`add|remove type_if=tap` for the emulated NIC), libxl's environment
//! (`script`, `XENBUS_TYPE`, relative `XENBUS_PATH`, `XENBUS_BASE_PATH`, `netdev`, `vif`,
//! `INTERFACE`) on top of whatever the admin's shell had, stdin /dev/null — against the
//! simulator and a fake xenstore, with the ISP fixture as the config.
//!
//! What xl relies on: every failure writes `hotplug-error` naming the vif, the key and
//! the value, plus `hotplug-status error`, and exits 1 with nothing attached; `online`
//! writes the frontend's `mtu` and `connected`; stdout stays empty.
//!
//! xenstore is the fake tools on PATH (nothing at `$XENSTORED_PATH`), or for the tests of
//! the wire path ([`Host::wire`]) a fake xenstored at `$XENSTORED_PATH` that the hook
//! talks to itself, the tools on PATH failing if called.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::fake_xenstore::FakeXenstore;
use common::{brouter, sim_ok, stderr, stdout, workspace};

fn isp() -> String {
    workspace().join("fixtures/isp.toml").display().to_string()
}

/// A started ISP host in the simulator with the fresh (down) device `vif`, and a store.
///
/// Fields drop in order: the fake xenstore (and its server) before its directory.
struct Host {
    xs: FakeXenstore,
    state: PathBuf,
    _dir: tempfile::TempDir,
}

impl Host {
    fn new(devices: &[&str]) -> Host {
        Host::with(devices, false)
    }

    /// [`Host::new`] with the store served by the fake xenstored, the tools broken.
    fn wire(devices: &[&str]) -> Host {
        Host::with(devices, true)
    }

    fn with(devices: &[&str], wire: bool) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        sim_ok(&state, &["--config", &isp(), "start"]);
        let mut k: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
        for d in devices {
            k["links"][*d] = serde_json::json!({"name": d, "kind": "veth", "up": false, "mtu": 1500});
        }
        std::fs::write(&state, k.to_string()).unwrap();
        let xs = FakeXenstore::new(&dir.path().join("xs"));
        if wire {
            xs.serve_socket();
            xs.break_tools();
        }
        Host { _dir: dir, state, xs }
    }

    fn kernel(&self) -> String {
        std::fs::read_to_string(&self.state).unwrap()
    }

    fn link(&self, name: &str) -> serde_json::Value {
        let k: serde_json::Value = serde_json::from_str(&self.kernel()).unwrap();
        k["links"][name].clone()
    }

    /// What the toolstack writes under the backend directory before running the hook.
    fn seed(&self, domid: u32, pairs: &[(&str, &str)]) {
        let base = format!("backend/vif/{domid}/0");
        self.xs.set(&format!("{base}/script"), "/etc/xen/scripts/brouter");
        self.xs.set(&format!("{base}/handle"), "0");
        // libxl pre-fills the frontend's MTU with 1500.
        self.xs
            .set(&format!("/local/domain/{domid}/device/vif/0/mtu"), "1500");
        for (k, v) in pairs {
            self.xs.set(&format!("{base}/{k}"), v);
        }
    }

    /// libxl runs the vif's script for domain `domid`, device 0: `action type_if=…`, its
    /// environment on top of `shell` (the admin's own variables), stdin /dev/null.
    fn libxl(&self, action: &str, type_if: &str, domid: u32, shell: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(brouter());
        cmd.arg("--sim")
            .arg(&self.state)
            .args(["--config", &isp(), "vif", action])
            .arg(format!("type_if={type_if}"))
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", self.xs.bin_dir().display()),
            )
            .env("BROUTER_STATE_DIR", self.state.parent().unwrap())
            .env("XENSTORED_PATH", self.xs.xenstored_path());
        for (k, v) in shell {
            cmd.env(k, v);
        }
        cmd.env("script", "/etc/xen/scripts/brouter")
            .env("XENBUS_TYPE", "vif")
            .env("XENBUS_PATH", format!("backend/vif/{domid}/0"))
            .env("XENBUS_BASE_PATH", "backend")
            .env("netdev", "")
            .env("vif", format!("vif{domid}.0"));
        if type_if == "tap" {
            cmd.env("INTERFACE", format!("vif{domid}.0-emu"));
        }
        cmd.stdin(Stdio::null()).output().unwrap()
    }

    fn key(&self, domid: u32, k: &str) -> Option<String> {
        self.xs.get(&format!("backend/vif/{domid}/0/{k}"))
    }
}

/// Failed as xl must see it: exit 1, nothing on stdout, `hotplug-error` containing every
/// one of `words`, `hotplug-status error`, the kernel as it was.
fn failed(h: &Host, out: &Output, domid: u32, before: &str, words: &[&str]) {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    assert_eq!(stdout(out), "", "the hook wrote to stdout");
    assert_eq!(h.key(domid, "hotplug-status").as_deref(), Some("error"));
    let error = h.key(domid, "hotplug-error").unwrap_or_default();
    for w in words {
        assert!(error.contains(w), "{w:?} not in hotplug-error {error:?}");
        assert!(stderr(out).contains(w), "{w:?} not on stderr: {}", stderr(out));
    }
    assert_eq!(h.kernel(), before, "something was attached");
}

#[test]
fn online_reads_xenstore_over_the_shell_and_reports_like_vif_bridge() {
    let h = Host::new(&["vif7.0"]);
    let calls = online_then_offline(&h);
    // Few calls: one list, one read of every key, one write of every pair.
    let count = |tool: &str| calls.lines().filter(|l| l.starts_with(tool)).count();
    assert_eq!(count("xenstore-read"), 1, "{calls}");
    assert_eq!(count("xenstore-write"), 1, "{calls}");
    assert!(calls.contains(
        "xenstore-write /local/domain/7/device/vif/0/mtu 1400 backend/vif/7/0/hotplug-status connected"
    ));
}

#[test]
fn online_speaks_to_xenstored_itself_when_one_is_reachable() {
    let h = Host::wire(&["vif7.0"]);
    let calls = online_then_offline(&h);
    assert!(!calls.contains("xenstore-"), "a tool ran: {calls}");
    // One read per key (a missing one is ENOENT: nothing to list), then both pairs in
    // one transaction.
    let lines: Vec<&str> = calls.lines().collect();
    let reads: Vec<&str> = lines[..5].to_vec();
    assert_eq!(
        reads,
        ["bridge", "mac", "ip", "mtu", "vifname"].map(|k| format!("xs-wire READ backend/vif/7/0/{k}")),
        "{calls}"
    );
    assert_eq!(lines[5], "xs-wire TRANSACTION_START", "{calls}");
    let tx = lines[6].rsplit_once(" (tx ").map(|(_, t)| t).unwrap_or_default();
    assert_eq!(
        lines[6..9],
        [
            format!("xs-wire WRITE /local/domain/7/device/vif/0/mtu 1400 (tx {tx}"),
            format!("xs-wire WRITE backend/vif/7/0/hotplug-status connected (tx {tx}"),
            format!("xs-wire TRANSACTION_END T (tx {tx}"),
        ],
        "{calls}"
    );
}

/// Domain 7 boots with every key set (and the admin's `bridge` and `ip` leaking into
/// xl's environment), then shuts down; what the hook asked of xenstore.
fn online_then_offline(h: &Host) -> String {
    // xl's environment leaks the admin's `bridge` and `ip`: xenstore wins.
    h.seed(
        7,
        &[
            ("bridge", "br-hosting"),
            ("mac", "aa:cc:00:00:02:01"),
            ("ip", "10.2.0.10"),
            ("mtu", "1400"),
            ("vifname", "app1-eth0"),
        ],
    );
    let out = h.libxl("online", "vif", 7, &[("bridge", "br-data"), ("ip", "10.3.0.99")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "",
        "stdout must stay empty: libxl copies it onto xl's stderr"
    );
    assert_eq!(stderr(&out), "", "a success says nothing on stderr");
    let l = h.link("app1-eth0");
    assert_eq!(l["master"], "br-hosting", "{l}");
    assert_eq!(l["mac"], "fe:ff:ff:ff:ff:ff", "{l}");
    assert_eq!(l["mtu"], 1400, "{l}");
    assert_eq!(l["up"], true, "{l}");
    assert_eq!(h.key(7, "hotplug-status").as_deref(), Some("connected"));
    assert_eq!(h.key(7, "hotplug-error"), None);
    // The frontend's MTU follows the vif's, found by the backend path (not the new name).
    assert_eq!(
        h.xs.get("/local/domain/7/device/vif/0/mtu").as_deref(),
        Some("1400")
    );
    let calls = h.xs.calls();

    let off = h.libxl("offline", "vif", 7, &[]);
    assert_eq!(off.status.code(), Some(0), "{}", stderr(&off));
    assert_eq!(stdout(&off), "");
    assert!(h.link("app1-eth0")["master"].is_null());
    calls
}

#[test]
fn the_frontend_mtu_is_the_bridges_when_xenstore_names_none() {
    let h = Host::new(&["vif7.0"]);
    h.seed(7, &[("bridge", "br-data"), ("mac", "aa:cc:00:00:03:01")]);
    let out = h.libxl("online", "vif", 7, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mtu = h.link("vif7.0")["mtu"].clone();
    assert_eq!(
        h.xs.get("/local/domain/7/device/vif/0/mtu"),
        Some(mtu.to_string()),
        "libxl's pre-filled 1500 must become the vif's MTU"
    );
}

#[test]
fn xls_default_xenbr0_means_the_network_of_the_macs_host() {
    let h = Host::new(&["vif7.0", "vif8.0"]);
    // `vif = ['mac=aa:cc:00:00:01:02']`: xl writes bridge=xenbr0, no network uses it.
    h.seed(7, &[("bridge", "xenbr0"), ("mac", "aa:cc:00:00:01:02")]);
    let out = h.libxl("online", "vif", 7, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(h.link("vif7.0")["master"], "br-dmz");
    // A MAC no [[host]] declares: nothing tells where it goes.
    let before = h.kernel();
    h.seed(8, &[("bridge", "xenbr0"), ("mac", "00:16:3e:00:00:08")]);
    let out = h.libxl("online", "vif", 8, &[]);
    failed(
        &h,
        &out,
        8,
        &before,
        &["vif8.0", "bridge=xenbr0", "mac=00:16:3e:00:00:08"],
    );
}

#[test]
fn a_missing_bridge_fails_the_device() {
    let h = Host::new(&["vif7.0"]);
    let before = h.kernel();
    h.seed(7, &[("bridge", "br-nope"), ("mac", "aa:cc:00:00:02:01")]);
    let out = h.libxl("online", "vif", 7, &[]);
    failed(&h, &out, 7, &before, &["vif7.0", "bridge=br-nope"]);
}

#[test]
fn an_unknown_mac_on_an_antispoof_network_fails_the_device() {
    let h = Host::new(&["vif7.0"]);
    let before = h.kernel();
    h.seed(7, &[("bridge", "br-dmz"), ("mac", "aa:cc:00:00:09:09")]);
    let out = h.libxl("online", "vif", 7, &[]);
    failed(
        &h,
        &out,
        7,
        &before,
        &["vif7.0", "mac=aa:cc:00:00:09:09", "network = \"dmz\""],
    );
}

#[test]
fn an_ip_outside_the_network_fails_the_device() {
    let h = Host::new(&["vif7.0"]);
    let before = h.kernel();
    h.seed(
        7,
        &[
            ("bridge", "br-hosting"),
            ("mac", "aa:cc:00:00:02:01"),
            ("ip", "10.2.0.10 10.9.9.9"),
        ],
    );
    let out = h.libxl("online", "vif", 7, &[]);
    failed(&h, &out, 7, &before, &["vif7.0", "ip=10.9.9.9", "10.2.0.0/24"]);
}

#[test]
fn a_vif_that_is_the_uplink_fails_the_device() {
    let h = Host::new(&[]);
    let before = h.kernel();
    h.seed(
        7,
        &[
            ("bridge", "br-hosting"),
            ("mac", "aa:cc:00:00:02:01"),
            ("vifname", "eth0"),
        ],
    );
    let out = h.libxl("online", "vif", 7, &[]);
    failed(&h, &out, 7, &before, &["vif7.0", "vif=eth0", "uplink"]);
}

#[test]
fn bad_xenstore_data_fails_the_device_through_xenstore() {
    for (key, value, wire) in [
        ("ip", "not-an-address", false),
        ("mac", "00:16:3e:zz:00:07", false),
        ("mtu", "big", false),
        ("mac", "00:16:3e:zz:00:07", true),
        ("mtu", "big", true),
    ] {
        let h = Host::with(&["vif7.0"], wire);
        let before = h.kernel();
        h.seed(7, &[("bridge", "br-hosting"), ("mac", "aa:cc:00:00:02:01")]);
        h.xs.set(&format!("backend/vif/7/0/{key}"), value);
        let out = h.libxl("online", "vif", 7, &[]);
        failed(&h, &out, 7, &before, &["vif7.0", &format!("{key}={value}")]);
    }
}

#[test]
fn a_failing_xenstore_write_is_a_failure() {
    // What stderr names: the tool, or the refused write and xenstored's errno.
    for (wire, words) in [
        (false, &["xenstore-write"][..]),
        (
            true,
            &["xenstore write /local/domain/7/device/vif/0/mtu", "EACCES"][..],
        ),
    ] {
        let h = Host::with(&["vif7.0"], wire);
        h.seed(7, &[("bridge", "br-hosting"), ("mac", "aa:cc:00:00:02:01")]);
        h.xs.fail_writes();
        let out = h.libxl("online", "vif", 7, &[]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        for w in words {
            assert!(stderr(&out).contains(w), "{w:?} not on stderr: {}", stderr(&out));
        }
        assert_eq!(stdout(&out), "");
    }
}

#[test]
fn xen_ip_prefixes_and_ipv6_are_accepted() {
    let h = Host::new(&["vif7.0"]);
    h.seed(
        7,
        &[
            ("bridge", "br-hosting"),
            ("mac", "aa:cc:00:00:02:01"),
            ("ip", "10.2.0.10 10.2.0.16/28 2001:db8::7 2001:db8:1::/64"),
        ],
    );
    let out = h.libxl("online", "vif", 7, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(h.key(7, "hotplug-status").as_deref(), Some("connected"));
}

#[test]
fn the_emulated_nic_is_named_by_interface_and_renamed_after_vifname() {
    let h = Host::new(&["vif7.0", "vif7.0-emu"]);
    h.seed(
        7,
        &[
            ("bridge", "br-hosting"),
            ("mac", "aa:cc:00:00:02:01"),
            ("vifname", "app1"),
        ],
    );
    // libxl runs the script for the tap with `add type_if=tap`; `online` is for the vif.
    let ignored = h.libxl("online", "tap", 7, &[]);
    assert_eq!(ignored.status.code(), Some(0), "{}", stderr(&ignored));
    assert!(h.link("vif7.0-emu")["master"].is_null(), "online acted on a tap");
    let out = h.libxl("add", "tap", 7, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let l = h.link("app1-emu");
    assert_eq!(l["master"], "br-hosting", "{}", h.kernel());
    assert_eq!(l["mac"], "fe:ff:ff:ff:ff:ff");
    // vif-bridge reports hotplug-status for PV vifs only.
    assert_eq!(h.key(7, "hotplug-status"), None);
    let out = h.libxl("remove", "tap", 7, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(h.link("app1-emu")["master"].is_null());
}

#[test]
fn run_by_hand_without_xenbus_path_it_still_prints_its_line() {
    let h = Host::new(&["vif7.0"]);
    let out = Command::new(brouter())
        .arg("--sim")
        .arg(&h.state)
        .args([
            "--config",
            &isp(),
            "vif",
            "online",
            "--vif",
            "vif7.0",
            "--bridge",
            "br-data",
        ])
        .env("BROUTER_STATE_DIR", h.state.parent().unwrap())
        .env_remove("XENBUS_PATH")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("vif7.0 attached to br-data"),
        "{}",
        stdout(&out)
    );
}
