//! The seam between deciding and doing.
//!
//! `NetBackend` is deliberately small and kernel-shaped: each method is one thing the
//! kernel can be asked to do, with the kernel's failure modes. No method decides
//! anything; the planner already did. Two implementations exist: `SimBackend` (memory)
//! and `NetlinkBackend` (rtnetlink + nftables).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use async_trait::async_trait;
use ipnet::{Ipv4Net, Ipv6Net};

use crate::plan::{FirewallDelta, SetDelta, StaleFlow};

use crate::error::BackendError;
use crate::firewall::{Binding, Ruleset};
use crate::model::{BridgeOptions, FirewallCounters, HostFacts, Observed, PortState};

pub type BackendResult<T> = Result<T, BackendError>;

/// What a VXLAN device is made with (one [`crate::plan::Op::CreateVxlan`]).
#[derive(Debug, Clone, Copy)]
pub struct VxlanSpec<'a> {
    pub name: &'a str,
    /// Marked on the device as `brouter-vxlan:<network>` (its ownership).
    pub network: &'a str,
    pub vni: u32,
    pub local: std::net::IpAddr,
    pub underlay: &'a str,
    pub port: u16,
    /// Data-plane learning of remote MACs (static control); off under EVPN, where FRR
    /// writes them.
    pub learning: bool,
}

#[async_trait]
pub trait NetBackend: Send {
    /// Links, addresses and routes (main table), the managed sysctls, brouter's memory
    /// and the fingerprint of brouter's firewall tables.
    async fn observe(&mut self) -> BackendResult<Observed>;

    /// Only what one vif hotplug reads, however many other links and vifs the host has:
    /// the links named in `names` (a name that does not exist is simply absent), the IPv4
    /// addresses on them, the anti-spoofing bindings of those links, and brouter's memory.
    /// Routes, sysctls and the firewall fingerprint are not read (see
    /// [`Observed::restricted_to`]), so a plan made from the answer may look up only the
    /// names it asked for ([`crate::vif::vif_links`] says which those are). A link's
    /// `master` is still reported by name. This default observes everything and keeps the
    /// named part; a kernel backend should ask the kernel for just those objects.
    async fn observe_links(&mut self, names: &[String]) -> BackendResult<Observed> {
        Ok(self.observe().await?.restricted_to(names))
    }

    /// Create a bridge, *down*, marked `brouter:<network>` in its `ifalias`, its IPv6
    /// link-local address usable as soon as it comes up (no duplicate address detection:
    /// it answers the VMs' router solicitations at their boot).
    async fn create_bridge(&mut self, name: &str, network: &str, options: BridgeOptions)
        -> BackendResult<()>;
    /// Delete a link. The kernel releases its ports and drops its addresses and routes.
    async fn delete_link(&mut self, name: &str) -> BackendResult<()>;
    /// Attach `link` to bridge `master`, or detach it (`None`).
    async fn set_master(&mut self, link: &str, master: Option<&str>) -> BackendResult<()>;
    /// Set a link administratively up or down. Down drops the IPv4 routes through it.
    async fn set_up(&mut self, link: &str, up: bool) -> BackendResult<()>;
    /// Add an address stamped as brouter's, without the kernel's implicit prefix route
    /// (brouter owns the network route itself).
    async fn add_address(&mut self, link: &str, addr: Ipv4Net) -> BackendResult<()>;
    async fn delete_address(&mut self, link: &str, addr: Ipv4Net) -> BackendResult<()>;
    /// Add an IPv6 address stamped as brouter's, without duplicate address detection (so
    /// it serves at once); the kernel adds its prefix route and removes it with it.
    async fn add_address6(&mut self, link: &str, addr: Ipv6Net) -> BackendResult<()> {
        let _ = (link, addr);
        Err(unsupported("add an IPv6 address"))
    }
    async fn delete_address6(&mut self, link: &str, addr: Ipv6Net) -> BackendResult<()> {
        let _ = (link, addr);
        Err(unsupported("delete an IPv6 address"))
    }
    /// Add a link-scope route `dst dev <dev>` stamped with brouter's protocol.
    async fn add_route(&mut self, dst: Ipv4Net, dev: &str) -> BackendResult<()>;
    async fn delete_route(&mut self, dst: Ipv4Net, dev: &str) -> BackendResult<()>;
    /// The values of those of `keys` that exist, for sysctls a configuration wants that
    /// `observe` does not read by itself (IPv6 forwarding, an uplink's `accept_ra`): the
    /// planner must see their values before it first changes them, to remember them for
    /// `stop`. Backends without sysctls report none.
    async fn read_sysctls(&mut self, keys: &[String]) -> BackendResult<BTreeMap<String, String>> {
        let _ = keys;
        Ok(BTreeMap::new())
    }
    /// Write a sysctl (`net.ipv4.ip_forward`) of the target namespace.
    async fn set_sysctl(&mut self, key: &str, value: &str) -> BackendResult<()>;
    /// Persist a value brouter must restore later (`/run/brouter/<netns>/…`).
    async fn remember(&mut self, key: &str, value: &str) -> BackendResult<()>;
    async fn forget(&mut self, key: &str) -> BackendResult<()>;
    /// Replace brouter's firewall tables in one transaction (created if missing).
    async fn replace_firewall(&mut self, ruleset: &Ruleset) -> BackendResult<()>;
    /// Delete brouter's firewall tables; nothing else.
    async fn delete_firewall(&mut self) -> BackendResult<()>;

