//! `brouter demo`: the whole story on a throwaway Xen host made of network namespaces.
//!
//! It builds an "internet", a dom0 with an uplink and three domUs in two networks, runs
//! the real `start` (the engine and the netlink backend, exactly as `brouter start` does)
//! and the vif hotplug, measures a connectivity table with real TCP connections next to
//! what `explain` predicts, runs `stop`, checks dom0 is exactly as before, and deletes
//! everything. Every namespace is owned by a guard, so Ctrl-C (SIGINT/SIGTERM), an
//! error or a panic all end with the namespaces gone; names a SIGKILLed run left behind
//! are swept by the next one. It never touches the namespace it is started in.

mod config;
mod lab;
mod restore;
mod table;

use std::path::PathBuf;

use brouter_backends::NetlinkBackend;
use brouter_engine::firewall::ExplainContext;
use brouter_engine::vif::{plan_vif_offline, plan_vif_online, VifRequest};
use brouter_engine::{apply, compile, plan_start, plan_stop, Config, Desired, NetBackend, Plan};
use brouter_lab::{is_root, sweep_stale};
use tokio::signal::unix::{signal, SignalKind};

use crate::exit::{Failure, FAILED, OK};
use config::{DOMUS, UPLINK_ADDR};
use lab::{Lab, PREFIX};
use restore::Snapshot;

/// The exit code of a run stopped by a signal (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;

/// Run the demo; returns its exit code (0 all as expected, 1 something differed, 130
/// interrupted).
pub async fn demo() -> Result<u8, Failure> {
    if !is_root() {
        return Err(Failure::op(
            "the demo builds network namespaces: run it as root (sudo brouter demo); \
             without root, try the simulator: brouter --sim /tmp/k.json start",
        ));
    }
    let signal_err = |e: std::io::Error| Failure::op(format!("demo: cannot catch Ctrl-C: {e}"));
    let mut interrupt = signal(SignalKind::interrupt()).map_err(signal_err)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(signal_err)?;
    let pid = std::process::id();
    println!("brouter demo: a throwaway Xen host in network namespaces {PREFIX}{pid}-* (Ctrl-C cleans up)");
    // Signals first: Ctrl-C in a terminal also kills an `nft` child, and the failure
    // that causes must not hide that the user interrupted the demo.
    let stopped_by = tokio::select! {
        biased;
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
        r = run(pid) => return r,
    };
    // `run` was dropped with the select: its guards have deleted every namespace.
    let left = lab::leftovers(pid);
    if left.is_empty() {
        eprintln!("brouter demo: interrupted ({stopped_by}); deleted its namespaces");
    } else {
        eprintln!(
            "brouter demo: interrupted ({stopped_by}); could not delete {}",
            left.join(", ")
        );
    }
    Ok(INTERRUPTED)
}

/// The demo's story, step by step; its guards (lab, backend, memory) clean up however it ends.
async fn run(pid: u32) -> Result<u8, Failure> {
    sweep_earlier_runs();
    let mut lab = Lab::build(pid).await?;
    println!(
        "lab: {} (192.0.2.1, a server on 198.51.100.1; a route to 10.99.0.0/24 only), \
         {} (uplink eth0 {UPLINK_ADDR}/24, default via 192.0.2.1)",
        lab.internet.name(),
        lab.dom0.name()
    );
    let config_file = TempFile::write(&format!("brouter-demo-{pid}.toml"), config::CONFIG)?;
    let config = show_config(&config_file)?;

    let mut backend = NetlinkBackend::new(lab.dom0.target())
        .await
        .map_err(|e| Failure::op(e.to_string()))?;
    let _memory = brouter_memory_guard(&backend);
    let before = Snapshot::take(&mut backend, &lab.dom0.handle()).await?;

    let desired = start(&mut backend, &lab, &config, &config_file).await?;
    boot_domus(&mut lab, &mut backend, &config, pid).await?;
    let results = connectivity(&lab, &mut backend, &desired).await?;
    shut_down_domus(&lab, &mut backend).await?;
    stop(&mut backend, &lab, &desired).await?;
    let restored = dom0_restored(&mut backend, &lab, &before).await?;

    drop(backend);
    let deleted = delete_lab(lab, pid);
    Ok(summary(&results, restored && deleted))
}

