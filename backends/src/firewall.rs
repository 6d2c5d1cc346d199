//! brouter's nftables tables (`inet brouter`, `bridge brouter`): apply, read back, delete,
//! and the per-vif anti-spoofing bindings.
//!
//! The ruleset is rendered to the `nftables` crate's typed model ([`render`]) — no
//! string templates — and applied as one nf_tables netlink batch sent in-process
//! ([`batch`]; no `nft` process) that adds, deletes and re-adds each table, so it works
//! whether or not the tables exist and rebuilds every set and map. The same model as
//! `nft -j` JSON ([`replace_json`]) is kept as the reference the batch is tested against. Nothing outside brouter's two tables is read or written. The
//! ruleset's fingerprint is stored as a rule comment so a converged `start` compares
//! instead of rewriting.

pub mod batch;
pub mod bindings;
pub mod counters;
pub mod drift;
pub mod elements;
pub mod exec;
mod expr;
mod lower;
mod nfnl;
mod readback;
pub mod render;
pub mod text;

use brouter_engine::firewall::{Binding, Ruleset};
use brouter_engine::{BackendError, ErrorKind, FirewallCounters};
use nftables::batch::Batch;
use nftables::schema::{NfCmd, NfListObject};
use nftables::types::NfFamily;

pub use bindings::BindingSocket;
pub use render::{render, Tables};

use crate::NetnsTarget;

/// The tables for `ruleset`, stamped with its fingerprint.
pub fn tables(ruleset: &Ruleset) -> Tables {
    render(ruleset, &ruleset.fingerprint())
}

/// The ruleset in nft's own syntax (what `brouter check` prints).
pub fn render_text(ruleset: &Ruleset) -> String {
    let t = tables(ruleset);
    format!("{}\n{}", text::table_text(&t.inet), text::table_text(&t.bridge))
}

/// The number of rules brouter installs for `ruleset` (independent of forwards, hosts and vifs).
pub fn rule_count(ruleset: &Ruleset) -> usize {
    tables(ruleset).rule_count()
}

/// The JSON transaction that replaces both tables and re-inserts `bindings`.
pub fn replace_json(ruleset: &Ruleset, bindings: &[Binding]) -> String {
    transaction_json(ruleset, bindings, false)
}

/// The JSON transaction that creates both tables, failing (changing nothing) if either
/// exists: on a host without brouter's tables it saves the table deletion, which costs
/// the kernel a grace period (FIELD-NOTES: ~6–20 ms) even for a table made in the same batch.
pub fn create_json(ruleset: &Ruleset, bindings: &[Binding]) -> String {
    transaction_json(ruleset, bindings, true)
}

fn transaction_json(ruleset: &Ruleset, bindings: &[Binding], fresh: bool) -> String {
    let t = tables(ruleset);
    let mut batch = Batch::new();
    for (family, objects) in [(NfFamily::INet, t.inet), (NfFamily::Bridge, t.bridge)] {
        if fresh {
            batch.add_cmd(NfCmd::Create(NfListObject::Table(render::table(family))));
        } else {
            // add + delete + add: works whether or not the table exists (FIELD-NOTES).
            batch.add(NfListObject::Table(render::table(family)));
            batch.delete(NfListObject::Table(render::table(family)));
        }
        for o in objects {
            if matches!(&o, NfListObject::Rule(r) if !render::nft_can_parse(r)) {
                continue;
            }
            batch.add(o);
        }
    }
    for b in bindings {
        for e in render::binding_elements(b) {
            batch.add(NfListObject::Element(e));
        }
    }
    to_json(batch)
}

fn to_json(batch: Batch<'_>) -> String {
    let mut v = serde_json::to_value(batch.to_nftables()).expect("the typed nftables model serialises");
    add_element_counters(&mut v);
    serde_json::to_string(&v).expect("JSON values serialise")
}

