//! `[cluster]` with `control = "evpn"` on the simulator: a member's devices learn nothing
//! and brouter writes no flood entries (FRR does), FRR starts with a session per member,
//! a member leaving or joining changes the sessions in place (no restart), a dead bgpd or
//! a stale stamp restarts it, a switch between static and EVPN rebuilds the devices, a
//! kill after any step converges, and `stop` leaves nothing of it.

use brouter_engine::config::cluster::{vni, vxlan_name};
use brouter_engine::{apply, plan_stop, Op, Plan};
use brouter_sim::{Fault, Kernel, SimBackend};

mod cluster_common;
use cluster_common::{block, desired, plan, start};

/// This member is m0 at the typical host's uplink address (192.0.2.2 on eth0).
fn config(control: &str, members: &[(&str, &str)]) -> String {
    let mut s = String::from(
        "[uplink]\ninterface = \"eth0\"\n\
         [[network]]\nname = \"dmz\"\nbridge = \"br-dmz\"\naddress = \"10.1.0.1/24\"\nantispoof = true\n\
         [[network]]\nname = \"data\"\nbridge = \"br-data\"\naddress = \"10.3.0.1/24\"\n",
    );
    s.push_str(&format!("[cluster]\nlocal = \"m0\"\ncontrol = \"{control}\"\n"));
    for (name, addr) in members {
        s.push_str(&format!(
            "[[cluster.member]]\nname = \"{name}\"\naddress = \"{addr}\"\n"
        ));
    }
    s
}

const THREE: [(&str, &str); 3] = [("m0", "192.0.2.2"), ("m1", "192.0.2.3"), ("m2", "192.0.2.4")];

fn routing_ops(p: &Plan) -> Vec<String> {
    p.ops
        .iter()
        .filter(|o| {
            matches!(
                o,
                Op::StartRouting { .. } | Op::ReloadRouting { .. } | Op::StopRouting
            )
        })
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_member_runs_frr_and_leaves_the_devices_fdb_to_it() {
    let mut sim = SimBackend::new(Kernel::typical_host());
    let p = start(&mut sim, &config("evpn", &THREE));
    assert_eq!(
        routing_ops(&p),
        ["start FRR (zebra, bgpd) for BGP EVPN with 2 session(s)"]
    );
    assert!(
        !p.ops.iter().any(|o| matches!(o, Op::AddFlood { .. })),
        "{:?}",
        p.ops
    );
    let vx = &sim.kernel.vxlans[&vxlan_name(vni("dmz"))];
    assert!(!vx.learning);
    assert!(vx.remotes.is_empty());
    let frr = sim.kernel.routing.as_ref().expect("FRR runs");
    assert!(frr.serves_its_config());
    let conf = frr.config.as_deref().unwrap();
    assert!(
        conf.contains(" neighbor 192.0.2.3 remote-as 65000\n")
            && conf.contains(" neighbor 192.0.2.4 remote-as 65000\n"),
        "{conf}"
    );
    assert!(conf.contains(" bgp router-id 192.0.2.2\n"), "{conf}");
}

#[test]
fn a_member_leaving_or_joining_changes_the_sessions_in_place() {
    let mut sim = SimBackend::new(Kernel::typical_host());
    start(&mut sim, &config("evpn", &THREE));
    let p = start(&mut sim, &config("evpn", &THREE[..2]));
    assert_eq!(p.ops.len(), 1, "{:?}", p.ops);
    assert_eq!(
        routing_ops(&p),
        ["change FRR's BGP sessions in place: no neighbor 192.0.2.4"]
    );
    let p = start(&mut sim, &config("evpn", &THREE));
    assert_eq!(p.ops.len(), 1, "{:?}", p.ops);
    let frr = sim.kernel.routing.as_ref().unwrap();
    assert_eq!(frr.starts, 1, "never restarted");
    assert!(frr.serves_its_config());
}

#[test]
fn a_dead_bgpd_or_a_stamp_that_does_not_match_restarts_frr() {
    let mut sim = SimBackend::new(Kernel::typical_host());
    let text = config("evpn", &THREE);
    start(&mut sim, &text);
    sim.kernel.routing.as_mut().unwrap().kill_bgpd();
    let p = start(&mut sim, &text);
    assert_eq!(
        routing_ops(&p),
        ["restart FRR (zebra, bgpd) for BGP EVPN with 2 session(s)"]
    );
    sim.kernel.routing.as_mut().unwrap().loaded = Some("written but not applied".into());
    let p = start(&mut sim, &text);
    assert_eq!(routing_ops(&p).len(), 1);
    assert_eq!(sim.kernel.routing.as_ref().unwrap().starts, 3);
}

#[test]
fn switching_between_static_and_evpn_rebuilds_the_devices() {
    let mut sim = SimBackend::new(Kernel::typical_host());
    start(&mut sim, &config("static", &THREE));
    let p = start(&mut sim, &config("evpn", &THREE));
    let rebuilt = p
        .ops
        .iter()
        .filter(|o| matches!(o, Op::CreateVxlan { learning: false, .. }))
        .count();
    assert_eq!(rebuilt, 2, "{:?}", p.ops);
    assert!(sim
        .kernel
        .vxlans
        .values()
        .all(|v| !v.learning && v.remotes.is_empty()));
    let p = start(&mut sim, &config("static", &THREE));
    assert_eq!(routing_ops(&p), ["stop FRR and remove its files"]);
    assert!(sim.kernel.routing.is_none());
    assert!(sim
        .kernel
        .vxlans
        .values()
        .all(|v| v.learning && v.remotes.len() == 2));
}

#[test]
fn a_kill_after_any_step_converges_on_the_next_start() {
    let text = config("evpn", &THREE);
    let d = desired(&text);
    let fresh = SimBackend::new(Kernel::typical_host());
    let steps = plan(&fresh, &d).unwrap().len();
    let mut once = fresh.clone();
    start(&mut once, &text);
    for k in 0..steps {
        let mut sim = fresh.clone();
        sim.inject(k, Fault::Crash);
        let p = plan(&sim, &d).unwrap();
        assert!(block(apply(&mut sim, &p)).is_err());
        let mut sim = SimBackend::new(sim.kernel.clone());
        start(&mut sim, &text);
        assert_eq!(
            sim.kernel.observe().normalized(),
            once.kernel.observe().normalized(),
            "killed before step {k}"
        );
    }
}

#[test]
fn stop_ends_frr_with_the_devices_and_twice_is_once() {
    let mut sim = SimBackend::new(Kernel::typical_host());
    let before = sim.kernel.observe();
    start(&mut sim, &config("evpn", &THREE));
    for _ in 0..2 {
        let o = block(brouter_engine::NetBackend::observe(&mut sim)).unwrap();
        let p = plan_stop(&brouter_engine::Scope::All, &o);
        block(apply(&mut sim, &p)).unwrap();
    }
    assert!(sim.kernel.routing.is_none());
    assert!(sim.kernel.vxlans.is_empty());
    assert_eq!(sim.kernel.observe().normalized().links, before.normalized().links);
}
