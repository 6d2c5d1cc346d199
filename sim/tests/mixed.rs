//! Mixed histories on the simulator: random sequences of `start`, `stop`, `vif online`,
//! `vif offline`, every kind of drift inside brouter's tables, foreign objects appearing,
//! a second writer changing the kernel between a command's observe and its apply, and a
//! kill at any operation of any command — then brouter's promises, checked:
//!
//! - after a final `start` the kernel is converged (a further plan is empty, the
//!   read-back finds nothing), every foreign object is as it was, bit for bit, and every
//!   vif attached by a `vif online` that succeeded still has its anti-spoofing binding;
//! - after a final `stop` nothing brouter owns remains and every foreign object survives;
//! - `start` twice is `start` once.
//!
//! Each property runs 2,000 cases (`BROUTER_PROPTEST_CASES` changes it; `just soak`
//! runs 100,000). Each command runs as its own process would: a fresh `SimBackend` over
//! the kernel the last one left.

use std::collections::{BTreeMap, BTreeSet};

use brouter_engine::config::from_toml;
use brouter_engine::vif::{plan_vif_offline, plan_vif_online, VifRequest};
use brouter_engine::{
    apply, compile, plan_start, plan_stop, Config, Desired, Link, LinkKind, NetBackend, Observed, Plan,
    Route, OWNER_PROTO, PROTO_STATIC,
};
use brouter_sim::{Family, Fault, FirewallDrift, ForeignEdit, Kernel, SimAddress, SimBackend};
use ipnet::Ipv4Net;
use proptest::prelude::*;