/// Give the sets and maps [`render::counts_elements`] names nft's set-level `counter`
/// statement (`"stmt": [{"counter": null}]`), so each element counts the packets that
/// match it: per-forward counters without a rule per forward. The `nftables` crate
/// (0.6.3) has no field for it, and elements that ask for a counter in a set without the
/// statement silently get none (nft 1.0.6), so it is added to the JSON here.
fn add_element_counters(v: &mut serde_json::Value) {
    let Some(cmds) = v.get_mut("nftables").and_then(|c| c.as_array_mut()) else {
        return;
    };
    for cmd in cmds {
        let Some(obj) = ["add", "create"]
            .iter()
            .find_map(|verb| cmd.get(*verb).map(|_| *verb))
            .and_then(|verb| cmd.get_mut(verb))
            .and_then(|o| o.as_object_mut())
        else {
            continue;
        };
        for kind in ["set", "map"] {
            let Some(set) = obj.get_mut(kind).and_then(|s| s.as_object_mut()) else {
                continue;
            };
            let inet = set.get("family").and_then(|f| f.as_str()) == Some("inet");
            let counted = set
                .get("name")
                .and_then(|n| n.as_str())
                .is_some_and(render::counts_elements);
            if inet && counted {
                set.insert("stmt".into(), serde_json::json!([{ "counter": null }]));
            }
        }
    }
}

/// Apply a JSON transaction; on failure, nft's own complaint with the command it names.
fn apply(target: &NetnsTarget, json: String, what: &str, check_only: bool) -> Result<(), BackendError> {
    let args: &[&str] = if check_only {
        &["-c", "-j", "-f", "-"]
    } else {
        &["-j", "-f", "-"]
    };
    let out = exec::nft(target, args, Some(json.clone()))?;
    if out.success {
        return Ok(());
    }
    let mut msg = format!(
        "nft refused {what} in network namespace {}: {}",
        target.label(),
        if out.stderr.is_empty() {
            "(no message)"
        } else {
            &out.stderr
        }
    );
    if let Some(cmd) = failing_command(&json, &out.stderr) {
        msg.push_str(&format!("\n  the command it names: {cmd}"));
    }
    Err(BackendError::new(exec::kind_of(&out.stderr), msg))
}

/// nft reports JSON parse errors as "command array at index N": show that command.
fn failing_command(json: &str, stderr: &str) -> Option<String> {
    let idx: usize = stderr
        .split("command array at index ")
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let cmd = v.get("nftables")?.get(idx)?.to_string();
    Some(cmd.chars().take(400).collect())
}

/// List one of brouter's tables as JSON text; `None` if it does not exist.
fn list(target: &NetnsTarget, family: &str) -> Result<Option<String>, BackendError> {
    let out = exec::nft(target, &["-j", "list", "table", family, render::TABLE], None)?;
    if out.success {
        return Ok(Some(out.stdout));
    }
    if out.stderr.contains("No such file or directory") {
        return Ok(None);
    }
    Err(BackendError::new(
        exec::kind_of(&out.stderr),
        format!(
            "cannot list table {family} brouter in network namespace {}: {}",
            target.label(),
            out.stderr
        ),
    ))
}

/// The fingerprint stored with brouter's tables, or `None` if they do not exist. Tables
/// that disagree (one missing, or stamped differently) read as a fingerprint no ruleset
/// has, so `start` rewrites them and `stop` deletes them. Read over nfnetlink (no `nft`).
pub fn read_fingerprint(target: &NetnsTarget) -> Result<Option<String>, BackendError> {
    Ok(read_state(target, false)?.0)
}

/// The anti-spoofing bindings in `bridge brouter` (empty if the table does not exist).
pub fn read_bindings(target: &NetnsTarget) -> Result<Vec<Binding>, BackendError> {
    Ok(read_state(target, true)?.1)
}

