//! The benchmark cases of the issue, one file each.

pub mod apply;
pub mod converged;
pub mod datapath;
pub mod seed;
pub mod vif;

use brouter_integration::Netns;

/// A dom0 namespace with an uplink `eth0` (a veth whose peer stays in dom0): enough for
/// configs that name `eth0`, without a second namespace.
pub fn dom0(tag: &str) -> Netns {
    let ns = Netns::new(tag);
    ns.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "up0"]);
    ns
}

/// How many repetitions: `$BENCH_RUNS` or `default`.
pub fn runs(default: usize) -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