    /// Read brouter's tables back and name every difference from what it installs for
    /// `ruleset` (chains, rules, sets, map elements; not the anti-spoofing bindings' elements,
    /// which the engine compares with the bindings it remembers), one line each. A backend
    /// that cannot read its tables back reports none.
    async fn firewall_drift(&mut self, ruleset: &Ruleset) -> BackendResult<Vec<String>> {
        let _ = ruleset;
        Ok(vec![])
    }

    /// A digest of brouter's tables — as they are (`None`), or as `ruleset` installs them —
    /// leaving out the bindings' elements: equal digests prove the tables hold what brouter
    /// installed, so a converged `start` can trust the fingerprint without the ruleset in
    /// hand. `None` when the backend cannot tell (then nothing is proven).
    async fn firewall_digest(&mut self, ruleset: Option<&Ruleset>) -> BackendResult<Option<u64>> {
        let _ = ruleset;
        Ok(None)
    }

    /// Start reading brouter's tables back in the background (a thread of its own), for
    /// the next read-back ([`Self::firewall_digest`] of the tables as they are,
    /// [`Self::firewall_delta`], [`Self::firewall_drift`]) to take, unless brouter writes
    /// its tables first: `start` and `status` call it before `observe`, so the two reads
    /// overlap. Backends that read cheaply do nothing.
    async fn prefetch_firewall(&mut self) {}

    /// Foreign facts for `status`'s warnings (other firewalls, br_netfilter). Backends
    /// that cannot know report nothing.
    async fn host_facts(&mut self) -> BackendResult<HostFacts> {
        Ok(HostFacts::default())
    }

    /// The counters of brouter's firewall (forwards, policy hits, logged drops) for
    /// `status`. A backend may answer from the dump its last read-back of the tables made
    /// ([`Self::firewall_delta`], [`Self::firewall_drift`], [`Self::firewall_digest`]), if
    /// it has not written them since. Backends without counters (the simulator) report
    /// none.
    async fn firewall_counters(&mut self) -> BackendResult<FirewallCounters> {
        Ok(FirewallCounters::default())
    }

    /// Rename a (down) link: Xen's `vifname` on `vif online`.
    async fn rename_link(&mut self, link: &str, new_name: &str) -> BackendResult<()> {
        let _ = (link, new_name);
        Err(unsupported("rename_link"))
    }
    /// Create a cluster network's VXLAN device (see [`crate::plan::Op::CreateVxlan`]).
    async fn create_vxlan(&mut self, spec: &VxlanSpec<'_>) -> BackendResult<()> {
        let _ = spec;
        Err(unsupported("VXLAN devices"))
    }

    /// Append an all-zero FDB entry sending `link`'s flooded frames to `dst`.
    async fn add_flood(&mut self, link: &str, dst: std::net::IpAddr) -> BackendResult<()> {
        let _ = (link, dst);
        Err(unsupported("VXLAN flood entries"))
    }

    /// Delete that entry.
    async fn delete_flood(&mut self, link: &str, dst: std::net::IpAddr) -> BackendResult<()> {
        let _ = (link, dst);
        Err(unsupported("VXLAN flood entries"))
    }

    /// Add or replace a permanent neighbour entry stamped as brouter's.
    async fn set_neighbour(&mut self, link: &str, ip: std::net::IpAddr, mac: &str) -> BackendResult<()> {
        let _ = (link, ip, mac);
        Err(unsupported("neighbour entries"))
    }

    /// Delete the neighbour entry for `ip` on `link`.
    async fn delete_neighbour(&mut self, link: &str, ip: std::net::IpAddr) -> BackendResult<()> {
        let _ = (link, ip);
        Err(unsupported("neighbour entries"))
    }

