//! Xen vif hotplug (`brouter vif online|offline`), decided here, applied by a backend.
//!
//! Mirrors what Xen's `vif-bridge` does that users rely on — rename to the `vifname`,
//! MAC `fe:ff:ff:ff:ff:ff` (the domU owns the real one), addresses flushed, MTU from
//! xenstore or the bridge, attach, up — and resolves the bridge the way brouter's users
//! expect: `$bridge`, else xenstore, else the configured host with that MAC or vif name,
//! else the only network, else the only bridge brouter made; never a guess among several.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::firewall::Binding;
use crate::model::Observed;
use crate::plan::{Op, Plan};

mod checks;
#[cfg(test)]
mod tests;

/// The MAC vif-bridge gives the dom0 end of a vif, so the bridge never takes the domU's.
pub const VIF_MAC: &str = "fe:ff:ff:ff:ff:ff";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VifAction {
    /// The domU's interface appears (`online` for PV vifs, `add` for emulated taps).
    Online,
    /// It goes away (`offline` / `remove`).
    Offline,
}

/// Everything Xen told brouter about one vif (environment, xenstore, flags).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VifRequest {
    /// The device as it exists now (`$vif`, or `$INTERFACE` for taps).
    pub device: String,
    /// xenstore `vifname`: the name the admin wants for it.
    pub rename_to: Option<String>,
    /// `$bridge` or xenstore `bridge`.
    pub bridge: Option<String>,
    /// The domU's MAC (xenstore `mac`).
    pub mac: Option<String>,
    /// The domU's IPv4 host addresses (xenstore `ip`, else `$ip`), for anti-spoofing.
    pub ips: Vec<Ipv4Addr>,
    /// The other entries of xenstore `ip`: IPv4 prefixes wider than one address, and
    /// IPv6 addresses or prefixes. Xen's `ip` means networks, not just addresses: IPv4
    /// ones are checked against the network; all are bound like `ips`.
    #[serde(default)]
    pub prefixes: Vec<ipnet::IpNet>,
    /// xenstore `mtu`.
    pub mtu: Option<u32>,
}

/// What `vif online` decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VifPlan {
    /// The device's name once renamed.
    pub device: String,
    pub bridge: Option<String>,
    /// The configured host this vif belongs to, if one matched.
    pub host: Option<String>,
    /// The MTU the vif runs at (xenstore's, else the bridge's): vif-bridge tells the
    /// domU through its frontend's `mtu` key, and so does the hook.
    #[serde(default)]
    pub mtu: Option<u32>,
    pub plan: Plan,
    /// What the admin should know though nothing failed (the hook prints each on
    /// stderr): e.g. a vif bound to its MAC alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum VifError {
    #[error("vif {0} does not exist (Xen names it in $vif, or $INTERFACE for emulated NICs)")]
    NoDevice(String),
    #[error("bridge={0} does not exist: run `brouter start` before starting domUs (a boot unit should), or name one of brouter's bridges in the vif spec")]
    NoBridge(String),
    #[error("{0} is not a bridge; set bridge= in the vif spec to one of brouter's bridges")]
    NotABridge(String),
    #[error("no bridge named and none found: set bridge= in the vif spec or run `brouter start` first")]
    NoBridgeAtAll,
    #[error("cannot rename {from} to {to}: a link named {to} already exists")]
    NameTaken { from: String, to: String },
    #[error("network {network} does anti-spoofing, which needs the domU's MAC for {vif}: xl puts it in xenstore (`mac`); pass --mac without Xen")]
    NoMac { network: String, vif: String },
    #[error("no bridge named for {vif} and {} to choose from ({}): set bridge= in the vif spec (or pass --bridge)", if .choices.is_empty() { "none" } else { "several" }, if .choices.is_empty() { "run `brouter start` first".to_string() } else { .choices.join(", ") })]
    WhichBridge { vif: String, choices: Vec<String> },
    #[error("mac={mac} is not declared for network {network}, which does anti-spoofing: add a [[host]] with network = \"{network}\" and mac = \"{mac}\" (and its addresses) to the config, then run `brouter start`")]
    UnknownMac { network: String, mac: String },
    #[error("mac={mac} is declared by [[host]] {host} for network {declared}, not {network}: attach it to {declared}'s bridge {declared_bridge}, or change that [[host]]'s network to \"{network}\"")]
    MisplacedMac {
        mac: String,
        host: String,
        declared: String,
        declared_bridge: String,
        network: String,
    },
    #[error("ip={value} is outside network {network} ({subnet}) that bridge {bridge} carries: give the domU an address in {subnet} (the ip= of the vif spec), or put the vif on the bridge of the network {value} belongs to")]
    IpOutsideNetwork {
        value: String,
        network: String,
        subnet: String,
        bridge: String,
    },
    #[error("vif={vif} is the uplink ([uplink] interface = \"{vif}\"), not a domU's vif: attaching it would flush its addresses and cut the host off; a vif spec names the domU's backend device (vifname=), never the uplink")]
    IsUplink { vif: String },
    #[error("bridge=xenbr0 is xl's default and no network uses it, and {why}: name the bridge in the vif spec (bridge=…), or declare the MAC in a [[host]]")]
    DefaultBridge { why: String },
    /// The interface is not a domU's, or would clash with one already bound.
    #[error(transparent)]
    Refused(#[from] crate::vif_refuse::Refusal),
}

