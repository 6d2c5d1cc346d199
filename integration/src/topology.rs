//! Throwaway Xen-like topologies: an "internet", a dom0 with an uplink, and veth "domUs".
//!
//! ```text
//!  internet ns                dom0 ns                         domU ns (one per DomU)
//!  lo   198.51.100.1/32
//!  up0  192.0.2.1/24 ──veth── eth0 192.0.2.2/24 (default via 192.0.2.1)
//!                             vif1.0 (down, no master) ──veth── eth0 10.98.98.10/24 (default via gw)
//!                             vif2.0 …                  ──veth── eth0 …
//! ```
//!
//! The internet namespace has no route back to the VM networks, so a domU reaches it
//! only through masquerade — which makes masquerade observable. The vifs are left down
//! and unattached, exactly as Xen hands them to a hotplug script (`vif online`).
//! Everything belongs to one [`Topology`]; dropping it (also while unwinding a panic)
//! deletes every namespace and with them every veth.

use std::net::Ipv4Addr;

use crate::Netns;

/// A "server" address that lives in the internet namespace (TEST-NET-2), reachable from
/// dom0 through its default route.
pub const INTERNET_HOST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// The internet side of the uplink veth.
pub const INTERNET_IFACE: &str = "up0";

/// One domU: its namespace holds `eth0`, whose peer `vif<D>.0` lives in dom0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomU {
    /// A label for messages and the namespace name (e.g. `web1`).
    pub name: String,
    /// The domU's address with prefix, e.g. `10.98.98.10/24`.
    pub addr: String,
    /// Its default gateway (normally the brouter's address), if any.
    pub gw: Option<String>,
    /// The MAC of its `eth0`; the kernel picks a random one when absent.
    pub mac: Option<String>,
}

impl DomU {
    /// A domU with an address and a default route via `gw`.
    pub fn new(name: &str, addr: &str, gw: &str) -> DomU {
        DomU {
            name: name.into(),
            addr: addr.into(),
            gw: Some(gw.into()),
            mac: None,
        }
    }

    /// The same domU with a fixed MAC (for anti-spoofing bindings).
    pub fn mac(mut self, mac: &str) -> DomU {
        self.mac = Some(mac.into());
        self
    }

    /// The address without its prefix length.
    pub fn ip(&self) -> Ipv4Addr {
        parse_ip(&self.addr)
    }
}

/// The dom0's external NIC and its gateway on the internet side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uplink {
    /// Interface name in dom0 (`eth0`).
    pub dev: String,
    /// dom0's address on it with prefix (`192.0.2.2/24`).
    pub addr: String,
    /// The internet side's address, dom0's default gateway (`192.0.2.1`).
    pub gw: String,
}

impl Default for Uplink {
    fn default() -> Self {
        Uplink {
            dev: "eth0".into(),
            addr: "192.0.2.2/24".into(),
            gw: "192.0.2.1".into(),
        }
    }
}

/// What [`Topology::new`] returns: add an uplink and domUs, then [`TopologyBuilder::build`].
#[derive(Debug)]
pub struct TopologyBuilder {
    tag: String,
    uplink: Uplink,
    domus: Vec<DomU>,
}

impl TopologyBuilder {
    /// Replace the default uplink (`eth0`, `192.0.2.2/24`, gateway `192.0.2.1`).
    pub fn uplink(mut self, dev: &str, addr: &str, gw: &str) -> Self {
        self.uplink = Uplink {
            dev: dev.into(),
            addr: addr.into(),
            gw: gw.into(),
        };
        self
    }

    /// Add a domU; the i-th one (0-based) gets domain id i+1, so its vif is `vif<i+1>.0`.
    pub fn domu(mut self, d: DomU) -> Self {
        self.domus.push(d);
        self
    }

