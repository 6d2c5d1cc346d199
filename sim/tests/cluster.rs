//! `[cluster]` (static control) on the simulator: what `start` makes on a member, that a
//! converged member plans nothing, that a member leaving or joining costs one flood entry,
//! that a changed underlay rebuilds the device, that a kill after any step converges on
//! the next `start`, what `start` refuses, and that `stop` leaves nothing of it.

use brouter_engine::config::cluster::{gateway_mac, vni, vxlan_name};
use brouter_engine::{apply, plan_stop, LinkKind, Op, Plan, PlanError, Scope};
use brouter_sim::{Fault, Kernel, SimBackend};

mod cluster_common;
use cluster_common::{block, desired, plan, start};

/// This member is m0 at the typical host's uplink address (192.0.2.2 on eth0).
fn config(members: &[(&str, &str)], extra: &str) -> String {
    let mut s = String::from(
        "[uplink]\ninterface = \"eth0\"\n\
         [[network]]\nname = \"dmz\"\nbridge = \"br-dmz\"\naddress = \"10.1.0.1/24\"\nantispoof = true\n\
         [[network]]\nname = \"data\"\nbridge = \"br-data\"\naddress = \"10.3.0.1/24\"\n",
    );
    s.push_str(extra);
    s.push_str("[cluster]\nlocal = \"m0\"\n");
    for (name, addr) in members {
        s.push_str(&format!(
            "[[cluster.member]]\nname = \"{name}\"\naddress = \"{addr}\"\n"
        ));
    }
    s
}

fn three() -> String {
    config(
        &[("m0", "192.0.2.2"), ("m1", "192.0.2.3"), ("m2", "192.0.2.4")],
        "",
    )
}

fn cluster_ops(p: &Plan) -> Vec<String> {
    p.ops
        .iter()
        .filter(|o| {
            matches!(
                o,
                Op::CreateVxlan { .. }
                    | Op::DeleteVxlan { .. }
                    | Op::AddFlood { .. }
                    | Op::DeleteFlood { .. }
            )
        })
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_member_gets_one_device_per_network_flooding_to_the_others() {
    let mut sim = SimBackend::new(Kernel::typical_host());
    let p = start(&mut sim, &three());
    let dmz = vxlan_name(vni("dmz"));
    let k = &sim.kernel;
    for (net, bridge) in [("dmz", "br-dmz"), ("data", "br-data")] {
        let name = vxlan_name(vni(net));
        let link = &k.links[&name];
        assert_eq!(link.master.as_deref(), Some(bridge));
        assert!(link.up);
        assert_eq!(link.mtu, Some(1450), "the underlay's 1500 less VXLAN's 50");
        let v = &k.vxlans[&name];
        assert_eq!(v.vni, vni(net));
        assert_eq!(v.local.to_string(), "192.0.2.2");
        assert_eq!(v.underlay, "eth0");
        let remotes: Vec<String> = v.remotes.iter().map(ToString::to_string).collect();
        assert_eq!(remotes, ["192.0.2.3", "192.0.2.4"]);
        assert_eq!(k.links[bridge].mac.as_deref(), Some(gateway_mac(net).as_str()));
    }
    // The bridge takes the smallest port's MTU: the VXLAN device's.
    assert_eq!(k.links["br-dmz"].mtu, Some(1450));
    assert_eq!(cluster_ops(&p).len(), 2 * 3, "{:?}", cluster_ops(&p));
    assert!(p
        .ops
        .iter()
        .any(|o| o.to_string() == format!("flood {dmz} to member 192.0.2.4")));
    // Converged: nothing more.
    assert!(start(&mut sim, &three()).is_empty());
}

#[test]
fn a_member_leaving_or_joining_costs_one_flood_entry_per_network() {
    let mut sim = SimBackend::new(Kernel::typical_host());
    start(&mut sim, &three());
    let two = config(&[("m0", "192.0.2.2"), ("m1", "192.0.2.3")], "");
    let p = start(&mut sim, &two);
    assert_eq!(p.len(), 2, "{:?}", p.ops);
    assert!(p
        .ops
        .iter()
        .all(|o| matches!(o, Op::DeleteFlood { dst, .. } if dst.to_string() == "192.0.2.4")));
    let p = start(&mut sim, &three());
    assert_eq!(p.len(), 2, "{:?}", p.ops);
    assert!(p.ops.iter().all(|o| matches!(o, Op::AddFlood { .. })));
}

#[test]
fn every_member_knows_the_declared_hosts_neighbour_entries() {
    let web = "[[host]]\nname = \"web\"\nnetwork = \"dmz\"\nmac = \"02:00:00:00:00:0A\"\naddresses = [\"10.1.0.10\"]\n";
    let text = config(&[("m0", "192.0.2.2"), ("m1", "192.0.2.3")], web);
    let mut sim = SimBackend::new(Kernel::typical_host());
    let p = start(&mut sim, &text);
    assert!(
        p.ops
            .iter()
            .any(|o| o.to_string() == "set neighbour 10.1.0.10 lladdr 02:00:00:00:00:0a on br-dmz"),
        "{:?}",
        p.ops
    );
    // Moved to another address: corrected in place; gone from the file: deleted.
    let p = start(&mut sim, &text.replace("10.1.0.10", "10.1.0.11"));
    let ops: Vec<String> = p
        .ops
        .iter()
        .filter(|o| matches!(o, Op::SetNeighbour { .. } | Op::DeleteNeighbour { .. }))
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        ops,
        [
            "set neighbour 10.1.0.11 lladdr 02:00:00:00:00:0a on br-dmz",
            "delete neighbour 10.1.0.10 on br-dmz"
        ]
    );
    let p = start(&mut sim, &config(&[("m0", "192.0.2.2"), ("m1", "192.0.2.3")], ""));
    assert!(
        p.ops.iter().any(|o| matches!(o, Op::DeleteNeighbour { .. })),
        "{:?}",
        p.ops
    );
    assert!(sim.kernel.neighbours.is_empty());
}

