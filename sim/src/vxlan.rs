//! VXLAN devices in the simulated kernel: made on an underlay that must exist, with the
//! underlay's MTU less the encapsulation, and a list of flood destinations per device
//! (the all-zero FDB entry) that `append` extends without duplicates; and brouter's
//! permanent neighbour entries, which go with their link.

use std::net::IpAddr;

use brouter_engine::backend::{check_ifname, VxlanSpec};
use brouter_engine::config::cluster::overhead;
use brouter_engine::{
    BackendError, ErrorKind, Link, LinkKind, Neighbour, ObservedVxlan, VXLAN_ALIAS_PREFIX, VXLAN_KIND,
};
use serde::{Deserialize, Serialize};

use crate::kernel::{err, Kernel};

/// What a VXLAN device was made with, and its flood destinations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimVxlan {
    pub vni: u32,
    pub local: IpAddr,
    pub underlay: String,
    pub port: u16,
    #[serde(default = "yes")]
    pub learning: bool,
    pub remotes: Vec<IpAddr>,
}

fn yes() -> bool {
    true
}

impl Kernel {
    /// `ip link add NAME type vxlan id VNI local L dev U dstport P`, down, in brouter's
    /// link group and marked.
    pub fn create_vxlan(&mut self, spec: &VxlanSpec<'_>) -> Result<(), BackendError> {
        check_ifname(spec.name)?;
        if self.links.contains_key(spec.name) {
            return Err(err(
                ErrorKind::Exists,
                format!("link {} already exists", spec.name),
            ));
        }
        let Some(under) = self.links.get(spec.underlay) else {
            return Err(err(
                ErrorKind::NoDevice,
                format!("cannot find device \"{}\"", spec.underlay),
            ));
        };
        let mtu = under.mtu.unwrap_or(1500).saturating_sub(overhead(spec.local));
        self.owner_group.insert(spec.name.to_string());
        self.links.insert(
            spec.name.to_string(),
            Link {
                name: spec.name.to_string(),
                kind: LinkKind::Other(VXLAN_KIND.into()),
                alias: Some(format!("{VXLAN_ALIAS_PREFIX}{}", spec.network)),
                master: None,
                up: false,
                bridge: None,
                mac: None,
                mtu: Some(mtu),
                port_state: None,
                carrier: None,
            },
        );
        self.vxlans.insert(
            spec.name.to_string(),
            SimVxlan {
                vni: spec.vni,
                local: spec.local,
                underlay: spec.underlay.to_string(),
                port: spec.port,
                learning: spec.learning,
                remotes: Vec::new(),
            },
        );
        Ok(())
    }

    fn vxlan_mut(&mut self, link: &str) -> Result<&mut SimVxlan, BackendError> {
        if !self.links.contains_key(link) {
            return Err(err(ErrorKind::NoDevice, format!("cannot find device \"{link}\"")));
        }
        self.vxlans
            .get_mut(link)
            .ok_or_else(|| err(ErrorKind::Unsupported, format!("{link} has no FDB of its own")))
    }

    /// `bridge fdb append 00:00:00:00:00:00 dev LINK dst DST`: no duplicate.
    pub fn add_flood(&mut self, link: &str, dst: IpAddr) -> Result<(), BackendError> {
        let v = self.vxlan_mut(link)?;
        if !v.remotes.contains(&dst) {
            v.remotes.push(dst);
        }
        Ok(())
    }

    /// `bridge fdb del 00:00:00:00:00:00 dev LINK dst DST`: ENOENT if it is not there.
    pub fn delete_flood(&mut self, link: &str, dst: IpAddr) -> Result<(), BackendError> {
        let v = self.vxlan_mut(link)?;
        let before = v.remotes.len();
        v.remotes.retain(|d| *d != dst);
        if v.remotes.len() == before {
            return Err(err(
                ErrorKind::Other,
                format!("{link} does not flood to {dst} (ENOENT)"),
            ));
        }
        Ok(())
    }

    /// `ip neigh replace IP lladdr MAC dev LINK nud permanent proto brouter`.
    pub fn set_neighbour(&mut self, link: &str, ip: IpAddr, mac: &str) -> Result<(), BackendError> {
        if !self.links.contains_key(link) {
            return Err(err(ErrorKind::NoDevice, format!("cannot find device \"{link}\"")));
        }
        if brouter_engine::backend::mac_octets(mac).is_none() {
            return Err(err(ErrorKind::Invalid, format!("{mac} is not a MAC address")));
        }
        // A link without IPv6 (MTU below 1280) has no neighbour table for it: EINVAL.
        if ip.is_ipv6() && !self.has_ipv6(link) {
            return Err(err(ErrorKind::Invalid, format!("{link} has no IPv6")));
        }
        self.neighbours.retain(|n| !(n.link == link && n.ip == ip));
        self.neighbours.push(Neighbour {
            link: link.to_string(),
            ip,
            mac: mac.to_string(),
        });
        Ok(())
    }

    /// `ip neigh del IP dev LINK`: ENOENT when there is none.
    pub fn delete_neighbour(&mut self, link: &str, ip: IpAddr) -> Result<(), BackendError> {
        if !self.links.contains_key(link) {
            return Err(err(ErrorKind::NoDevice, format!("cannot find device \"{link}\"")));
        }
        let before = self.neighbours.len();
        self.neighbours.retain(|n| !(n.link == link && n.ip == ip));
        if self.neighbours.len() == before {
            return Err(err(
                ErrorKind::Other,
                format!("no neighbour {ip} on {link} (ENOENT)"),
            ));
        }
        Ok(())
    }

    /// The devices as a backend reports them (flood destinations sorted).
    pub fn observed_vxlans(&self) -> Vec<ObservedVxlan> {
        self.vxlans
            .iter()
            .map(|(name, v)| {
                let mut remotes = v.remotes.clone();
                remotes.sort();
                ObservedVxlan {
                    name: name.clone(),
                    vni: v.vni,
                    local: Some(v.local),
                    underlay: self.links.contains_key(&v.underlay).then(|| v.underlay.clone()),
                    port: v.port,
                    learning: v.learning,
                    remotes,
                }
            })
            .collect()
    }
}
