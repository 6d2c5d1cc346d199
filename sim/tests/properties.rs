//! Property tests: brouter's promises, checked on the simulator from random states.
//!
//! - `start; start` ≡ `start`, and the second `start` plans nothing;
//! - `stop; stop` ≡ `stop`;
//! - from any initial state (foreign bridges, addresses, routes, ports attached as a
//!   hotplug would), `start; stop` leaves the observed state exactly as it was;
//! - a crash after any k operations of `start` or `stop`, then a fresh run, converges to
//!   the state of an uninterrupted run;
//! - nothing brouter did not create is ever removed;
//! - configurations are validated before any operation.

use brouter_engine::config::from_xen_words;
use brouter_engine::{
    apply, compile, config::from_toml, plan_start, plan_stop, Config, Desired, ErrorKind, LinkKind, Observed,
    Op, Plan,
};
use brouter_sim::{Fault, Kernel, SimBackend};
use ipnet::Ipv4Net;
use proptest::prelude::*;

/// Cases per property: 2,000 in CI, `BROUTER_PROPTEST_CASES` for a soak (`just soak`).
fn cases() -> u32 {
    std::env::var("BROUTER_PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(2000)
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

/// Run `start` once as the command does: observe (and read the sysctls the config wants
/// that `observe` does not), plan, apply. Returns the plan (or the plan error).
fn start(sim: &mut SimBackend, desired: &Desired) -> Result<Plan, String> {
    block(async {
        let mut obs = sim.observe_now();
        brouter_engine::readback::sysctls(sim, desired, &mut obs).await;
        let plan = plan_start(desired, &obs).map_err(|e| e.to_string())?;
        apply(sim, &plan).await.map_err(|e| e.to_string())?;
        Ok(plan)
    })
}

fn stop(sim: &mut SimBackend, desired: &Desired) -> Result<Plan, String> {
    block(async {
        let obs = sim.observe_now();
        let plan = plan_stop(&desired.scope, &obs);
        apply(sim, &plan).await.map_err(|e| e.to_string())?;
        Ok(plan)
    })
}

trait ObserveNow {
    fn observe_now(&self) -> Observed;
}
impl ObserveNow for SimBackend {
    fn observe_now(&self) -> Observed {
        self.kernel.observe()
    }
}

/// What a foreign party may have set up before brouter runs.
#[derive(Debug, Clone)]
struct Foreign {
    /// Bridges (some with names brouter wants: they are adopted, never deleted).
    bridges: Vec<(String, bool)>,
    /// Veth "vifs", optionally attached to one of the foreign bridges.
    vifs: Vec<(String, Option<usize>)>,
    /// Addresses on eth0 or on a foreign bridge.
    addresses: Vec<(usize, Ipv4Net)>,
    /// Static routes via eth0.
    routes: Vec<Ipv4Net>,
    ip_forward: bool,
}

const BRIDGE_NAMES: &[&str] = &["xenbr0", "xenbr1", "xenbr2", "br-lan", "virbr0", "docker0"];

fn foreign() -> impl Strategy<Value = Foreign> {
    (
        prop::collection::vec((prop::sample::select(BRIDGE_NAMES), any::<bool>()), 0..3),
        prop::collection::vec(prop::option::of(0usize..3), 0..4),
        prop::collection::vec(
            (
                0usize..4,
                1u8..40,
                1u8..250,
                prop::sample::select(vec![16u8, 24, 28]),
            ),
            0..3,
        ),
        prop::collection::vec((1u8..60, prop::sample::select(vec![16u8, 24])), 0..3),
        any::<bool>(),
    )
        .prop_map(|(bridges, vifs, addrs, routes, ip_forward)| {
            let mut seen = std::collections::BTreeSet::new();
            let bridges: Vec<(String, bool)> = bridges
                .into_iter()
                .filter(|(n, _)| seen.insert(*n))
                .map(|(n, up)| (n.to_string(), up))
                .collect();
            Foreign {
                vifs: vifs
                    .into_iter()
                    .enumerate()
                    .map(|(i, b)| (format!("vif{}.0", i + 1), b.filter(|b| *b < bridges.len())))
                    .collect(),
                addresses: addrs
                    .into_iter()
                    .map(|(on, a, b, len)| (on, Ipv4Net::new([172, 16 + a % 16, b, 7].into(), len).unwrap()))
                    .collect(),
                routes: routes
                    .into_iter()
                    .map(|(a, len)| Ipv4Net::new([100, 64 + a, 0, 0].into(), len).unwrap().trunc())
                    .collect(),
                bridges,
                ip_forward,
            }
        })
}

fn build(f: &Foreign) -> Kernel {
    let mut k = Kernel::typical_host();
    for (name, up) in &f.bridges {
        k.add_link(name, LinkKind::Bridge, *up);
    }
    for (name, master) in &f.vifs {
        k.add_link(name, LinkKind::Veth, true);
        if let Some(b) = master {
            k.set_master(name, Some(&f.bridges[*b].0)).unwrap();
        }
    }
    for (on, addr) in &f.addresses {
        let link = match f.bridges.get(*on) {
            Some((n, _)) => n.clone(),
            None => "eth0".to_string(),
        };
        if !k.addresses.iter().any(|a| a.link == link && a.addr == *addr) {
            k.add_foreign_address(&link, *addr);
        }
    }
    for dst in &f.routes {
        if !k.routes.iter().any(|r| r.dst == *dst) {
            k.routes.push(brouter_engine::Route {
                dst: *dst,
                dev: "eth0".into(),
                gateway: Some("192.0.2.1".parse().unwrap()),
                protocol: brouter_engine::PROTO_STATIC,
                metric: 0,
            });
        }
    }
    k.sysctls.insert(
        "net.ipv4.ip_forward".into(),
        if f.ip_forward { "1" } else { "0" }.into(),
    );
    k
}

/// Configurations: Xen-mode words or a TOML file with 1–3 networks.
fn config() -> impl Strategy<Value = Config> {
    prop_oneof![
        (0u8..3, 1u8..50, prop::sample::select(vec![16u8, 24, 28])).prop_map(|(vifnum, net, len)| {
            let ip = Ipv4Net::new([10, net, 0, 1].into(), len).unwrap();
            from_xen_words(&[format!("vifnum={vifnum}"), format!("bridgeip={ip}")]).unwrap()
        }),
        (prop::collection::btree_set(0u8..4, 1..4), any::<bool>()).prop_map(|(nets, stp)| {
            let mut text = String::from("[uplink]\ninterface = \"eth0\"\n");
            for n in nets {
                text.push_str(&format!(
                    "[[network]]\nname = \"net{n}\"\nbridge = \"{}\"\naddress = \"10.{}.0.1/24\"\nstp = {stp}\n",
                    BRIDGE_NAMES[n as usize], 90 + n
                ));
            }
            from_toml(&text, "generated.toml").unwrap()
        }),
        // A cluster member (the typical host's eth0 carries 192.0.2.2), 1–3 networks, 2–3
        // members, perhaps a declared host (a neighbour entry on every member), static
        // control or EVPN (brouter's FRR).
        (prop::collection::btree_set(0u8..4, 1..4), 2usize..4, any::<bool>(), any::<bool>()).prop_map(|(nets, members, host, evpn)| {
            let mut text = String::from("[uplink]\ninterface = \"eth0\"\n");
            for n in &nets {
                text.push_str(&format!(
                    "[[network]]\nname = \"net{n}\"\nbridge = \"{}\"\naddress = \"10.{}.0.1/24\"\n",
                    BRIDGE_NAMES[*n as usize], 90 + n
                ));
            }
            if host {
                let n = nets.iter().next().unwrap();
                text.push_str(&format!(
                    "[[host]]\nname = \"web\"\nnetwork = \"net{n}\"\nmac = \"02:00:00:00:00:0a\"\naddresses = [\"10.{}.0.10\"]\n",
                    90 + n
                ));
            }
            text.push_str("[cluster]\nlocal = \"m0\"\n");
            if evpn {
                text.push_str("control = \"evpn\"\n");
            }
            for m in 0..members {
                text.push_str(&format!("[[cluster.member]]\nname = \"m{m}\"\naddress = \"192.0.2.{}\"\n", 2 + m));
            }
            from_toml(&text, "generated.toml").unwrap()
        }),
    ]
}

/// Every op in a plan touches only what brouter made (or restores what it changed).
fn assert_only_owned(plan: &Plan, before: &Observed) {
    for op in &plan.ops {
        match op {
            Op::DeleteLink { name } => {
                let l = before.link(name).expect("deletes an existing link");
                assert!(l.owner().is_some(), "plan deletes foreign link {name}");
            }
            Op::DeleteAddress { link, addr } => {
                assert!(
                    before
                        .addresses
                        .iter()
                        .any(|a| &a.link == link && a.addr == *addr && a.owned),
                    "plan deletes foreign address {addr} on {link}"
                );
            }
            Op::DeleteRoute { dst, dev } => {
                assert!(
                    before
                        .routes
                        .iter()
                        .any(|r| r.dst == *dst && &r.dev == dev && r.owned()),
                    "plan deletes foreign route {dst} dev {dev}"
                );
            }
            Op::DeleteVxlan { name } => {
                let l = before.link(name).expect("deletes an existing link");
                assert!(
                    l.vxlan_owner().is_some(),
                    "plan deletes foreign VXLAN device {name}"
                );
            }
            Op::SetMac { link, .. } => {
                if let Some(l) = before.link(link) {
                    assert!(l.owner().is_some(), "plan sets the MAC of foreign {link}");
                }
            }
            Op::SetMaster { link, master: None } => {
                let port = before.link(link).expect("port exists");
                let bridge = before.link(port.master.as_deref().expect("is attached")).unwrap();
                assert!(
                    bridge.owner().is_some(),
                    "plan detaches {link} from foreign bridge"
                );
            }
            _ => {}
        }
    }
}

/// Attach the free vifs to the bridges brouter created, as Xen's hotplug would. (A vif
/// hotplugged onto an adopted, foreign bridge stays there after `stop`, by design.)
fn hotplug(sim: &mut SimBackend, desired: &Desired) {
    let owned: Vec<String> = desired
        .bridges
        .iter()
        .filter(|b| sim.kernel.links.get(&b.name).is_some_and(|l| l.owner().is_some()))
        .map(|b| b.name.clone())
        .collect();
    let vifs: Vec<String> = sim
        .kernel
        .links
        .values()
        .filter(|l| l.kind == LinkKind::Veth && l.master.is_none())
        .map(|l| l.name.clone())
        .collect();
    for (i, vif) in vifs.iter().enumerate() {
        if let Some(b) = owned.get(i % owned.len().max(1)) {
            sim.kernel.set_master(vif, Some(b)).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn start_twice_equals_start_once_and_plans_nothing(f in foreign(), c in config()) {
        let desired = compile(&c);
        let mut sim = SimBackend::new(build(&f));
        let before = sim.observe_now();
        if let Ok(plan) = start(&mut sim, &desired) {
            assert_only_owned(&plan, &before);
            let once = sim.observe_now();
            let second = start(&mut sim, &desired).unwrap();
            prop_assert!(second.is_empty(), "second start planned {:?}", second.ops);
            prop_assert_eq!(once, sim.observe_now());
        } else {
            prop_assert_eq!(before, sim.observe_now(), "a refused start changed something");
        }
    }

    #[test]
    fn stop_twice_equals_stop_once(f in foreign(), c in config()) {
        let desired = compile(&c);
        let mut sim = SimBackend::new(build(&f));
        let _ = start(&mut sim, &desired);
        hotplug(&mut sim, &desired);
        let before_stop = sim.observe_now();
        let plan = stop(&mut sim, &desired).unwrap();
        assert_only_owned(&plan, &before_stop);
        let once = sim.observe_now();
        let second = stop(&mut sim, &desired).unwrap();
        prop_assert!(second.is_empty(), "second stop planned {:?}", second.ops);
        prop_assert_eq!(once, sim.observe_now());
    }

    #[test]
    fn start_then_stop_restores_any_initial_state(f in foreign(), c in config()) {
        let desired = compile(&c);
        let mut sim = SimBackend::new(build(&f));
        let before = sim.observe_now();
        if start(&mut sim, &desired).is_ok() {
            hotplug(&mut sim, &desired);
            stop(&mut sim, &desired).unwrap();
        }
        // Hotplugged vifs end detached, as they began.
        prop_assert_eq!(before, sim.observe_now());
    }

    #[test]
    fn crash_during_start_then_rerun_converges(f in foreign(), c in config(), k in 0usize..12) {
        let desired = compile(&c);
        let mut clean = SimBackend::new(build(&f));
        prop_assume!(start(&mut clean, &desired).is_ok());
        let mut sim = SimBackend::new(build(&f));
        sim.inject(k, Fault::Crash);
        let _ = start(&mut sim, &desired);
        let mut rerun = SimBackend::new(sim.kernel.clone());
        start(&mut rerun, &desired).unwrap();
        prop_assert_eq!(clean.observe_now(), rerun.observe_now());
        prop_assert!(start(&mut rerun, &desired).unwrap().is_empty());
    }

    #[test]
    fn crash_during_stop_then_rerun_converges(f in foreign(), c in config(), k in 0usize..10) {
        let desired = compile(&c);
        let mut clean = SimBackend::new(build(&f));
        prop_assume!(start(&mut clean, &desired).is_ok());
        hotplug(&mut clean, &desired);
        let started = clean.kernel.clone();
        stop(&mut clean, &desired).unwrap();
        let mut sim = SimBackend::new(started);
        sim.inject(k, Fault::Crash);
        let _ = stop(&mut sim, &desired);
        let mut rerun = SimBackend::new(sim.kernel.clone());
        stop(&mut rerun, &desired).unwrap();
        prop_assert_eq!(clean.observe_now(), rerun.observe_now());
    }

    #[test]
    fn a_failed_step_leaves_a_state_a_rerun_converges_from(
        f in foreign(), c in config(), k in 0usize..8,
        kind in prop::sample::select(vec![ErrorKind::Permission, ErrorKind::Other, ErrorKind::Exists]),
    ) {
        let desired = compile(&c);
        let mut clean = SimBackend::new(build(&f));
        prop_assume!(start(&mut clean, &desired).is_ok());
        let mut sim = SimBackend::new(build(&f));
        sim.inject(k, Fault::Fail(kind));
        let _ = start(&mut sim, &desired);
        start(&mut sim, &desired).unwrap();
        prop_assert_eq!(clean.observe_now(), sim.observe_now());
    }

    #[test]
    fn a_new_config_converges_in_one_start_and_stop_still_restores(
        f in foreign(), c1 in config(), c2 in config(), promote in any::<bool>(),
    ) {
        let (d1, d2) = (compile(&c1), compile(&c2));
        let mut k = build(&f);
        k.promote_secondaries = promote;
        let mut sim = SimBackend::new(k);
        let before = sim.observe_now();
        prop_assume!(start(&mut sim, &d1).is_ok());
        if start(&mut sim, &d2).is_ok() {
            let again = start(&mut sim, &d2).unwrap();
            prop_assert!(again.is_empty(), "second start of the new config planned {:?}", again.ops);
            // Stop both scopes (Xen mode manages one bridge per call).
            stop(&mut sim, &d2).unwrap();
            stop(&mut sim, &d1).unwrap();
            prop_assert_eq!(before, sim.observe_now());
        }
    }

    #[test]
    fn random_xen_words_validate_and_converge_or_are_rejected_first(
        words in prop::collection::vec(
            (prop::sample::select(vec!["bridgeip", "brnet", "vifnum", "netmask", "antispoof", "bridge", "bridgip"]),
             prop::sample::select(vec!["10.1.2.1/24", "10.1.2.0/24", "10.1.0.0/16", "300.1.1.1/24", "255.255.255.0",
                                       "255.0.255.0", "yes", "maybe", "2", "xenbr9", "br/0", "10.1.2.1/33", "10.1.2.255/24"])),
            0..4),
    ) {
        let words: Vec<String> = words.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut sim = SimBackend::new(Kernel::typical_host());
        match from_xen_words(&words) {
            Err(e) => {
                // Rejected: the message names where it came from; nothing ran.
                prop_assert!(e.to_string().starts_with("command line: "), "{}", e);
                prop_assert_eq!(sim.ops, 0);
            }
            Ok(c) => {
                let d = compile(&c);
                start(&mut sim, &d).unwrap();
                prop_assert!(start(&mut sim, &d).unwrap().is_empty());
            }
        }
    }
}