/// Remove the namespaces an earlier demo left when it was killed (SIGKILL cannot clean up).
fn sweep_earlier_runs() {
    let swept = sweep_stale(PREFIX);
    if !swept.is_empty() {
        println!(
            "removed namespaces an earlier, killed demo left: {}",
            swept.join(", ")
        );
    }
}

/// Load the demo's config from its file, as `--config FILE` does, and print it.
fn show_config(file: &TempFile) -> Result<Config, Failure> {
    let config = crate::load::load_config(Some(&file.0), &[])?;
    println!("\nconfig ({}):", file.0.display());
    for line in config::CONFIG.lines() {
        println!("  | {line}");
    }
    Ok(config)
}

/// `brouter start` on dom0; returns what it was asked for (for `stop` and `explain`).
async fn start(
    backend: &mut NetlinkBackend,
    lab: &Lab,
    config: &Config,
    file: &TempFile,
) -> Result<Desired, Failure> {
    println!(
        "\n$ brouter --netns {} --config {} start",
        lab.dom0.name(),
        file.0.display()
    );
    let desired = compile(config);
    let observed = observe(backend).await?;
    let plan = plan_start(&desired, &observed).map_err(|e| Failure::op(e.to_string()))?;
    run_plan(backend, &plan).await?;
    Ok(desired)
}

/// The domUs boot: each vif appears in dom0 and the hotplug hook runs `vif online`.
async fn boot_domus(
    lab: &mut Lab,
    backend: &mut NetlinkBackend,
    config: &Config,
    pid: u32,
) -> Result<(), Failure> {
    println!("\ndomUs boot: Xen hands dom0 one vif each (down, unattached) and runs the hotplug hook:");
    lab.boot_domus(pid).await?;
    for d in DOMUS {
        let observed = observe(backend).await?;
        let req = VifRequest {
            device: d.vif.into(),
            mac: Some(d.mac.into()),
            ..VifRequest::default()
        };
        let vp = plan_vif_online(Some(config), &observed, &req)
            .map_err(|e| Failure::op(format!("vif online {}: {e}", d.vif)))?;
        apply(backend, &vp.plan)
            .await
            .map_err(|e| Failure::op(format!("vif online {}: {e}", d.vif)))?;
        let steps: Vec<String> = vp.plan.ops.iter().map(ToString::to_string).collect();
        println!(
            "$ brouter vif online type_if=vif   (vif={}, {} {} {}/{})\n    {}",
            d.vif,
            d.name,
            d.mac,
            d.addr,
            d.prefix,
            steps.join("; ")
        );
    }
    Ok(())
}

/// Measure the connectivity table next to explain's predictions, and print it.
async fn connectivity(
    lab: &Lab,
    backend: &mut NetlinkBackend,
    desired: &Desired,
) -> Result<Vec<table::Measured>, Failure> {
    println!("\nconnectivity, measured with real TCP connections between the namespaces:");
    let observed = observe(backend).await?;
    let ctx = ExplainContext {
        uplink_address: Some(UPLINK_ADDR),
        uplink_address6: None,
        ..ExplainContext::from_observed(&observed)
    };
    let ruleset = desired.firewall.clone().unwrap_or_default();
    let results = table::measure(lab, &ruleset, &ctx).await?;
    table::print(&results);
    for m in results.iter().filter(|m| !m.agrees()) {
        println!("  ✗ explain said: {}", table::explain_detail(m));
    }
    Ok(results)
}

/// The domUs shut down: the hook runs `vif offline`, then Xen destroys each vif.
async fn shut_down_domus(lab: &Lab, backend: &mut NetlinkBackend) -> Result<(), Failure> {
    println!("\ndomUs shut down: the hook runs `vif offline`, then Xen destroys each vif");
    for d in DOMUS {
        let observed = observe(backend).await?;
        let req = VifRequest {
            device: d.vif.into(),
            ..VifRequest::default()
        };
        let vp = plan_vif_offline(&observed, &req);
        apply(backend, &vp.plan)
            .await
            .map_err(|e| Failure::op(format!("vif offline {}: {e}", d.vif)))?;
        lab.destroy_vif(d.vif).await?;
    }
    Ok(())
}

