//! A UDP forward added while an IPv6 flow to the uplink's IPv6 address is running: the
//! IPv6 twin of `a_udp_forward_added_during_a_running_flow_applies_to_its_next_datagrams`
//! (policy_matrix.rs). A client on the internet keeps sending to [uplink]:port before any
//! forward exists, so the dom0's conntrack holds the flow going to the dom0 itself; then
//! `start` adds the forward to a dual-stack host, and the very next datagram the client
//! sends reaches the VM — conntrack NATs a flow once, so without `start` forgetting the
//! IPv6 entry the flow would keep going to the dom0. Once with nobody listening on the
//! dom0 (the IPv4 test's case), once with a dom0 service answering (a service moved from
//! the dom0 to a VM: its entry is assured). Root only; every namespace is the test's own
//! (the uplink's IPv6 is set up here, the topology only builds IPv4).

use std::net::{IpAddr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brouter_backends::conntrack::{self, Entry};
use brouter_backends::NetnsTarget;
use brouter_integration::binary::brouter_bin;
use brouter_integration::dnsmasq_procs::processes_naming;
use brouter_integration::probe::{DEADLINE, DROP_DEADLINE};
use brouter_integration::topology::INTERNET_IFACE;
use brouter_integration::{root_or_skip, tool_or_skip, DomU, Netns, Topology};

const WEB1_MAC: &str = "aa:cc:00:00:00:01";
/// web1's declared IPv6 address: the forward's IPv6 target.
const WEB1_V6: Ipv6Addr = Ipv6Addr::new(0xfd98, 0x98, 0, 0, 0, 0, 0, 0x10);
/// The internet side of the uplink: the client.
const INTERNET_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
/// dom0's uplink IPv6 address: where the client sends.
const UPLINK_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
const UPLINK: &str = "eth0";
const PORT: u16 = 27015;
/// How often the client sends (the IPv4 test's pace).
const PACE: Duration = Duration::from_millis(20);
/// The client's port: fixed, so a dom0 service can send to it first.
const CLIENT_PORT: u16 = 40615;

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
"#;

/// The forward `start` adds while the flow runs.
const FORWARD: &str = "\n[[forward]]\nproto = \"udp\"\nport = 27015\nto = \"web1\"\n";

struct Lab {
    t: Topology,
    state: PathBuf,
}

impl Lab {
    /// Root and dnsmasq (a dual-stack network's router advertisements), or skip.
    fn can_run(test: &str) -> bool {
        root_or_skip(test)
            && (brouter_backends::dnsmasq::dnsmasq_program().is_some()
                || tool_or_skip(test, "dnsmasq", "dnsmasq-base"))
    }

    /// The topology with web1 (its declared IPv6 address on eth0, without DAD), IPv6 on
    /// the uplink and the internet side, brouter started without the forward and web1's
    /// vif online on br0.
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
        t.domu(0).ip(&[
            "-6",
            "addr",
            "add",
            &format!("{WEB1_V6}/64"),
            "dev",
            "eth0",
            "nodad",
        ]);
        let state = std::env::temp_dir().join(format!("brouter-stale6-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        std::fs::create_dir_all(&state).unwrap();
        let lab = Lab { t, state };
        lab.set_config(CONFIG);
        lab.ok(&["start"]);
        let vif = lab.t.vif(0).to_string();
        lab.ok(&[
            "vif", "online", "--vif", &vif, "--bridge", "br0", "--mac", WEB1_MAC,
        ]);
        lab
    }

    fn dom0(&self) -> &Netns {
        self.t.dom0()
    }

    fn set_config(&self, text: &str) {
        std::fs::write(self.state.join("brouter.toml"), text).unwrap();
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

    /// The dom0's conntrack entries of the client's flow, UDP, whichever side started
    /// it: to [`UPLINK_V6`]:[`PORT`], or from there (a dom0 service sent first).
    fn tracked(&self) -> Vec<Entry> {
        let target = NetnsTarget::Named(self.dom0().name().to_string());
        let uplink = IpAddr::V6(UPLINK_V6);
        conntrack::entries(&target)
            .expect("dump the dom0's conntrack table")
            .into_iter()
            .filter(|e| {
                e.orig.proto == 17
                    && ((e.orig.dst == uplink && e.orig.dport == PORT)
                        || (e.orig.src == uplink && e.orig.sport == PORT))
            })
            .collect()
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

/// A UDP socket on `[::]:PORT` in `ns` that reports every datagram (its 8-byte sequence
/// number and sender) until `stop` is dropped, answering each one if `echo`; if `first`,
/// it sends one datagram there before anything arrives. Returns once the socket is bound
/// (and `first` sent).
fn serve(
    ns: &Netns,
    echo: bool,
    first: Option<SocketAddr>,
    stop: mpsc::Receiver<()>,
) -> (std::thread::JoinHandle<()>, mpsc::Receiver<(u64, SocketAddr)>) {
    let (got_tx, got_rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let handle = ns.spawn(move || {
        let s = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, PORT)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        if let Some(to) = first {
            s.send_to(&0u64.to_be_bytes(), to).unwrap();
        }
        ready_tx.send(()).unwrap();
        let mut buf = [0u8; 64];
        loop {
            if let Ok((n, from)) = s.recv_from(&mut buf) {
                if echo {
                    let _ = s.send_to(&buf[..n], from);
                }
                if n >= 8 {
                    let seq = u64::from_be_bytes(buf[..8].try_into().unwrap());
                    let _ = got_tx.send((seq, from));
                }
            }
            if !matches!(stop.try_recv(), Err(TryRecvError::Empty)) {
                return;
            }
        }
    });
    ready_rx.recv().unwrap();
    (handle, got_rx)
}

/// Who serves the client's flow before the forward exists.
#[derive(Clone, Copy, PartialEq)]
enum Dom0 {
    /// Nobody on the dom0 listens.
    Silent,
    /// A dom0 service answers the client.
    Answers,
    /// A dom0 service sent to the client's port first, then answers: the flow's entry
    /// is the dom0's own, and the client's datagrams are its replies.
    SentFirst,
}

/// The scenario, with or without a service on the dom0 serving the flow before the
/// forward exists.
fn a_running_ipv6_flow_follows_a_new_forward(tag: &str, dom0: Dom0) {
    let lab = Lab::new(tag);

    // The game server on web1; maybe a service on the dom0 that serves the flow for now.
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let (server, got_rx) = serve(lab.t.domu(0), false, None, stop_rx);
    let (dom0_stop_tx, dom0_stop_rx) = mpsc::channel::<()>();
    let client_addr = SocketAddr::new(INTERNET_V6.into(), CLIENT_PORT);
    let first = (dom0 == Dom0::SentFirst).then_some(client_addr);
    let dom0_service = (dom0 != Dom0::Silent).then(|| serve(lab.dom0(), true, first, dom0_stop_rx));

    // The client sends numbered datagrams from one port (one flow) to the uplink's IPv6
    // address; `sent` is how many have left.
    let sent = Arc::new(AtomicU64::new(0));
    let (cstop_tx, cstop_rx) = mpsc::channel::<()>();
    let client = lab.t.internet().spawn({
        let sent = sent.clone();
        move || {
            let s = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, CLIENT_PORT)).unwrap();
            let to = SocketAddr::new(UPLINK_V6.into(), PORT);
            loop {
                let seq = sent.load(Ordering::SeqCst) + 1;
                if s.send_to(&seq.to_be_bytes(), to).is_ok() {
                    sent.store(seq, Ordering::SeqCst);
                }
                match cstop_rx.recv_timeout(PACE) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
            }
        }
    });

    // The flow is tracked, going to the dom0 itself (its replies come from the uplink's
    // address, or the dom0 started it); nothing reaches web1.
    let end = Instant::now() + DEADLINE;
    let uplink = IpAddr::V6(UPLINK_V6);
    let to_dom0 = |e: &Entry| e.reply.src == uplink || e.orig.src == uplink;
    while !lab.tracked().iter().any(to_dom0) {
        assert!(
            Instant::now() < end,
            "the client's flow to [{UPLINK_V6}]:{PORT} should be tracked in the dom0"
        );
        std::thread::sleep(PACE);
    }
    assert!(
        got_rx.recv_timeout(DROP_DEADLINE).is_err(),
        "nothing is forwarded yet"
    );
    if let Some((_, dom0_got)) = &dom0_service {
        assert!(
            dom0_got.recv_timeout(DEADLINE).is_ok(),
            "the dom0's service gets the flow before the forward exists"
        );
    }

    lab.set_config(&format!("{CONFIG}{FORWARD}"));
    lab.ok(&["start"]);
    let next = sent.load(Ordering::SeqCst) + 1;

    let deadline = Instant::now() + DEADLINE;
    let mut first = None;
    while Instant::now() < deadline && first.is_none() {
        first = got_rx.recv_timeout(Duration::from_millis(50)).ok();
    }
    let tracked = lab.tracked();
    drop(cstop_tx);
    drop(stop_tx);
    drop(dom0_stop_tx);
    let _ = client.join();
    let _ = server.join();
    if let Some((h, _)) = dom0_service {
        let _ = h.join();
    }
    let (seq, from) = first.unwrap_or_else(|| {
        panic!("after the forward is added, the running IPv6 flow's next datagrams reach web1; tracked: {tracked:?}")
    });
    assert!(
        seq <= next,
        "the first datagram sent after `start` returned (#{next}) reaches web1 at the latest; the first to arrive was #{seq}"
    );
    assert_eq!(from.ip(), IpAddr::V6(INTERNET_V6), "the client's address is kept");
    assert!(
        tracked
            .iter()
            .all(|e| e.reply.src == IpAddr::V6(WEB1_V6) && e.reply.sport == PORT),
        "the flow is tracked only as forwarded to [{WEB1_V6}]:{PORT}: {tracked:?}"
    );
}

#[test]
fn a_udp_forward_added_during_a_running_ipv6_flow_applies_to_its_next_datagram() {
    let test = "a_udp_forward_added_during_a_running_ipv6_flow_applies_to_its_next_datagram";
    if !Lab::can_run(test) {
        return;
    }
    a_running_ipv6_flow_follows_a_new_forward("stale6", Dom0::Silent);
}

#[test]
fn a_udp_forward_added_takes_an_ipv6_flow_the_dom0_was_answering_to_the_vm() {
    let test = "a_udp_forward_added_takes_an_ipv6_flow_the_dom0_was_answering_to_the_vm";
    if !Lab::can_run(test) {
        return;
    }
    a_running_ipv6_flow_follows_a_new_forward("stale6ans", Dom0::Answers);
}

/// A dom0 service that answered the client's flow just after `start` deleted its entry
/// leaves the flow's entry started from the dom0's side: the same as a service that sent
/// first, which this makes certain. `start` forgets that entry too.
#[test]
fn a_udp_forward_added_takes_a_flow_the_dom0_started_from_the_forwarded_port() {
    let test = "a_udp_forward_added_takes_a_flow_the_dom0_started_from_the_forwarded_port";
    if !Lab::can_run(test) {
        return;
    }
    a_running_ipv6_flow_follows_a_new_forward("stale6first", Dom0::SentFirst);
}
