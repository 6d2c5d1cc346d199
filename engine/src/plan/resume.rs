//! Phases a kill can interrupt that leave no trace in the kernel, redone by the next
//! `start`.
//!
//! The conntrack flush that follows a firewall rewrite is one: once the tables are
//! written, a re-run sees them converged and would plan nothing, and a stale UDP flow to
//! the dom0 would outlive the forward that should catch it. So a plan that flushes first
//! remembers [`FLUSH_PENDING`] (before the tables are replaced), and forgets it after the
//! last flush; while it is remembered, `start` plans the flushes again. `stop` forgets it
//! (with the tables gone there is nothing to flush for).

use crate::model::Observed;
use crate::plan::Op;

/// brouter's memory key for "the flows of the last firewall rewrite are not flushed yet".
pub const FLUSH_PENDING: &str = "pending:conntrack-flush";

/// Wrap the flushes a plan makes in `ops` (those from index `fw` on, the firewall replace
/// at `fw`) between remembering and forgetting [`FLUSH_PENDING`].
pub fn guard_flushes(ops: &mut Vec<Op>, fw: usize, observed: &Observed) {
    if !ops[fw..].iter().any(|o| matches!(o, Op::FlushConntrack { .. })) {
        return;
    }
    if !observed.memory.contains_key(FLUSH_PENDING) {
        ops.insert(
            fw,
            Op::Remember {
                key: FLUSH_PENDING.into(),
                value: "1".into(),
            },
        );
    }
    ops.push(Op::Forget {
        key: FLUSH_PENDING.into(),
    });
}

/// Whether a flush a killed `start` did not finish is still to be done.
pub fn flush_pending(observed: &Observed) -> bool {
    observed.memory.contains_key(FLUSH_PENDING)
}
