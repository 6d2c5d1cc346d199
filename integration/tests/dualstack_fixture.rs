//! The committed fixture `fixtures/dualstack.toml`, end to end on a real kernel, the way
//! an admin would run it: `brouter --config fixtures/dualstack.toml start` in a dom0
//! namespace, two VMs plugged in by `vif online` (web1 on `br-dmz`, a guest on `br-lan`)
//! that configure themselves with real clients — busybox `udhcpc` for IPv4 (the test
//! applies the lease with `ip`, as a DHCP client script would), the kernel's SLAAC from
//! dnsmasq's router advertisements for IPv6 — and then: names from the bridges' DNS
//! (busybox `nslookup`), both VMs to the internet over IPv4 (masqueraded) and IPv6 (the
//! global `lan` prefix routed, the unique-local `dmz` prefix masqueraded), the internet
//! to web1's port 80 through the forward over both families, `status` converged, and
//! `stop` leaving no dnsmasq (a second `stop` does nothing). Root only; every namespace
//! is the test's own (the uplink's IPv6, and the internet's route back to the global
//! prefix, are set up here: the topology only builds IPv4).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use brouter_integration::binary::brouter_bin;
use brouter_integration::dnsmasq_procs::processes_naming;
use brouter_integration::probe;
use brouter_integration::topology::INTERNET_IFACE;
use brouter_integration::{root_or_skip, tool_or_skip, DomU, Netns, Outcome, Topology};
use brouter_lab::dhcp_client::{self, Lease};

/// The fixture itself, used as it is committed.
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/dualstack.toml");

const UPLINK: &str = "eth0";
/// dom0's uplink address: what the internet sees of masqueraded IPv4.
const UPLINK_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// The internet side of the uplink (the topology's gateway).
const INTERNET_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// dom0's uplink IPv6 address: what the internet sees of masqueraded IPv6.
const UPLINK_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
/// The internet side of the uplink, IPv6.
const INTERNET_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);

/// `[[host]] web1` of the fixture, on `dmz` (`br-dmz`, anti-spoofing).
const WEB1: usize = 0;
const WEB1_MAC: &str = "aa:cc:00:00:01:01";
const WEB1_V4: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 10);
const WEB1_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 0x10);
const DMZ_GW4: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
const DMZ_PREFIX6: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 0);

/// A VM no `[[host]]` declares, on `lan` (`br-lan`).
const GUEST: usize = 1;
const GUEST_MAC: &str = "aa:cc:00:00:02:77";
const LAN_GW4: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 1);
const LAN_PREFIX6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0);
const LAN_POOL: (Ipv4Addr, Ipv4Addr) = (Ipv4Addr::new(10, 2, 0, 100), Ipv4Addr::new(10, 2, 0, 199));

/// How long a VM may take to get a lease, its SLAAC address and route, a DNS answer or a
/// first flow through (udhcpc tries 5 times a second apart; SLAAC waits for the bridge's
/// link-local address, about 2 s).
const DEADLINE: Duration = Duration::from_secs(20);

/// The address SLAAC builds from `mac` in the /64 `prefix` (modified EUI-64, RFC 4291
/// appendix A), computed here independently of brouter.
fn slaac(prefix: Ipv6Addr, mac: &str) -> Ipv6Addr {
    let m: Vec<u8> = mac
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect();
    let iid = [m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]];
    let mut a = prefix.octets();
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

