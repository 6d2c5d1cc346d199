//! Writing nf_tables commands into one batch: `BATCH_BEGIN`, the commands, `BATCH_END`,
//! applied by the kernel all or nothing.
//!
//! Every command asks for an acknowledgement and is numbered; the batch remembers what
//! each number writes (`rule 3 of chain fwd_judge in table inet brouter`), so a refusal
//! names its object ([`crate::send`]).

use netlink_wire::{Writer, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST};

/// `NLM_F_REPLACE`: a new rule takes the place of the one its handle names.
const NLM_F_REPLACE: u16 = 0x100;

use crate::model::{Chain, Elem, Family, Rule, Set, SetRef, Table};
use crate::wire::NFTA_LIST_ELEM;

/// `NFNL_SUBSYS_NFTABLES`: the batch markers' `res_id`, and the high byte of message types.
pub const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
pub const NFT_MSG_NEWTABLE: u16 = 0;
pub const NFT_MSG_GETTABLE: u16 = 1;
pub const NFT_MSG_DELTABLE: u16 = 2;
pub const NFT_MSG_NEWCHAIN: u16 = 3;
pub const NFT_MSG_GETCHAIN: u16 = 4;
pub const NFT_MSG_NEWRULE: u16 = 6;
pub const NFT_MSG_GETRULE: u16 = 7;
pub const NFT_MSG_NEWSET: u16 = 9;
pub const NFT_MSG_GETSET: u16 = 10;
pub const NFT_MSG_NEWSETELEM: u16 = 12;
pub const NFT_MSG_GETSETELEM: u16 = 13;
pub const NFT_MSG_DELSETELEM: u16 = 14;
/// A nested attribute's length is a `u16`: element lists are split well below it.
pub const NEST_LIMIT: usize = 60 * 1024;

/// Attribute numbers shared by several messages (`NFTA_TABLE_NAME`, `NFTA_CHAIN_TABLE`,
/// `NFTA_RULE_TABLE`, `NFTA_SET_TABLE`, `NFTA_SET_ELEM_LIST_TABLE` are all 1).
pub(crate) const ATTR_TABLE: u16 = 1;
pub(crate) const NFTA_TABLE_FLAGS: u16 = 2;
pub(crate) const NFTA_CHAIN_HOOK: u16 = 4;
pub(crate) const NFTA_CHAIN_POLICY: u16 = 5;
pub(crate) const NFTA_CHAIN_NAME: u16 = 3;
pub(crate) const NFTA_CHAIN_TYPE: u16 = 7;
pub(crate) const NFTA_HOOK_HOOKNUM: u16 = 1;
pub(crate) const NFTA_HOOK_PRIORITY: u16 = 2;
pub(crate) const NFTA_RULE_CHAIN: u16 = 2;
pub(crate) const NFTA_RULE_HANDLE: u16 = 3;
pub(crate) const NFTA_RULE_EXPRESSIONS: u16 = 4;
pub(crate) const NFTA_RULE_USERDATA: u16 = 7;
pub(crate) const NFTA_SET_NAME: u16 = 2;
pub(crate) const NFTA_SET_FLAGS: u16 = 3;
pub(crate) const NFTA_SET_KEY_TYPE: u16 = 4;
pub(crate) const NFTA_SET_KEY_LEN: u16 = 5;
pub(crate) const NFTA_SET_DATA_TYPE: u16 = 6;
pub(crate) const NFTA_SET_DATA_LEN: u16 = 7;
pub(crate) const NFTA_SET_DESC: u16 = 9;
pub(crate) const NFTA_SET_DESC_SIZE: u16 = 1;
pub(crate) const NFTA_SET_DESC_CONCAT: u16 = 2;
pub(crate) const NFTA_SET_FIELD_LEN: u16 = 1;
pub(crate) const NFTA_SET_ID: u16 = 10;
pub(crate) const NFTA_SET_USERDATA: u16 = 13;
pub(crate) const NFTA_SET_EXPR: u16 = 17;
pub(crate) const NFTA_SET_ELEM_LIST_SET: u16 = 2;
pub(crate) const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
pub(crate) const NFTA_SET_ELEM_LIST_SET_ID: u16 = 4;

/// What a transaction does to a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Create the table, failing (changing nothing) if it exists: saves the table
    /// deletion's grace period on a host that has none.
    Create,
    /// Add, delete and re-add the table, then fill it: works whether or not it exists.
    Replace,
    /// Add and delete the table: gone afterwards whether or not it existed.
    Delete,
}

/// A batch being written.
#[derive(Debug)]
pub struct Batch {
    w: Writer,
    next_seq: u32,
    /// `(seq, what)` of every command.
    what: Vec<(u32, String)>,
    begin_seq: u32,
}

/// A batch, encoded: its bytes and what each command writes.
#[derive(Debug)]
pub struct Transaction {
    bytes: Vec<u8>,
    /// Where `BATCH_END` starts (a check sends only what is before it).
    end_at: usize,
    begin_seq: u32,
    what: Vec<(u32, String)>,
}

impl Default for Batch {
    fn default() -> Self {
        Batch::new()
    }
}

