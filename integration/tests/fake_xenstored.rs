//! The fake xenstored (integration/src/fake_xenstored.rs) speaks xenstore's real wire
//! protocol: Xen's own C tools (Debian `xenstore-utils`, libxenstore inside) work against
//! it through `XENSTORED_PATH`, as they would against xenstored — and brouter's hook,
//! which speaks the protocol itself, reads what they wrote and they read what it wrote.
//! No root needed: the hook runs against the simulator.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use brouter_integration::binary::brouter_bin;
use brouter_integration::fake_xenstore::FakeXenstore;

const TOOLS: &str = "/usr/bin";

/// Xen's tools are required under CI=true; elsewhere their absence skips the test.
fn real_tools_or_skip(test: &str) -> bool {
    if Path::new(TOOLS).join("xenstore-read").exists() {
        return true;
    }
    brouter_integration::skip(
        test,
        "needs /usr/bin/xenstore-read (apt-get install xenstore-utils)",
    );
    false
}

/// `/usr/bin/<tool> ARGS` against the fake xenstored at `socket`.
fn tool(socket: &Path, name: &str, args: &[&str]) -> Output {
    Command::new(Path::new(TOOLS).join(name))
        .args(args)
        .env_clear()
        .env("XENSTORED_PATH", socket)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {name}: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The `xs-wire` lines logged since `from` (a previous length of the log).
fn wire_calls(xs: &FakeXenstore, from: usize) -> Vec<String> {
    xs.calls()[from..].lines().map(str::to_string).collect()
}

#[test]
fn xens_own_tools_read_write_and_list_through_the_fake_xenstored() {
    if !real_tools_or_skip("xens_own_tools_read_write_and_list_through_the_fake_xenstored") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let xs = FakeXenstore::new(dir.path());
    let sock = xs.serve_socket();

    // Several pairs: one transaction, as xenstore_client.c opens one for more than a pair.
    let out = tool(
        &sock,
        "xenstore-write",
        &[
            "backend/vif/7/0/mac",
            "00:16:3e:00:00:07",
            "backend/vif/7/0/bridge",
            "xenbr0",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        xs.get("backend/vif/7/0/mac").as_deref(),
        Some("00:16:3e:00:00:07")
    );
    assert_eq!(
        xs.get("/local/domain/0/backend/vif/7/0/bridge").as_deref(),
        Some("xenbr0")
    );
    let calls = wire_calls(&xs, 0);
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert_eq!(calls[0], "xs-wire TRANSACTION_START");
    assert!(
        calls[1].starts_with("xs-wire WRITE backend/vif/7/0/mac 00:16:3e:00:00:07 (tx "),
        "{calls:?}"
    );
    assert!(
        calls[3].starts_with("xs-wire TRANSACTION_END T (tx "),
        "{calls:?}"
    );

    // One pair: no transaction.
    let n = xs.calls().len();
    let out = tool(
        &sock,
        "xenstore-write",
        &["/local/domain/7/device/vif/0/mtu", "1500"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        wire_calls(&xs, n),
        ["xs-wire WRITE /local/domain/7/device/vif/0/mtu 1500"]
    );

    // Reads print one value a line (several paths: in one transaction); a missing path
    // fails the tool.
    let n = xs.calls().len();
    let out = tool(
        &sock,
        "xenstore-read",
        &["backend/vif/7/0/mac", "backend/vif/7/0/bridge"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "00:16:3e:00:00:07\nxenbr0\n");
    let calls = wire_calls(&xs, n);
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert!(
        calls[2].starts_with("xs-wire READ backend/vif/7/0/bridge (tx "),
        "{calls:?}"
    );
    let out = tool(&sock, "xenstore-read", &["backend/vif/7/0/ip"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("couldn't read path backend/vif/7/0/ip"),
        "{}",
        text(&out.stderr)
    );

    // A list is an XS_DIRECTORY (in a transaction of its own).
    let n = xs.calls().len();
    let out = tool(&sock, "xenstore-list", &["backend/vif/7/0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "bridge\nmac\n");
    assert!(wire_calls(&xs, n)[1].starts_with("xs-wire DIRECTORY backend/vif/7/0 (tx "));
    let out = tool(&sock, "xenstore-exists", &["backend/vif/7/0/ip"]);
    assert_eq!(out.status.code(), Some(1));

    xs.fail_writes();
    let out = tool(
        &sock,
        "xenstore-write",
        &["backend/vif/7/0/hotplug-status", "error"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("could not write path"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(xs.get("backend/vif/7/0/hotplug-status"), None);
}

/// A simulated dom0 started with `bridgeip=10.98.98.1/24` and a fresh `vif7.0`.
fn sim_dom0(dir: &Path) -> PathBuf {
    let state = dir.join("state.json");
    let out = Command::new(brouter_bin())
        .arg("--sim")
        .arg(&state)
        .args(["start", "bridgeip=10.98.98.1/24"])
        .env("BROUTER_STATE_DIR", dir)
        .env_remove("XENBUS_PATH")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut k: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    k["links"]["vif7.0"] = serde_json::json!({"name": "vif7.0", "kind": "veth", "up": false, "mtu": 1500});
    std::fs::write(&state, k.to_string()).unwrap();
    state
}

#[test]
fn brouters_hook_and_xens_tools_share_the_fake_xenstored() {
    if !real_tools_or_skip("brouters_hook_and_xens_tools_share_the_fake_xenstored") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = sim_dom0(dir.path());
    let xs = FakeXenstore::new(&dir.path().join("xs"));
    let sock = xs.serve_socket();
    xs.break_tools();
    // The toolstack's keys, written by Xen's own tool.
    let out = tool(
        &sock,
        "xenstore-write",
        &[
            "backend/vif/7/0/bridge",
            "xenbr0",
            "backend/vif/7/0/mac",
            "00:16:3e:00:00:07",
            "backend/vif/7/0/mtu",
            "1400",
            "/local/domain/7/device/vif/0/mtu",
            "1500",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let n = xs.calls().len();

    // The hook as libxl runs it, the fake's tools (which fail) first on its PATH.
    let out = Command::new(brouter_bin())
        .arg("--sim")
        .arg(&state)
        .args(["vif", "online", "type_if=vif"])
        .env_clear()
        .env(
            "PATH",
            format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", xs.bin_dir().display()),
        )
        .env("BROUTER_STATE_DIR", dir.path())
        .env("XENSTORED_PATH", &sock)
        .env("script", "/etc/xen/scripts/brouter")
        .env("XENBUS_TYPE", "vif")
        .env("XENBUS_PATH", "backend/vif/7/0")
        .env("XENBUS_BASE_PATH", "backend")
        .env("netdev", "")
        .env("vif", "vif7.0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let calls = wire_calls(&xs, n);
    assert!(
        calls.iter().all(|c| c.starts_with("xs-wire ")),
        "a tool ran: {calls:?}"
    );
    assert!(
        calls.contains(&"xs-wire READ backend/vif/7/0/mac".to_string()),
        "{calls:?}"
    );

    // What the hook wrote, read by Xen's own tool.
    let out = tool(
        &sock,
        "xenstore-read",
        &[
            "backend/vif/7/0/hotplug-status",
            "/local/domain/7/device/vif/0/mtu",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "connected\n1400\n");
}
