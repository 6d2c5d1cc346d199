//! `start`, `stop` and `plan`: observe, plan, (apply), report.

use brouter_engine::{apply, compile, plan_start, plan_stop, Config, Desired, Observed, Plan};

use crate::args::Cli;
use crate::exit::{self, Failure};
use crate::load::{self, Backend, ConfigFile};
use crate::{cache, lock};

/// What a command should do with the plan it computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Start,
    Stop,
    DryRun,
}

/// The backend the command line names: the simulator (`--sim`), a namespace
/// (`--netns`), or the host.
pub async fn open(cli: &Cli) -> Result<Backend, Failure> {
    Backend::open(cli.sim.as_deref(), cli.netns.as_deref()).await
}

/// `start`, `stop` or `plan` (`mode`) from the command line: a converged system is
/// answered from the cached compile of the file; otherwise the configuration (the file,
/// the words, or the Xen bridges brouter remembers) is planned and run.
pub async fn command(cli: &Cli, mode: Mode, words: &[String]) -> Result<u8, Failure> {
    let file = match load::config_file(cli.config.as_deref(), words) {
        Err(why) if mode == Mode::Stop => return crate::marks::stop(cli, &why).await,
        other => other?,
    };
    let prefetch = worth_prefetching(file.as_ref());
    // A converged system, checked from the cached compile of this very file.
    let mut held = None;
    let mut backend = None;
    let mut cached = false;
    // What the converged check read of the kernel, for the run that follows when the
    // system is not converged (a drift to repair, or `start` after a `plan` of a changed
    // file): read once, under the lock both hold.
    let mut observed = None;
    if let Some((summary, digest)) = file.as_ref().filter(|_| mode != Mode::Stop).and_then(cache::load) {
        cached = true;
        held = take_lock(cli, mode)?;
        let b = backend.insert(open(cli).await?);
        match converged(&summary, digest, b, mode, cli.json, prefetch).await? {
            Converged::Yes => return Ok(exit::OK),
            Converged::No(read) => observed = read,
        }
    }
    let started = std::time::Instant::now();
    let mut config = match load::parse_config(file.as_ref(), words) {
        Err(why) if mode == Mode::Stop => return crate::marks::stop(cli, &why).await,
        other => other?,
    };
    tracing::debug!("parsed and validated {} ({:.2} ms)", config.origin, ms(started));
    if mode != Mode::Stop && cli.sim.is_none() {
        crate::dhcp_check::require_dnsmasq(&config)?;
    }
    if held.is_none() {
        held = take_lock(cli, mode)?;
    }
    let _lock = held;
    let mut backend = match backend {
        Some(b) => b,
        None => open(cli).await?,
    };
    if file.is_none() && words.is_empty() {
        // No file, no words: the bridges brouter started in Xen mode, if any.
        match remembered_xen_config(&mut backend).await {
            Some(c) => config = c,
            // The config is gone (or never was): a stop must still remove what brouter
            // started from it, which only the marks tell.
            None if mode == Mode::Stop => {
                let why = Failure::usage(format!(
                    "no config file ({}), no VAR=VAL words and no Xen bridge brouter remembers \
                     starting",
                    load::DEFAULT_CONFIG
                ));
                return crate::marks::stop_locked(&mut backend, &why, cli.json).await;
            }
            None => {}
        }
    }
    // A cache entry of this very file is kept already (a drift repair): not rewritten.
    let keep = file.as_ref().filter(|_| !cached);
    run(&config, &mut backend, mode, cli.json, keep, prefetch, observed).await?;
    Ok(exit::OK)
}

/// A config file this large (bytes) has tables worth reading back beside `observe`
/// ([`brouter_engine::NetBackend::prefetch_firewall`]): the thread that enters the
/// namespace and opens a socket of its own costs ~0.5 ms, more than reading the tables of
/// a few forwards takes; at 1,000 forwards (~55 KB) reading them takes several.
const PREFETCH_FILE_BYTES: usize = 32 * 1024;

/// Whether to read brouter's tables back beside `observe`: only when the file is large
/// (its forwards and hosts are what make the tables large).
pub fn worth_prefetching(file: Option<&ConfigFile>) -> bool {
    file.is_some_and(|f| f.text.len() >= PREFETCH_FILE_BYTES)
}