impl VifError {
    /// Whether the request itself is wrong (exit 2: the config or the vif spec must
    /// change) rather than the system not being ready (exit 1).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            VifError::WhichBridge { .. }
                | VifError::UnknownMac { .. }
                | VifError::MisplacedMac { .. }
                | VifError::IpOutsideNetwork { .. }
                | VifError::IsUplink { .. }
                | VifError::DefaultBridge { .. }
                | VifError::Refused(_)
        )
    }
}

/// The links a hotplug plan looks at, when they can be named before looking at the
/// kernel: the device, the name it is renamed to, and (online) its bridge. A caller may
/// then observe just those ([`crate::NetBackend::observe_links`]) and plan from that, at
/// a cost that does not grow with the number of vifs. `None` when the plan must see
/// every link: online with no `$bridge`, no matching host and not exactly one network,
/// where the bridge is the only one brouter made (or refused if it made several).
pub fn vif_links(config: Option<&Config>, req: &VifRequest, action: VifAction) -> Option<Vec<String>> {
    let mut names = vec![req.device.clone()];
    if let Some(to) = req.rename_to.as_ref().filter(|to| **to != req.device) {
        names.push(to.clone());
    }
    if action == VifAction::Online {
        let name = names.last().expect("the device").clone();
        match named_bridge(config, req, find_host(config, req, &name)) {
            Ok(Some(bridge)) => names.push(bridge),
            Ok(None) => return None,
            // The plan reports the error; it needs no bridge to do so.
            Err(_) => {}
        }
    }
    Some(names)
}

/// The configured host this vif is: by its (new) name, or by the domU's MAC.
fn find_host<'a>(
    config: Option<&'a Config>,
    req: &VifRequest,
    name: &str,
) -> Option<&'a crate::config::Host> {
    let mac = req.mac.as_deref().map(str::to_lowercase);
    config?
        .hosts
        .iter()
        .find(|h| h.vif.as_deref() == Some(name) || (mac.is_some() && h.mac.as_deref() == mac.as_deref()))
}

/// The bridge the vif goes to when something names it: `$bridge`/xenstore, else the
/// matched host's network, else the only network. `Ok(None)`: nothing names one, so it
/// is the first bridge in the kernel.
fn named_bridge(
    config: Option<&Config>,
    req: &VifRequest,
    host: Option<&crate::config::Host>,
) -> Result<Option<String>, VifError> {
    if let Some(network) = checks::default_bridge_network(config, req, host)? {
        return Ok(Some(network));
    }
    match (&req.bridge, host, config) {
        (Some(b), _, _) => Ok(Some(b.clone())),
        (None, Some(h), Some(c)) => c
            .network(&h.network)
            .map(|n| Some(n.bridge.clone()))
            .ok_or(VifError::NoBridgeAtAll),
        (None, None, Some(c)) if c.networks.len() == 1 => Ok(Some(c.networks[0].bridge.clone())),
        _ => Ok(None),
    }
}