    /// Set a link's hardware address (a vif gets `fe:ff:ff:ff:ff:ff`, as vif-bridge does).
    async fn set_mac(&mut self, link: &str, mac: &str) -> BackendResult<()> {
        let _ = (link, mac);
        Err(unsupported("set_mac"))
    }
    /// Set a link's MTU.
    async fn set_mtu(&mut self, link: &str, mtu: u32) -> BackendResult<()> {
        let _ = (link, mtu);
        Err(unsupported("set_mtu"))
    }
    /// Delete every IPv6 address of a link (vif-bridge flushes both families).
    async fn flush_ipv6(&mut self, link: &str) -> BackendResult<()> {
        let _ = link;
        Err(unsupported("flush_ipv6"))
    }

    /// Set a link's `ifalias` (brouter's mark on a bridge it made).
    async fn set_alias(&mut self, link: &str, alias: &str) -> BackendResult<()> {
        let _ = (link, alias);
        Err(unsupported("set_alias"))
    }
    /// Turn a bridge's spanning tree on or off (nothing else in the same message).
    async fn set_stp(&mut self, link: &str, stp: bool) -> BackendResult<()> {
        let _ = (link, stp);
        Err(unsupported("set_stp"))
    }
    /// Set a bridge's forward delay in seconds (nothing else in the same message).
    async fn set_forward_delay(&mut self, link: &str, seconds: u32) -> BackendResult<()> {
        let _ = (link, seconds);
        Err(unsupported("set_forward_delay"))
    }

    /// Set the STP state of `port`, a bridge port (`IFLA_BRPORT_STATE`). The kernel
    /// refuses with EBUSY while the bridge runs kernel STP, ENETDOWN when the port is down
    /// (or, for any state but `disabled`, has no carrier), EOPNOTSUPP for a link that is
    /// no bridge's port.
    async fn set_port_state(&mut self, port: &str, state: PortState) -> BackendResult<()> {
        let _ = (port, state);
        Err(unsupported("set_port_state"))
    }

    /// Replace brouter's firewall tables and re-insert the anti-spoofing bindings of the
    /// vifs that are still attached, so a re-`start` does not unbind running VMs. A
    /// backend that can should do both in one transaction; this default does them in turn.
    async fn replace_firewall_with_bindings(
        &mut self,
        ruleset: &Ruleset,
        bindings: &[Binding],
    ) -> BackendResult<()> {
        self.replace_firewall(ruleset).await?;
        for b in bindings {
            self.add_binding(b).await?;
        }
        Ok(())
    }
    /// Bind a vif to its MAC and addresses (anti-spoofing), replacing any binding it had.
    /// An element update: the tables are not rewritten.
    async fn add_binding(&mut self, binding: &Binding) -> BackendResult<()> {
        let _ = binding;
        Err(unsupported("add_binding (anti-spoofing bindings)"))
    }
    /// Forget the connection-tracking entries that `flows` now forward but the kernel
    /// still sends elsewhere: flows to one of the dom0 addresses `to` (IPv4) or `to6`
    /// (IPv6, for the flows with an `addr6`) on a forwarded port, except those already
    /// translated to the forward's target in their family, so their next packets meet the
    /// current NAT rules. One pass for all of them. The default has nothing to forget: a
    /// backend without connection tracking (the simulator NATs every packet afresh).
    async fn flush_conntrack(
        &mut self,
        to: &[Ipv4Addr],
        to6: &[Ipv6Addr],
        flows: &[StaleFlow],
    ) -> BackendResult<()> {
        let _ = (to, to6, flows);
        Ok(())
    }
    /// The read-back of brouter's tables against what `ruleset` installs, in elements
    /// ([`FirewallDelta`]): which named sets' elements to delete and add, and whether
    /// anything else (a chain, a rule, a set's type) differs. `None`: this backend cannot
    /// tell, and the planner replaces the tables when they differ.
    async fn firewall_delta(&mut self, ruleset: &Ruleset) -> BackendResult<Option<FirewallDelta>> {
        let _ = ruleset;
        Ok(None)
    }
    /// Apply element updates a [`Self::firewall_delta`] of this backend found, and stamp
    /// the tables with `fingerprint` (of `ruleset`), in one transaction.
    async fn update_firewall_elements(
        &mut self,
        fingerprint: &str,
        ruleset: &Ruleset,
        sets: &[SetDelta],
    ) -> BackendResult<()> {
        let _ = (fingerprint, ruleset, sets);
        Err(unsupported("update firewall elements"))
    }
    /// Write brouter's dnsmasq files (name → contents), creating its directory, each
    /// replaced whole (a reader never sees half a file).
    async fn write_dhcp_files(&mut self, files: &BTreeMap<String, String>) -> BackendResult<()> {
        let _ = files;
        Err(unsupported("write dnsmasq's files"))
    }
    /// Start brouter's dnsmasq in the target namespace with `options` plus the backend's
    /// own paths, ending the one brouter started before if it still runs; return once it
    /// serves (its sockets are bound), then stamp `digest` as loaded.
    async fn start_dhcp(&mut self, options: &[String], digest: &str, restart: bool) -> BackendResult<()> {
        let _ = (options, digest, restart);
        Err(unsupported("start dnsmasq"))
    }
    /// Make the running dnsmasq re-read its files (SIGHUP), then stamp `digest`.
    async fn reload_dhcp(&mut self, digest: &str) -> BackendResult<()> {
        let _ = digest;
        Err(unsupported("reload dnsmasq"))
    }
    /// End brouter's dnsmasq (waiting until it is gone) and remove its directory.
    /// Nothing to do when neither exists.
    async fn stop_dhcp(&mut self) -> BackendResult<()> {
        Err(unsupported("stop dnsmasq"))
    }

