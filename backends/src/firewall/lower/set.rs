//! Sets and maps of the lowered ruleset: their key/data types, and their elements from
//! the `nftables` crate's expressions (intervals laid out by [`nft_codec::intervals`]).

use nft_codec::types::{DataType, Key};
use nft_codec::{
    Elem, ElemData, Family, Set, SetRef, SetType, NFT_DATA_VERDICT, NFT_SET_CONCAT, NFT_SET_INTERVAL,
};
use nftables::expr::Expression;

use super::value::{interval, key_value};

/// A map's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::firewall) enum Data {
    Value(DataType),
    Verdict,
}

impl Data {
    fn set_type(&self) -> Result<SetType, String> {
        match self {
            Data::Value(k) => k.set_type(),
            Data::Verdict => Ok(SetType {
                type_id: NFT_DATA_VERDICT,
                len: 0,
            }),
        }
    }

    /// The byte order nft records for the data.
    pub fn byteorder(&self) -> u32 {
        match self {
            Data::Value(k) => k.byteorder(),
            Data::Verdict => 0,
        }
    }
}

/// A set as the batch creates it, with the types its elements are written in.
#[derive(Debug, Clone)]
pub(in crate::firewall) struct SetDef {
    pub family: Family,
    pub table: String,
    /// The name; `__set%d` / `__map%d` for an anonymous set (the kernel numbers it).
    pub name: String,
    /// `NFTA_SET_ID`: how rules and element messages of the same batch refer to it.
    pub id: u32,
    pub key: Key,
    pub data: Option<Data>,
    pub flags: u32,
    /// nftnl user data: byte orders and typeof, for `nft list`.
    pub udata: Vec<u8>,
    /// `NFTA_SET_DESC_SIZE` (nft sends it for anonymous sets: the number of elements).
    pub size: Option<u32>,
    /// The set-level `counter` statement: each element gets its own counter.
    pub counter: bool,
}

impl SetDef {
    pub fn interval(&self) -> bool {
        self.flags & NFT_SET_INTERVAL != 0
    }

    /// `NFTA_SET_DESC_CONCAT`: each key part's length, for a concatenated interval set.
    pub fn fields(&self) -> Vec<u32> {
        match self.interval() && self.key.concat() {
            true => self.key.parts.iter().map(|k| k.len() as u32).collect(),
            false => vec![],
        }
    }

    /// The codec's set (a key or data type nft cannot key a set by is refused).
    pub fn to_set(&self) -> Result<Set, String> {
        Ok(Set {
            family: self.family,
            table: self.table.clone(),
            name: self.name.clone(),
            id: Some(self.id),
            flags: match self.fields().is_empty() {
                true => self.flags,
                false => self.flags | NFT_SET_CONCAT,
            },
            key: self.key.set_type()?,
            data: self.data.as_ref().map(Data::set_type).transpose()?,
            size: self.size,
            fields: self.fields(),
            udata: self.udata.clone(),
            counter: self.counter,
        })
    }

