//! Differential test against the reference: Xen's own `/etc/xen/scripts/vif-bridge`
//! (Debian `xen-utils-common`, which `.ci/run` installs) and brouter's hook, each run as
//! libxl runs a hotplug script — argv, libxl's environment, stdin /dev/null — inside its
//! own throwaway namespace with the same bridge, the same veth and the same fake xenstore
//! contents. What each leaves must be the same: the vif's bridge, MAC, MTU, addresses and
//! link state, and every xenstore key it wrote. docs/xen.md lists the differences that
//! remain on purpose; none shows up in these cases.
//!
//! vif-bridge runs without a hypervisor given three things: a xenstore (the fake one, as
//! exported bash functions because xen-hotplug-common.sh puts /usr/bin — where
//! xenstore-utils installs the real tools — before the caller's PATH), a writable
//! /var/log/xen (it sends its stderr to xen-hotplug.log there; a private bind mount here, so
//! the test writes nothing on the host), and `bridge` present. Its iptables part is
//! disabled in Debian's packaging, and it takes no lock then.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use brouter_integration::binary::brouter_bin;
use brouter_integration::fake_xenstore::FakeXenstore;
use brouter_integration::{root_or_skip, Netns};

const VIF_BRIDGE: &str = "/etc/xen/scripts/vif-bridge";

/// Xen's scripts are required under CI=true; elsewhere their absence skips the test.
fn xen_scripts_or_skip(test: &str) -> bool {
    if Path::new(VIF_BRIDGE).exists() {
        return true;
    }
    brouter_integration::skip(
        test,
        &format!("needs {VIF_BRIDGE} (apt-get install xen-utils-common)"),
    );
    false
}

/// Which hook runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Hook {
    VifBridge,
    Brouter,
}

/// One dom0: a namespace with brouter's Xen-mode bridge `xenbr0` (MTU 1450), the vif's
/// veth, a fake xenstore and, for brouter, the installed hook and a state directory.
struct Dom0 {
    hook: Hook,
    ns: Netns,
    xs: FakeXenstore,
    dir: tempfile::TempDir,
    script: PathBuf,
}

impl Dom0 {
    fn new(hook: Hook, devices: &[&str]) -> Dom0 {
        let dir = tempfile::tempdir().unwrap();
        let ns = Netns::new(if hook == Hook::Brouter {
            "xdiffbr"
        } else {
            "xdiffvb"
        });
        let state = dir.path().join("state");
        let out = Command::new(brouter_bin())
            .args(["--netns", ns.name(), "start", "bridgeip=10.98.98.1/24"])
            .env("BROUTER_STATE_DIR", &state)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "brouter start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ns.ip(&["link", "set", "xenbr0", "mtu", "1450"]);
        for (i, d) in devices.iter().enumerate() {
            ns.ip(&[
                "link",
                "add",
                d,
                "type",
                "veth",
                "peer",
                "name",
                &format!("domu{i}"),
            ]);
            // As netback makes it: the same in both dom0s, so an untouched MAC compares equal.
            ns.ip(&["link", "set", d, "address", &format!("02:00:00:00:07:0{i}")]);
            // Whatever the vif carried before must go, both families.
            ns.ip(&["addr", "add", "192.0.2.5/24", "dev", d]);
        }
        let script = match hook {
            Hook::VifBridge => PathBuf::from(VIF_BRIDGE),
            Hook::Brouter => {
                let scripts = dir.path().join("scripts");
                std::fs::create_dir_all(&scripts).unwrap();
                let out = Command::new(brouter_bin())
                    .args(["xen", "install", "--dir", scripts.to_str().unwrap()])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                scripts.join("brouter")
            }
        };
        let xs = FakeXenstore::new(&dir.path().join("xs"));
        Dom0 {
            hook,
            ns,
            xs,
            dir,
            script,
        }
    }

    /// What the toolstack writes before the hook runs (backend keys, the frontend's
    /// pre-filled MTU), identical for both hooks.
    fn seed(&self, domid: u32, pairs: &[(&str, &str)]) {
        let base = format!("backend/vif/{domid}/0");
        self.xs
            .set(&format!("{base}/script"), &self.script.display().to_string());
        self.xs.set(&format!("{base}/handle"), "0");
        self.xs.set(&format!("{base}/mac"), "00:16:3e:00:00:07");
        self.xs
            .set(&format!("/local/domain/{domid}/device/vif/0/mtu"), "1500");
        for (k, v) in pairs {
            self.xs.set(&format!("{base}/{k}"), v);
        }
    }

