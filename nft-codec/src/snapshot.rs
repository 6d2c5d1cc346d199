//! One table's contents as comparable data: what a [`crate::Transaction`] would install,
//! or what a dump of the kernel finds, in the same normalised form.
//!
//! Why: "is the table still what I installed?" must be answered element by element, and
//! the two sides speak differently. A batch names anonymous sets `__set%d` and refers to
//! them by id; the kernel numbers them (`__set3`) and answers by name. The kernel counts
//! (counters), numbers rules (handles) and reports ids a batch never set. A snapshot drops
//! all of that: counters read as zero, handles and ids are gone, and a rule's lookup of an
//! anonymous set names the set by its contents, so the same rule reads the same from
//! either side.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::io;

use netlink_wire::{be32, find, messages, Socket};

use crate::batch::*;
use crate::expr::Expr;
use crate::model::{Chain, Elem, Family, Rule, Set};
use crate::{dump, Transaction, NFT_SET_ANONYMOUS};

/// The contents of one table, normalised (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TableContents {
    /// Chains by name.
    pub chains: BTreeMap<String, Chain>,
    /// The rules of each chain, in order.
    pub rules: BTreeMap<String, Vec<Rule>>,
    /// Named sets and maps by name (anonymous ones live inside the rules that use them).
    pub sets: BTreeMap<String, Set>,
    /// The elements of each named set, sorted by key.
    pub elements: BTreeMap<String, Vec<Elem>>,
}

impl TableContents {
    /// A digest of everything but the elements of the sets `skip_elements` names: equal
    /// contents, equal digests (within one build of this crate). A cheap "did anything
    /// change" between a read-back and what was installed, without keeping either.
    pub fn digest(&self, skip_elements: &dyn Fn(&str) -> bool) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.hash_definitions(&mut h);
        for (name, elems) in &self.elements {
            if !skip_elements(name) {
                hash_elements(&mut h, name, elems.iter());
            }
        }
        h.finish()
    }

    /// Chains, rules and sets (everything but the elements) into `h`.
    fn hash_definitions(&self, h: &mut impl Hasher) {
        self.chains.hash(h);
        self.rules.hash(h);
        self.sets.hash(h);
    }
}

/// A named set's elements into `h`, whatever their order (a dump answers in hash order):
/// their number and the sum of their own digests, counters left out.
fn hash_elements<'a>(h: &mut impl Hasher, name: &str, elems: impl Iterator<Item = &'a Elem>) {
    let (mut n, mut sum) = (0u64, 0u64);
    for e in elems {
        let mut eh = std::collections::hash_map::DefaultHasher::new();
        e.key.hash(&mut eh);
        e.key_end.hash(&mut eh);
        e.data.hash(&mut eh);
        e.end.hash(&mut eh);
        e.open.hash(&mut eh);
        n += 1;
        sum = sum.wrapping_add(eh.finish());
    }
    name.hash(h);
    n.hash(h);
    sum.hash(h);
}

/// A set as the snapshot keeps it: no id, no size hint of the batch.
fn norm_set(mut s: Set) -> Set {
    s.id = None;
    s.size = None;
    s
}

/// An element without its counts.
fn norm_elem(mut e: Elem) -> Elem {
    e.counter = None;
    e
}

/// A rule without its handle and counts; lookups of anonymous sets name their contents.
fn norm_rule(mut r: Rule, anon: &dyn Fn(&str, Option<u32>) -> Option<String>) -> Rule {
    r.handle = None;
    for e in &mut r.exprs {
        match e {
            Expr::Counter { packets, bytes } => {
                *packets = 0;
                *bytes = 0;
            }
            // The kernel adds NF_NAT_RANGE_MAP_IPS / _PROTO_SPECIFIED for the registers given.
            Expr::Nat {
                addr, proto, flags, ..
            } => {
                *flags |= addr.is_some() as u32 | ((proto.is_some() as u32) << 1);
            }
            Expr::Lookup { set, id, .. } => {
                if let Some(contents) = anon(set, *id) {
                    *set = contents;
                }
                *id = None;
            }
            _ => {}
        }
    }
    r
}

