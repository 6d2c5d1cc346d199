//! What `start`, `plan` and `status` read besides `observe` before they plan, shared by
//! the command and by the tests that plan the way it does (so a test of the simulator
//! sees the kernel the way the command sees it, not through the simulator's fields).

use crate::{Desired, NetBackend, Observed};

/// Add to `observed` the sysctls `desired` wants that `observe` did not read (IPv6
/// forwarding, the uplink's `accept_ra`): the planner compares them, and remembers their
/// values before it first changes them. Nothing to read (one trip) when `observe` has
/// them all, as for every IPv4-only configuration. A key that does not exist (the
/// uplink is missing) is simply not added.
pub async fn sysctls(backend: &mut dyn NetBackend, desired: &Desired, observed: &mut Observed) {
    let missing: Vec<String> = desired
        .sysctls
        .iter()
        .map(|(k, _)| k)
        .filter(|k| !observed.sysctls.contains_key(*k))
        .cloned()
        .collect();
    if missing.is_empty() {
        return;
    }
    if let Ok(values) = backend.read_sysctls(&missing).await {
        observed.sysctls.extend(values);
    }
}