/// start and stop change the kernel: one at a time with hotplugs (dry runs don't).
/// Taken after validation, so a bad config is exit 2 whoever runs it.
pub fn take_lock(cli: &Cli, mode: Mode) -> Result<Option<lock::Lock>, Failure> {
    match mode {
        Mode::DryRun => Ok(None),
        _ => lock::lock(&lock::path_for(cli.sim.as_deref(), cli.netns.as_deref())?).map(Some),
    }
}

/// What the check against a cached compile found.
pub enum Converged {
    /// Converged, and reported.
    Yes,
    /// Not converged (or not provably): [`run`] plans the fresh compile, from this read of
    /// the kernel when there is one, so a drift repair or a change reads the kernel once.
    No(Option<Box<Observed>>),
}

/// Whether `summary` (a cached compile) shows the system converged; if so, report it.
/// Anything else — drift, a firewall to rewrite, an unreadable kernel — is left to
/// [`run`] with the freshly compiled configuration.
pub async fn converged(
    summary: &Desired,
    firewall_digest: Option<u64>,
    backend: &mut Backend,
    mode: Mode,
    json_out: bool,
    prefetch: bool,
) -> Result<Converged, Failure> {
    let started = std::time::Instant::now();
    if prefetch {
        // The tables' read-back (the digest below) runs beside `observe`.
        backend.get().prefetch_firewall().await;
    }
    let Ok(mut observed) = backend.get().observe().await else {
        return Ok(Converged::No(None));
    };
    crate::readback::sysctls(backend.get(), summary, &mut observed).await;
    tracing::debug!(
        "read the kernel ({:.2} ms); planning from the cached compile",
        ms(started)
    );
    match plan_start(summary, &observed) {
        Ok(plan) if plan.is_empty() => {
            // The fingerprint matched; only the read-back's digest proves the contents do.
            if !crate::readback::digest_proves_converged(backend.get(), &observed, firewall_digest).await {
                return Ok(Converged::No(Some(Box::new(observed))));
            }
            let warnings = uplink_warnings(summary.uplink.as_deref(), &summary.vxlans, &observed, mode);
            report(&plan, mode, json_out, &warnings);
            Ok(Converged::Yes)
        }
        _ => Ok(Converged::No(Some(Box::new(observed)))),
    }
}

/// Observe (unless `observed` is a read just made, under the same lock), compile, read
/// the firewall back, plan and (unless a dry run) apply `config`; the compile is kept in
/// the cache for `file` when one is given.
pub async fn run(
    config: &Config,
    backend: &mut Backend,
    mode: Mode,
    json_out: bool,
    file: Option<&ConfigFile>,
    prefetch: bool,
    observed: Option<Box<Observed>>,
) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    if prefetch && mode != Mode::Stop {
        // The tables' read-back runs beside `observe` and the compile.
        backend.get().prefetch_firewall().await;
    }
    let mut observed = match observed {
        Some(o) => *o,
        None => backend
            .get()
            .observe()
            .await
            .map_err(|e| Failure::op(format!("cannot read the kernel state: {e}")))?,
    };
    tracing::debug!(
        "read the kernel: {} links, {} addresses, {} routes, {} bindings ({:.2} ms)",
        observed.links.len(),
        observed.addresses.len(),
        observed.routes.len(),
        observed.bindings.len(),
        ms(started)
    );
    let started = std::time::Instant::now();
    let desired = match mode {
        Mode::Stop => compile(config),
        _ => compile(&with_other_xen_bridges(config, &observed)),
    };
    tracing::debug!("compiled the configuration ({:.2} ms)", ms(started));
    if mode != Mode::Stop {
        let started = std::time::Instant::now();
        crate::readback::firewall(backend.get(), &desired, &mut observed).await;
        tracing::debug!(
            "read brouter's tables back: {} difference(s) ({:.2} ms)",
            observed.firewall_drift.len(),
            ms(started)
        );
    }
    if let (Some(f), true) = (file, mode != Mode::Stop) {
        let started = std::time::Instant::now();
        let digest = crate::readback::expected_digest(backend.get(), &desired).await;
        crate::cache::store(f, &desired, digest);
        crate::cache::store_config(f, config);
        tracing::debug!(
            "kept the compiled configuration for the next start ({:.2} ms)",
            ms(started)
        );
    }
    if mode != Mode::Stop {
        crate::readback::sysctls(backend.get(), &desired, &mut observed).await;
    }
    let plan: Plan = match mode {
        Mode::Stop => plan_stop(&desired.scope, &observed),
        Mode::Start | Mode::DryRun => {
            plan_start(&desired, &observed).map_err(|e| Failure::op(e.to_string()))?
        }
    };
    tracing::debug!("planned {} step(s)", plan.len());
    let uplink = config.uplink.as_ref().map(|u| u.interface.as_str());
    let warnings = uplink_warnings(uplink, &desired.vxlans, &observed, mode);
    if mode != Mode::DryRun {
        execute(&plan, backend).await?;
    }
    if mode == Mode::Stop && config.mode == XenMode {
        restart_other_xen_bridges(config, backend).await?;
    }
    report(&plan, mode, json_out, &warnings);
    Ok(())
}

