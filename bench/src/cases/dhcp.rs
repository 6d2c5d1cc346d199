//! Case 14: DHCP and DNS (`dhcp = true`) at 64 networks, IPv4 only and dual stack. (a) A
//! converged `start` with `dhcp = true` on all 64 networks, and with `dhcp = true` and an
//! `address6` on each (router advertisements from the same dnsmasq), against the same
//! config without either, side by side in each round, asserting that it writes nothing
//! and signals nothing: the same dnsmasq pid, its files (`dhcp-hosts`, `hosts`, `loaded`)
//! not rewritten, and its log (where a SIGHUP leaves "read … names" lines) not grown.
//! (b) `start` from nothing of the 64 DHCP networks (IPv4 only, then dual stack, in turn),
//! and the time from launching it until a client in a domU on `br0` sees its first
//! DHCPOFFER: busybox `udhcpc`, and an in-process DHCPDISCOVER sender; each against the
//! dnsmasq already running is its floor.

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind};
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use brouter_backends::dnsmasq::{DIR_NAME, LOADED_FILE, LOG_FILE, PID_FILE};
use brouter_engine::dhcp::{HOSTS_FILE_DHCP, HOSTS_FILE_DNS};
use brouter_integration::Netns;
use serde_json::json;

use crate::configs::{self, Size};
use crate::report::{Report, Table};
use crate::run::{brouter, command, kernel_writes, ms};
use crate::stats::Samples;

/// The 64-network size of case 2.
const SIZE: Size = Size::new(64, 10, 10);
/// The domU's MAC: declared by no `[[host]]`, so it gets a pool address.
const GUEST_MAC: &str = "aa:cc:00:00:ff:77";
/// The dom0 side of the domU's veth, attached to `br0` by `vif online`.
const VIF: &str = "vif1.0";

/// The script udhcpc runs (`-s`): it changes nothing (the default one would rewrite
/// `/etc/resolv.conf`, which a network namespace does not isolate), it only reports.
const SCRIPT: &str = "#!/bin/sh\n\
case \"$1\" in\n\
  bound|renew) echo \"LEASE ip=$ip serverid=$serverid\" ;;\n\
esac\n\
exit 0\n";

/// One DHCP config's from-nothing rounds.
#[derive(Default)]
struct Fresh {
    start: Samples,
    vif_online: Samples,
    client_offer: Samples,
    total_offer: Samples,
    total_lease: Samples,
    own_client_offer: Samples,
    own_total_offer: Samples,
    /// Rounds where the in-process client's OFFER came after udhcpc's first DISCOVER.
    overlapped: usize,
}

#[derive(Default)]
struct Rounds {
    conv_plain: Samples,
    conv_dhcp: Samples,
    conv_dual: Samples,
    conv_ratio: Samples,
    conv_dual_ratio: Samples,
    writes_plain: usize,
    writes_dhcp: usize,
    writes_dual: usize,
    start_plain: Samples,
    /// `dhcp = true` on all 64 networks.
    dhcp: Fresh,
    /// `dhcp = true` and `address6` on all 64 networks.
    dual: Fresh,
    floor_offer: Samples,
    floor_lease: Samples,
    own_floor_offer: Samples,
}

/// The three configs: without DHCP, with it, with it and `address6` (dual stack).
struct Files {
    plain: String,
    dhcp: String,
    dual: String,
}

pub fn run(report: &mut Report, n_conv: usize, n_fresh: usize) {
    let plain_text = configs::toml(SIZE);
    let dhcp_text = with_dhcp(&plain_text);
    let dual_text = super::datapath::dual_stack(&dhcp_text);
    assert_eq!(
        dual_text.matches("address6 = ").count(),
        SIZE.nets,
        "every [[network]] got an address6"
    );
    let files = Files {
        plain: configs::write_named("plain-64-10-10", &plain_text),
        dhcp: configs::write_named("dhcp-64-10-10", &dhcp_text),
        dual: configs::write_named("dhcp-dual-64-10-10", &dual_text),
    };
    let script = write_script();
    let mut r = Rounds::default();
    converged(&mut r, &files, n_conv);
    from_nothing(&mut r, &files, &script, n_fresh);
    let _ = std::fs::remove_file(&script);
    table(report, &r);
}

