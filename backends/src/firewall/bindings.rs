//! One vif's anti-spoofing binding, read and written over nfnetlink, in time that does not
//! grow with the number of bound vifs.
//!
//! Why: `vif online` on a host with a thousand domUs must cost what it costs with none.
//! Running `nft` for an element update costs a process and nft's cache load; dumping the
//! binding sets to find one vif's elements costs a read of every vif's. Here, whether a vif
//! is bound is one element lookup in `ports` (keyed by the vif's name alone); only a vif
//! that *is* bound has its `mac_bind` / `ip_bind` elements looked for (their keys start
//! with the name, but the kernel can only list the whole set). Writes are one nf_tables
//! batch of element additions and deletions: atomic, like the `nft` transaction it
//! replaces, and the tables are never rewritten.
//!
//! Keys are raw bytes as the kernel keeps them: `ifname` is 16 bytes, NUL-padded; in a
//! concatenation each part takes a 4-byte-aligned slot (`ether_addr` 6 bytes in 8,
//! `ipv4_addr` 4 bytes in network order).

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;

use ipnet::IpNet;
use std::sync::Mutex;

use brouter_engine::backend::mac_octets;
use brouter_engine::firewall::Binding;
use brouter_engine::{BackendError, ErrorKind};

use netlink_wire::Socket;
use nft_codec::types::IFNAMSIZ;
use nft_codec::{dump, Batch, Elem, Family, SetRef};

use super::nfnl::{set_elems, set_keys};
use super::render::{BINDING_SETS, IP6_BIND, IP6_HOST, IP_BIND, IP_HOST, MAC_BIND, PORTS, TABLE};

/// An nfnetlink socket bound to one namespace (the one of the thread that opened it; it
/// stays there whichever thread uses it), for binding and unbinding vifs. Behind a mutex
/// so the backend holding it can be shared across an `.await` (one exchange at a time
/// is what a netlink socket needs anyway).
pub struct BindingSocket {
    sock: Mutex<Socket>,
    /// What [`BindingSocket::binding_of`] found of each vif it was asked about since the
    /// last observation (`None`: not bound), for the bind or unbind of that vif that
    /// follows in the same run: a bound vif's elements are found by reading its sets
    /// whole, and `vif offline` would otherwise read them twice. Taken by the first write
    /// that uses it, so it serves once.
    last_found: Mutex<BTreeMap<String, Option<Found>>>,
}

impl std::fmt::Debug for BindingSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BindingSocket")
    }
}

/// A binding as found in the kernel, with the raw keys that make it up (per set), so
/// exactly those can be deleted.
struct Found {
    binding: Binding,
    keys: Vec<RawKey>,
}

