//! `brouter vif online|offline|add|remove`: the Xen vif hotplug hook.
//!
//! Called by xl as `<script> online type_if=vif` (PV) or `<script> add type_if=tap`
//! (emulated NIC) with the device in `$vif` / `$INTERFACE` and the rest in xenstore.
//! Success writes `hotplug-status connected`; failure writes `hotplug-error` and
//! `hotplug-status error` and exits 1, which makes xl fail the device add.

use std::net::Ipv4Addr;

use brouter_engine::vif::{plan_vif_offline, plan_vif_online, vif_links, VifAction, VifPlan, VifRequest};
use brouter_engine::{apply, Config};

use crate::args::{VifArgs, VifCommand};
use crate::exit::{Failure, OK};
use crate::load::Backend;
use crate::xenstore::Xenstore;

/// Which device type a hotplug call is about (`type_if=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TypeIf {
    Vif,
    Tap,
}

/// The hook: read the request from the words, the environment and xenstore, plan and
/// apply it under the lock, tell xl how it went (online), and report.
pub async fn vif(
    args: &VifArgs,
    config: Option<&Config>,
    backend: &mut Backend,
    lock_path: &std::path::Path,
    json_out: bool,
) -> Result<u8, Failure> {
    let type_if = type_if(&args.words)?;
    let online = matches!(args.action, VifCommand::Online | VifCommand::Add);
    // vif-bridge acts on online/offline for PV vifs and on add/remove for taps only.
    let relevant = match type_if {
        TypeIf::Vif => matches!(args.action, VifCommand::Online | VifCommand::Offline),
        TypeIf::Tap => matches!(args.action, VifCommand::Add | VifCommand::Remove),
    };
    if !relevant {
        return Ok(OK);
    }
    let xs = Xenstore::from_env();
    // Every input is read and checked before anything changes: a bad MAC is refused
    // (exit 2), not found half-way through the apply.
    let outcome = match request(args, type_if, &xs) {
        Err(f) => Err(f),
        Ok(req) => {
            // Held for observe → plan → apply only: everything before (process start,
            // config, the netlink connection) runs in parallel when many domUs boot at once.
            let _lock = crate::lock::lock(lock_path)?;
            reload_sim(backend)?;
            run(config, backend, &req, online).await
        }
    };
    match (&outcome, online) {
        (Ok(_), true) => xs.write(&[("hotplug-status", "connected")]),
        (Err(f), true) => xs.write(&[("hotplug-error", f.message.as_str()), ("hotplug-status", "error")]),
        _ => {}
    }
    print_outcome(&outcome?, online, json_out);
    Ok(OK)
}

/// The device type the `type_if=` words name (default `vif`); any other word is a
/// usage error.
fn type_if(words: &[String]) -> Result<TypeIf, Failure> {
    let mut type_if = TypeIf::Vif;
    for w in words {
        match w.split_once('=') {
            Some(("type_if", "vif")) => type_if = TypeIf::Vif,
            Some(("type_if", "tap")) => type_if = TypeIf::Tap,
            Some(("type_if", other)) => {
                return Err(Failure::usage(format!(
                    "type_if={other}: use type_if=vif or type_if=tap"
                )))
            }
            _ => {
                return Err(Failure::usage(format!(
                    "{w}: vif accepts only type_if=vif|tap words"
                )))
            }
        }
    }
    Ok(type_if)
}

/// What Xen says about the vif: the flags first, then the environment, then xenstore.
fn request(args: &VifArgs, type_if: TypeIf, xs: &Xenstore) -> Result<VifRequest, Failure> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let device = args
        .vif
        .clone()
        .or_else(|| {
            env(if type_if == TypeIf::Tap {
                "INTERFACE"
            } else {
                "vif"
            })
        })
        .ok_or_else(|| {
            Failure::usage("no vif named: set $vif (or $INTERFACE for type_if=tap) or pass --vif")
        })?;
    let ips_text = args
        .ip
        .clone()
        .or_else(|| env("ip"))
        .or_else(|| xs.read("ip"))
        .unwrap_or_default();
    let ips = parse_ips(&ips_text)?;
    Ok(VifRequest {
        device,
        rename_to: if type_if == TypeIf::Vif {
            xs.read("vifname")
        } else {
            None
        },
        bridge: args
            .bridge
            .clone()
            .or_else(|| env("bridge"))
            .or_else(|| xs.read("bridge")),
        mac: args
            .mac
            .clone()
            .or_else(|| xs.read("mac"))
            .map(|m| parse_mac(&m))
            .transpose()?,
        ips,
        mtu: xs.read("mtu").and_then(|m| m.parse().ok()),
    })
}

