//! `status` shows what the firewall did, from the kernel's own counters: traffic through a
//! forward, a policy's hits, and refusals that were logged (`log = true`, `[log] drops`).
//!
//! A namespace's kernel log lines are not printed unless the host enables
//! `nf_log_all_netns` (a root-namespace setting these tests must not touch), so a logged
//! refusal is observed through the counter on its log rule, which counts the lines the
//! rule wrote.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use brouter_integration::binary::brouter_bin;
use brouter_integration::probe::{self, DEADLINE, DROP_DEADLINE};
use brouter_integration::topology::INTERNET_HOST;
use brouter_integration::{root_or_skip, DomU, Outcome, Topology};

const WEB: usize = 0;
const DB: usize = 1;

const CONFIG: &str = r#"
[uplink]
interface = "eth0"

[log]
drops = true
rate = "100/second"

[[network]]
name = "dmz"
bridge = "xenbr0"
address = "10.98.98.1/24"

[[network]]
name = "data"
bridge = "xenbr1"
address = "10.99.0.1/24"

[[host]]
name = "web"
network = "dmz"
addresses = ["10.98.98.10"]

[[forward]]
proto = "tcp"
port = 8080
to = "web:80"

[[policy]]
from = "dmz"
to = "external"
action = "accept"

[[policy]]
from = "dmz"
to = "data"
action = "drop"
"#;