/// Cases per property: 2,000 in CI, `BROUTER_PROPTEST_CASES` for a soak.
fn cases() -> u32 {
    std::env::var("BROUTER_PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(2000)
}

const CONFIG: &str = r#"
[uplink]
interface = "eth0"

[[network]]
name = "dmz"
bridge = "xenbr0"
address = "10.98.98.1/24"
address6 = "fd98:98::1/64"
antispoof = true

[[network]]
name = "data"
bridge = "xenbr1"
address = "10.99.0.1/24"
dhcp = true

[[host]]
name = "web1"
network = "dmz"
mac = "aa:cc:00:00:00:01"
addresses = ["10.98.98.10"]

[[host]]
name = "web2"
network = "dmz"
mac = "aa:cc:00:00:00:02"
addresses = ["10.98.98.11"]

[[host]]
name = "db1"
network = "data"
mac = "aa:cc:00:00:00:09"
addresses = ["10.99.0.9"]

[[forward]]
proto = "tcp"
port = 8080
to = "web1:80"

[[policy]]
from = "dmz"
to = "external"
action = "accept"
"#;

/// The vifs Xen creates, with the MAC of the domU behind each.
const VIFS: [(&str, &str); 3] = [
    ("vif1.0", "aa:cc:00:00:00:01"),
    ("vif2.0", "aa:cc:00:00:00:02"),
    ("vif3.0", "aa:cc:00:00:00:09"),
];

fn config() -> Config {
    from_toml(CONFIG, "mixed.toml").unwrap()
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

/// One command of the history.
#[derive(Debug, Clone)]
enum Cmd {
    Start,
    Stop,
    VifOnline(usize),
    VifOffline(usize),
}

/// What happens to a command while it runs.
#[derive(Debug, Clone)]
enum During {
    Nothing,
    /// Killed before its k-th operation.
    Kill(usize),
    /// Another process makes this edit just before its k-th operation.
    SecondWriter(usize, ForeignEdit),
}

/// One step of the history.
#[derive(Debug, Clone)]
enum Step {
    Run(Cmd, During),
    /// Somebody edits brouter's tables.
    Drift(FirewallDrift),
    /// Somebody adds an object brouter must never touch.
    Foreign(usize),
    /// Xen creates a vif (down, no master), or destroys it.
    VifCreated(usize),
    VifDestroyed(usize),
    /// A foreign script enslaves a free vif to the anti-spoofing bridge and brings it up,
    /// without `vif online` (unbound: `start` must disable its port).
    VifEnslaved(usize),
    /// brouter's dnsmasq dies (the OOM killer, an admin's `kill`); its files stay.
    DnsmasqKilled,
}

fn drift() -> impl Strategy<Value = FirewallDrift> {
    use Family::{Bridge, Inet};
    let s = String::from;
    prop::sample::select(vec![
        FirewallDrift::RuleInserted {
            family: Inet,
            chain: s("forward"),
            rule: s("accept"),
        },
        FirewallDrift::RuleInserted {
            family: Bridge,
            chain: s("antispoof"),
            rule: s("accept"),
        },
        FirewallDrift::RuleDeleted {
            family: Inet,
            chain: s("postrouting"),
            index: 0,
            rule: s("masq"),
        },
        FirewallDrift::ChainAdded {
            family: Inet,
            chain: s("extra"),
        },
        FirewallDrift::ChainChanged {
            family: Inet,
            chain: s("forward"),
        },
        FirewallDrift::SetAdded {
            family: Bridge,
            set: s("extra"),
        },
        FirewallDrift::ElementDeleted {
            family: Inet,
            set: s("net_subnets"),
            elem: s("0a626200"),
        },
        FirewallDrift::ElementAdded {
            family: Inet,
            set: s("bridges"),
            elem: s("65746839"),
        },
        FirewallDrift::ElementChanged {
            family: Inet,
            set: s("tcp_fwd_addr"),
            elem: s("1f90 -> 0a62620a"),
            to: s("1f90 -> 0a626263"),
        },
        FirewallDrift::BindingDeleted { vif: s("vif1.0") },
        FirewallDrift::BindingDeleted { vif: s("vif2.0") },
        FirewallDrift::BindingChanged {
            vif: s("vif1.0"),
            mac: s("aa:cc:00:00:00:66"),
        },
        FirewallDrift::TableDeleted(Inet),
        FirewallDrift::TableDeleted(Bridge),
        FirewallDrift::RulesetFlushed,
    ])
}

/// What a second writer does: to brouter's objects (its bridges, its address), a new
/// foreign link, or brouter's tables.
fn foreign_edit() -> impl Strategy<Value = ForeignEdit> {
    let s = String::from;
    prop_oneof![
        prop::sample::select(vec![
            ForeignEdit::DeleteLink { name: s("xenbr0") },
            ForeignEdit::DeleteLink { name: s("xenbr1") },
            ForeignEdit::SetUp {
                name: s("xenbr0"),
                up: false
            },
            ForeignEdit::DeleteAddress {
                link: s("xenbr0"),
                addr: net("10.98.98.1/24")
            },
            ForeignEdit::DeleteLink { name: s("vif1.0") },
            ForeignEdit::AddLink {
                name: s("tmp0"),
                bridge: false,
                up: true
            },
            ForeignEdit::AddLink {
                name: s("br-extra"),
                bridge: true,
                up: false
            },
        ]),
        drift().prop_map(ForeignEdit::Firewall),
    ]
}

fn during() -> impl Strategy<Value = During> {
    prop_oneof![
        3 => Just(During::Nothing),
        2 => (0usize..14).prop_map(During::Kill),
        1 => (0usize..14, foreign_edit()).prop_map(|(k, e)| During::SecondWriter(k, e)),
    ]
}

fn cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        3 => Just(Cmd::Start),
        1 => Just(Cmd::Stop),
        3 => (0..VIFS.len()).prop_map(Cmd::VifOnline),
        1 => (0..VIFS.len()).prop_map(Cmd::VifOffline),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (cmd(), during()).prop_map(|(c, d)| Step::Run(c, d)),
        2 => drift().prop_map(Step::Drift),
        1 => (0..FOREIGN.len()).prop_map(Step::Foreign),
        2 => (0..VIFS.len()).prop_map(Step::VifCreated),
        1 => (0..VIFS.len()).prop_map(Step::VifDestroyed),
        1 => (0..VIFS.len()).prop_map(Step::VifEnslaved),
        1 => Just(Step::DnsmasqKilled),
    ]
}

fn history() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(step(), 1..10)
}

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

/// Foreign objects that may appear during the history: a bridge with an address, a
/// static route, an address on the uplink, a tap.
const FOREIGN: [&str; 4] = ["bridge", "route", "uplink-address", "tap"];

fn add_foreign(k: &mut Kernel, which: usize) {
    match FOREIGN[which] {
        "bridge" => {
            if !k.links.contains_key("docker0") {
                k.add_link("docker0", LinkKind::Bridge, true);
                k.add_foreign_address("docker0", net("172.17.0.1/16"));
            }
        }
        "route" => {
            if !k.routes.iter().any(|r| r.dst == net("100.64.0.0/10")) && k.links.contains_key("eth0") {
                k.routes.push(static_route("100.64.0.0/10"));
            }
        }
        "uplink-address" => {
            if !k.addresses.iter().any(|a| a.addr == net("198.51.100.7/24")) {
                k.add_foreign_address("eth0", net("198.51.100.7/24"));
            }
        }
        _ => {
            if !k.links.contains_key("tap7") {
                k.add_link("tap7", LinkKind::Other("tun".into()), false);
            }
        }
    }
}

