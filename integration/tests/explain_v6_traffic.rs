//! `brouter explain` against real IPv6 traffic: for each flow of a small dual-stack matrix
//! (a unique-local, masqueraded, anti-spoofing dmz; a global, routed lan; the internet;
//! the dom0), what `brouter --netns … --json explain` predicts — accept or drop, and the
//! source the receiver sees — is what a real TCP connection or ping does on the kernel.
//! The CLI reads the uplink's IPv6 address and the vifs' bindings from the namespace, as
//! on a dom0. Root only; every namespace is the test's own.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use brouter_integration::binary::brouter_bin;
use brouter_integration::dnsmasq_procs::processes_naming;
use brouter_integration::probe::{self, DEADLINE, DROP_DEADLINE};
use brouter_integration::topology::INTERNET_IFACE;
use brouter_integration::{root_or_skip, tool_or_skip, DomU, Netns, Outcome, Topology};

const WEB1_MAC: &str = "aa:cc:00:00:00:01";
const APP1_MAC: &str = "aa:cc:00:00:00:02";
const GW_DMZ: Ipv6Addr = Ipv6Addr::new(0xfd98, 0x98, 0, 0, 0, 0, 0, 1);
const GW_LAN: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);
/// web1's declared IPv6 address (dmz: unique-local, masqueraded).
const WEB1: Ipv6Addr = Ipv6Addr::new(0xfd98, 0x98, 0, 0, 0, 0, 0, 0x10);
/// An address of the dmz's /64 no `[[host]]` declares.
const SPOOFED: Ipv6Addr = Ipv6Addr::new(0xfd98, 0x98, 0, 0, 0, 0, 0, 0x99);
/// app1's address (lan: a global prefix, routed as it is).
const APP1: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x10);
const INTERNET: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
const UPLINK6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);

const CONFIG: &str = r#"
[uplink]
interface = "eth0"

[[network]]
name = "dmz"
bridge = "br0"
address = "10.98.98.1/24"
address6 = "fd98:98::1/64"
antispoof = true

[[network]]
name = "lan"
bridge = "br1"
address = "10.99.99.1/24"
address6 = "2001:db8:2::1/64"

[[host]]
name = "web1"
network = "dmz"
mac = "aa:cc:00:00:00:01"
addresses = ["10.98.98.10", "fd98:98::10"]

[[host]]
name = "app1"
network = "lan"
mac = "aa:cc:00:00:00:02"
addresses = ["10.99.99.10"]

[[forward]]
proto = "tcp"
port = 8080
to = "web1:80"

[[forward]]
proto = "tcp"
port = 8090
to = "app1"

[[policy]]
from = "dmz"
to = "external"
action = "accept"
services = ["tcp/8000-8009", "icmp"]

[[policy]]
from = "lan"
to = "external"
action = "accept"

[[policy]]
from = "lan"
to = "dmz"
action = "accept"
services = ["tcp/8004"]

[[policy]]
from = "dmz"
to = "dom0"
action = "accept"
services = ["icmp"]
"#;

/// Where a probe's client and server run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Internet,
    Dom0,
    Web1,
    App1,
}

/// One flow of the matrix: who sends from which address to which address and port
/// (`None`: a ping), and where the server listens (where the flow lands without a
/// firewall: the forward's target for a forwarded port).
struct Case {
    name: &'static str,
    client: Node,
    src: Ipv6Addr,
    /// The vif it is sent through (for anti-spoofing), if it comes from a VM.
    vif: Option<&'static str>,
    to: Ipv6Addr,
    port: Option<u16>,
    server: Node,
    listen_port: u16,
}

struct Lab {
    t: Topology,
    state: PathBuf,
}

impl Lab {
    fn can_run(test: &str) -> bool {
        root_or_skip(test)
            && (brouter_backends::dnsmasq::dnsmasq_program().is_some()
                || tool_or_skip(test, "dnsmasq", "dnsmasq-base"))
    }

