//! The IPv6 side of a simulated link, as the kernel keeps it in a link's `inet6_dev`: its
//! addresses and its `net.ipv6.conf.<link>.*` sysctls.
//!
//! A link has IPv6 while its MTU is at least 1280 (IPV6_MIN_MTU). An MTU change below that
//! — by hand, or a bridge fitting itself to a small port — takes IPv6 off the link
//! (addrconf_ifdown with unregister): its addresses and its conf are gone, adding an
//! address is EINVAL and deleting one ENXIO. Back at 1280 or above the link gets a fresh
//! conf with the defaults (`net.ipv6.conf.default.*`) and no addresses. Setting a link
//! down drops its addresses too (`keep_addr_on_down` is 0), renaming it keeps its conf
//! under the new name, `ip -6 address flush` deletes every address it has.
//!
//! Sysctls modelled: `forwarding` and `accept_ra` of `all`, `default` and each link with
//! IPv6. Writing `all.forwarding` sets `default.forwarding` and every link's (the kernel's
//! addrconf_forward_change); a link takes `default`'s values when its conf is made. Other
//! keys do not exist here: writing one is refused as the kernel backend refuses a sysctl
//! file that does not exist.
//!
//! Link-local addresses are kept like any other (one added by hand is an address the
//! link has), but [`Kernel::observe`] leaves them out as the kernel backend does
//! ([`Address6::kernels_own`]): the kernel makes its own from the link's MAC, which the
//! sim does not model.

use brouter_engine::{Address6, BackendError, ErrorKind, IPV6_FORWARD};
use ipnet::Ipv6Net;

use crate::kernel::Kernel;

/// The smallest MTU a link keeps IPv6 at (IPV6_MIN_MTU).
pub const IPV6_MIN_MTU: u32 = 1280;

const CONF: &str = "net.ipv6.conf.";
const DEFAULT_FORWARDING: &str = "net.ipv6.conf.default.forwarding";
const DEFAULT_ACCEPT_RA: &str = "net.ipv6.conf.default.accept_ra";
/// The per-link sysctls the sim models, with the kernel's default for `all`/`default`.
const LEAVES: [(&str, &str); 2] = [("forwarding", "0"), ("accept_ra", "1")];

/// `net.ipv6.conf.<scope>.` in sysctl(8)'s notation (a dot in an interface name is `/`).
fn conf_prefix(scope: &str) -> String {
    format!("{CONF}{}.", scope.replace('.', "/"))
}

/// `net.ipv6.conf.<scope>.<leaf>` → (`scope` as an interface name, `leaf`).
fn split_key(key: &str) -> Option<(String, &str)> {
    let (scope, leaf) = key.strip_prefix(CONF)?.split_once('.')?;
    Some((scope.replace('/', "."), leaf))
}

/// The sysctl does not exist (no link, no IPv6 on it, or not modelled): the kernel
/// backend finds no file under /proc/sys and answers `Unsupported`.
pub(crate) fn no_sysctl(key: &str) -> BackendError {
    BackendError::new(
        ErrorKind::Unsupported,
        format!("sysctl {key} does not exist (no file under /proc/sys)"),
    )
}

/// Whether `key` is an IPv6 conf key (`net.ipv6.conf.…`), handled by this module.
pub(crate) fn is_conf_key(key: &str) -> bool {
    key.starts_with(CONF)
}

impl Kernel {
    /// Whether `link` exists and has IPv6 (its MTU is at least [`IPV6_MIN_MTU`]).
    pub fn has_ipv6(&self, link: &str) -> bool {
        self.links
            .get(link)
            .is_some_and(|l| !matches!(l.mtu, Some(m) if m < IPV6_MIN_MTU))
    }

    /// The value of an IPv6 conf sysctl, if it exists: a link's takes what was written
    /// to it, else `default`'s.
    pub(crate) fn sysctl6(&self, key: &str) -> Option<String> {
        let (scope, leaf) = split_key(key)?;
        let (_, initial) = LEAVES.iter().find(|(l, _)| *l == leaf)?;
        let default = format!("{CONF}default.{leaf}");
        let fallback = match scope.as_str() {
            "all" | "default" => initial.to_string(),
            link if self.has_ipv6(link) => self.sysctl6(&default)?,
            _ => return None,
        };
        Some(self.sysctls.get(key).cloned().unwrap_or(fallback))
    }

