//! A kill between the firewall rewrite and its conntrack flush is redone by the next
//! `start`: the flush is remembered as pending before the tables change and forgotten
//! after it, and a pending flush is planned again even though the tables look converged.

use brouter_engine::plan::resume::FLUSH_PENDING;
use brouter_engine::{apply, compile, config::from_toml, plan_start, plan_stop, Op};
use brouter_sim::{Fault, Kernel, SimBackend};

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn isp() -> brouter_engine::Desired {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/isp.toml");
    compile(&from_toml(&std::fs::read_to_string(path).unwrap(), path).unwrap())
}

/// What `start` observes: the kernel and the sysctls the config wants that `observe`
/// does not read (as the command reads them).
fn observe(sim: &mut SimBackend, desired: &brouter_engine::Desired) -> brouter_engine::Observed {
    let mut o = block(brouter_engine::NetBackend::observe(sim)).unwrap();
    block(brouter_engine::readback::sysctls(sim, desired, &mut o));
    o
}

fn flushes(plan: &brouter_engine::Plan) -> usize {
    plan.ops
        .iter()
        .filter(|o| matches!(o, Op::FlushConntrack { .. }))
        .count()
}

#[test]
fn a_kill_after_any_step_of_start_leaves_the_flush_to_the_next_start() {
    let desired = isp();
    let fresh = observe(&mut SimBackend::new(Kernel::typical_host()), &desired);
    let whole = plan_start(&desired, &fresh).unwrap();
    assert!(
        flushes(&whole) > 0,
        "isp.toml forwards UDP: a first start flushes"
    );
    let remember = whole
        .ops
        .iter()
        .position(|o| matches!(o, Op::Remember { key, .. } if key == FLUSH_PENDING))
        .expect("the flush is remembered as pending");
    let replace = whole
        .ops
        .iter()
        .position(|o| matches!(o, Op::ReplaceFirewall { .. }))
        .unwrap();
    assert!(
        remember < replace,
        "remembered before the tables change: {whole:#?}"
    );
    let forget = whole
        .ops
        .iter()
        .position(|o| matches!(o, Op::Forget { key } if key == FLUSH_PENDING))
        .expect("the pending flush is forgotten");
    let last_flush = whole
        .ops
        .iter()
        .rposition(|o| matches!(o, Op::FlushConntrack { .. }))
        .unwrap();
    assert!(forget > last_flush, "forgotten after the last flush: {whole:#?}");
    let mut redone = 0;
    for k in 0..whole.len() + 1 {
        let mut sim = SimBackend::new(Kernel::typical_host());
        sim.inject(k, Fault::Crash);
        let _ = block(apply(&mut sim, &whole));
        let mut sim = SimBackend::new(sim.kernel.clone());
        let after_kill = observe(&mut sim, &desired);
        let tables_written = after_kill.firewall.is_some();
        let pending = after_kill.memory.contains_key(FLUSH_PENDING);
        let rerun = plan_start(&desired, &after_kill).unwrap();
        if pending {
            assert!(
                flushes(&rerun) > 0,
                "kill at {k}: the pending flush is redone: {rerun:#?}"
            );
            redone += 1;
        }
        if tables_written && !pending {
            assert_eq!(flushes(&rerun), 0, "kill at {k}: nothing was pending");
        }
        block(apply(&mut sim, &rerun)).unwrap();
        let converged = observe(&mut sim, &desired);
        assert!(!converged.memory.contains_key(FLUSH_PENDING), "kill at {k}");
        assert!(
            plan_start(&desired, &converged).unwrap().is_empty(),
            "kill at {k}"
        );
        // stop forgets a pending flush with the tables.
        let mut left = converged.clone();
        left.memory.insert(FLUSH_PENDING.into(), "1".into());
        let stop = plan_stop(&desired.scope, &left);
        assert!(
            stop.ops
                .iter()
                .any(|o| matches!(o, Op::Forget { key } if key == FLUSH_PENDING)),
            "kill at {k}"
        );
    }
    assert!(redone > 0, "some kill fell between the tables and the flush");
}