#[test]
fn a_device_made_otherwise_is_rebuilt() {
    let mut sim = SimBackend::new(Kernel::typical_host());
    start(&mut sim, &three());
    sim.kernel
        .add_link("eth1", LinkKind::Other("physical".into()), true);
    sim.kernel
        .add_foreign_address("eth1", "198.51.100.2/24".parse().unwrap());
    let moved = three()
        .replace("local = \"m0\"", "local = \"m0\"\nunderlay = \"eth1\"")
        .replace("192.0.2.2", "198.51.100.2");
    let p = start(&mut sim, &moved);
    let ops = cluster_ops(&p);
    assert_eq!(
        ops.iter().filter(|o| o.starts_with("delete vxlan")).count(),
        2,
        "{ops:?}"
    );
    assert_eq!(
        ops.iter().filter(|o| o.starts_with("create vxlan")).count(),
        2,
        "{ops:?}"
    );
    assert_eq!(sim.kernel.vxlans[&vxlan_name(vni("dmz"))].underlay, "eth1");
}

#[test]
fn a_kill_after_any_step_converges_on_the_next_start() {
    let text = three();
    let d = desired(&text);
    let fresh = SimBackend::new(Kernel::typical_host());
    let steps = plan(&fresh, &d).unwrap().len();
    for k in 0..steps {
        let mut sim = fresh.clone();
        sim.inject(k, Fault::Crash);
        let p = plan(&sim, &d).unwrap();
        assert!(block(apply(&mut sim, &p)).is_err());
        let mut sim = SimBackend::new(sim.kernel.clone());
        start(&mut sim, &text);
        let mut once = fresh.clone();
        start(&mut once, &text);
        assert_eq!(
            sim.kernel.observe(),
            once.kernel.observe(),
            "killed before step {k}"
        );
    }
}

#[test]
fn start_refuses_what_it_cannot_do_without_touching_others() {
    // The local member's address is on no interface.
    let sim = SimBackend::new(Kernel::typical_host());
    let wrong = three().replace("192.0.2.2", "192.0.2.9");
    let e = plan(&sim, &desired(&wrong)).unwrap_err();
    assert!(matches!(e, PlanError::LocalMemberAddressMissing { .. }), "{e}");
    // The underlay does not exist.
    let gone = three().replace("local = \"m0\"", "local = \"m0\"\nunderlay = \"eth9\"");
    let e = plan(&sim, &desired(&gone)).unwrap_err();
    assert!(e.to_string().contains("eth9"), "{e}");
    // Somebody else's bridge holds a cluster network's bridge name: brouter would have to
    // give it the anycast MAC, which stop could not give back.
    let mut sim = SimBackend::new(Kernel::typical_host());
    sim.kernel.add_link("br-dmz", LinkKind::Bridge, true);
    let e = plan(&sim, &desired(&three())).unwrap_err();
    assert!(matches!(e, PlanError::ClusterBridgeForeign { .. }), "{e}");
    // Somebody else's link holds the device's name.
    let mut sim = SimBackend::new(Kernel::typical_host());
    let name = vxlan_name(vni("dmz"));
    sim.kernel.add_link(&name, LinkKind::Other("vxlan".into()), true);
    let e = plan(&sim, &desired(&three())).unwrap_err();
    assert!(matches!(e, PlanError::VxlanNameTaken { .. }), "{e}");
}

#[test]
fn stop_removes_the_devices_with_the_bridges_and_nothing_else() {
    let mut sim = SimBackend::new(Kernel::typical_host());
    let before = sim.kernel.observe();
    start(&mut sim, &three());
    let p = plan_stop(&Scope::All, &sim.kernel.observe());
    block(apply(&mut sim, &p)).unwrap();
    assert!(sim.kernel.vxlans.is_empty());
    assert_eq!(sim.kernel.observe(), before);
    assert!(
        plan_stop(&Scope::All, &sim.kernel.observe()).is_empty(),
        "stop twice = stop once"
    );
}
