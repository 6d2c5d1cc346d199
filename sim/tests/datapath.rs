//! Whole scenarios without root: start, hotplug, traffic, stop — on the simulator, with
//! packets judged by the same evaluator as `brouter explain`.

use std::net::Ipv4Addr;

use brouter_engine::config::{from_toml, from_xen_words};
use brouter_engine::firewall::{Address, Flow};
use brouter_engine::vif::{plan_vif_online, VifRequest};
use brouter_engine::{apply, compile, plan_start, plan_stop, Config, LinkKind};
use brouter_sim::{Kernel, SimBackend, SimOutcome};

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn start(sim: &mut SimBackend, c: &Config) {
    let plan = plan_start(&compile(c), &sim.kernel.observe()).unwrap();
    block(apply(sim, &plan)).unwrap();
}

fn stop(sim: &mut SimBackend, c: &Config) {
    let plan = plan_stop(&compile(c).scope, &sim.kernel.observe());
    block(apply(sim, &plan)).unwrap();
}

fn hotplug(sim: &mut SimBackend, c: Option<&Config>, vif: &str, mac: &str) {
    sim.kernel.add_link(vif, LinkKind::Veth, false);
    let req = VifRequest {
        device: vif.into(),
        mac: Some(mac.into()),
        ..Default::default()
    };
    let plan = plan_vif_online(c, &sim.kernel.observe(), &req).unwrap();
    block(apply(sim, &plan.plan)).unwrap();
}

const INTERNET: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

#[test]
fn seed_domu_reaches_the_internet_masqueraded_only_while_started() {
    let c = from_xen_words(&["bridgeip=10.98.98.1/24", "brnet=10.98.98.0/24"]).unwrap();
    let mut sim = SimBackend::new(Kernel::typical_host());
    let flow = Flow::tcp("xenbr0", INTERNET, 80)
        .with_src("10.98.98.10".parse::<std::net::Ipv4Addr>().unwrap())
        .with_vif("vif1.0");
    assert!(
        matches!(sim.kernel.send(&flow), SimOutcome::NoPath { .. }),
        "nothing before start"
    );

    start(&mut sim, &c);
    hotplug(&mut sim, None, "vif1.0", "aa:cc:00:00:00:01");
    let out = sim.kernel.send(&flow);
    assert!(out.delivered(), "{out:?}");
    assert_eq!(
        out.seen_source(),
        Some(Address::Uplink),
        "masqueraded to the uplink address"
    );
    // The internet may not open connections into the VM network.
    let inbound = Flow::tcp("external", Ipv4Addr::new(10, 98, 98, 10), 22);
    assert!(matches!(sim.kernel.send(&inbound), SimOutcome::Refused { .. }));

    stop(&mut sim, &c);
    assert!(
        matches!(sim.kernel.send(&flow), SimOutcome::NoPath { .. }),
        "nothing after stop"
    );
}

#[test]
fn a_vif_that_is_not_attached_has_no_path() {
    let c = from_xen_words(&["bridgeip=10.98.98.1/24"]).unwrap();
    let mut sim = SimBackend::new(Kernel::typical_host());
    start(&mut sim, &c);
    sim.kernel.add_link("vif2.0", LinkKind::Veth, true);
    let flow = Flow::tcp("xenbr0", INTERNET, 80).with_vif("vif2.0");
    match sim.kernel.send(&flow) {
        SimOutcome::NoPath { reason } => assert!(reason.contains("not a port of xenbr0"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn isp_zones_forwards_and_antispoofing_on_the_simulator() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/isp.toml")).unwrap();
    let c = from_toml(&text, "fixtures/isp.toml").unwrap();
    let mut sim = SimBackend::new(Kernel::typical_host());
    start(&mut sim, &c);
    hotplug(&mut sim, Some(&c), "vif1.0", "aa:cc:00:00:01:01"); // web1 on dmz

    // A forward keeps the client's address and lands on web1.
    let fwd = sim
        .kernel
        .send(&Flow::tcp("external", Address::Uplink, 80).with_src(INTERNET));
    assert!(fwd.delivered(), "{fwd:?}");
    assert_eq!(fwd.seen_source(), Some(Address::from(INTERNET)));
    // web1 may reach the outside on tcp/443, not on tcp/25.
    let web1 = |port| {
        Flow::tcp("dmz", INTERNET, port)
            .with_host("web1")
            .with_vif("vif1.0")
    };
    assert!(sim.kernel.send(&web1(443)).delivered());
    assert!(matches!(sim.kernel.send(&web1(25)), SimOutcome::Refused { .. }));
    // data is not masqueraded and may not reach the outside.
    assert!(matches!(
        sim.kernel.send(&Flow::tcp("data", INTERNET, 443)),
        SimOutcome::Refused { .. }
    ));
    // web1 spoofing another address is dropped by its binding.
    let spoofed = Flow::tcp("dmz", INTERNET, 443)
        .with_vif("vif1.0")
        .with_src("10.1.0.99".parse::<std::net::Ipv4Addr>().unwrap());
    assert!(
        matches!(sim.kernel.send(&spoofed), SimOutcome::Refused { .. }),
        "spoofed source"
    );
}