/// One element as the kernel keeps it: its set, its key and (in the address sets,
/// which are concatenated interval sets) its last key.
type RawKey = (&'static str, Vec<u8>, Option<Vec<u8>>);

impl BindingSocket {
    /// Open a socket in the namespace of the calling thread.
    pub fn open_here() -> io::Result<BindingSocket> {
        Ok(BindingSocket {
            sock: Mutex::new(nft_codec::open()?),
            last_found: Mutex::new(BTreeMap::new()),
        })
    }

    /// The binding of `vif`, or `None` if it has none (or brouter's tables do not exist).
    pub fn binding_of(&self, vif: &str) -> Result<Option<Binding>, BackendError> {
        let found = self.find(vif).map_err(|e| read_error(vif, &e))?;
        let binding = found.as_ref().map(|f| f.binding.clone());
        self.remembered().insert(vif.to_string(), found);
        Ok(binding)
    }

    /// `vif`'s elements as [`BindingSocket::binding_of`] just found them, else read now.
    fn found(&self, vif: &str) -> io::Result<Option<Found>> {
        let remembered = self.remembered().remove(vif);
        match remembered {
            Some(found) => Ok(found),
            None => self.find(vif),
        }
    }

    /// Drop what [`BindingSocket::binding_of`] found: a new observation or a rewrite of
    /// the tables makes it old.
    pub fn forget(&self) {
        self.remembered().clear();
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Option<Found>>> {
        self.last_found.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bind `binding.vif` to its MAC and addresses, replacing the binding it had, in one
    /// transaction.
    pub fn bind(&self, binding: &Binding) -> Result<(), BackendError> {
        let what = describe(binding);
        let keys = |apart| {
            keys_of(binding, apart).map_err(|m| BackendError::new(ErrorKind::Invalid, format!("{what}: {m}")))
        };
        let wanted = keys(true)?;
        let old = self
            .found(&binding.vif)
            .map_err(|e| read_error(&binding.vif, &e))?;
        let old_keys = old.map(|f| f.keys).unwrap_or_default();
        let batch = |wanted: &[RawKey]| {
            let mut batch = Batch::new();
            let stale: Vec<_> = old_keys.iter().filter(|k| !wanted.contains(k)).cloned().collect();
            push_elements(&mut batch, true, &stale);
            push_elements(&mut batch, false, wanted);
            batch
        };
        let sock = self.socket();
        match transact(&sock, batch(&wanted)) {
            // Tables an older brouter made keep single addresses in the interval sets
            // too (no `ip_host`): bind the vif their way until `start` replaces them. The
            // refused batch changed nothing.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && wanted.iter().any(|k| is_host_set(k.0)) => {
                let present = dump::set_exists(&sock, Family::Bridge, TABLE, IP_HOST);
                if present.map_err(|e| read_error(&binding.vif, &e))? {
                    return Err(write_error(&what, &e));
                }
                transact(&sock, batch(&keys(false)?)).map_err(|e| write_error(&what, &e))
            }
            other => other.map_err(|e| write_error(&what, &e)),
        }
    }

    /// Remove `vif`'s binding; nothing to do if it has none (or the tables are gone).
    pub fn unbind(&self, vif: &str) -> Result<(), BackendError> {
        let Some(old) = self.found(vif).map_err(|e| read_error(vif, &e))? else {
            return Ok(());
        };
        let mut batch = Batch::new();
        push_elements(&mut batch, true, &old.keys);
        transact(&self.socket(), batch).map_err(|e| write_error(&format!("unbinding {vif}"), &e))
    }

    /// The fingerprint of brouter's tables and (if asked) every binding, as
    /// [`super::read_state`] reads them, over this socket: no thread and no `setns`, which
    /// a converged `start` would otherwise pay on every `observe`.
    pub fn read_state(&self, with_bindings: bool) -> Result<(Option<String>, Vec<Binding>), BackendError> {
        let state = super::nfnl::read_on(&self.socket(), with_bindings).map_err(|e| {
            BackendError::new(kind_of(&e), format!("cannot read brouter's nftables tables: {e}"))
        })?;
        Ok((super::agree(state.inet, state.bridge), state.bindings))
    }

    /// Create (`fresh`: no table of brouter's exists) or replace brouter's tables with
    /// `ruleset` and `bindings` over this socket, in one batch: no thread, no `setns`.
    /// A create that finds a table after all (made since it was observed) replaces. A
    /// replace carries `carry`'s counts over (from a read just made), else dumps them.
    pub fn apply_firewall(
        &self,
        label: &str,
        ruleset: &brouter_engine::firewall::Ruleset,
        bindings: &[Binding],
        fresh: bool,
        carry: Option<super::batch::Carry>,
    ) -> Result<(), BackendError> {
        self.forget();
        let tables = super::tables(ruleset);
        let sock = self.socket();
        let apply = |mode, carry| {
            super::batch::apply_on(
                &sock,
                label,
                mode,
                Some(&tables),
                bindings,
                carry,
                "brouter's firewall",
            )
        };
        if fresh {
            if let Ok(()) = apply(super::batch::Mode::Create, Default::default()) {
                return Ok(());
            }
        }
        // The counts go on where the new tables have the same rule or element; reading
        // them is best effort (the rewrite matters more than the counts).
        let carry = match carry {
            Some(carry) => carry,
            None => super::counters::carry_on(&sock).unwrap_or_default(),
        };
        apply(super::batch::Mode::Replace, carry)
    }

    /// Delete brouter's tables (if they exist) over this socket.
    pub fn delete_firewall(&self, label: &str) -> Result<(), BackendError> {
        self.forget();
        let sock = self.socket();
        super::batch::apply_on(
            &sock,
            label,
            super::batch::Mode::Delete,
            None,
            &[],
            Default::default(),
            "deleting brouter's firewall",
        )
    }

    /// Run `f` on this socket (one exchange at a time): the drift read-back uses it.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&Socket) -> R) -> R {
        f(&self.socket())
    }

    fn socket(&self) -> std::sync::MutexGuard<'_, Socket> {
        // A panic mid-exchange leaves nothing half-done on the socket worth refusing for.
        self.sock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Look `vif` up in `ports`; if it is there, collect its elements of the other sets.
    fn find(&self, vif: &str) -> io::Result<Option<Found>> {
        let Ok(name) = ifname_key(vif) else {
            return Ok(None); // no such interface name can be bound
        };
        let sock = self.socket();
        // No table, no set or no element: not bound.
        if !dump::has_element(&sock, Family::Bridge, TABLE, PORTS, &name)? {
            return Ok(None);
        }
        let mut found = Found {
            binding: Binding {
                vif: vif.to_string(),
                mac: String::new(),
                addrs: vec![],
            },
            keys: vec![(PORTS, name.to_vec(), None)],
        };
        for key in set_keys(&sock, MAC_BIND)? {
            if key.len() >= IFNAMSIZ + 6 && key[..IFNAMSIZ] == name {
                let mac: Vec<String> = key[IFNAMSIZ..IFNAMSIZ + 6]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                found.binding.mac = mac.join(":");
                found.keys.push((MAC_BIND, key, None));
            }
        }
        for set in [IP_HOST, IP_BIND, IP6_HOST, IP6_BIND] {
            for (key, end) in set_elems(&sock, set)? {
                if key.len() > IFNAMSIZ && key[..IFNAMSIZ] == name {
                    if let Some(a) = addr_of_key(&key, end.as_deref()) {
                        found.binding.addrs.push(a);
                    }
                    found.keys.push((set, key, end));
                }
            }
        }
        let b = std::mem::take(&mut found.binding);
        found.binding = Binding::from_kernel(b.vif, b.mac, b.addrs);
        Ok(Some(found))
    }
}

/// Whether `set` holds single addresses (the hash sets), not prefixes.
fn is_host_set(set: &str) -> bool {
    set == IP_HOST || set == IP6_HOST
}

/// The raw keys of `b`'s elements, per set (as [`super::render::binding_elements`] adds
/// them); with `hosts_apart` false, single addresses go to the interval sets as well, as
/// in tables an older brouter made.
fn keys_of(b: &Binding, hosts_apart: bool) -> Result<Vec<RawKey>, String> {
    let name = ifname_key(&b.vif)?;
    let mut keys = vec![(PORTS, name.to_vec(), None)];
    if !b.mac.is_empty() {
        let mac = mac_octets(&b.mac).ok_or_else(|| {
            format!(
                "{:?} is not a MAC address (want six hex pairs like aa:cc:00:00:00:01)",
                b.mac
            )
        })?;
        let mut key = name.to_vec();
        key.extend_from_slice(&mac);
        key.extend_from_slice(&[0, 0]);
        keys.push((MAC_BIND, key, None));
    }
    for a in &b.kernel_addrs() {
        let host = hosts_apart && super::render::is_host(a);
        let (set, lo, hi) = match a.trunc() {
            IpNet::V4(n) => (
                if host { IP_HOST } else { IP_BIND },
                n.network().octets().to_vec(),
                n.broadcast().octets().to_vec(),
            ),
            IpNet::V6(n) => (
                if host { IP6_HOST } else { IP6_BIND },
                n.network().octets().to_vec(),
                n.broadcast().octets().to_vec(),
            ),
        };
        let mut key = name.to_vec();
        key.extend_from_slice(&lo);
        // A single address is a hash set's key; a prefix an interval, first to last.
        let end = (!host).then(|| [name.as_slice(), &hi].concat());
        keys.push((set, key, end));
    }
    keys.dedup();
    Ok(keys)
}

/// The address or prefix an `ifname . ipv4_addr` / `ifname . ipv6_addr` element covers
/// (`key` its first key, `end` its last in an interval set): a prefix when the two differ
/// only in trailing bits (all brouter writes), else the first address; a hash set's
/// element (no `end`) is its address.
pub(super) fn addr_of_key(key: &[u8], end: Option<&[u8]>) -> Option<IpNet> {
    let lo = key.get(IFNAMSIZ..)?;
    let hi = end.and_then(|e| e.get(IFNAMSIZ..)).unwrap_or(lo);
    let addr = match lo.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(lo).ok()?),
        16 => IpAddr::from(<[u8; 16]>::try_from(lo).ok()?),
        _ => return None,
    };
    let bits = lo.len() * 8;
    let bit = |v: &[u8], i: usize| v[i / 8] & (0x80 >> (i % 8)) != 0;
    let len = (0..bits).find(|&i| bit(lo, i) != bit(hi, i)).unwrap_or(bits);
    let prefix = (len..bits).all(|i| !bit(lo, i) && bit(hi, i));
    let len = if prefix { len } else { bits };
    IpNet::new(addr, len as u8).ok()
}