    /// Create every namespace and link. Panics (after deleting what it made) on failure.
    pub fn build(self) -> Topology {
        let internet = Netns::new(&format!("{}i", self.tag));
        let dom0 = Netns::new(&format!("{}d", self.tag));
        let tag = format!("{}u", self.tag);
        let domus: Vec<DomUNs> = par_map(self.domus, |i, spec| DomUNs {
            ns: Netns::new(&tag),
            vif: format!("vif{}.0", i + 1),
            spec,
        });
        let up = &self.uplink;
        let prefix = up.addr.split_once('/').map_or("32", |(_, p)| p);

        let mut d0 = vec![format!(
            "link add {} type veth peer name {INTERNET_IFACE} netns {}",
            up.dev,
            internet.name()
        )];
        for d in &domus {
            let mac = d
                .spec
                .mac
                .as_deref()
                .map(|m| format!(" address {m}"))
                .unwrap_or_default();
            d0.push(format!(
                "link add {} type veth peer name eth0{mac} netns {}",
                d.vif,
                d.ns.name()
            ));
        }
        d0.push(format!("addr add {} dev {}", up.addr, up.dev));
        d0.push(format!("link set {} up", up.dev));
        d0.push(format!("route add default via {}", up.gw));
        // The uplink's default route needs the peer up to be usable, but `ip route add`
        // only needs the gateway on-link, which the address above provides.
        dom0.ip_batch(&d0);

        internet.ip_batch(&[
            format!("addr add {}/{prefix} dev {INTERNET_IFACE}", up.gw),
            format!("link set {INTERNET_IFACE} up"),
            format!("addr add {INTERNET_HOST}/32 dev lo"),
        ]);
        par_map(domus.iter().collect(), |_, d| {
            let mut lines = vec![
                format!("addr add {} dev eth0", d.spec.addr),
                "link set eth0 up".to_string(),
            ];
            if let Some(gw) = &d.spec.gw {
                lines.push(format!("route add default via {gw}"));
            }
            d.ns.ip_batch(&lines);
        });
        Topology {
            internet,
            dom0,
            domus,
            uplink: self.uplink,
        }
    }
}

/// A domU's namespace together with what describes it.
#[derive(Debug)]
struct DomUNs {
    spec: DomU,
    ns: Netns,
    vif: String,
}

/// A built topology. Dropping it deletes all its namespaces.
#[derive(Debug)]
pub struct Topology {
    internet: Netns,
    dom0: Netns,
    domus: Vec<DomUNs>,
    uplink: Uplink,
}

impl Topology {
    /// Start describing a topology; `tag` names the test in the namespace names.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(tag: &str) -> TopologyBuilder {
        TopologyBuilder {
            tag: tag.into(),
            uplink: Uplink::default(),
            domus: Vec::new(),
        }
    }

    /// The dom0 namespace: brouter runs against this one.
    pub fn dom0(&self) -> &Netns {
        &self.dom0
    }

    /// The "internet": the uplink's gateway and [`INTERNET_HOST`], with no route back.
    pub fn internet(&self) -> &Netns {
        &self.internet
    }

    /// The namespace of the i-th domU (0-based, in the order they were added).
    pub fn domu(&self, i: usize) -> &Netns {
        &self.domus[i].ns
    }

    /// The description the i-th domU was built from.
    pub fn domu_spec(&self, i: usize) -> &DomU {
        &self.domus[i].spec
    }

    /// The dom0 side of the i-th domU's veth (`vif<i+1>.0`).
    pub fn vif(&self, i: usize) -> &str {
        &self.domus[i].vif
    }

    /// How many domUs there are.
    pub fn domu_count(&self) -> usize {
        self.domus.len()
    }

    /// The uplink as built.
    pub fn uplink(&self) -> &Uplink {
        &self.uplink
    }

    /// dom0's uplink address without prefix: what the internet sees after masquerade.
    pub fn uplink_ip(&self) -> Ipv4Addr {
        parse_ip(&self.uplink.addr)
    }

    /// The names of every namespace of this topology (to prove they are gone later).
    pub fn netns_names(&self) -> Vec<String> {
        let mut v = vec![self.internet.name().to_string(), self.dom0.name().to_string()];
        v.extend(self.domus.iter().map(|d| d.ns.name().to_string()));
        v
    }
}

/// How many threads build domUs: each step forks `ip`, so a few in parallel hide the
/// fork/exec latency even on two cores.
const WORKERS: usize = 4;

/// `f(index, item)` for every item, on up to [`WORKERS`] threads, results in order.
/// A panic in one propagates after all finish; results already made are dropped (so
/// namespaces created so far are deleted).
fn par_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(usize, T) -> R + Sync) -> Vec<R> {
    let chunk = items.len().div_ceil(WORKERS).max(1);
    let mut chunks: Vec<Vec<(usize, T)>> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        if i % chunk == 0 {
            chunks.push(Vec::new());
        }
        chunks.last_mut().expect("pushed above").push((i, item));
    }
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|c| s.spawn(move || c.into_iter().map(|(i, t)| f(i, t)).collect::<Vec<R>>()))
            .collect();
        let results: Vec<std::thread::Result<Vec<R>>> = handles.into_iter().map(|h| h.join()).collect();
        let mut out = Vec::new();
        let mut panic = None;
        for r in results {
            match r {
                Ok(v) => out.extend(v),
                Err(p) => panic = panic.or(Some(p)),
            }
        }
        if let Some(p) = panic {
            drop(out);
            std::panic::resume_unwind(p);
        }
        out
    })
}

fn parse_ip(cidr: &str) -> Ipv4Addr {
    let ip = cidr.split_once('/').map_or(cidr, |(a, _)| a);
    ip.parse()
        .unwrap_or_else(|e| panic!("bad IPv4 address {cidr:?}: {e}"))
}
