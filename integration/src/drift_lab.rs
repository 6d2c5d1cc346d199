//! A started dom0 for the drift tests: one anti-spoofing network with a bound VM (web),
//! a port forward to it and masquerade, all made by the `brouter` binary. Each test
//! drifts one of brouter's objects with real `nft`/`ip` commands, then checks that
//! `status` names it, `start` repairs it, and the behaviour is back.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Output};

use crate::binary::brouter_bin;
use crate::probe::{self, DEADLINE, DROP_DEADLINE};
use crate::topology::INTERNET_HOST;
use crate::{DomU, Netns, Topology};

/// The config: dmz with anti-spoofing and masquerade, web declared, tcp/8080 → web:80.
pub const CONFIG: &str = r#"
[uplink]
interface = "eth0"

[[network]]
name = "dmz"
bridge = "xenbr0"
address = "10.98.98.1/24"
masquerade = true
antispoof = true

[[host]]
name = "web"
network = "dmz"
mac = "aa:cc:00:00:00:01"
addresses = ["10.98.98.10"]

[[forward]]
proto = "tcp"
port = 8080
to = "web:80"

[[policy]]
from = "dmz"
to = "external"
action = "accept"
"#;

/// An address web does not own: what it spoofs.
pub const SPOOFED: Ipv4Addr = Ipv4Addr::new(10, 98, 98, 66);

/// The lab: topology, config file and state directory (removed on drop).
pub struct DriftLab {
    pub t: Topology,
    config: PathBuf,
    state: PathBuf,
}

impl DriftLab {
    /// Started, web's vif online and bound; web also holds [`SPOOFED`] to send from.
    pub fn new(tag: &str) -> DriftLab {
        let t = Topology::new(tag)
            .domu(DomU::new("web", "10.98.98.10/24", "10.98.98.1").mac("aa:cc:00:00:00:01"))
            .build();
        let state = std::env::temp_dir().join(format!("brouter-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&state).unwrap();
        let config = state.join("brouter.toml");
        std::fs::write(&config, CONFIG).unwrap();
        let lab = DriftLab { t, config, state };
        lab.ok(&["start"]);
        let vif = lab.t.vif(0).to_string();
        lab.ok(&[
            "vif",
            "online",
            "--vif",
            &vif,
            "--bridge",
            "xenbr0",
            "--mac",
            "aa:cc:00:00:00:01",
        ]);
        lab.t
            .domu(0)
            .ip(&["addr", "add", &format!("{SPOOFED}/32"), "dev", "eth0"]);
        let v = lab.status_json();
        assert_eq!(v["converged"], true, "converged after start: {v:#}");
        lab
    }

    /// `brouter --netns <dom0> --config <file> ARGS…`.
    pub fn brouter(&self, args: &[&str]) -> Output {
        Command::new(brouter_bin())
            .args(["--netns", self.t.dom0().name(), "--config"])
            .arg(&self.config)
            .args(args)
            .env("BROUTER_STATE_DIR", &self.state)
            .output()
            .expect("run brouter")
    }

    /// Replace the config file's text (the next command reads it).
    pub fn set_config(&self, text: &str) {
        std::fs::write(&self.config, text).unwrap();
    }

    /// Run brouter and insist it succeeds.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.brouter(args);
        assert!(
            out.status.success(),
            "brouter {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `nft ARGS…` in the dom0 namespace, which must succeed.
    pub fn nft(&self, args: &[&str]) {
        let out = self.t.dom0().exec("nft", args);
        assert!(
            out.status.success(),
            "nft {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The handle of the rule of `family brouter`'s `chain` whose text contains `needle`.
    pub fn rule_handle(&self, family: &str, chain: &str, needle: &str) -> String {
        let out = self
            .t
            .dom0()
            .exec("nft", &["-a", "list", "chain", family, "brouter", chain]);
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no rule with {needle:?} in {text}"));
        line.rsplit("# handle ").next().unwrap().trim().to_string()
    }

    pub fn status_json(&self) -> serde_json::Value {
        let out = self.brouter(&["--json", "status"]);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("status --json: {e}\n{}", String::from_utf8_lossy(&out.stdout)))
    }

    /// `status` (text and JSON) is not converged (exit 3) and names the drift: some line
    /// of `firewall_drift` or `drift` contains each of `needles`.
    pub fn assert_drift_named(&self, needles: &[&str]) {
        let out = self.brouter(&["status"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out.status.code(),
            Some(3),
            "status must not be converged:\n{text}"
        );
        let v = self.status_json();
        assert_eq!(v["converged"], false, "{v:#}");
        let lines: Vec<String> = ["firewall_drift", "drift"]
            .iter()
            .flat_map(|k| v[*k].as_array().cloned().unwrap_or_default())
            .filter_map(|l| l.as_str().map(str::to_string))
            .collect();
        for n in needles {
            assert!(
                lines.iter().any(|l| l.contains(n)),
                "{n:?} not named in {lines:#?}"
            );
            assert!(text.contains(n), "{n:?} not in the text status:\n{text}");
        }
    }

    /// `start` repairs: it applies steps, and `status` is converged again.
    pub fn assert_start_repairs(&self) {
        let out = self.ok(&["start"]);
        assert!(
            !out.contains("nothing to do"),
            "start found nothing to repair: {out}"
        );
        let v = self.status_json();
        assert_eq!(v["converged"], true, "after start: {v:#}");
        assert!(
            v["firewall_drift"].as_array().is_none_or(|a| a.is_empty()),
            "{v:#}"
        );
        let again = self.ok(&["start"]);
        assert!(again.contains("nothing to do"), "a second start: {again}");
    }

    /// The forward tcp/8080 → web:80 works from the internet.
    pub fn forward_works(&self) -> bool {
        let dst = SocketAddr::new(self.t.uplink_ip().into(), 8080);
        probe::tcp(self.t.domu(0), any(80), self.t.internet(), dst, DEADLINE).is_connected()
    }

    /// web reaches the internet (masqueraded: the internet has no route back otherwise).
    pub fn outbound_works(&self) -> bool {
        let dst = SocketAddr::new(INTERNET_HOST.into(), 443);
        probe::tcp(self.t.internet(), any(443), self.t.domu(0), dst, DEADLINE).is_connected()
    }

    /// web, sending from [`SPOOFED`], gets through to the internet.
    pub fn spoof_passes(&self, deadline: std::time::Duration) -> bool {
        let dst = SocketAddr::new(INTERNET_HOST.into(), 444);
        probe::tcp_from(
            self.t.internet(),
            any(444),
            self.t.domu(0),
            IpAddr::V4(SPOOFED),
            dst,
            deadline,
        )
        .is_connected()
    }

    /// A spoofed connection is dropped (given the drop deadline) while an honest one works.
    pub fn assert_spoof_dropped(&self) {
        assert!(self.outbound_works(), "web's own address gets out");
        assert!(
            !self.spoof_passes(DROP_DEADLINE),
            "a spoofed source must be dropped"
        );
    }

    /// `ip -d -j link show xenbr0`, the bridge's one object.
    pub fn bridge(&self) -> serde_json::Value {
        let text = self.t.dom0().ip(&["-d", "-j", "link", "show", "xenbr0"]);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        v[0].clone()
    }

    /// `ip ARGS…` in the dom0 namespace.
    pub fn ip(&self, args: &[&str]) {
        self.t.dom0().ip(args);
    }

    pub fn dom0(&self) -> &Netns {
        self.t.dom0()
    }
}

fn any(port: u16) -> SocketAddr {
    SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port)
}

impl Drop for DriftLab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.state);
    }
}