    /// Write an IPv6 conf sysctl, with the kernel's side effects: `all.forwarding` sets
    /// `default.forwarding` and every link's; a change of `default` reaches only links
    /// made later (the present ones keep the value they have).
    pub(crate) fn set_sysctl6(&mut self, key: &str, value: &str) -> Result<(), BackendError> {
        if self.sysctl6(key).is_none() {
            return Err(no_sysctl(key));
        }
        if key == IPV6_FORWARD {
            let per_link: Vec<String> = self.links.keys().map(|l| conf_prefix(l) + "forwarding").collect();
            for k in per_link {
                self.sysctls.remove(&k);
            }
            self.sysctls
                .insert(DEFAULT_FORWARDING.to_string(), value.to_string());
        }
        if key == DEFAULT_FORWARDING || key == DEFAULT_ACCEPT_RA {
            let leaf = &key[conf_prefix("default").len()..];
            let links: Vec<String> = self.links.keys().cloned().collect();
            for link in links {
                let k = conf_prefix(&link) + leaf;
                if let Some(v) = self.sysctl6(&k) {
                    self.sysctls.entry(k).or_insert(v);
                }
            }
        }
        self.sysctls.insert(key.to_string(), value.to_string());
        Ok(())
    }

    /// Take IPv6 off `link` (deleted, or its MTU below 1280): its addresses and conf go.
    pub(crate) fn drop_ipv6(&mut self, link: &str) {
        self.addresses6.retain(|a| a.link != link);
        self.neighbours.retain(|n| !(n.link == link && n.ip.is_ipv6()));
        let own = conf_prefix(link);
        self.sysctls.retain(|k, _| !k.starts_with(&own));
    }

    /// After `link`'s MTU changed: below 1280 it loses IPv6.
    pub(crate) fn ipv6_after_mtu_change(&mut self, link: &str) {
        if !self.has_ipv6(link) {
            self.drop_ipv6(link);
        }
    }

    /// `link` was renamed `new_name`: its addresses and conf keep their values under it.
    pub(crate) fn rename_ipv6(&mut self, link: &str, new_name: &str) {
        for a in self.addresses6.iter_mut().filter(|a| a.link == link) {
            a.link = new_name.to_string();
        }
        let (old, new) = (conf_prefix(link), conf_prefix(new_name));
        let moved: Vec<(String, String)> = self
            .sysctls
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(&old).map(|leaf| (new.clone() + leaf, v.clone())))
            .collect();
        self.sysctls.retain(|k, _| !k.starts_with(&old));
        self.sysctls.extend(moved);
    }

    /// An IPv6 address stamped as brouter's (the kernel's own prefix route comes and goes
    /// with it and is not modelled: brouter never reads IPv6 routes). EINVAL on a link
    /// without IPv6; EEXIST for an address it has under any prefix length.
    pub fn add_address6(&mut self, link: &str, addr: Ipv6Net) -> Result<(), BackendError> {
        self.link_ipv6(link, ErrorKind::Invalid, "add")?;
        if self
            .addresses6
            .iter()
            .any(|a| a.link == link && a.addr.addr() == addr.addr())
        {
            return Err(BackendError::new(
                ErrorKind::Exists,
                format!("address {addr} already on {link}"),
            ));
        }
        self.addresses6.push(Address6 {
            link: link.into(),
            addr,
            owned: true,
        });
        Ok(())
    }

    /// Delete `addr` (address and prefix length): ENXIO (`Other`) on a link without IPv6,
    /// EADDRNOTAVAIL if it is not there.
    pub fn delete_address6(&mut self, link: &str, addr: Ipv6Net) -> Result<(), BackendError> {
        self.link_ipv6(link, ErrorKind::Other, "delete")?;
        let Some(i) = self
            .addresses6
            .iter()
            .position(|a| a.link == link && a.addr == addr)
        else {
            return Err(BackendError::new(
                ErrorKind::AddrNotAvail,
                format!("address {addr} is not on {link}"),
            ));
        };
        self.addresses6.remove(i);
        Ok(())
    }

    /// `ip -6 address flush`: every IPv6 address of the link goes (a link without IPv6
    /// has none); only a missing link fails (ENODEV, as the kernel's index lookup does).
    pub fn flush_ipv6(&mut self, link: &str) -> Result<(), BackendError> {
        if !self.links.contains_key(link) {
            return Err(BackendError::new(
                ErrorKind::NoDevice,
                format!("cannot find device \"{link}\""),
            ));
        }
        self.addresses6.retain(|a| a.link != link);
        Ok(())
    }

    /// ENODEV for a missing link; `kind` for a link without IPv6.
    fn link_ipv6(&self, link: &str, kind: ErrorKind, what: &str) -> Result<(), BackendError> {
        if !self.links.contains_key(link) {
            return Err(BackendError::new(
                ErrorKind::NoDevice,
                format!("cannot find device \"{link}\""),
            ));
        }
        if !self.has_ipv6(link) {
            return Err(BackendError::new(
                kind,
                format!(
                    "cannot {what} an IPv6 address on {link}: IPv6 is off there (MTU below {IPV6_MIN_MTU})"
                ),
            ));
        }
        Ok(())
    }
}