/// How an anonymous set reads inside a rule: its flags and its sorted elements.
fn describe_anonymous(s: &Set, elems: &[&Elem]) -> String {
    let mut keys: Vec<String> = elems
        .iter()
        .map(|e| {
            let mut k = hex(&e.key);
            if e.end {
                k.push_str("(end)");
            }
            if let Some(d) = &e.data {
                k.push_str(&format!("->{d:?}"));
            }
            k
        })
        .collect();
    keys.sort();
    format!(
        "{{flags {:#x}: {}}}",
        s.flags & !NFT_SET_ANONYMOUS,
        keys.join(", ")
    )
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A set by name and (within a batch) id.
type SetKey = (String, Option<u32>);

/// The raw pieces of a table before normalisation.
#[derive(Debug, Clone, Default)]
struct Raw {
    chains: Vec<Chain>,
    rules: Vec<Rule>,
    /// Sets with the id a batch gave them (`None` from a dump).
    sets: Vec<Set>,
    /// Elements by (set name, set id).
    elements: Vec<(SetKey, Vec<Elem>)>,
}

impl Raw {
    fn finish(self) -> TableContents {
        let Raw {
            chains,
            rules,
            sets,
            elements,
        } = self;
        let elems_of = |name: &str, id: Option<u32>| -> Vec<&Elem> {
            elements
                .iter()
                .filter(|((n, i), _)| n == name && (id.is_none() || i.is_none() || *i == id))
                .flat_map(|(_, e)| e.iter())
                .collect()
        };
        let mut anon: BTreeMap<SetKey, String> = BTreeMap::new();
        for s in sets.iter().filter(|s| s.flags & NFT_SET_ANONYMOUS != 0) {
            let desc = describe_anonymous(s, &elems_of(&s.name, s.id));
            anon.insert((s.name.clone(), s.id), desc);
        }
        // The named sets' elements are moved, not copied: 10,000-element maps.
        // A dumped set's elements come as one vector, moved as it is; a transaction's come
        // in many messages, gathered into one vector sized first (growing by doubling
        // would leave up to half of each 10,000-element vector unused at the peak).
        let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
        for ((name, _), elems) in &elements {
            *sizes.entry(name.as_str()).or_default() += elems.len();
        }
        let sizes: BTreeMap<String, usize> = sizes.into_iter().map(|(n, k)| (n.to_string(), k)).collect();
        let mut named: BTreeMap<String, Vec<Elem>> = BTreeMap::new();
        for ((name, _), elems) in elements {
            match named.get_mut(&name) {
                Some(all) => all.extend(elems),
                None if elems.len() == sizes[&name] => {
                    named.insert(name, elems);
                }
                None => {
                    let mut all = Vec::with_capacity(sizes[&name]);
                    all.extend(elems);
                    named.insert(name, all);
                }
            }
        }
        let mut out = TableContents::default();
        for s in sets {
            if s.flags & NFT_SET_ANONYMOUS != 0 {
                continue;
            }
            // A set defined twice keeps the elements found for its name the first time.
            if let Some(elems) = named.remove(&s.name) {
                let mut elems: Vec<Elem> = elems.into_iter().map(norm_elem).collect();
                // A dump's vector grew by doubling as it was read.
                elems.shrink_to_fit();
                elems.sort_by(|a, b| (&a.key, a.end).cmp(&(&b.key, b.end)));
                out.elements.insert(s.name.clone(), elems);
            } else {
                out.elements.entry(s.name.clone()).or_default();
            }
            out.sets.insert(s.name.clone(), norm_set(s));
        }
        let lookup = |name: &str, id: Option<u32>| -> Option<String> {
            if !name.starts_with("__") {
                return None;
            }
            anon.get(&(name.to_string(), id))
                .or_else(|| anon.iter().find(|((n, _), _)| n == name).map(|(_, d)| d))
                .cloned()
        };
        for c in chains {
            out.rules.entry(c.name.clone()).or_default();
            out.chains.insert(c.name.clone(), c);
        }
        for r in rules {
            let r = norm_rule(r, &lookup);
            out.rules.entry(r.chain.clone()).or_default().push(r);
        }
        out
    }
}

/// What `tx` leaves in table `name` of `family`, if the transaction writes it: its
/// commands replayed in order (a table deletion empties what came before).
pub fn of_transaction(tx: &Transaction, family: Family, name: &str) -> Option<TableContents> {
    let mut raw: Option<Raw> = None;
    for m in messages(tx.bytes()).flatten() {
        if m.ty >> 8 != NFNL_SUBSYS_NFTABLES || m.body.len() < 4 || Family::of(m.body[0]) != family {
            continue;
        }
        let attrs = &m.body[4..];
        if find(attrs, ATTR_TABLE).map(netlink_wire::text).as_deref() != Some(name) {
            continue;
        }
        match m.ty & 0xff {
            NFT_MSG_NEWTABLE => {
                raw.get_or_insert_with(Raw::default);
            }
            NFT_MSG_DELTABLE => raw = None,
            NFT_MSG_NEWCHAIN => raw
                .get_or_insert_with(Raw::default)
                .chains
                .extend(crate::decode::chain(m.body)),
            NFT_MSG_NEWRULE => raw
                .get_or_insert_with(Raw::default)
                .rules
                .extend(crate::decode::rule(m.body)),
            NFT_MSG_NEWSET => raw
                .get_or_insert_with(Raw::default)
                .sets
                .extend(crate::decode::set(m.body)),
            NFT_MSG_NEWSETELEM => {
                if let Some((set, elems)) = crate::decode::elements(m.body) {
                    let id = find(attrs, NFTA_SET_ELEM_LIST_SET_ID).map(be32);
                    raw.get_or_insert_with(Raw::default)
                        .elements
                        .push(((set, id), elems));
                }
            }
            _ => {}
        }
    }
    raw.map(Raw::finish)
}

/// Read table `name` of `family` from the kernel: `None` if it does not exist. Sets whose
/// elements `skip_elements` says not to read come back empty (their definitions are read).
pub fn read(
    sock: &Socket,
    family: Family,
    name: &str,
    skip_elements: &dyn Fn(&str) -> bool,
) -> io::Result<Option<TableContents>> {
    Ok(read_dumped(sock, family, name, skip_elements)?.map(Dumped::contents))
}

/// A table as one dump read it, before [`TableContents`] normalises it: the rules keep
/// their handles and counters, the elements their counters.
///
/// Why: a reader that wants both the comparable contents and the counts (what went
/// through each rule and element) gets them from the same dump, instead of dumping the
/// table twice.
#[derive(Debug, Clone)]
pub struct Dumped {
    raw: Raw,
}

impl Dumped {
    /// [`TableContents::digest`] of [`Self::contents`], without making them: the named
    /// sets' elements are hashed as read, not sorted and moved (60,000 of them at 10,000
    /// forwards). Only the chains, rules and sets are normalised for it.
    pub fn digest(&self, skip_elements: &dyn Fn(&str) -> bool) -> u64 {
        let anonymous: Vec<&str> = self
            .raw
            .sets
            .iter()
            .filter(|s| s.flags & NFT_SET_ANONYMOUS != 0)
            .map(|s| s.name.as_str())
            .collect();
        let definitions = Raw {
            chains: self.raw.chains.clone(),
            rules: self.raw.rules.clone(),
            sets: self.raw.sets.clone(),
            // Rules name anonymous sets by their contents.
            elements: self
                .raw
                .elements
                .iter()
                .filter(|((n, _), _)| anonymous.contains(&n.as_str()))
                .cloned()
                .collect(),
        }
        .finish();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        definitions.hash_definitions(&mut h);
        // The same names, in the same order, as the contents' elements.
        for name in definitions.elements.keys() {
            if !skip_elements(name) {
                hash_elements(&mut h, name, self.elements(name));
            }
        }
        h.finish()
    }

    /// How many elements were read, all sets together.
    pub fn element_count(&self) -> usize {
        self.raw.elements.iter().map(|(_, e)| e.len()).sum()
    }

    /// Every rule, in chain order, as the kernel answered (counters included).
    pub fn rules(&self) -> &[Rule] {
        &self.raw.rules
    }

    /// The elements read of the named set `set` (none if it was skipped or is missing),
    /// as the kernel answered (counters included).
    pub fn elements<'a, 's>(&'a self, set: &'s str) -> impl Iterator<Item = &'a Elem> + use<'a, 's> {
        self.raw
            .elements
            .iter()
            .filter(move |((n, _), _)| n == set)
            .flat_map(|(_, e)| e.iter())
    }

    /// The normalised contents (see the module doc).
    pub fn contents(self) -> TableContents {
        self.raw.finish()
    }
}

/// [`read`], keeping the dump as read ([`Dumped`]).
pub fn read_dumped(
    sock: &Socket,
    family: Family,
    name: &str,
    skip_elements: &dyn Fn(&str) -> bool,
) -> io::Result<Option<Dumped>> {
    let chains = match dump::chains(sock, family, name) {
        Ok(c) => c,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
        Err(e) => return Err(e),
    };
    if chains.is_empty() && !dump::table_exists(sock, family, name)? {
        return Ok(None);
    }
    let sets = dump::sets(sock, family, name)?;
    let mut elements = Vec::with_capacity(sets.len());
    for s in &sets {
        if s.flags & NFT_SET_ANONYMOUS == 0 && skip_elements(&s.name) {
            continue;
        }
        elements.push((
            (s.name.clone(), None),
            dump::elements(sock, family, name, &s.name)?,
        ));
    }
    let raw = Raw {
        chains,
        rules: dump::rules(sock, family, name)?,
        sets,
        elements,
    };
    Ok(Some(Dumped { raw }))
}
