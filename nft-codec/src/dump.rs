//! Asking the kernel: does a table exist, and dumps of rules, sets and elements, each
//! answer decoded into the model.

use std::io;

use netlink_wire::{Socket, Writer, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};

use crate::batch::*;
use crate::model::{Chain, Elem, Family, Rule, Set};

/// One nf_tables request: `cmd` with `flags`, the table (and set) it is about, and more
/// attributes written by `extra`.
fn request(
    sock: &Socket,
    cmd: u16,
    flags: u16,
    family: Family,
    names: &[(u16, &str)],
    extra: impl FnOnce(&mut Writer),
) -> (Vec<u8>, u32) {
    let seq = sock.next_seq();
    let mut w = Writer::with_capacity(128);
    let ty = (NFNL_SUBSYS_NFTABLES << 8) | cmd;
    let m = w.begin_msg(ty, NLM_F_REQUEST | flags, seq, &[family.nfproto(), 0, 0, 0]);
    for (t, s) in names {
        w.put_str(*t, s);
    }
    extra(&mut w);
    w.end_msg(m);
    (w.into_bytes(), seq)
}

/// Whether table `name` of `family` exists.
pub fn table_exists(sock: &Socket, family: Family, name: &str) -> io::Result<bool> {
    let (msg, seq) = request(
        sock,
        NFT_MSG_GETTABLE,
        NLM_F_ACK,
        family,
        &[(ATTR_TABLE, name)],
        |_| {},
    );
    match sock.request(&msg, seq, |_| Ok(false)) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether set (or map) `name` of table `table` exists.
pub fn set_exists(sock: &Socket, family: Family, table: &str, name: &str) -> io::Result<bool> {
    let (msg, seq) = request(
        sock,
        NFT_MSG_GETSET,
        NLM_F_ACK,
        family,
        &[(ATTR_TABLE, table), (NFTA_SET_NAME, name)],
        |_| {},
    );
    match sock.request(&msg, seq, |_| Ok(false)) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Dump `cmd`'s objects of a table, each answer decoded by `decode`.
fn dump_table<T>(
    sock: &Socket,
    cmd: u16,
    family: Family,
    table: &str,
    decode: impl Fn(&[u8]) -> Option<T>,
) -> io::Result<Vec<T>> {
    let (msg, seq) = request(sock, cmd, NLM_F_DUMP, family, &[(ATTR_TABLE, table)], |_| {});
    let mut out = vec![];
    sock.request(&msg, seq, |m| {
        out.extend(decode(m.body));
        Ok(false)
    })?;
    Ok(out)
}

/// Every rule of a table, in chain order, with its expressions.
pub fn rules(sock: &Socket, family: Family, table: &str) -> io::Result<Vec<Rule>> {
    dump_table(sock, NFT_MSG_GETRULE, family, table, crate::decode::rule)
}

/// Every chain of a table.
///
/// The kernel does not filter a chain dump by table (rules and sets it does): it answers
/// with the chains of every table of the family, so the others are dropped here.
pub fn chains(sock: &Socket, family: Family, table: &str) -> io::Result<Vec<Chain>> {
    let mut chains = dump_table(sock, NFT_MSG_GETCHAIN, family, table, crate::decode::chain)?;
    chains.retain(|c| c.table == table);
    Ok(chains)
}

/// Every chain of every table, of every family: the kernel's answer to a dump that names
/// no table (`NFPROTO_UNSPEC`).
pub fn all_chains(sock: &Socket) -> io::Result<Vec<Chain>> {
    let (msg, seq) = request(sock, NFT_MSG_GETCHAIN, NLM_F_DUMP, Family::Other(0), &[], |_| {});
    let mut out = vec![];
    sock.request(&msg, seq, |m| {
        out.extend(crate::decode::chain(m.body));
        Ok(false)
    })?;
    Ok(out)
}

/// The rules of one chain, in order (the kernel filters the dump by table and chain).
pub fn chain_rules(sock: &Socket, family: Family, table: &str, chain: &str) -> io::Result<Vec<Rule>> {
    let names = [(ATTR_TABLE, table), (NFTA_RULE_CHAIN, chain)];
    let (msg, seq) = request(sock, NFT_MSG_GETRULE, NLM_F_DUMP, family, &names, |_| {});
    let mut out = vec![];
    sock.request(&msg, seq, |m| {
        out.extend(crate::decode::rule(m.body));
        Ok(false)
    })?;
    Ok(out)
}

/// Every set of a table.
pub fn sets(sock: &Socket, family: Family, table: &str) -> io::Result<Vec<Set>> {
    dump_table(sock, NFT_MSG_GETSET, family, table, crate::decode::set)
}

/// Every element of a set (the kernel can only list a set whole).
pub fn elements(sock: &Socket, family: Family, table: &str, set: &str) -> io::Result<Vec<Elem>> {
    let names = [(ATTR_TABLE, table), (NFTA_SET_ELEM_LIST_SET, set)];
    let (msg, seq) = request(sock, NFT_MSG_GETSETELEM, NLM_F_DUMP, family, &names, |_| {});
    let mut out = vec![];
    sock.request(&msg, seq, |m| {
        if let Some((_, elems)) = crate::decode::elements(m.body) {
            out.extend(elems);
        }
        Ok(false)
    })?;
    Ok(out)
}

/// Whether a set holds an element with key `key`: one lookup, whatever the set's size.
/// `ENOENT` (no table, set or element) reads as `false`.
pub fn has_element(sock: &Socket, family: Family, table: &str, set: &str, key: &[u8]) -> io::Result<bool> {
    let names = [(ATTR_TABLE, table), (NFTA_SET_ELEM_LIST_SET, set)];
    let (msg, seq) = request(sock, NFT_MSG_GETSETELEM, 0, family, &names, |w| {
        let list = w.nest(NFTA_SET_ELEM_LIST_ELEMENTS);
        Elem::key(key.to_vec()).write(w, crate::wire::NFTA_LIST_ELEM);
        w.end(list);
    });
    match sock.request(&msg, seq, |_| Ok(true)) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}