/// `brouter stop` on dom0.
async fn stop(backend: &mut NetlinkBackend, lab: &Lab, desired: &Desired) -> Result<(), Failure> {
    println!("\n$ brouter --netns {} --config … stop", lab.dom0.name());
    let observed = observe(backend).await?;
    let plan = plan_stop(&desired.scope, &observed);
    run_plan(backend, &plan).await
}

/// Compare dom0 after `stop` with dom0 before `start` and print the verdict.
async fn dom0_restored(backend: &mut NetlinkBackend, lab: &Lab, before: &Snapshot) -> Result<bool, Failure> {
    let after = Snapshot::take(backend, &lab.dom0.handle()).await?;
    let diff = before.diff(&after);
    let (links, addrs, routes) = before.size();
    if diff.is_empty() {
        println!(
            "\ndom0 restored: exactly as before start ({links} links, {addrs} addresses, {routes} routes, \
             ip_forward, nftables ruleset)"
        );
    } else {
        println!("\ndom0 NOT restored (- before start, + after stop):");
        for l in &diff {
            println!("  {l}");
        }
    }
    Ok(diff.is_empty())
}

/// Drop the lab and check its namespaces are gone; whether they all are.
fn delete_lab(lab: Lab, pid: u32) -> bool {
    let names = lab.names();
    drop(lab);
    let left = lab::leftovers(pid);
    if left.is_empty() {
        println!("deleted {} namespaces: {}", names.len(), names.join(", "));
    } else {
        println!("could not delete {}", left.join(", "));
    }
    left.is_empty()
}

/// Print the summary; the exit code (OK only if explain agreed on every flow and
/// `clean`: dom0 restored and every namespace deleted).
fn summary(results: &[table::Measured], clean: bool) -> u8 {
    let disagreements = results.iter().filter(|m| !m.agrees()).count();
    let allowed = results.iter().filter(|m| m.allowed()).count();
    println!(
        "\nsummary: {allowed} of {} flows allowed, {} blocked; explain agreed on {} of {}",
        results.len(),
        results.len() - allowed,
        results.len() - disagreements,
        results.len()
    );
    if clean && disagreements == 0 {
        OK
    } else {
        FAILED
    }
}

async fn observe(backend: &mut NetlinkBackend) -> Result<brouter_engine::Observed, Failure> {
    backend
        .observe()
        .await
        .map_err(|e| Failure::op(format!("cannot read dom0's state: {e}")))
}

/// Apply a plan and print its steps, as `brouter start`/`stop` do.
async fn run_plan(backend: &mut NetlinkBackend, plan: &Plan) -> Result<(), Failure> {
    apply(backend, plan)
        .await
        .map_err(|e| Failure::op(e.to_string()))?;
    println!("applied {} steps:", plan.len());
    for (i, op) in plan.ops.iter().enumerate() {
        println!("  {:>2}. {op}", i + 1);
    }
    Ok(())
}

/// Run blocking work (probes wait for deadlines) on its own OS thread, so the runtime
/// keeps serving Ctrl-C meanwhile, and so an interrupted run does not wait for it.
pub(crate) async fn off_thread<R, F>(f: F) -> Result<R, Failure>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.await
        .map_err(|_| Failure::op("demo: a worker thread panicked"))
}

/// A file that is removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn write(name: &str, text: &str) -> Result<TempFile, Failure> {
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, text)
            .map_err(|e| Failure::op(format!("demo: write {}: {e}", path.display())))?;
        Ok(TempFile(path))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// brouter's memory for the demo's dom0 (`/run/brouter/<netns-id>/`): `stop` empties it,
/// but an interrupted run would leave it behind, and its namespace id is never reused.
struct RemoveDir(Option<PathBuf>);

fn brouter_memory_guard(backend: &NetlinkBackend) -> RemoveDir {
    RemoveDir(backend.memory().path().parent().map(PathBuf::from))
}

impl Drop for RemoveDir {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
