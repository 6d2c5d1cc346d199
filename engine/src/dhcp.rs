//! DHCP and DNS for the VMs: what brouter's dnsmasq should serve, decided here and
//! run by a backend.
//!
//! One dnsmasq per network namespace serves every `dhcp = true` network (one process
//! binding several bridges starts in half the time of one per bridge and needs a fifth
//! of the memory; FIELD-NOTES-DHCP-EVPN.md). What it serves is split by what changing it
//! costs: the *options* (bridges, pools, domains) are on its command line and need a
//! restart; the *files* (static leases for `[[host]]` MACs, the names of hosts) are
//! re-read on SIGHUP, so adding or editing a host never drops a lease or a DNS query.
//! A backend adds only the plumbing (its paths: pid file, lease file, these files), and
//! reports the options a running instance was started with, read from the process
//! itself, so a converged `start` believes what runs, not what a file says.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::config::{Config, DhcpRange, Network};

/// The file of static leases (`--dhcp-hostsfile`): one `MAC,address,name` line per host.
pub const HOSTS_FILE_DHCP: &str = "dhcp-hosts";
/// The file of names (`--addn-hosts`): `address name name.<network>` lines.
pub const HOSTS_FILE_DNS: &str = "hosts";
/// How long a lease lasts. An hour: a VM that is gone frees its pool address soon, and
/// a restart of dnsmasq keeps the leases (they are in its lease file).
pub const LEASE_TIME: &str = "1h";

/// The dnsmasq brouter wants running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredDhcp {
    /// dnsmasq options that only a restart changes, in order (no paths: those are the
    /// backend's).
    pub options: Vec<String>,
    /// The files dnsmasq re-reads on SIGHUP, by name ([`HOSTS_FILE_DHCP`],
    /// [`HOSTS_FILE_DNS`]).
    pub files: BTreeMap<String, String>,
    /// The bridges it serves, for `status`.
    pub bridges: Vec<String>,
}

impl DesiredDhcp {
    /// The digest of [`Self::files`]: what a running instance must have loaded.
    pub fn files_digest(&self) -> String {
        files_digest(&self.files)
    }
}

/// The digest of a set of files, as a stamp: equal stamps mean the same contents.
pub fn files_digest(files: &BTreeMap<String, String>) -> String {
    let mut all = Vec::new();
    for (name, text) in files {
        all.extend_from_slice(name.as_bytes());
        all.push(0);
        all.extend_from_slice(text.as_bytes());
        all.push(0);
    }
    format!("{:016x}", crate::firewall::digest64(&all))
}

/// What a backend found of brouter's dnsmasq.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedDhcp {
    /// The process brouter started, if it runs (alive, not a zombie, in this namespace,
    /// with brouter's pid file on its command line).
    pub pid: Option<u32>,
    /// Its options as its command line shows them, without the backend's plumbing.
    #[serde(default)]
    pub options: Vec<String>,
    /// brouter's files as they are on disk.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// The stamp ([`files_digest`]) of the files the running instance last (re)loaded.
    #[serde(default)]
    pub loaded: Option<String>,
}

/// The dnsmasq `config` asks for, if any network has `dhcp = true` (DHCPv4 and DNS) or
/// an `address6` (router advertisements: the VMs configure themselves by SLAAC).
pub fn compile(config: &Config) -> Option<DesiredDhcp> {
    let nets: Vec<&Network> = config
        .networks
        .iter()
        .filter(|n| n.dhcp || n.address6.is_some())
        .collect();
    if nets.is_empty() {
        return None;
    }
    let mut options: Vec<String> = [
        // Its own files only: no /etc/hosts; /etc/dnsmasq.conf is kept out by the
        // backend's --conf-file=/dev/null.
        "--no-hosts",
        // DNS on the bridges, never on loopback (dom0's own resolver may be there).
        "--except-interface=lo",
        // Starts before a bridge has its address and follows it when it changes.
        "--bind-dynamic",
        // Declared addresses are reserved and anti-spoofing keeps VMs on theirs, so the
        // 3-second ping before each new lease buys nothing here.
        "--no-ping",
        // The only DHCP server on these bridges: answer a client that asks for an address
        // from before a restart at once.
        "--dhcp-authoritative",
    ]
    .map(String::from)
    .to_vec();
    if nets.iter().any(|n| n.address6.is_some()) {
        options.push("--enable-ra".to_string());
    }
    for n in &nets {
        options.push(format!("--interface={}", n.bridge));
        options.push(format!("--domain={},{},local", n.name, n.subnet));
        if n.dhcp {
            let pool = pool(n);
            options.push(format!(
                "--dhcp-range={},{},{},{LEASE_TIME}",
                pool.first,
                pool.last,
                n.subnet.netmask()
            ));
        }
        if let Some(a6) = n.address6 {
            // Router advertisements of the /64 with SLAAC, no DHCPv6 addresses.
            options.push(format!("--dhcp-range={},ra-only,64,{LEASE_TIME}", a6.network()));
        }
    }
    Some(DesiredDhcp {
        options,
        files: files(config, &nets),
        bridges: nets.iter().map(|n| n.bridge.clone()).collect(),
    })
}

/// The dynamic pool of `n`: its `dhcp_range`, or the host addresses above the bridge's
/// (below it when the bridge holds the last one).
pub fn pool(n: &Network) -> DhcpRange {
    if let Some(r) = n.dhcp_range {
        return r;
    }
    let first = u32::from(n.subnet.network()) + 1;
    let last = u32::from(n.subnet.broadcast()) - 1;
    let bridge = u32::from(n.address.addr());
    let (first, last) = if bridge < last {
        (bridge.max(first - 1) + 1, last)
    } else {
        (first, bridge - 1)
    };
    DhcpRange {
        first: Ipv4Addr::from(first),
        last: Ipv4Addr::from(last),
    }
}

