//! The seed setup, end to end on a real kernel, driven through the `brouter` binary as
//! xend and xl would drive it: `start bridgeip=… brnet=…`, then a `vif online` per domU.
//! Everything happens inside throwaway namespaces (internet, dom0, domUs).

use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Output};

use brouter_integration::binary::brouter_bin;
use brouter_integration::probe::{self, Outcome, DEADLINE};
use brouter_integration::topology::INTERNET_HOST;
use brouter_integration::{assert_same, root_or_skip, DomU, Snapshot, Topology};

const SEED: &[&str] = &["bridgeip=10.98.98.1/24", "brnet=10.98.98.0/24"];

fn ok(out: Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn state_dir() -> tempdir::Dir {
    tempdir::Dir::new()
}

/// A tiny temp dir that removes itself (brouter's memory and locks live there).
mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let p = std::env::temp_dir().join(format!("brouter-scenario-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// `brouter --netns dom0 ARGS` with brouter's memory in `state`.
fn run(t: &Topology, state: &tempdir::Dir, args: &[&str]) -> Output {
    Command::new(brouter_bin())
        .args(["--netns", t.dom0().name()])
        .args(args)
        .env("BROUTER_STATE_DIR", &state.0)
        .output()
        .expect("run brouter")
}

/// The hook as xl runs it on a dom0: inside the namespace, `vif online type_if=vif`,
/// the device in `$vif`, no flags.
fn xl_vif(t: &Topology, state: &tempdir::Dir, action: &str, vif: &str) -> Output {
    Command::new("ip")
        .args(["netns", "exec", t.dom0().name()])
        .arg(brouter_bin())
        .args(["vif", action, "type_if=vif"])
        .env("BROUTER_STATE_DIR", &state.0)
        .env("vif", vif)
        .env("XENBUS_TYPE", "vif")
        .env("XENBUS_BASE_PATH", "backend")
        .env_remove("XENBUS_PATH")
        .output()
        .expect("run brouter vif")
}

fn seed_topology(tag: &str) -> Topology {
    let t = Topology::new(tag)
        .uplink("eth0", "192.0.2.2/24", "192.0.2.1")
        .domu(DomU::new("web", "10.98.98.10/24", "10.98.98.1").mac("aa:cc:00:00:00:01"))
        .domu(DomU::new("db", "10.98.98.11/24", "10.98.98.1").mac("aa:cc:00:00:00:02"))
        .build();
    // Foreign things on the same dom0 that must survive start and stop bit for bit.
    let d = t.dom0();
    d.ip(&["link", "add", "br-foreign", "type", "bridge"]);
    d.ip(&["link", "set", "br-foreign", "up"]);
    d.ip(&["addr", "add", "172.16.5.1/24", "dev", "br-foreign"]);
    d.ip(&[
        "route",
        "add",
        "100.64.0.0/16",
        "via",
        "192.0.2.1",
        "proto",
        "static",
    ]);
    t
}

#[test]
fn seed_setup_routes_bridges_masquerades_and_stop_restores_dom0() {
    if !root_or_skip("seed_setup_routes_bridges_masquerades_and_stop_restores_dom0") {
        return;
    }
    let t = seed_topology("seed");
    let state = state_dir();
    let before = Snapshot::of(t.dom0());

    ok(run(&t, &state, &[&["start"], SEED].concat()), "start");
    ok(xl_vif(&t, &state, "online", t.vif(0)), "vif online (as xl)");
    ok(
        run(&t, &state, &["vif", "online", "--vif", t.vif(1)]),
        "vif online --vif",
    );

    // domU → gateway, domU ↔ domU (bridged: the receiver sees the real source).
    let gw = IpAddr::from([10, 98, 98, 1]);
    assert!(
        probe::ping(t.domu(0), gw, DEADLINE).is_connected(),
        "web pings its gateway"
    );
    let to_db = SocketAddr::new(t.domu_spec(1).ip().into(), 5432);
    match probe::tcp(
        t.domu(1),
        "0.0.0.0:5432".parse().unwrap(),
        t.domu(0),
        to_db,
        DEADLINE,
    ) {
        Outcome::Connected { peer_seen } => assert_eq!(peer_seen.ip(), IpAddr::from(t.domu_spec(0).ip())),
        other => panic!("web → db over the bridge: {other:?}"),
    }
    // domU → internet: masqueraded; the internet has no route back to 10.98.98.0/24.
    let internet = SocketAddr::new(INTERNET_HOST.into(), 80);
    match probe::tcp(
        t.internet(),
        "0.0.0.0:80".parse().unwrap(),
        t.domu(0),
        internet,
        DEADLINE,
    ) {
        Outcome::Connected { peer_seen } => assert_eq!(peer_seen.ip(), IpAddr::from(t.uplink_ip())),
        other => panic!("web → internet should be masqueraded: {other:?}"),
    }

    // start again: nothing to do, nothing changed.
    let started = Snapshot::of(t.dom0());
    let again = ok(run(&t, &state, &[&["start"], SEED].concat()), "second start");
    assert!(again.contains("nothing to do"), "{again}");
    assert_same(&started, &Snapshot::of(t.dom0()));

    // stop with vifs attached: ports detached first, bridge gone; stop again: nothing.
    ok(run(&t, &state, &[&["stop"], SEED].concat()), "stop");
    let link = t.dom0().ip(&["-j", "link", "show", t.vif(0)]);
    assert!(!link.contains("\"master\""), "vif detached: {link}");
    let again = ok(run(&t, &state, &[&["stop"], SEED].concat()), "second stop");
    assert!(again.contains("nothing to do"), "{again}");

    // Xen takes the domUs' vifs down when they shut down; then dom0 is as it was.
    ok(xl_vif(&t, &state, "offline", t.vif(0)), "vif offline");
    ok(xl_vif(&t, &state, "offline", t.vif(1)), "vif offline");
    assert_same(&before, &Snapshot::of(t.dom0()));
}

#[test]
fn thirty_two_concurrent_vif_online_calls_all_succeed() {
    if !root_or_skip("thirty_two_concurrent_vif_online_calls_all_succeed") {
        return;
    }
    let mut b = Topology::new("vif32").uplink("eth0", "192.0.2.2/24", "192.0.2.1");
    for i in 0..32 {
        b = b.domu(DomU::new(
            &format!("d{i}"),
            &format!("10.98.98.{}/24", 10 + i),
            "10.98.98.1",
        ));
    }
    let t = b.build();
    let state = state_dir();
    ok(run(&t, &state, &[&["start"], SEED].concat()), "start");
    let children: Vec<_> = (0..32)
        .map(|i| {
            Command::new(brouter_bin())
                .args(["--netns", t.dom0().name(), "vif", "online", "type_if=vif"])
                .env("BROUTER_STATE_DIR", &state.0)
                .env("vif", t.vif(i))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn vif online")
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        ok(c.wait_with_output().unwrap(), &format!("vif online {}", t.vif(i)));
    }
    let ports = t.dom0().ip(&["-o", "link", "show", "master", "xenbr0"]);
    assert_eq!(
        ports.lines().count(),
        32,
        "all 32 vifs are ports of xenbr0:\n{ports}"
    );
    // The last domU reaches the first over the bridge.
    let first = IpAddr::from(t.domu_spec(0).ip());
    assert!(probe::ping(t.domu(31), first, DEADLINE).is_connected());
    ok(run(&t, &state, &[&["stop"], SEED].concat()), "stop");
}
