//! The demo's throwaway Xen host: an "internet", a dom0 with its uplink, and domUs.
//!
//! ```text
//!  brd-<pid>-internet          brd-<pid>-dom0                      brd-<pid>-web1 …
//!  lo  198.51.100.1/32
//!  up0 192.0.2.1/24 ──veth──── eth0 192.0.2.2/24 (default via 192.0.2.1)
//!  (route 10.99.0.0/24 via     vif1.0 (down, no master) ──veth──── eth0 10.98.98.10/24
//!   192.0.2.2; none to dmz)    vif2.0 …                 ──veth──── eth0 …
//! ```
//!
//! The domUs are created after `start`, as Xen creates vifs when domains boot, and their
//! vifs are destroyed before `stop`, as Xen destroys them when domains shut down — so
//! dom0 before `start` and after `stop` can be compared exactly. Every namespace is a
//! [`LabNetns`]: dropping a [`Lab`] (also on panic or Ctrl-C) removes them all.

use brouter_lab::links::{self, Conn};
use brouter_lab::{LabNetns, NsHandle};
use ipnet::Ipv4Net;

use super::config::{
    DATA_NET, DOMUS, INTERNET_GW, INTERNET_HOST, INTERNET_IFACE, UPLINK, UPLINK_ADDR, UPLINK_PREFIX,
};
use crate::exit::Failure;

/// The prefix of every namespace the demo makes: `brd-<pid>-` (tests use `brt-`).
pub const PREFIX: &str = "brd-";

/// Every namespace of one demo run. Field order is drop order: connections first.
#[derive(Debug)]
pub struct Lab {
    dom0_conn: Conn,
    /// The booted domUs' namespaces, in [`DOMUS`] order.
    pub domus: Vec<LabNetns>,
    pub dom0: LabNetns,
    pub internet: LabNetns,
}

fn ns_name(pid: u32, role: &str) -> String {
    format!("{PREFIX}{pid}-{role}")
}

fn net(addr: std::net::Ipv4Addr, prefix: u8) -> Ipv4Net {
    Ipv4Net::new(addr, prefix).expect("prefix ≤ 32")
}

fn lab_err(e: impl std::fmt::Display) -> Failure {
    Failure::op(format!("demo lab: {e}"))
}

impl Lab {
    /// The internet and dom0 with its uplink; no domUs yet.
    pub async fn build(pid: u32) -> Result<Lab, Failure> {
        let internet = LabNetns::create(&ns_name(pid, "internet")).map_err(lab_err)?;
        let dom0 = LabNetns::create(&ns_name(pid, "dom0")).map_err(lab_err)?;
        let dom0_conn = links::connect(&dom0).await.map_err(lab_err)?;
        let inet = links::connect(&internet).await.map_err(lab_err)?;
        let (d, i) = (&dom0_conn.handle, &inet.handle);
        links::add_veth(d, UPLINK, INTERNET_IFACE, &internet, None)
            .await
            .map_err(lab_err)?;

        links::set_up(i, "lo", true).await.map_err(lab_err)?;
        links::add_address(i, "lo", net(INTERNET_HOST, 32))
            .await
            .map_err(lab_err)?;
        links::add_address(i, INTERNET_IFACE, net(INTERNET_GW, UPLINK_PREFIX))
            .await
            .map_err(lab_err)?;
        links::set_up(i, INTERNET_IFACE, true).await.map_err(lab_err)?;
        links::add_route_via(i, net(DATA_NET.0, DATA_NET.1), UPLINK_ADDR)
            .await
            .map_err(lab_err)?;

        links::set_up(d, "lo", true).await.map_err(lab_err)?;
        links::add_address(d, UPLINK, net(UPLINK_ADDR, UPLINK_PREFIX))
            .await
            .map_err(lab_err)?;
        links::set_up(d, UPLINK, true).await.map_err(lab_err)?;
        links::add_route_via(d, net(std::net::Ipv4Addr::UNSPECIFIED, 0), INTERNET_GW)
            .await
            .map_err(lab_err)?;
        Ok(Lab {
            dom0_conn,
            domus: Vec::new(),
            dom0,
            internet,
        })
    }

    /// "Boot" the domUs: each gets a namespace with a configured `eth0`, whose peer
    /// `vif<D>.0` appears in dom0 down and unattached, as Xen hands it to the hotplug hook.
    pub async fn boot_domus(&mut self, pid: u32) -> Result<(), Failure> {
        for spec in DOMUS {
            let ns = LabNetns::create(&ns_name(pid, spec.name)).map_err(lab_err)?;
            // Owned by the lab before anything else can fail, so it is cleaned up too.
            self.domus.push(ns);
            let ns = self.domus.last().expect("just pushed");
            links::add_veth(&self.dom0_conn.handle, spec.vif, "eth0", ns, Some(spec.mac))
                .await
                .map_err(lab_err)?;
            let conn = links::connect(ns).await.map_err(lab_err)?;
            let h = &conn.handle;
            links::set_up(h, "lo", true).await.map_err(lab_err)?;
            links::add_address(h, "eth0", net(spec.addr, spec.prefix))
                .await
                .map_err(lab_err)?;
            links::set_up(h, "eth0", true).await.map_err(lab_err)?;
            links::add_route_via(h, net(std::net::Ipv4Addr::UNSPECIFIED, 0), spec.gateway)
                .await
                .map_err(lab_err)?;
        }
        Ok(())
    }

    /// Destroy a domU's vif as Xen does when the domain is gone (its `eth0` goes with it).
    pub async fn destroy_vif(&self, vif: &str) -> Result<(), Failure> {
        links::delete_link(&self.dom0_conn.handle, vif)
            .await
            .map_err(lab_err)
    }

    /// The namespace of the i-th domU.
    pub fn domu(&self, i: usize) -> NsHandle {
        self.domus[i].handle()
    }

    /// The names of every namespace, for messages.
    pub fn names(&self) -> Vec<String> {
        let mut v = vec![self.internet.name().to_string(), self.dom0.name().to_string()];
        v.extend(self.domus.iter().map(|d| d.name().to_string()));
        v
    }
}

/// Names under `/run/netns` that this process made and still exist (should be none after
/// the lab is dropped).
pub fn leftovers(pid: u32) -> Vec<String> {
    brouter_lab::netns::names_with_prefix(&format!("{PREFIX}{pid}-"))
}