/// The domU's MAC, `aa:bb:cc:dd:ee:ff` (either case), lower-cased as the config keeps it.
fn parse_mac(text: &str) -> Result<String, Failure> {
    let octets: Vec<&str> = text.trim().split(':').collect();
    let ok = octets.len() == 6
        && octets
            .iter()
            .all(|o| o.len() == 2 && u8::from_str_radix(o, 16).is_ok());
    if !ok {
        return Err(Failure::usage(format!(
            "mac: {text:?} is not a MAC address (aa:bb:cc:dd:ee:ff)"
        )));
    }
    Ok(text.trim().to_ascii_lowercase())
}

/// The domU's addresses from `$ip` / xenstore `ip`: space-separated, prefixes dropped.
fn parse_ips(text: &str) -> Result<Vec<Ipv4Addr>, Failure> {
    let mut ips = Vec::new();
    for w in text.split_whitespace() {
        let ip = w.split('/').next().unwrap_or(w);
        ips.push(
            ip.parse::<Ipv4Addr>()
                .map_err(|_| Failure::usage(format!("ip: {w:?} is not an IPv4 address")))?,
        );
    }
    Ok(ips)
}

/// The plan as JSON, or one line saying where the vif went.
fn print_outcome(plan: &VifPlan, online: bool, json_out: bool) {
    crate::exit::quiet_on_closed_pipe();
    if json_out {
        crate::json::print_ser(plan);
    } else if let Some(b) = &plan.bridge {
        let what = if online { "attached to" } else { "detached from" };
        println!(
            "{} {what} {b}{}",
            plan.device,
            plan.host
                .as_ref()
                .map(|h| format!(" (host {h})"))
                .unwrap_or_default()
        );
    }
}

async fn run(
    config: Option<&Config>,
    backend: &mut Backend,
    req: &VifRequest,
    online: bool,
) -> Result<VifPlan, Failure> {
    // Only the links the plan looks at, when they can be named: the cost then does not
    // grow with the number of vifs on the host.
    let action = if online {
        VifAction::Online
    } else {
        VifAction::Offline
    };
    let observed = match vif_links(config, req, action) {
        Some(names) => backend.get().observe_links(&names).await,
        None => backend.get().observe().await,
    };
    let obs = observed.map_err(|e| Failure::op(format!("cannot read the kernel state: {e}")))?;
    // Without a config file, the network-script words `start` remembered stand in for it.
    let xen_config = match config {
        Some(_) => None,
        None => xen_config_from_memory(&obs, req.bridge.as_deref())?,
    };
    let config = config.or(xen_config.as_ref());
    let plan = if online {
        plan_vif_online(config, &obs, req).map_err(|e| match e.is_refusal() {
            true => Failure::usage(e.to_string()),
            false => Failure::op(e.to_string()),
        })?
    } else {
        plan_vif_offline(&obs, req)
    };
    let result = apply(backend.get(), &plan.plan).await;
    backend.finish()?;
    match result {
        Ok(()) => Ok(plan),
        // Xen ignores errors on remove, and the device is about to vanish anyway.
        Err(e) if !online => {
            eprintln!("brouter: vif offline {}: {e} (ignored)", req.device);
            Ok(plan)
        }
        Err(e) => Err(Failure::op(format!("vif online {}: {e}", req.device))),
    }
}

/// The simulator's state as it is now that the lock is held: another hotplug may have
/// saved it since this process loaded it.
fn reload_sim(backend: &mut Backend) -> Result<(), Failure> {
    if let Backend::Sim { backend, path } = backend {
        **backend = brouter_sim::SimBackend::load(path).map_err(|e| Failure::op(e.to_string()))?;
    }
    Ok(())
}

/// The Xen-mode configuration of the bridge the vif goes to (or of the only Xen-mode
/// bridge), rebuilt from the words `brouter start` kept in its memory.
fn xen_config_from_memory(
    obs: &brouter_engine::Observed,
    bridge: Option<&str>,
) -> Result<Option<Config>, Failure> {
    let notes: Vec<(&str, &str)> = brouter_engine::config::remembered_xen_words(&obs.memory).collect();
    let words = match bridge {
        Some(b) => notes.iter().find(|(nb, _)| *nb == b).map(|(_, w)| *w),
        None if notes.len() == 1 => Some(notes[0].1),
        None => None,
    };
    let Some(words) = words else { return Ok(None) };
    let words: Vec<&str> = words.split_whitespace().collect();
    brouter_engine::config::from_xen_words(&words)
        .map(Some)
        .map_err(|e| Failure::op(format!("brouter's memory holds bad network-script words: {e}")))
}
