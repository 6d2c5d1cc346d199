//! The simulator fails where Linux fails, with the same error kinds, and the planner's
//! ownership rules hold on concrete, readable cases.

use brouter_engine::config::from_xen_words;
use brouter_engine::{apply, compile, plan_start, plan_stop, ErrorKind, LinkKind, Op, PlanError};
use brouter_sim::{Kernel, SimBackend};

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

async fn start(sim: &mut SimBackend, d: &brouter_engine::Desired) {
    let plan = plan_start(d, &sim.kernel.observe()).unwrap();
    apply(sim, &plan).await.unwrap();
}

async fn stop(sim: &mut SimBackend, d: &brouter_engine::Desired) {
    let plan = plan_stop(&d.scope, &sim.kernel.observe());
    apply(sim, &plan).await.unwrap();
}

fn seed() -> brouter_engine::Desired {
    compile(&from_xen_words(&["bridgeip=10.98.98.1/24", "brnet=10.98.98.0/24"]).unwrap())
}

#[test]
fn kernel_errors_have_linux_kinds() {
    let mut k = Kernel::typical_host();
    k.create_bridge("xenbr0", "n", Default::default()).unwrap();
    assert_eq!(
        k.create_bridge("xenbr0", "n", Default::default())
            .unwrap_err()
            .kind,
        ErrorKind::Exists
    );
    let a = "10.98.98.1/24".parse().unwrap();
    k.add_address("xenbr0", a).unwrap();
    assert_eq!(k.add_address("xenbr0", a).unwrap_err().kind, ErrorKind::Exists);
    assert_eq!(k.add_address("nope0", a).unwrap_err().kind, ErrorKind::NoDevice);
    assert_eq!(
        k.set_master("eth0", Some("nope0")).unwrap_err().kind,
        ErrorKind::NoDevice
    );
    let net = "10.98.98.0/24".parse().unwrap();
    assert_eq!(
        k.add_route(net, "xenbr0").unwrap_err().kind,
        ErrorKind::NetDown,
        "bridge is still down"
    );
    k.set_up("xenbr0", true).unwrap();
    k.add_route(net, "xenbr0").unwrap();
    assert_eq!(k.add_route(net, "xenbr0").unwrap_err().kind, ErrorKind::Exists);
    k.delete_route(net, "xenbr0").unwrap();
    assert_eq!(
        k.delete_route(net, "xenbr0").unwrap_err().kind,
        ErrorKind::NoSuchRoute
    );
    k.delete_address("xenbr0", a).unwrap();
    assert_eq!(
        k.delete_address("xenbr0", a).unwrap_err().kind,
        ErrorKind::AddrNotAvail
    );
    assert_eq!(k.delete_link("nope0").unwrap_err().kind, ErrorKind::NoDevice);
}

#[test]
fn foreign_address_brings_its_prefix_route_and_down_drops_routes() {
    let mut k = Kernel::default();
    k.add_link("br-lan", LinkKind::Bridge, true);
    k.add_foreign_address("br-lan", "172.16.0.1/24".parse().unwrap());
    assert!(k
        .routes
        .iter()
        .any(|r| r.dst.to_string() == "172.16.0.0/24" && r.dev == "br-lan"));
    k.set_up("br-lan", false).unwrap();
    assert!(k.routes.is_empty());
    k.set_up("br-lan", true).unwrap();
    assert_eq!(k.routes.len(), 1, "the prefix route comes back with the link");
}

#[test]
fn stop_detaches_ports_before_deleting_the_bridge() {
    let mut sim = SimBackend::new(Kernel::typical_host());
    block(async {
        let d = seed();
        start(&mut sim, &d).await;
        sim.kernel.add_link("vif1.0", LinkKind::Veth, true);
        sim.kernel.set_master("vif1.0", Some("xenbr0")).unwrap();
        let plan = plan_stop(&d.scope, &sim.kernel.observe());
        let detach = plan
            .ops
            .iter()
            .position(|o| matches!(o, Op::SetMaster { link, master: None } if link == "vif1.0"));
        let delete = plan
            .ops
            .iter()
            .position(|o| matches!(o, Op::DeleteLink { name } if name == "xenbr0"));
        assert!(detach.unwrap() < delete.unwrap(), "{:?}", plan.ops);
        apply(&mut sim, &plan).await.unwrap();
        assert!(
            sim.kernel.links.contains_key("vif1.0"),
            "the vif survives, detached"
        );
        assert!(!sim.kernel.links.contains_key("xenbr0"));
    });
}

