//! brouter's tables read back over nfnetlink and compared, element by element, with what
//! brouter installs for a ruleset and the bindings it expects: the drift `status` names
//! and `start` repairs.
//!
//! Why: the fingerprint comment only says which ruleset brouter *wrote*. An `accept`
//! inserted at the top of a chain, a flushed binding set or DNAT map, a deleted rule or an
//! edited map element leave it in place. Here the expected contents are the very
//! transaction brouter would send, decoded ([`nft_codec::snapshot::of_transaction`]), and
//! the live contents are dumped into the same form, so the generic
//! [`nft_codec::diff`] finds every change; this module only puts brouter's names on them
//! (a binding set's element is a vif's binding).

use std::io;
use std::net::Ipv4Addr;

use brouter_engine::firewall::{Binding, Ruleset};
use brouter_engine::{BackendError, ErrorKind};
use netlink_wire::Socket;
use nft_codec::types::IFNAMSIZ;
use nft_codec::{snapshot, Difference, Family, Mode};

pub use nft_codec::TableContents;

use super::render::{BINDING_SETS, IP6_BIND, IP6_HOST, IP_BIND, IP_HOST, MAC_BIND, TABLE};

/// The sets whose elements are bindings: compared with the bindings expected, and left
/// out of the [`digest`] (a `vif online` changes them without rewriting the tables).
pub fn is_binding_set(name: &str) -> bool {
    BINDING_SETS.contains(&name)
}

/// What brouter's two tables hold after it installs `ruleset` with `bindings`.
pub fn expected(ruleset: &Ruleset, bindings: &[Binding]) -> Result<[TableContents; 2], BackendError> {
    let tables = super::tables(ruleset);
    let tx = super::batch::encode(Mode::Replace, Some(&tables), bindings).map_err(|e| {
        BackendError::new(
            ErrorKind::Invalid,
            format!("cannot encode brouter's firewall for nf_tables: {e}"),
        )
    })?;
    // The rendered tables (~5 MB at 10,000 forwards) are in the batch now: freed before
    // the snapshots are built, so the two never add up in the peak.
    drop(tables);
    let of = |f| snapshot::of_transaction(&tx, f, TABLE).unwrap_or_default();
    Ok([of(Family::Inet), of(Family::Bridge)])
}

/// Read brouter's two tables (`None` for a missing one); the binding sets' elements only
/// when `with_bindings`.
pub fn read_on(sock: &Socket, with_bindings: bool) -> io::Result<[Option<TableContents>; 2]> {
    let skip = |s: &str| !with_bindings && is_binding_set(s);
    Ok([
        snapshot::read(sock, Family::Inet, TABLE, &skip)?,
        snapshot::read(sock, Family::Bridge, TABLE, &skip)?,
    ])
}

/// [`read_on`] over a socket opened in the calling thread's namespace.
pub fn read_here(with_bindings: bool) -> io::Result<[Option<TableContents>; 2]> {
    read_on(&nft_codec::open()?, with_bindings)
}

/// brouter's tables as one read found them, and the counters that read carried.
#[derive(Debug, Clone)]
pub struct ReadBack {
    /// `inet brouter` and `bridge brouter` as dumped (`None`: missing), the binding sets'
    /// elements left out: hashed as they are ([`digest_dumped`]), normalised only when
    /// compared element by element ([`ReadBack::contents`]).
    pub tables: [Option<snapshot::Dumped>; 2],
    /// The counts of `inet brouter` ([`super::counters::Counts::named`] names them);
    /// `None` without it.
    pub counters: Option<super::counters::Counts>,
}

/// [`read_on`] without the bindings' elements, naming the counters the dump of `inet
/// brouter` carried on the way: `status` needs both, and dumping 10,000 map elements a
/// second time for their counters costs as much as the read-back itself.
pub fn read_counted_on(sock: &Socket) -> io::Result<ReadBack> {
    let skip = |s: &str| is_binding_set(s);
    let inet = snapshot::read_dumped(sock, Family::Inet, TABLE, &skip)?;
    let counters = inet.as_ref().map(super::counters::Counts::of_dump);
    Ok(ReadBack {
        tables: [inet, snapshot::read_dumped(sock, Family::Bridge, TABLE, &skip)?],
        counters,
    })
}

impl ReadBack {
    /// The tables normalised, to compare element by element.
    pub fn contents(tables: [Option<snapshot::Dumped>; 2]) -> [Option<TableContents>; 2] {
        tables.map(|t| t.map(snapshot::Dumped::contents))
    }
}

/// [`digest`] of the tables as dumped, without normalising them first (equal, a test says).
pub fn digest_dumped(tables: &[Option<snapshot::Dumped>; 2]) -> u64 {
    combine(
        tables
            .iter()
            .map(|t| t.as_ref().map(|t| t.digest(&is_binding_set))),
    )
}

