//! `vif online|offline` planned from a narrow observation (only the links the plan names,
//! `NetBackend::observe_links`) decides exactly what it decides from a full one: the fast
//! path a host with a thousand vifs takes must not change a single op or error.

use brouter_engine::config::{from_toml, Config};
use brouter_engine::vif::{
    plan_vif_offline, plan_vif_online, vif_links, VifAction, VifError, VifPlan, VifRequest,
};
use brouter_engine::{apply, compile, plan_start, LinkKind, NetBackend};
use brouter_sim::{Kernel, SimBackend};

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

/// Two networks, `data` with anti-spoofing; its hosts: db1 and the 40 busy vifs' domUs
/// (an antispoof network refuses a MAC no `[[host]]` declares).
fn config() -> Config {
    let busy: String = (0..40)
        .map(|i| {
            format!(
                "[[host]]\nname = \"busy{i}\"\nnetwork = \"data\"\nmac = \"aa:cc:00:00:01:{i:02x}\"\naddresses = [\"10.99.0.{}\"]\n",
                100 + i
            )
        })
        .collect();
    let text = r#"
[[network]]
name = "dmz"
bridge = "xenbr0"
address = "10.98.98.1/24"
[[network]]
name = "data"
bridge = "xenbr1"
address = "10.99.0.1/24"
antispoof = true
[[host]]
name = "db1"
network = "data"
mac = "aa:cc:00:00:00:09"
addresses = ["10.99.0.9"]
"#;
    from_toml(&format!("{text}{busy}"), "t.toml").unwrap()
}

/// Started from `config()`, with 40 other vifs attached and bound on xenbr1, a fresh
/// `vif7.0` carrying a stray address, and a foreign link `taken0`.
fn busy_host() -> SimBackend {
    let cfg = config();
    let mut sim = SimBackend::new(Kernel::typical_host());
    block(async {
        let p = plan_start(&compile(&cfg), &sim.kernel.observe()).unwrap();
        apply(&mut sim, &p).await.unwrap();
        for i in 0..40 {
            let vif = format!("vif{}.0", 100 + i);
            sim.kernel.add_link(&vif, LinkKind::Veth, false);
            let req = VifRequest {
                device: vif,
                bridge: Some("xenbr1".into()),
                mac: Some(format!("aa:cc:00:00:01:{i:02x}")),
                ips: vec![format!("10.99.0.{}", 100 + i).parse().unwrap()],
                ..Default::default()
            };
            let plan = plan_vif_online(Some(&cfg), &sim.kernel.observe(), &req).unwrap();
            apply(&mut sim, &plan.plan).await.unwrap();
        }
    });
    sim.kernel.add_link("vif7.0", LinkKind::Veth, true);
    sim.kernel
        .add_foreign_address("vif7.0", "169.254.1.1/16".parse().unwrap());
    sim.kernel.add_link("taken0", LinkKind::Veth, false);
    sim
}

type Planned = Result<VifPlan, VifError>;

/// The plan from a full observation and the one from the narrow observation of the links
/// `vif_links` names (which must name some).
fn both(
    sim: &mut SimBackend,
    cfg: Option<&Config>,
    req: &VifRequest,
    action: VifAction,
) -> (Planned, Planned) {
    let names = vif_links(cfg, req, action).expect("the plan can name its links");
    let full = sim.kernel.observe();
    let narrow = block(sim.observe_links(&names)).unwrap();
    assert!(
        narrow.links.len() <= names.len(),
        "only named links: {:?}",
        narrow.links
    );
    assert!(
        narrow.bindings.iter().all(|b| names.contains(&b.vif)),
        "only the named vifs' bindings"
    );
    let plan = |o| match action {
        VifAction::Online => plan_vif_online(cfg, o, req),
        VifAction::Offline => Ok(plan_vif_offline(o, req)),
    };
    (plan(&full), plan(&narrow))
}

