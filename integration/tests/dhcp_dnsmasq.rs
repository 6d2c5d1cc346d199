//! brouter's dnsmasq on a real kernel, seen from the VMs: real `udhcpc` and `nslookup`
//! in veth domUs get leases and names from the dnsmasq `start` runs in the dom0
//! namespace; a converged `start` leaves it alone, a host edit reloads it (same process),
//! a pool edit restarts it, a killed one is reported by `status` and started again by
//! `start`, and `stop` leaves no process and no file. DHCP and DNS pass a zone policy
//! that drops everything else to the dom0. Root only; every namespace is the test's own.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use brouter_integration::binary::brouter_bin;
use brouter_integration::dnsmasq_procs::{exited, kill_processes_naming, parent, processes_naming};
use brouter_integration::probe::{self, DROP_DEADLINE};
use brouter_integration::{root_or_skip, tool_or_skip, DomU, Netns, Outcome, Topology};
use brouter_lab::dhcp_client::{self, Lease};

const GW: Ipv4Addr = Ipv4Addr::new(10, 98, 98, 1);
const WEB1_MAC: &str = "aa:cc:00:00:00:01";
const GUEST_MAC: &str = "aa:cc:00:00:00:77";
/// The domU declared as `[[host]] web1`.
const WEB1: usize = 0;
/// A domU whose MAC no `[[host]]` declares.
const GUEST: usize = 1;

/// How long a client may take to see a change (udhcpc tries 5 times, a second apart).
const DEADLINE: Duration = Duration::from_secs(15);

/// The config: one DHCP network with `web1` at `web1_addr`, `extra` appended (hosts,
/// policies), and the pool `range` if given.
fn config(web1_addr: &str, range: Option<&str>, extra: &str) -> String {
    let range = range
        .map(|r| format!("dhcp_range = \"{r}\"\n"))
        .unwrap_or_default();
    format!(
        r#"
[uplink]
interface = "eth0"

[[network]]
name = "dmz"
bridge = "br0"
address = "10.98.98.1/24"
dhcp = true
{range}
[[host]]
name = "web1"
network = "dmz"
mac = "{WEB1_MAC}"
addresses = ["{web1_addr}"]
{extra}"#
    )
}

/// The dom0 accepts everything from the network: what these tests look at is dnsmasq,
/// not the firewall (the last test looks at the firewall).
const ACCEPT_TO_DOM0: &str = "\n[[policy]]\nfrom = \"dmz\"\nto = \"dom0\"\naction = \"accept\"\n";

struct Lab {
    t: Topology,
    state: PathBuf,
}

impl Lab {
    /// Root, dnsmasq and busybox's clients, or skip.
    fn can_run(test: &str) -> bool {
        root_or_skip(test)
            && tool_or_skip(test, "udhcpc", "udhcpc")
            && tool_or_skip(test, "busybox", "busybox")
            && (brouter_backends::dnsmasq::dnsmasq_program().is_some()
                || tool_or_skip(test, "dnsmasq", "dnsmasq-base"))
    }