/// A dom0 started by the `brouter` binary with [`CONFIG`], web on dmz and db on data.
struct Lab {
    t: Topology,
    config: PathBuf,
    state: PathBuf,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let t = Topology::new(tag)
            .domu(DomU::new("web", "10.98.98.10/24", "10.98.98.1"))
            .domu(DomU::new("db", "10.99.0.10/24", "10.99.0.1"))
            .build();
        let dir = std::env::temp_dir().join(format!("brouter-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("brouter.toml");
        std::fs::write(&config, CONFIG).unwrap();
        let lab = Lab {
            t,
            config,
            state: dir,
        };
        let out = lab.brouter(&["start"]);
        assert!(
            out.status.success(),
            "start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let d0 = lab.t.dom0();
        d0.ip_batch(&[
            format!("link set {} master xenbr0", lab.t.vif(WEB)),
            format!("link set {} up", lab.t.vif(WEB)),
            format!("link set {} master xenbr1", lab.t.vif(DB)),
            format!("link set {} up", lab.t.vif(DB)),
        ]);
        lab
    }

    fn brouter(&self, args: &[&str]) -> Output {
        Command::new(brouter_bin())
            .args(["--netns", self.t.dom0().name(), "--config"])
            .arg(&self.config)
            .args(args)
            .env("BROUTER_STATE_DIR", &self.state)
            .output()
            .expect("run brouter")
    }

    fn status_json(&self) -> serde_json::Value {
        let out = self.brouter(&["--json", "status"]);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("status --json: {e}\n{}", String::from_utf8_lossy(&out.stdout)))
    }

    fn status_text(&self) -> String {
        String::from_utf8_lossy(&self.brouter(&["status"]).stdout).into_owned()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

fn listen(port: u16) -> SocketAddr {
    SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port)
}

/// One connection from the internet through the forward (tcp/8080 -> web:80), and one
/// from web out to the internet (dmz -> external).
fn forward_and_outbound(lab: &Lab) {
    let uplink = SocketAddr::new(lab.t.uplink_ip().into(), 8080);
    let out = probe::tcp(lab.t.domu(WEB), listen(80), lab.t.internet(), uplink, DEADLINE);
    assert!(out.is_connected(), "forward: {out:?}");
    let out = probe::tcp(
        lab.t.internet(),
        listen(443),
        lab.t.domu(WEB),
        SocketAddr::new(INTERNET_HOST.into(), 443),
        DEADLINE,
    );
    assert!(out.is_connected(), "dmz -> external: {out:?}");
}

/// The hits of one verdict of one listed policy in `status --json`.
fn policy_packets(v: &serde_json::Value, from: &str, to: &str, verdict: &str) -> u64 {
    v["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["from"] == from && p["to"] == to)
        .and_then(|p| {
            p["hits"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["verdict"] == verdict)
        })
        .and_then(|h| h["packets"].as_u64())
        .unwrap_or(0)
}

#[test]
fn status_counts_a_forwards_traffic_and_a_policys_hits() {
    if !root_or_skip("status_counts_a_forwards_traffic_and_a_policys_hits") {
        return;
    }
    let lab = Lab::new("fwcount");
    let before = lab.status_json();
    assert_eq!(before["forwards"][0]["connections"], 0, "{before:#}");
    assert_eq!(before["forwards"][0]["packets"], 0, "{before:#}");

    forward_and_outbound(&lab);

    let v = lab.status_json();
    let fwd = &v["forwards"][0];
    assert_eq!(fwd["connections"], 1, "{v:#}");
    // The handshake and the close, both ways: more packets than connections, and bytes.
    assert!(fwd["packets"].as_u64().unwrap() >= 3, "{v:#}");
    assert!(fwd["bytes"].as_u64().unwrap() > 0, "{v:#}");
    assert!(policy_packets(&v, "dmz", "external", "accept") >= 1, "{v:#}");

    let text = lab.status_text();
    assert!(
        text.contains("forward  tcp/8080 -> web (10.98.98.10):80: 1 connection, "),
        "{text}"
    );
    assert!(
        text.contains("policy   dmz -> external (accept): accept "),
        "{text}"
    );
}

#[test]
fn logged_refusals_are_counted_per_zone_pair() {
    if !root_or_skip("logged_refusals_are_counted_per_zone_pair") {
        return;
    }
    let lab = Lab::new("fwlog");
    let db = SocketAddr::new(Ipv4Addr::new(10, 99, 0, 10).into(), 5432);
    let web = SocketAddr::new(Ipv4Addr::new(10, 98, 98, 10).into(), 80);

    // A loaded machine can hold a domU's first SYN back behind its gateway's ARP for
    // longer than a drop probe waits; probe again until both refusals were counted.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (v, policy) = loop {
        // dmz -> data: a listed drop, logged through `[log] drops = true`.
        let out = probe::tcp(lab.t.domu(DB), listen(5432), lab.t.domu(WEB), db, DROP_DEADLINE);
        assert_eq!(out, Outcome::TimedOut);
        // data -> dmz: no policy at all, logged as that pair's drop.
        let out = probe::tcp(lab.t.domu(WEB), listen(80), lab.t.domu(DB), web, DROP_DEADLINE);
        assert_eq!(out, Outcome::TimedOut);

        let v = lab.status_json();
        let policy = v["policies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["from"] == "dmz" && p["to"] == "data")
            .unwrap()
            .clone();
        let counted = |x: &serde_json::Value| x.as_u64().is_some_and(|n| n >= 1);
        let both = counted(&policy["logged_lines"]) && counted(&v["unlisted"]["logged_lines"]);
        if both || Instant::now() > deadline {
            break (v, policy);
        }
    };
    assert!(policy["logged_lines"].as_u64().unwrap() >= 1, "{v:#}");
    assert!(policy_packets(&v, "dmz", "data", "drop") >= 1, "{v:#}");
    assert!(
        v["unlisted"]["dropped"]["packets"].as_u64().unwrap() >= 1,
        "{v:#}"
    );
    assert!(v["unlisted"]["logged_lines"].as_u64().unwrap() >= 1, "{v:#}");

    // The line an admin greps for names the pair.
    let rules = lab
        .t
        .dom0()
        .exec("nft", &["list", "chain", "inet", "brouter", "log.data.dmz"]);
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(
        rules.contains("log prefix \"brouter drop data->dmz \""),
        "{rules}"
    );
    assert!(
        !rules.contains("counter packets 0 "),
        "the log rule counted the drop:\n{rules}"
    );

    let text = lab.status_text();
    assert!(
        text.contains("policy   dmz -> data (drop, logged): drop "),
        "{text}"
    );
    assert!(text.contains("unlisted zone pairs: "), "{text}");
}

#[test]
fn counts_carry_over_when_start_rewrites_the_tables() {
    if !root_or_skip("counts_carry_over_when_start_rewrites_the_tables") {
        return;
    }
    let lab = Lab::new("fwcarry");
    forward_and_outbound(&lab);
    let before = lab.status_json();
    assert_eq!(before["forwards"][0]["connections"], 1, "{before:#}");

    // A changed config (one more forward, and a new zone pair, which changes the rules):
    // `start` rewrites both tables. (A forward alone is an element update, which leaves
    // every counter where it is: integration/tests/element_updates.rs.)
    let more = format!(
        "{CONFIG}\n[[forward]]\nproto = \"tcp\"\nport = 9090\nto = \"web:90\"\n\
         \n[[policy]]\nfrom = \"data\"\nto = \"external\"\naction = \"accept\"\n"
    );
    std::fs::write(&lab.config, more).unwrap();
    let out = lab.brouter(&["--json", "start"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(plan.contains("replace_firewall"), "{plan}");

    // The old forward and the policy count on from where they were; the new one from 0.
    let after = lab.status_json();
    for key in ["connections", "packets", "bytes"] {
        assert_eq!(
            after["forwards"][0][key], before["forwards"][0][key],
            "{key}: {after:#}"
        );
    }
    assert!(
        after["forwards"][1]["forward"]
            .as_str()
            .is_some_and(|f| f.starts_with("tcp/9090 ")),
        "{after:#}"
    );
    assert_eq!(after["forwards"][1]["connections"], 0, "{after:#}");
    assert_eq!(
        policy_packets(&after, "dmz", "external", "accept"),
        policy_packets(&before, "dmz", "external", "accept"),
        "{after:#}"
    );
    assert!(policy_packets(&after, "dmz", "external", "accept") >= 1);
}
