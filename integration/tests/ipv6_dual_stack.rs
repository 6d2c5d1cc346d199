//! A dual-stack network (`address6`) on a real kernel, seen from a VM: `start` puts the
//! address on the bridge and turns IPv6 forwarding on, brouter's dnsmasq announces the
//! /64 so the domU configures its SLAAC address and default route by itself, a unique
//! local source is masqueraded to the uplink's IPv6 address on its way out, anti-spoofing
//! keeps the vif to the host's declared and SLAAC addresses, the zone policy judges IPv6
//! as it judges IPv4, and `stop` puts everything back. Root only; every namespace is the
//! test's own (the uplink's IPv6 is set up here, the topology only builds IPv4).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use brouter_integration::binary::brouter_bin;
use brouter_integration::dnsmasq_procs::processes_naming;
use brouter_integration::probe::{self, DEADLINE, DROP_DEADLINE};
use brouter_integration::topology::INTERNET_IFACE;
use brouter_integration::{root_or_skip, tool_or_skip, DomU, Netns, Outcome, Topology};

const WEB1_MAC: &str = "aa:cc:00:00:00:01";
const GW4: Ipv4Addr = Ipv4Addr::new(10, 98, 98, 1);
const GW6: Ipv6Addr = Ipv6Addr::new(0xfd98, 0x98, 0, 0, 0, 0, 0, 1);
/// web1's declared IPv6 address.
const WEB1_V6: Ipv6Addr = Ipv6Addr::new(0xfd98, 0x98, 0, 0, 0, 0, 0, 0x10);
/// An address of the /64 no `[[host]]` declares.
const SPOOFED_V6: Ipv6Addr = Ipv6Addr::new(0xfd98, 0x98, 0, 0, 0, 0, 0, 0x99);
/// The internet side of the uplink.
const INTERNET_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
/// dom0's uplink: what the internet sees after masquerade.
const UPLINK_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
const UPLINK: &str = "eth0";

/// How long the domU may take to configure itself from router advertisements (measured
/// here: about 2 s, the DAD of br0's link-local address; see [`Lab::new`]).
const SLAAC_DEADLINE: Duration = Duration::from_secs(20);

const CONFIG: &str = r#"
[uplink]
interface = "eth0"

[[network]]
name = "dmz"
bridge = "br0"
address = "10.98.98.1/24"
address6 = "fd98:98::1/64"
antispoof = true
masquerade = true

[[host]]
name = "web1"
network = "dmz"
mac = "aa:cc:00:00:00:01"
addresses = ["10.98.98.10", "fd98:98::10"]

[[forward]]
proto = "tcp"
port = 8080
to = "web1:80"

[[policy]]
from = "dmz"
to = "external"
action = "accept"

[[policy]]
from = "dmz"
to = "dom0"
action = "accept"
services = ["icmp"]
"#;

/// The address SLAAC builds from `mac` in fd98:98::/64 (modified EUI-64, RFC 4291
/// appendix A), computed here independently of brouter.
fn slaac(mac: &str) -> Ipv6Addr {
    let m: Vec<u8> = mac
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect();
    let iid = [m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]];
    let mut a = [0u8; 16];
    a[..8].copy_from_slice(&[0xfd, 0x98, 0, 0x98, 0, 0, 0, 0]);
    a[8..].copy_from_slice(&iid);
    Ipv6Addr::from(a)
}

/// One IPv6 address of an interface as `ip -j addr` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Addr6 {
    dev: String,
    ip: Ipv6Addr,
    prefix: u8,
    scope: String,
    /// Duplicate address detection still running (or failed): not usable yet.
    tentative: bool,
}

/// Every IPv6 address in `ns` (of `dev` only, if given).
fn addrs6(ns: &Netns, dev: Option<&str>) -> Vec<Addr6> {
    let mut args = vec!["-j", "-6", "addr", "show"];
    if let Some(d) = dev {
        args.extend(["dev", d]);
    }
    let out = ns.ip(&args);
    let links: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("ip -j addr: {e}: {out}"));
    let mut v = vec![];
    for link in links.as_array().into_iter().flatten() {
        let dev = link["ifname"].as_str().unwrap_or_default();
        for a in link["addr_info"].as_array().into_iter().flatten() {
            let Some(ip) = a["local"].as_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            v.push(Addr6 {
                dev: dev.to_string(),
                ip,
                prefix: a["prefixlen"].as_u64().unwrap_or(0) as u8,
                scope: a["scope"].as_str().unwrap_or_default().to_string(),
                tentative: a["tentative"].as_bool() == Some(true) || a["dadfailed"].as_bool() == Some(true),
            });
        }
    }
    v
}

