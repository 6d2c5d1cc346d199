//! The two worlds of one differential case, built to the same initial state: a throwaway
//! namespace driven by the `NetlinkBackend`, and a `SimBackend` over a `Kernel`.
//!
//! The initial state is a small dom0 as a hotplug would leave it: an uplink `eth0` (up,
//! `192.0.2.2/24` and `2001:db8::2/64`, default route via `192.0.2.1`), a domU's vif
//! `vif1.0` (down, as Xen creates it) and a foreign bridge `xenbr1` (up, `10.1.1.1/24`).
//! `eth0` and `vif1.0` are veths whose peers live in a second namespace, so — as in the
//! sim, which models the dom0 side only — only one end of each pair is observed.

use std::net::Ipv4Addr;

use brouter_backends::NetlinkBackend;
use brouter_engine::apply::apply_op;
use brouter_engine::firewall::Ruleset;
use brouter_engine::{
    accept_ra_key, Address, Address6, BackendError, BridgeOptions, ErrorKind, Link, LinkKind, NetBackend,
    Observed, Op, PortState, Route, IPV6_FORWARD, IP_FORWARD, PROTO_BOOT,
};
use brouter_integration::{use_temp_state_dir, Netns};
use brouter_sim::{Family, FirewallDrift, Kernel, SimBackend};
use ipnet::Ipv4Net;

/// What varies between initial states: the one kernel knob that changes what the
/// address operations do (`net.ipv4.conf.*.promote_secondaries`; Debian's systemd sets it,
/// the kernel's default is off).
#[derive(Debug, Clone, Copy)]
pub struct Initial {
    pub promote_secondaries: bool,
}

/// The forward delay of a bridge made by `ip link add type bridge`: the kernel's 15 s.
const IP_BRIDGE_FORWARD_DELAY: u32 = 15;

/// The kernel side and the simulated side of one case.
pub struct Worlds {
    // Field order is drop order: the backend's socket closes before the namespaces go.
    kernel: NetlinkBackend,
    sim: SimBackend,
    dom0: Netns,
    _peers: Netns,
}

/// An edit of brouter's tables made behind its back, on both sides: `nft` in the
/// namespace, [`FirewallDrift`] in the sim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drift {
    /// `nft insert rule inet brouter forward accept`.
    InsertAccept,
    /// `nft add chain inet brouter extra`.
    AddChain,
    /// `nft delete element inet brouter net_subnets { 10.98.98.0/24 }`.
    DeleteSubnet,
    /// `nft add element inet brouter bridges { "eth9" }`.
    AddElement,
    /// `nft add chain inet brouter forward { …; policy drop; }`.
    ForwardPolicyDrop,
    /// `nft flush set bridge brouter mac_bind` (and the address sets and `ports`): every
    /// binding.
    FlushBindings,
    /// `nft delete table bridge brouter`.
    DeleteBridgeTable,
    /// `nft delete table inet brouter`.
    DeleteInetTable,
    /// `nft flush ruleset`.
    FlushRuleset,
}

impl Drift {
    fn nft(self) -> Vec<Vec<&'static str>> {
        let v = |a: &[&'static str]| a.to_vec();
        match self {
            Drift::InsertAccept => vec![v(&["insert", "rule", "inet", "brouter", "forward", "accept"])],
            Drift::AddChain => vec![v(&["add", "chain", "inet", "brouter", "extra"])],
            Drift::DeleteSubnet => vec![v(&[
                "delete",
                "element",
                "inet",
                "brouter",
                "net_subnets",
                "{ 10.98.98.0/24 }",
            ])],
            Drift::AddElement => vec![v(&[
                "add",
                "element",
                "inet",
                "brouter",
                "bridges",
                "{ \"eth9\" }",
            ])],
            Drift::ForwardPolicyDrop => vec![v(&[
                "add",
                "chain",
                "inet",
                "brouter",
                "forward",
                "{ type filter hook forward priority filter; policy drop; }",
            ])],
            Drift::FlushBindings => ["mac_bind", "ip_host", "ip_bind", "ip6_host", "ip6_bind", "ports"]
                .iter()
                .map(|set| vec!["flush", "set", "bridge", "brouter", set])
                .collect(),
            Drift::DeleteBridgeTable => vec![v(&["delete", "table", "bridge", "brouter"])],
            Drift::DeleteInetTable => vec![v(&["delete", "table", "inet", "brouter"])],
            Drift::FlushRuleset => vec![v(&["flush", "ruleset"])],
        }
    }