    /// libxl runs the script: `<script> ACTION type_if=T` with libxl's environment, in
    /// the dom0 (`ip netns exec`), stdin /dev/null, /var/log/xen a private bind mount.
    /// (bash, not sh, between: dash drops the exported functions' odd names.)
    fn libxl(&self, action: &str, type_if: &str, domid: u32) -> Output {
        let logs = self.dir.path().join("xen-log");
        std::fs::create_dir_all(&logs).unwrap();
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            self.ns.name(),
            "unshare",
            "--mount",
            "bash",
            "-c",
        ])
        .arg("mount --bind \"$XEN_LOG\" /var/log/xen && exec \"$@\"")
        .arg("bash")
        .arg(&self.script)
        .arg(action)
        .arg(format!("type_if={type_if}"))
        .env_clear()
        .env(
            "PATH",
            format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", self.xs.bin_dir().display()),
        )
        .env("XEN_LOG", &logs)
        .env("BROUTER_STATE_DIR", self.dir.path().join("state"))
        .env("script", &self.script)
        .env("XENBUS_TYPE", "vif")
        .env("XENBUS_PATH", format!("backend/vif/{domid}/0"))
        .env("XENBUS_BASE_PATH", "backend")
        .env("netdev", "")
        .env("vif", format!("vif{domid}.0"));
        if type_if == "tap" {
            cmd.env("INTERFACE", format!("vif{domid}.0-emu"));
        }
        for (k, v) in self.xs.bash_functions() {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).output().unwrap()
    }

    /// What vif-bridge logged (it sends its stderr to /var/log/xen/xen-hotplug.log).
    fn hotplug_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("xen-log/xen-hotplug.log")).unwrap_or_default()
    }

    /// Everything a hook could have changed, in a form two namespaces compare equal in.
    fn left(&self, domid: u32) -> Left {
        let links: serde_json::Value =
            serde_json::from_str(&self.ns.ip(&["-j", "-d", "link", "show"])).unwrap();
        let mut vifs = Vec::new();
        for l in links.as_array().unwrap() {
            let name = l["ifname"].as_str().unwrap().to_string();
            if name == "lo" || name == "xenbr0" || name.starts_with("domu") {
                continue;
            }
            let addrs: serde_json::Value =
                serde_json::from_str(&self.ns.ip(&["-j", "addr", "show", "dev", &name])).unwrap();
            let mut a: Vec<String> = addrs[0]["addr_info"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .map(|i| format!("{}/{}", i["local"].as_str().unwrap(), i["prefixlen"]))
                        .collect()
                })
                .unwrap_or_default();
            a.sort();
            let flags: Vec<String> = l["flags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().to_string())
                .filter(|f| f == "UP")
                .collect();
            vifs.push(format!(
                "{name} master={} mac={} mtu={} flags={flags:?} addrs={a:?}",
                l["master"].as_str().unwrap_or("-"),
                l["address"].as_str().unwrap(),
                l["mtu"],
            ));
        }
        vifs.sort();
        // Every key in the store, as a path under /local/domain: where a hook wrote
        // matters as much as what.
        let _ = domid;
        let keys = self
            .xs
            .dump("/local/domain")
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            // The script path differs by construction; hotplug-error's wording is
            // brouter's own (docs/xen.md): its presence is compared, not its text.
            .filter(|k| !k.starts_with("0/backend/vif/7/0/script="))
            .map(|k| match k.split_once("hotplug-error=") {
                Some((p, _)) => format!("{p}hotplug-error=…"),
                None => k,
            })
            .collect();
        Left { vifs, keys }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Left {
    vifs: Vec<String>,
    keys: Vec<String>,
}

/// Run `steps` (action, type_if) against both hooks set up alike; assert the same exit
/// codes and the same state after each step.
/// `deliberate`: `(what vif-bridge leaves, what brouter leaves instead)` key lines, each
/// a difference docs/xen.md lists with its reason; each must show up as stated.
fn same_as_vif_bridge(
    test: &str,
    devices: &[&str],
    seed: &[(&str, &str)],
    steps: &[(&str, &str)],
    deliberate: &[(&str, &str)],
) {
    let xen = Dom0::new(Hook::VifBridge, devices);
    let brt = Dom0::new(Hook::Brouter, devices);
    for d in [&xen, &brt] {
        d.seed(7, seed);
    }
    for (action, type_if) in steps {
        let a = xen.libxl(action, type_if, 7);
        let b = brt.libxl(action, type_if, 7);
        let what = format!("{test}: {action} type_if={type_if}");
        assert_eq!(
            a.status.code(),
            b.status.code(),
            "{what}: vif-bridge exited {:?}, brouter {:?}\nvif-bridge's stderr: {}{}\nbrouter's stderr: {}",
            a.status,
            b.status,
            String::from_utf8_lossy(&a.stderr),
            xen.hotplug_log(),
            String::from_utf8_lossy(&b.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&a.stdout),
            "",
            "{what}: vif-bridge's stdout"
        );
        assert_eq!(String::from_utf8_lossy(&b.stdout), "", "{what}: brouter's stdout");
        let mut expected = xen.left(7);
        // The keys stay in the store after the step that wrote them.
        for (theirs, ours) in deliberate {
            match expected.keys.iter_mut().find(|k| k == theirs) {
                Some(k) => *k = ours.to_string(),
                None if *action == "online" => {
                    panic!("{what}: vif-bridge no longer leaves {theirs}: update docs/xen.md")
                }
                None => {}
            }
        }
        expected.keys.retain(|k| !k.is_empty());
        expected.keys.sort();
        assert_eq!(
            expected,
            brt.left(7),
            "{what}: left: vif-bridge (deliberate differences applied), right: brouter"
        );
        assert_eq!(xen.hook, Hook::VifBridge);
    }
}

#[test]
fn online_and_offline_leave_what_vif_bridge_leaves() {
    let t = "online_and_offline_leave_what_vif_bridge_leaves";
    if !root_or_skip(t) || !xen_scripts_or_skip(t) {
        return;
    }
    // MTU from the bridge, written to the frontend; then detached and down again.
    same_as_vif_bridge(
        t,
        &["vif7.0"],
        &[("bridge", "xenbr0")],
        &[("online", "vif"), ("offline", "vif")],
        &[],
    );
}

#[test]
fn xenstore_mtu_and_vifname_are_applied_as_vif_bridge_does() {
    let t = "xenstore_mtu_and_vifname_are_applied_as_vif_bridge_does";
    if !root_or_skip(t) || !xen_scripts_or_skip(t) {
        return;
    }
    same_as_vif_bridge(
        t,
        &["vif7.0"],
        &[("bridge", "xenbr0"), ("mtu", "1400"), ("vifname", "web0")],
        &[("online", "vif"), ("offline", "vif")],
        // vif-bridge's set_mtu takes domid/devid from the renamed device's name ("web0"),
        // so it writes a key no frontend reads and leaves the domU's at libxl's 1500;
        // brouter takes them from XENBUS_PATH (docs/xen.md).
        &[
            ("7/device/vif/0/mtu=1500", "7/device/vif/0/mtu=1400"),
            ("web0/device/vif/web0/mtu=1400", ""),
        ],
    );
}

#[test]
fn the_emulated_nic_is_handled_as_vif_bridge_does() {
    let t = "the_emulated_nic_is_handled_as_vif_bridge_does";
    if !root_or_skip(t) || !xen_scripts_or_skip(t) {
        return;
    }
    // `online type_if=tap` is ignored by both; `add` renames to <vifname>-emu and attaches.
    same_as_vif_bridge(
        t,
        &["vif7.0-emu"],
        &[("bridge", "xenbr0"), ("vifname", "web0")],
        &[("online", "tap"), ("add", "tap"), ("remove", "tap")],
        &[],
    );
}

#[test]
fn a_missing_bridge_fails_as_vif_bridge_fails() {
    let t = "a_missing_bridge_fails_as_vif_bridge_fails";
    if !root_or_skip(t) || !xen_scripts_or_skip(t) {
        return;
    }
    same_as_vif_bridge(t, &["vif7.0"], &[("bridge", "xenbr9")], &[("online", "vif")], &[]);
}
