//! Element-level firewall updates on the simulator: a change that only touches forwards
//! is planned as one element update (and one conntrack pass for the new UDP forwards
//! only), a change of rules as a replacement; a kill at any step of an element update is
//! finished by the next `start`, the pending flush included.

use brouter_engine::config::{from_toml, Proto};
use brouter_engine::plan::resume::FLUSH_PENDING;
use brouter_engine::{apply, compile, plan_start, Desired, NetBackend, Observed, Op, Plan};
use brouter_sim::{Fault, Kernel, SimBackend};

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn isp_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/isp.toml");
    std::fs::read_to_string(path).unwrap()
}

fn desired(text: &str) -> Desired {
    compile(&from_toml(text, "isp.toml").unwrap())
}

/// What `start` observes: the kernel, the sysctls the config wants that `observe` does
/// not read, and the read-back of its tables (as the CLI makes them).
fn observe(sim: &mut SimBackend, d: &Desired) -> Observed {
    let mut o = block(sim.observe()).unwrap();
    block(brouter_engine::readback::sysctls(sim, d, &mut o));
    let rs = d.firewall.as_ref().unwrap();
    if o.firewall.is_some() {
        let mut delta = block(sim.firewall_delta(rs))
            .unwrap()
            .expect("the sim reads back");
        if o.firewall == d.firewall_fingerprint {
            o.firewall_drift = std::mem::take(&mut delta.differences);
        }
        o.firewall_delta = Some(delta);
    }
    o
}

fn plan(sim: &mut SimBackend, d: &Desired) -> Plan {
    let o = observe(sim, d);
    plan_start(d, &o).unwrap()
}

fn started(text: &str) -> SimBackend {
    let mut sim = SimBackend::new(Kernel::typical_host());
    let d = desired(text);
    let p = plan(&mut sim, &d);
    block(apply(&mut sim, &p)).unwrap();
    assert!(plan(&mut sim, &d).is_empty(), "converged");
    sim
}

const NEW_UDP: &str = "\n[[forward]]\nproto = \"udp\"\nport = 27015\nto = \"app1\"\n";

#[test]
fn a_new_forward_is_one_element_update_and_one_flush_of_its_own_flows() {
    let mut sim = started(&isp_text());
    let d = desired(&(isp_text() + NEW_UDP));
    let p = plan(&mut sim, &d);
    let kinds: Vec<&Op> = p.ops.iter().filter(|o| o.is_kernel_write()).collect();
    assert!(
        matches!(
            kinds[..],
            [Op::UpdateFirewallElements { .. }, Op::FlushConntrack { .. }]
        ),
        "{p:#?}"
    );
    let Op::FlushConntrack { flows, .. } = kinds[1] else {
        unreachable!()
    };
    assert_eq!(
        flows.len(),
        1,
        "only the new forward, not isp.toml's udp range: {flows:?}"
    );
    assert_eq!((flows[0].proto, flows[0].ports.first), (Proto::Udp, 27015));
    let Op::UpdateFirewallElements { sets, .. } = kinds[0] else {
        unreachable!()
    };
    assert_eq!(sets.len(), 1);
    assert_eq!((sets[0].add.len(), sets[0].delete.len()), (1, 0));
    assert!(
        kinds[0].to_string().contains("update firewall elements"),
        "{}",
        kinds[0]
    );
    block(apply(&mut sim, &p)).unwrap();
    assert!(plan(&mut sim, &d).is_empty(), "converged after the update");
    assert_eq!(sim.kernel.firewall.as_ref(), d.firewall.as_ref());
}

#[test]
fn a_removed_forward_is_an_element_update_without_a_flush() {
    let with = isp_text() + NEW_UDP;
    let mut sim = started(&with);
    let d = desired(&isp_text());
    let p = plan(&mut sim, &d);
    assert!(
        matches!(&p.ops[..], [Op::UpdateFirewallElements { sets, .. }] if sets[0].delete.len() == 1 && sets[0].add.is_empty()),
        "{p:#?}"
    );
    block(apply(&mut sim, &p)).unwrap();
    assert!(plan(&mut sim, &d).is_empty());
}

#[test]
fn a_change_of_rules_replaces_the_tables() {
    let mut sim = started(&isp_text());
    let text = isp_text() + "\n[[policy]]\nfrom = \"data\"\nto = \"dmz\"\naction = \"accept\"\n";
    let d = desired(&text);
    let p = plan(&mut sim, &d);
    assert!(
        p.ops.iter().any(|o| matches!(o, Op::ReplaceFirewall { .. })),
        "{p:#?}"
    );
    assert!(!p
        .ops
        .iter()
        .any(|o| matches!(o, Op::UpdateFirewallElements { .. })));
}

#[test]
fn a_kill_at_any_step_of_an_element_update_is_finished_by_the_next_start() {
    let d = desired(&(isp_text() + NEW_UDP));
    let whole = plan(&mut started(&isp_text()), &d);
    assert!(
        whole
            .ops
            .iter()
            .any(|o| matches!(o, Op::Remember { key, .. } if key == FLUSH_PENDING)),
        "the flush is remembered as pending: {whole:#?}"
    );
    for k in 0..whole.len() + 1 {
        let mut sim = started(&isp_text());
        sim.inject(k, Fault::Crash);
        let _ = block(apply(&mut sim, &whole));
        let mut sim = SimBackend::new(sim.kernel.clone());
        let again = plan(&mut sim, &d);
        if sim.kernel.memory.contains_key(FLUSH_PENDING) {
            assert!(
                again.ops.iter().any(|o| matches!(o, Op::FlushConntrack { .. })),
                "kill at {k}: the pending flush is redone: {again:#?}"
            );
        }
        block(apply(&mut sim, &again)).unwrap();
        assert!(
            plan(&mut sim, &d).is_empty(),
            "kill at {k}: converged after one more start"
        );
        assert!(!sim.kernel.memory.contains_key(FLUSH_PENDING), "kill at {k}");
    }
}
