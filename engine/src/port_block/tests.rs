use super::*;
use crate::config::from_toml;
use crate::desired::compile;
use crate::firewall::Binding;
use crate::model::LinkKind;
use crate::plan::{plan_start, plan_stop};

const CONFIG: &str = "[uplink]\ninterface = \"eth0\"\n[[network]]\nname = \"lan\"\nbridge = \"xenbr0\"\naddress = \"10.1.0.1/24\"\nantispoof = true\n";

fn link(name: &str, kind: LinkKind, master: Option<&str>, state: Option<PortState>) -> Link {
    Link {
        carrier: None,
        name: name.into(),
        kind,
        alias: None,
        master: master.map(String::from),
        up: true,
        bridge: (kind_is_bridge(name)).then(Default::default),
        mac: None,
        mtu: None,
        port_state: state,
    }
}

fn kind_is_bridge(name: &str) -> bool {
    name.starts_with("xenbr")
}

/// A converged host but for its ports: `vif1.0` bound, `vif2.0` enslaved by hand,
/// `eth1` a NIC bridged by the admin, and the uplink itself a port.
fn world() -> (Desired, Observed) {
    let config = from_toml(CONFIG, "t.toml").unwrap();
    let desired = compile(&config);
    let mut o = Observed::default();
    let fwd = Some(PortState::Forwarding);
    o.links.extend([
        link("xenbr0", LinkKind::Bridge, None, None),
        link("eth0", LinkKind::Other(PHYSICAL.into()), None, None),
        link("vif1.0", LinkKind::Veth, Some("xenbr0"), fwd),
        link("vif2.0", LinkKind::Veth, Some("xenbr0"), fwd),
        link("eth1", LinkKind::Other(PHYSICAL.into()), Some("xenbr0"), fwd),
    ]);
    if let Some(eth0) = o.links.iter_mut().find(|l| l.name == "eth0") {
        eth0.master = Some("xenbr0".into());
        eth0.port_state = fwd;
    }
    o.bindings.push(Binding {
        vif: "vif1.0".into(),
        mac: "aa:cc:00:00:00:01".into(),
        addrs: vec![],
    });
    (desired, o)
}

use crate::model::PHYSICAL;

/// The port part of a plan: port states and the memory of blocked ports.
fn port_ops(ops: Vec<Op>) -> Vec<Op> {
    ops.into_iter()
        .filter(|op| match op {
            Op::SetPortState { .. } => true,
            Op::Remember { key, .. } | Op::Forget { key } => key.starts_with("port-blocked:"),
            _ => false,
        })
        .collect()
}

fn start(d: &Desired, o: &Observed) -> Vec<Op> {
    port_ops(plan_start(d, o).unwrap().ops)
}

fn block(port: &str) -> Vec<Op> {
    vec![
        Op::Remember {
            key: memory_key(port),
            value: "xenbr0".into(),
        },
        Op::SetPortState {
            port: port.into(),
            bridge: "xenbr0".into(),
            state: PortState::Disabled,
        },
    ]
}

#[test]
fn start_blocks_only_the_unbound_vif_and_remembers_it_first() {
    let (d, o) = world();
    assert_eq!(start(&d, &o), block("vif2.0"));
}

#[test]
fn a_blocked_port_plans_nothing_and_a_reenabled_one_is_blocked_again() {
    let (d, mut o) = world();
    o.memory.insert(memory_key("vif2.0"), "xenbr0".into());
    let vif2 = o.links.iter_mut().find(|l| l.name == "vif2.0").unwrap();
    vif2.port_state = Some(PortState::Disabled);
    assert_eq!(start(&d, &o), vec![]);
    // A carrier event re-enabled it: blocked again, memory as it is.
    let vif2 = o.links.iter_mut().find(|l| l.name == "vif2.0").unwrap();
    vif2.port_state = Some(PortState::Forwarding);
    assert_eq!(start(&d, &o), block("vif2.0")[1..].to_vec());
}

#[test]
fn uplink_nics_down_ports_and_stp_bridges_are_not_blocked() {
    let (d, o) = world();
    let eth0 = o.link("eth0").unwrap();
    assert_eq!(fate(eth0, d.uplink.as_deref(), false), Fate::Uplink);
    assert_eq!(fate(o.link("eth1").unwrap(), None, false), Fate::Nic);
    assert_eq!(fate(o.link("vif2.0").unwrap(), None, true), Fate::Stp);
    let mut down = o.clone();
    down.links.iter_mut().find(|l| l.name == "vif2.0").unwrap().up = false;
    assert_eq!(start(&d, &down), vec![]);
}

