//! `status`: what exists, what is missing, what drifted.

use brouter_engine::config::Action;
use brouter_engine::{compile, plan_start, Config, FirewallCounters, Hits, Observed, IP_FORWARD};

use crate::args::Cli;
use crate::exit::{Failure, DRIFTED, OK};
use crate::load::{self, Backend};
use crate::run;

mod dhcp;
mod evpn;
mod ports;
mod text;

/// The uplink as found: missing or down, nothing arrives from `external`.
#[derive(Debug, serde::Serialize)]
struct UplinkStatus {
    interface: String,
    present: bool,
    up: bool,
    addresses: Vec<String>,
}

/// One network's state as found.
#[derive(Debug, serde::Serialize)]
struct NetworkStatus {
    network: String,
    bridge: String,
    /// "missing", "created by brouter" or "adopted (existed before brouter)" (for
    /// people; scripts read `bridge_present` and `bridge_owned`).
    bridge_state: String,
    bridge_present: bool,
    /// Whether brouter created the bridge (its ownership mark), so `stop` deletes it.
    bridge_owned: bool,
    up: bool,
    address: String,
    address_present: bool,
    /// The bridge's IPv6 address (`address6`), when the network is dual stack.
    #[serde(skip_serializing_if = "Option::is_none")]
    address6: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address6_present: Option<bool>,
    route: String,
    route_present: bool,
    /// Attached vifs, each with the host it is bound to (anti-spoofing) or declared as.
    ports: Vec<PortStatus>,
}

#[derive(Debug, serde::Serialize)]
struct PortStatus {
    vif: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<String>,
    /// The MAC and addresses the vif may use, when it is bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    bound: Option<String>,
}

/// What `status` compared the system against, and which of its bridges it was asked
/// about.
#[derive(Debug)]
pub struct Basis {
    /// For people and scripts: the config file, the words, the remembered Xen bridges or
    /// the seed defaults.
    pub compared_with: String,
    /// Xen words name one bridge: the others brouter started are in the configuration
    /// (the firewall is one ruleset) and listed, but their drift is not what was asked
    /// about and does not make this one "not converged".
    pub others: Vec<String>,
}

impl Basis {
    /// `asked` is the configuration the command line named (file or words), `config` the
    /// one compared against (with the other Xen bridges, or the remembered ones).
    pub fn of(asked: &Config, config: &Config, words: &[String]) -> Basis {
        use brouter_engine::config::Mode;
        let bridges = |c: &Config| c.networks.iter().map(|n| n.bridge.clone()).collect::<Vec<_>>();
        if asked.mode != Mode::Xen {
            return Basis {
                compared_with: format!("config file {}", asked.origin),
                others: Vec::new(),
            };
        }
        if !words.is_empty() {
            let mine = bridges(asked);
            return Basis {
                compared_with: format!("network-script words {}", words.join(" ")),
                others: bridges(config)
                    .into_iter()
                    .filter(|b| !mine.contains(b))
                    .collect(),
            };
        }
        let compared_with = if config == asked {
            format!(
                "the seed defaults (no {}, no VAR=VAL words, no Xen bridge brouter remembers \
                 starting; pass --config FILE)",
                crate::load::DEFAULT_CONFIG
            )
        } else {
            format!(
                "the Xen bridges brouter remembers starting ({})",
                bridges(config).join(", ")
            )
        };
        Basis {
            compared_with,
            others: Vec::new(),
        }
    }
}

/// Everything `status` reports, gathered before it is printed (as JSON or text).
#[derive(Debug)]
struct Report<'a> {
    compared_with: String,
    /// Every object carrying brouter's marks, from any network.
    owned: Vec<crate::marks::Owned>,
    /// The configured uplink (the `external` zone) as found; none in Xen mode.
    uplink: Option<UplinkStatus>,
    /// Also false while the uplink is missing or down.
    converged: bool,
    networks: Vec<NetworkStatus>,
    forwards: Vec<ForwardStatus<'a>>,
    policies: Vec<PolicyStatus>,
    unlisted: Option<UnlistedStatus>,
    warnings: Vec<String>,
    ip_forward: String,
    /// The fingerprint of brouter's tables, when they are there.
    firewall: Option<String>,
    /// What the read-back found changed inside brouter's tables, one line each.
    firewall_drift: Vec<String>,
    /// The steps `start` would apply.
    drift: Vec<String>,
    /// Why `start` could not converge, if it could not.
    conflict: Option<String>,
    /// Unbound / duplicate-MAC ports of anti-spoofing bridges, ports of foreign bridges.
    ports_at_risk: Vec<ports::PortAtRisk>,
    /// brouter's dnsmasq, when the config asks for DHCP or one is found.
    dhcp: Option<dhcp::DhcpStatus>,
    /// brouter's FRR, on an EVPN cluster member or when some of it is found.
    evpn: Option<evpn::EvpnStatus>,
}