    fn new(tag: &str, config: &str) -> Lab {
        let guest = DomU {
            name: "guest".into(),
            // Not on the network: the domU needs no address to ask for one.
            addr: "192.168.77.2/24".into(),
            gw: None,
            mac: Some(GUEST_MAC.into()),
        };
        let t = Topology::new(tag)
            .domu(DomU::new("web1", "10.98.98.10/24", "10.98.98.1").mac(WEB1_MAC))
            .domu(guest)
            .build();
        let state = std::env::temp_dir().join(format!("brouter-dhcp-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        std::fs::create_dir_all(&state).unwrap();
        let lab = Lab { t, state };
        lab.set_config(config);
        lab
    }

    fn set_config(&self, text: &str) {
        std::fs::write(self.state.join("brouter.toml"), text).unwrap();
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

    /// `--json start`: the steps it took.
    fn start(&self) -> Vec<String> {
        let out = self.ok(&["--json", "start"]);
        let v: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("start --json: {e}:\n{out}"));
        v["steps"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
            .unwrap_or_default()
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

    /// `start`, then both domUs' vifs online on br0 (as Xen's hotplug would).
    fn start_with_domus(&self) {
        self.start();
        for i in [WEB1, GUEST] {
            let vif = self.t.vif(i).to_string();
            let mac = self.t.domu_spec(i).mac.clone().unwrap();
            self.ok(&["vif", "online", "--vif", &vif, "--bridge", "br0", "--mac", &mac]);
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

    /// brouter's dnsmasq processes of this test (and only this test's).
    fn our_processes(&self) -> Vec<u32> {
        processes_naming(&self.state)
    }

    /// The one dnsmasq of this test, panicking unless exactly one runs (its lease-script
    /// helper, a child of its own with the same command line, is not counted). Right after
    /// a restart the old instance's helper may outlive its parent for a moment (orphaned,
    /// it exits when it reads the end of its pipe), so this asks again until the deadline.
    fn dnsmasq_pid(&self) -> u32 {
        let end = Instant::now() + DEADLINE;
        let pids = loop {
            let all = self.our_processes();
            let pids: Vec<u32> = all
                .iter()
                .copied()
                .filter(|p| !all.contains(&parent(*p)))
                .collect();
            if pids.len() == 1 || Instant::now() >= end {
                break pids;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(pids.len(), 1, "exactly one dnsmasq of this test runs: {pids:?}");
        let pid_file = self
            .dnsmasq_dir()
            .expect("dnsmasq's directory")
            .join("dnsmasq.pid");
        let recorded: u32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(recorded, pids[0], "the pid file names the running dnsmasq");
        pids[0]
    }

    /// A lease for domU `i`, asking again until the deadline.
    fn lease(&self, i: usize) -> Lease {
        let end = Instant::now() + DEADLINE;
        loop {
            match dhcp_client::lease(self.t.domu(i), "eth0").expect("run udhcpc") {
                Ok(l) => return l,
                Err(why) if Instant::now() >= end => panic!("{why}"),
                Err(_) => {}
            }
        }
    }

    /// A lease for domU `i` that satisfies `want`, asking again until the deadline (a
    /// reloaded or restarted dnsmasq answers the next DISCOVER with what it reads now).
    fn lease_where(&self, i: usize, what: &str, want: impl Fn(&Lease) -> bool) -> Lease {
        let end = Instant::now() + DEADLINE;
        loop {
            let l = self.lease(i);
            if want(&l) {
                return l;
            }
            assert!(Instant::now() < end, "no lease {what} for domU {i}; last: {l:?}");
        }
    }

    /// The A records of `name` asked from web1's domU at the bridge, once they equal
    /// `want` (a reload is asynchronous), or panic at the deadline with the last answer.
    fn resolves(&self, name: &str, want: &[Ipv4Addr]) {
        let end = Instant::now() + DEADLINE;
        loop {
            let got = dhcp_client::lookup_a(self.t.domu(WEB1), name, GW).expect("run nslookup");
            if got.as_deref() == Ok(want) {
                return;
            }
            assert!(
                Instant::now() < end,
                "{name} should resolve to {want:?}; last: {got:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
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

fn in_pool(ip: Ipv4Addr, first: Ipv4Addr, last: Ipv4Addr) -> bool {
    (u32::from(first)..=u32::from(last)).contains(&u32::from(ip))
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn start_gives_the_declared_host_its_address_and_names_and_others_a_pool_address() {
    let test = "start_gives_the_declared_host_its_address_and_names_and_others_a_pool_address";
    if !Lab::can_run(test) {
        return;
    }
    let lab = Lab::new("dhcpstart", &config("10.98.98.10", None, ACCEPT_TO_DOM0));
    lab.start_with_domus();

    let web1 = lab.lease(WEB1);
    assert_eq!(web1.ip, ip("10.98.98.10"), "{web1:?}");
    assert_eq!(web1.routers, [GW], "the bridge is the router: {web1:?}");
    assert_eq!(web1.dns, [GW], "the bridge is the DNS server: {web1:?}");
    assert_eq!(web1.subnet.as_deref(), Some("255.255.255.0"), "{web1:?}");

    let guest = lab.lease(GUEST);
    assert!(
        in_pool(guest.ip, ip("10.98.98.2"), ip("10.98.98.254")) && guest.ip != web1.ip,
        "a pool address, never web1's: {guest:?}"
    );

    lab.resolves("web1", &[ip("10.98.98.10")]);
    lab.resolves("web1.dmz", &[ip("10.98.98.10")]);
}

#[test]
fn a_converged_start_leaves_dnsmasq_alone() {
    if !Lab::can_run("a_converged_start_leaves_dnsmasq_alone") {
        return;
    }
    let lab = Lab::new("dhcpconv", &config("10.98.98.10", None, ACCEPT_TO_DOM0));
    let first = lab.start();
    assert!(
        first.iter().any(|s| s.starts_with("start dnsmasq")),
        "the first start starts dnsmasq: {first:?}"
    );
    let pid = lab.dnsmasq_pid();

    let again = lab.start();
    assert!(again.is_empty(), "a converged start does nothing: {again:?}");
    let plan = lab.ok(&["plan"]);
    assert!(plan.contains("nothing to do"), "{plan}");
    assert_eq!(lab.dnsmasq_pid(), pid, "the same dnsmasq serves on");
    let (code, out) = lab.status();
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_host_edit_reloads_dnsmasq_and_a_pool_edit_restarts_it() {
    if !Lab::can_run("a_host_edit_reloads_dnsmasq_and_a_pool_edit_restarts_it") {
        return;
    }
    let lab = Lab::new("dhcpedit", &config("10.98.98.10", None, ACCEPT_TO_DOM0));
    lab.start_with_domus();
    assert_eq!(lab.lease(WEB1).ip, ip("10.98.98.10"));
    let pid = lab.dnsmasq_pid();

    // web1 moves to .11, and a host without a MAC (a reserved, named address) appears.
    let db = "\n[[host]]\nname = \"db\"\nnetwork = \"dmz\"\naddresses = [\"10.98.98.20\"]\n";
    lab.set_config(&config("10.98.98.11", None, &format!("{ACCEPT_TO_DOM0}{db}")));
    let steps = lab.start();
    assert!(
        steps.iter().any(|s| s.starts_with("reload dnsmasq")),
        "a host edit is a reload: {steps:?}"
    );
    assert!(
        !steps.iter().any(|s| s.contains("start dnsmasq")),
        "…not a restart: {steps:?}"
    );
    assert_eq!(lab.dnsmasq_pid(), pid, "reloaded, not restarted");
    lab.resolves("web1", &[ip("10.98.98.11")]);
    lab.resolves("db.dmz", &[ip("10.98.98.20")]);
    lab.lease_where(WEB1, "at web1's new address", |l| l.ip == ip("10.98.98.11"));

    // A new pool is on dnsmasq's command line: a restart.
    let (first, last) = (ip("10.98.98.100"), ip("10.98.98.150"));
    lab.set_config(&config(
        "10.98.98.11",
        Some("10.98.98.100-10.98.98.150"),
        &format!("{ACCEPT_TO_DOM0}{db}"),
    ));
    let steps = lab.start();
    assert!(
        steps.iter().any(|s| s.starts_with("restart dnsmasq")),
        "a pool edit is a restart: {steps:?}"
    );
    let new_pid = lab.dnsmasq_pid();
    assert_ne!(new_pid, pid, "a new dnsmasq");
    assert!(exited(pid), "the old one is gone");
    let guest = lab.lease_where(GUEST, "from the new pool", |l| in_pool(l.ip, first, last));
    assert!(in_pool(guest.ip, first, last), "{guest:?}");
    assert_eq!(lab.lease(WEB1).ip, ip("10.98.98.11"));
    lab.resolves("web1.dmz", &[ip("10.98.98.11")]);
}

#[test]
fn a_killed_dnsmasq_is_reported_by_status_and_started_again_by_start() {
    if !Lab::can_run("a_killed_dnsmasq_is_reported_by_status_and_started_again_by_start") {
        return;
    }
    let lab = Lab::new("dhcpkill", &config("10.98.98.10", None, ACCEPT_TO_DOM0));
    lab.start_with_domus();
    let pid = lab.dnsmasq_pid();
    assert_eq!(lab.status().0, 0);

    // SAFETY: kill(2) with plain integers; `pid` is this test's dnsmasq.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
    let end = Instant::now() + DEADLINE;
    while !exited(pid) {
        assert!(Instant::now() < end, "dnsmasq {pid} outlived SIGKILL");
        std::thread::sleep(Duration::from_millis(5));
    }
    let (code, out) = lab.status();
    assert_eq!(code, 3, "a dead dnsmasq is drift:\n{out}");
    assert!(
        out.to_lowercase().contains("dnsmasq"),
        "status names dnsmasq:\n{out}"
    );

    let steps = lab.start();
    assert!(
        steps.iter().any(|s| s.starts_with("start dnsmasq")),
        "start starts it again: {steps:?}"
    );
    assert_ne!(lab.dnsmasq_pid(), pid);
    assert_eq!(lab.lease(WEB1).ip, ip("10.98.98.10"));
    assert_eq!(lab.status().0, 0);
}

#[test]
fn stop_ends_dnsmasq_and_removes_its_directory_and_a_second_stop_does_nothing() {
    let test = "stop_ends_dnsmasq_and_removes_its_directory_and_a_second_stop_does_nothing";
    if !Lab::can_run(test) {
        return;
    }
    let lab = Lab::new("dhcpstop", &config("10.98.98.10", None, ACCEPT_TO_DOM0));
    lab.start_with_domus();
    assert_eq!(lab.lease(GUEST).ip.octets()[..3], [10, 98, 98]);
    let pid = lab.dnsmasq_pid();
    let dir = lab.dnsmasq_dir().expect("dnsmasq's directory");
    assert!(dir.join("leases").is_file());

    lab.ok(&["stop"]);
    assert!(exited(pid), "stop waits until dnsmasq is gone");
    assert_eq!(
        lab.our_processes(),
        Vec::<u32>::new(),
        "no dnsmasq of ours remains"
    );
    assert!(!dir.exists(), "{} is removed", dir.display());

    let again = lab.ok(&["stop"]);
    assert!(again.contains("nothing to do"), "{again}");
    assert!(lab.dnsmasq_dir().is_none());
    assert_eq!(lab.our_processes(), Vec::<u32>::new());
}

#[test]
fn dhcp_and_dns_pass_a_policy_that_drops_everything_else_to_the_dom0() {
    if !Lab::can_run("dhcp_and_dns_pass_a_policy_that_drops_everything_else_to_the_dom0") {
        return;
    }
    // No dmz → dom0 policy: the pair drops.
    let lab = Lab::new("dhcpfw", &config("10.98.98.10", None, ""));
    lab.start_with_domus();

    // The drop is real: a TCP server in the dom0 is not reached.
    let dom0: &Netns = lab.t.dom0();
    let web1: &Netns = lab.t.domu(WEB1);
    let listen = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 2222);
    let tcp = probe::tcp(
        dom0,
        listen,
        web1,
        SocketAddr::new(IpAddr::V4(GW), 2222),
        DROP_DEADLINE,
    );
    assert!(
        !matches!(tcp, Outcome::Connected { .. }),
        "dmz → dom0 tcp must be dropped: {tcp:?}"
    );

    assert_eq!(lab.lease(WEB1).ip, ip("10.98.98.10"));
    let guest = lab.lease(GUEST);
    assert!(
        in_pool(guest.ip, ip("10.98.98.2"), ip("10.98.98.254")),
        "{guest:?}"
    );
    lab.resolves("web1.dmz", &[ip("10.98.98.10")]);
}

/// The backend's supervisor on its own, in a namespace of the test's: what dnsmasq
/// says when it refuses to start reaches the admin, and a dnsmasq brouter started in
/// one namespace is not taken for the one of another (same files, other namespace).
#[test]
fn the_supervisor_reports_a_refused_start_and_tells_namespaces_apart() {
    use brouter_backends::dnsmasq::Dnsmasq;
    if !Lab::can_run("the_supervisor_reports_a_refused_start_and_tells_namespaces_apart") {
        return;
    }
    let (a, b) = (Netns::new("dnsmasqa"), Netns::new("dnsmasqb"));
    let base = std::env::temp_dir().join(format!("brouter-dhcp-sup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let dir = base.join("dnsmasq");
    let in_a = Dnsmasq::in_dir(dir.clone(), a.target());
    let in_b = Dnsmasq::in_dir(dir.clone(), b.target());
    // Ends whatever a failed assertion leaves running.
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            kill_processes_naming(&self.0);
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(base.clone());

    let err = in_a
        .start(&["--dhcp-range=nonsense".to_string()], "d1")
        .unwrap_err();
    assert!(
        err.message.contains("exited with code 1") && err.message.contains("bad dhcp-range"),
        "dnsmasq's exit code and complaint: {}",
        err.message
    );
    assert_eq!(in_a.running().unwrap(), None);

    // DNS off, no DHCP range: a dnsmasq that binds nothing, so two never collide.
    let quiet = ["--port=0".to_string()];
    let pid = in_a.start(&quiet, "d1").expect("start dnsmasq in a");
    assert_eq!(in_a.running().unwrap(), Some((pid, quiet.to_vec())));
    assert_eq!(in_b.running().unwrap(), None, "a's dnsmasq is not b's");
    let seen = in_b.observe().unwrap().expect("the directory exists");
    assert_eq!((seen.pid, seen.loaded.as_deref()), (None, Some("d1")));
    // b starts its own, and leaves a's alone.
    let pid_b = in_b.start(&quiet, "d2").expect("start dnsmasq in b");
    assert!(!exited(pid), "b's start did not end a's dnsmasq");
    assert_eq!(in_b.running().unwrap().map(|r| r.0), Some(pid_b));
    in_b.stop().unwrap();
    assert!(exited(pid_b));
    assert_eq!(
        processes_naming(&base),
        [pid],
        "only a's dnsmasq is left, for the cleanup"
    );
}
