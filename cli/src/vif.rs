//! `brouter vif online|offline|add|remove`: the Xen vif hotplug hook.
//!
//! Called by xl as `<script> online type_if=vif` (PV) or `<script> add type_if=tap`
//! (emulated NIC) with the device in `$vif` / `$INTERFACE` and the rest in xenstore.
//! Success writes `hotplug-status connected`; failure writes `hotplug-error` and
//! `hotplug-status error` and exits 1, which makes xl fail the device add.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use brouter_engine::vif::{plan_vif_offline, plan_vif_online, vif_links, VifAction, VifPlan, VifRequest};
use brouter_engine::{apply, Config};

use crate::args::{Cli, VifArgs, VifCommand};
use crate::exit::{Failure, FAILED, OK};
use crate::hotplug::{self, Hotplug, TypeIf};
use crate::load::Backend;

/// `brouter vif …`: everything, config loading included, runs inside the hook's
/// reporting, so xl hears of every failure through `hotplug-error`.
pub async fn command(cli: &Cli, args: &VifArgs) -> Result<u8, Failure> {
    let (hp, words_ok) = Hotplug::from_env(&args.words);
    let online = matches!(args.action, VifCommand::Online | VifCommand::Add);
    // vif-bridge acts on online/offline for PV vifs and on add/remove for taps only.
    let relevant = match hp.type_if {
        TypeIf::Vif => matches!(args.action, VifCommand::Online | VifCommand::Offline),
        TypeIf::Tap => matches!(args.action, VifCommand::Add | VifCommand::Remove),
    };
    if words_ok.is_ok() && !relevant {
        return Ok(OK);
    }
    let outcome = match words_ok {
        Err(f) => Err(f),
        Ok(()) => attempt(cli, args, &hp, online).await,
    };
    report(&hp, args, online, cli.json, outcome)
}

/// Load the config, read the request, plan and apply it.
async fn attempt(cli: &Cli, args: &VifArgs, hp: &Hotplug, online: bool) -> Result<VifPlan, Failure> {
    // Every input is read and checked before anything changes: a bad MAC is refused,
    // not found half-way through the apply.
    let keys = hp.read()?;
    let req = request(args, hp, &keys)?;
    let config = match cli.config.as_deref() {
        Some(path) => Some(crate::load::load_config(Some(path), &[])?),
        None if std::path::Path::new(crate::load::DEFAULT_CONFIG).exists() => {
            Some(crate::load::load_config(None, &[])?)
        }
        None => None,
    };
    let mut backend = crate::run::open(cli).await?;
    let lock_path = crate::lock::path_for(cli.sim.as_deref(), cli.netns.as_deref())?;
    // Held for observe → plan → apply only: everything before (process start, config,
    // the netlink connection) runs in parallel when many domUs boot at once.
    let _lock = crate::lock::lock(&lock_path)?;
    reload_sim(&mut backend)?;
    run(config.as_ref(), &mut backend, &req, online).await
}

/// Tell xl how it went and say it. As Xen's hook (a backend path known): every failure
/// writes `hotplug-error` and `hotplug-status error` and exits 1; `online` of a PV vif
/// writes the frontend's `mtu` and `hotplug-status connected` (one `xenstore-write`,
/// which must succeed); stdout stays empty, messages go to stderr (failures only) and
/// syslog. Run by hand (no backend path): the plan's line on stdout, the usual codes.
fn report(
    hp: &Hotplug,
    args: &VifArgs,
    online: bool,
    json_out: bool,
    outcome: Result<VifPlan, Failure>,
) -> Result<u8, Failure> {
    // Warnings (e.g. a vif bound to its MAC alone) on stderr, never stdout: xl copies the
    // hook's stdout onto its own stderr for every VM start.
    if let Ok(plan) = &outcome {
        for w in &plan.warnings {
            eprintln!("brouter: warning: {w}");
            if hp.xs.is_some() {
                hotplug::syslog(false, &format!("{}: warning: {w}", hp.who(Some(&plan.device))));
            }
        }
    }
    let Some(xs) = &hp.xs else {
        let plan = outcome?;
        print_outcome(&plan, online, json_out);
        return Ok(OK);
    };
    let device = args.vif.as_deref().or(hp.device.as_deref());
    let outcome = outcome.and_then(|plan| {
        let mut pairs = Vec::new();
        if online && hp.type_if == TypeIf::Vif {
            if let (Some(key), Some(mtu)) = (hp.frontend_mtu_key(), plan.mtu) {
                pairs.push((key, mtu.to_string()));
            }
            pairs.push(("hotplug-status".to_string(), "connected".to_string()));
        }
        if !pairs.is_empty() {
            xs.write(&pairs)
                .map_err(|e| Failure::op(format!("cannot tell xl the vif is connected: {e}")))?;
        }
        Ok(plan)
    });
    match outcome {
        Ok(plan) => {
            let what = if online { "attached to" } else { "detached from" };
            let bridge = plan.bridge.as_deref().unwrap_or("no bridge");
            hotplug::syslog(false, &format!("{}: {what} {bridge}", hp.who(Some(&plan.device))));
            if json_out {
                crate::json::print_ser(&plan);
            }
            Ok(OK)
        }
        Err(f) => {
            let who = hp.who(device);
            // The message names the vif (xl shows it among all of a domain's devices).
            let message = match device {
                Some(d) if !f.message.starts_with(d) => format!("{d}: {}", f.message),
                _ => f.message.clone(),
            };
            let pairs = [
                ("hotplug-error".to_string(), message.clone()),
                ("hotplug-status".to_string(), "error".to_string()),
            ];
            let written = xs.write(&pairs);
            hotplug::syslog(true, &format!("{who}: {}", f.message));
            let message = match written {
                Ok(()) => message,
                Err(e) => format!("{message} (and xl was not told: {e})"),
            };
            Err(Failure {
                code: FAILED,
                message,
                ..f
            })
        }
    }
}

