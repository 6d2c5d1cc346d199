//! What the cluster tests share: a member's `start` on the simulator, as the command does
//! it (observe, read back the sysctls, plan, apply), checked to converge.

use brouter_engine::config::from_toml;
use brouter_engine::{apply, compile, plan_start, Desired, Plan, PlanError};
use brouter_sim::SimBackend;

pub fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

pub fn desired(text: &str) -> Desired {
    compile(&from_toml(text, "t.toml").unwrap())
}

/// `start`'s plan, from what it reads: the kernel, and the sysctls the config wants that
/// `observe` does not read (as the command reads them).
pub fn plan(sim: &SimBackend, d: &Desired) -> Result<Plan, PlanError> {
    let mut sim = sim.clone();
    let mut o = block(brouter_engine::NetBackend::observe(&mut sim)).unwrap();
    block(brouter_engine::readback::sysctls(&mut sim, d, &mut o));
    plan_start(d, &o)
}

/// `start` with `text`, which must converge; its plan.
pub fn start(sim: &mut SimBackend, text: &str) -> Plan {
    let d = desired(text);
    let p = plan(sim, &d).unwrap();
    block(apply(sim, &p)).unwrap();
    assert!(plan(sim, &d).unwrap().is_empty(), "not converged after start");
    p
}