#[test]
fn a_bridge_brought_up_blocks_its_ports_again_after() {
    let (d, mut o) = world();
    o.links.iter_mut().find(|l| l.name == "xenbr0").unwrap().up = false;
    for l in o.links.iter_mut().filter(|l| l.master.is_some()) {
        l.port_state = Some(PortState::Disabled);
    }
    let ops = plan_start(&d, &o).unwrap().ops;
    let up = ops
        .iter()
        .position(|op| matches!(op, Op::SetUp { link, up: true } if link == "xenbr0"))
        .expect("raised");
    let blocked = ops
        .iter()
        .position(|op| matches!(op, Op::SetPortState { port, .. } if port == "vif2.0"))
        .expect("blocked");
    assert!(up < blocked, "{ops:?}");
}

#[test]
fn a_port_bound_after_a_killed_vif_online_is_handed_back_by_start_and_stop() {
    let (d, mut o) = world();
    o.memory.insert(memory_key("vif2.0"), "xenbr0".into());
    o.links
        .iter_mut()
        .find(|l| l.name == "vif2.0")
        .unwrap()
        .port_state = Some(PortState::Disabled);
    let mut bound = o.clone();
    bound.bindings.push(Binding {
        vif: "vif2.0".into(),
        mac: "aa:cc:00:00:00:02".into(),
        addrs: vec![],
    });
    let open = Op::SetPortState {
        port: "vif2.0".into(),
        bridge: "xenbr0".into(),
        state: PortState::Forwarding,
    };
    let forget = Op::Forget {
        key: memory_key("vif2.0"),
    };
    assert_eq!(start(&d, &bound), vec![open.clone(), forget.clone()]);
    // stop hands back a port of a bridge that stays (an adopted one).
    let stop = plan_stop(&d.scope, &o).ops;
    let at = stop.iter().position(|op| *op == open).expect("opened");
    assert_eq!(stop[at + 1], forget);
}

#[test]
fn vif_online_opens_the_port_it_binds_and_offline_forgets_it() {
    let (_, mut o) = world();
    o.memory.insert(memory_key("vif2.0"), "xenbr0".into());
    let vif2 = o.links.iter_mut().find(|l| l.name == "vif2.0").unwrap();
    vif2.port_state = Some(PortState::Disabled);
    vif2.mac = Some(crate::vif::VIF_MAC.into());
    let config = from_toml(CONFIG, "t.toml").unwrap();
    let req = crate::vif::VifRequest {
        device: "vif2.0".into(),
        bridge: Some("xenbr0".into()),
        mac: Some("aa:cc:00:00:00:02".into()),
        ..Default::default()
    };
    let plan = crate::vif::plan_vif_online(Some(&config), &o, &req)
        .unwrap()
        .plan
        .ops;
    let bind = plan
        .iter()
        .position(|op| matches!(op, Op::AddBinding { .. }))
        .expect("bound");
    let open = plan
        .iter()
        .position(|op| {
            matches!(
                op,
                Op::SetPortState {
                    state: PortState::Forwarding,
                    ..
                }
            )
        })
        .expect("opened");
    assert!(bind < open, "{plan:?}");
    assert!(plan.contains(&Op::Forget {
        key: memory_key("vif2.0")
    }));
    let off = crate::vif::plan_vif_offline(&o, &req).plan.ops;
    assert!(off.contains(&Op::Forget {
        key: memory_key("vif2.0")
    }));
}

#[test]
fn a_blocked_port_without_carrier_is_only_forgotten_the_kernel_opens_it_when_carrier_comes() {
    let (d, mut o) = world();
    o.memory.insert(memory_key("vif2.0"), "xenbr0".into());
    let vif2 = o.links.iter_mut().find(|l| l.name == "vif2.0").unwrap();
    vif2.port_state = Some(PortState::Disabled);
    vif2.carrier = Some(false);
    let stop = port_ops(plan_stop(&d.scope, &o).ops);
    assert_eq!(
        stop,
        vec![Op::Forget {
            key: memory_key("vif2.0")
        }]
    );
}

#[test]
fn a_port_remembered_on_another_bridge_keeps_its_note_when_blocked_here() {
    let (d, mut o) = world();
    o.memory.insert(memory_key("vif2.0"), "xenbr9".into());
    assert_eq!(
        start(&d, &o),
        block("vif2.0"),
        "the note now names xenbr0, and is not forgotten after"
    );
}