fn static_route(dst: &str) -> Route {
    Route {
        dst: net(dst),
        dev: "eth0".into(),
        gateway: Some("192.0.2.1".parse().unwrap()),
        protocol: PROTO_STATIC,
        metric: 0,
    }
}

/// A dom0 before brouter: `typical_host` (eth0, its address, the default route) plus a
/// foreign bridge with an address and a static route.
fn initial() -> Kernel {
    let mut k = Kernel::typical_host();
    k.add_link("br-lan", LinkKind::Bridge, true);
    k.add_foreign_address("br-lan", net("172.16.0.1/24"));
    k.routes.push(static_route("203.0.113.0/24"));
    k
}

/// Every foreign object, as it is now: links (vifs excluded: `vif online` is asked to
/// change them), addresses not brouter's, routes not brouter's or the kernel's.
#[derive(Debug, Default, PartialEq)]
struct ForeignObjects {
    links: BTreeMap<String, Link>,
    addresses: Vec<SimAddress>,
    routes: Vec<Route>,
}

fn is_vif(name: &str) -> bool {
    VIFS.iter().any(|(v, _)| *v == name)
}

fn foreign_objects(k: &Kernel) -> ForeignObjects {
    ForeignObjects {
        links: k
            .links
            .iter()
            .filter(|(n, l)| l.owner().is_none() && !is_vif(n) && !k.owner_group.contains(*n))
            .map(|(n, l)| (n.clone(), l.clone()))
            .collect(),
        addresses: k
            .addresses
            .iter()
            .filter(|a| !a.owned && !is_vif(&a.link))
            .cloned()
            .collect(),
        routes: k
            .routes
            .iter()
            .filter(|r| r.protocol != OWNER_PROTO && r.protocol != brouter_engine::PROTO_KERNEL)
            .cloned()
            .collect(),
    }
}

/// The state of a history: the kernel, the foreign objects it must keep, and which vifs
/// a successful `vif online` attached (and nothing detached since).
struct World {
    kernel: Kernel,
    desired: Desired,
    config: Config,
    /// Foreign objects by the moment they appeared: each must survive as it was then.
    foreign: ForeignObjects,
    online: BTreeSet<usize>,
}

impl World {
    fn new() -> World {
        let kernel = initial();
        let config = config();
        World {
            foreign: foreign_objects(&kernel),
            desired: compile(&config),
            config,
            kernel,
            online: BTreeSet::new(),
        }
    }

    /// Record a foreign object that just appeared (it must survive from now on).
    fn note_foreign(&mut self) {
        let now = foreign_objects(&self.kernel);
        for (n, l) in now.links {
            self.foreign.links.entry(n).or_insert(l);
        }
        for a in now.addresses {
            if !self
                .foreign
                .addresses
                .iter()
                .any(|o| o.link == a.link && o.addr == a.addr)
            {
                self.foreign.addresses.push(a);
            }
        }
        for r in now.routes {
            if !self.foreign.routes.contains(&r) {
                self.foreign.routes.push(r);
            }
        }
    }

    /// Forget foreign objects a second writer removed (not brouter's doing).
    fn drop_foreign_gone(&mut self) {
        let k = &self.kernel;
        self.foreign.links.retain(|n, _| k.links.contains_key(n));
        self.foreign.addresses.retain(|a| k.links.contains_key(&a.link));
        self.foreign.routes.retain(|r| k.links.contains_key(&r.dev));
    }

    fn step(&mut self, s: &Step) {
        match s {
            Step::Drift(d) => self.kernel.drift(d),
            Step::DnsmasqKilled => {
                if let Some(d) = &mut self.kernel.dhcp {
                    d.kill();
                }
            }
            Step::Foreign(i) => {
                add_foreign(&mut self.kernel, *i);
                self.note_foreign();
            }
            Step::VifCreated(i) => {
                let name = VIFS[*i].0;
                if !self.kernel.links.contains_key(name) {
                    self.kernel.add_link(name, LinkKind::Veth, false);
                }
            }
            Step::VifDestroyed(i) => {
                let _ = self.kernel.delete_link(VIFS[*i].0);
                self.online.remove(i);
            }
            Step::VifEnslaved(i) => {
                // A vif no bridge holds yet (Xen created it; no hook ran).
                let name = VIFS[*i].0;
                let free = self.kernel.links.get(name).is_some_and(|l| l.master.is_none());
                if free && self.kernel.links.contains_key("xenbr0") {
                    self.kernel.set_master(name, Some("xenbr0")).unwrap();
                    self.kernel.set_up(name, true).unwrap();
                    self.online.remove(i);
                }
            }
            Step::Run(cmd, during) => {
                let mut sim = SimBackend::new(self.kernel.clone());
                let writer = match during {
                    During::Nothing => false,
                    During::Kill(k) => {
                        sim.inject(*k, Fault::Crash);
                        false
                    }
                    During::SecondWriter(k, e) => {
                        sim.interleave(*k, e.clone());
                        true
                    }
                };
                let ok = self.run(&mut sim, cmd).is_ok();
                self.kernel = sim.kernel;
                if writer {
                    // New foreign links count from now on; removed ones were not brouter's doing.
                    self.note_foreign();
                    self.drop_foreign_gone();
                }
                match cmd {
                    Cmd::VifOnline(i) if ok => {
                        self.online.insert(*i);
                    }
                    Cmd::VifOnline(i) | Cmd::VifOffline(i) => {
                        self.online.remove(i);
                    }
                    Cmd::Stop => self.online.clear(),
                    Cmd::Start => {}
                }
            }
        }
    }

