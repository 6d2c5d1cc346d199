//! brouter's tables applied as one nf_tables netlink batch, sent in-process.
//!
//! Why: `nft -j -f -` spends ~600 ms parsing the JSON of a 10,000-forward ruleset (and
//! ~40 MB), plus a process per apply, while the kernel's own share is ~100 ms. Here the
//! same typed model ([`super::render::Tables`], the anti-spoofing bindings) is lowered
//! into the objects nft 1.0.6 would send for it ([`super::lower`]), encoded by
//! [`nft_codec`] and sent in one `send`: `BATCH_BEGIN`, the commands, `BATCH_END`, all or
//! nothing. Leaving `BATCH_END` out makes the kernel validate everything and abort (how
//! `nft -c` checks). A refusal names the object (table, set, chain, or rule by chain and
//! position), the errno, and the kernel's extended-ack message when it gives one.

use brouter_engine::firewall::Binding;
use brouter_engine::{BackendError, ErrorKind};

pub use super::lower::{encode_with, Carry, EncodeError, RuleId};
pub use nft_codec::{ApplyError, Mode, Transaction};

use super::render::Tables;
use crate::NetnsTarget;

/// Encode a transaction on brouter's two tables. `tables` (for `Create`/`Replace`) are
/// added in order after the table commands, then `bindings` as elements of the bridge
/// table's binding sets. `Delete` ignores both.
pub fn encode(mode: Mode, tables: Option<&Tables>, bindings: &[Binding]) -> Result<Transaction, EncodeError> {
    encode_with(mode, tables, bindings, Carry::default())
}

/// Send `tx` over an nfnetlink socket opened in the calling thread's namespace and wait
/// for the kernel's verdict. `check_only`: validate, apply nothing.
pub fn send_here(tx: &Transaction, check_only: bool) -> Result<(), ApplyError> {
    let sock = nft_codec::open().map_err(|e| ApplyError::io("opening a netfilter netlink socket", e))?;
    nft_codec::send(&sock, tx, check_only)
}

/// Encode and apply a transaction in `target`'s namespace: `what` names it for the admin.
pub fn apply(
    target: &NetnsTarget,
    mode: Mode,
    tables: Option<&Tables>,
    bindings: &[Binding],
    check_only: bool,
    what: &str,
) -> Result<(), BackendError> {
    let tx = encode(mode, tables, bindings).map_err(|e| unsupported(e, what))?;
    match target.run(move || send_here(&tx, check_only)) {
        Ok(sent) => sent.map_err(|e| refused(e, what, target.label())),
        Err(e) => Err(BackendError::new(
            kind_of(e.raw_os_error().unwrap_or(libc::EIO)),
            format!("cannot enter network namespace {}: {e}", target.label()),
        )),
    }
}

/// [`apply`] over an open socket of the namespace `label` names, so an apply costs no
/// thread and no `setns`.
pub(crate) fn apply_on(
    sock: &netlink_wire::Socket,
    label: &str,
    mode: Mode,
    tables: Option<&Tables>,
    bindings: &[Binding],
    carry: Carry,
    what: &str,
) -> Result<(), BackendError> {
    let tx = encode_with(mode, tables, bindings, carry).map_err(|e| unsupported(e, what))?;
    nft_codec::send(sock, &tx, false).map_err(|e| refused(e, what, label))
}

fn unsupported(e: EncodeError, what: &str) -> BackendError {
    BackendError::new(
        ErrorKind::Invalid,
        format!("cannot encode {what} for nf_tables: {e} is not supported by brouter's encoder"),
    )
}

fn refused(e: ApplyError, what: &str, label: &str) -> BackendError {
    BackendError::new(
        kind_of(e.errno),
        format!("the kernel refused {what} in network namespace {label}: {e}"),
    )
}

/// The error kind of a refusal: EPERM is a missing privilege; EOPNOTSUPP, and ENOENT
/// for an expression whose kernel module is missing, an unsupported kernel.
pub(crate) fn kind_of(errno: i32) -> ErrorKind {
    match errno {
        libc::EPERM | libc::EACCES => ErrorKind::Permission,
        libc::EOPNOTSUPP | libc::ENOENT | libc::EAFNOSUPPORT => ErrorKind::Unsupported,
        _ => ErrorKind::Other,
    }
}