/// `status` from the command line: the configuration (file or words) is parsed and
/// validated on another thread while the kernel is read; a bad configuration is exit 2
/// whatever the kernel says.
pub async fn command(cli: &Cli, words: &[String]) -> Result<u8, Failure> {
    let file = load::config_file(cli.config.as_deref(), words)?;
    // The compile `start` kept of this very file (see `crate::cache`), and the
    // configuration it compiled.
    let cached = file.as_ref().and_then(crate::cache::load);
    let prefetch = run::worth_prefetching(file.as_ref());
    let parsing = {
        let (words, kept) = (words.to_vec(), cached.is_some());
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let config = match file.as_ref().filter(|_| kept).and_then(crate::cache::load_config) {
                Some(config) => (Ok(config), "read the configuration kept by start from"),
                None => (load::parse_config(file.as_ref(), &words), "parsed and validated"),
            };
            (config, ms(started))
        })
    };
    let read = match run::open(cli).await {
        Ok(mut backend) => read_kernel(&mut backend, cached, prefetch)
            .await
            .map(|k| (backend, k)),
        Err(e) => Err(e),
    };
    let ((config, how), took) = parsing
        .await
        .map_err(|e| Failure::op(format!("reading the configuration failed: {e}")))?;
    let config = config?;
    tracing::debug!("{how} {} ({took:.2} ms, beside the kernel reads)", config.origin);
    let (mut backend, kernel) = read?;
    let asked = config.clone();
    let config = run::host_config(config, words, Some(&mut backend)).await;
    let basis = Basis::of(&asked, &config, words);
    status(&config, &basis, &mut backend, kernel, cli.json).await
}

/// What `status` read of the kernel before it needed the configuration.
struct Kernel {
    observed: Observed,
    /// The cached compile's plan is empty and the tables as read hash to what it
    /// installs: nothing differs, so there is nothing to compile, compare or name.
    proven: bool,
}

/// Observe the kernel and, given the cached compile of the config file, check it the way
/// a converged `start` does: its plan empty, and the digest of the tables as read equal to
/// the digest of what it installs. Anything less proves nothing, and [`gather`] compiles
/// the file and compares the tables element by element (the read is reused).
async fn read_kernel(
    backend: &mut Backend,
    cached: Option<(brouter_engine::Desired, Option<u64>)>,
    prefetch: bool,
) -> Result<Kernel, Failure> {
    let started = std::time::Instant::now();
    if prefetch {
        // The tables' read-back runs beside `observe`.
        backend.get().prefetch_firewall().await;
    }
    let mut observed = backend
        .get()
        .observe()
        .await
        .map_err(|e| Failure::op(format!("cannot read the kernel state: {e}")))?;
    tracing::debug!("read the kernel ({:.2} ms)", ms(started));
    let mut proven = false;
    if let Some((summary, digest)) = cached {
        let started = std::time::Instant::now();
        crate::readback::sysctls(backend.get(), &summary, &mut observed).await;
        let planned_nothing = observed.foreign_tables.is_empty()
            && matches!(plan_start(&summary, &observed), Ok(p) if p.is_empty());
        proven = planned_nothing
            && crate::readback::digest_proves_converged(backend.get(), &observed, digest).await;
        tracing::debug!(
            "the cached compile {} ({:.2} ms)",
            if proven {
                "proves brouter's objects and tables unchanged"
            } else {
                "proves nothing: compiling and comparing"
            },
            ms(started)
        );
    }
    Ok(Kernel { observed, proven })
}