#[test]
fn an_existing_bridge_is_adopted_and_survives_stop_as_it_was() {
    let mut k = Kernel::typical_host();
    k.add_link("xenbr0", LinkKind::Bridge, false);
    k.add_link("vif3.0", LinkKind::Veth, true);
    k.set_master("vif3.0", Some("xenbr0")).unwrap();
    let before = k.observe();
    let mut sim = SimBackend::new(k);
    block(async {
        let d = seed();
        let plan = plan_start(&d, &sim.kernel.observe()).unwrap();
        assert!(
            !plan.ops.iter().any(|o| matches!(o, Op::CreateBridge { .. })),
            "{:?}",
            plan.ops
        );
        apply(&mut sim, &plan).await.unwrap();
        assert!(sim.kernel.links["xenbr0"].up);
        stop(&mut sim, &d).await;
    });
    assert_eq!(
        before,
        sim.kernel.observe(),
        "still there, down again, port still attached"
    );
}

#[test]
fn a_foreign_route_to_the_network_is_a_conflict_refused_before_any_change() {
    let mut k = Kernel::typical_host();
    k.add_link("eth1", LinkKind::Other("physical".into()), true);
    k.add_foreign_address("eth1", "10.98.98.7/24".parse().unwrap());
    let err = plan_start(&seed(), &k.observe()).unwrap_err();
    assert!(matches!(err, PlanError::RouteConflict { .. }), "{err}");
    assert!(err.to_string().contains("already goes via eth1"), "{err}");
}

#[test]
fn a_non_bridge_link_with_the_bridge_name_is_refused() {
    let mut k = Kernel::typical_host();
    k.add_link("xenbr0", LinkKind::Veth, true);
    let err = plan_start(&seed(), &k.observe()).unwrap_err();
    assert!(
        err.to_string().contains("xenbr0 exists and is not a bridge"),
        "{err}"
    );
}

#[test]
fn xen_mode_stop_leaves_other_brouter_bridges_alone() {
    let mut sim = SimBackend::new(Kernel::typical_host());
    let d0 = compile(&from_xen_words(&["vifnum=0", "bridgeip=10.1.0.1/24"]).unwrap());
    let d1 = compile(&from_xen_words(&["vifnum=1", "bridgeip=10.2.0.1/24"]).unwrap());
    block(async {
        start(&mut sim, &d0).await;
        start(&mut sim, &d1).await;
        assert!(
            sim.kernel.links.contains_key("xenbr0"),
            "starting xenbr1 keeps xenbr0"
        );
        stop(&mut sim, &d1).await;
    });
    assert!(sim.kernel.links.contains_key("xenbr0"));
    assert!(!sim.kernel.links.contains_key("xenbr1"));
    assert_eq!(
        sim.kernel.sysctls["net.ipv4.ip_forward"], "1",
        "xenbr0 still routes"
    );
}

#[test]
fn moving_the_bridge_address_within_its_subnet_converges_in_one_start() {
    let cfg = |addr: &str| {
        brouter_engine::config::from_toml(
            &format!("[[network]]\nname = \"dmz\"\nbridge = \"xenbr0\"\naddress = \"{addr}\"\n"),
            "t.toml",
        )
        .unwrap()
    };
    for promote in [false, true] {
        let mut k = Kernel::typical_host();
        k.promote_secondaries = promote;
        let mut sim = SimBackend::new(k);
        block(async {
            start(&mut sim, &compile(&cfg("10.98.98.1/24"))).await;
            let moved = compile(&cfg("10.98.98.2/24"));
            start(&mut sim, &moved).await;
            let again = plan_start(&moved, &sim.kernel.observe()).unwrap();
            assert!(again.is_empty(), "promote_secondaries={promote}: {:?}", again.ops);
        });
    }
}

#[test]
fn moving_the_bridge_to_another_subnet_converges_in_one_start() {
    let mut sim = SimBackend::new(Kernel::typical_host());
    let a = compile(&from_xen_words(&["bridgeip=10.98.98.1/24"]).unwrap());
    let b = compile(&from_xen_words(&["bridgeip=10.99.0.1/24"]).unwrap());
    block(async {
        start(&mut sim, &a).await;
        start(&mut sim, &b).await;
    });
    assert!(plan_start(&b, &sim.kernel.observe()).unwrap().is_empty());
    assert!(sim
        .kernel
        .routes
        .iter()
        .any(|r| r.dst.to_string() == "10.99.0.0/24" && r.dev == "xenbr0"));
    assert!(!sim
        .kernel
        .routes
        .iter()
        .any(|r| r.dst.to_string() == "10.98.98.0/24"));
}
