//! `[cluster]` with `control = "evpn"` across three dom0 namespaces joined by an underlay
//! bridge, with FRR (zebra and bgpd from Debian's frr package) run by brouter in each dom0:
//! the members learn each other's VMs by BGP EVPN (the VXLAN devices learn nothing
//! themselves), a VM that moves is reached on its new member within 3 s with its egress
//! and its forwarded port, a member joining or leaving changes the sessions without a
//! restart, a dead bgpd is reported and restarted, and `stop` on one member leaves the
//! others working.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use brouter_engine::config::cluster::{vni, vxlan_name};
use brouter_integration::cluster_lab::{
    announce, dmz_host, dmz_vm, member_address, ClusterLab, Member, HOSTING_GATEWAY,
};
use brouter_integration::probe;
use brouter_integration::topology::INTERNET_HOST;
use brouter_integration::{root_or_skip, tool_or_skip, DomU, Netns};

const DEADLINE: Duration = Duration::from_secs(5);
/// Daemons started to sessions up: ~1.2 s measured (FIELD-NOTES-DHCP-EVPN); generous here.
const SESSIONS_DEADLINE: Duration = Duration::from_secs(20);

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 1, 0, last))
}

fn status(m: &Member) -> (Option<i32>, String) {
    let out = m.brouter(&["status"]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Retry `check` on `m`'s status until it holds, up to `deadline`; the last status on failure.
fn wait_status(m: &Member, deadline: Duration, what: &str, check: impl Fn(Option<i32>, &str) -> bool) {
    let end = Instant::now() + deadline;
    loop {
        let (code, text) = status(m);
        if check(code, &text) {
            return;
        }
        if Instant::now() >= end {
            let neigh = m.t.dom0().ip(&["-d", "neigh", "show"]);
            panic!(
                "{}: {what} within {deadline:?}; status said:\n{text}\nneighbours:\n{neigh}",
                m.name
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sessions_up(m: &Member, n: usize) {
    let want = format!("{n} of {n} BGP session(s) established");
    wait_status(m, SESSIONS_DEADLINE, &want, |code, text| {
        code == Some(0) && text.contains(&want)
    });
}

/// The pid in `m`'s FRR directory (`<state>/<netns id>/frr/<daemon>.pid`).
fn frr_pid(m: &Member, daemon: &str) -> Option<u32> {
    let dir = frr_dir(m)?;
    std::fs::read_to_string(dir.join(format!("{daemon}.pid")))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn frr_dir(m: &Member) -> Option<PathBuf> {
    std::fs::read_dir(&m.state)
        .ok()?
        .flatten()
        .map(|e| e.path().join("frr"))
        .find(|p| p.is_dir())
}

fn hosting_vm(name: &str, last: u8) -> DomU {
    DomU::new(name, &format!("10.2.0.{last}/24"), &HOSTING_GATEWAY.to_string())
        .mac(&format!("02:00:00:00:02:{last:02x}"))
}

fn fdb(ns: &Netns, dev: &str) -> String {
    String::from_utf8_lossy(&ns.exec("bridge", &["fdb", "show", "dev", dev]).stdout).into_owned()
}

#[test]
fn evpn_members_learn_each_others_vms_by_bgp_and_a_moved_vm_is_reached_within_3_s() {
    let test = "evpn_members_learn_each_others_vms_by_bgp_and_a_moved_vm_is_reached_within_3_s";
    if !root_or_skip(test) || !tool_or_skip(test, "vtysh", "frr") || !tool_or_skip(test, "busybox", "busybox")
    {
        return;
    }
    let extra = format!(
        "{}{}{}{}[[forward]]\nproto = \"tcp\"\nport = 8080\nto = \"mover:80\"\n\n\
         [[host]]\nname = \"h\"\nnetwork = \"hosting\"\nmac = \"02:00:00:00:02:14\"\naddresses = [\"10.2.0.20\"]\n\n\
         [[policy]]\nfrom = \"dmz\"\nto = \"hosting\"\naction = \"accept\"\nservices = [\"tcp/8080\"]\n\n",
        dmz_host("a", 10),
        dmz_host("b", 20),
        dmz_host("c", 30),
        dmz_host("mover", 40)
    );
    let lab = ClusterLab::with_control(
        "cle",
        vec![
            vec![dmz_vm("a", 10), dmz_vm("mover", 40)],
            vec![dmz_vm("b", 20), dmz_vm("moved", 40)],
            vec![dmz_vm("c", 30), hosting_vm("h", 20)],
        ],
        true,
        &extra,
        "evpn",
    );
    let checked = lab.member(0).ok(&["check"]);
    assert!(
        checked.contains("# evpn: FRR (zebra, bgpd) with AS 65000, router id 10.99.0.1"),
        "{checked}"
    );
    for m in &lab.members {
        m.ok(&["start"]);
    }
    lab.member(0).online(0);
    lab.member(0).online(1);
    lab.member(1).online(0);
    lab.member(2).online(0);
    lab.member(2).online(1);
    for m in &lab.members {
        sessions_up(m, 2);
    }
    let (a, b, c) = (
        lab.member(0).t.domu(0),
        lab.member(1).t.domu(0),
        lab.member(2).t.domu(0),
    );

    // One segment across the members, carried by what BGP taught zebra: the devices do not
    // learn, and the flood entries are FRR's (EVPN type-3 routes), not brouter's.
    assert!(
        probe::ping(a, ip(20), DEADLINE).is_connected(),
        "a on m0 → b on m1"
    );
    assert!(
        probe::ping(b, ip(30), DEADLINE).is_connected(),
        "b on m1 → c on m2"
    );
    assert!(
        probe::ping(c, ip(10), DEADLINE).is_connected(),
        "c on m2 → a on m0"
    );
    let vx = vxlan_name(vni("dmz"));
    let m0 = lab.member(0);
    let detail = m0.t.dom0().ip(&["-d", "link", "show", "dev", &vx]);
    assert!(detail.contains("nolearning"), "{detail}");
    let entries = fdb(m0.t.dom0(), &vx);
    for other in [1, 2] {
        let flood = format!("00:00:00:00:00:00 dst {} self permanent", member_address(other));
        assert!(
            entries.contains(&flood),
            "m0's {vx} has no flood entry to m{other}:\n{entries}"
        );
    }
    assert!(
        entries.contains("02:00:00:00:00:14 dst 10.99.0.2 self extern_learn"),
        "b's MAC from BGP:\n{entries}"
    );
    // Through the anycast gateway: dmz on m0 → hosting on m2 is accepted (routed on m0,
    // answered through m2), tcp/8081 is not, nor hosting → dmz.
    let h = lab.member(2).t.domu(1);
    let h_ip = IpAddr::V4(Ipv4Addr::new(10, 2, 0, 20));
    let any = |port| SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port);
    let tcp = probe::tcp(h, any(8080), a, SocketAddr::new(h_ip, 8080), DEADLINE);
    assert_eq!(
        tcp.peer_ip(),
        Some(ip(10)),
        "dmz on m0 → hosting on m2, tcp/8080: {tcp:?}"
    );
    let short = Duration::from_millis(800);
    let refused = probe::tcp(h, any(8081), a, SocketAddr::new(h_ip, 8081), short);
    assert!(!refused.is_connected(), "tcp/8081 is not accepted: {refused:?}");
    let back = probe::tcp(a, any(8080), h, SocketAddr::new(ip(10), 8080), short);
    assert!(!back.is_connected(), "hosting → dmz is not accepted: {back:?}");
    // status names each session with the routes that member sent (MACs and flood target).
    let (_, said) = status(m0);
    let evpn_line = said
        .lines()
        .find(|l| l.starts_with("evpn running"))
        .unwrap_or_default();
    assert!(
        evpn_line.contains("10.99.0.2 Established, ") && evpn_line.contains(" route(s)"),
        "{said}"
    );
    for m in &lab.members {
        let plan = m.ok(&["plan"]);
        assert!(
            !plan.contains("FRR") && !plan.contains("flood"),
            "{}: {plan}",
            m.name
        );
    }

    // The forward on m0's uplink reaches mover on m0.
    let listen = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 80);
    let forwarded = |server: &Netns, deadline: Duration| {
        let t = &lab.member(0).t;
        probe::tcp(
            server,
            listen,
            t.internet(),
            SocketAddr::new(t.uplink_ip().into(), 8080),
            deadline,
        )
    };
    let mover = m0.t.domu(1);
    assert!(forwarded(mover, DEADLINE).is_connected(), "forward → mover on m0");
    assert!(
        probe::ping(c, ip(40), DEADLINE).is_connected(),
        "c → mover before the move"
    );

    // The move: paused on m0, resumed on m1, where the guest announces itself. Within 3 s
    // (the bound for EVPN) a VM on a third member, the forward and the egress
    // reach it there.
    mover.ip(&["link", "set", "eth0", "down"]);
    m0.ok(&["vif", "offline", "--vif", m0.t.vif(1)]);
    let m1 = lab.member(1);
    let moved_at = Instant::now();
    m1.online(1);
    let moved = m1.t.domu(1);
    announce(moved, "10.1.0.40");
    let bound = Duration::from_secs(3);
    assert!(
        probe::ping(c, ip(40), bound).is_connected(),
        "c on m2 → the moved VM on m1"
    );
    let reached = moved_at.elapsed();
    assert!(
        forwarded(moved, bound).is_connected(),
        "m0's forward → the moved VM on m1"
    );
    let out = probe::tcp(
        m1.t.internet(),
        listen,
        moved,
        SocketAddr::new(INTERNET_HOST.into(), 80),
        bound,
    );
    assert_eq!(
        out.peer_ip(),
        Some(m1.t.uplink_ip().into()),
        "egress now through m1: {out:?}"
    );
    assert!(
        moved_at.elapsed() < Duration::from_secs(3),
        "recovered in {:?}",
        moved_at.elapsed()
    );
    eprintln!("evpn migration: the moved VM answered a third member after {reached:?}");

    // m2 leaves m0's file: one session goes, in place (zebra keeps running, and with it
    // the FDB entries it wrote); it comes back the same way.
    let zebra = frr_pid(m0, "zebra").expect("m0's zebra pid");
    let full = std::fs::read_to_string(&m0.config).unwrap();
    let m2_section = format!(
        "\n[[cluster.member]]\nname = \"m2\"\naddress = \"{}\"\n",
        member_address(2)
    );
    assert!(full.contains(&m2_section), "{full}");
    std::fs::write(&m0.config, full.replace(&m2_section, "\n")).unwrap();
    let plan = m0.ok(&["plan"]);
    assert!(
        plan.contains("change FRR's BGP sessions in place: no neighbor 10.99.0.3"),
        "{plan}"
    );
    m0.ok(&["start"]);
    sessions_up(m0, 1);
    std::fs::write(&m0.config, &full).unwrap();
    m0.ok(&["start"]);
    sessions_up(m0, 2);
    assert_eq!(
        frr_pid(m0, "zebra"),
        Some(zebra),
        "no restart for a member joining or leaving"
    );
    assert!(
        probe::ping(c, ip(10), DEADLINE).is_connected(),
        "c on m2 → a on m0 after"
    );

    // A dead bgpd is named by status, and start brings it back.
    let m1 = lab.member(1);
    let bgpd = frr_pid(m1, "bgpd").expect("m1's bgpd pid");
    // SAFETY: kill(2) takes plain integers.
    unsafe { libc::kill(bgpd as i32, libc::SIGKILL) };
    wait_status(m1, DEADLINE, "evpn NOT RUNNING", |code, text| {
        code != Some(0) && text.contains("evpn NOT RUNNING")
    });
    m1.ok(&["start"]);
    sessions_up(m1, 2);

    // stop on m2: its FRR and its directory are gone, m0 says the session is down, and
    // m0 and m1 still talk.
    let m2 = lab.member(2);
    m2.ok(&["stop"]);
    assert!(frr_dir(m2).is_none(), "m2's FRR directory after stop");
    let left = Command::new("ip")
        .args(["netns", "pids", m2.t.dom0().name()])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&left.stdout).trim().is_empty(),
        "processes left in m2's dom0"
    );
    wait_status(
        m0,
        SESSIONS_DEADLINE,
        "a warning about m2's session",
        |_, text| text.contains("WARNING: the BGP EVPN session to member 10.99.0.3 is"),
    );
    assert!(
        probe::ping(a, ip(20), DEADLINE).is_connected(),
        "m0 ↔ m1 after m2 stopped"
    );
    for m in [lab.member(0), lab.member(1)] {
        m.ok(&["stop"]);
        assert!(frr_dir(m).is_none());
    }
}

/// The host's own FRR (Debian's frr service) in the namespace: brouter does not start a
/// second zebra beside it, says why and what to do, and leaves it running.
#[test]
fn a_foreign_zebra_in_the_namespace_is_named_and_left_running() {
    let test = "a_foreign_zebra_in_the_namespace_is_named_and_left_running";
    if !root_or_skip(test) || !tool_or_skip(test, "vtysh", "frr") {
        return;
    }
    let lab = ClusterLab::with_control("clx", vec![vec![], vec![]], false, "", "evpn");
    let m0 = lab.member(0);
    let dir = m0.state.join("their-frr");
    std::fs::create_dir_all(&dir).unwrap();
    let chown = Command::new("chown")
        .args(["frr:frr"])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(chown.success());
    let p = |n: &str| dir.join(n).display().to_string();
    let started = m0.t.dom0().exec(
        "/usr/lib/frr/zebra",
        &[
            "-d",
            "-f",
            "/dev/null",
            "--vty_socket",
            &p(""),
            "-i",
            &p("zebra.pid"),
            "-z",
            &p("zserv.api"),
            "-P",
            "0",
        ],
    );
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let theirs: i32 = std::fs::read_to_string(p("zebra.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    let out = m0.brouter(&["start"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "start beside a foreign zebra: {said}");
    assert!(
        said.contains(&format!(
            "a zebra that brouter did not start runs in this network namespace (pid {theirs})"
        )),
        "{said}"
    );
    assert!(said.contains("systemctl stop frr"), "{said}");
    // SAFETY: kill(2) with signal 0 only asks whether the process exists.
    assert_eq!(
        unsafe { libc::kill(theirs, 0) },
        0,
        "their zebra was left running"
    );

    // Their FRR stopped: start goes on from where it stopped and converges.
    // SAFETY: kill(2) takes plain integers.
    unsafe { libc::kill(theirs, libc::SIGTERM) };
    let end = Instant::now() + DEADLINE;
    while unsafe { libc::kill(theirs, 0) } == 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    m0.ok(&["start"]);
    wait_status(m0, DEADLINE, "evpn running", |_, text| {
        text.contains("evpn running")
    });
    m0.ok(&["stop"]);
}

/// A route reflector: m0 is one, so m1 and m2 each hold a single session (to m0) and still
/// reach each other's VMs with the routes m0 reflects (the flood entry to each other and
/// each other's MACs).
#[test]
fn members_behind_a_route_reflector_reach_each_other() {
    let test = "members_behind_a_route_reflector_reach_each_other";
    if !root_or_skip(test) || !tool_or_skip(test, "vtysh", "frr") {
        return;
    }
    let hosts = format!("{}{}", dmz_host("b", 20), dmz_host("c", 30));
    let lab = ClusterLab::with_control(
        "clr",
        vec![vec![], vec![dmz_vm("b", 20)], vec![dmz_vm("c", 30)]],
        true,
        &hosts,
        "evpn",
    );
    let m0_section = format!("name = \"m0\"\naddress = \"{}\"\n", member_address(0));
    for m in &lab.members {
        let text = std::fs::read_to_string(&m.config).unwrap();
        assert!(text.contains(&m0_section), "{text}");
        let text = text.replace(&m0_section, &format!("{m0_section}route_reflector = true\n"));
        std::fs::write(&m.config, text).unwrap();
    }
    let checked = lab.member(0).ok(&["check"]);
    assert!(
        checked.contains(
            "BGP sessions to 10.99.0.2 (route-reflector client), 10.99.0.3 (route-reflector client)"
        ),
        "{checked}"
    );
    let checked = lab.member(1).ok(&["check"]);
    assert!(checked.contains("BGP sessions to 10.99.0.1\n"), "{checked}");
    for m in &lab.members {
        m.ok(&["start"]);
    }
    lab.member(1).online(0);
    lab.member(2).online(0);
    sessions_up(lab.member(0), 2);
    sessions_up(lab.member(1), 1);
    sessions_up(lab.member(2), 1);
    let (b, c) = (lab.member(1).t.domu(0), lab.member(2).t.domu(0));
    assert!(
        probe::ping(b, ip(30), DEADLINE).is_connected(),
        "b on m1 → c on m2, through reflected routes"
    );
    assert!(
        probe::ping(c, ip(20), DEADLINE).is_connected(),
        "c on m2 → b on m1"
    );
    let entries = fdb(lab.member(1).t.dom0(), &vxlan_name(vni("dmz")));
    assert!(
        entries.contains("00:00:00:00:00:00 dst 10.99.0.3 self permanent"),
        "m1 floods to m2 without a session to it:\n{entries}"
    );
    for m in &lab.members {
        m.ok(&["stop"]);
    }
}
