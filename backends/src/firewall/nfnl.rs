//! Reading brouter's tables back over nfnetlink, without running `nft`.
//!
//! Why: `nft` 1.0.6 loads its whole cache before answering even `list tables`, so with
//! 10,000 forwards in the maps one `nft -j list table` costs ~100 ms, and `observe` needed
//! three. A converged `start` or a `vif online` only needs the fingerprint (a rule comment)
//! and the binding sets, which three small netlink dumps answer in well under a
//! millisecond: does each table exist, the rule comments of each table (a handful of rules,
//! whatever the number of forwards), and the elements of the three binding sets.
//!
//! The dumps are `nft_codec`'s ([`nft_codec::dump`]), decoded into its model; what is
//! brouter's here is their meaning. Set keys arrive as raw bytes; a concatenation puts
//! each part in a 4-byte-aligned slot (`ifname` is 16 bytes, NUL-padded; `ether_addr` 6
//! bytes in an 8-byte slot).

use std::collections::BTreeMap;
use std::io;

use brouter_engine::firewall::Binding;
use netlink_wire::Socket;
use nft_codec::types::IFNAMSIZ;
use nft_codec::{dump, Family};

use super::render::{FINGERPRINT_PREFIX, IP6_BIND, IP6_HOST, IP_BIND, IP_HOST, MAC_BIND, PORTS, TABLE};

/// What brouter's tables hold, as far as `observe` cares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableState {
    /// Per family (inet, bridge): `None` if the table is missing, else the fingerprint
    /// found in its rule comments (`Some(None)` if there is none).
    pub inet: Option<Option<String>>,
    pub bridge: Option<Option<String>>,
    /// The anti-spoofing bindings of `bridge brouter`, sorted by vif.
    pub bindings: Vec<Binding>,
}

/// Read brouter's tables in the namespace of the calling thread.
pub fn read_here(with_bindings: bool) -> io::Result<TableState> {
    read_on(&nft_codec::open()?, with_bindings)
}

/// Read brouter's tables over `sock` (in whatever namespace it was opened).
pub(super) fn read_on(sock: &Socket, with_bindings: bool) -> io::Result<TableState> {
    let mut state = TableState::default();
    for (family, slot) in [
        (Family::Inet, &mut state.inet),
        (Family::Bridge, &mut state.bridge),
    ] {
        if table_exists(sock, family)? {
            *slot = Some(fingerprint(sock, family)?);
        }
    }
    if with_bindings && matches!(state.bridge, Some(Some(_))) {
        state.bindings = bindings(sock)?;
    }
    Ok(state)
}

/// Whether brouter's table of `family` exists.
pub(super) fn table_exists(sock: &Socket, family: Family) -> io::Result<bool> {
    dump::table_exists(sock, family, TABLE)
}

/// The fingerprint in the rule comments of brouter's table of `family`.
fn fingerprint(sock: &Socket, family: Family) -> io::Result<Option<String>> {
    Ok(dump::rules(sock, family, TABLE)?.iter().find_map(|r| {
        r.comment()
            .and_then(|c| c.strip_prefix(FINGERPRINT_PREFIX))
            .map(str::to_string)
    }))
}

fn bindings(sock: &Socket) -> io::Result<Vec<Binding>> {
    let mut by_vif: BTreeMap<String, Binding> = BTreeMap::new();
    for key in set_keys(sock, PORTS)? {
        slot(&mut by_vif, ifname(&key));
    }
    for key in set_keys(sock, MAC_BIND)? {
        if key.len() >= IFNAMSIZ + 6 {
            let mac: Vec<String> = key[IFNAMSIZ..IFNAMSIZ + 6]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            slot(&mut by_vif, ifname(&key)).mac = mac.join(":");
        }
    }
    for set in [IP_HOST, IP_BIND, IP6_HOST, IP6_BIND] {
        for (key, end) in set_elems(sock, set)? {
            if let Some(a) = super::bindings::addr_of_key(&key, end.as_deref()) {
                slot(&mut by_vif, ifname(&key)).addrs.push(a);
            }
        }
    }
    Ok(by_vif
        .into_values()
        .map(|b| Binding::from_kernel(b.vif, b.mac, b.addrs))
        .collect())
}

/// The elements of one set of `bridge brouter`; none if there is no such set (tables an
/// older brouter made lack the `*_host` sets until the next `start` replaces them).
fn elements(sock: &Socket, set: &str) -> io::Result<Vec<nft_codec::Elem>> {
    match dump::elements(sock, Family::Bridge, TABLE, set) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(vec![]),
        other => other,
    }
}

/// The raw keys of one set of `bridge brouter`.
pub(super) fn set_keys(sock: &Socket, set: &str) -> io::Result<Vec<Vec<u8>>> {
    Ok(elements(sock, set)?
        .into_iter()
        .filter(|e| !e.key.is_empty())
        .map(|e| e.key)
        .collect())
}

/// An element's key and, in an interval set, its last key.
pub(super) type KeyAndEnd = (Vec<u8>, Option<Vec<u8>>);

/// The raw keys and last keys (interval sets) of one set of `bridge brouter`.
pub(super) fn set_elems(sock: &Socket, set: &str) -> io::Result<Vec<KeyAndEnd>> {
    Ok(elements(sock, set)?
        .into_iter()
        .filter(|e| !e.key.is_empty())
        .map(|e| (e.key, e.key_end))
        .collect())
}

/// The binding of `vif`, created empty on first sight.
fn slot(map: &mut BTreeMap<String, Binding>, vif: String) -> &mut Binding {
    map.entry(vif.clone()).or_insert_with(|| Binding {
        vif,
        mac: String::new(),
        addrs: vec![],
    })
}

/// An `ifname` key part: NUL-padded to 16 bytes.
fn ifname(key: &[u8]) -> String {
    netlink_wire::text(&key[..key.len().min(IFNAMSIZ)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ifname_key_part_reads_up_to_its_padding() {
        let mut key = b"vif1.0".to_vec();
        key.resize(IFNAMSIZ, 0);
        key.extend_from_slice(&[10, 1, 0, 10]);
        assert_eq!(ifname(&key), "vif1.0");
    }
}
