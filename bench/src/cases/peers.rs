//! Case "peers" (`just bench-peers`): Xen's own hotplug script `vif-bridge` (from
//! xen-utils-common) against brouter's hook, side by side in one run, each driven as
//! libxl drives it — `SCRIPT online type_if=vif`, then `offline`, with libxl's
//! environment and the integration tests' fake xenstore — on a fresh veth each time, in
//! a dom0 namespace whose `xenbr0` brouter made (`start bridgeip=…`, no anti-spoofing, so
//! both attach the same way and brouter binds nothing).
//!
//! vif-bridge logs to /var/log/xen, so each run is wrapped, for both scripts alike, in
//! `unshare --mount bash -c 'mount --bind LOGDIR /var/log/xen && exec "$@"'` (the host's
//! /var/log/xen is never written); the xenstore tools are also given to it as exported
//! bash functions (Xen's scripts put /usr/bin first on their PATH). The wrapper's own
//! cost (`true` in its place) is measured too.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use brouter_integration::fake_xenstore::FakeXenstore;
use brouter_integration::Netns;
use serde_json::json;

use crate::report::{Report, Table};
use crate::run::{bin, brouter, ms};
use crate::stats::Samples;

const VIF_BRIDGE: &str = "/etc/xen/scripts/vif-bridge";

struct Dom0 {
    ns: Netns,
    xs: FakeXenstore,
    dir: PathBuf,
    state: PathBuf,
}

impl Dom0 {
    /// `script ACTION type_if=vif` for `vif<domid>.0` as libxl runs it; its wall time.
    fn libxl(&self, script: &Path, action: &str, domid: u32) -> (Duration, Output) {
        let logs = self.dir.join("xen-log");
        std::fs::create_dir_all(&logs).expect("log dir");
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "bash", "-c"])
            .arg("mount --bind \"$XEN_LOG\" /var/log/xen && exec \"$@\"")
            .arg("bash")
            .arg(script)
            .arg(action)
            .arg("type_if=vif")
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", self.xs.bin_dir().display()),
            )
            .env("XEN_LOG", &logs)
            .env("BROUTER_STATE_DIR", &self.state)
            .env("script", script)
            .env("XENBUS_TYPE", "vif")
            .env("XENBUS_PATH", format!("backend/vif/{domid}/0"))
            .env("XENBUS_BASE_PATH", "backend")
            .env("netdev", "")
            .env("vif", format!("vif{domid}.0"))
            .stdin(Stdio::null());
        for (k, v) in self.xs.bash_functions() {
            cmd.env(k, v);
        }
        self.ns.run(move || {
            let t = Instant::now();
            let out = cmd.output().expect("run the hotplug script");
            (t.elapsed(), out)
        })
    }

    fn seed(&self, script: &Path, domid: u32) {
        let base = format!("backend/vif/{domid}/0");
        self.xs
            .set(&format!("{base}/script"), &script.display().to_string());
        self.xs.set(&format!("{base}/handle"), "0");
        self.xs.set(&format!("{base}/mac"), "00:16:3e:00:00:07");
        self.xs.set(&format!("{base}/bridge"), "xenbr0");
        self.xs
            .set(&format!("/local/domain/{domid}/device/vif/0/mtu"), "1500");
    }
}

/// brouter's installed hook script (`brouter xen install --dir DIR/scripts`).
pub fn brouter_hook(dir: &Path) -> PathBuf {
    let scripts = dir.join("scripts");
    std::fs::create_dir_all(&scripts).expect("scratch dir");
    let out = Command::new(bin())
        .args(["xen", "install", "--dir"])
        .arg(&scripts)
        .output()
        .expect("brouter xen install");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    scripts.join("brouter")
}

fn xen_version() -> String {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", "xen-utils-common"])
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => "unknown version".into(),
    }
}