/// Plan `vif online`. `observed` may be a narrow observation of the links
/// [`vif_links`] names (when it names any): only those are looked up.
pub fn plan_vif_online(
    config: Option<&Config>,
    observed: &Observed,
    req: &VifRequest,
) -> Result<VifPlan, VifError> {
    checks::not_the_uplink(config, req)?;
    let link = observed
        .link(&req.device)
        .ok_or_else(|| VifError::NoDevice(req.device.clone()))?;
    let mut ops = Vec::new();
    let (name, up) = rename(&mut ops, observed, req, link.up)?;
    let host = find_host(config, req, &name);
    let (bridge, br) = target_bridge(config, observed, req, host)?;
    checks::ips_inside_network(config, req, &bridge)?;
    let mtu = req.mtu.or(br.mtu);
    crate::vif_refuse::check(config, observed, link, &bridge, req.mac.as_deref())?;
    prepare(&mut ops, observed, req, link, &name, br, &bridge);
    // Anti-spoofing: bind before the vif joins the bridge (and so before it comes up), so
    // its first frame is judged even when it was up already.
    let mut warnings = Vec::new();
    if let Some(mut b) = antispoof_binding(config, req, host, &bridge, &name, &mut warnings)? {
        crate::dhcp_lease::keep_lease(&mut b, config, observed);
        if !observed.bindings.contains(&b) {
            ops.push(Op::AddBinding { binding: b.clone() });
        }
        crate::binding_memory::remember_binding(&mut ops, observed, &b);
    }
    if link.master.as_deref() != Some(bridge.as_str()) {
        ops.push(Op::SetMaster {
            link: name.clone(),
            master: Some(bridge.clone()),
        });
    }
    if !up {
        ops.push(Op::SetUp {
            link: name.clone(),
            up: true,
        });
    }
    // Bound, attached, up: a port `start` disabled while it was unbound forwards again.
    crate::port_block::reopen_on_online(&mut ops, observed, link, &name, &bridge, !up);
    Ok(VifPlan {
        device: name,
        bridge: Some(bridge),
        host: host.map(|h| h.name.clone()),
        mtu,
        plan: Plan { ops },
        warnings,
    })
}

/// Rename the device to its `vifname` (taking it down first: the kernel renames only a
/// down link), unless the name is taken. Its name afterwards, and whether it is up.
fn rename(
    ops: &mut Vec<Op>,
    observed: &Observed,
    req: &VifRequest,
    up: bool,
) -> Result<(String, bool), VifError> {
    let Some(to) = req.rename_to.as_ref().filter(|to| **to != req.device) else {
        return Ok((req.device.clone(), up));
    };
    if observed.link(to).is_some() {
        return Err(VifError::NameTaken {
            from: req.device.clone(),
            to: to.clone(),
        });
    }
    if up {
        ops.push(Op::SetUp {
            link: req.device.clone(),
            up: false,
        });
    }
    ops.push(Op::RenameLink {
        link: req.device.clone(),
        new_name: to.clone(),
    });
    Ok((to.clone(), false))
}