/// An interface name as an `ifname` key: its bytes, NUL-padded to 16.
fn ifname_key(vif: &str) -> Result<[u8; IFNAMSIZ], String> {
    let bytes = vif.as_bytes();
    if bytes.is_empty() || bytes.len() >= IFNAMSIZ || bytes.contains(&0) {
        return Err(format!("{vif:?} is not an interface name (1 to 15 bytes)"));
    }
    let mut key = [0u8; IFNAMSIZ];
    key[..bytes.len()].copy_from_slice(bytes);
    Ok(key)
}

/// One element message per set that has keys in `keys` (in the order the sets appear):
/// additions, or deletions (`delete`).
fn push_elements(batch: &mut Batch, delete: bool, keys: &[RawKey]) {
    for set in BINDING_SETS {
        let of_set: Vec<Elem> = keys
            .iter()
            .filter(|(s, _, _)| *s == set)
            .map(|(_, k, end)| Elem {
                key_end: end.clone(),
                ..Elem::key(k.clone())
            })
            .collect();
        if of_set.is_empty() {
            continue;
        }
        let set_ref = SetRef {
            family: Family::Bridge,
            table: TABLE,
            name: set,
            id: None,
        };
        let what = format!("elements of set {set} of table bridge {TABLE}");
        if delete {
            batch.del_elements(set_ref, &of_set, &what);
        } else {
            batch.new_elements(set_ref, &of_set, &what);
        }
    }
}