pub fn run(report: &mut Report, n: usize) {
    if !Path::new(VIF_BRIDGE).exists() {
        eprintln!("peers: {VIF_BRIDGE} missing (apt-get install xen-utils-common): skipped");
        return;
    }
    let dir = std::env::temp_dir().join(format!("brouter-bench-peers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let d = Dom0 {
        ns: Netns::new("bpeers"),
        xs: FakeXenstore::new(&dir.join("xs")),
        state: PathBuf::from(std::env::var_os("BROUTER_STATE_DIR").expect("the bench sets a state dir")),
        dir: dir.clone(),
    };
    brouter(&d.ns, &["start", "bridgeip=10.98.98.1/24"], &[]);
    let hook = brouter_hook(&dir);
    let scripts = [
        ("Xen's vif-bridge", PathBuf::from(VIF_BRIDGE)),
        ("brouter's hook", hook),
    ];
    let mut samples: Vec<(Samples, Samples)> = scripts.iter().map(|_| Default::default()).collect();
    let mut wrapper = Samples::default();
    let mut domid = 100;
    for round in 0..n {
        // Alternate which goes first, so neither always runs on a warmer cache.
        for k in 0..scripts.len() {
            let which = (k + round) % scripts.len();
            let script = &scripts[which].1;
            domid += 1;
            let vif = format!("vif{domid}.0");
            d.ns.ip(&[
                "link",
                "add",
                &vif,
                "type",
                "veth",
                "peer",
                "name",
                &format!("domu{domid}"),
            ]);
            d.seed(script, domid);
            let (t, out) = d.libxl(script, "online", domid);
            assert!(
                out.status.success(),
                "{} online: {}",
                scripts[which].0,
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                d.xs.get(&format!("backend/vif/{domid}/0/hotplug-status"))
                    .as_deref(),
                Some("connected"),
                "{} did not report the vif connected",
                scripts[which].0
            );
            samples[which].0.push(ms(t));
            let (t, out) = d.libxl(script, "offline", domid);
            assert!(
                out.status.success(),
                "{} offline: {}",
                scripts[which].0,
                String::from_utf8_lossy(&out.stderr)
            );
            samples[which].1.push(ms(t));
        }
        let (t, _) = d.libxl(Path::new("/bin/true"), "online", 1);
        wrapper.push(ms(t));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let version = xen_version();
    let mut t = Table::new(
        "11. Peers: Xen's vif-bridge against brouter's hook",
        &format!(
            "Both hotplug scripts run as libxl runs them (`SCRIPT online type_if=vif`, then `offline`), \
             alternately on fresh veths in one dom0 namespace with brouter's `xenbr0`, against the \
             integration tests' fake xenstore (sh scripts: slower than xenstore's C tools, the same for \
             both). Each run is wrapped in `unshare --mount` + a bind mount of /var/log/xen (vif-bridge \
             logs there); the last row is that wrapper around `true`. vif-bridge from xen-utils-common \
             {version}; no anti-spoofing (brouter binds nothing, as vif-bridge)."
        ),
        &[
            "script",
            "online ms p50 (min–max)",
            "offline ms p50 (min–max)",
            "N",
        ],
    );
    for ((name, _), (on, off)) in scripts.iter().zip(&samples) {
        t.row(vec![
            name.to_string(),
            on.show(2),
            off.show(2),
            on.n().to_string(),
        ]);
    }
    t.row(vec![
        "the wrapper alone".into(),
        wrapper.show(2),
        "—".into(),
        wrapper.n().to_string(),
    ]);
    report.tables.push(t);
    let (vb, br) = (&samples[0], &samples[1]);
    report.target(
        "hook online vs Xen's vif-bridge (p50, same run)",
        format!(
            "{:.1}× faster ({:.1} vs {:.1} ms; offline {:.1} vs {:.1} ms)",
            vb.0.median() / br.0.median(),
            br.0.median(),
            vb.0.median(),
            br.1.median(),
            vb.1.median()
        ),
        "faster",
        br.0.median() < vb.0.median(),
    );
    report.data.insert(
        "peers_vif_bridge".into(),
        json!({"xen_utils_common": version, "vif_bridge_online_ms": vb.0.to_json(), "vif_bridge_offline_ms": vb.1.to_json(),
               "brouter_hook_online_ms": br.0.to_json(), "brouter_hook_offline_ms": br.1.to_json(), "wrapper_ms": wrapper.to_json()}),
    );
}
