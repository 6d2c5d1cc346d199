//! Which networks and which forwards overlap, found by a sorted sweep.
//!
//! Validation must name every overlapping pair, and comparing every pair is quadratic:
//! 12.5 M comparisons for 5,000 networks, 50 M for 10,000 forwards. Sorting by start
//! and sweeping finds the same pairs in O(n log n + pairs found), and an address →
//! network lookup over the sorted ranges answers in O(log n). The brute-force versions
//! stay in the tests as the specification the sweeps are checked against.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::{Config, Forward, Network, Proto};

/// The pairs `(i, j)`, `j < i`, of networks whose ranges overlap, ordered by `i` then
/// `j` (the order validation reports them in).
///
/// IPv4 prefixes either nest or are disjoint, so in start order (widest first on a tie)
/// the ranges still open form a chain, each inside the one below it: every range left on
/// that stack when one starts contains it.
pub fn network_pairs(subnets: &[Ipv4Net]) -> Vec<(usize, usize)> {
    let mut order: Vec<(u32, std::cmp::Reverse<u32>, usize)> = subnets
        .iter()
        .enumerate()
        .map(|(k, s)| {
            (
                u32::from(s.network()),
                std::cmp::Reverse(u32::from(s.broadcast())),
                k,
            )
        })
        .collect();
    order.sort_unstable();
    let mut open: Vec<(u32, usize)> = Vec::new();
    let mut pairs = Vec::new();
    for (start, std::cmp::Reverse(end), k) in order {
        while open.last().is_some_and(|&(e, _)| e < start) {
            open.pop();
        }
        pairs.extend(open.iter().map(|&(_, j)| (k.max(j), k.min(j))));
        open.push((end, k));
    }
    pairs.sort_unstable();
    pairs
}

/// For each forward, the earlier forwards of the same protocol whose ports it shares,
/// in index order (empty when it shares none).
///
/// Sorted by (protocol, first port), a range overlaps exactly the earlier ranges of its
/// protocol still open at its first port; ranges that ended before it are dropped from
/// the open list as the sweep passes them.
pub fn forward_pairs(forwards: &[Forward]) -> Vec<Vec<usize>> {
    let mut order: Vec<(Proto, u16, u16, usize)> = forwards
        .iter()
        .enumerate()
        .map(|(k, f)| (f.proto, f.ports.first, f.ports.last, k))
        .collect();
    order.sort_unstable();
    let mut out = vec![Vec::new(); forwards.len()];
    let mut open: Vec<(Proto, u16, usize)> = Vec::new();
    for (proto, first, last, k) in order {
        open.retain(|&(p, end, _)| p == proto && end >= first);
        for &(_, _, j) in &open {
            let (later, earlier) = (k.max(j), k.min(j));
            out[later].push(earlier);
        }
        open.push((proto, last, k));
    }
    for v in &mut out {
        v.sort_unstable();
    }
    out
}

/// O(1) and O(log n) lookups of a config's networks, built once per validation.
pub struct NetIndex<'c> {
    by_name: HashMap<&'c str, &'c Network>,
    /// `(first address, last address, network)` in address order; `None` when some
    /// ranges overlap (an invalid config): lookups then scan in config order, so the
    /// answer is the same as [`Config::network_of`]'s.
    ranges: Option<Vec<(u32, u32, &'c Network)>>,
    networks: &'c [Network],
}

impl<'c> NetIndex<'c> {
    pub fn new(config: &'c Config) -> NetIndex<'c> {
        let mut by_name = HashMap::with_capacity(config.networks.len());
        for n in &config.networks {
            // The first network of a name wins, as in `Config::network`.
            by_name.entry(n.name.as_str()).or_insert(n);
        }
        let mut ranges: Vec<_> = config
            .networks
            .iter()
            .map(|n| (u32::from(n.subnet.network()), u32::from(n.subnet.broadcast()), n))
            .collect();
        ranges.sort_unstable_by_key(|&(s, e, _)| (s, std::cmp::Reverse(e)));
        let disjoint = ranges.windows(2).all(|w| w[0].1 < w[1].0);
        NetIndex {
            by_name,
            ranges: disjoint.then_some(ranges),
            networks: &config.networks,
        }
    }

    /// The network named `name` (as [`Config::network`]).
    pub fn network(&self, name: &str) -> Option<&'c Network> {
        self.by_name.get(name).copied()
    }