    fn run(&self, sim: &mut SimBackend, cmd: &Cmd) -> Result<Plan, String> {
        match cmd {
            Cmd::Start => start(sim, &self.desired),
            Cmd::Stop => stop(sim, &self.desired),
            Cmd::VifOnline(i) => {
                let req = request(*i);
                let observed = block(sim.observe()).map_err(|e| e.to_string())?;
                let plan = plan_vif_online(Some(&self.config), &observed, &req)
                    .map_err(|e| e.to_string())?
                    .plan;
                block(apply(sim, &plan)).map_err(|e| e.to_string())?;
                Ok(plan)
            }
            Cmd::VifOffline(i) => {
                let observed = block(sim.observe()).map_err(|e| e.to_string())?;
                let plan = plan_vif_offline(&observed, &request(*i)).plan;
                block(apply(sim, &plan)).map_err(|e| e.to_string())?;
                Ok(plan)
            }
        }
    }
}

fn request(i: usize) -> VifRequest {
    VifRequest {
        device: VIFS[i].0.into(),
        mac: Some(VIFS[i].1.into()),
        ..Default::default()
    }
}

/// What `start` observes: the kernel plus the read-back of its tables when they carry
/// the fingerprint (as the command does).
fn observe(sim: &mut SimBackend, desired: &Desired) -> Result<Observed, String> {
    let mut o = block(sim.observe()).map_err(|e| e.to_string())?;
    // As the CLI does: the sysctls the config wants that `observe` does not read.
    block(brouter_engine::readback::sysctls(sim, desired, &mut o));
    if let Some(rs) = &desired.firewall {
        if o.firewall.as_deref() == Some(rs.fingerprint().as_str()) {
            o.firewall_drift = block(sim.firewall_drift(rs)).map_err(|e| e.to_string())?;
        }
    }
    Ok(o)
}

fn start(sim: &mut SimBackend, desired: &Desired) -> Result<Plan, String> {
    let o = observe(sim, desired)?;
    let plan = plan_start(desired, &o).map_err(|e| e.to_string())?;
    block(apply(sim, &plan)).map_err(|e| e.to_string())?;
    Ok(plan)
}

fn stop(sim: &mut SimBackend, desired: &Desired) -> Result<Plan, String> {
    let o = block(sim.observe()).map_err(|e| e.to_string())?;
    let plan = plan_stop(&desired.scope, &o);
    block(apply(sim, &plan)).map_err(|e| e.to_string())?;
    Ok(plan)
}

fn play(history: &[Step]) -> World {
    let mut w = World::new();
    for s in history {
        w.step(s);
    }
    w
}

/// A fresh process's `start` on the world's kernel.
fn final_start(w: &mut World) -> Result<Plan, String> {
    let mut sim = SimBackend::new(w.kernel.clone());
    let r = start(&mut sim, &w.desired);
    w.kernel = sim.kernel;
    r
}

fn final_stop(w: &mut World) -> Result<Plan, String> {
    let mut sim = SimBackend::new(w.kernel.clone());
    let r = stop(&mut sim, &w.desired);
    w.kernel = sim.kernel;
    r
}