#[test]
fn a_renamed_host_vif_is_planned_the_same_from_its_own_links() {
    let mut sim = busy_host();
    let cfg = config();
    let req = VifRequest {
        device: "vif7.0".into(),
        rename_to: Some("db1-eth0".into()),
        mac: Some("AA:CC:00:00:00:09".into()),
        ..Default::default()
    };
    assert_eq!(
        vif_links(Some(&cfg), &req, VifAction::Online).unwrap(),
        ["vif7.0", "db1-eth0", "xenbr1"],
        "the device, its new name and the host's bridge"
    );
    let (full, narrow) = both(&mut sim, Some(&cfg), &req, VifAction::Online);
    let plan = narrow.unwrap();
    assert_eq!(Ok(plan.clone()), full);
    assert_eq!(plan.bridge.as_deref(), Some("xenbr1"));
    assert!(
        plan.plan
            .ops
            .iter()
            .any(|op| format!("{op:?}").contains("169.254.1.1")),
        "the stray address is seen and flushed: {:?}",
        plan.plan.ops
    );
    block(apply(&mut sim, &plan.plan)).unwrap();
    let bound = &sim.kernel.bindings["db1-eth0"];
    assert_eq!(bound.addrs, vec!["10.99.0.9/32".parse::<ipnet::IpNet>().unwrap()]);
    assert_eq!(sim.kernel.bindings.len(), 41, "the other vifs stay bound");
}

#[test]
fn a_rename_onto_an_existing_link_is_refused_from_the_narrow_view_too() {
    let mut sim = busy_host();
    let req = VifRequest {
        device: "vif7.0".into(),
        rename_to: Some("taken0".into()),
        bridge: Some("xenbr0".into()),
        ..Default::default()
    };
    let (full, narrow) = both(&mut sim, Some(&config()), &req, VifAction::Online);
    let taken = VifError::NameTaken {
        from: "vif7.0".into(),
        to: "taken0".into(),
    };
    assert_eq!(full, Err(taken.clone()));
    assert_eq!(narrow, Err(taken));
}

#[test]
fn a_missing_bridge_or_device_is_the_same_error_from_the_narrow_view() {
    let mut sim = busy_host();
    for (device, bridge) in [("vif7.0", "xenbr5"), ("vif9.9", "xenbr0")] {
        let req = VifRequest {
            device: device.into(),
            bridge: Some(bridge.into()),
            ..Default::default()
        };
        let (full, narrow) = both(&mut sim, None, &req, VifAction::Online);
        assert!(full.is_err(), "{full:?}");
        assert_eq!(full, narrow);
    }
}

#[test]
fn an_attached_bound_vif_plans_nothing_and_offline_unbinds_it() {
    let mut sim = busy_host();
    let cfg = config();
    let req = VifRequest {
        device: "vif105.0".into(),
        bridge: Some("xenbr1".into()),
        mac: Some("aa:cc:00:00:01:05".into()),
        ips: vec!["10.99.0.105".parse().unwrap()],
        ..Default::default()
    };
    let (full, narrow) = both(&mut sim, Some(&cfg), &req, VifAction::Online);
    assert_eq!(full, narrow);
    assert!(narrow.unwrap().plan.is_empty(), "already attached, up and bound");

    let (full, narrow) = both(&mut sim, Some(&cfg), &req, VifAction::Offline);
    assert_eq!(full, narrow);
    let plan = narrow.unwrap();
    assert_eq!(plan.bridge.as_deref(), Some("xenbr1"));
    block(apply(&mut sim, &plan.plan)).unwrap();
    assert!(!sim.kernel.bindings.contains_key("vif105.0"));
    assert_eq!(sim.kernel.links["vif105.0"].master, None);
    assert_eq!(sim.kernel.bindings.len(), 39);
}

#[test]
fn with_nothing_naming_the_bridge_every_link_must_be_observed() {
    let cfg = config();
    let req = VifRequest {
        device: "vif7.0".into(),
        ..Default::default()
    };
    assert_eq!(
        vif_links(Some(&cfg), &req, VifAction::Online),
        None,
        "two networks, no host matches: the first bridge in the kernel decides"
    );
    assert_eq!(
        vif_links(None, &req, VifAction::Offline),
        Some(vec!["vif7.0".to_string()]),
        "offline needs no bridge"
    );
}