    fn sim(self, k: &mut Kernel) {
        let s = String::from;
        let edits = match self {
            Drift::InsertAccept => vec![FirewallDrift::RuleInserted {
                family: Family::Inet,
                chain: s("forward"),
                rule: s("accept"),
            }],
            Drift::AddChain => vec![FirewallDrift::ChainAdded {
                family: Family::Inet,
                chain: s("extra"),
            }],
            // An interval is two elements: its start and the address after its end.
            Drift::DeleteSubnet => ["0a626200", "0a626300 (interval end)"]
                .map(|elem| FirewallDrift::ElementDeleted {
                    family: Family::Inet,
                    set: s("net_subnets"),
                    elem: s(elem),
                })
                .to_vec(),
            // An interface name is a 16-byte key.
            Drift::AddElement => vec![FirewallDrift::ElementAdded {
                family: Family::Inet,
                set: s("bridges"),
                elem: format!("{:0<32}", "65746839"),
            }],
            Drift::ForwardPolicyDrop => vec![FirewallDrift::ChainChanged {
                family: Family::Inet,
                chain: s("forward"),
            }],
            Drift::FlushBindings => k
                .bindings
                .keys()
                .map(|vif| FirewallDrift::BindingDeleted { vif: vif.clone() })
                .collect(),
            Drift::DeleteBridgeTable => vec![FirewallDrift::TableDeleted(Family::Bridge)],
            Drift::DeleteInetTable => vec![FirewallDrift::TableDeleted(Family::Inet)],
            Drift::FlushRuleset => vec![FirewallDrift::RulesetFlushed],
        };
        for e in &edits {
            k.drift(e);
        }
    }
}

impl Worlds {
    /// Build both worlds in the same initial state.
    pub async fn new(initial: Initial) -> Worlds {
        use_temp_state_dir("differential");
        let dom0 = Netns::new("diff");
        let peers = Netns::new("diffpeer");
        let promote = if initial.promote_secondaries { "1" } else { "0" };
        // Before any link exists: a device copies `default` when it is created.
        for scope in ["all", "default"] {
            dom0.set_sysctl(&format!("net/ipv4/conf/{scope}/promote_secondaries"), promote);
        }
        dom0.set_sysctl(IP_FORWARD, "0");
        let p = peers.name();
        dom0.ip_batch(&[
            format!("link add eth0 type veth peer name up0 netns {p}"),
            format!("link add vif1.0 type veth peer name dom1 netns {p}"),
            "link add xenbr1 type bridge".into(),
            "link set eth0 up".into(),
            "link set xenbr1 up".into(),
            "addr add 192.0.2.2/24 dev eth0".into(),
            // No duplicate address detection: a tentative address would be one more state.
            "addr add 2001:db8::2/64 dev eth0 nodad".into(),
            "addr add 10.1.1.1/24 dev xenbr1".into(),
            "route add default via 192.0.2.1 dev eth0".into(),
        ]);
        peers.ip_batch(&["link set up0 up".into(), "link set dom1 up".into()]);
        let kernel = NetlinkBackend::new(dom0.target())
            .await
            .expect("connect to the test namespace");

        let mut k = Kernel {
            promote_secondaries: initial.promote_secondaries,
            ..Kernel::default()
        };
        k.quirks.rename_up_is_busy = kernel_before(6, 2);
        k.add_link("eth0", LinkKind::Veth, true);
        k.add_link("vif1.0", LinkKind::Veth, false);
        k.add_link("xenbr1", LinkKind::Bridge, true);
        k.links.get_mut("xenbr1").unwrap().bridge = Some(BridgeOptions {
            stp: false,
            forward_delay: IP_BRIDGE_FORWARD_DELAY,
        });
        k.add_foreign_address("eth0", net("192.0.2.2/24"));
        k.add_foreign_address("xenbr1", net("10.1.1.1/24"));
        k.addresses6.push(Address6 {
            link: "eth0".into(),
            addr: "2001:db8::2/64".parse().unwrap(),
            owned: false,
        });
        k.routes.push(Route {
            dst: net("0.0.0.0/0"),
            dev: "eth0".into(),
            gateway: Some(Ipv4Addr::new(192, 0, 2, 1)),
            protocol: PROTO_BOOT,
            metric: 0,
        });

        Worlds {
            kernel,
            sim: SimBackend::new(k),
            dom0,
            _peers: peers,
        }
    }

