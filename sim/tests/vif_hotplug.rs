//! `vif online` / `vif offline` on the simulator: what Xen's vif-bridge does, decided by
//! the engine.

use brouter_engine::config::{from_toml, from_xen_words};
use brouter_engine::vif::{plan_vif_offline, plan_vif_online, VifError, VifRequest, VIF_MAC};
use brouter_engine::{apply, compile, plan_start, LinkKind};
use brouter_sim::{Kernel, SimBackend};

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn started(words: &[&str]) -> SimBackend {
    let mut sim = SimBackend::new(Kernel::typical_host());
    let d = compile(&from_xen_words(words).unwrap());
    block(async {
        let p = plan_start(&d, &sim.kernel.observe()).unwrap();
        apply(&mut sim, &p).await.unwrap();
    });
    sim.kernel.add_link("vif3.0", LinkKind::Veth, false);
    sim.kernel
        .add_foreign_address("vif3.0", "169.254.1.1/16".parse().unwrap());
    sim
}

#[test]
fn online_attaches_like_vif_bridge_and_a_second_call_does_nothing() {
    let mut sim = started(&["bridgeip=10.98.98.1/24"]);
    let req = VifRequest {
        device: "vif3.0".into(),
        ..Default::default()
    };
    let plan = plan_vif_online(None, &sim.kernel.observe(), &req).unwrap();
    assert_eq!(
        plan.bridge.as_deref(),
        Some("xenbr0"),
        "the only bridge brouter made"
    );
    block(apply(&mut sim, &plan.plan)).unwrap();
    let vif = &sim.kernel.links["vif3.0"];
    assert_eq!(vif.master.as_deref(), Some("xenbr0"));
    assert!(vif.up);
    assert_eq!(vif.mac.as_deref(), Some(VIF_MAC));
    assert!(
        !sim.kernel.addresses.iter().any(|a| a.link == "vif3.0"),
        "addresses flushed"
    );
    let again = plan_vif_online(None, &sim.kernel.observe(), &req).unwrap();
    assert!(again.plan.is_empty(), "{:?}", again.plan.ops);
}

#[test]
fn online_renames_to_vifname_and_uses_the_hosts_network() {
    let cfg = from_toml(
        r#"
[[network]]
name = "dmz"
bridge = "xenbr0"
address = "10.98.98.1/24"
[[network]]
name = "data"
bridge = "xenbr1"
address = "10.99.0.1/24"
[[host]]
name = "db1"
network = "data"
mac = "aa:cc:00:00:00:09"
addresses = ["10.99.0.9"]
"#,
        "t.toml",
    )
    .unwrap();
    let mut sim = SimBackend::new(Kernel::typical_host());
    block(async {
        let p = plan_start(&compile(&cfg), &sim.kernel.observe()).unwrap();
        apply(&mut sim, &p).await.unwrap();
    });
    sim.kernel.add_link("vif7.0", LinkKind::Veth, true);
    let req = VifRequest {
        device: "vif7.0".into(),
        rename_to: Some("db1-eth0".into()),
        mac: Some("AA:CC:00:00:00:09".into()),
        ..Default::default()
    };
    let plan = plan_vif_online(Some(&cfg), &sim.kernel.observe(), &req).unwrap();
    assert_eq!(plan.host.as_deref(), Some("db1"));
    block(apply(&mut sim, &plan.plan)).unwrap();
    assert_eq!(sim.kernel.links["db1-eth0"].master.as_deref(), Some("xenbr1"));
    assert!(!sim.kernel.links.contains_key("vif7.0"));
}

#[test]
fn online_to_a_missing_bridge_is_an_error_that_changes_nothing() {
    let sim = started(&["bridgeip=10.98.98.1/24"]);
    let req = VifRequest {
        device: "vif3.0".into(),
        bridge: Some("xenbr5".into()),
        ..Default::default()
    };
    let err = plan_vif_online(None, &sim.kernel.observe(), &req).unwrap_err();
    assert_eq!(err, VifError::NoBridge("xenbr5".into()));
    assert!(err.to_string().contains("run `brouter start`"));
}

#[test]
fn offline_detaches_and_tolerates_a_vanished_vif() {
    let mut sim = started(&["bridgeip=10.98.98.1/24"]);
    let req = VifRequest {
        device: "vif3.0".into(),
        ..Default::default()
    };
    let on = plan_vif_online(None, &sim.kernel.observe(), &req).unwrap();
    block(apply(&mut sim, &on.plan)).unwrap();
    let off = plan_vif_offline(&sim.kernel.observe(), &req);
    block(apply(&mut sim, &off.plan)).unwrap();
    assert_eq!(sim.kernel.links["vif3.0"].master, None);
    sim.kernel.delete_link("vif3.0").unwrap();
    assert!(plan_vif_offline(&sim.kernel.observe(), &req).plan.is_empty());
}
