//! DHCP leases as anti-spoofing bindings, on a real kernel with real traffic: on a
//! network with `antispoof = true` and `dhcp = true`, a VM whose `[[host]]` declares its
//! MAC and no address is bound by `vif online` to its MAC alone with no address (only its
//! DHCP discover passes); the lease brouter's dnsmasq grants it (a real busybox `udhcpc`
//! in the domU) becomes its binding, and the lease's end (a DHCPRELEASE) takes the
//! address away again. A host whose `[[host]]` declares its address keeps exactly that
//! binding whatever leases happen. The dom0 accepts everything from the network (a
//! dmz → dom0 policy), so what passes or drops here is anti-spoofing, not zones. Root
//! only; every namespace is the test's own.

use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use brouter_integration::binary::brouter_bin;
use brouter_integration::dnsmasq_procs::{kill_processes_naming, processes_naming};
use brouter_integration::probe::{self, DEADLINE as PASS_DEADLINE, DROP_DEADLINE};
use brouter_integration::{root_or_skip, tool_or_skip, DomU, Outcome, Topology};
use brouter_lab::dhcp_client::{self, Lease};

const GW: Ipv4Addr = Ipv4Addr::new(10, 98, 98, 1);
const WEB1_IP: Ipv4Addr = Ipv4Addr::new(10, 98, 98, 10);
const WEB1_MAC: &str = "aa:cc:00:00:00:01";
const GUEST_MAC: &str = "aa:cc:00:00:00:77";
/// The domU declared as `[[host]] web1`, with its MAC and address.
const WEB1: usize = 0;
/// The domU declared as `[[host]] guest`, with its MAC and no address.
const GUEST: usize = 1;
const POOL: (Ipv4Addr, Ipv4Addr) = (Ipv4Addr::new(10, 98, 98, 100), Ipv4Addr::new(10, 98, 98, 199));

/// How long a client or the lease script may take to show a change (udhcpc tries 5
/// times, a second apart; dnsmasq runs its script after answering).
const DEADLINE: Duration = Duration::from_secs(15);

const CONFIG: &str = r#"
[uplink]
interface = "eth0"

[[network]]
name = "dmz"
bridge = "br0"
address = "10.98.98.1/24"
antispoof = true
dhcp = true
dhcp_range = "10.98.98.100-10.98.98.199"

[[host]]
name = "guest"
network = "dmz"
mac = "aa:cc:00:00:00:77"

[[host]]
name = "web1"
network = "dmz"
mac = "aa:cc:00:00:00:01"
addresses = ["10.98.98.10"]

[[policy]]
from = "dmz"
to = "dom0"
action = "accept"
"#;

/// The script our `udhcpc` runs (never busybox's default, which rewrites
/// `/etc/resolv.conf`): it changes nothing and prints the lease on one line, in the form
/// [`dhcp_client::parse_lease`] reads.
const UDHCPC_SCRIPT: &str = "#!/bin/sh\n\
case \"$1\" in\n\
  bound|renew) echo \"LEASE ip=$ip subnet=$subnet router=$router dns=$dns domain=$domain serverid=$serverid\" ;;\n\
esac\n\
exit 0\n";

/// A TCP port for each probe, so no two probes of this binary's tests share a listener.
static PORT: AtomicU16 = AtomicU16::new(23000);

struct Lab {
    t: Topology,
    state: PathBuf,
}

impl Lab {
    /// Root, dnsmasq and busybox's udhcpc, or skip.
    fn can_run(test: &str) -> bool {
        root_or_skip(test)
            && tool_or_skip(test, "udhcpc", "udhcpc")
            && tool_or_skip(test, "nft", "nftables")
            && (brouter_backends::dnsmasq::dnsmasq_program().is_some()
                || tool_or_skip(test, "dnsmasq", "dnsmasq-base"))
    }