fn ms(t: std::time::Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Report what exists, what is missing and what drifted; exit `DRIFTED` unless `start`
/// has nothing to do.
async fn status(
    config: &Config,
    basis: &Basis,
    backend: &mut Backend,
    kernel: Kernel,
    json_out: bool,
) -> Result<u8, Failure> {
    let report = gather(config, basis, backend, kernel).await?;
    if json_out {
        print_json(&report);
    } else {
        text::print(&report);
    }
    Ok(if report.converged { OK } else { DRIFTED })
}

/// Plan `start` against what the kernel holds (compiling the configuration and reading
/// the firewall back, unless the cached compile proved nothing differs), and read the
/// firewall's counters.
async fn gather<'a>(
    config: &'a Config,
    basis: &Basis,
    backend: &mut Backend,
    kernel: Kernel,
) -> Result<Report<'a>, Failure> {
    let Kernel {
        observed: mut obs,
        proven,
    } = kernel;
    let plan = if proven {
        Ok(brouter_engine::Plan::default())
    } else {
        let started = std::time::Instant::now();
        let desired = compile(&crate::run::with_other_xen_bridges(config, &obs));
        crate::readback::firewall(backend.get(), &desired, &mut obs).await;
        crate::readback::sysctls(backend.get(), &desired, &mut obs).await;
        tracing::debug!(
            "compiled and read brouter's tables back: {} difference(s) ({:.2} ms)",
            obs.firewall_drift.len(),
            ms(started)
        );
        plan_start(&desired, &obs)
    };
    let dhcp = dhcp::status(brouter_engine::dhcp::compile(config).as_ref(), obs.dhcp.as_ref());
    if let Some(r) = obs.routing.as_mut().filter(|r| r.bgpd.is_some()) {
        r.sessions = backend.get().routing_sessions().await.unwrap_or_default();
    }
    let evpn = evpn::status(
        brouter_engine::routing::compile(config.cluster.as_ref()).as_ref(),
        obs.routing.as_ref(),
    );
    let index = PortIndex::of(config, &obs);
    let networks: Vec<NetworkStatus> = config
        .networks
        .iter()
        .map(|n| network_status(n, &obs, &index))
        .collect();
    let ip_forward = obs.sysctls.get(IP_FORWARD).cloned().unwrap_or_else(|| "?".into());
    let (drift, conflict): (Vec<String>, Option<String>) = match &plan {
        Ok(p) => (
            p.ops
                .iter()
                .filter(|op| !about_another_bridge(op, &basis.others))
                .map(ToString::to_string)
                .collect(),
            None,
        ),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let converged = drift.is_empty() && conflict.is_none() && obs.firewall_drift.is_empty();
    let facts = backend.get().host_facts().await.unwrap_or_default();
    let uplink_name = config.uplink.as_ref().map(|u| u.interface.as_str());
    let uplink_problem = brouter_engine::health::uplink_problem(uplink_name, &obs);
    let ports_at_risk = ports::at_risk(config, &obs);
    let converged = converged && uplink_problem.is_none() && !ports_at_risk.iter().any(|p| p.exposes());
    let mut warnings = brouter_engine::health::warnings(&obs, &facts);
    warnings.extend(uplink_problem);
    warnings.extend(evpn.iter().flat_map(|e| e.warnings()));
    let uplink = uplink_name.map(|name| UplinkStatus {
        interface: name.to_string(),
        present: obs.link(name).is_some(),
        up: obs.link(name).is_some_and(|l| l.up),
        addresses: obs
            .addresses
            .iter()
            .filter(|a| a.link == name)
            .map(|a| a.addr.to_string())
            .collect(),
    });
    // Counters only mean something while brouter's tables are there.
    let counters = match obs.firewall {
        Some(_) => backend.get().firewall_counters().await.unwrap_or_default(),
        None => FirewallCounters::default(),
    };
    Ok(Report {
        compared_with: basis.compared_with.clone(),
        owned: crate::marks::owned(config, &obs),
        uplink,
        converged,
        networks,
        forwards: {
            // Looked up by key: 10,000 forwards searched one by one is 10^8 comparisons.
            let hits: std::collections::HashMap<_, _> = counters
                .forwards
                .iter()
                .map(|h| ((h.proto, h.ports), h))
                .collect();
            config
                .forwards
                .iter()
                .map(|f| forward_status(f, hits.get(&(f.proto, f.ports)).copied()))
                .collect()
        },
        policies: config
            .policies
            .iter()
            .map(|p| policy_status(p, &counters))
            .collect(),
        unlisted: unlisted_status(config, &counters),
        warnings,
        ip_forward,
        firewall_drift: obs.firewall_drift.clone(),
        firewall: obs.firewall,
        drift,
        conflict,
        ports_at_risk,
        dhcp,
        evpn,
    })
}