    /// Apply `op` to both worlds; `Err` says how their answers differ.
    pub async fn apply(&mut self, op: &Op) -> Result<Result<(), ErrorKind>, String> {
        let on_kernel = apply_op(&mut self.kernel, op).await;
        let on_sim = apply_op(&mut self.sim, op).await;
        let kind = |r: &Result<(), BackendError>| r.as_ref().map(|_| ()).map_err(|e| e.kind);
        if kind(&on_kernel) != kind(&on_sim) {
            return Err(format!(
                "`{op}`: the kernel answered {}, the sim {}",
                answer(&on_kernel),
                answer(&on_sim)
            ));
        }
        Ok(kind(&on_kernel))
    }

    /// Make `d` on both sides (an `nft` that fails — nothing to edit — changes nothing,
    /// as the sim's edit does without its object).
    pub fn drift(&mut self, d: Drift) {
        for args in d.nft() {
            let _ = self.dom0.exec("nft", &args);
        }
        d.sim(&mut self.sim.kernel);
    }

    /// Each side's read-back of its tables, compared with what one of `rulesets` installs —
    /// the one whose fingerprint both sides carry (the read-back `start` makes): the same
    /// lines, in any order, or `Err` naming both.
    pub async fn compare_drift(&mut self, rulesets: &[Ruleset]) -> Result<(), String> {
        let fp = self.sim.observe().await.expect("observe the sim").firewall;
        let Some(rs) = rulesets.iter().find(|r| Some(r.fingerprint()) == fp) else {
            return Ok(());
        };
        let on_kernel = self
            .kernel
            .firewall_drift(rs)
            .await
            .expect("read the kernel's tables back");
        let on_sim = self
            .sim
            .firewall_drift(rs)
            .await
            .expect("read the sim's tables back");
        let (mut on_kernel, mut on_sim) = (on_kernel, on_sim);
        on_kernel.sort();
        on_sim.sort();
        if on_kernel != on_sim {
            return Err(format!(
                "the read-back disagrees:\n  kernel {on_kernel:?}\n  sim    {on_sim:?}"
            ));
        }
        Ok(())
    }

    /// Whether each side (kernel, sim) shows its tables are not what `rs` installs with
    /// `bindings`: another fingerprint, other bindings, or a read-back line.
    pub async fn drift_seen(
        &mut self,
        rs: &Ruleset,
        bindings: &[brouter_engine::firewall::Binding],
    ) -> (bool, bool) {
        let fp = Some(rs.fingerprint());
        let mut seen = [false; 2];
        for (i, b) in [&mut self.kernel as &mut dyn NetBackend, &mut self.sim]
            .into_iter()
            .enumerate()
        {
            let o = b.observe().await.expect("observe").normalized();
            let mut want = bindings.to_vec();
            want.sort_by(|a, b| a.vif.cmp(&b.vif));
            seen[i] = o.firewall != fp
                || o.bindings != want
                || !b.firewall_drift(rs).await.expect("read back").is_empty();
        }
        (seen[0], seen[1])
    }