    /// `start`, then both vifs online on br0 with their MACs and no `ip` (as Xen's
    /// hotplug would for a VM that gets its address by DHCP).
    fn new(tag: &str) -> Lab {
        let guest = DomU {
            name: "guest".into(),
            // Not on the network: the guest needs no address to ask for one.
            addr: "192.168.77.2/24".into(),
            gw: None,
            mac: Some(GUEST_MAC.into()),
        };
        let t = Topology::new(tag)
            .domu(DomU::new("web1", "10.98.98.10/24", "10.98.98.1").mac(WEB1_MAC))
            .domu(guest)
            .build();
        let state = std::env::temp_dir().join(format!("brouter-dhcplease-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("brouter.toml"), CONFIG).unwrap();
        let script = state.join("udhcpc.sh");
        std::fs::write(&script, UDHCPC_SCRIPT).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let lab = Lab { t, state };
        lab.ok(&["start"]);
        for i in [WEB1, GUEST] {
            let vif = lab.t.vif(i).to_string();
            let mac = lab.t.domu_spec(i).mac.clone().unwrap();
            lab.ok(&["vif", "online", "--vif", &vif, "--bridge", "br0", "--mac", &mac]);
        }
        lab
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

    /// domU `i`'s binding as `status --json` reports it: its MAC and its addresses
    /// (empty for "no address"); `None` when its port is not bound.
    fn status_binding(&self, i: usize) -> Option<(String, Vec<String>)> {
        let out = self.brouter(&["--json", "status"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "status --json: {e}\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let vif = self.t.vif(i);
        let port = v["networks"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|n| n["ports"].as_array().into_iter().flatten())
            .find(|p| p["vif"] == vif)
            .unwrap_or_else(|| panic!("status --json lists no port {vif}:\n{v:#}"));
        let bound = port["bound"].as_str()?;
        let (mac, addrs) = bound.split_once(' ').unwrap_or((bound, ""));
        let addrs = match addrs {
            "(no address)" => vec![],
            a => a.split_whitespace().map(String::from).collect(),
        };
        Some((mac.to_string(), addrs))
    }

    /// The elements of `bridge brouter`'s set `set` in the dom0 whose first key is
    /// domU `i`'s vif: the rest of each key, as text (what the kernel holds).
    fn set_keys(&self, set: &str, i: usize) -> Vec<String> {
        let out = self
            .t
            .dom0()
            .exec("nft", &["-j", "list", "set", "bridge", "brouter", set]);
        assert!(
            out.status.success(),
            "nft list set bridge brouter {set}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let vif = self.t.vif(i);
        let mut keys: Vec<String> = v["nftables"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|o| o["set"]["elem"].as_array().into_iter().flatten())
            .filter_map(|e| {
                // An element is its key, or `{"elem": {"val": key, …}}` with flags.
                let key = e.get("elem").map_or(e, |x| &x["val"]);
                let parts = key["concat"].as_array()?;
                (parts.first()? == vif).then(|| {
                    parts[1..]
                        .iter()
                        .map(|p| match p.as_str() {
                            Some(s) => s.to_string(),
                            None => p.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(" . ")
                })
            })
            .collect();
        keys.sort();
        keys
    }

    /// domU `i`'s binding as the kernel holds it (the vif's `mac_bind` elements and its
    /// IPv4 addresses and prefixes, `ip_host` and `ip_bind`), checked against what `status`
    /// says: its MAC and IPv4 addresses. The
    /// lease script may change it between two reads, so it is read (kernel, status,
    /// kernel) until all three agree, and a disagreement that lasts is a failure.
    fn binding(&self, i: usize) -> (String, Vec<String>) {
        let addrs = || {
            let mut a = self.set_keys("ip_host", i);
            a.extend(self.set_keys("ip_bind", i));
            a.sort();
            a
        };
        let kernel = || (self.set_keys("mac_bind", i), addrs());
        let end = Instant::now() + DEADLINE;
        loop {
            let before = kernel();
            let (mac, addrs) = self
                .status_binding(i)
                .unwrap_or_else(|| panic!("{} is not bound", self.t.vif(i)));
            let after = kernel();
            let seen = (vec![mac.clone()], addrs.clone());
            if before == after && after == seen {
                return (mac, addrs);
            }
            assert!(
                Instant::now() < end,
                "the kernel binds {after:?} (before: {before:?}), status says {seen:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait until domU `i` is bound to exactly `want`, or panic at the deadline with
    /// the last binding seen and dnsmasq's log (where a failing lease script shows).
    fn await_binding(&self, i: usize, want: &[Ipv4Addr], what: &str) {
        let want: Vec<String> = want.iter().map(|a| a.to_string()).collect();
        let end = Instant::now() + DEADLINE;
        loop {
            let (_, got) = self.binding(i);
            if got == want {
                return;
            }
            assert!(
                Instant::now() < end,
                "{what}: {} should be bound to {want:?}, is bound to {got:?}\ndnsmasq log:\n{}",
                self.t.vif(i),
                self.dnsmasq_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// brouter's dnsmasq directory (`<state>/<netns-id>/dnsmasq`), if there is one.
    fn dnsmasq_dir(&self) -> Option<PathBuf> {
        std::fs::read_dir(&self.state)
            .ok()?
            .flatten()
            .map(|e| e.path().join("dnsmasq"))
            .find(|p| p.is_dir())
    }

    /// Wait until dnsmasq's log has a line containing `needle`.
    fn await_log(&self, needle: &str, what: &str) {
        let end = Instant::now() + DEADLINE;
        while !self.dnsmasq_log().contains(needle) {
            assert!(
                Instant::now() < end,
                "{what}: dnsmasq never logged {needle:?}:\n{}",
                self.dnsmasq_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn dnsmasq_log(&self) -> String {
        self.dnsmasq_dir()
            .and_then(|d| std::fs::read_to_string(d.join("dnsmasq.log")).ok())
            .unwrap_or_else(|| "(none)".into())
    }

    /// `udhcpc -n -q -i eth0 -s OUR_SCRIPT -t 5 -T 1` in domU `i`: the lease it printed,
    /// or its output when it got none.
    fn udhcpc(&self, i: usize) -> Result<Lease, String> {
        let script = self.state.join("udhcpc.sh").display().to_string();
        let args = ["-n", "-q", "-i", "eth0", "-s", &script, "-t", "5", "-T", "1"];
        let out = self.t.domu(i).exec("udhcpc", &args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        match (
            out.status.success(),
            stdout.lines().find_map(dhcp_client::parse_lease),
        ) {
            (true, Some(l)) => Ok(l),
            _ => Err(format!(
                "udhcpc {args:?} in domU {i} ({}):\n{stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )),
        }
    }

    /// A lease for domU `i` (our script, nothing released), asking again until the
    /// deadline.
    fn lease(&self, i: usize) -> Lease {
        let end = Instant::now() + DEADLINE;
        loop {
            match self.udhcpc(i) {
                Ok(l) => return l,
                Err(why) if Instant::now() >= end => panic!("{why}"),
                Err(_) => {}
            }
        }
    }

    /// domU `i` asks for `ip` again with a DHCP client that stays (`udhcpc -f -R`), and
    /// the client quits (SIGTERM) once it holds the lease: with `-R` it sends a
    /// DHCPRELEASE as it quits, and dnsmasq ends the lease. (`-q -R` would not: busybox
    /// 1.35 quits before it counts itself bound, and releases nothing.) The lease it
    /// held, and what the client said.
    fn release(&self, i: usize, ip: Ipv4Addr) -> (Lease, String) {
        let script = self.state.join("udhcpc.sh");
        let ip = ip.to_string();
        let child = self.t.domu(i).run(move || {
            Command::new("udhcpc")
                .args([
                    "-f", "-R", "-n", "-i", "eth0", "-t", "5", "-T", "1", "-r", &ip, "-s",
                ])
                .arg(&script)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run udhcpc")
        });
        let mut client = Client(Some(child));
        let stdout = client.0.as_mut().unwrap().stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let end = Instant::now() + DEADLINE;
        let mut seen = String::new();
        let lease = loop {
            let left = end.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    seen.push_str(&line);
                    seen.push('\n');
                    if let Some(l) = dhcp_client::parse_lease(&line) {
                        break l;
                    }
                }
                Err(_) => panic!("udhcpc -f -R in domU {i} got no lease:\n{seen}"),
            }
        };
        let said = client.quit();
        (lease, said)
    }

    /// domU `i`'s eth0 holds exactly `addrs` (each /24), as its own DHCP client or its
    /// admin would configure it.
    fn set_addrs(&self, i: usize, addrs: &[Ipv4Addr]) {
        let ns = self.t.domu(i);
        ns.ip(&["addr", "flush", "dev", "eth0"]);
        for a in addrs {
            ns.ip(&["addr", "add", &format!("{a}/24"), "dev", "eth0"]);
        }
    }

    /// A TCP connection from domU `i`, sent from `src`, to a server of ours on the
    /// bridge address (the dom0).
    fn tcp_from(&self, i: usize, src: Ipv4Addr, deadline: Duration) -> Outcome {
        let port = PORT.fetch_add(1, Ordering::Relaxed);
        probe::tcp_from(
            self.t.dom0(),
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            self.t.domu(i),
            IpAddr::V4(src),
            SocketAddr::new(IpAddr::V4(GW), port),
            deadline,
        )
    }

    /// An ICMP echo from domU `i` (from its primary address) to the bridge address.
    fn ping(&self, i: usize, deadline: Duration) -> Outcome {
        probe::icmp(self.t.dom0(), self.t.domu(i), IpAddr::V4(GW), deadline)
    }

    /// domU `i`, sending from `src` (its primary address), reaches the dom0 by ping and
    /// by TCP, seen there from `src`.
    fn assert_reaches(&self, i: usize, src: Ipv4Addr, what: &str) {
        let ping = self.ping(i, PASS_DEADLINE);
        assert_eq!(
            ping.peer_ip(),
            Some(IpAddr::V4(src)),
            "{what}: ping from {src}: {ping:?}"
        );
        let tcp = self.tcp_from(i, src, PASS_DEADLINE);
        assert_eq!(
            tcp.peer_ip(),
            Some(IpAddr::V4(src)),
            "{what}: tcp from {src}: {tcp:?}"
        );
    }

    /// Nothing domU `i` sends from `src` reaches the dom0 (TCP; ping too when `src` is
    /// its primary address).
    fn assert_dropped(&self, i: usize, src: Ipv4Addr, primary: bool, what: &str) {
        let tcp = self.tcp_from(i, src, DROP_DEADLINE);
        assert!(
            !tcp.is_connected(),
            "{what}: tcp from {src} must be dropped: {tcp:?}"
        );
        if primary {
            let ping = self.ping(i, DROP_DEADLINE);
            assert!(
                !ping.is_connected(),
                "{what}: ping from {src} must be dropped: {ping:?}"
            );
        }
    }

    /// The guest's pool lease, and its binding once the lease script made it.
    fn guest_leased(&self) -> Ipv4Addr {
        let lease = self.lease(GUEST);
        assert!(in_pool(lease.ip), "a pool address: {lease:?}");
        assert_eq!(lease.routers, [GW], "{lease:?}");
        self.await_binding(GUEST, &[lease.ip], "the guest's lease");
        lease.ip
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // A failed test may leave its dnsmasq running, which would keep its namespace
        // alive: end it (only processes naming this test's state directory).
        kill_processes_naming(&self.state);
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// A `udhcpc` this test started: SIGTERM and reaped when it quits, SIGKILL and reaped
/// if a failed assertion drops it first.
struct Client(Option<Child>);

impl Client {
    /// SIGTERM (with `-R`, udhcpc releases its lease as it quits), wait for it, and
    /// return what it said on stderr.
    fn quit(&mut self) -> String {
        let mut child = self.0.take().expect("a running client");
        // SAFETY: kill(2) with plain integers; `child` is the udhcpc this test started.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let status = child.wait().expect("wait for udhcpc");
        assert!(status.success(), "udhcpc quit with {status}:\n{err}");
        err
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn in_pool(ip: Ipv4Addr) -> bool {
    (u32::from(POOL.0)..=u32::from(POOL.1)).contains(&u32::from(ip))
}

/// An address of the pool other than `a`, for a guest that lies about its address.
fn other_than(a: Ipv4Addr) -> Ipv4Addr {
    let b = Ipv4Addr::new(10, 98, 98, 150);
    if a == b {
        Ipv4Addr::new(10, 98, 98, 151)
    } else {
        b
    }
}

#[test]
fn before_any_lease_the_guest_is_bound_to_no_address_and_reaches_nothing() {
    if !Lab::can_run("before_any_lease_the_guest_is_bound_to_no_address_and_reaches_nothing") {
        return;
    }
    let lab = Lab::new("leasenone");
    assert_eq!(
        lab.binding(GUEST),
        (GUEST_MAC.to_string(), vec![]),
        "vif online binds the guest to its MAC and no address"
    );
    // The guest configures a pool address by hand instead of asking for it.
    let by_hand = Ipv4Addr::new(10, 98, 98, 150);
    lab.set_addrs(GUEST, &[by_hand]);
    lab.assert_dropped(GUEST, by_hand, true, "an address no lease gave");
    // web1, bound to its declared address, does reach the dom0: the drop is the guest's.
    lab.assert_reaches(WEB1, WEB1_IP, "web1 at its declared address");
    assert_eq!(lab.binding(GUEST).1, Vec::<String>::new());
}

#[test]
fn a_lease_binds_the_guest_to_exactly_the_leased_address() {
    if !Lab::can_run("a_lease_binds_the_guest_to_exactly_the_leased_address") {
        return;
    }
    let lab = Lab::new("leasebind");
    let a = lab.guest_leased();
    assert_eq!(lab.binding(GUEST).0, GUEST_MAC);

    lab.set_addrs(GUEST, &[a]);
    lab.assert_reaches(GUEST, a, "the guest at its leased address");

    // The same guest, same MAC, sending from another address it holds: dropped.
    let b = other_than(a);
    lab.t
        .domu(GUEST)
        .ip(&["addr", "add", &format!("{b}/24"), "dev", "eth0"]);
    lab.assert_dropped(GUEST, b, false, "a second address no lease gave");
    // …while the leased one still passes.
    lab.assert_reaches(GUEST, a, "the guest at its leased address, next to b");
    assert_eq!(lab.binding(GUEST).1, [a.to_string()]);
    // A lease's binding is what brouter meant, not drift.
    let status = lab.brouter(&["status"]);
    assert_eq!(
        status.status.code(),
        Some(0),
        "status after a lease:\n{}{}",
        String::from_utf8_lossy(&status.stdout),
        String::from_utf8_lossy(&status.stderr)
    );
}

#[test]
fn the_end_of_the_lease_takes_the_address_away_again() {
    if !Lab::can_run("the_end_of_the_lease_takes_the_address_away_again") {
        return;
    }
    let lab = Lab::new("leaseend");
    let a = lab.guest_leased();
    lab.set_addrs(GUEST, &[a]);
    lab.assert_reaches(GUEST, a, "the guest at its leased address");

    // The guest renews A and releases it as it quits (DHCPRELEASE): dnsmasq calls
    // `dhcp-lease del`.
    let (renewed, said) = lab.release(GUEST, a);
    assert_eq!(renewed.ip, a, "the same lease, renewed before the release");
    assert!(
        said.contains("unicasting a release"),
        "udhcpc released it:\n{said}"
    );
    lab.await_binding(GUEST, &[], "the released lease");
    assert_eq!(lab.binding(GUEST).0, GUEST_MAC, "still bound to its MAC");
    lab.assert_dropped(GUEST, a, true, "the released address");

    // Asking again binds the new lease (dnsmasq may give A again).
    let again = lab.guest_leased();
    lab.set_addrs(GUEST, &[again]);
    lab.assert_reaches(GUEST, again, "the guest at its new lease");
}

#[test]
fn a_declared_address_stays_the_binding_whatever_leases_happen() {
    if !Lab::can_run("a_declared_address_stays_the_binding_whatever_leases_happen") {
        return;
    }
    let lab = Lab::new("leasepin");
    let want = (WEB1_MAC.to_string(), vec![WEB1_IP.to_string()]);
    assert_eq!(lab.binding(WEB1), want, "bound to its declared address");

    let lease = lab.lease(WEB1);
    assert_eq!(
        lease.ip, WEB1_IP,
        "dnsmasq gives web1 its declared address: {lease:?}"
    );
    assert_eq!(lab.binding(WEB1), want, "after web1's lease");

    // web1 releases its lease (DHCPRELEASE, so dnsmasq runs `dhcp-lease del` for .10).
    let (renewed, said) = lab.release(WEB1, WEB1_IP);
    assert_eq!(renewed.ip, WEB1_IP);
    assert!(
        said.contains("unicasting a release"),
        "udhcpc released it:\n{said}"
    );
    lab.await_log("DHCPRELEASE(br0) 10.98.98.10 aa:cc:00:00:00:01", "web1's release");
    // dnsmasq runs its lease script once per event, in order: once the guest's lease
    // (granted after web1's release) is its binding, web1's `del` has run too.
    let a = lab.guest_leased();
    assert_eq!(
        lab.binding(WEB1),
        want,
        "after web1's release and the guest's lease"
    );
    lab.set_addrs(GUEST, &[a]);
    lab.release(GUEST, a);
    lab.await_binding(GUEST, &[], "the guest's released lease");
    assert_eq!(lab.binding(WEB1), want, "after the guest's release");

    lab.assert_reaches(WEB1, WEB1_IP, "web1 after its release");
    let spoof = Ipv4Addr::new(10, 98, 98, 11);
    lab.t
        .domu(WEB1)
        .ip(&["addr", "add", &format!("{spoof}/24"), "dev", "eth0"]);
    lab.assert_dropped(WEB1, spoof, false, "web1 from an undeclared address");
}

#[test]
fn stop_leaves_no_dnsmasq_no_lease_script_and_no_binding() {
    if !Lab::can_run("stop_leaves_no_dnsmasq_no_lease_script_and_no_binding") {
        return;
    }
    let lab = Lab::new("leasestop");
    lab.guest_leased();
    assert_eq!(lab.lease(WEB1).ip, WEB1_IP);
    let dir = lab.dnsmasq_dir().expect("dnsmasq's directory");
    assert!(!processes_naming(&lab.state).is_empty(), "dnsmasq runs");

    lab.ok(&["stop"]);
    assert_eq!(
        processes_naming(&lab.state),
        Vec::<u32>::new(),
        "no dnsmasq (nor lease-script helper) of ours remains"
    );
    assert!(!dir.exists(), "{} is removed", dir.display());
    let tables = lab.t.dom0().exec("nft", &["list", "tables"]);
    let tables = String::from_utf8_lossy(&tables.stdout).into_owned();
    assert!(!tables.contains("brouter"), "no brouter table remains:\n{tables}");
    let again = lab.ok(&["stop"]);
    assert!(again.contains("nothing to do"), "{again}");

    let names = lab.t.netns_names();
    drop(lab);
    let left: Vec<String> = brouter_lab::netns::names_with_prefix("brt-")
        .into_iter()
        .filter(|n| names.contains(n))
        .collect();
    assert!(left.is_empty(), "the test's namespaces are gone: {left:?}");
}