    /// How element messages refer to the set.
    pub fn set_ref(&self) -> SetRef<'_> {
        SetRef {
            family: self.family,
            table: &self.table,
            name: &self.name,
            id: Some(self.id),
        }
    }

    /// The elements to send for `items` (`(key, data)` expressions), intervals expanded.
    pub fn elements(&self, items: &[(&Expression<'_>, Option<ElemData>)]) -> Result<Vec<Elem>, String> {
        if !self.interval() {
            return items
                .iter()
                .map(|(k, d)| {
                    Ok(Elem {
                        data: d.clone(),
                        ..Elem::key(key_value(&self.key, k)?)
                    })
                })
                .collect();
        }
        if self.key.concat() {
            // As nft sends a concatenated interval set's elements: first and last key.
            return items
                .iter()
                .map(|(k, d)| {
                    let (lo, hi) = interval(&self.key, k)?;
                    Ok(Elem {
                        data: d.clone(),
                        key_end: Some(hi),
                        ..Elem::key(lo)
                    })
                })
                .collect();
        }
        let ranges = items
            .iter()
            .map(|(k, d)| Ok((interval(&self.key, k)?, d.clone())))
            .collect::<Result<Vec<_>, String>>()?;
        nft_codec::intervals(ranges, &self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nftables::expr::{NamedExpression, Prefix, Range};
    use std::borrow::Cow;

    fn def(key: DataType, interval: bool) -> SetDef {
        SetDef {
            family: Family::Inet,
            table: "t".into(),
            name: "s".into(),
            id: 1,
            key: Key { parts: vec![key] },
            data: None,
            flags: if interval { NFT_SET_INTERVAL } else { 0 },
            udata: vec![],
            size: None,
            counter: false,
        }
    }

    fn keys(elems: &[Elem]) -> Vec<(String, bool, bool)> {
        elems
            .iter()
            .map(|e| (e.key.iter().map(|b| format!("{b:02x}")).collect(), e.end, e.open))
            .collect()
    }

    #[test]
    fn intervals_are_sent_as_nft_sends_them() {
        // nft 1.0.6, `elements = { 80, 81, 83-85, 65535 }`: a leading end at zero, an end
        // at last+1 after each interval (adjacent ones too), none after the maximum.
        let s = def(DataType::InetService, true);
        let n = |v| Expression::Number(v);
        let range = Expression::Range(Box::new(Range {
            range: [n(83), n(85)],
        }));
        let items = [(&n(81), None), (&n(80), None), (&range, None), (&n(65535), None)];
        let e = s.elements(&items).unwrap();
        let k = |s: &str, end, open| (s.to_string(), end, open);
        assert_eq!(
            keys(&e),
            vec![
                k("0000", true, false),
                k("0050", false, false),
                k("0051", true, false),
                k("0051", false, false),
                k("0052", true, false),
                k("0053", false, false),
                k("0056", true, false),
                k("ffff", false, true),
            ]
        );
    }

    #[test]
    fn prefixes_become_intervals_and_overlaps_are_refused() {
        let s = def(DataType::Ipv4, true);
        let p = |a: &str, l| {
            Expression::Named(NamedExpression::Prefix(Prefix {
                addr: Box::new(Expression::String(Cow::Owned(a.into()))),
                len: l,
            }))
        };
        let (a, b) = (p("10.1.0.0", 24), p("10.0.0.0", 8));
        let e = s.elements(&[(&a, None)]).unwrap();
        assert_eq!(
            keys(&e),
            vec![
                ("00000000".into(), true, false),
                ("0a010000".into(), false, false),
                ("0a010100".into(), true, false)
            ]
        );
        assert!(s
            .elements(&[(&a, None), (&b, None)])
            .unwrap_err()
            .contains("overlapping"));
    }

    #[test]
    fn concatenated_keys_take_aligned_slots() {
        let key = Key {
            parts: vec![DataType::Ifname, DataType::Ether],
        };
        assert_eq!(key.type_id().unwrap(), 0xa49);
        assert_eq!(key.len(), 24);
        let s = |v: &str| Expression::String(Cow::Owned(v.into()));
        let v = key_value(
            &key,
            &Expression::Named(NamedExpression::Concat(vec![s("vif1.0"), s("aa:cc:00:00:01:01")])),
        )
        .unwrap();
        let mut want = b"vif1.0".to_vec();
        want.resize(16, 0);
        want.extend([0xaa, 0xcc, 0, 0, 1, 1, 0, 0]);
        assert_eq!(v, want);
        // nft's user data for `type ifname . ether_addr`.
        assert_eq!(
            nft_codec::udata::named_set(&key, None),
            vec![0, 4, 0, 0, 0, 0, 3, 8, 0, 4, 13, 0, 0, 0, 1, 0]
        );
    }
}
