//! The firewall read-back `start`, `plan` and `status` make before they plan: brouter's
//! tables compared, element by element, with what it installs for the compiled ruleset.
//!
//! Why here and not in `observe`: what the tables *should* hold needs the compiled
//! ruleset, which `observe` does not have. The differences go into
//! [`Observed::firewall_drift`] and [`Observed::firewall_delta`], so the planner (pure)
//! updates the elements that differ, or rewrites the tables, and `status` names each. A converged `start` answered from the cached compile has no
//! ruleset either: it trusts the fingerprint only when the digest of the tables as read
//! equals the digest of what the cached compile installs ([`digest_proves_converged`]).

use brouter_engine::{Desired, NetBackend, Observed};

/// Compare brouter's tables with what `desired` installs whenever they exist: the
/// element-level difference goes into [`Observed::firewall_delta`] (so the planner updates
/// elements instead of replacing the tables when that is enough), and, when they carry
/// its fingerprint, every difference into [`Observed::firewall_drift`] (otherwise `start`
/// changes them anyway). A read-back that fails is drift too: nothing proves the tables
/// are right.
pub async fn firewall(backend: &mut dyn NetBackend, desired: &Desired, observed: &mut Observed) {
    let Some(rs) = &desired.firewall else {
        return;
    };
    if observed.firewall.is_none() || !observed.foreign_tables.is_empty() {
        return;
    }
    let fp = desired
        .firewall_fingerprint
        .clone()
        .unwrap_or_else(|| rs.fingerprint());
    let stamped = observed.firewall.as_deref() == Some(fp.as_str());
    match backend.firewall_delta(rs).await {
        Ok(Some(mut delta)) => {
            if stamped {
                observed.firewall_drift = std::mem::take(&mut delta.differences);
            } else {
                delta.differences.clear();
            }
            observed.firewall_delta = Some(delta);
        }
        Ok(None) if stamped => {
            observed.firewall_drift = match backend.firewall_drift(rs).await {
                Ok(d) => d,
                Err(e) => vec![format!("cannot read brouter's tables back: {e}")],
            };
        }
        Ok(None) => {}
        Err(e) if stamped => {
            observed.firewall_drift = vec![format!("cannot read brouter's tables back: {e}")]
        }
        Err(_) => {}
    }
}

/// Whether the tables as read now hash to `expected` (what the cached compile installs),
/// or there are no tables to prove anything about. `None` (no digest kept, or a backend
/// that cannot tell) proves nothing.
pub async fn digest_proves_converged(
    backend: &mut dyn NetBackend,
    observed: &Observed,
    expected: Option<u64>,
) -> bool {
    if observed.firewall.is_none() {
        return true;
    }
    let Some(expected) = expected else {
        return false;
    };
    matches!(backend.firewall_digest(None).await, Ok(Some(d)) if d == expected)
}

/// The digest of what `desired` installs, to keep with the cached compile.
pub async fn expected_digest(backend: &mut dyn NetBackend, desired: &Desired) -> Option<u64> {
    let rs = desired.firewall.as_ref()?;
    backend.firewall_digest(Some(rs)).await.ok().flatten()
}

/// The sysctls a configuration wants that `observe` does not read (see
/// [`brouter_engine::readback::sysctls`]).
pub use brouter_engine::readback::sysctls;
