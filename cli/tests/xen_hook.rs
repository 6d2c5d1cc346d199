//! The installed vif hook, driven exactly as xl drives it on a dom0: `brouter online
//! type_if=vif` run inside the dom0 namespace, with xl's environment, stdin from /dev/null,
//! and xenstore answered either by a fake `xenstore-read`/`xenstore-write` on PATH (no
//! xenstored at `$XENSTORED_PATH`), or by a fake xenstored at `$XENSTORED_PATH`, which
//! the hook then talks to itself (the tools on PATH fail if called).

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use brouter_integration::{root_or_skip, Netns};
use common::fake_xenstore::FakeXenstore;
use common::{brouter, stderr};

/// What `ip -j link show` says about one link.
struct LinkState {
    master: Option<String>,
    up: bool,
    mac: String,
    mtu: u64,
}

fn link(ns: &Netns, dev: &str) -> LinkState {
    let text = ns.ip(&["-j", "link", "show", dev]);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let l = &v[0];
    LinkState {
        master: l["master"].as_str().map(str::to_string),
        up: l["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
        mac: l["address"].as_str().unwrap().to_string(),
        mtu: l["mtu"].as_u64().unwrap(),
    }
}

/// Run the hook as libxl does for vif `<domid>.0`: `<script> <action> type_if=vif`.
fn xl_runs(dom0: &Netns, hook: &Path, xs: &FakeXenstore, state: &Path, action: &str, domid: u32) -> Output {
    let bin_dir = brouter().parent().unwrap();
    Command::new("ip")
        .args(["netns", "exec", dom0.name()])
        .arg(hook)
        .args([action, "type_if=vif"])
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:{}:/usr/sbin:/usr/bin:/sbin:/bin",
                xs.bin_dir().display(),
                bin_dir.display()
            ),
        )
        .env("script", hook)
        .env("XENBUS_TYPE", "vif")
        .env("XENBUS_BASE_PATH", "backend")
        .env("XENBUS_PATH", format!("backend/vif/{domid}/0"))
        .env("netdev", "")
        .env("vif", format!("vif{domid}.0"))
        .env("BROUTER_STATE_DIR", state)
        .env("XENSTORED_PATH", xs.xenstored_path())
        .stdin(Stdio::null())
        .output()
        .expect("run the vif hook")
}

/// What the toolstack writes under a vif's backend directory before running the hook.
fn seed_xenstore(xs: &FakeXenstore, domid: u32, mac: &str, bridge: &str) {
    let base = format!("backend/vif/{domid}/0");
    xs.set(&format!("{base}/mac"), mac);
    xs.set(&format!("{base}/bridge"), bridge);
    xs.set(&format!("{base}/script"), "brouter");
    xs.set(&format!("{base}/handle"), "0");
}

#[test]
fn hook_driven_like_xl_attaches_reports_and_detaches() {
    hook_driven_like_xl("hook_driven_like_xl_attaches_reports_and_detaches", false);
}

#[test]
fn hook_driven_like_xl_speaks_to_xenstored_itself() {
    hook_driven_like_xl("hook_driven_like_xl_speaks_to_xenstored_itself", true);
}

/// Two domUs boot (one on a missing bridge), one shuts down, against the fake tools or
/// (`wire`) the fake xenstored.
fn hook_driven_like_xl(test: &str, wire: bool) {
    if !root_or_skip(test) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let scripts = tmp.path().join("scripts");
    let state = tmp.path().join("state");
    std::fs::create_dir_all(&scripts).unwrap();
    let installed = Command::new(brouter())
        .args(["xen", "install", "--dir", scripts.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(installed.status.success(), "{}", stderr(&installed));
    let hook = scripts.join("brouter");
    let xs = FakeXenstore::new(&tmp.path().join("xs"));
    if wire {
        xs.serve_socket();
        xs.break_tools();
    }

    let dom0 = Netns::new("xenhook");
    let domu = Netns::new("xenhookdomu");
    let started = Command::new(brouter())
        .args(["--netns", dom0.name(), "start", "bridgeip=10.98.98.1/24"])
        .env("BROUTER_STATE_DIR", &state)
        .output()
        .unwrap();
    assert!(started.status.success(), "brouter start: {}", stderr(&started));
    // The backend ends of two domUs' vifs, as netback would create them.
    for (vif, peer) in [("vif7.0", "eth0"), ("vif8.0", "eth1")] {
        dom0.ip(&[
            "link",
            "add",
            vif,
            "type",
            "veth",
            "peer",
            "name",
            peer,
            "netns",
            domu.name(),
        ]);
    }

    // Domain 7 boots: its vif spec says bridge=xenbr0 and an MTU.
    seed_xenstore(&xs, 7, "00:16:3e:00:00:07", "xenbr0");
    xs.set("backend/vif/7/0/mtu", "1400");
    let online = xl_runs(&dom0, &hook, &xs, &state, "online", 7);
    assert_eq!(online.status.code(), Some(0), "online: {}", stderr(&online));
    let l = link(&dom0, "vif7.0");
    assert_eq!(l.master.as_deref(), Some("xenbr0"));
    assert!(l.up, "vif7.0 is attached but down");
    assert_eq!(
        l.mac, "fe:ff:ff:ff:ff:ff",
        "the vif keeps a MAC the bridge could adopt"
    );
    assert_eq!(l.mtu, 1400, "xenstore's mtu is not applied");
    assert_eq!(
        xs.get("backend/vif/7/0/hotplug-status").as_deref(),
        Some("connected")
    );
    assert_eq!(xs.get("backend/vif/7/0/hotplug-error"), None);

    // Domain 8's vif spec names a bridge that does not exist: xl must fail the device.
    seed_xenstore(&xs, 8, "00:16:3e:00:00:08", "xenbr9");
    let failed = xl_runs(&dom0, &hook, &xs, &state, "online", 8);
    assert_eq!(
        failed.status.code(),
        Some(1),
        "online with bridge=xenbr9: {}",
        stderr(&failed)
    );
    assert_eq!(xs.get("backend/vif/8/0/hotplug-status").as_deref(), Some("error"));
    let error = xs.get("backend/vif/8/0/hotplug-error").unwrap_or_default();
    assert!(
        error.contains("xenbr9"),
        "hotplug-error does not name the bridge: {error:?}"
    );
    assert_eq!(link(&dom0, "vif8.0").master, None);

    // Domain 7 shuts down.
    let offline = xl_runs(&dom0, &hook, &xs, &state, "offline", 7);
    assert_eq!(offline.status.code(), Some(0), "offline: {}", stderr(&offline));
    let l = link(&dom0, "vif7.0");
    assert_eq!(l.master, None, "vif7.0 still attached after offline");
    assert!(!l.up);

    let calls = xs.calls();
    let read = if wire { "xs-wire READ" } else { "xenstore-read" };
    assert!(
        calls.contains(&format!("{read} backend/vif/7/0/bridge")),
        "{calls}"
    );
    if wire {
        assert!(!calls.contains("xenstore-"), "a tool ran: {calls}");
    }
    assert!(
        calls.contains("backend/vif/7/0/hotplug-status connected"),
        "{calls}"
    );
    assert_eq!(
        xs.get("/local/domain/7/device/vif/0/mtu").as_deref(),
        Some("1400"),
        "the frontend's MTU key"
    );
    assert_eq!(
        String::from_utf8_lossy(&online.stdout),
        "",
        "stdout must stay empty"
    );
}