/// The bridge the vif goes to ([`named_bridge`], else the only bridge brouter made —
/// or, when it made none, the only bridge there is), which must exist and be a bridge.
/// With several to choose from it refuses, naming them: guessing put VMs in the wrong
/// zone.
fn target_bridge<'o>(
    config: Option<&Config>,
    observed: &'o Observed,
    req: &VifRequest,
    host: Option<&crate::config::Host>,
) -> Result<(String, &'o crate::Link), VifError> {
    let bridge = match named_bridge(config, req, host)? {
        Some(b) => b,
        None => {
            if let Some(c) = config.filter(|c| c.networks.len() > 1) {
                return Err(VifError::WhichBridge {
                    vif: req.device.clone(),
                    choices: c.networks.iter().map(|n| n.bridge.clone()).collect(),
                });
            }
            let bridges: Vec<&crate::Link> = observed.links.iter().filter(|l| l.is_bridge()).collect();
            let owned: Vec<&crate::Link> = bridges.iter().copied().filter(|l| l.owner().is_some()).collect();
            let mut choices: Vec<String> = match owned.is_empty() {
                true => bridges.iter().map(|l| l.name.clone()).collect(),
                false => owned.iter().map(|l| l.name.clone()).collect(),
            };
            choices.sort();
            match choices.len() {
                0 => return Err(VifError::NoBridgeAtAll),
                1 => choices.remove(0),
                _ => {
                    return Err(VifError::WhichBridge {
                        vif: req.device.clone(),
                        choices,
                    })
                }
            }
        }
    };
    let br = observed.link(&bridge).ok_or_else(|| {
        if checks::is_default_bridge(config, req) {
            checks::default_bridge_missing(req)
        } else {
            VifError::NoBridge(bridge.clone())
        }
    })?;
    if !br.is_bridge() {
        return Err(VifError::NotABridge(bridge));
    }
    Ok((bridge, br))
}

/// What vif-bridge does before the vif joins `bridge`: the dom0 MAC [`VIF_MAC`], the MTU
/// (xenstore's, else the bridge's), no addresses.
fn prepare(
    ops: &mut Vec<Op>,
    observed: &Observed,
    req: &VifRequest,
    link: &crate::Link,
    name: &str,
    br: &crate::Link,
    bridge: &str,
) {
    if link.mac.as_deref() != Some(VIF_MAC) {
        ops.push(Op::SetMac {
            link: name.to_string(),
            mac: VIF_MAC.into(),
        });
    }
    let mtu = req.mtu.or(br.mtu);
    if let Some(mtu) = mtu.filter(|m| link.mtu != Some(*m)) {
        ops.push(Op::SetMtu {
            link: name.to_string(),
            mtu,
        });
    }
    for a in observed.addresses.iter().filter(|a| a.link == req.device) {
        ops.push(Op::DeleteAddress {
            link: name.to_string(),
            addr: a.addr,
        });
    }
    // IPv6 too, as vif-bridge's `ip address flush` does, when the vif joins the bridge
    // (a re-run on an attached vif leaves the link-local address the kernel gave it).
    if link.master.as_deref() != Some(bridge) {
        ops.push(Op::FlushIpv6 {
            link: name.to_string(),
        });
    }
}

