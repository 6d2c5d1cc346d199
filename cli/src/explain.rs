//! `brouter explain`: one flow walked through NAT, routing and the zone firewall, step by
//! step, the way the kernel would (the same evaluator the simulator moves packets with).

use std::net::Ipv4Addr;

use brouter_engine::firewall::{self, Address, ExplainContext, Flow, FlowProto};
use brouter_engine::Config;

use crate::args::ExplainArgs;
use crate::exit::Failure;
use crate::load::Backend;

pub async fn explain(
    config: &Config,
    args: &ExplainArgs,
    backend: Option<&mut Backend>,
    json_out: bool,
) -> Result<u8, Failure> {
    let flow = flow_of(args, config)?;
    let ruleset = firewall::compile(config);
    // What the live system adds: the uplink's address, the vifs' bindings, disabled ports.
    let mut ctx = ExplainContext::default();
    let mut uplink_problem = None;
    if let Some(b) = backend {
        if let Ok(obs) = b.get().observe().await {
            if let Some(up) = ruleset.uplink() {
                ctx.uplink_address = obs.addresses.iter().find(|a| a.link == up).map(|a| a.addr.addr());
            }
            uplink_problem = brouter_engine::health::uplink_problem(ruleset.uplink(), &obs);
            let live = ExplainContext::from_observed(&obs);
            ctx.bindings = live.bindings;
            ctx.disabled_ports = live.disabled_ports;
        }
    }
    let trace = firewall::explain_live(&ruleset, &ctx, &flow, uplink_problem.as_deref())
        .map_err(|e| Failure::usage(format!("explain: {e}")))?;
    if json_out {
        crate::json::print_ser(&trace);
    } else {
        println!("{}", trace.to_string().trim_end());
    }
    Ok(crate::exit::OK)
}

fn flow_of(args: &ExplainArgs, config: &Config) -> Result<Flow, Failure> {
    let (to, port) = match args.to.rsplit_once(':') {
        Some((a, p)) => {
            let port = p
                .parse::<u16>()
                .map_err(|_| Failure::usage(format!("--to {}: {p:?} is not a port (1-65535)", args.to)))?;
            (a.to_string(), Some(port))
        }
        None => (args.to.clone(), None),
    };
    let to = host_address(config, &to).unwrap_or(to);
    let to: Address = to.parse().map_err(|e: String| {
        let hosts: Vec<&str> = config.hosts.iter().map(|h| h.name.as_str()).collect();
        match hosts.is_empty() {
            true => Failure::usage(format!("--to: {e}")),
            false => Failure::usage(format!("--to: {e}, nor a [[host]] ({})", hosts.join(", "))),
        }
    })?;
    let proto = match args.proto.to_ascii_lowercase().as_str() {
        "tcp" => FlowProto::Tcp,
        "udp" => FlowProto::Udp,
        "icmp" => FlowProto::Icmp,
        "arp" => FlowProto::Arp,
        _ => {
            return Err(Failure::usage(format!(
                "--proto {}: use tcp, udp, icmp or arp",
                args.proto
            )))
        }
    };
    if matches!(proto, FlowProto::Tcp | FlowProto::Udp) && port.is_none() {
        return Err(Failure::usage(format!(
            "--to {}: a {proto} flow needs a port, e.g. 10.98.98.10:80",
            args.to
        )));
    }
    let mut flow = match args.from.parse::<Ipv4Addr>() {
        Ok(src) => Flow {
            from: None,
            ..Flow::new("", to, proto, port)
        }
        .with_src(src),
        Err(_) => Flow::new(&args.from, to, proto, port),
    };
    if let Some(h) = &args.host {
        flow = flow.with_host(h);
    }
    if let Some(v) = &args.vif {
        flow = flow.with_vif(v);
    }
    if let Some(m) = &args.mac {
        flow = flow.with_mac(m);
    }
    Ok(flow)
}

/// `--to web1`: a declared host's first address (what a forward to it reaches).
fn host_address(config: &Config, name: &str) -> Option<String> {
    let h = config.hosts.iter().find(|h| h.name == name)?;
    h.addresses.first().map(ToString::to_string)
}
