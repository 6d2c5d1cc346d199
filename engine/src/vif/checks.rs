//! What `vif online` checks about Xen's word for a vif before it plans anything: the
//! device is not the uplink, its `ip=` lies in the network it joins, and xl's default
//! `bridge=xenbr0` is read as "the network of this MAC's `[[host]]`" when no network of
//! the config uses `xenbr0` (xl writes `xenbr0` for every vif spec without `bridge=`).

use crate::config::{Config, Host};

use super::{VifError, VifRequest};

/// The bridge xl writes when a vif spec names none.
pub const XL_DEFAULT_BRIDGE: &str = "xenbr0";

/// Whether `req` carries xl's default bridge while `config` has no network on it: then
/// the bridge says nothing about where the admin wants the vif.
pub fn is_default_bridge(config: Option<&Config>, req: &VifRequest) -> bool {
    let Some(c) = config else { return false };
    req.bridge.as_deref() == Some(XL_DEFAULT_BRIDGE)
        && !c.networks.iter().any(|n| n.bridge == XL_DEFAULT_BRIDGE)
}

/// The bridge of the matched `[[host]]`'s network when the request carries xl's default
/// bridge that no network uses; `None` when the ordinary rules apply.
pub fn default_bridge_network(
    config: Option<&Config>,
    req: &VifRequest,
    host: Option<&Host>,
) -> Result<Option<String>, VifError> {
    if !is_default_bridge(config, req) {
        return Ok(None);
    }
    let (Some(c), Some(h)) = (config, host) else {
        return Ok(None);
    };
    c.network(&h.network)
        .map(|n| Some(n.bridge.clone()))
        .ok_or(VifError::NoBridgeAtAll)
}

/// The error for xl's default bridge when it does not exist and no `[[host]]` names
/// the vif's network.
pub fn default_bridge_missing(req: &VifRequest) -> VifError {
    let why = match &req.mac {
        Some(mac) => format!("no [[host]] declares mac={mac}"),
        None => "xenstore holds no mac to look a [[host]] up by".to_string(),
    };
    VifError::DefaultBridge { why }
}

/// Refuse a request whose device (or the name it is to get) is the config's uplink.
pub fn not_the_uplink(config: Option<&Config>, req: &VifRequest) -> Result<(), VifError> {
    let Some(uplink) = config.and_then(|c| c.uplink.as_ref()) else {
        return Ok(());
    };
    let names = std::iter::once(&req.device).chain(req.rename_to.as_ref());
    for name in names {
        if *name == uplink.interface {
            return Err(VifError::IsUplink { vif: name.clone() });
        }
    }
    Ok(())
}

/// Refuse an IPv4 `ip=` entry (address or prefix) outside the subnet of the brouter
/// network on `bridge`. IPv6 entries are not checked: brouter's networks are IPv4.
pub fn ips_inside_network(config: Option<&Config>, req: &VifRequest, bridge: &str) -> Result<(), VifError> {
    let Some(net) = config.and_then(|c| c.networks.iter().find(|n| n.bridge == bridge)) else {
        return Ok(());
    };
    let outside = |value: String| VifError::IpOutsideNetwork {
        value,
        network: net.name.clone(),
        subnet: net.subnet.to_string(),
        bridge: bridge.to_string(),
    };
    for ip in &req.ips {
        if !net.subnet.contains(ip) {
            return Err(outside(ip.to_string()));
        }
    }
    for p in &req.prefixes {
        if let ipnet::IpNet::V4(p4) = p {
            if !net.subnet.contains(p4) {
                return Err(outside(p.to_string()));
            }
        }
    }
    Ok(())
}
