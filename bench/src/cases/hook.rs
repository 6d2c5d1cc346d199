//! Case "hook" (numbered 10 here): the Xen hook as xl calls it — the installed script
//! (`brouter xen install`) run with libxl's environment, `online` then `offline`, against
//! a fake xenstore (integration/src/fake_xenstore.rs: the tools as sh scripts over a
//! directory). The script runs in the dom0 namespace (started from a thread inside it,
//! as xl would start it in its own), no `ip netns exec` between.
//!
//! The fake tools are slower than xenstore's (each is a sh script that starts `basename`
//! and a subshell per path), so their own cost is measured too: one `xenstore-read` of two
//! paths, the floor of each of the hook's three xenstore calls here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use brouter_integration::fake_xenstore::FakeXenstore;
use brouter_integration::Netns;
use serde_json::json;

use crate::report::{Report, Table};
use crate::run::{bin, brouter, ms};
use crate::stats::Samples;

/// One hotplug run of `script ACTION type_if=vif` for `vif<domid>.0`, timed, inside `ns`.
fn libxl(
    ns: &Netns,
    script: &Path,
    xs: &FakeXenstore,
    state: &Path,
    action: &str,
    domid: u32,
) -> (Duration, Output) {
    let mut cmd = Command::new(script);
    cmd.args([action, "type_if=vif"])
        .env_clear()
        .env(
            "PATH",
            format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", xs.bin_dir().display()),
        )
        .env("BROUTER_STATE_DIR", state)
        .env("script", script)
        .env("XENBUS_TYPE", "vif")
        .env("XENBUS_PATH", format!("backend/vif/{domid}/0"))
        .env("XENBUS_BASE_PATH", "backend")
        .env("netdev", "")
        .env("vif", format!("vif{domid}.0"))
        .stdin(Stdio::null());
    ns.run(move || {
        let t = Instant::now();
        let out = cmd.output().expect("run the hook");
        (t.elapsed(), out)
    })
}

/// What the toolstack writes before the hook runs.
fn seed(xs: &FakeXenstore, script: &Path, domid: u32) {
    let base = format!("backend/vif/{domid}/0");
    xs.set(&format!("{base}/script"), &script.display().to_string());
    xs.set(&format!("{base}/handle"), "0");
    xs.set(&format!("{base}/mac"), "00:16:3e:00:00:07");
    xs.set(&format!("/local/domain/{domid}/device/vif/0/mtu"), "1500");
    xs.set(&format!("{base}/ip"), &format!("10.98.98.{}", 10 + domid % 200));
}

/// The hook's p50s against one fake xenstore: online, offline, and one `xenstore-read`.
#[derive(Default)]
struct Runs {
    on: Samples,
    off: Samples,
    read: Samples,
}

/// `n` online/offline rounds of the hook against `xs`, each on a fresh veth; domids from
/// `first`.
fn measure(ns: &Netns, script: &Path, xs: &FakeXenstore, state: &Path, n: usize, first: u32) -> Runs {
    let mut r = Runs::default();
    for k in 0..n as u32 {
        let domid = first + k;
        ns.ip(&[
            "link",
            "add",
            &format!("vif{domid}.0"),
            "type",
            "veth",
            "peer",
            "name",
            &format!("domu{domid}"),
        ]);
        seed(xs, script, domid);
        let (t, out) = libxl(ns, script, xs, state, "online", domid);
        assert!(
            out.status.success(),
            "hook online: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            xs.get(&format!("backend/vif/{domid}/0/hotplug-status"))
                .as_deref(),
            Some("connected"),
            "the hook did not report the vif connected"
        );
        r.on.push(ms(t));
        let (t, out) = libxl(ns, script, xs, state, "offline", domid);
        assert!(
            out.status.success(),
            "hook offline: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        r.off.push(ms(t));
        let t = Instant::now();
        let out = Command::new(xs.bin_dir().join("xenstore-read"))
            .args([
                format!("backend/vif/{domid}/0/mac"),
                format!("backend/vif/{domid}/0/handle"),
            ])
            .output()
            .expect("fake xenstore-read");
        r.read.push(ms(t.elapsed()));
        assert!(out.status.success());
    }
    r
}

pub fn run(report: &mut Report, n: usize) {
    let ns = Netns::new("bhook");
    let state = PathBuf::from(std::env::var_os("BROUTER_STATE_DIR").expect("the bench sets a state dir"));
    brouter(&ns, &["start", "bridgeip=10.98.98.1/24", "antispoof=yes"], &[]);
    let dir = std::env::temp_dir().join(format!("brouter-bench-hook-{}", std::process::id()));
    let script = super::peers::brouter_hook(&dir);
    let sh = FakeXenstore::new(&dir.join("xs"));
    let compiled = FakeXenstore::new(&dir.join("xsc"));
    let tool = bin().with_file_name("fake-xenstore-tool");
    compiled.use_compiled_tools(&tool);
    // Alternating halves would mix the two; the domids keep the runs apart instead.
    let s = measure(&ns, &script, &sh, &state, n, 10);
    let c = measure(&ns, &script, &compiled, &state, n, 10 + n as u32);
    let _ = std::fs::remove_dir_all(&dir);
    let mut t = Table::new(
        "10. The Xen hook as xl calls it",
        "The installed hook script (`brouter xen install`) run as libxl runs it — `brouter online \
         type_if=vif` then `offline`, libxl's environment, in the dom0 namespace — on a fresh veth each \
         time, anti-spoofing on (online binds the xenstore `ip`, offline unbinds), against two fake \
         xenstores over the same kind of directory tree: the integration tests' (sh scripts), and \
         the same tools compiled (`fake-xenstore-tool`, as quick to start as Xen's C tools). The \
         hook reads its keys in one `xenstore-read` and writes in one `xenstore-write` (plus one \
         `xenstore-list`); the read rows are one `xenstore-read` alone, the floor of each such call.",
        &["run", "ms p50 (min–max)", "N"],
    );
    for (what, x) in [
        ("hook online, sh fake", &s.on),
        ("hook offline, sh fake", &s.off),
        ("one sh `xenstore-read` (2 paths)", &s.read),
        ("hook online, compiled fake", &c.on),
        ("hook offline, compiled fake", &c.off),
        ("one compiled `xenstore-read` (2 paths)", &c.read),
    ] {
        t.row(vec![what.into(), x.show(2), x.n().to_string()]);
    }
    report.tables.push(t);
    report.target(
        "Xen hook as xl calls it, online p50 (compiled fake xenstore)",
        format!(
            "{:.2} ms (offline {:.2} ms; with the sh fake {:.2} / {:.2} ms)",
            c.on.median(),
            c.off.median(),
            s.on.median(),
            s.off.median()
        ),
        "≤ 5 ms",
        c.on.median() <= 5.0 && c.off.median() <= 5.0,
    );
    report.data.insert(
        "xen_hook".into(),
        json!({
            "online_ms": s.on.to_json(), "offline_ms": s.off.to_json(), "fake_xenstore_read_ms": s.read.to_json(),
            "compiled_online_ms": c.on.to_json(), "compiled_offline_ms": c.off.to_json(),
            "compiled_xenstore_read_ms": c.read.to_json(),
        }),
    );
}