/// What `start` and `plan` warn about (on stderr, and in `warnings` under `--json`): an
/// uplink that is missing or down (a stop does not need one), a cluster underlay whose MTU
/// leaves VMs less than 1500 bytes.
fn uplink_warnings(
    uplink: Option<&str>,
    vxlans: &[brouter_engine::desired::DesiredVxlan],
    observed: &Observed,
    mode: Mode,
) -> Vec<String> {
    if mode == Mode::Stop {
        return Vec::new();
    }
    let warnings: Vec<String> = brouter_engine::health::uplink_problem(uplink, observed)
        .into_iter()
        .chain(brouter_engine::health::overlay_mtu_problem(vxlans, observed))
        .collect();
    for w in &warnings {
        eprintln!("brouter: warning: {w}");
    }
    warnings
}

/// Apply `plan` (nothing when it is empty) and keep the simulator's state.
pub async fn execute(plan: &Plan, backend: &mut Backend) -> Result<(), Failure> {
    if plan.is_empty() {
        return Ok(());
    }
    if let Some(n) = crate::test_abort::after_ops() {
        let head = Plan {
            ops: plan.ops.iter().take(n).cloned().collect(),
        };
        let _ = apply(backend.get(), &head).await;
        let _ = backend.finish();
        crate::test_abort::die();
    }
    let result = apply(backend.get(), plan).await;
    if matches!(backend, Backend::Kernel(_)) {
        // Committed: what remains of a change that deleted nf_tables objects (an element
        // update, a replaced table) is the kernel's deferred free, which the last release
        // of an nfnetlink socket waits for. A child waits instead of the admin.
        crate::nfnl_release::hand_off();
    }
    backend.finish()?;
    result.map_err(|e| {
        Failure::op(format!(
            "{e}\n{} of {} steps were applied; run the command again once the cause is fixed",
            e.step, e.total
        ))
    })
}

use brouter_engine::config::Mode::Xen as XenMode;

/// Milliseconds since `t`, for `-v` lines.
fn ms(t: std::time::Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// The Xen-mode words (in brouter's memory) of the other bridges brouter started.
fn other_xen_words<'o>(config: &Config, observed: &'o Observed) -> Vec<&'o str> {
    brouter_engine::config::remembered_xen_words(&observed.memory)
        .filter(|(b, _)| {
            !config.networks.iter().any(|n| n.bridge == *b)
                && observed.link(b).is_some_and(|l| l.owner().is_some())
        })
        .map(|(_, w)| w)
        .collect()
}

/// Xen mode manages one bridge per call, but the firewall is one ruleset for the host:
/// the configuration a Xen-mode call converges to includes the zones of the other
/// Xen-mode bridges brouter started (a config file already describes the whole host).
pub fn with_other_xen_bridges(config: &Config, observed: &Observed) -> Config {
    if config.mode != XenMode {
        return config.clone();
    }
    brouter_engine::config::with_other_xen_networks(config, &other_xen_words(config, observed))
}