/// The answer of `status --json`, written straight to stdout: with 10,000 forwards a
/// `serde_json::Value` of it costs more than reading the kernel. Keys in alphabetical
/// order, as serde_json writes a map's (and as the nested objects, still values, are).
fn print_json(r: &Report) {
    use serde_json::to_value;
    #[derive(serde::Serialize)]
    struct Answer<'a> {
        compared_with: &'a str,
        conflict: &'a Option<String>,
        converged: bool,
        dhcp: serde_json::Value,
        drift: &'a [String],
        evpn: serde_json::Value,
        firewall: &'a Option<String>,
        firewall_drift: &'a [String],
        forwards: Vec<ForwardJson<'a>>,
        ip_forward: &'a str,
        networks: serde_json::Value,
        owned: serde_json::Value,
        policies: serde_json::Value,
        ports_at_risk: serde_json::Value,
        unlisted: serde_json::Value,
        uplink: serde_json::Value,
        version: u64,
        warnings: &'a [String],
    }
    let value = |v: serde_json::Result<serde_json::Value>| v.expect("status's report serialises");
    let answer = Answer {
        compared_with: &r.compared_with,
        conflict: &r.conflict,
        converged: r.converged,
        dhcp: value(to_value(&r.dhcp)),
        drift: &r.drift,
        evpn: value(to_value(&r.evpn)),
        firewall: &r.firewall,
        firewall_drift: &r.firewall_drift,
        forwards: r.forwards.iter().map(ForwardJson::of).collect(),
        ip_forward: &r.ip_forward,
        networks: value(to_value(&r.networks)),
        owned: value(to_value(&r.owned)),
        policies: value(to_value(&r.policies)),
        ports_at_risk: value(to_value(&r.ports_at_risk)),
        unlisted: value(to_value(&r.unlisted)),
        uplink: value(to_value(&r.uplink)),
        version: crate::json::VERSION,
        warnings: &r.warnings,
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 18, std::io::stdout().lock());
    let _ = serde_json::to_writer_pretty(&mut out, &answer)
        .map_err(std::io::Error::from)
        .and_then(|()| std::io::Write::write_all(&mut out, b"\n"))
        .and_then(|()| std::io::Write::flush(&mut out));
}

/// A [`ForwardStatus`] as `--json` writes it (docs/json.md): its keys in alphabetical
/// order, its texts written straight out (no string per forward).
#[derive(serde::Serialize)]
struct ForwardJson<'a> {
    #[serde(serialize_with = "as_text")]
    addr: std::net::Ipv4Addr,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    connections: Option<u64>,
    #[serde(serialize_with = "as_text")]
    forward: ForwardText<'a>,
    host: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    packets: Option<u64>,
    #[serde(serialize_with = "as_text")]
    ports: brouter_engine::config::PortRange,
    proto: brouter_engine::config::Proto,
    to_port: Option<u16>,
}

impl<'a> ForwardJson<'a> {
    fn of(f: &ForwardStatus<'a>) -> ForwardJson<'a> {
        ForwardJson {
            addr: f.config.addr,
            bytes: f.bytes,
            connections: f.connections,
            forward: f.text(),
            host: &f.config.host,
            packets: f.packets,
            ports: f.config.ports,
            proto: f.config.proto,
            to_port: f.config.to_port,
        }
    }
}

/// A value as its text (`Display`), written into the JSON string directly.
fn as_text<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// Whether `op` changes one of `others` (or a vif it enslaves to one): drift of a Xen
/// bridge `status` was not asked about.
fn about_another_bridge(op: &brouter_engine::Op, others: &[String]) -> bool {
    let other = |l: &str| others.iter().any(|o| o == l);
    match op {
        brouter_engine::Op::SetMaster { master: Some(m), .. } if other(m) => true,
        brouter_engine::Op::SetPortState { bridge, .. } if other(bridge) => true,
        brouter_engine::Op::Remember { key, value } if key.starts_with("port-blocked:") && other(value) => {
            true
        }
        _ => op.link().is_some_and(other),
    }
}

fn forward_status<'a>(
    f: &'a brouter_engine::config::Forward,
    hits: Option<&brouter_engine::ForwardHits>,
) -> ForwardStatus<'a> {
    ForwardStatus {
        config: f,
        connections: hits.map(|h| h.connections),
        packets: hits.map(|h| h.traffic.packets),
        bytes: hits.map(|h| h.traffic.bytes),
    }
}

