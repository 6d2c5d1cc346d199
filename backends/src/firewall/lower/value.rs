//! The `nftables` crate's values (set types, element and comparison expressions) as nft's
//! datatypes and bytes ([`nft_codec::types`]).

use std::net::{Ipv4Addr, Ipv6Addr};

use brouter_engine::backend::mac_octets;
use nft_codec::types::{ethertype, fib_addr_type, inet_proto, DataType, Key, IFNAMSIZ};
use nftables::expr::{Expression, NamedExpression};
use nftables::schema::{SetType, SetTypeValue};

/// The datatype of a set type of the crate's model.
pub(super) fn kind_of(t: &SetType) -> Result<DataType, String> {
    Ok(match t {
        SetType::Ifname => DataType::Ifname,
        SetType::Ipv4Addr => DataType::Ipv4,
        SetType::Ipv6Addr => DataType::Ipv6,
        SetType::EtherAddr => DataType::Ether,
        SetType::InetService => DataType::InetService,
        SetType::InetProto => DataType::InetProto,
        other => return Err(format!("set type {other:?}")),
    })
}

/// The key of a set type: one type, or a concatenation.
pub(super) fn key_of(t: &SetTypeValue<'_>) -> Result<Key, String> {
    let parts = match t {
        SetTypeValue::Single(t) => vec![kind_of(t)?],
        SetTypeValue::Concatenated(ts) => ts.iter().map(kind_of).collect::<Result<_, _>>()?,
    };
    Ok(Key { parts })
}

/// `e` as bytes of type `kind`.
pub(super) fn value(kind: DataType, e: &Expression<'_>) -> Result<Vec<u8>, String> {
    let bad = || format!("{e:?} is not a {kind:?} value");
    match (kind, e) {
        (DataType::Ifname, Expression::String(s)) => ifname(s),
        (DataType::Ipv4, Expression::String(s)) => {
            Ok(s.parse::<Ipv4Addr>().map_err(|_| bad())?.octets().to_vec())
        }
        (DataType::Ipv6, Expression::String(s)) => {
            Ok(s.parse::<Ipv6Addr>().map_err(|_| bad())?.octets().to_vec())
        }
        (DataType::Ether, Expression::String(s)) => mac_octets(s).ok_or_else(bad),
        (DataType::InetService, Expression::Number(n)) => {
            Ok(u16::try_from(*n).map_err(|_| bad())?.to_be_bytes().to_vec())
        }
        (DataType::InetService, Expression::String(s)) => {
            Ok(s.parse::<u16>().map_err(|_| bad())?.to_be_bytes().to_vec())
        }
        (DataType::InetProto, Expression::String(s)) => Ok(vec![inet_proto(s).ok_or_else(bad)?]),
        (DataType::InetProto, Expression::Number(n)) => Ok(vec![u8::try_from(*n).map_err(|_| bad())?]),
        (DataType::Ethertype, Expression::String(s)) => {
            Ok(ethertype(s).ok_or_else(bad)?.to_be_bytes().to_vec())
        }
        (DataType::NfProto, Expression::String(s)) => match s.as_ref() {
            "ipv4" => Ok(vec![2]),
            "ipv6" => Ok(vec![10]),
            _ => Err(bad()),
        },
        (DataType::CtState | DataType::CtStatus, _) => flags(kind, e).ok_or_else(bad),
        (DataType::FibAddrType, Expression::String(s)) => {
            Ok(fib_addr_type(s).ok_or_else(bad)?.to_ne_bytes().to_vec())
        }
        _ => Err(bad()),
    }
}

/// An interface name: 1 to 15 bytes, no wildcard, NUL-padded to 16.
fn ifname(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() >= IFNAMSIZ || b.contains(&0) || s.ends_with('*') {
        return Err(format!(
            "{s:?} is not an interface name (1 to 15 bytes, no wildcard)"
        ));
    }
    let mut v = b.to_vec();
    v.resize(IFNAMSIZ, 0);
    Ok(v)
}

/// A flag or a list of flags of a flags type, as its bits (host order).
fn flags(kind: DataType, e: &Expression<'_>) -> Option<Vec<u8>> {
    let bits = match e {
        Expression::String(s) => kind.flag(s)?,
        Expression::List(items) => {
            let mut bits = 0u32;
            for i in items {
                match i {
                    Expression::String(s) => bits |= kind.flag(s)?,
                    _ => return None,
                }
            }
            bits
        }
        _ => return None,
    };
    Some(bits.to_ne_bytes().to_vec())
}

/// One element key's bytes.
pub(super) fn key_value(key: &Key, e: &Expression<'_>) -> Result<Vec<u8>, String> {
    match (key.parts.as_slice(), e) {
        ([one], _) => value(*one, e),
        (parts, Expression::Named(NamedExpression::Concat(items))) if items.len() == parts.len() => {
            let values = parts
                .iter()
                .zip(items)
                .map(|(k, v)| value(*k, v))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(key.join(values))
        }
        _ => Err(format!("{e:?} does not fit a key of {:?}", key.parts)),
    }
}

/// The interval an element covers: a value, a range or a prefix.
pub(super) fn interval(key: &Key, e: &Expression<'_>) -> Result<(Vec<u8>, Vec<u8>), String> {
    if key.concat() {
        // A concatenated interval set (pipapo): each part a value, a range or a prefix;
        // the element is sent as its first and last key.
        let Expression::Named(NamedExpression::Concat(items)) = e else {
            return Err(format!("{e:?} does not fit a key of {:?}", key.parts));
        };
        if items.len() != key.parts.len() {
            return Err(format!("{e:?} does not fit a key of {:?}", key.parts));
        }
        let (mut lo, mut hi) = (vec![], vec![]);
        for (k, item) in key.parts.iter().zip(items) {
            let (l, h) = interval(&Key { parts: vec![*k] }, item)?;
            lo.push(l);
            hi.push(h);
        }
        return Ok((key.join(lo), key.join(hi)));
    }
    match e {
        Expression::Range(r) => Ok((key_value(key, &r.range[0])?, key_value(key, &r.range[1])?)),
        Expression::Named(NamedExpression::Prefix(p)) => {
            let addr = key_value(key, &p.addr)?;
            let bits = addr.len() * 8;
            let len = p.len as usize;
            if len > bits {
                return Err(format!("prefix length {len} of {e:?}"));
            }
            let (mut lo, mut hi) = (addr.clone(), addr);
            for bit in len..bits {
                let (byte, mask) = (bit / 8, 0x80u8 >> (bit % 8));
                lo[byte] &= !mask;
                hi[byte] |= mask;
            }
            Ok((lo, hi))
        }
        _ => {
            let v = key_value(key, e)?;
            Ok((v.clone(), v))
        }
    }
}