/// The config with `dhcp = true` on every network (default pools).
fn with_dhcp(text: &str) -> String {
    let out = text.replace("antispoof = true\n", "antispoof = true\ndhcp = true\n");
    assert_eq!(
        out.matches("dhcp = true").count(),
        SIZE.nets,
        "every [[network]] got dhcp = true"
    );
    out
}

fn write_script() -> String {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("brouter-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let p = dir.join("udhcpc-script.sh");
    std::fs::write(&p, SCRIPT).expect("write the udhcpc script");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod the udhcpc script");
    p.display().to_string()
}

/// `brouter stop` of `file` in `ns` when dropped (also while unwinding a panic): the
/// dnsmasq a DHCP `start` left would otherwise outlive the bench and keep the
/// namespace alive.
struct Stopper<'a> {
    ns: &'a Netns,
    file: String,
}

impl Drop for Stopper<'_> {
    fn drop(&mut self) {
        let _ = command(self.ns, &["--config", &self.file, "stop"], &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The name brouter gives `ns` under its state directory: its cookie (`SO_NETNS_COOKIE`),
/// else the namespace inode, as backends/src/netlink/mod.rs does.
fn netns_id(ns: &Netns) -> String {
    ns.run(|| {
        const SO_NETNS_COOKIE: libc::c_int = 71;
        // SAFETY: plain socket calls on a socket this closure owns; `cookie`/`len` are
        // valid for writes of their size.
        let cookie = unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
            let mut cookie: u64 = 0;
            let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
            let rc = if fd >= 0 {
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    SO_NETNS_COOKIE,
                    (&mut cookie as *mut u64).cast(),
                    &mut len,
                )
            } else {
                -1
            };
            if fd >= 0 {
                libc::close(fd);
            }
            (rc == 0).then_some(cookie)
        };
        match cookie {
            Some(c) => format!("cookie-{c}"),
            None => {
                let link = std::fs::read_link("/proc/thread-self/ns/net")
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let inode: String = link.chars().filter(char::is_ascii_digit).collect();
                format!("inode-{inode}")
            }
        }
    })
}

/// brouter's dnsmasq directory of `ns`: `<state dir>/<netns-id>/dnsmasq`.
fn dnsmasq_dir(ns: &Netns) -> PathBuf {
    brouter_backends::memory::state_base()
        .join(netns_id(ns))
        .join(DIR_NAME)
}

/// What a converged `start` must leave alone: dnsmasq's pid, its files' inode and mtime
/// (an atomic rewrite changes both), and its log's length (a SIGHUP logs the re-read).
#[derive(Debug, PartialEq, Eq)]
struct Untouched {
    pid: u32,
    files: Vec<(&'static str, u64, SystemTime)>,
    log_len: u64,
}

fn untouched(dir: &Path) -> Untouched {
    let pid_path = dir.join(PID_FILE);
    let pid: u32 = std::fs::read_to_string(&pid_path)
        .unwrap_or_else(|e| panic!("dhcp bench: read {}: {e}", pid_path.display()))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("dhcp bench: {} holds no pid: {e}", pid_path.display()));
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "dhcp bench: dnsmasq pid {pid} (from {}) is not running",
        pid_path.display()
    );
    let files = [HOSTS_FILE_DHCP, HOSTS_FILE_DNS, LOADED_FILE]
        .into_iter()
        .map(|name| {
            let p = dir.join(name);
            let m = std::fs::metadata(&p).unwrap_or_else(|e| panic!("dhcp bench: stat {}: {e}", p.display()));
            (name, m.ino(), m.modified().expect("mtime"))
        })
        .collect();
    let log_len = std::fs::metadata(dir.join(LOG_FILE))
        .map(|m| m.len())
        .unwrap_or(0);
    Untouched { pid, files, log_len }
}