/// The IPv6 default routes in `ns`: (gateway, device, protocol).
fn default_routes6(ns: &Netns) -> Vec<(String, String, String)> {
    let out = ns.ip(&["-j", "-6", "route", "show", "default"]);
    let routes: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("ip -j route: {e}: {out}"));
    routes
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("gateway"), s("dev"), s("protocol"))
        })
        .collect()
}

struct Lab {
    t: Topology,
    state: PathBuf,
}

impl Lab {
    /// Root and dnsmasq, or skip.
    fn can_run(test: &str) -> bool {
        root_or_skip(test)
            && (brouter_backends::dnsmasq::dnsmasq_program().is_some()
                || tool_or_skip(test, "dnsmasq", "dnsmasq-base"))
    }

    /// The topology with one domU (web1, IPv4 as declared, no IPv6 yet: its vif is down,
    /// so the kernel has not started IPv6 autoconfiguration), IPv6 on the uplink, and the
    /// config in a state directory of the test's.
    fn new(tag: &str) -> Lab {
        let t = Topology::new(tag)
            .domu(DomU::new("web1", "10.98.98.10/24", "10.98.98.1").mac(WEB1_MAC))
            .build();
        t.dom0().ip_batch(&[
            format!("addr add {UPLINK_V6}/64 dev {UPLINK} nodad"),
            format!("route add ::/0 via {INTERNET_V6} dev {UPLINK}"),
        ]);
        t.internet()
            .ip_batch(&[format!("addr add {INTERNET_V6}/64 dev {INTERNET_IFACE} nodad")]);
        // SLAAC as fast as the kernel does it: no DAD, the router solicitation at link-up.
        // That first one goes unanswered: the vif coming up gives br0 its carrier, and
        // br0's link-local address (the RA's source) is in DAD for about 2 s. Solicit
        // again every second instead of every 4 s, backing off to an hour.
        let domu = t.domu(0);
        domu.set_sysctl("net.ipv6.conf.eth0.accept_dad", "0");
        domu.set_sysctl("net.ipv6.conf.eth0.router_solicitation_delay", "0");
        domu.set_sysctl("net.ipv6.conf.eth0.router_solicitation_interval", "1");
        domu.set_sysctl("net.ipv6.conf.eth0.router_solicitation_max_interval", "1");
        let state = std::env::temp_dir().join(format!("brouter-ipv6-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("brouter.toml"), CONFIG).unwrap();
        Lab { t, state }
    }

    fn dom0(&self) -> &Netns {
        self.t.dom0()
    }

    fn web1(&self) -> &Netns {
        self.t.domu(0)
    }

    fn internet(&self) -> &Netns {
        self.t.internet()
    }

    fn brouter(&self, args: &[&str]) -> Output {
        Command::new(brouter_bin())
            .args(["--netns", self.dom0().name(), "--config"])
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

    /// `start`, then web1's vif online on br0 (as Xen's hotplug would): the domU's link
    /// comes up, and with it IPv6 autoconfiguration.
    fn start_with_domu(&self) {
        self.ok(&["start"]);
        let vif = self.t.vif(0).to_string();
        self.ok(&[
            "vif", "online", "--vif", &vif, "--bridge", "br0", "--mac", WEB1_MAC,
        ]);
    }

    /// The bridge's link-local address (the router the domU should use).
    fn bridge_link_local(&self) -> Option<Ipv6Addr> {
        addrs6(self.dom0(), Some("br0"))
            .into_iter()
            .find(|a| a.scope == "link" && !a.tentative)
            .map(|a| a.ip)
    }

    /// Wait until web1 has its SLAAC address (usable) and a default route learnt from
    /// the bridge's router advertisements; returns the address. Panics at the deadline
    /// with what the domU has.
    fn wait_for_slaac(&self) -> Ipv6Addr {
        let want = slaac(WEB1_MAC);
        let end = Instant::now() + SLAAC_DEADLINE;
        loop {
            let addrs = addrs6(self.web1(), Some("eth0"));
            let routes = default_routes6(self.web1());
            let router = self.bridge_link_local();
            let has_addr = addrs
                .iter()
                .any(|a| a.ip == want && a.prefix == 64 && a.scope == "global" && !a.tentative);
            let has_route = router.is_some_and(|r| {
                routes
                    .iter()
                    .any(|(gw, dev, proto)| gw == &r.to_string() && dev == "eth0" && proto == "ra")
            });
            if has_addr && has_route {
                return want;
            }
            assert!(
                Instant::now() < end,
                "web1 should configure {want}/64 and a default route via br0's link-local \
                 address ({router:?}) from router advertisements within {SLAAC_DEADLINE:?}; \
                 it has addresses {addrs:?}, default routes {routes:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Give web1's eth0 one more IPv6 address (without DAD, usable at once).
    fn add_domu_address(&self, ip: Ipv6Addr) {
        self.web1()
            .ip(&["-6", "addr", "add", &format!("{ip}/64"), "dev", "eth0", "nodad"]);
    }

    /// TCP from web1's `src` to the internet's [2001:db8:1::1]:`port`, served there.
    fn tcp_out_from(&self, src: Ipv6Addr, port: u16, deadline: Duration) -> Outcome {
        probe::tcp_from(
            self.internet(),
            SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port),
            self.web1(),
            src.into(),
            SocketAddr::new(INTERNET_V6.into(), port),
            deadline,
        )
    }

    /// `sysctl` of the dom0: (all.forwarding, the uplink's accept_ra).
    fn dom0_sysctls(&self) -> (String, String) {
        (
            self.dom0().sysctl("net.ipv6.conf.all.forwarding"),
            self.dom0().sysctl(&format!("net.ipv6.conf.{UPLINK}.accept_ra")),
        )
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // A failed test may leave its dnsmasq running, which would keep its namespace
        // alive: end it (only processes naming this test's state directory).
        for pid in processes_naming(&self.state) {
            // SAFETY: kill(2) with plain integers; `pid` is a dnsmasq of this test's.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

#[test]
fn a_vm_configures_its_slaac_address_and_default_route_from_the_bridge() {
    let test = "a_vm_configures_its_slaac_address_and_default_route_from_the_bridge";
    if !Lab::can_run(test) {
        return;
    }
    let lab = Lab::new("v6slaac");
    lab.start_with_domu();

    let got = lab.wait_for_slaac();
    assert_eq!(got, slaac(WEB1_MAC));
    assert_eq!(got, "fd98:98::a8cc:ff:fe00:1".parse::<Ipv6Addr>().unwrap());

    let on_br0 = addrs6(lab.dom0(), Some("br0"));
    assert!(
        on_br0
            .iter()
            .any(|a| a.ip == GW6 && a.prefix == 64 && a.scope == "global" && !a.tentative),
        "fd98:98::1/64 is on br0 and usable (not tentative): {on_br0:?}"
    );
    assert_eq!(
        lab.dom0_sysctls(),
        ("1".to_string(), "2".to_string()),
        "IPv6 forwarding is on, and the uplink still accepts router advertisements"
    );
}

#[test]
fn a_vm_reaches_the_internet_over_ipv6_masqueraded_to_the_uplink() {
    let test = "a_vm_reaches_the_internet_over_ipv6_masqueraded_to_the_uplink";
    if !Lab::can_run(test) {
        return;
    }
    let lab = Lab::new("v6masq");
    lab.start_with_domu();
    let slaac = lab.wait_for_slaac();

    let out = lab.tcp_out_from(slaac, 8061, DEADLINE);
    assert_eq!(
        out.peer_ip(),
        Some(UPLINK_V6.into()),
        "TCP from the SLAAC address {slaac} reaches the internet, as the uplink's address: {out:?}"
    );

    lab.add_domu_address(WEB1_V6);
    let out = lab.tcp_out_from(WEB1_V6, 8062, DEADLINE);
    assert_eq!(
        out.peer_ip(),
        Some(UPLINK_V6.into()),
        "TCP from the declared {WEB1_V6} reaches the internet, as the uplink's address: {out:?}"
    );
}

#[test]
fn a_port_forward_reaches_the_hosts_ipv6_address_from_the_uplinks() {
    let test = "a_port_forward_reaches_the_hosts_ipv6_address_from_the_uplinks";
    if !Lab::can_run(test) {
        return;
    }
    let lab = Lab::new("v6fwd");
    lab.start_with_domu();
    lab.wait_for_slaac();
    lab.add_domu_address(WEB1_V6);
    // The internet connects to the uplink's IPv6 address on 8080; web1 serves port 80 on
    // its declared IPv6 address and sees the client's own address (a forward keeps it).
    let out = probe::tcp(
        lab.web1(),
        SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 80),
        lab.internet(),
        SocketAddr::new(UPLINK_V6.into(), 8080),
        DEADLINE,
    );
    assert_eq!(
        out.peer_ip(),
        Some(INTERNET_V6.into()),
        "[{UPLINK_V6}]:8080 is forwarded to [{WEB1_V6}]:80 with the client's address: {out:?}"
    );
    // An unforwarded port of the uplink's IPv6 address reaches no VM.
    let other = probe::tcp(
        lab.web1(),
        SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 81),
        lab.internet(),
        SocketAddr::new(UPLINK_V6.into(), 8081),
        DROP_DEADLINE,
    );
    assert!(!other.is_connected(), "8081 is not forwarded: {other:?}");
}

#[test]
fn an_undeclared_ipv6_source_is_dropped_at_the_vif() {
    if !Lab::can_run("an_undeclared_ipv6_source_is_dropped_at_the_vif") {
        return;
    }
    let lab = Lab::new("v6spoof");
    lab.start_with_domu();
    lab.wait_for_slaac();
    lab.add_domu_address(WEB1_V6);
    lab.add_domu_address(SPOOFED_V6);

    // The path works from a declared address of the same interface…
    let ok = lab.tcp_out_from(WEB1_V6, 8071, DEADLINE);
    assert!(ok.is_connected(), "from the declared {WEB1_V6}: {ok:?}");
    // …and not from one the host was not given.
    let spoofed = lab.tcp_out_from(SPOOFED_V6, 8072, DROP_DEADLINE);
    assert_eq!(
        spoofed,
        Outcome::TimedOut,
        "TCP from the undeclared {SPOOFED_V6} must be dropped"
    );
}

#[test]
fn the_zone_policy_judges_ipv6_to_the_dom0_as_it_judges_ipv4() {
    if !Lab::can_run("the_zone_policy_judges_ipv6_to_the_dom0_as_it_judges_ipv4") {
        return;
    }
    let lab = Lab::new("v6policy");
    lab.start_with_domu();
    lab.wait_for_slaac();
    let (dom0, web1) = (lab.dom0(), lab.web1());

    // dmz → dom0 accepts `icmp` only: echo passes, over ICMPv6 as over ICMP…
    for gw in [IpAddr::V6(GW6), IpAddr::V4(GW4)] {
        let echo = probe::ping(web1, gw, DEADLINE);
        assert_eq!(echo.peer_ip(), Some(gw), "ping {gw} from the dmz: {echo:?}");
    }
    // …and TCP to a listener in the dom0 is dropped, over IPv6 as over IPv4.
    for (listen, gw) in [
        (IpAddr::V6(Ipv6Addr::UNSPECIFIED), IpAddr::V6(GW6)),
        (IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V4(GW4)),
    ] {
        let tcp = probe::tcp(
            dom0,
            SocketAddr::new(listen, 2222),
            web1,
            SocketAddr::new(gw, 2222),
            DROP_DEADLINE,
        );
        assert_eq!(tcp, Outcome::TimedOut, "dmz → dom0 TCP to {gw} must be dropped");
    }
}

#[test]
fn stop_removes_the_address_and_restores_both_sysctls_and_a_second_stop_does_nothing() {
    let test = "stop_removes_the_address_and_restores_both_sysctls_and_a_second_stop_does_nothing";
    if !Lab::can_run(test) {
        return;
    }
    let lab = Lab::new("v6stop");
    // An admin's choice that is not the kernel's default, so a restore is told apart
    // from a reset.
    lab.dom0()
        .set_sysctl(&format!("net.ipv6.conf.{UPLINK}.accept_ra"), "0");
    let before = lab.dom0_sysctls();
    assert_eq!(before, ("0".to_string(), "0".to_string()));

    lab.start_with_domu();
    lab.wait_for_slaac();
    assert_eq!(lab.dom0_sysctls(), ("1".to_string(), "2".to_string()));

    lab.ok(&["stop"]);
    let left: Vec<Addr6> = addrs6(lab.dom0(), None)
        .into_iter()
        .filter(|a| a.ip == GW6 || a.dev == "br0")
        .collect();
    assert_eq!(left, vec![], "fd98:98::1 and br0 are gone");
    let links = lab.dom0().ip(&["-o", "link", "show"]);
    assert!(!links.contains(" br0:"), "the bridge is gone:\n{links}");
    assert_eq!(
        lab.dom0_sysctls(),
        before,
        "all.forwarding and the uplink's accept_ra are back as they were"
    );
    assert_eq!(
        processes_naming(&lab.state),
        Vec::<u32>::new(),
        "no dnsmasq of ours remains"
    );

    let again = lab.ok(&["stop"]);
    assert!(
        again.contains("nothing to do"),
        "a second stop does nothing: {again}"
    );
    assert_eq!(lab.dom0_sysctls(), before);
    assert!(addrs6(lab.dom0(), None).iter().all(|a| a.ip != GW6));
}