/// The static leases and names of the hosts on `nets`.
fn files(config: &Config, nets: &[&Network]) -> BTreeMap<String, String> {
    let mut leases = String::new();
    let mut names = String::new();
    for h in &config.hosts {
        let Some(n) = nets.iter().find(|n| n.name == h.network) else {
            continue;
        };
        let first = h.addresses.first();
        match (&h.mac, first) {
            (Some(mac), Some(a)) => leases.push_str(&format!("{mac},{a},{}\n", h.name)),
            (Some(mac), None) => leases.push_str(&format!("{mac},{}\n", h.name)),
            // No MAC to lease to: the address is still reserved, so the pool never hands
            // a declared VM's address to another.
            (None, Some(a)) => leases.push_str(&format!("{a},ignore\n")),
            (None, None) => {}
        }
        for a in &h.addresses {
            names.push_str(&format!("{a} {0} {0}.{1}\n", h.name, n.name));
        }
        for a in &h.addresses6 {
            names.push_str(&format!("{a} {0} {0}.{1}\n", h.name, n.name));
        }
    }
    BTreeMap::from([
        (HOSTS_FILE_DHCP.to_string(), leases),
        (HOSTS_FILE_DNS.to_string(), names),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_toml;

    const TWO: &str = "[[network]]\nname = \"dmz\"\nbridge = \"br0\"\naddress = \"10.98.98.1/24\"\ndhcp = true\n\
        [[network]]\nname = \"data\"\nbridge = \"br1\"\naddress = \"10.99.0.254/24\"\n\
        dhcp = true\ndhcp_range = \"10.99.0.100-10.99.0.199\"\n\
        [[network]]\nname = \"plain\"\nbridge = \"br2\"\naddress = \"10.97.0.1/24\"\n\
        [[host]]\nname = \"web1\"\nnetwork = \"dmz\"\nmac = \"52:54:00:00:00:01\"\naddresses = [\"10.98.98.10\"]\n\
        [[host]]\nname = \"db\"\nnetwork = \"data\"\naddresses = [\"10.99.0.5\"]\n\
        [[host]]\nname = \"nas\"\nnetwork = \"plain\"\naddresses = [\"10.97.0.5\"]\n";

    #[test]
    fn one_instance_serves_the_dhcp_networks_only() {
        let d = compile(&from_toml(TWO, "t.toml").unwrap()).unwrap();
        assert_eq!(d.bridges, ["br0", "br1"]);
        let opts = d.options.join(" ");
        assert!(
            opts.contains("--interface=br0 --domain=dmz,10.98.98.0/24,local"),
            "{opts}"
        );
        assert!(
            opts.contains("--dhcp-range=10.98.98.2,10.98.98.254,255.255.255.0,1h"),
            "{opts}"
        );
        assert!(
            opts.contains("--dhcp-range=10.99.0.100,10.99.0.199,255.255.255.0,1h"),
            "{opts}"
        );
        assert!(!opts.contains("br2"), "{opts}");
        assert_eq!(
            d.files[HOSTS_FILE_DHCP],
            "52:54:00:00:00:01,10.98.98.10,web1\n10.99.0.5,ignore\n"
        );
        assert_eq!(
            d.files[HOSTS_FILE_DNS],
            "10.98.98.10 web1 web1.dmz\n10.99.0.5 db db.data\n"
        );
    }

    #[test]
    fn the_default_pool_leaves_out_the_bridge_address() {
        let c = from_toml(TWO, "t.toml").unwrap();
        let mut n = c.networks[0].clone();
        assert_eq!(pool(&n).to_string(), "10.98.98.2-10.98.98.254");
        n.address = "10.98.98.254/24".parse().unwrap();
        assert_eq!(pool(&n).to_string(), "10.98.98.1-10.98.98.253");
        n.address = "10.98.98.128/24".parse().unwrap();
        assert_eq!(pool(&n).to_string(), "10.98.98.129-10.98.98.254");
    }

    #[test]
    fn an_address6_network_gets_router_advertisements_and_aaaa_names() {
        let text = "[[network]]\nname = \"dmz\"\nbridge = \"br0\"\naddress = \"10.98.98.1/24\"\naddress6 = \"fd98:98::1/64\"\n\
            [[host]]\nname = \"web1\"\nnetwork = \"dmz\"\naddresses = [\"10.98.98.10\", \"fd98:98::10\"]\n";
        let d = compile(&from_toml(text, "t.toml").unwrap()).unwrap();
        let opts = d.options.join(" ");
        assert!(opts.contains("--enable-ra"), "{opts}");
        assert!(opts.contains("--interface=br0"), "{opts}");
        assert!(opts.contains("--dhcp-range=fd98:98::,ra-only,64,1h"), "{opts}");
        assert!(
            !opts.contains("255.255.255.0"),
            "no DHCPv4 without dhcp = true: {opts}"
        );
        assert!(d.files[HOSTS_FILE_DNS].contains("fd98:98::10 web1 web1.dmz\n"));
    }

    #[test]
    fn no_dhcp_network_no_dnsmasq() {
        let c = from_toml("[[network]]\nname = \"a\"\naddress = \"10.1.0.1/24\"\n", "t.toml").unwrap();
        assert_eq!(compile(&c), None);
    }

    #[test]
    fn a_host_edit_changes_the_files_not_the_options() {
        let a = compile(&from_toml(TWO, "t.toml").unwrap()).unwrap();
        let b = compile(&from_toml(&TWO.replace("10.98.98.10", "10.98.98.11"), "t.toml").unwrap()).unwrap();
        assert_eq!(a.options, b.options);
        assert_ne!(a.files_digest(), b.files_digest());
    }
}