    /// web1 on br0 and app1 on br1 with their IPv6 addresses set by hand (no router
    /// advertisements, no DAD: the matrix needs no SLAAC), the uplink and the internet
    /// with IPv6, brouter started and both vifs online.
    fn new(tag: &str) -> Lab {
        let t = Topology::new(tag)
            .domu(DomU::new("web1", "10.98.98.10/24", "10.98.98.1").mac(WEB1_MAC))
            .domu(DomU::new("app1", "10.99.99.10/24", "10.99.99.1").mac(APP1_MAC))
            .build();
        t.dom0().ip_batch(&[
            format!("addr add {UPLINK6}/64 dev eth0 nodad"),
            format!("route add ::/0 via {INTERNET} dev eth0"),
        ]);
        t.internet().ip_batch(&[
            format!("addr add {INTERNET}/64 dev {INTERNET_IFACE} nodad"),
            // The lan's global prefix is routed to the dom0; so is the dmz's, so that a
            // flow to it from the internet meets the firewall rather than no route.
            format!("route add 2001:db8:2::/64 via {UPLINK6}"),
            format!("route add fd98:98::/64 via {UPLINK6}"),
        ]);
        // SPOOFED is deprecated (preferred_lft 0): a probe binds it explicitly, but the
        // kernel never picks it as a source on its own (a ping names no source).
        let web1 = [(WEB1, ""), (SPOOFED, " preferred_lft 0")];
        for (i, addrs, gw) in [(0, &web1[..], GW_DMZ), (1, &[(APP1, "")][..], GW_LAN)] {
            let d = t.domu(i);
            d.set_sysctl("net.ipv6.conf.eth0.accept_ra", "0");
            d.set_sysctl("net.ipv6.conf.eth0.accept_dad", "0");
            let mut lines: Vec<String> = addrs
                .iter()
                .map(|(a, extra)| format!("-6 addr add {a}/64 dev eth0 nodad{extra}"))
                .collect();
            lines.push(format!("-6 route add default via {gw} dev eth0"));
            for l in lines {
                d.ip(&l.split(' ').collect::<Vec<_>>());
            }
        }
        let state = std::env::temp_dir().join(format!("brouter-explain6-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("brouter.toml"), CONFIG).unwrap();
        let lab = Lab { t, state };
        lab.ok(&["start"]);
        for (i, bridge, mac) in [(0, "br0", WEB1_MAC), (1, "br1", APP1_MAC)] {
            let vif = lab.t.vif(i).to_string();
            lab.ok(&["vif", "online", "--vif", &vif, "--bridge", bridge, "--mac", mac]);
        }
        lab.wait_for_no_tentative_address();
        lab
    }

    fn ns(&self, n: Node) -> &Netns {
        match n {
            Node::Internet => self.t.internet(),
            Node::Dom0 => self.t.dom0(),
            Node::Web1 => self.t.domu(0),
            Node::App1 => self.t.domu(1),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = Command::new(brouter_bin())
            .args(["--netns", self.t.dom0().name(), "--config"])
            .arg(self.state.join("brouter.toml"))
            .args(args)
            .env("BROUTER_STATE_DIR", &self.state)
            .output()
            .expect("run brouter");
        assert!(
            out.status.success(),
            "brouter {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The bridges' addresses finish duplicate address detection (until then the dom0
    /// does not answer neighbour solicitations for the VMs' gateway).
    fn wait_for_no_tentative_address(&self) {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let left = self.t.dom0().ip(&["-6", "addr", "show", "tentative"]);
            if !left.contains("inet6 fd98:98::1") && !left.contains("inet6 2001:db8:2::1") {
                return;
            }
            assert!(
                Instant::now() < end,
                "the bridges' addresses stay tentative:\n{left}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What `explain` predicts for `c`: the verdict and the source the receiver sees.
    fn predict(&self, c: &Case) -> (String, Option<IpAddr>, serde_json::Value) {
        let to = match c.port {
            Some(p) => format!("[{}]:{p}", c.to),
            None => c.to.to_string(),
        };
        let src = c.src.to_string();
        let mut args = vec!["--json", "explain", "--from", &src, "--to", &to];
        args.extend(["--proto", if c.port.is_some() { "tcp" } else { "icmp" }]);
        if let Some(v) = c.vif {
            args.extend(["--vif", v]);
        }
        let v: serde_json::Value = serde_json::from_str(&self.ok(&args)).unwrap();
        let seen = v["delivered"]["source"]["ip"]
            .as_str()
            .map(|s| s.parse().unwrap());
        (v["verdict"].as_str().unwrap().to_string(), seen, v)
    }

    /// What the kernel does with `c`: a TCP connection from `src` (served where it
    /// lands), or a ping.
    fn probe(&self, c: &Case, expect_drop: bool) -> Outcome {
        let deadline = if expect_drop { DROP_DEADLINE } else { DEADLINE };
        match c.port {
            Some(p) => probe::tcp_from(
                self.ns(c.server),
                SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), c.listen_port),
                self.ns(c.client),
                c.src.into(),
                SocketAddr::new(c.to.into(), p),
                deadline,
            ),
            None => probe::ping(self.ns(c.client), c.to.into(), deadline),
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // End this test's dnsmasq (it would keep the namespace alive), then its state.
        for pid in processes_naming(&self.state) {
            // SAFETY: kill(2) with plain integers; `pid` is a dnsmasq of this test's.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

fn matrix() -> Vec<Case> {
    let case = |name, client, src, vif, to, port: Option<u16>, server, listen_port| Case {
        name,
        client,
        src,
        vif,
        to,
        port,
        server,
        listen_port,
    };
    use Node::*;
    let web1 = Some("vif1.0");
    let app1 = Some("vif2.0");
    vec![
        case(
            "dmz to the internet, masqueraded",
            Web1,
            WEB1,
            web1,
            INTERNET,
            Some(8001),
            Internet,
            8001,
        ),
        case(
            "dmz to the internet, not a service",
            Web1,
            WEB1,
            web1,
            INTERNET,
            Some(8101),
            Internet,
            8101,
        ),
        case(
            "dmz spoofing its source",
            Web1,
            SPOOFED,
            web1,
            INTERNET,
            Some(8002),
            Internet,
            8002,
        ),
        case(
            "lan (global) to the internet, routed",
            App1,
            APP1,
            app1,
            INTERNET,
            Some(8003),
            Internet,
            8003,
        ),
        case(
            "lan to the dmz, a service",
            App1,
            APP1,
            app1,
            WEB1,
            Some(8004),
            Web1,
            8004,
        ),
        case(
            "dmz to the lan, unlisted",
            Web1,
            WEB1,
            web1,
            APP1,
            Some(8005),
            App1,
            8005,
        ),
        case(
            "forward to web1's IPv6 address",
            Internet,
            INTERNET,
            None,
            UPLINK6,
            Some(8080),
            Web1,
            80,
        ),
        case(
            "forward to an IPv4-only host: the dom0's",
            Internet,
            INTERNET,
            None,
            UPLINK6,
            Some(8090),
            Dom0,
            8090,
        ),
        case(
            "internet straight to the dmz, unlisted",
            Internet,
            INTERNET,
            None,
            WEB1,
            Some(8006),
            Web1,
            8006,
        ),
        case(
            "dmz to the dom0, not a service",
            Web1,
            WEB1,
            web1,
            GW_DMZ,
            Some(2222),
            Dom0,
            2222,
        ),
        case(
            "dmz pings the dom0 (icmp covers ICMPv6)",
            Web1,
            WEB1,
            web1,
            GW_DMZ,
            None,
            Dom0,
            0,
        ),
        case(
            "dmz pings the internet",
            Web1,
            WEB1,
            web1,
            INTERNET,
            None,
            Internet,
            0,
        ),
        case(
            "lan pings the dom0, unlisted",
            App1,
            APP1,
            app1,
            GW_LAN,
            None,
            Dom0,
            0,
        ),
    ]
}

#[test]
fn explain_agrees_with_the_kernel_on_ipv6_flows() {
    let test = "explain_agrees_with_the_kernel_on_ipv6_flows";
    if !Lab::can_run(test) {
        return;
    }
    let lab = Lab::new("ex6");
    let mut disagreements = vec![];
    let mut verdicts = vec![];
    for c in matrix() {
        let (verdict, seen, trace) = lab.predict(&c);
        let outcome = lab.probe(&c, verdict != "accept");
        let agrees = match (&outcome, verdict.as_str()) {
            // A ping's reply comes from where it was sent; a TCP peer's address is the
            // source the server saw.
            (Outcome::Connected { .. }, "accept") if c.port.is_some() => outcome.peer_ip() == seen,
            (Outcome::Connected { .. }, "accept") => true,
            (Outcome::TimedOut, "drop") => true,
            (Outcome::Refused, "reject") => true,
            _ => false,
        };
        verdicts.push(verdict.clone());
        if !agrees {
            disagreements.push(format!(
                "{}: explain says {verdict} seen from {seen:?}, the kernel {outcome:?}\n{trace:#}",
                c.name
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n\n"));
    // The matrix exercises both outcomes.
    assert!(verdicts.iter().any(|v| v == "accept") && verdicts.iter().any(|v| v == "drop"));
}