/// What Xen says about the vif: the flags first (a run by hand), then xenstore, then
/// the environment (vif-common.sh: `ip=$(xenstore_read_default "$XENBUS_PATH/ip" "$ip")`).
fn request(args: &VifArgs, hp: &Hotplug, keys: &BTreeMap<String, String>) -> Result<VifRequest, Failure> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let xs = |k: &str| keys.get(k).filter(|v| !v.is_empty()).cloned();
    let device = args.vif.clone().or_else(|| hp.device.clone()).ok_or_else(|| {
        Failure::usage("no vif named: set $vif (or $INTERFACE for type_if=tap) or pass --vif")
    })?;
    let ips_text = args
        .ip
        .clone()
        .or_else(|| xs("ip"))
        .or_else(|| env("ip"))
        .unwrap_or_default();
    let (ips, prefixes) = parse_ips(&ips_text)?;
    let mtu = match xs("mtu") {
        None => None,
        Some(m) => Some(m.parse::<u32>().ok().filter(|m| *m >= 68).ok_or_else(|| {
            Failure::usage(format!(
                "mtu={m} (xenstore) is not an MTU: a number of bytes, at least 68"
            ))
        })?),
    };
    let rename_to = xs("vifname").map(|n| match hp.type_if {
        TypeIf::Vif => n,
        // vif-common.sh: the emulated NIC of a renamed vif is `<vifname>-emu`.
        TypeIf::Tap => format!("{n}-emu"),
    });
    Ok(VifRequest {
        device,
        rename_to,
        bridge: args
            .bridge
            .clone()
            .or_else(|| xs("bridge"))
            .or_else(|| env("bridge")),
        mac: args
            .mac
            .clone()
            .or_else(|| xs("mac"))
            .map(|m| parse_mac(&m))
            .transpose()?,
        ips,
        prefixes,
        mtu,
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
            "mac={text}: not a MAC address (write it as aa:bb:cc:dd:ee:ff)"
        )));
    }
    Ok(text.trim().to_ascii_lowercase())
}

/// Xen's `ip`: space-separated addresses or prefixes of either family. IPv4 host
/// addresses (bare or /32) are bound by anti-spoofing; the rest are kept as prefixes.
fn parse_ips(text: &str) -> Result<(Vec<Ipv4Addr>, Vec<ipnet::IpNet>), Failure> {
    let mut ips = Vec::new();
    let mut prefixes = Vec::new();
    for w in text.split_whitespace() {
        let net = match w.parse::<ipnet::IpNet>() {
            Ok(n) => n,
            Err(_) => match w.parse::<std::net::IpAddr>() {
                Ok(a) => ipnet::IpNet::from(a),
                Err(_) => {
                    return Err(Failure::usage(format!(
                        "ip={w}: not an IPv4/IPv6 address or prefix (Xen's ip= is e.g. \"10.98.98.7 10.98.98.16/28 2001:db8::7\")"
                    )))
                }
            },
        };
        match net {
            ipnet::IpNet::V4(n) if n.prefix_len() == 32 => ips.push(n.addr()),
            other => prefixes.push(other),
        }
    }
    Ok((ips, prefixes))
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
            true => Failure::usage(format!("{}: {e}", req.device)),
            false => Failure::op(format!("{}: {e}", req.device)),
        })?
    } else {
        plan_vif_offline(&obs, req)
    };
    let result = apply(backend.get(), &plan.plan).await;
    if matches!(backend, Backend::Kernel(_)) {
        // The change is committed; nf_tables' deferred free (of this unbind, or of an
        // earlier one still in its grace period) would hold up our exit.
        crate::nfnl_release::hand_off();
    }
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