    /// The network whose subnet holds `addr` (as [`Config::network_of`]).
    pub fn network_of(&self, addr: Ipv4Addr) -> Option<&'c Network> {
        let Some(ranges) = &self.ranges else {
            return self.networks.iter().find(|n| n.subnet.contains(&addr));
        };
        let a = u32::from(addr);
        let after = ranges.partition_point(|&(s, _, _)| s <= a);
        let &(_, end, n) = ranges.get(after.checked_sub(1)?)?;
        (a <= end).then_some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PortRange;
    use proptest::prelude::*;

    /// The old check, pair by pair: the specification.
    fn network_pairs_brute(subnets: &[Ipv4Net]) -> Vec<(usize, usize)> {
        let mut out = vec![];
        for (i, n) in subnets.iter().enumerate() {
            for (j, m) in subnets.iter().enumerate().take(i) {
                if n.contains(&m.network()) || m.contains(&n.network()) {
                    out.push((i, j));
                }
            }
        }
        out
    }

    fn forward_pairs_brute(forwards: &[Forward]) -> Vec<Vec<usize>> {
        forwards
            .iter()
            .enumerate()
            .map(|(i, f)| {
                forwards[..i]
                    .iter()
                    .enumerate()
                    .filter(|(_, g)| f.proto == g.proto && f.ports.overlaps(&g.ports))
                    .map(|(j, _)| j)
                    .collect()
            })
            .collect()
    }

    fn forward(proto: Proto, first: u16, len: u16) -> Forward {
        Forward {
            proto,
            ports: PortRange {
                first,
                last: first.saturating_add(len),
            },
            addr: Ipv4Addr::new(10, 0, 0, 2),
            to_port: None,
            host: None,
        }
    }

    /// Small address space and short prefixes, so nesting, duplicates and neighbours
    /// are common; host bits are allowed (a Xen `brnet` may carry them).
    fn subnet() -> impl Strategy<Value = Ipv4Net> {
        (0u32..64, 26u8..=30)
            .prop_map(|(x, len)| Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 | (x << 2)), len).unwrap())
    }

    proptest! {
        #[test]
        fn network_sweep_finds_exactly_the_pairs_of_the_pairwise_check(
            subnets in prop::collection::vec(subnet(), 0..24)
        ) {
            prop_assert_eq!(network_pairs(&subnets), network_pairs_brute(&subnets));
        }

        #[test]
        fn forward_sweep_finds_exactly_the_pairs_of_the_pairwise_check(
            spec in prop::collection::vec((any::<bool>(), 1u16..40, 0u16..6), 0..24)
        ) {
            let fwds: Vec<Forward> = spec
                .iter()
                .map(|&(udp, first, len)| forward(if udp { Proto::Udp } else { Proto::Tcp }, first, len))
                .collect();
            prop_assert_eq!(forward_pairs(&fwds), forward_pairs_brute(&fwds));
        }

        #[test]
        fn indexed_network_of_answers_like_the_config(
            subnets in prop::collection::vec(subnet(), 0..12),
            probes in prop::collection::vec(0u32..300, 1..20)
        ) {
            let mut config = crate::config::from_xen_words(&["bridgeip=10.98.98.1/24"]).unwrap();
            let template = config.networks[0].clone();
            config.networks = subnets
                .iter()
                .enumerate()
                .map(|(k, s)| Network { name: format!("n{k}"), subnet: *s, ..template.clone() })
                .collect();
            let ix = NetIndex::new(&config);
            for p in probes {
                let a = Ipv4Addr::from(0x0a00_0000 + p);
                prop_assert_eq!(
                    ix.network_of(a).map(|n| &n.name),
                    config.network_of(a).map(|n| &n.name)
                );
            }
        }
    }

    #[test]
    fn nested_and_equal_networks_pair_with_every_container() {
        let s = |t: &str| t.parse::<Ipv4Net>().unwrap();
        let nets = [
            s("10.0.0.0/8"),
            s("10.1.0.0/16"),
            s("10.1.2.0/24"),
            s("10.1.2.0/24"),
            s("10.2.0.0/16"),
        ];
        assert_eq!(
            network_pairs(&nets),
            vec![(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2), (4, 0)]
        );
    }
}
