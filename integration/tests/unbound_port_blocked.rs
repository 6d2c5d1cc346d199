//! Default deny for an unbound port of an anti-spoofing bridge, on a real kernel: a veth
//! enslaved by hand (as a foreign script would) reaches the dom0 until `start` disables
//! its bridge port; then it reaches nothing — neither the dom0 nor a bound vif — `status`
//! is converged and lists it as blocked, and `plan` is empty; `vif online` binds it and
//! opens it again. The uplink enslaved by mistake is listed, never disabled.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use brouter_integration::binary::brouter_bin;
use brouter_integration::probe::{self, DROP_DEADLINE};
use brouter_integration::{root_or_skip, DomU, Netns, Outcome, Topology};

const CONFIG: &str = r#"
[uplink]
interface = "eth0"

[[network]]
name = "dmz"
bridge = "xenbr0"
address = "10.98.98.1/24"
antispoof = true

[[policy]]
from = "dmz"
to = "dom0"
action = "accept"
"#;

const GW: Ipv4Addr = Ipv4Addr::new(10, 98, 98, 1);
const BOUND: usize = 0;
const STRAY: usize = 1;
const LATE: usize = 2;

struct Lab {
    t: Topology,
    state: PathBuf,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        Lab::with_config(tag, CONFIG)
    }

    fn with_config(tag: &str, config: &str) -> Lab {
        let t = Topology::new(tag)
            .domu(DomU::new("bound", "10.98.98.10/24", "10.98.98.1").mac("aa:cc:00:00:00:01"))
            .domu(DomU::new("stray", "10.98.98.20/24", "10.98.98.1").mac("aa:cc:00:00:00:02"))
            .domu(DomU::new("late", "10.98.98.30/24", "10.98.98.1").mac("aa:cc:00:00:00:03"))
            .build();
        let state = std::env::temp_dir().join(format!("brouter-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("brouter.toml"), config).unwrap();
        Lab { t, state }
    }

    fn brouter(&self, args: &[&str]) -> Output {
        Command::new(brouter_bin())
            .args(["--netns", self.t.dom0().name(), "--config"])
            .arg(self.state.join("brouter.toml"))
            .args(args)
            .env("BROUTER_STATE_DIR", &self.state)
            .output()
            .expect("run brouter")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.brouter(args);
        assert!(
            out.status.success(),
            "brouter {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `vif online` for domU `i` with its MAC and address.
    fn online(&self, i: usize) {
        let vif = self.t.vif(i).to_string();
        let spec = self.t.domu_spec(i);
        let (mac, ip) = (spec.mac.clone().unwrap(), spec.ip().to_string());
        self.ok(&[
            "vif", "online", "--vif", &vif, "--bridge", "xenbr0", "--mac", &mac, "--ip", &ip,
        ]);
    }

    /// `status --json`: its exit code and answer.
    fn status(&self) -> (i32, serde_json::Value) {
        let out = self.brouter(&["--json", "status"]);
        let json = serde_json::from_slice(&out.stdout).expect("status --json answers JSON");
        (out.status.code().unwrap_or(-1), json)
    }

    /// The bridge port state of `link` in the dom0, as `ip -d -j link` reports it.
    fn port_state(&self, link: &str) -> String {
        let out = self.t.dom0().ip(&["-d", "-j", "link", "show", link]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v[0]["linkinfo"]["info_slave_data"]["state"]
            .as_str()
            .unwrap_or("none")
            .to_string()
    }

    /// Wait until `link`'s port state reads `want` (the kernel's carrier check runs after
    /// an up event, from linkwatch), or give up at a deadline.
    fn settles(&self, link: &str, want: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if self.port_state(link) == want {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// Whether a ping from `from` to `to` is answered, trying again until a deadline (the
/// first echo may wait for ARP).
fn reaches(from: &Netns, to: Ipv4Addr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(6);
    while Instant::now() < deadline {
        if matches!(
            probe::ping(from, IpAddr::V4(to), Duration::from_secs(1)),
            Outcome::Connected { .. }
        ) {
            return true;
        }
    }
    false
}

/// Whether a ping from `from` to `to` goes unanswered: one echo, a deadline long enough
/// for ARP's first tries.
fn blocked(from: &Netns, to: Ipv4Addr) -> bool {
    !matches!(
        probe::ping(from, IpAddr::V4(to), DROP_DEADLINE * 3),
        Outcome::Connected { .. }
    )
}

#[test]
fn start_disables_an_unbound_port_and_vif_online_opens_it() {
    if !root_or_skip("start_disables_an_unbound_port_and_vif_online_opens_it") {
        return;
    }
    let lab = Lab::new("portblock");
    lab.ok(&["start"]);
    lab.online(BOUND);
    let stray = lab.t.vif(STRAY).to_string();
    let bound_ip = lab.t.domu_spec(BOUND).ip();

    // A foreign script (Xen's own vif-bridge, say) enslaves the stray domU's vif, with
    // the MAC Xen gives a vif (so the bridge keeps its MAC): it reaches the dom0.
    lab.t.dom0().ip(&[
        "link",
        "set",
        &stray,
        "address",
        "fe:ff:ff:ff:ff:ff",
        "master",
        "xenbr0",
        "up",
    ]);
    assert!(lab.settles(&stray, "forwarding"));
    let (code, json) = lab.status();
    assert_eq!(code, 3, "{json}");
    assert_eq!(json["converged"], false);
    assert_eq!(
        json["ports_at_risk"],
        serde_json::json!([{"port": stray, "bridge": "xenbr0", "problem": "unbound"}])
    );
    let text = String::from_utf8_lossy(&lab.brouter(&["status"]).stdout).into_owned();
    assert!(text.contains(&format!("EXPOSED: port {stray}")), "{text}");
    assert!(
        reaches(lab.t.domu(STRAY), GW),
        "the unbound port reaches the dom0 before start"
    );
    let plan = lab.ok(&["plan"]);
    assert!(plan.contains(&format!("block port {stray} of xenbr0")), "{plan}");

    // `start` disables it: it reaches nothing, status is converged and says so.
    lab.ok(&["start"]);
    assert_eq!(lab.port_state(&stray), "disabled");
    assert!(blocked(lab.t.domu(STRAY), GW), "blocked from the dom0");
    assert!(blocked(lab.t.domu(STRAY), bound_ip), "blocked from a bound vif");
    let stray_ip = lab.t.domu_spec(STRAY).ip();
    assert!(blocked(lab.t.dom0(), stray_ip), "nothing is delivered to it");
    let (code, json) = lab.status();
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["converged"], true);
    assert_eq!(
        json["ports_at_risk"],
        serde_json::json!([{"port": stray, "bridge": "xenbr0", "problem": "unbound_blocked"}])
    );
    assert!(lab.ok(&["plan"]).contains("nothing to do"));
    assert!(lab.ok(&["start"]).contains("nothing to do"));
    let explained = lab.ok(&[
        "explain",
        "--from",
        "10.98.98.20",
        "--to",
        "10.98.98.1",
        "--proto",
        "icmp",
        "--vif",
        &stray,
    ]);
    assert!(explained.contains("in state disabled"), "{explained}");
    assert!(
        explained.trim_end().ends_with("verdict: drop")
            || explained.contains("DROP")
            || explained.contains(": drop"),
        "{explained}"
    );

    // Another vif coming online does not re-open it (STP is off).
    lab.online(LATE);
    assert!(reaches(lab.t.domu(LATE), GW));
    assert_eq!(lab.port_state(&stray), "disabled");

    // Bound by the hook, it forwards again, with its bound source.
    lab.online(STRAY);
    assert!(lab.settles(&stray, "forwarding"));
    assert!(
        reaches(lab.t.domu(STRAY), GW),
        "bound and opened, it reaches the dom0"
    );
    assert!(reaches(lab.t.domu(STRAY), bound_ip), "and the bound vif");
    let (code, json) = lab.status();
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["ports_at_risk"], serde_json::json!([]));
    lab.ok(&["stop"]);
}

#[test]
fn the_uplink_enslaved_by_mistake_is_listed_and_never_disabled() {
    if !root_or_skip("the_uplink_enslaved_by_mistake_is_listed_and_never_disabled") {
        return;
    }
    let lab = Lab::new("portuplink");
    lab.ok(&["start"]);
    lab.t.dom0().ip(&["link", "set", "eth0", "master", "xenbr0"]);
    assert!(lab.settles("eth0", "forwarding"));
    let plan = lab.ok(&["plan"]);
    assert!(!plan.contains("block port"), "{plan}");
    lab.ok(&["start"]);
    assert_eq!(lab.port_state("eth0"), "forwarding");
    let (_, json) = lab.status();
    assert_eq!(
        json["ports_at_risk"],
        serde_json::json!([{"port": "eth0", "bridge": "xenbr0", "problem": "unbound_uplink"}])
    );
    let text = String::from_utf8_lossy(&lab.brouter(&["status"]).stdout).into_owned();
    assert!(text.contains("unbound uplink: eth0"), "{text}");
    lab.t.dom0().ip(&["link", "set", "eth0", "nomaster"]);
    lab.ok(&["stop"]);
}

#[test]
fn stop_hands_a_blocked_port_of_an_adopted_bridge_back_with_or_without_carrier() {
    if !root_or_skip("stop_hands_a_blocked_port_of_an_adopted_bridge_back_with_or_without_carrier") {
        return;
    }
    let lab = Lab::new("porthandback");
    // The admin's own bridge: brouter adopts it and never deletes it.
    lab.t.dom0().ip(&["link", "add", "xenbr0", "type", "bridge"]);
    lab.t.dom0().ip(&["link", "set", "xenbr0", "up"]);
    let (stray, late) = (lab.t.vif(STRAY).to_string(), lab.t.vif(LATE).to_string());
    for vif in [&stray, &late] {
        lab.t.dom0().ip(&[
            "link",
            "set",
            vif,
            "address",
            "fe:ff:ff:ff:ff:ff",
            "master",
            "xenbr0",
            "up",
        ]);
        assert!(lab.settles(vif, "forwarding"));
    }
    lab.ok(&["start"]);
    assert_eq!(lab.port_state(&stray), "disabled");
    assert_eq!(lab.port_state(&late), "disabled");
    // The late domU's end goes down: its port loses carrier.
    lab.t.domu(LATE).ip(&["link", "set", "eth0", "down"]);
    let stopped = lab.ok(&["stop"]);
    assert!(
        stopped.contains(&format!("open port {stray} of xenbr0")),
        "{stopped}"
    );
    assert!(!stopped.contains(&format!("open port {late}")), "{stopped}");
    assert_eq!(lab.port_state(&stray), "forwarding");
    // Carrier back: the kernel enables the port by itself.
    lab.t.domu(LATE).ip(&["link", "set", "eth0", "up"]);
    assert!(lab.settles(&late, "forwarding"));
    assert!(lab.ok(&["stop"]).contains("nothing to do"));
}

#[test]
fn on_a_bridge_running_stp_an_unbound_port_stays_exposed_and_start_still_succeeds() {
    if !root_or_skip("on_a_bridge_running_stp_an_unbound_port_stays_exposed_and_start_still_succeeds") {
        return;
    }
    let config = CONFIG.replace(
        "antispoof = true",
        "antispoof = true\nstp = true\nforward_delay = 2",
    );
    let lab = Lab::with_config("portstp", &config);
    lab.ok(&["start"]);
    let stray = lab.t.vif(STRAY).to_string();
    lab.t.dom0().ip(&[
        "link",
        "set",
        &stray,
        "address",
        "fe:ff:ff:ff:ff:ff",
        "master",
        "xenbr0",
        "up",
    ]);
    let plan = lab.ok(&["plan"]);
    assert!(!plan.contains("block port"), "{plan}");
    assert!(lab.ok(&["start"]).contains("nothing to do"));
    assert_ne!(lab.port_state(&stray), "disabled");
    let (code, json) = lab.status();
    assert_eq!(code, 3, "{json}");
    assert_eq!(
        json["ports_at_risk"],
        serde_json::json!([{"port": stray, "bridge": "xenbr0", "problem": "unbound_stp"}])
    );
    let text = String::from_utf8_lossy(&lab.brouter(&["status"]).stdout).into_owned();
    assert!(text.contains("runs STP, which refuses"), "{text}");
    lab.ok(&["stop"]);
}