/// A forward for people: `tcp/8080 -> web1 (10.98.98.10):80`.
#[derive(Debug, Clone, Copy)]
struct ForwardText<'a>(&'a brouter_engine::config::Forward);

impl std::fmt::Display for ForwardText<'_> {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let f = self.0;
        write!(out, "{}/{} -> ", f.proto, f.ports)?;
        match &f.host {
            Some(h) => write!(out, "{h}")?,
            None => write!(out, "{}", f.addr)?,
        }
        write!(out, " ({})", f.addr)?;
        if let Some(p) = f.to_port {
            write!(out, ":{p}")?;
        }
        Ok(())
    }
}

/// The unlisted pairs' drops and their log lines, when there are counters.
fn unlisted_status(config: &Config, counters: &FirewallCounters) -> Option<UnlistedStatus> {
    let have_counters = *counters != FirewallCounters::default();
    have_counters.then(|| UnlistedStatus {
        dropped: counters.unlisted,
        logged_lines: counters
            .logged
            .iter()
            .filter(|l| !config.policies.iter().any(|p| p.from == l.from && p.to == l.to))
            .map(|l| l.lines)
            .sum(),
    })
}

/// A forward and, while brouter's tables are there, what went through it (as `--json`
/// writes it: [`ForwardJson`]; its texts are written when printed, not kept: 10,000 of
/// them).
#[derive(Debug)]
struct ForwardStatus<'a> {
    /// The forward as configured: protocol, external port(s), the `[[host]]` it names if
    /// any, the VM address and port it goes to (`to_port` null: the same port).
    config: &'a brouter_engine::config::Forward,
    /// Connections DNAT'd since the tables were last written.
    connections: Option<u64>,
    /// Packets and bytes of those connections, both directions.
    packets: Option<u64>,
    bytes: Option<u64>,
}

impl<'a> ForwardStatus<'a> {
    /// The forward for people (`forward` in `--json`; scripts read the other fields).
    fn text(&self) -> ForwardText<'a> {
        ForwardText(self.config)
    }
}

/// A listed policy and what its rules decided (new connections, per verdict).
#[derive(Debug, serde::Serialize)]
struct PolicyStatus {
    /// The policy for people; scripts read the fields after it.
    policy: String,
    from: String,
    to: String,
    action: Action,
    /// `tcp/80`, `udp/53`, `icmp`; empty: all services.
    services: Vec<String>,
    log: bool,
    hits: Vec<VerdictHits>,
    /// Lines written to the kernel log (`journalctl -k | grep 'brouter drop'`).
    #[serde(skip_serializing_if = "Option::is_none")]
    logged_lines: Option<u64>,
}

#[derive(Debug, serde::Serialize)]
struct VerdictHits {
    verdict: Action,
    packets: u64,
    bytes: u64,
}

/// Drops of zone pairs no policy lists.
#[derive(Debug, serde::Serialize)]
struct UnlistedStatus {
    dropped: Hits,
    logged_lines: u64,
}