/// The anti-spoofing binding of the vif when `bridge`'s network does anti-spoofing, with
/// Xen's meaning of `ip`: the domU's MAC (xenstore's, else the host's; required) and
/// * the addresses of the `[[host]]` of this network that declares the MAC, if any;
/// * else what `ip=` gives: addresses and prefixes of both families;
/// * else, for a MAC no `[[host]]` declares, the MAC alone: any address from it passes
///   (as Xen's vif-bridge allows everything without `ip`), with a warning.
///
/// A network whose `[[host]]`s declare MACs is a closed list: a MAC none of them declares
/// is refused, as is one declared for another network ([`check_declared`]).
/// Sorted as backends read them back, so an unchanged one compares equal.
fn antispoof_binding(
    config: Option<&Config>,
    req: &VifRequest,
    host: Option<&crate::config::Host>,
    bridge: &str,
    name: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<Binding>, VifError> {
    let Some(c) = config else {
        return Ok(None);
    };
    let rs = crate::firewall::compile(c);
    let Some(net) = rs.network_by_bridge(bridge).filter(|n| n.antispoof) else {
        return Ok(None);
    };
    let mac = req
        .mac
        .clone()
        .or_else(|| host.and_then(|h| h.mac.clone()))
        .ok_or_else(|| VifError::NoMac {
            network: net.name.clone(),
            vif: name.to_string(),
        })?;
    check_declared(c, &net.name, &mac)?;
    let Some(mut b) = crate::firewall::binding_for(&rs, bridge, name, &mac) else {
        return Ok(None);
    };
    // A declared host's SLAAC address (dual-stack networks) does not pin its IPv4 side.
    let no_v4 = |b: &Binding| !b.addrs.iter().any(|a| matches!(a, ipnet::IpNet::V4(_)));
    if no_v4(&b) {
        b.addrs.extend(
            req.ips
                .iter()
                .map(|a| ipnet::IpNet::from(std::net::IpAddr::V4(*a)))
                .chain(req.prefixes.iter().copied()),
        );
    }
    if no_v4(&b) && net.dhcp {
        // Its address comes from its DHCP lease: until dnsmasq leases one, only its DHCP
        // discover passes (see `crate::dhcp_lease`).
    } else if no_v4(&b) && !crate::firewall::declares(&rs, bridge, &mac) {
        b.addrs = Binding::any();
        warnings.push(format!(
            "{name}: mac={} is declared by no [[host]] and Xen gave no ip=: bound to its MAC alone, so any address from it passes (as with Xen's vif-bridge); set ip= in the vif spec or declare a [[host]] to bind its addresses",
            b.mac
        ));
    }
    Binding::normalise(&mut b.addrs);
    Ok(Some(b))
}

/// Refuse `mac` on antispoof network `network` when a `[[host]]` declares it for another
/// network, or when the network's `[[host]]`s declare MACs and none is `mac`; name the
/// entry that would fix it. A network no `[[host]]` declares a MAC for (always so in Xen
/// mode) takes any MAC, with Xen's meaning of `ip`.
fn check_declared(c: &Config, network: &str, mac: &str) -> Result<(), VifError> {
    let mac = mac.to_ascii_lowercase();
    let declared: Vec<&crate::config::Host> = c
        .hosts
        .iter()
        .filter(|h| h.mac.as_deref() == Some(mac.as_str()))
        .collect();
    if declared.iter().any(|h| h.network == network) {
        return Ok(());
    }
    let closed = c.hosts.iter().any(|h| h.network == network && h.mac.is_some());
    match declared.first() {
        None if !closed => Ok(()),
        None => Err(VifError::UnknownMac {
            network: network.to_string(),
            mac,
        }),
        Some(h) => Err(VifError::MisplacedMac {
            mac,
            host: h.name.clone(),
            declared: h.network.clone(),
            declared_bridge: c
                .network(&h.network)
                .map(|n| n.bridge.clone())
                .unwrap_or_default(),
            network: network.to_string(),
        }),
    }
}

/// Plan `vif offline`: detach from the bridge and take it down. Xen destroys the device
/// next, so a vif that is already gone is not an error. `observed` may be a narrow
/// observation of the links [`vif_links`] names.
pub fn plan_vif_offline(observed: &Observed, req: &VifRequest) -> VifPlan {
    let mut ops = Vec::new();
    let name = req
        .rename_to
        .clone()
        .filter(|n| observed.link(n).is_some())
        .unwrap_or_else(|| req.device.clone());
    let link = observed.link(&name);
    if observed.bindings.iter().any(|b| b.vif == name) {
        ops.push(Op::RemoveBinding { vif: name.clone() });
    }
    crate::binding_memory::forget_binding(&mut ops, observed, &name);
    crate::port_block::forget_on_offline(&mut ops, observed, &name);
    if let Some(l) = link {
        if l.master.is_some() {
            ops.push(Op::SetMaster {
                link: name.clone(),
                master: None,
            });
        }
        if l.up {
            ops.push(Op::SetUp {
                link: name.clone(),
                up: false,
            });
        }
    }
    VifPlan {
        device: name,
        bridge: link.and_then(|l| l.master.clone()),
        host: None,
        mtu: None,
        plan: Plan { ops },
        warnings: vec![],
    }
}