/// (a) Converged `start`: plain, DHCP and dual stack, rotating which goes first in each
/// round.
fn converged(r: &mut Rounds, files: &Files, n: usize) {
    super::settle();
    let ns_plain = super::dom0("bdhcpplain");
    let ns_dhcp = super::dom0("bdhcpconv");
    let ns_dual = super::dom0("bdhcpdual");
    let _stop = Stopper {
        ns: &ns_dhcp,
        file: files.dhcp.clone(),
    };
    let _stop_dual = Stopper {
        ns: &ns_dual,
        file: files.dual.clone(),
    };
    let three = [
        (&ns_plain, files.plain.as_str()),
        (&ns_dhcp, files.dhcp.as_str()),
        (&ns_dual, files.dual.as_str()),
    ];
    for (ns, file) in three {
        brouter(ns, &["--config", file, "start"], &[]);
    }
    let dirs = [dnsmasq_dir(&ns_dhcp), dnsmasq_dir(&ns_dual)];
    let before = dirs.each_ref().map(|d| untouched(d));
    // One untimed converged start each: the first one after a from-nothing start may
    // still settle something (page cache of the binary, a cache file).
    for (ns, file) in three {
        brouter(ns, &["--config", file, "start"], &[]);
    }
    for i in 0..n {
        // Round i starts with config i % 3: each goes first, second and third in turn.
        let mut took = [(0.0, 0); 3];
        for k in 0..3 {
            let c = (i + k) % 3;
            let (ns, file) = three[c];
            let (t, out) = brouter(ns, &["--config", file, "start"], &[]);
            took[c] = (ms(t), kernel_writes(&out));
        }
        let [(p, wp), (d, wd), (s, ws)] = took;
        r.conv_plain.push(p);
        r.conv_dhcp.push(d);
        r.conv_dual.push(s);
        r.writes_plain = r.writes_plain.max(wp);
        r.writes_dhcp = r.writes_dhcp.max(wd);
        r.writes_dual = r.writes_dual.max(ws);
        for (dir, before) in dirs.iter().zip(&before) {
            let now = untouched(dir);
            assert_eq!(
                &now,
                before,
                "dhcp bench: a converged `start` with dhcp = true (and address6) must write nothing \
                 and signal nothing (same dnsmasq pid, dhcp-hosts/hosts/loaded neither rewritten nor \
                 touched, no SIGHUP re-read in dnsmasq.log), but round {i} changed {}",
                dir.display()
            );
        }
    }
    r.conv_ratio = r.conv_dhcp.paired_ratio(&r.conv_plain);
    r.conv_dual_ratio = r.conv_dual.paired_ratio(&r.conv_plain);
}

/// One udhcpc run: when it sent its first DISCOVER, saw the OFFER and the lease, counted
/// from the `t0` it was given.
struct Client {
    discover: Duration,
    offer: Duration,
    lease: Duration,
}

/// A udhcpc run under way: its thread collects its output lines.
type Running = std::thread::JoinHandle<(std::process::ExitStatus, Vec<(Duration, String)>)>;