/// After a Xen-mode `stop` of one bridge, the remaining Xen-mode bridges' firewall no
/// longer needs the stopped zone: converge them again (only the tables change).
async fn restart_other_xen_bridges(config: &Config, backend: &mut Backend) -> Result<(), Failure> {
    let observed = backend
        .get()
        .observe()
        .await
        .map_err(|e| Failure::op(e.to_string()))?;
    let others = other_xen_words(config, &observed);
    let Some(first) = others.first() else {
        return Ok(());
    };
    let words: Vec<&str> = first.split_whitespace().collect();
    let Ok(base) = brouter_engine::config::from_xen_words(&words) else {
        return Ok(());
    };
    let desired = compile(&with_other_xen_bridges(&base, &observed));
    let plan = plan_start(&desired, &observed).map_err(|e| Failure::op(e.to_string()))?;
    let result = apply(backend.get(), &plan).await;
    backend.finish()?;
    result.map_err(|e| Failure::op(format!("re-applying the other Xen bridges' firewall: {e}")))
}

pub fn report(plan: &Plan, mode: Mode, json_out: bool, warnings: &[String]) {
    // The change is done: from here a closed pipe only ends the report.
    exit::quiet_on_closed_pipe();
    let verb = match mode {
        Mode::Start => "started",
        Mode::Stop => "stopped",
        Mode::DryRun => "plan",
    };
    if json_out {
        // Written straight to stdout: a `serde_json::Value` of a plan that replaces a
        // 10,000-forward firewall would double the peak memory of `start --json`.
        #[derive(serde::Serialize)]
        struct Answer<'p> {
            version: u64,
            command: &'p str,
            changed: bool,
            ops: &'p [brouter_engine::Op],
            steps: Vec<String>,
            warnings: &'p [String],
        }
        let answer = Answer {
            version: crate::json::VERSION,
            warnings,
            command: verb,
            changed: mode != Mode::DryRun && !plan.is_empty(),
            ops: &plan.ops,
            steps: plan.ops.iter().map(ToString::to_string).collect(),
        };
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let _ = serde_json::to_writer_pretty(&mut out, &answer)
            .map_err(std::io::Error::from)
            .and_then(|()| std::io::Write::write_all(&mut out, b"\n"));
        return;
    }
    if plan.is_empty() {
        println!(
            "{}",
            match mode {
                Mode::Start => "nothing to do: already converged",
                Mode::Stop => "nothing to do: brouter owns nothing here",
                Mode::DryRun => "nothing to do",
            }
        );
        return;
    }
    let head = match mode {
        Mode::Start => "applied",
        Mode::Stop => "applied",
        Mode::DryRun => "would apply",
    };
    println!(
        "{head} {} step{}:",
        plan.len(),
        if plan.len() == 1 { "" } else { "s" }
    );
    for (i, op) in plan.ops.iter().enumerate() {
        println!("  {:>2}. {op}", i + 1);
    }
}

/// Without a config file or words, `plan`, `status` and `stop` mean "what brouter
/// started": the Xen-mode bridges whose network-script words it remembered (the seed's
/// defaults only when it remembers none).
/// The configuration a read-only command (`status`, `explain`, `diagram`) looks at, from
/// the one it parsed: the config file; else the Xen words together with the other Xen-mode bridges brouter
/// started (the firewall is one ruleset for the host, so a flow from one Xen bridge to
/// another must see both zones); else, with neither, the bridges brouter remembers
/// starting; else the seed defaults. Without a readable kernel: the file or the words.
pub async fn host_config(config: Config, words: &[String], backend: Option<&mut Backend>) -> Config {
    let Some(backend) = backend else {
        return config;
    };
    if config.mode != XenMode {
        return config;
    }
    if words.is_empty() {
        return remembered_xen_config(backend).await.unwrap_or(config);
    }
    match backend.get().observe().await {
        Ok(observed) => with_other_xen_bridges(&config, &observed),
        Err(_) => config,
    }
}

pub async fn remembered_xen_config(backend: &mut Backend) -> Option<Config> {
    let observed = backend.get().observe().await.ok()?;
    let words: Vec<&str> = brouter_engine::config::remembered_xen_words(&observed.memory)
        .map(|(_, w)| w)
        .collect();
    let first: Vec<&str> = words.first()?.split_whitespace().collect();
    let base = brouter_engine::config::from_xen_words(&first).ok()?;
    Some(brouter_engine::config::with_other_xen_networks(
        &base,
        &words[1..],
    ))
}