    /// Start brouter's FRR (zebra, then bgpd) in the target namespace with `config` as its
    /// `frr.conf`, ending the daemons brouter started before if they still run, then stamp
    /// `digest` as the config they hold.
    async fn start_routing(&mut self, config: &str, digest: &str) -> BackendResult<()> {
        let _ = (config, digest);
        Err(unsupported("start FRR"))
    }
    /// Run `commands` (`vtysh -c` each, in order) against the running FRR, write `config`
    /// as its `frr.conf` and stamp `digest`.
    async fn reload_routing(&mut self, config: &str, digest: &str, commands: &[String]) -> BackendResult<()> {
        let _ = (config, digest, commands);
        Err(unsupported("reconfigure FRR"))
    }
    /// End brouter's FRR (waiting until both daemons are gone) and remove its directory.
    /// Nothing to do when neither exists.
    async fn stop_routing(&mut self) -> BackendResult<()> {
        Err(unsupported("stop FRR"))
    }

    /// The BGP EVPN sessions of brouter's FRR as bgpd reports them (for `status`; not part
    /// of [`Self::observe`], which a converged `start` must keep cheap). None when it does
    /// not run.
    async fn routing_sessions(&mut self) -> BackendResult<Vec<crate::routing::Session>> {
        Ok(Vec::new())
    }

    /// Remove a vif's binding; nothing to do if it has none.
    async fn remove_binding(&mut self, vif: &str) -> BackendResult<()> {
        let _ = vif;
        Err(unsupported("remove_binding (anti-spoofing bindings)"))
    }
}

/// The six octets of a MAC address as [`NetBackend::set_mac`] receives it: six hex pairs
/// separated by colons, as `ip link` writes one (`fe:ff:ff:ff:ff:ff`). Every backend parses
/// with this one function, so the simulator and the kernel backend accept and refuse the
/// same texts.
pub fn mac_octets(mac: &str) -> Option<Vec<u8>> {
    let bytes: Vec<u8> = mac
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).ok().filter(|_| p.len() == 2))
        .collect::<Option<_>>()?;
    (bytes.len() == 6).then_some(bytes)
}

/// The longest interface name the kernel keeps (IFNAMSIZ - 1 bytes).
pub const IFNAME_MAX: usize = 15;

/// Refuse an interface name the kernel cannot hold, before asking it: over netlink the
/// kernel answers a 16-byte IFLA_IFNAME with ERANGE ("Attribute failed policy
/// validation"), which says nothing useful; ENAMETOOLONG names the problem. Every backend
/// checks with this one function, so the simulator and the kernel backend agree.
pub fn check_ifname(name: &str) -> Result<(), BackendError> {
    if name.len() > IFNAME_MAX {
        return Err(BackendError::new(
            crate::ErrorKind::NameTooLong,
            format!(
                "interface name {name:?} is {} bytes; the kernel allows at most {IFNAME_MAX}",
                name.len()
            ),
        ));
    }
    Ok(())
}

fn unsupported(what: &str) -> BackendError {
    BackendError::new(
        crate::ErrorKind::Unsupported,
        format!("this backend cannot {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::mac_octets;

    #[test]
    fn macs_parse_only_as_six_hex_pairs() {
        assert_eq!(
            mac_octets("fe:ff:ff:ff:ff:0a"),
            Some(vec![0xfe, 0xff, 0xff, 0xff, 0xff, 0x0a])
        );
        for bad in [
            "fe:ff:ff:ff:ff",
            "fe:ff:ff:ff:ff:ff:00",
            "fe:ff:ff:ff:ff:g0",
            "f:ff:ff:ff:ff:ff0",
        ] {
            assert_eq!(mac_octets(bad), None, "{bad}");
        }
    }
}
