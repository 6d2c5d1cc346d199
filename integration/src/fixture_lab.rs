//! A committed fixture (`fixtures/*.toml`) run end to end the way an admin runs it:
//! `brouter --config FIXTURE start` in a dom0 namespace, VMs plugged in by `vif online`
//! that configure themselves with real clients — busybox `udhcpc` for IPv4 (the lab
//! applies the lease with `ip`, as a DHCP client script would), the kernel's SLAAC from
//! dnsmasq's router advertisements for IPv6 — and probes of what they can then reach.
//!
//! Shared by the fixture tests (`dualstack_fixture`, `isp_fixture`, `seed_fixture`):
//! the topology gives the uplink an IPv6 address and default route, and the internet a
//! route back to every global prefix a fixture routes. Root only; every namespace and
//! dnsmasq is the lab's own and goes with it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Output;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use brouter_lab::dhcp_client::{self, Lease};

use crate::binary::{brouter_config, succeeded};
use crate::dnsmasq_procs::processes_naming;
use crate::topology::INTERNET_IFACE;
use crate::{probe, root_or_skip, tool_or_skip, DomU, Netns, Outcome, Topology};

/// The uplink's name in every fixture.
pub const UPLINK: &str = "eth0";
/// dom0's uplink address: what the internet sees of masqueraded IPv4.
pub const UPLINK_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// The internet side of the uplink (the topology's gateway).
pub const INTERNET_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// dom0's uplink IPv6 address: what the internet sees of masqueraded IPv6.
pub const UPLINK_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
/// The internet side of the uplink, IPv6.
pub const INTERNET_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);

/// How long a VM may take to get a lease, its SLAAC address and route, a DNS answer or a
/// first flow through (udhcpc tries 5 times a second apart; SLAAC waits for the
/// bridge's router advertisement).
pub const DEADLINE: Duration = Duration::from_secs(20);

/// One VM of a fixture lab: its name (namespace tag), MAC and the bridge it is plugged
/// into.
#[derive(Debug, Clone, Copy)]
pub struct Vm {
    pub name: &'static str,
    pub mac: &'static str,
    pub bridge: &'static str,
}

/// The address SLAAC builds from `mac` in the /64 `prefix` (modified EUI-64, RFC 4291
/// appendix A), computed here independently of brouter.
pub fn slaac(prefix: Ipv6Addr, mac: &str) -> Ipv6Addr {
    let m: Vec<u8> = mac
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect();
    let iid = [m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]];
    let mut a = prefix.octets();
    a[8..].copy_from_slice(&iid);
    Ipv6Addr::from(a)
}

/// Whether `ip` is in the /64 `prefix`.
pub fn in_64(ip: Ipv6Addr, prefix: Ipv6Addr) -> bool {
    ip.octets()[..8] == prefix.octets()[..8]
}

/// Whether `ip` is in the inclusive range `(first, last)`.
pub fn in_pool(ip: Ipv4Addr, (first, last): (Ipv4Addr, Ipv4Addr)) -> bool {
    (u32::from(first)..=u32::from(last)).contains(&u32::from(ip))
}

/// One IPv6 address of an interface as `ip -j addr` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr6 {
    pub dev: String,
    pub ip: Ipv6Addr,
    pub prefix: u8,
    pub scope: String,
    /// Duplicate address detection still running (or failed): not usable yet.
    pub tentative: bool,
}