/// Every IPv6 address of `dev` in `ns`.
fn addrs6(ns: &Netns, dev: &str) -> Vec<Addr6> {
    let out = ns.ip(&["-j", "-6", "addr", "show", "dev", dev]);
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

/// `busybox nslookup -type=TYPE NAME SERVER` from `ns`: the addresses of the answer (of
/// either family, after the first `Name:` line; the lines before are the server's), or
/// nslookup's output when it found none.
fn lookup(ns: &Netns, kind: &str, name: &str, server: Ipv4Addr) -> Result<Vec<IpAddr>, String> {
    let server = server.to_string();
    let out = ns.exec("busybox", &["nslookup", &format!("-type={kind}"), name, &server]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let answers: Vec<IpAddr> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("Name:"))
        .filter_map(|l| l.strip_prefix("Address:").or_else(|| l.strip_prefix("Address ")))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    if out.status.success() && !answers.is_empty() {
        Ok(answers)
    } else {
        Err(format!(
            "nslookup -type={kind} {name} {server} in {} ({}):\n{stdout}{}",
            ns.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The prefix length of a dotted netmask (`255.255.255.0` → 24).
fn mask_len(mask: &str) -> u32 {
    let m: Ipv4Addr = mask.parse().unwrap_or_else(|e| panic!("netmask {mask:?}: {e}"));
    u32::from(m).count_ones()
}

fn in_pool(ip: Ipv4Addr, (first, last): (Ipv4Addr, Ipv4Addr)) -> bool {
    (u32::from(first)..=u32::from(last)).contains(&u32::from(ip))
}

/// Whether `ip` is in the /64 `prefix`.
fn in_64(ip: Ipv6Addr, prefix: Ipv6Addr) -> bool {
    ip.octets()[..8] == prefix.octets()[..8]
}

/// `f` until `ok` holds of what it returns, or panic at the deadline with `what` and the
/// last result (a flow's first packets may race the neighbour tables; no sleeps as
/// synchronisation, only a short pause between attempts that returned at once).
fn retry<T: std::fmt::Debug>(what: &str, mut f: impl FnMut() -> T, ok: impl Fn(&T) -> bool) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        let got = f();
        if ok(&got) {
            return got;
        }
        assert!(Instant::now() < end, "{what} within {DEADLINE:?}; last: {got:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `udhcpc` on `ns`'s eth0 ([`dhcp_client::lease`]). The first call of the process runs
/// alone: the lab writes its client script on first use through one temporary path per
/// process, so two tests asking at once race on it (one got ENOENT).
fn udhcpc(ns: &Netns) -> std::io::Result<Result<Lease, String>> {
    static SCRIPT_WRITTEN: Mutex<bool> = Mutex::new(false);
    let mut written = SCRIPT_WRITTEN.lock().unwrap_or_else(|e| e.into_inner());
    if *written {
        drop(written);
        return dhcp_client::lease(ns, "eth0");
    }
    let got = dhcp_client::lease(ns, "eth0");
    *written = got.is_ok();
    got
}

/// What a VM configured for itself: its lease and its SLAAC address.
#[derive(Debug)]
struct Configured {
    lease: Lease,
    slaac: Ipv6Addr,
}

struct Lab {
    t: Topology,
    state: PathBuf,
}

impl Lab {
    /// Root, dnsmasq and busybox's clients, or skip (a failure under `CI=true`).
    fn can_run(test: &str) -> bool {
        root_or_skip(test)
            && tool_or_skip(test, "udhcpc", "udhcpc")
            && tool_or_skip(test, "busybox", "busybox")
            && (brouter_backends::dnsmasq::dnsmasq_program().is_some()
                || tool_or_skip(test, "dnsmasq", "dnsmasq-base"))
    }

    /// The topology: the uplink `eth0` (IPv4 from the topology, IPv6 and its default
    /// route added here), the internet with a route back to the global `lan` prefix via
    /// the dom0, and two domUs with no IPv4 address (they ask DHCP for one) whose vifs
    /// are down and unattached, as Xen hands them over.
    fn new(tag: &str) -> Lab {
        // The topology wants an address per domU: one off every network, removed below.
        let vm = |name: &str, mac: &str| DomU {
            name: name.into(),
            addr: "192.168.77.2/24".into(),
            gw: None,
            mac: Some(mac.into()),
        };
        let t = Topology::new(tag)
            .domu(vm("web1", WEB1_MAC))
            .domu(vm("guest", GUEST_MAC))
            .build();
        t.dom0().ip_batch(&[
            format!("addr add {UPLINK_V6}/64 dev {UPLINK} nodad"),
            format!("route add ::/0 via {INTERNET_V6} dev {UPLINK}"),
        ]);
        t.internet().ip_batch(&[
            format!("addr add {INTERNET_V6}/64 dev {INTERNET_IFACE} nodad"),
            format!("route add {LAN_PREFIX6}/64 via {UPLINK_V6} dev {INTERNET_IFACE}"),
        ]);
        for i in [WEB1, GUEST] {
            let domu = t.domu(i);
            domu.ip(&["-4", "addr", "flush", "dev", "eth0"]);
            // SLAAC as fast as the kernel does it (see ipv6_dual_stack.rs): no DAD, the
            // router solicitation at link-up and then every second.
            domu.set_sysctl("net.ipv6.conf.eth0.accept_dad", "0");
            domu.set_sysctl("net.ipv6.conf.eth0.router_solicitation_delay", "0");
            domu.set_sysctl("net.ipv6.conf.eth0.router_solicitation_interval", "1");
            domu.set_sysctl("net.ipv6.conf.eth0.router_solicitation_max_interval", "1");
        }
        let state = std::env::temp_dir().join(format!("brouter-fixture-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        std::fs::create_dir_all(&state).unwrap();
        Lab { t, state }
    }

    fn dom0(&self) -> &Netns {
        self.t.dom0()
    }

    fn internet(&self) -> &Netns {
        self.t.internet()
    }

    fn vm(&self, i: usize) -> &Netns {
        self.t.domu(i)
    }

    /// `brouter --netns DOM0 --config fixtures/dualstack.toml ARGS…`.
    fn brouter(&self, args: &[&str]) -> Output {
        Command::new(brouter_bin())
            .args(["--netns", self.dom0().name(), "--config", FIXTURE])
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

    /// `status`: its exit code and its text.
    fn status(&self) -> (i32, String) {
        let out = self.brouter(&["status"]);
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// `start`, then both vifs online on their bridges (as Xen's hotplug would): the
    /// domUs' links come up, and with them IPv6 autoconfiguration.
    fn start_with_domus(&self) {
        self.ok(&["start"]);
        for (i, bridge, mac) in [(WEB1, "br-dmz", WEB1_MAC), (GUEST, "br-lan", GUEST_MAC)] {
            let vif = self.t.vif(i).to_string();
            self.ok(&["vif", "online", "--vif", &vif, "--bridge", bridge, "--mac", mac]);
        }
    }

    /// The bridge's usable link-local address (the router its VMs should use).
    fn bridge_link_local(&self, bridge: &str) -> Option<Ipv6Addr> {
        addrs6(self.dom0(), bridge)
            .into_iter()
            .find(|a| a.scope == "link" && !a.tentative)
            .map(|a| a.ip)
    }

    /// Wait until VM `i` has the SLAAC address of `mac` in `prefix` (usable) and a
    /// default route learnt from `bridge`'s router advertisements; returns the address.
    fn wait_for_slaac(&self, i: usize, bridge: &str, prefix: Ipv6Addr, mac: &str) -> Ipv6Addr {
        let want = slaac(prefix, mac);
        let end = Instant::now() + DEADLINE;
        loop {
            let addrs = addrs6(self.vm(i), "eth0");
            let routes = default_routes6(self.vm(i));
            let router = self.bridge_link_local(bridge);
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
                "VM {i} should configure {want}/64 and a default route via {bridge}'s \
                 link-local address ({router:?}) from router advertisements within \
                 {DEADLINE:?}; it has addresses {addrs:?}, default routes {routes:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A lease for VM `i` (udhcpc with the lab's script, which changes nothing), asking
    /// again until the deadline; then applied as a client script would: the address with
    /// its prefix on eth0 and the default route via the router.
    fn lease_and_apply(&self, i: usize) -> Lease {
        let ns = self.vm(i);
        let end = Instant::now() + DEADLINE;
        let lease = loop {
            match udhcpc(ns).expect("run udhcpc") {
                Ok(l) => break l,
                Err(why) if Instant::now() >= end => panic!("{why}"),
                Err(_) => {}
            }
        };
        let len = mask_len(lease.subnet.as_deref().unwrap_or("255.255.255.255"));
        let mut lines = vec![format!("addr replace {}/{len} dev eth0", lease.ip)];
        if let Some(r) = lease.routers.first() {
            lines.push(format!("route replace default via {r} dev eth0"));
        }
        ns.ip_batch(&lines);
        lease
    }

    /// Everything an admin's VMs do after `start`: both vifs online, each VM's SLAAC
    /// address and default route from the bridge's advertisements, and its DHCP lease
    /// (applied). Returns (web1, guest).
    fn bring_up(&self) -> (Configured, Configured) {
        self.start_with_domus();
        let web1_slaac = self.wait_for_slaac(WEB1, "br-dmz", DMZ_PREFIX6, WEB1_MAC);
        let guest_slaac = self.wait_for_slaac(GUEST, "br-lan", LAN_PREFIX6, GUEST_MAC);
        let web1 = Configured {
            lease: self.lease_and_apply(WEB1),
            slaac: web1_slaac,
        };
        let guest = Configured {
            lease: self.lease_and_apply(GUEST),
            slaac: guest_slaac,
        };
        (web1, guest)
    }

    /// TCP from VM `i` (from `src`, if given) to the internet's `dst`, served there on
    /// the unspecified address of `dst`'s family, until it connects; returns the address
    /// the server saw.
    fn out_to_internet(&self, what: &str, i: usize, src: Option<IpAddr>, dst: SocketAddr) -> IpAddr {
        let listen = SocketAddr::new(unspecified(dst.ip()), dst.port());
        let out = retry(
            what,
            || match src {
                Some(s) => probe::tcp_from(self.internet(), listen, self.vm(i), s, dst, probe::DEADLINE),
                None => probe::tcp(self.internet(), listen, self.vm(i), dst, probe::DEADLINE),
            },
            Outcome::is_connected,
        );
        out.peer_ip().expect("connected")
    }

    /// TCP from the internet to the uplink's `dst`, served by web1 on port 80 (of
    /// `dst`'s family), until it connects; returns the address web1 saw.
    fn in_to_web1(&self, what: &str, dst: SocketAddr) -> IpAddr {
        let listen = SocketAddr::new(unspecified(dst.ip()), 80);
        let out = retry(
            what,
            || probe::tcp(self.vm(WEB1), listen, self.internet(), dst, probe::DEADLINE),
            Outcome::is_connected,
        );
        out.peer_ip().expect("connected")
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

/// The unspecified address of `ip`'s family (where a probe's server listens).
fn unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    }
}

/// (1) What each VM configured for itself: web1 its static lease (10.1.0.10, router and
/// DNS the dmz bridge) and its SLAAC address in fd00:1::/64, the guest a pool lease of
/// lan and its SLAAC address in 2001:db8:2::/64 ([`Lab::bring_up`] already waited for
/// each SLAAC address and default route from its bridge's advertisements).
fn assert_configured(web1: &Configured, guest: &Configured) {
    assert_eq!(web1.lease.ip, WEB1_V4, "web1's static lease: {web1:?}");
    assert_eq!(web1.lease.routers, [DMZ_GW4], "{web1:?}");
    assert_eq!(web1.lease.dns, [DMZ_GW4], "{web1:?}");
    assert_eq!(web1.lease.subnet.as_deref(), Some("255.255.255.0"), "{web1:?}");
    assert!(in_64(web1.slaac, DMZ_PREFIX6), "{web1:?}");
    assert_eq!(
        web1.slaac,
        "fd00:1::a8cc:ff:fe00:101".parse::<Ipv6Addr>().unwrap()
    );

    assert!(
        in_pool(guest.lease.ip, LAN_POOL),
        "a pool address of lan: {guest:?}"
    );
    assert_eq!(guest.lease.routers, [LAN_GW4], "{guest:?}");
    assert_eq!(guest.lease.dns, [LAN_GW4], "{guest:?}");
    assert_eq!(guest.lease.subnet.as_deref(), Some("255.255.255.0"), "{guest:?}");
    assert!(in_64(guest.slaac, LAN_PREFIX6), "{guest:?}");
}

/// (2) The bridges' DNS: the guest asks its own bridge (lan) for a host of the other
/// network, and web1 asks its bridge for its IPv6 address.
fn assert_names(lab: &Lab) {
    let a = retry(
        "web1.dmz should resolve to 10.1.0.10 at 10.2.0.1 (asked from lan)",
        || lookup(lab.vm(GUEST), "a", "web1.dmz", LAN_GW4),
        |r| r.as_ref().is_ok_and(|v| v == &[IpAddr::V4(WEB1_V4)]),
    );
    assert_eq!(a, Ok(vec![IpAddr::V4(WEB1_V4)]));
    let aaaa = retry(
        "web1 should resolve (AAAA) to fd00:1::10 at 10.1.0.1 (asked from dmz)",
        || lookup(lab.vm(WEB1), "aaaa", "web1", DMZ_GW4),
        |r| r.as_ref().is_ok_and(|v| v == &[IpAddr::V6(WEB1_V6)]),
    );
    assert_eq!(aaaa, Ok(vec![IpAddr::V6(WEB1_V6)]));
}

/// web1 takes its declared IPv6 address too (no DAD: usable at once).
fn give_web1_its_ipv6(lab: &Lab) {
    lab.vm(WEB1).ip(&[
        "-6",
        "addr",
        "replace",
        &format!("{WEB1_V6}/64"),
        "dev",
        "eth0",
        "nodad",
    ]);
}

/// (3) Out: lan → external accepts everything, dmz → external tcp/80 and tcp/443. The
/// guest over IPv4 is masqueraded to the uplink, over IPv6 from its SLAAC address routed
/// (the server sees the guest's own address); web1 from fd00:1::10 is masqueraded to the
/// uplink's IPv6 address.
fn assert_outbound(lab: &Lab, guest: &Configured) {
    let seen = lab.out_to_internet(
        "guest → 192.0.2.1:8080 over IPv4",
        GUEST,
        None,
        SocketAddr::new(INTERNET_V4.into(), 8080),
    );
    assert_eq!(
        seen,
        IpAddr::V4(UPLINK_V4),
        "lan IPv4 is masqueraded to the uplink"
    );
    let seen = lab.out_to_internet(
        "guest → [2001:db8:1::1]:8081 from its SLAAC address",
        GUEST,
        Some(guest.slaac.into()),
        SocketAddr::new(INTERNET_V6.into(), 8081),
    );
    assert_eq!(
        seen,
        IpAddr::V6(guest.slaac),
        "the global lan prefix is routed: the server sees the guest's own address"
    );
    give_web1_its_ipv6(lab);
    let seen = lab.out_to_internet(
        "web1 → [2001:db8:1::1]:443 from fd00:1::10",
        WEB1,
        Some(WEB1_V6.into()),
        SocketAddr::new(INTERNET_V6.into(), 443),
    );
    assert_eq!(
        seen,
        IpAddr::V6(UPLINK_V6),
        "the unique-local dmz prefix is masqueraded to the uplink's IPv6 address"
    );
}

/// (4) In: the forward of tcp/80 to web1, over IPv4 (192.0.2.2:80 → 10.1.0.10:80) and
/// IPv6 ([2001:db8:1::2]:80 → [fd00:1::10]:80), web1 seeing the client's own address.
fn assert_inbound(lab: &Lab) {
    give_web1_its_ipv6(lab);
    let seen = lab.in_to_web1("internet → 192.0.2.2:80", SocketAddr::new(UPLINK_V4.into(), 80));
    assert_eq!(seen, IpAddr::V4(INTERNET_V4), "10.1.0.10:80 sees the client");
    let seen = lab.in_to_web1(
        "internet → [2001:db8:1::2]:80",
        SocketAddr::new(UPLINK_V6.into(), 80),
    );
    assert_eq!(seen, IpAddr::V6(INTERNET_V6), "[fd00:1::10]:80 sees the client");
}

#[test]
fn the_vms_configure_their_addresses_and_default_routes_from_brouters_dnsmasq() {
    let test = "the_vms_configure_their_addresses_and_default_routes_from_brouters_dnsmasq";
    if !Lab::can_run(test) {
        return;
    }
    let lab = Lab::new("fixaddr");
    let (web1, guest) = lab.bring_up();
    assert_configured(&web1, &guest);
}

#[test]
fn the_bridges_dns_answers_host_names_across_networks_and_in_aaaa() {
    let test = "the_bridges_dns_answers_host_names_across_networks_and_in_aaaa";
    if !Lab::can_run(test) {
        return;
    }
    let lab = Lab::new("fixdns");
    lab.bring_up();
    assert_names(&lab);
}

#[test]
fn the_vms_reach_the_internet_masqueraded_or_routed_by_family_and_prefix() {
    let test = "the_vms_reach_the_internet_masqueraded_or_routed_by_family_and_prefix";
    if !Lab::can_run(test) {
        return;
    }
    let lab = Lab::new("fixout");
    let (_, guest) = lab.bring_up();
    assert_outbound(&lab, &guest);
}

#[test]
fn the_internet_reaches_web1s_port_80_through_the_forward_over_both_families() {
    let test = "the_internet_reaches_web1s_port_80_through_the_forward_over_both_families";
    if !Lab::can_run(test) {
        return;
    }
    let lab = Lab::new("fixin");
    lab.bring_up();
    assert_inbound(&lab);
}

/// (5) After everything above (leases, SLAAC, DNS, traffic both ways, both families),
/// `status` reads the kernel back and finds it converged.
#[test]
fn status_is_converged_after_an_admins_session() {
    if !Lab::can_run("status_is_converged_after_an_admins_session") {
        return;
    }
    let lab = Lab::new("fixstatus");
    let (web1, guest) = lab.bring_up();
    assert_configured(&web1, &guest);
    assert_names(&lab);
    assert_outbound(&lab, &guest);
    assert_inbound(&lab);
    let (code, out) = lab.status();
    assert_eq!(code, 0, "status is converged:\n{out}");
}

/// (5) After the VMs configured themselves and traffic flowed, `stop` ends the test's
/// dnsmasq and removes both bridges; a second `stop` does nothing.
#[test]
fn stop_leaves_no_dnsmasq_and_a_second_stop_does_nothing() {
    if !Lab::can_run("stop_leaves_no_dnsmasq_and_a_second_stop_does_nothing") {
        return;
    }
    let lab = Lab::new("fixstop");
    let (_, guest) = lab.bring_up();
    assert_outbound(&lab, &guest);
    assert_inbound(&lab);
    assert!(
        !processes_naming(&lab.state).is_empty(),
        "dnsmasq runs before stop"
    );

    lab.ok(&["stop"]);
    assert_eq!(
        processes_naming(&lab.state),
        Vec::<u32>::new(),
        "no dnsmasq of ours remains after stop"
    );
    let links = lab.dom0().ip(&["-o", "link", "show"]);
    assert!(
        !links.contains(" br-dmz:") && !links.contains(" br-lan:"),
        "both bridges are gone:\n{links}"
    );
    let again = lab.ok(&["stop"]);
    assert!(
        again.contains("nothing to do"),
        "a second stop does nothing: {again}"
    );
    assert_eq!(processes_naming(&lab.state), Vec::<u32>::new());
}
