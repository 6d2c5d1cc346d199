//! Case "hook" (numbered 10 here): the Xen hook as xl calls it — the installed script
//! (`brouter xen install`) run with libxl's environment, `online` then `offline`, against
//! a fake xenstore (integration/src/fake_xenstore.rs: the tools as sh scripts over a
//! directory). The script runs in the dom0 namespace (started from a thread inside it,
//! as xl would start it in its own), no `ip netns exec` between.
//!
//! Three ways the hook reaches xenstore are timed: the fake's xenstored (the wire protocol
//! on a Unix socket at `$XENSTORED_PATH`, as on a dom0, where the hook finds xenstored's
//! socket or the xenbus device and spawns no tool), and, with no xenstored, the tools on
//! PATH as sh scripts and compiled. The tools' own cost is measured too: one
//! `xenstore-read` of two paths, the floor of each of the hook's three tool calls.

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
    wire: bool,
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
    // Without a server there, the hook finds no xenstored and uses the tools.
    if wire {
        cmd.env("XENSTORED_PATH", xs.xenstored_path());
    }
    timed_in(ns, cmd)
}

/// Run `cmd` from a thread inside `ns` (as xl starts the hook in its own namespace, no
/// `ip netns exec` between), timed until it exits. As libxl runs a hotplug script — its
/// output goes where xl's own does (`libxl__exec` with the descriptors left as they are),
/// and the child's death is what libxl waits for — stdout and stderr go to a file, not a
/// pipe whose end of file would be waited for too; the file is read afterwards.
fn timed_in(ns: &Netns, mut cmd: Command) -> (Duration, Output) {
    let log = crate::state_base().join(format!("brouter-bench-hook-out-{}", std::process::id()));
    let file = std::fs::File::create(&log).expect("the hook's output file");
    cmd.stdout(file.try_clone().expect("the output file again"))
        .stderr(file);
    let (t, status) = ns.run(move || {
        let t = Instant::now();
        let status = cmd.status().expect("run the command");
        (t.elapsed(), status)
    });
    let stderr = std::fs::read(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let out = Output {
        status,
        stdout: vec![],
        stderr,
    };
    (t, out)
}

/// What the toolstack writes before the hook runs. libxl always writes `bridge` (its
/// default is `xenbr0`, `libxl__device_nic_setdefault`), so the hook names the bridge and
/// reads only the links it touches; without it, it would look for the first bridge in a
/// dump of every link, as vif-bridge does.
fn seed(xs: &FakeXenstore, script: &Path, domid: u32) {
    let base = format!("backend/vif/{domid}/0");
    xs.set(&format!("{base}/script"), &script.display().to_string());
    xs.set(&format!("{base}/bridge"), "xenbr0");
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
/// `first`; through `xs`'s xenstored if `wire` (no tool read is timed then).
fn measure(
    ns: &Netns,
    script: &Path,
    xs: &FakeXenstore,
    state: &Path,
    n: usize,
    first: u32,
    wire: bool,
) -> Runs {
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
        let (t, out) = libxl(ns, script, xs, state, "online", domid, wire);
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
        let (t, out) = libxl(ns, script, xs, state, "offline", domid, wire);
        assert!(
            out.status.success(),
            "hook offline: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        r.off.push(ms(t));
        if wire {
            continue;
        }
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

/// The floor of any hook run: the two process starts it is made of — `sh` running a script
/// that `exec`s brouter — with brouter doing nothing (`--version`), started as the hook is.
fn process_floor(ns: &Netns, n: usize) -> Samples {
    let brouter_bin = bin();
    let mut floor = Samples::default();
    for _ in 0..n {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "exec \"$0\" --version"])
            .arg(&brouter_bin)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::null());
        let (t, out) = timed_in(ns, cmd);
        assert!(out.status.success());
        floor.push(ms(t));
    }
    floor
}

pub fn run(report: &mut Report, n: usize) {
    let ns = Netns::new("bhook");
    let state = PathBuf::from(std::env::var_os("BROUTER_STATE_DIR").expect("the bench sets a state dir"));
    brouter(&ns, &["start", "bridgeip=10.98.98.1/24", "antispoof=yes"], &[]);
    let dir = crate::state_base().join(format!("brouter-bench-hook-{}", std::process::id()));
    let script = super::peers::brouter_hook(&dir);
    let sh = FakeXenstore::new(&dir.join("xs"));
    let compiled = FakeXenstore::new(&dir.join("xsc"));
    let tool = bin().with_file_name("fake-xenstore-tool");
    compiled.use_compiled_tools(&tool);
    let wired = FakeXenstore::new(&dir.join("xsw"));
    wired.serve_socket();
    // A tool run would fail the hook: the wire rows spawn none.
    wired.break_tools();
    // Alternating halves would mix the three; the domids keep the runs apart instead.
    let w = measure(&ns, &script, &wired, &state, n, 10, true);
    let s = measure(&ns, &script, &sh, &state, n, 10 + n as u32, false);
    let c = measure(&ns, &script, &compiled, &state, n, 10 + 2 * n as u32, false);
    drop(wired);
    let floor = process_floor(&ns, n);
    let _ = std::fs::remove_dir_all(&dir);
    let mut t = Table::new(
        "10. The Xen hook as xl calls it",
        "The installed hook script (`brouter xen install`) run as libxl runs it — `brouter online \
         type_if=vif` then `offline`, libxl's environment, in the dom0 namespace, timed until it \
         exits (what libxl waits for; its output goes to a file, as xl's own) — on a fresh veth each \
         time, anti-spoofing on (online binds the xenstore `ip`, offline unbinds), against three fake \
         xenstores over the same kind of directory tree. \"xenstored\": a fake xenstored on a Unix \
         socket at `$XENSTORED_PATH` — what the hook finds on a dom0 (xenstored's socket or the xenbus \
         device): it speaks the wire protocol itself, its reads sent together (one round trip) and its \
         writes in one transaction, no process spawned. brouter's state directory is on a tmpfs, as \
         `/run/brouter` is on a Debian host (its state file's `fsync` costs what it costs users there; on \
         this host's disk it adds ~2 ms). With no xenstored, the tools on PATH: the integration tests' sh scripts, and \
         the same tools compiled (`fake-xenstore-tool`, as quick to start as Xen's C tools); the hook \
         then runs one `xenstore-list`, one `xenstore-read` of all its keys and one `xenstore-write`, \
         and the read rows are one `xenstore-read` alone, the floor of each such call. The floor row is \
         what no hook can go below: `sh` starting and `exec`ing brouter, which only prints its version.",
        &["run", "ms p50 (min–max)", "N"],
    );
    for (what, x) in [
        ("hook online, fake xenstored (wire protocol)", &w.on),
        ("hook offline, fake xenstored (wire protocol)", &w.off),
        (
            "floor: `sh` `exec`ing `brouter --version` (the hook's two process starts)",
            &floor,
        ),
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
        "Xen hook as xl calls it, online p50 (xenstored reachable, as on a dom0)",
        format!(
            "{:.2} ms (offline {:.2} ms; floor of its two process starts {:.2} ms; through compiled tools {:.2} / {:.2} ms, sh tools {:.2} / {:.2} ms)",
            w.on.median(),
            w.off.median(),
            floor.median(),
            c.on.median(),
            c.off.median(),
            s.on.median(),
            s.off.median()
        ),
        "≤ 5 ms",
        w.on.median() <= 5.0 && w.off.median() <= 5.0,
    );
    report.data.insert(
        "xen_hook".into(),
        json!({
            "online_ms": s.on.to_json(), "offline_ms": s.off.to_json(), "fake_xenstore_read_ms": s.read.to_json(),
            "compiled_online_ms": c.on.to_json(), "compiled_offline_ms": c.off.to_json(),
            "compiled_xenstore_read_ms": c.read.to_json(),
            "xenstored_online_ms": w.on.to_json(), "xenstored_offline_ms": w.off.to_json(),
            "process_start_floor_ms": floor.to_json(),
        }),
    );
}