/// The fingerprint and (if asked) the bindings, in one trip into the namespace over one
/// nfnetlink socket: a handful of small dumps, whatever the size of the maps (`nft list`
/// reads every element of every map first, ~100 ms at 10,000 forwards).
pub fn read_state(
    target: &NetnsTarget,
    with_bindings: bool,
) -> Result<(Option<String>, Vec<Binding>), BackendError> {
    let state = target
        .run(move || nfnl::read_here(with_bindings))
        .and_then(|r| r)
        .map_err(|e| read_error(&e, "brouter's nftables tables", target))?;
    Ok((agree(state.inet, state.bridge), state.bindings))
}

/// One fingerprint from the two tables' (see [`read_fingerprint`]).
fn agree(inet: Option<Option<String>>, bridge: Option<Option<String>>) -> Option<String> {
    match (inet, bridge) {
        (None, None) => None,
        (Some(Some(a)), Some(Some(b))) if a == b => Some(a),
        (a, b) => Some(format!("inconsistent(inet {a:?}, bridge {b:?})")),
    }
}

/// The counters of brouter's firewall (forwards, policy hits, logged drops): empty if
/// its tables do not exist. Read over nfnetlink: a rule dump and six set dumps.
pub fn read_counters(target: &NetnsTarget) -> Result<FirewallCounters, BackendError> {
    let counters = target
        .run(counters::read_here)
        .and_then(|r| r)
        .map_err(|e| read_error(&e, "the counters of brouter's nftables tables", target))?;
    Ok(counters.unwrap_or_default())
}

/// A failed nfnetlink read, for the admin: EPERM means brouter needs root.
fn read_error(e: &std::io::Error, what: &str, target: &NetnsTarget) -> BackendError {
    nfnl_error(e, &format!("read {what}"), target)
}

/// A failed nfnetlink exchange (`cannot <doing> in network namespace …`).
fn nfnl_error(e: &std::io::Error, doing: &str, target: &NetnsTarget) -> BackendError {
    let kind = if e.raw_os_error() == Some(libc::EPERM) {
        ErrorKind::Permission
    } else {
        ErrorKind::Other
    };
    BackendError::new(
        kind,
        format!("cannot {doing} in network namespace {}: {e}", target.label()),
    )
}

/// [`read_fingerprint`] through `nft -j list table` (slow with big maps): kept as the
/// reference the nfnetlink reader is tested against.
pub fn read_fingerprint_nft(target: &NetnsTarget) -> Result<Option<String>, BackendError> {
    let inet = list(target, "inet")?.map(|j| readback::fingerprint(&j));
    let bridge = list(target, "bridge")?.map(|j| readback::fingerprint(&j));
    Ok(agree(inet, bridge))
}

/// [`read_bindings`] through `nft -j list table` (the reference for tests).
pub fn read_bindings_nft(target: &NetnsTarget) -> Result<Vec<Binding>, BackendError> {
    Ok(list(target, "bridge")?
        .map(|j| readback::bindings(&j))
        .unwrap_or_default())
}

/// Replace brouter's tables with `ruleset` in one transaction.
pub fn replace(target: &NetnsTarget, ruleset: &Ruleset) -> Result<(), BackendError> {
    replace_with_bindings(target, ruleset, &[])
}

/// Replace brouter's tables and re-insert `bindings`, all in one transaction (the
/// counters carry over, as in [`BindingSocket::apply_firewall`]).
pub fn replace_with_bindings(
    target: &NetnsTarget,
    ruleset: &Ruleset,
    bindings: &[Binding],
) -> Result<(), BackendError> {
    on_socket(target, |sock| {
        sock.apply_firewall(target.label(), ruleset, bindings, false, None)
    })
}

/// [`replace_with_bindings`] carrying `carry`'s counts over (as `start` does with the
/// counts of the read-back it compared the tables with), without dumping them again.
pub fn replace_carrying(
    target: &NetnsTarget,
    ruleset: &Ruleset,
    bindings: &[Binding],
    carry: batch::Carry,
) -> Result<(), BackendError> {
    on_socket(target, |sock| {
        sock.apply_firewall(target.label(), ruleset, bindings, false, Some(carry))
    })
}