/// Brouter's tables as read over `socket` (or, without one, from a thread that enters
/// `target`), the binding sets' elements left out, with the counters they carried.
pub fn read_tables(
    socket: Option<&super::BindingSocket>,
    target: &crate::NetnsTarget,
) -> Result<ReadBack, BackendError> {
    let read = match socket {
        Some(s) => s.with(read_counted_on),
        None => target
            .run(|| read_counted_on(&nft_codec::open()?))
            .and_then(|r| r),
    };
    read.map_err(|e| super::nfnl_error(&e, "read brouter's nftables tables back", target))
}

/// What `observe` reports of the firewall: the fingerprint, the bindings, and the tables
/// named like brouter's that are not its.
pub type FirewallState = (Option<String>, Vec<Binding>, Vec<String>);

/// The fingerprint, the bindings and the foreign tables of brouter's names, read over
/// `socket` (or from a thread in `target`): what `observe` reports of the firewall. A table
/// named like brouter's without its fingerprint comment is somebody else's.
pub fn read_state(
    socket: Option<&super::BindingSocket>,
    target: &crate::NetnsTarget,
) -> Result<FirewallState, BackendError> {
    let state = match socket {
        Some(s) => s.with(|sock| super::nfnl::read_on(sock, true)),
        None => target.run(|| super::nfnl::read_here(true)).and_then(|r| r),
    }
    .map_err(|e| {
        BackendError::new(
            if e.raw_os_error() == Some(libc::EPERM) {
                ErrorKind::Permission
            } else {
                ErrorKind::Other
            },
            format!(
                "cannot read brouter's nftables tables in network namespace {}: {e}",
                target.label()
            ),
        )
    })?;
    let foreign = [("inet", &state.inet), ("bridge", &state.bridge)]
        .iter()
        .filter(|(_, s)| matches!(s, Some(None)))
        .map(|(f, _)| format!("{f} {TABLE}"))
        .collect();
    Ok((super::agree(state.inet, state.bridge), state.bindings, foreign))
}

/// A digest of both tables without the binding sets' elements (compared on their own,
/// against the bindings expected): equal digests, same contents.
pub fn digest(tables: &[Option<TableContents>; 2]) -> u64 {
    combine(
        tables
            .iter()
            .map(|t| t.as_ref().map(|t| t.digest(&is_binding_set))),
    )
}

/// The two tables' digests (`None`: a missing table) as one.
fn combine(parts: impl Iterator<Item = Option<u64>>) -> u64 {
    let mut d: u64 = 0;
    for (i, part) in parts.enumerate() {
        d ^= part.unwrap_or(0).rotate_left(i as u32 * 17) ^ (part.is_some() as u64) << i;
    }
    d
}

/// Every difference between brouter's tables as read and as `expected`, in brouter's
/// words: one line per chain, rule, set or element (`table inet brouter: chain …`), a
/// binding element named by its vif.
pub fn differences(expected: &[TableContents; 2], read: &[Option<TableContents>; 2]) -> Vec<String> {
    let mut out = vec![];
    for (family, want, have) in [
        ("inet", &expected[0], &read[0]),
        ("bridge", &expected[1], &read[1]),
    ] {
        let Some(have) = have else {
            out.push(format!("table {family} {TABLE} is missing"));
            continue;
        };
        for d in nft_codec::diff(want, have, &|s| !is_binding_set(s)) {
            out.push(format!("table {family} {TABLE}: {}", name(&d)));
        }
    }
    out
}

/// One difference in brouter's words.
pub(crate) fn name(d: &Difference) -> String {
    let (set, elem, verb) = match d {
        Difference::ElemMissing { set, elem } => (set, elem, "is missing"),
        Difference::ElemExtra { set, elem } => (set, elem, "is not brouter's (added)"),
        _ => return d.to_string(),
    };
    if !is_binding_set(set) || elem.key.len() < IFNAMSIZ {
        return d.to_string();
    }
    let vif = netlink_wire::text(&elem.key[..IFNAMSIZ]);
    let rest = &elem.key[IFNAMSIZ..];
    let what = match set.as_str() {
        s if s == MAC_BIND && rest.len() >= 6 => {
            let mac: Vec<String> = rest[..6].iter().map(|b| format!("{b:02x}")).collect();
            format!("its MAC {}", mac.join(":"))
        }
        s if (s == IP_BIND || s == IP_HOST) && rest.len() >= 4 => {
            format!(
                "its address {}",
                Ipv4Addr::new(rest[0], rest[1], rest[2], rest[3])
            )
        }
        s if (s == IP6_BIND || s == IP6_HOST) && rest.len() >= 16 => {
            let a: [u8; 16] = rest[..16].try_into().expect("16 bytes");
            format!("its address {}", std::net::Ipv6Addr::from(a))
        }
        _ => "the vif itself".to_string(),
    };
    format!("anti-spoofing binding of {vif}: {what} (set {set}) {verb}")
}