/// A pipe, both ends close-on-exec (the child gets the write end as its stdout/stderr).
fn pipe() -> (File, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array, which we then own.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both fds are fresh and owned by nothing else.
    unsafe { (File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Launch `udhcpc -n -q -i eth0 -s SCRIPT -t 3 -T 1` in `domu`; [`udhcpc_wait`] then
/// timestamps its output lines against `t0`: the first DISCOVER when it logs
/// "broadcasting discover", the OFFER when it logs "select for" (it sends its REQUEST as
/// it reads the offer), the lease when the script prints the bound lease (after the ACK).
fn udhcpc_launch(domu: &Netns, script: &str, t0: Instant) -> Running {
    let script = script.to_string();
    domu.spawn(move || {
        let (read, write) = pipe();
        let write2 = write.try_clone().expect("dup the pipe");
        let mut child = {
            let mut cmd = Command::new("udhcpc");
            cmd.args(["-n", "-q", "-i", "eth0", "-s", &script, "-t", "3", "-T", "1"])
                .stdin(Stdio::null())
                .stdout(Stdio::from(write))
                .stderr(Stdio::from(write2));
            cmd.spawn().expect("run udhcpc (busybox)")
        };
        let mut lines = vec![];
        for line in BufReader::new(read).lines() {
            let Ok(line) = line else { break };
            lines.push((t0.elapsed(), line));
        }
        let status = child.wait().expect("wait for udhcpc");
        (status, lines)
    })
}

fn udhcpc_wait(domu: &Netns, running: Running) -> Client {
    let (status, lines) = running.join().expect("udhcpc thread");
    let when = |pred: &dyn Fn(&str) -> bool| lines.iter().find(|(_, l)| pred(l)).map(|(t, _)| *t);
    let discover = when(&|l| l.contains("discover"));
    let offer = when(&|l| l.contains("select for"));
    let lease = when(&|l| l.starts_with("LEASE ip="));
    match (status.success(), discover, offer, lease) {
        (true, Some(discover), Some(offer), Some(lease)) => Client {
            discover,
            offer,
            lease,
        },
        _ => panic!(
            "dhcp bench: udhcpc in {} got no offer or no lease ({status}):\n{}",
            domu.name(),
            lines
                .iter()
                .map(|(t, l)| format!("{:8.1} ms {l}", ms(*t)))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// The bench's own DHCP client, in-process: a UDP socket on port 68 bound to the domU's
/// `eth0` (made before the clock starts, as a VM's client would already be running) that
/// broadcasts a DHCPDISCOVER (broadcast flag set, so the OFFER comes back to
/// 255.255.255.255) and waits for the OFFER to it, sending again every [`RESEND`]. No
/// process to start and no packet socket to bind (busybox udhcpc binds and closes two,
/// each close waiting for an RCU grace period, ~10–30 ms here): the floor of what any
/// client can see.
struct OwnClient {
    sock: UdpSocket,
    xid: u32,
}

/// How long [`OwnClient`] waits for an OFFER before it sends its DISCOVER again.
const RESEND: Duration = Duration::from_millis(10);

impl OwnClient {
    fn new(domu: &Netns) -> OwnClient {
        let sock = domu.run(|| -> std::io::Result<UdpSocket> {
            let sock = UdpSocket::bind("0.0.0.0:68")?;
            let dev = b"eth0\0";
            // SAFETY: setsockopt reads `dev.len()` bytes of `dev` on a socket we own.
            let rc = unsafe {
                libc::setsockopt(
                    sock.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_BINDTODEVICE,
                    dev.as_ptr().cast(),
                    dev.len() as libc::socklen_t,
                )
            };
            if rc != 0 {
                return Err(std::io::Error::last_os_error());
            }
            sock.set_broadcast(true)?;
            Ok(sock)
        });
        let sock = sock.unwrap_or_else(|e| {
            panic!(
                "dhcp bench: the in-process client's socket in {}: {e}",
                domu.name()
            )
        });
        OwnClient {
            sock,
            xid: std::process::id().wrapping_mul(2_654_435_761),
        }
    }

    /// A DHCPDISCOVER for `GUEST_MAC` with transaction id `xid` (RFC 2131, 300 bytes).
    fn discover(xid: u32) -> Vec<u8> {
        let mut p = vec![0u8; 236];
        p[0] = 1; // BOOTREQUEST
        p[1] = 1; // Ethernet
        p[2] = 6;
        p[4..8].copy_from_slice(&xid.to_be_bytes());
        p[10] = 0x80; // broadcast flag: the reply goes to 255.255.255.255
        for (i, b) in GUEST_MAC.split(':').enumerate() {
            p[28 + i] = u8::from_str_radix(b, 16).expect("hex MAC");
        }
        p.extend_from_slice(&[99, 130, 83, 99]); // magic cookie
        p.extend_from_slice(&[53, 1, 1]); // DHCPDISCOVER
        p.extend_from_slice(&[55, 4, 1, 3, 6, 15]); // ask for mask, router, DNS, domain
        p.push(255);
        p.resize(300, 0);
        p
    }

    /// The address a DHCPOFFER for `xid` offers, if `p` is one.
    fn offered(p: &[u8], xid: u32) -> Option<Ipv4Addr> {
        if p.len() < 240 || p[0] != 2 || p[4..8] != xid.to_be_bytes() || p[236..240] != [99, 130, 83, 99] {
            return None;
        }
        let mut o = &p[240..];
        while let [code, rest @ ..] = o {
            match *code {
                0 => o = rest,
                255 => return None,
                _ => {
                    let [len, rest @ ..] = rest else { return None };
                    let len = usize::from(*len);
                    if rest.len() < len {
                        return None;
                    }
                    if *code == 53 && len == 1 && rest[0] == 2 {
                        return Some(Ipv4Addr::new(p[16], p[17], p[18], p[19]));
                    }
                    o = &rest[len..];
                }
            }
        }
        None
    }

    /// Broadcast DISCOVERs until an OFFER to them arrives: when it arrived (panics after
    /// 3 s without one).
    fn offer(&mut self) -> Instant {
        self.xid = self.xid.wrapping_add(1);
        let packet = Self::discover(self.xid);
        let end = Instant::now() + Duration::from_secs(3);
        let mut buf = [0u8; 1500];
        while Instant::now() < end {
            self.sock
                .send_to(&packet, "255.255.255.255:67")
                .unwrap_or_else(|e| panic!("dhcp bench: send a DHCPDISCOVER: {e}"));
            let resend = Instant::now() + RESEND;
            loop {
                let left = resend.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                self.sock.set_read_timeout(Some(left)).expect("read timeout");
                match self.sock.recv(&mut buf) {
                    Ok(n) => {
                        if Self::offered(&buf[..n], self.xid).is_some() {
                            return Instant::now();
                        }
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                    Err(e) => panic!("dhcp bench: receive a DHCP reply: {e}"),
                }
            }
        }
        panic!("dhcp bench: the in-process client got no DHCPOFFER within 3 s")
    }
}

/// (b) From nothing, in the same namespace each round, the DHCP config and the dual-stack
/// one in turn (alternating which goes first; `stop` after each, untimed): `start`,
/// `vif online`, then both clients at once. After the DHCP config's, both clients again,
/// one after the other, as floors against the dnsmasq now serving; and the plain config's
/// start from nothing in a fresh namespace of its own.
fn from_nothing(r: &mut Rounds, files: &Files, script: &str, n: usize) {
    let ns = super::dom0("bdhcpfresh");
    let domu = Netns::new("bdhcpu");
    ns.ip(&[
        "link",
        "add",
        VIF,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        domu.name(),
    ]);
    domu.ip(&["link", "set", "eth0", "address", GUEST_MAC, "up"]);
    let mut own = OwnClient::new(&domu);
    for i in 0..n {
        let dual_first = i % 2 == 1;
        for dual in [dual_first, !dual_first] {
            super::settle();
            let file = if dual { &files.dual } else { &files.dhcp };
            let stop = Stopper {
                ns: &ns,
                file: file.clone(),
            };
            let fresh = if dual { &mut r.dual } else { &mut r.dhcp };
            first_offer(fresh, &ns, &domu, &mut own, file, script);
            if !dual {
                // The floors: both clients again, one after the other, against the dnsmasq
                // now serving.
                std::thread::sleep(Duration::from_millis(20));
                let t1 = Instant::now();
                r.own_floor_offer.push(ms(own.offer() - t1));
                let t1 = Instant::now();
                let f = udhcpc_wait(&domu, udhcpc_launch(&domu, script, t1));
                r.floor_offer.push(ms(f.offer));
                r.floor_lease.push(ms(f.lease));
                let plain = super::dom0("bdhcpplainfresh");
                r.start_plain
                    .push(ms(brouter(&plain, &["--config", &files.plain, "start"], &[]).0));
                drop(plain);
            }
            drop(stop);
            assert!(
                !dnsmasq_dir(&ns).exists(),
                "dhcp bench: `stop` left brouter's dnsmasq directory behind"
            );
        }
    }
}

/// One from-nothing round of `file` in `ns` (which holds nothing of brouter's): `start`,
/// `vif online`, then udhcpc is launched and the in-process client's DISCOVER goes out
/// meanwhile (udhcpc takes tens of ms before its own first DISCOVER, so the two do not
/// meet at dnsmasq; the rounds where they did are counted). Leaves the config started.
fn first_offer(f: &mut Fresh, ns: &Netns, domu: &Netns, own: &mut OwnClient, file: &str, script: &str) {
    let online = [
        "vif", "online", "--vif", VIF, "--bridge", "br0", "--mac", GUEST_MAC,
    ];
    let t0 = Instant::now();
    let (start, _) = brouter(ns, &["--config", file, "start"], &[]);
    let t_vif = Instant::now();
    brouter(ns, &online, &[]);
    let t_client = Instant::now();
    f.start.push(ms(start));
    f.vif_online.push(ms(t_client - t_vif));
    let running = udhcpc_launch(domu, script, t0);
    let offer = own.offer();
    let c = udhcpc_wait(domu, running);
    f.client_offer.push(ms(c.offer - (t_client - t0)));
    f.total_offer.push(ms(c.offer));
    f.total_lease.push(ms(c.lease));
    f.own_client_offer.push(ms(offer - t_client));
    f.own_total_offer.push(ms(offer - t0));
    if offer - t0 > c.discover {
        f.overlapped += 1;
    }
}

fn table(report: &mut Report, r: &Rounds) {
    let (d, s) = (&r.dhcp, &r.dual);
    let mut t = Table::new(
        "14. DHCP and DNS at 64 networks, IPv4 only and dual stack: converged `start`, and from \
         nothing to the first DHCPOFFER",
        &format!(
            "{} (case 2's 64-network config), three ways: as is; with `dhcp = true` on all 64 \
             networks (one dnsmasq serving the 64 bridges; default pools); and dual stack, with \
             `dhcp = true` and `address6 = \"fd00:<net, hex>::1/64\"` on each (one unique-local /64 per \
             network; the same dnsmasq also sends router advertisements on the 64 bridges; the 10 \
             hosts get an IPv6 address beside their IPv4 one, so AAAA names too). All times in ms, \
             median (min–max). Converged: each config started in its own namespace, then `brouter \
             --config F start` again, the three configs in each round (rotating which goes first); \
             the ratios are taken within each round. After every round the bench asserts, for both \
             DHCP configs, that nothing was written or signalled: the same dnsmasq pid \
             (`<state>/<netns-id>/dnsmasq/dnsmasq.pid`), `dhcp-hosts`, `hosts` and `loaded` with the \
             same inode and mtime, dnsmasq.log not grown (a SIGHUP logs the re-read). From nothing: \
             the clock starts when `brouter start` of a DHCP config is launched in a namespace with \
             nothing of brouter's; `start` returns once dnsmasq serves; then `vif online` attaches \
             the domU's vif to br0 (as Xen's hotplug would, binding its MAC, which no `[[host]]` \
             declares: a pool lease); then two clients in the domU ask at once: busybox `udhcpc -n -q \
             -t 3 -T 1` with the bench's own `-s` script, launched then (\"OFFER\" is when it logs \
             `select for`, which it does as it reads the offer; \"lease\" when its script prints the \
             bound lease, after the ACK), and the bench's own in-process client (a UDP socket on port \
             68 of the domU's eth0, open before the clock starts, broadcasting a DHCPDISCOVER every 10 \
             ms until the OFFER arrives; its OFFER came before udhcpc's first DISCOVER in {} of {} \
             rounds, dual stack {} of {}, so they rarely meet at dnsmasq). The two DHCP configs take \
             turns in the same namespace, alternating which goes first; `stop` after each (not \
             timed). Floors, after every IPv4-only round: both clients again against the dnsmasq \
             already serving, each timed from its own launch or first DISCOVER. Most of udhcpc's time \
             is its own: it binds and closes packet sockets, each waiting for an RCU grace period. The \
             plain config's start from nothing in a fresh namespace, for comparison.",
            SIZE.label(),
            d.own_total_offer.n() - d.overlapped,
            d.own_total_offer.n(),
            s.own_total_offer.n() - s.overlapped,
            s.own_total_offer.n()
        ),
        &[
            "what",
            "without dhcp",
            "dhcp = true",
            "dhcp + address6 (dual stack)",
            "N",
        ],
    );
    let none = Samples::default();
    let rows: [(&str, &Samples, &Samples, &Samples, usize); 12] = [
        ("converged `start`", &r.conv_plain, &r.conv_dhcp, &r.conv_dual, 2),
        (
            "converged: / without (ratio within each round)",
            &none,
            &r.conv_ratio,
            &r.conv_dual_ratio,
            2,
        ),
        (
            "`start` from nothing (with dhcp: returns with dnsmasq serving)",
            &r.start_plain,
            &d.start,
            &s.start,
            1,
        ),
        (
            "`vif online` of the domU on br0",
            &none,
            &d.vif_online,
            &s.vif_online,
            1,
        ),
        (
            "udhcpc: its launch → OFFER, fresh dnsmasq",
            &none,
            &d.client_offer,
            &s.client_offer,
            1,
        ),
        (
            "**udhcpc: launch of `start` → first OFFER**",
            &none,
            &d.total_offer,
            &s.total_offer,
            1,
        ),
        (
            "udhcpc: launch of `start` → lease bound",
            &none,
            &d.total_lease,
            &s.total_lease,
            1,
        ),
        (
            "floor, udhcpc: its launch → OFFER, dnsmasq running",
            &none,
            &r.floor_offer,
            &none,
            1,
        ),
        (
            "floor, udhcpc: its launch → lease bound, dnsmasq running",
            &none,
            &r.floor_lease,
            &none,
            1,
        ),
        (
            "in-process client: first DISCOVER → OFFER, fresh dnsmasq",
            &none,
            &d.own_client_offer,
            &s.own_client_offer,
            2,
        ),
        (
            "**in-process client: launch of `start` → first OFFER**",
            &none,
            &d.own_total_offer,
            &s.own_total_offer,
            1,
        ),
        (
            "floor, in-process client: DISCOVER → OFFER, dnsmasq running",
            &none,
            &r.own_floor_offer,
            &none,
            2,
        ),
    ];
    let cell = |x: &Samples, digits: usize| {
        if x.n() == 0 {
            "—".to_string()
        } else {
            x.show(digits)
        }
    };
    for (what, p, dh, du, digits) in rows {
        let n = [p, dh, du].iter().map(|x| x.n()).max().unwrap_or(0);
        t.row(vec![
            what.into(),
            cell(p, digits),
            cell(dh, digits),
            cell(du, digits),
            n.to_string(),
        ]);
    }
    report.tables.push(t);
    for (what, ratio, conv, writes) in [
        ("dhcp", &r.conv_ratio, &r.conv_dhcp, r.writes_dhcp),
        (
            "dhcp + address6 (dual stack)",
            &r.conv_dual_ratio,
            &r.conv_dual,
            r.writes_dual,
        ),
    ] {
        let ratio = ratio.median();
        report.target(
            &format!("converged start, 64 networks with {what} vs without"),
            format!(
                "{ratio:.2}× ({:.2} vs {:.2} ms); kernel writes {writes} / {}; dnsmasq pid and files \
                 untouched",
                conv.median(),
                r.conv_plain.median(),
                r.writes_plain
            ),
            "≤ 1.2×, 0 writes",
            ratio <= 1.2 && writes == 0,
        );
    }
    for (what, f, floor) in [
        (
            "64 DHCP networks",
            d,
            format!(" against a floor of {:.1}", r.floor_offer.median()),
        ),
        ("64 dual-stack DHCP networks", s, String::new()),
    ] {
        let offer = f.total_offer.median();
        report.target(
            &format!("{what} from nothing: launch of start → first DHCPOFFER in a domU (udhcpc)"),
            format!(
                "{offer:.1} ms (start {:.1}, vif online {:.1}, udhcpc to OFFER {:.1}{floor}); \
                 in-process client {:.1} ms",
                f.start.median(),
                f.vif_online.median(),
                f.client_offer.median(),
                f.own_total_offer.median()
            ),
            "≤ 100 ms",
            offer <= 100.0,
        );
    }
    let fresh = |f: &Fresh| {
        json!({
            "start_from_nothing_ms": f.start.to_json(),
            "vif_online_ms": f.vif_online.to_json(),
            "udhcpc_to_offer_ms": f.client_offer.to_json(),
            "start_launch_to_offer_udhcpc_ms": f.total_offer.to_json(),
            "start_launch_to_lease_udhcpc_ms": f.total_lease.to_json(),
            "own_client_discover_to_offer_ms": f.own_client_offer.to_json(),
            "start_launch_to_offer_own_client_ms": f.own_total_offer.to_json(),
            "rounds_own_offer_after_udhcpc_discover": f.overlapped,
        })
    };
    report.data.insert(
        "dhcp_64".into(),
        json!({
            "converged_plain_ms": r.conv_plain.to_json(),
            "converged_dhcp_ms": r.conv_dhcp.to_json(),
            "converged_dual_ms": r.conv_dual.to_json(),
            "converged_ratio": r.conv_ratio.to_json(),
            "converged_dual_ratio": r.conv_dual_ratio.to_json(),
            "converged_kernel_writes": {"plain": r.writes_plain, "dhcp": r.writes_dhcp, "dual": r.writes_dual},
            "start_from_nothing_plain_ms": r.start_plain.to_json(),
            "dhcp": fresh(d),
            "dual_stack": fresh(s),
            "floor_udhcpc_to_offer_ms": r.floor_offer.to_json(),
            "floor_udhcpc_to_lease_ms": r.floor_lease.to_json(),
            "floor_own_client_discover_to_offer_ms": r.own_floor_offer.to_json(),
        }),
    );
}