/// Every IPv6 address of `dev` in `ns`.
pub fn addrs6(ns: &Netns, dev: &str) -> Vec<Addr6> {
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
pub fn default_routes6(ns: &Netns) -> Vec<(String, String, String)> {
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
pub fn lookup(ns: &Netns, kind: &str, name: &str, server: Ipv4Addr) -> Result<Vec<IpAddr>, String> {
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

/// `f` until `ok` holds of what it returns, or panic at the deadline with `what` and the
/// last result (a flow's first packets may race the neighbour tables; no sleeps as
/// synchronisation, only a short pause between attempts that returned at once).
pub fn retry<T: std::fmt::Debug>(what: &str, mut f: impl FnMut() -> T, ok: impl Fn(&T) -> bool) -> T {
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
/// process, so two tests asking at once race on it.
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

/// The unspecified address of `ip`'s family (where a probe's server listens).
pub fn unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    }
}

/// What a VM configured for itself: its lease and its SLAAC address.
#[derive(Debug, Clone)]
pub struct Configured {
    pub lease: Lease,
    pub slaac: Ipv6Addr,
}

/// The lab: the topology, the fixture, the VMs and brouter's state directory.
pub struct FixtureLab {
    t: Topology,
    fixture: PathBuf,
    vms: Vec<Vm>,
    /// brouter's memory and dnsmasq's files (`BROUTER_STATE_DIR`).
    pub state: PathBuf,
}

impl FixtureLab {
    /// Root, dnsmasq and busybox's clients, or skip (a failure under `CI=true`).
    pub fn can_run(test: &str) -> bool {
        root_or_skip(test)
            && tool_or_skip(test, "udhcpc", "udhcpc")
            && tool_or_skip(test, "busybox", "busybox")
            && (brouter_backends::dnsmasq::dnsmasq_program().is_some()
                || tool_or_skip(test, "dnsmasq", "dnsmasq-base"))
    }

    /// The topology for `fixture` (a file name under `fixtures/`): the uplink `eth0`
    /// (IPv4 from the topology, IPv6 and its default route added here), the internet
    /// with a route back via the dom0 to each of `routed6` (the global prefixes the
    /// fixture routes), and one domU per VM with no IPv4 address (it asks DHCP) whose
    /// vif is down and unattached, as Xen hands it over.
    pub fn new(tag: &str, fixture: &str, vms: &[Vm], routed6: &[Ipv6Addr]) -> FixtureLab {
        let mut b = Topology::new(tag);
        for vm in vms {
            // The topology wants an address per domU: one off every network, removed below.
            b = b.domu(DomU {
                name: vm.name.into(),
                addr: "192.168.77.2/24".into(),
                gw: None,
                mac: Some(vm.mac.into()),
            });
        }
        let t = b.build();
        t.dom0().ip_batch(&[
            format!("addr add {UPLINK_V6}/64 dev {UPLINK} nodad"),
            format!("route add ::/0 via {INTERNET_V6} dev {UPLINK}"),
        ]);
        let mut internet = vec![format!("addr add {INTERNET_V6}/64 dev {INTERNET_IFACE} nodad")];
        internet.extend(
            routed6
                .iter()
                .map(|p| format!("route add {p}/64 via {UPLINK_V6} dev {INTERNET_IFACE}")),
        );
        t.internet().ip_batch(&internet);
        for i in 0..vms.len() {
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
        let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures")
            .join(fixture);
        FixtureLab {
            t,
            fixture,
            vms: vms.to_vec(),
            state,
        }
    }

    pub fn dom0(&self) -> &Netns {
        self.t.dom0()
    }

    pub fn internet(&self) -> &Netns {
        self.t.internet()
    }

    /// VM `i`'s namespace.
    pub fn vm(&self, i: usize) -> &Netns {
        self.t.domu(i)
    }

    /// VM `i`'s vif in the dom0.
    pub fn vif(&self, i: usize) -> &str {
        self.t.vif(i)
    }

    /// `brouter --netns DOM0 --config FIXTURE ARGS…`.
    pub fn brouter(&self, args: &[&str]) -> Output {
        brouter_config(self.dom0(), &self.fixture, &self.state, args)
    }

    /// [`FixtureLab::brouter`], which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        succeeded(&self.brouter(args), &format!("brouter {args:?}"))
    }

    /// `status`: its exit code and its text.
    pub fn status(&self) -> (i32, String) {
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

    /// `start`, then every vif online on its bridge (as Xen's hotplug would): the domUs'
    /// links come up, and with them IPv6 autoconfiguration.
    pub fn start_with_vms(&self) {
        self.ok(&["start"]);
        for (i, vm) in self.vms.iter().enumerate() {
            let vif = self.vif(i).to_string();
            self.ok(&[
                "vif", "online", "--vif", &vif, "--bridge", vm.bridge, "--mac", vm.mac,
            ]);
        }
    }

    /// The bridge's usable link-local address (the router its VMs should use).
    pub fn bridge_link_local(&self, bridge: &str) -> Option<Ipv6Addr> {
        addrs6(self.dom0(), bridge)
            .into_iter()
            .find(|a| a.scope == "link" && !a.tentative)
            .map(|a| a.ip)
    }

    /// Wait until VM `i` has the SLAAC address of its MAC in `prefix` (usable) and a
    /// default route learnt from its bridge's router advertisements; returns the address.
    pub fn wait_for_slaac(&self, i: usize, prefix: Ipv6Addr) -> Ipv6Addr {
        let Vm { mac, bridge, .. } = self.vms[i];
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
    pub fn lease_and_apply(&self, i: usize) -> Lease {
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

    /// VM `i` configures itself: its SLAAC address and default route in `prefix` from
    /// its bridge's advertisements, then its DHCP lease (applied).
    pub fn configure(&self, i: usize, prefix: Ipv6Addr) -> Configured {
        let slaac = self.wait_for_slaac(i, prefix);
        Configured {
            lease: self.lease_and_apply(i),
            slaac,
        }
    }

    /// VM `i` takes a static IPv6 address too (no DAD: usable at once), as a declared
    /// host's own configuration would.
    pub fn add_ipv6(&self, i: usize, addr: Ipv6Addr) {
        self.vm(i).ip(&[
            "-6",
            "addr",
            "replace",
            &format!("{addr}/64"),
            "dev",
            "eth0",
            "nodad",
        ]);
    }

    /// TCP from VM `i` (from `src`, if given) to the internet's `dst`, served there on
    /// the unspecified address of `dst`'s family, until it connects; returns the address
    /// the server saw.
    pub fn out_to_internet(&self, what: &str, i: usize, src: Option<IpAddr>, dst: SocketAddr) -> IpAddr {
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

    /// TCP from VM `i` from `src` to the internet's `dst`, served there: once, with the
    /// probe's deadline (for flows that must not pass).
    pub fn to_internet_once(&self, i: usize, src: IpAddr, dst: SocketAddr) -> Outcome {
        let listen = SocketAddr::new(unspecified(dst.ip()), dst.port());
        probe::tcp_from(self.internet(), listen, self.vm(i), src, dst, probe::DEADLINE)
    }

    /// TCP from the internet to the uplink's `dst`, served by VM `i` on `port` (of
    /// `dst`'s family), until it connects; returns the address the VM saw.
    pub fn in_from_internet(&self, what: &str, i: usize, port: u16, dst: SocketAddr) -> IpAddr {
        let listen = SocketAddr::new(unspecified(dst.ip()), port);
        let out = retry(
            what,
            || probe::tcp(self.vm(i), listen, self.internet(), dst, probe::DEADLINE),
            Outcome::is_connected,
        );
        out.peer_ip().expect("connected")
    }

    /// TCP from VM `from` (from `src`, if given) to VM `to`'s `dst`, served there on the
    /// unspecified address of `dst`'s family: once, with the probe's deadline.
    pub fn vm_to_vm(&self, from: usize, src: Option<IpAddr>, to: usize, dst: SocketAddr) -> Outcome {
        let listen = SocketAddr::new(unspecified(dst.ip()), dst.port());
        match src {
            Some(s) => probe::tcp_from(self.vm(to), listen, self.vm(from), s, dst, probe::DEADLINE),
            None => probe::tcp(self.vm(to), listen, self.vm(from), dst, probe::DEADLINE),
        }
    }
}

impl Drop for FixtureLab {
    fn drop(&mut self) {
        // A failed test may leave its dnsmasq running, which would keep its namespace
        // alive: end it (only processes naming this lab's state directory).
        for pid in processes_naming(&self.state) {
            // SAFETY: kill(2) with plain integers; `pid` is a dnsmasq of this lab's.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        let _ = std::fs::remove_dir_all(&self.state);
    }
}