impl Batch {
    /// A batch whose `BATCH_BEGIN` is message 1.
    pub fn new() -> Batch {
        let mut b = Batch {
            w: Writer::with_capacity(64 * 1024),
            next_seq: 1,
            what: vec![],
            begin_seq: 1,
        };
        b.marker(NFNL_MSG_BATCH_BEGIN);
        b
    }

    fn marker(&mut self, ty: u16) {
        let seq = self.take_seq();
        let res_id = NFNL_SUBSYS_NFTABLES.to_be_bytes();
        let m = self
            .w
            .begin_msg(ty, NLM_F_REQUEST, seq, &[0, 0, res_id[0], res_id[1]]);
        self.w.end_msg(m);
    }

    fn take_seq(&mut self) -> u32 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        seq
    }

    /// Start an acknowledged nf_tables command; returns its offset for `end_msg`.
    fn begin_cmd(&mut self, cmd: u16, flags: u16, family: Family, what: String) -> usize {
        let seq = self.take_seq();
        self.what.push((seq, what));
        let ty = (NFNL_SUBSYS_NFTABLES << 8) | cmd;
        self.w.begin_msg(
            ty,
            NLM_F_REQUEST | NLM_F_ACK | flags,
            seq,
            &[family.nfproto(), 0, 0, 0],
        )
    }

    /// Add `t` (`exclusive`: fail if it exists).
    pub fn new_table(&mut self, t: &Table, exclusive: bool) {
        let flags = if exclusive {
            NLM_F_CREATE | NLM_F_EXCL
        } else {
            NLM_F_CREATE
        };
        let what = format!("table {} {}", t.family.name(), t.name);
        let m = self.begin_cmd(NFT_MSG_NEWTABLE, flags, t.family, what);
        self.w.put_str(ATTR_TABLE, &t.name);
        self.w.put_be32(NFTA_TABLE_FLAGS, t.flags);
        self.w.end_msg(m);
    }

    /// Delete a table and everything in it.
    pub fn del_table(&mut self, family: Family, name: &str) {
        let what = format!("deleting table {} {name}", family.name());
        let m = self.begin_cmd(NFT_MSG_DELTABLE, 0, family, what);
        self.w.put_str(ATTR_TABLE, name);
        self.w.end_msg(m);
    }

    /// The table commands of `mode` for `t` (see [`Mode`]).
    pub fn table(&mut self, mode: Mode, t: &Table) {
        match mode {
            Mode::Create => self.new_table(t, true),
            Mode::Replace | Mode::Delete => {
                self.new_table(t, false);
                self.del_table(t.family, &t.name);
                if mode == Mode::Replace {
                    self.new_table(t, false);
                }
            }
        }
    }

    /// Add a chain; `what` names it in an error.
    pub fn new_chain(&mut self, c: &Chain, what: String) {
        let m = self.begin_cmd(NFT_MSG_NEWCHAIN, NLM_F_CREATE, c.family, what);
        self.w.put_str(ATTR_TABLE, &c.table);
        self.w.put_str(NFTA_CHAIN_NAME, &c.name);
        if let Some(b) = &c.base {
            self.w.put_str(NFTA_CHAIN_TYPE, &b.ty);
            self.w.put_be32(NFTA_CHAIN_POLICY, b.policy.code() as u32);
            let h = self.w.nest(NFTA_CHAIN_HOOK);
            self.w.put_be32(NFTA_HOOK_HOOKNUM, b.hook);
            self.w.put_be32(NFTA_HOOK_PRIORITY, b.priority as u32);
            self.w.end(h);
        }
        self.w.end_msg(m);
    }

    /// Append a rule to its chain; `what` names it in an error.
    pub fn new_rule(&mut self, r: &Rule, what: String) {
        let m = self.begin_cmd(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, r.family, what);
        self.rule_body(r, None);
        self.w.end_msg(m);
    }

    /// Replace the rule with `handle` in its chain by `r`, in place (its position kept):
    /// how a rule's comment is rewritten without touching its neighbours.
    pub fn replace_rule(&mut self, r: &Rule, handle: u64, what: String) {
        let m = self.begin_cmd(NFT_MSG_NEWRULE, NLM_F_REPLACE, r.family, what);
        self.rule_body(r, Some(handle));
        self.w.end_msg(m);
    }

    /// A rule's attributes: table, chain, the handle it replaces, expressions, user data.
    fn rule_body(&mut self, r: &Rule, handle: Option<u64>) {
        self.w.put_str(ATTR_TABLE, &r.table);
        self.w.put_str(NFTA_RULE_CHAIN, &r.chain);
        if let Some(h) = handle {
            self.w.put_be64(NFTA_RULE_HANDLE, h);
        }
        let l = self.w.nest(NFTA_RULE_EXPRESSIONS);
        for e in &r.exprs {
            e.write(&mut self.w);
        }
        self.w.end(l);
        if let Some(u) = &r.userdata {
            self.w.put(NFTA_RULE_USERDATA, u);
        }
    }

    /// Add a set or map; `what` names it in an error.
    pub fn new_set(&mut self, s: &Set, what: String) {
        let m = self.begin_cmd(NFT_MSG_NEWSET, NLM_F_CREATE, s.family, what);
        self.w.put_str(ATTR_TABLE, &s.table);
        self.w.put_str(NFTA_SET_NAME, &s.name);
        self.w.put_be32(NFTA_SET_FLAGS, s.flags);
        self.w.put_be32(NFTA_SET_KEY_TYPE, s.key.type_id);
        self.w.put_be32(NFTA_SET_KEY_LEN, s.key.len);
        if let Some(d) = s.data {
            self.w.put_be32(NFTA_SET_DATA_TYPE, d.type_id);
            self.w.put_be32(NFTA_SET_DATA_LEN, d.len);
        }
        if let Some(id) = s.id {
            self.w.put_be32(NFTA_SET_ID, id);
        }
        if s.size.is_some() || !s.fields.is_empty() {
            let d = self.w.nest(NFTA_SET_DESC);
            if let Some(size) = s.size {
                self.w.put_be32(NFTA_SET_DESC_SIZE, size);
            }
            if !s.fields.is_empty() {
                let c = self.w.nest(NFTA_SET_DESC_CONCAT);
                for len in &s.fields {
                    let f = self.w.nest(crate::wire::NFTA_LIST_ELEM);
                    self.w.put_be32(NFTA_SET_FIELD_LEN, *len);
                    self.w.end(f);
                }
                self.w.end(c);
            }
            self.w.end(d);
        }
        self.w.put(NFTA_SET_USERDATA, &s.udata);
        if s.counter {
            let e = self.w.nest(NFTA_SET_EXPR);
            self.w.put_str(crate::wire::NFTA_EXPR_NAME, "counter");
            let d = self.w.nest(crate::wire::NFTA_EXPR_DATA);
            self.w.end(d);
            self.w.end(e);
        }
        self.w.end_msg(m);
    }

    /// Add `elems` to a set, in as many messages as keep each element list under 64 KiB.
    pub fn new_elements(&mut self, set: SetRef<'_>, elems: &[Elem], what: &str) {
        self.elements(NFT_MSG_NEWSETELEM, NLM_F_CREATE, set, elems, what);
    }

    /// Delete `elems` (by key) from a set.
    pub fn del_elements(&mut self, set: SetRef<'_>, elems: &[Elem], what: &str) {
        self.elements(NFT_MSG_DELSETELEM, 0, set, elems, what);
    }

    fn elements(&mut self, cmd: u16, flags: u16, set: SetRef<'_>, elems: &[Elem], what: &str) {
        let mut rest = elems;
        let mut part = 0;
        while !rest.is_empty() {
            part += 1;
            let label = if part == 1 {
                what.to_string()
            } else {
                format!("{what} (part {part})")
            };
            let m = self.begin_cmd(cmd, flags, set.family, label);
            self.w.put_str(ATTR_TABLE, set.table);
            self.w.put_str(NFTA_SET_ELEM_LIST_SET, set.name);
            if let Some(id) = set.id {
                self.w.put_be32(NFTA_SET_ELEM_LIST_SET_ID, id);
            }
            let list = self.w.nest(NFTA_SET_ELEM_LIST_ELEMENTS);
            let mut n = 0;
            for e in rest {
                if n > 0 && self.w.len() - list > NEST_LIMIT {
                    break;
                }
                n += 1;
                // nft numbers the list's elements (the kernel ignores the type).
                e.write(&mut self.w, (n as u16 & 0x3fff).max(NFTA_LIST_ELEM));
            }
            self.w.end(list);
            self.w.end_msg(m);
            rest = &rest[n..];
        }
    }

    /// Close the batch with `BATCH_END`.
    pub fn finish(mut self) -> Transaction {
        let end_at = self.w.len();
        self.marker(NFNL_MSG_BATCH_END);
        Transaction {
            bytes: self.w.into_bytes(),
            end_at,
            begin_seq: self.begin_seq,
            what: self.what,
        }
    }
}

impl Transaction {
    /// The size of the batch in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the batch holds no command.
    pub fn is_empty(&self) -> bool {
        self.what.is_empty()
    }

    /// The number of commands between the batch markers.
    pub fn commands(&self) -> usize {
        self.what.len()
    }

    /// The raw batch (for tests comparing with what nft sends).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The batch without its end marker: the kernel validates it, applies nothing.
    pub fn check_bytes(&self) -> &[u8] {
        &self.bytes[..self.end_at]
    }

    /// What each command writes, in order.
    pub fn descriptions(&self) -> impl Iterator<Item = &str> {
        self.what.iter().map(|(_, w)| w.as_str())
    }

    /// What the message numbered `seq` writes (or the batch as a whole).
    pub fn describe(&self, seq: u32) -> String {
        if seq == self.begin_seq {
            return "the batch as a whole".into();
        }
        self.what
            .binary_search_by_key(&seq, |(s, _)| *s)
            .map(|i| self.what[i].1.clone())
            .unwrap_or_else(|_| format!("message {seq}"))
    }

    /// The sequence number of `BATCH_BEGIN` (a refusal of the whole batch answers it).
    pub fn begin_seq(&self) -> u32 {
        self.begin_seq
    }
}