/// Run `batch` as one transaction: all of it or, if the kernel refuses one command,
/// nothing; the refusal comes back as the `io::Error` of its errno.
fn transact(sock: &Socket, batch: Batch) -> io::Result<()> {
    nft_codec::send(sock, &batch.finish(), false).map_err(|e| io::Error::from_raw_os_error(e.errno))
}

fn describe(b: &Binding) -> String {
    format!("binding {} to MAC {} and {}", b.vif, b.mac, b.describe_addrs())
}

fn kind_of(e: &io::Error) -> ErrorKind {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => ErrorKind::Permission,
        _ => ErrorKind::Other,
    }
}

fn read_error(vif: &str, e: &io::Error) -> BackendError {
    BackendError::new(
        kind_of(e),
        format!("cannot read the anti-spoofing binding of {vif} from brouter's nftables tables: {e}"),
    )
}

fn write_error(what: &str, e: &io::Error) -> BackendError {
    let mut msg = format!("the kernel refused {what}: {e}");
    if e.raw_os_error() == Some(libc::ENOENT) {
        msg.push_str("\n  brouter's firewall is not applied here: run `brouter start` first");
    }
    BackendError::new(kind_of(e), msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web1() -> Binding {
        Binding {
            vif: "vif1.0".into(),
            mac: "aa:cc:00:00:01:01".into(),
            addrs: vec!["10.1.0.10/32".parse().unwrap(), "fd00::/64".parse().unwrap()],
        }
    }

    #[test]
    fn keys_are_laid_out_as_the_kernel_keeps_them() {
        let keys = keys_of(&web1(), true).unwrap();
        let mut name = b"vif1.0".to_vec();
        name.resize(16, 0);
        let mut mac = name.clone();
        mac.extend_from_slice(&[0xaa, 0xcc, 0, 0, 1, 1, 0, 0]);
        let mut ip = name.clone();
        ip.extend_from_slice(&[10, 1, 0, 10]);
        let (mut ip6, mut ip6_end) = (name.clone(), name.clone());
        ip6.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        ip6_end.extend_from_slice(&[
            0xfd, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ]);
        // The MAC's own link-local address (fe80::a8cc:ff:fe00:101) is bound too.
        let mut ll = name.clone();
        ll.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0xa8, 0xcc, 0, 0xff, 0xfe, 0, 1, 1]);
        assert_eq!(
            keys,
            vec![
                (PORTS, name, None),
                (MAC_BIND, mac, None),
                // A single address is a hash set's key; a prefix an interval.
                (IP_HOST, ip.clone(), None),
                (IP6_BIND, ip6.clone(), Some(ip6_end.clone())),
                (IP6_HOST, ll.clone(), None)
            ]
        );
        assert_eq!(addr_of_key(&ip, None), Some("10.1.0.10/32".parse().unwrap()));
        assert_eq!(
            addr_of_key(&ip6, Some(&ip6_end)),
            Some("fd00::/64".parse().unwrap())
        );
    }

    #[test]
    fn bad_macs_and_names_are_refused_before_the_kernel_is_asked() {
        let mut b = web1();
        b.mac = "not-a-mac".into();
        assert!(keys_of(&b, true).unwrap_err().contains("not a MAC address"));
        b = web1();
        b.vif = "a-name-far-too-long".into();
        assert!(keys_of(&b, true).unwrap_err().contains("not an interface name"));
    }
}