fn policy_status(p: &brouter_engine::config::Policy, counters: &FirewallCounters) -> PolicyStatus {
    let services: Vec<String> = p.services.iter().map(ToString::to_string).collect();
    let mut what = p.action.to_string();
    if !services.is_empty() {
        what.push_str(&format!(" {}", services.join(", ")));
    }
    // A policy that accepts everything refuses nothing, so has nothing to log.
    if p.log && (p.action != Action::Accept || !p.services.is_empty()) {
        what.push_str(", logged");
    }
    let hits = counters
        .policies
        .iter()
        .filter(|h| h.from == p.from && h.to == p.to)
        .map(|h| VerdictHits {
            verdict: h.verdict,
            packets: h.hits.packets,
            bytes: h.hits.bytes,
        })
        .collect();
    let logged: Vec<u64> = counters
        .logged
        .iter()
        .filter(|l| l.from == p.from && l.to == p.to)
        .map(|l| l.lines)
        .collect();
    PolicyStatus {
        policy: format!("{} -> {} ({what})", p.from, p.to),
        from: p.from.clone(),
        to: p.to.clone(),
        action: p.action,
        services: services.clone(),
        log: p.log,
        hits,
        logged_lines: (!logged.is_empty()).then(|| logged.iter().sum()),
    }
}

/// The bindings by vif and the hosts by vif name and by MAC: 1,000 ports each searched
/// for in 1,000 bindings and 1,000 hosts one by one is millions of comparisons.
struct PortIndex<'a> {
    bindings: std::collections::HashMap<&'a str, &'a brouter_engine::firewall::Binding>,
    /// The position in the config of the first host with this vif name / this MAC.
    host_by_vif: std::collections::HashMap<&'a str, usize>,
    host_by_mac: std::collections::HashMap<&'a str, usize>,
    config: &'a Config,
}

impl<'a> PortIndex<'a> {
    fn of(config: &'a Config, obs: &'a Observed) -> PortIndex<'a> {
        let mut index = PortIndex {
            bindings: Default::default(),
            host_by_vif: Default::default(),
            host_by_mac: Default::default(),
            config,
        };
        for b in &obs.bindings {
            index.bindings.entry(b.vif.as_str()).or_insert(b);
        }
        for (i, h) in config.hosts.iter().enumerate() {
            if let Some(v) = h.vif.as_deref() {
                index.host_by_vif.entry(v).or_insert(i);
            }
            if let Some(m) = h.mac.as_deref() {
                index.host_by_mac.entry(m).or_insert(i);
            }
        }
        index
    }

    /// The first host (in config order) declared with this vif name or with the MAC the
    /// vif is bound to.
    fn host(&self, vif: &str, binding: Option<&brouter_engine::firewall::Binding>) -> Option<String> {
        let by_vif = self.host_by_vif.get(vif).copied();
        let by_mac = binding.and_then(|b| self.host_by_mac.get(b.mac.as_str()).copied());
        let i = match (by_vif, by_mac) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(self.config.hosts[i].name.clone())
    }
}

fn network_status(n: &brouter_engine::config::Network, obs: &Observed, index: &PortIndex) -> NetworkStatus {
    let link = obs.link(&n.bridge);
    let bridge_state = match link {
        None => "missing".to_string(),
        Some(l) if l.owner().is_some() => "created by brouter".to_string(),
        Some(_) => "adopted (existed before brouter)".to_string(),
    };
    NetworkStatus {
        network: n.name.clone(),
        bridge: n.bridge.clone(),
        bridge_state,
        bridge_present: link.is_some(),
        bridge_owned: link.is_some_and(|l| l.owner().is_some()),
        up: link.is_some_and(|l| l.up),
        address: n.address.to_string(),
        address_present: obs
            .addresses
            .iter()
            .any(|a| a.link == n.bridge && a.addr == n.address),
        address6: n.address6.map(|a| a.to_string()),
        address6_present: n
            .address6
            .map(|a6| obs.addresses6.iter().any(|a| a.link == n.bridge && a.addr == a6)),
        route: format!("{} dev {}", n.subnet, n.bridge),
        route_present: obs.routes.iter().any(|r| r.dst == n.subnet && r.dev == n.bridge),
        ports: obs
            .ports_of(&n.bridge)
            .map(|l| {
                let binding = index.bindings.get(l.name.as_str()).copied();
                let host = index.host(&l.name, binding);
                let bound = binding.map(|b| {
                    let addrs = match b.addrs.is_empty() {
                        true => "(no address)".to_string(),
                        false => b.describe_addrs().replace(", ", " "),
                    };
                    format!("{} {addrs}", b.mac)
                });
                PortStatus {
                    vif: l.name.clone(),
                    host,
                    bound,
                }
            })
            .collect(),
    }
}