fn check_foreign(w: &World) -> Result<(), TestCaseError> {
    let now = foreign_objects(&w.kernel);
    for (n, l) in &w.foreign.links {
        prop_assert_eq!(now.links.get(n), Some(l), "foreign link {} changed or gone", n);
    }
    for a in &w.foreign.addresses {
        prop_assert!(
            now.addresses.contains(a),
            "foreign address {:?} changed or gone",
            a
        );
    }
    for r in &w.foreign.routes {
        prop_assert!(now.routes.contains(r), "foreign route {:?} changed or gone", r);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn any_history_then_start_is_converged_keeps_foreign_objects_and_bindings(h in history()) {
        let mut w = play(&h);
        final_start(&mut w).map_err(|e| TestCaseError::fail(format!("final start: {e}")))?;
        let mut sim = SimBackend::new(w.kernel.clone());
        let o = observe(&mut sim, &w.desired).unwrap();
        prop_assert!(o.firewall_drift.is_empty(), "drift after start: {:?}", o.firewall_drift);
        let again = plan_start(&w.desired, &o).unwrap();
        prop_assert!(again.is_empty(), "not converged: {:?}", again.ops);
        check_foreign(&w)?;
        prop_assert!(w.kernel.addresses6.iter().any(|a| a.link == "xenbr0" && a.addr.to_string() == "fd98:98::1/64"));
        prop_assert_eq!(w.kernel.sysctl(brouter_engine::IPV6_FORWARD), Some("1".to_string()));
        prop_assert_eq!(w.kernel.sysctl("net.ipv6.conf.eth0.accept_ra"), Some("2".to_string()));
        // DHCP and DNS: one dnsmasq, started with the wanted options, serving the files.
        let dhcp = w.kernel.dhcp.as_ref();
        prop_assert!(dhcp.is_some_and(|d| d.serves_its_files()), "dnsmasq not serving its files: {:?}", dhcp);
        let wanted = w.desired.dhcp.as_ref().unwrap();
        prop_assert_eq!(&dhcp.unwrap().options, &wanted.options);
        prop_assert_eq!(&dhcp.unwrap().files, &wanted.files);
        // Default deny: every port of the anti-spoofing bridge that is up is bound or
        // disabled.
        for l in w.kernel.links.values().filter(|l| l.master.as_deref() == Some("xenbr0") && l.up) {
            let bound = w.kernel.bindings.contains_key(&l.name);
            prop_assert!(
                bound || l.port_state == Some(brouter_engine::PortState::Disabled),
                "{} is unbound and not disabled: {:?}", l.name, l.port_state
            );
            if bound {
                prop_assert_eq!(l.port_state, Some(brouter_engine::PortState::Forwarding), "{} is bound but not forwarding", &l.name);
            }
        }
        for i in &w.online {
            let (vif, mac) = VIFS[*i];
            let attached = w.kernel.links.get(vif).and_then(|l| l.master.as_deref()) == Some("xenbr0");
            if attached {
                let b = w.kernel.bindings.get(vif);
                prop_assert_eq!(b.map(|b| b.mac.as_str()), Some(mac), "binding of {} lost", vif);
            }
        }
    }

    #[test]
    fn any_history_then_stop_leaves_nothing_of_brouters_and_keeps_foreign_objects(h in history()) {
        let mut w = play(&h);
        final_stop(&mut w).map_err(|e| TestCaseError::fail(format!("final stop: {e}")))?;
        let k = &w.kernel;
        let owned: Vec<&String> = k.links.values().filter(|l| l.owner().is_some()).map(|l| &l.name).collect();
        prop_assert!(owned.is_empty(), "brouter's links remain: {:?}", owned);
        prop_assert!(!k.addresses.iter().any(|a| a.owned), "brouter's addresses remain");
        prop_assert!(!k.routes.iter().any(|r| r.protocol == OWNER_PROTO), "brouter's routes remain");
        prop_assert!(k.firewall.is_none(), "brouter's tables remain");
        prop_assert!(k.bindings.is_empty(), "bindings remain");
        prop_assert!(k.dhcp.is_none(), "dnsmasq or its files remain: {:?}", k.dhcp);
        prop_assert!(!k.addresses6.iter().any(|a| a.owned), "brouter's IPv6 addresses remain");
        prop_assert_eq!(k.sysctl(brouter_engine::IPV6_FORWARD), Some("0".to_string()), "IPv6 forwarding not restored");
        prop_assert_eq!(k.sysctl("net.ipv6.conf.eth0.accept_ra"), Some("1".to_string()), "the uplink's accept_ra not restored");
        check_foreign(&w)?;
        let again = final_stop(&mut w).unwrap();
        prop_assert!(again.is_empty(), "second stop planned {:?}", again.ops);
    }

    #[test]
    fn after_any_history_start_twice_is_start_once(h in history()) {
        let mut w = play(&h);
        final_start(&mut w).map_err(|e| TestCaseError::fail(format!("start: {e}")))?;
        let once = w.kernel.observe();
        let second = final_start(&mut w).unwrap();
        prop_assert!(second.is_empty(), "second start planned {:?}", second.ops);
        prop_assert_eq!(once, w.kernel.observe());
    }
}