    /// Observe both worlds; `Err` lists what differs after normalising, then what
    /// [`Worlds::compare_sysctls6`] finds. A bridge port's state follows its carrier
    /// asynchronously in the kernel (linkwatch runs the bridge's carrier check after the
    /// up event), so a difference in port states alone is read again until a deadline.
    pub async fn compare(&mut self) -> Result<(), String> {
        let links = self.compare_observed().await?;
        self.compare_sysctls6(links).await
    }

    /// The IPv6 sysctls `observe` does not report unless remembered, read on both sides
    /// through `NetBackend::read_sysctls` (the read-back `start` makes of the ones a
    /// configuration wants): `forwarding` and `accept_ra` of `all`, `default` and every link
    /// either side has or the differential names (a key exists only while its link has
    /// IPv6, which `read_sysctls` shows by leaving it out). `links`: the links both sides
    /// have. `Err` names both maps.
    pub async fn compare_sysctls6(&mut self, mut links: Vec<String>) -> Result<(), String> {
        links.extend(crate::LINKS.iter().map(|l| l.to_string()));
        links.sort();
        links.dedup();
        let scopes = ["all", "default"].into_iter().map(String::from).chain(links);
        let keys: Vec<String> = scopes
            .flat_map(|l| {
                let forwarding = format!("net.ipv6.conf.{}.forwarding", l.replace('.', "/"));
                [accept_ra_key(&l), forwarding]
            })
            .collect();
        debug_assert!(keys.iter().any(|k| k == IPV6_FORWARD));
        let on_kernel = self
            .kernel
            .read_sysctls(&keys)
            .await
            .expect("read the kernel's sysctls");
        let on_sim = self
            .sim
            .read_sysctls(&keys)
            .await
            .expect("read the sim's sysctls");
        if on_kernel != on_sim {
            return Err(format!(
                "IPv6 sysctls differ:\n  kernel {on_kernel:?}\n  sim    {on_sim:?}"
            ));
        }
        Ok(())
    }

