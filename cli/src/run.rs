//! `start`, `stop` and `plan`: observe, plan, (apply), report.

use brouter_engine::{apply, compile, plan_start, plan_stop, Config, Desired, Plan};
use serde_json::json;

use crate::exit::Failure;
use crate::load::{Backend, ConfigFile};

/// What a command should do with the plan it computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Start,
    Stop,
    DryRun,
}

/// Whether `summary` (a cached compile) shows the system converged; if so, report it.
/// Anything else — drift, a firewall to rewrite, an unreadable kernel — is left to
/// [`run`] with the freshly compiled configuration.
pub async fn converged(
    summary: &Desired,
    backend: &mut Backend,
    mode: Mode,
    json_out: bool,
) -> Result<bool, Failure> {
    let Ok(observed) = backend.get().observe().await else {
        return Ok(false);
    };
    match plan_start(summary, &observed) {
        Ok(plan) if plan.is_empty() => {
            report(&plan, mode, json_out);
            Ok(true)
        }
        _ => Ok(false),
    }
}

pub async fn run(
    config: &Config,
    backend: &mut Backend,
    mode: Mode,
    json_out: bool,
    file: Option<&ConfigFile>,
) -> Result<(), Failure> {
    let desired = compile(config);
    if let (Some(f), true) = (file, mode != Mode::Stop) {
        crate::cache::store(f, &desired);
    }
    let observed = backend
        .get()
        .observe()
        .await
        .map_err(|e| Failure::op(format!("cannot read the kernel state: {e}")))?;
    let plan: Plan = match mode {
        Mode::Stop => plan_stop(&desired.scope, &observed),
        Mode::Start | Mode::DryRun => {
            plan_start(&desired, &observed).map_err(|e| Failure::op(e.to_string()))?
        }
    };
    if mode != Mode::DryRun && !plan.is_empty() {
        let result = apply(backend.get(), &plan).await;
        backend.finish()?;
        if let Err(e) = result {
            return Err(Failure::op(format!(
                "{e}\n{} of {} steps were applied; run the command again once the cause is fixed",
                e.step, e.total
            )));
        }
    }
    report(&plan, mode, json_out);
    Ok(())
}

fn report(plan: &Plan, mode: Mode, json_out: bool) {
    let verb = match mode {
        Mode::Start => "started",
        Mode::Stop => "stopped",
        Mode::DryRun => "plan",
    };
    if json_out {
        let v = json!({
            "command": verb,
            "changed": mode != Mode::DryRun && !plan.is_empty(),
            "ops": plan.ops,
            "steps": plan.ops.iter().map(ToString::to_string).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
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
