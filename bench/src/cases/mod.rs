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

/// Wait until the kernel has finished tearing down the namespaces dropped so far.
///
/// `ip netns delete` returns at once; the kernel then unregisters every device of the
/// namespace in a workqueue while holding the rtnl lock (~10 ms per bridge), and any
/// measurement running meanwhile waits for that lock. So before timing anything, wait
/// until an rtnl-locked no-op (`ip link set lo up` in a scratch namespace) is quick
/// three times in a row (at most 60 s).
pub fn settle() {
    let scratch = Netns::new("bsettle");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut quick = 0;
    while quick < 3 && std::time::Instant::now() < deadline {
        let t = std::time::Instant::now();
        scratch.ip(&["link", "set", "lo", "up"]);
        if t.elapsed() < std::time::Duration::from_millis(4) {
            quick += 1;
        } else {
            quick = 0;
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}