    /// Observe both worlds and compare them (see [`Worlds::compare`]); `Ok`: the names of
    /// the links.
    async fn compare_observed(&mut self) -> Result<Vec<String>, String> {
        let sim = self.sim.observe().await.expect("observe the sim").normalized();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        loop {
            let kernel = self.kernel.observe().await.expect("observe the kernel");
            let kernel = normalise(kernel, &sim);
            let diff = differences(&kernel, &sim);
            if diff.is_empty() {
                return Ok(sim.links.iter().map(|l| l.name.clone()).collect());
            }
            let mut same_states = kernel.clone();
            for l in &mut same_states.links {
                l.port_state = sim.link(&l.name).and_then(|s| s.port_state);
            }
            let only_port_states = differences(&same_states, &sim).is_empty();
            if !only_port_states || std::time::Instant::now() > deadline {
                return Err(diff.join("\n"));
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

/// Whether the running kernel is older than `major.minor` (`/proc/sys/kernel/osrelease`).
fn kernel_before(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    version < (major, minor)
}

fn answer(r: &Result<(), BackendError>) -> String {
    match r {
        Ok(()) => "Ok".into(),
        Err(e) => format!("{:?} ({e})", e.kind),
    }
}

pub fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

/// Strip from the kernel's observation what the sim cannot know: `lo`'s `127.0.0.1/8`,
/// the random hardware addresses of links no operation gave a MAC, and which of STP's
/// enabled states a port is in. Everything else —
/// ownership marks, masters, up flags, MTUs, bridge options, addresses of both families,
/// routes with their protocols, sysctls, memory, firewall — is compared as is. (IPv6
/// link-local addresses and `lo`'s `::1` are not here: both backends leave them out of
/// every observation, `Address6::kernels_own`.)
fn normalise(mut kernel: Observed, sim: &Observed) -> Observed {
    kernel
        .addresses
        .retain(|a| !(a.link == "lo" && a.addr == net("127.0.0.1/8")));
    for l in &mut kernel.links {
        if sim.link(&l.name).is_none_or(|s| s.mac.is_none()) {
            l.mac = None;
        }
        // The sim does not run STP's timers: it says `forwarding` where the kernel may say
        // `listening`, `learning` or `blocking`. Disabled or not is compared.
        let enabled = |s: Option<PortState>| s.is_some_and(|s| s != PortState::Disabled);
        if let Some(s) = sim.link(&l.name) {
            if enabled(l.port_state) && enabled(s.port_state) {
                l.port_state = s.port_state;
            }
        }
    }
    kernel.normalized()
}

/// One line per object that only one side has, or per field that differs.
fn differences(kernel: &Observed, sim: &Observed) -> Vec<String> {
    let mut out = Vec::new();
    one_sided(&mut out, "link", &kernel.links, &sim.links, |l: &Link| {
        l.name.clone()
    });
    one_sided(
        &mut out,
        "address",
        &kernel.addresses,
        &sim.addresses,
        |a: &Address| format!("{} dev {}", a.addr, a.link),
    );
    one_sided(
        &mut out,
        "IPv6 address",
        &kernel.addresses6,
        &sim.addresses6,
        |a: &Address6| format!("{} dev {}", a.addr, a.link),
    );
    one_sided(&mut out, "route", &kernel.routes, &sim.routes, |r: &Route| {
        format!("{} dev {}", r.dst, r.dev)
    });
    if kernel.sysctls != sim.sysctls {
        out.push(format!(
            "sysctls: kernel {:?}, sim {:?}",
            kernel.sysctls, sim.sysctls
        ));
    }
    if kernel.memory != sim.memory {
        out.push(format!(
            "memory: kernel {:?}, sim {:?}",
            kernel.memory, sim.memory
        ));
    }
    if kernel.firewall != sim.firewall {
        out.push(format!(
            "firewall: kernel {:?}, sim {:?}",
            kernel.firewall, sim.firewall
        ));
    }
    if kernel.bindings != sim.bindings {
        out.push(format!(
            "bindings: kernel {:?}, sim {:?}",
            kernel.bindings, sim.bindings
        ));
    }
    if kernel.vxlans != sim.vxlans {
        out.push(format!(
            "VXLAN devices: kernel {:?}, sim {:?}",
            kernel.vxlans, sim.vxlans
        ));
    }
    if kernel.neighbours != sim.neighbours {
        out.push(format!(
            "neighbour entries: kernel {:?}, sim {:?}",
            kernel.neighbours, sim.neighbours
        ));
    }
    if out.is_empty() && kernel != sim {
        // Duplicate keys (two routes to one prefix on one link) hide from the lines above.
        out.push(format!(
            "observed states differ:\n  kernel {kernel:?}\n  sim    {sim:?}"
        ));
    }
    out
}

/// Objects keyed by `key`: present on one side only, or present on both but different.
fn one_sided<T: PartialEq + std::fmt::Debug>(
    out: &mut Vec<String>,
    what: &str,
    kernel: &[T],
    sim: &[T],
    key: impl Fn(&T) -> String,
) {
    for k in kernel {
        match sim.iter().find(|s| key(s) == key(k)) {
            None => out.push(format!("{what} only in the kernel: {k:?}")),
            Some(s) if s != k => out.push(format!("{what} differs:\n  kernel {k:?}\n  sim    {s:?}")),
            Some(_) => {}
        }
    }
    for s in sim {
        if !kernel.iter().any(|k| key(k) == key(s)) {
            out.push(format!("{what} only in the sim: {s:?}"));
        }
    }
}