/// The counts a replace of brouter's tables in `target` would carry over, from one dump
/// of `inet brouter` as the read-back makes it.
pub fn read_carry(target: &NetnsTarget) -> Result<batch::Carry, BackendError> {
    let read = drift::read_tables(None, target)?;
    Ok(read.tables[0]
        .as_ref()
        .map(counters::carry_of_dump)
        .unwrap_or_default())
}

/// Create brouter's tables (with `bindings`) where neither exists yet; if one does after
/// all (somebody made it since it was observed), replace them instead.
pub fn create_with_bindings(
    target: &NetnsTarget,
    ruleset: &Ruleset,
    bindings: &[Binding],
) -> Result<(), BackendError> {
    on_socket(target, |sock| {
        sock.apply_firewall(target.label(), ruleset, bindings, true, None)
    })
}

/// Run `f` on an nfnetlink socket opened inside `target` (the socket stays bound to that
/// namespace whichever thread uses it): the same code path `NetlinkBackend` takes over
/// the socket it keeps.
fn on_socket<R>(
    target: &NetnsTarget,
    f: impl FnOnce(&BindingSocket) -> Result<R, BackendError>,
) -> Result<R, BackendError> {
    let sock = target
        .run(BindingSocket::open_here)
        .and_then(|r| r)
        .map_err(|e| nfnl_error(&e, "open an nfnetlink socket", target))?;
    f(&sock)
}

/// Validate `ruleset` with the kernel of `target` without applying it (the batch without
/// its end marker, as `nft --check` does), and return it in nft syntax.
pub fn check(target: &NetnsTarget, ruleset: &Ruleset) -> Result<String, BackendError> {
    let t = tables(ruleset);
    batch::apply(
        target,
        batch::Mode::Replace,
        Some(&t),
        &[],
        true,
        "brouter's firewall (check only)",
    )?;
    Ok(render_text(ruleset))
}

/// Delete brouter's tables if they exist; nothing else.
pub fn delete(target: &NetnsTarget) -> Result<(), BackendError> {
    on_socket(target, |sock| sock.delete_firewall(target.label()))
}

/// Bind a vif (replacing the binding it had) by element updates in one transaction,
/// through `nft` (which reads every binding first). `NetlinkBackend` binds over nfnetlink
/// instead ([`BindingSocket`]), at a cost that does not grow with the number of vifs.
pub fn add_binding(target: &NetnsTarget, binding: &Binding) -> Result<(), BackendError> {
    let existing = read_bindings(target)?;
    let mut batch = Batch::new();
    if let Some(old) = existing.iter().find(|b| b.vif == binding.vif) {
        delete_elements(&mut batch, old);
    }
    for e in render::binding_elements(binding) {
        batch.add(NfListObject::Element(e));
    }
    let addrs: Vec<String> = binding.addrs.iter().map(|a| a.to_string()).collect();
    let what = format!(
        "binding {} to MAC {} and addresses [{}]",
        binding.vif,
        binding.mac,
        addrs.join(", ")
    );
    apply(target, to_json(batch), &what, false).map_err(not_started)
}

/// Remove a vif's binding; nothing to do if it has none (or the tables are gone).
pub fn remove_binding(target: &NetnsTarget, vif: &str) -> Result<(), BackendError> {
    let existing = read_bindings(target)?;
    let Some(old) = existing.iter().find(|b| b.vif == vif) else {
        return Ok(());
    };
    let mut batch = Batch::new();
    delete_elements(&mut batch, old);
    apply(target, to_json(batch), &format!("unbinding {vif}"), false)
}

fn delete_elements(batch: &mut Batch<'static>, b: &Binding) {
    for e in render::binding_elements(b) {
        batch.add_cmd(NfCmd::Delete(NfListObject::Element(e)));
    }
}

fn not_started(mut e: BackendError) -> BackendError {
    if e.message.contains("No such file or directory") {
        e.kind = ErrorKind::Other;
        e.message
            .push_str("\n  brouter's firewall is not applied here: run `brouter start` first");
    }
    e
}
