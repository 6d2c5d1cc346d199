//! The benchmark cases of the issue, one file each.

pub mod apply;
pub mod changes;
pub mod check;
pub mod cluster;
pub mod converged;
pub mod datapath;
pub mod dhcp;
pub mod diagram;
pub mod hook;
pub mod netavark;
pub mod peers;
pub mod rss;
pub mod seed;
pub mod shorewall;
pub mod stop;
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
/// Deleting a namespace (unmounting its name, as `ip netns delete` does) returns at
/// once; the kernel then unregisters every device of the namespace in a workqueue while
/// holding the rtnl lock (~10 ms per bridge), and frees their nftables tables after an
/// RCU grace period in a work item that is global: any process that closes an nfnetlink
/// socket meanwhile (brouter, `nft`) waits for it, up to seconds after a table of 10,000
/// elements. So before timing anything, wait until an rtnl-locked no-op (`ip link set lo
/// up` in a scratch namespace) and an nfnetlink read (open, ask, close) are both quick
/// five times in a row, 100 ms apart (the teardown of a dropped namespace reaches
/// nf_tables some time after its name is gone; at most 60 s).
pub fn settle() {
    let scratch = Netns::new("bsettle");
    let target = scratch.target();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut quick = 0;
    while quick < 5 && std::time::Instant::now() < deadline {
        let t = std::time::Instant::now();
        scratch.ip(&["link", "set", "lo", "up"]);
        let rtnl = t.elapsed();
        let t = std::time::Instant::now();
        let _ = brouter_backends::firewall::read_fingerprint(&target);
        let nfnl = t.elapsed();
        if rtnl < std::time::Duration::from_millis(4) && nfnl < std::time::Duration::from_millis(4) {
            quick += 1;
            std::thread::sleep(std::time::Duration::from_millis(100));
        } else {
            quick = 0;
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}
