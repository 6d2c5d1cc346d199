//! `brouter explain`: one flow walked through NAT, routing and the zone firewall, step by
//! step, the way the kernel would (the same evaluator the simulator moves packets with).

use std::net::{IpAddr, Ipv6Addr};

use brouter_engine::firewall::{self, Address, ExplainContext, Flow, FlowProto, Ruleset};
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
    let ruleset = firewall::compile(config);
    let flow = flow_of(args, &ruleset)?;
    // What the live system adds: the uplink's addresses, the vifs' bindings, disabled ports.
    let mut ctx = ExplainContext::default();
    let mut uplink_problem = None;
    if let Some(b) = backend {
        if let Ok(obs) = b.get().observe().await {
            if let Some(up) = ruleset.uplink() {
                ctx = ctx.with_uplink(&obs, up);
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

fn flow_of(args: &ExplainArgs, rs: &Ruleset) -> Result<Flow, Failure> {
    let (to, port) = split_port(&args.to)?;
    let to = match host_address(rs, &to, args.ipv6)? {
        Some(a) => Address::Ip(a),
        None => to.parse().map_err(|e: String| {
            let hosts: Vec<&str> = rs.hosts.iter().map(|h| h.name.as_str()).collect();
            match hosts.is_empty() {
                true => Failure::usage(format!("--to: {e}")),
                false => Failure::usage(format!("--to: {e}, nor a [[host]] ({})", hosts.join(", "))),
            }
        })?,
    };
    let to = match (args.ipv6, to) {
        (true, Address::Uplink) => Address::Uplink6,
        (true, Address::Ip(IpAddr::V4(a))) => {
            return Err(Failure::usage(format!(
                "--to {}: {a} is an IPv4 address, but -6 asks for an IPv6 flow",
                args.to
            )))
        }
        (_, to) => to,
    };
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
            "--to {}: a {proto} flow needs a port, e.g. 10.98.98.10:80 or [fd00:1::10]:80",
            args.to
        )));
    }
    let mut flow = match args.from.parse::<IpAddr>() {
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

/// `--to` split into its address (or name) and port: `10.1.0.10:80`, `web1:80`,
/// `[fd00:1::10]:80`; an IPv6 address without brackets has no port (`fd00:1::10`).
fn split_port(to: &str) -> Result<(String, Option<u16>), Failure> {
    let port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| Failure::usage(format!("--to {to}: {p:?} is not a port (1-65535)")))
    };
    if let Some(rest) = to.strip_prefix('[') {
        let (a, tail) = rest
            .split_once(']')
            .ok_or_else(|| Failure::usage(format!("--to {to}: no closing ']' (write [fd00:1::10]:80)")))?;
        return match tail.strip_prefix(':') {
            Some(p) => Ok((a.to_string(), Some(port(p)?))),
            None if tail.is_empty() => Ok((a.to_string(), None)),
            None => Err(Failure::usage(format!("--to {to}: write [fd00:1::10]:80"))),
        };
    }
    if to.parse::<Ipv6Addr>().is_ok() {
        return Ok((to.to_string(), None));
    }
    match to.rsplit_once(':') {
        Some((a, p)) => Ok((a.to_string(), Some(port(p)?))),
        None => Ok((to.to_string(), None)),
    }
}

/// `--to web1`: a declared host's first address (what a forward to it reaches); with
/// `-6` its first IPv6 address, else the one SLAAC gives its MAC on a dual-stack network.
/// `None`: not a host name.
fn host_address(rs: &Ruleset, name: &str, ipv6: bool) -> Result<Option<IpAddr>, Failure> {
    let Some(h) = rs.host(name) else {
        return Ok(None);
    };
    let a = match ipv6 {
        false => h.addrs.first().map(|a| IpAddr::V4(*a)),
        true => h
            .addrs6
            .first()
            .copied()
            .or_else(|| {
                let p = rs.network(&h.network)?.address6?;
                firewall::slaac_address(p, h.mac.as_deref()?)
            })
            .map(IpAddr::V6),
    };
    match (a, ipv6) {
        (Some(a), _) => Ok(Some(a)),
        (None, false) => Err(Failure::usage(format!(
            "--to {name}: host {name} has no IPv4 address"
        ))),
        (None, true) => Err(Failure::usage(format!(
            "--to {name}: host {name} has no IPv6 address (none declared, and no MAC for SLAAC on a \
             dual-stack network)"
        ))),
    }
}
