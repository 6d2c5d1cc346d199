//! nft's datatypes: ids, lengths and byte orders of set keys and map data, the symbols
//! some of them have, and concatenated keys.
//!
//! Values are laid out as the kernel keeps them (and as nft 1.0.6 sends them): `ifname`
//! 16 bytes NUL-padded, addresses, ports and ethertypes in network order, `inet_proto`
//! one byte; in a concatenation each part takes a 4-byte-aligned slot.

use netlink_wire::align4;

use crate::model::SetType;

const BYTEORDER_HOST: u32 = 1;
const BYTEORDER_BIG: u32 = 2;
/// The length of an `ifname` value.
pub const IFNAMSIZ: usize = 16;

/// The type of one value: a set key part, map data, or what a rule compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    Ifname,
    Ipv4,
    Ipv6,
    Ether,
    InetService,
    InetProto,
    Ethertype,
    /// `meta nfproto` (one byte).
    NfProto,
    /// `ct state` bits (u32, host order).
    CtState,
    /// `ct status` bits (u32, host order).
    CtStatus,
    /// `fib … type` (u32, host order).
    FibAddrType,
}

impl DataType {
    /// nft's datatype id (`NFTA_SET_KEY_TYPE`); the types nft does not key sets by are
    /// refused.
    pub fn type_id(self) -> Result<u32, String> {
        Ok(match self {
            DataType::Ipv4 => 7,
            DataType::Ipv6 => 8,
            DataType::Ether => 9,
            DataType::Ethertype => 10,
            DataType::InetProto => 12,
            DataType::InetService => 13,
            DataType::Ifname => 41,
            other => return Err(format!("a set of {other:?} values")),
        })
    }

    /// The value's length in bytes (never 0: no `is_empty`).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(self) -> usize {
        match self {
            DataType::Ifname | DataType::Ipv6 => IFNAMSIZ,
            DataType::Ipv4 | DataType::CtState | DataType::CtStatus | DataType::FibAddrType => 4,
            DataType::Ether => 6,
            DataType::InetService | DataType::Ethertype => 2,
            DataType::InetProto | DataType::NfProto => 1,
        }
    }

    /// The byte order nft records in a set's user data for listing.
    pub fn byteorder(self) -> u32 {
        match self {
            DataType::Ifname | DataType::InetProto | DataType::NfProto => BYTEORDER_HOST,
            DataType::CtState | DataType::CtStatus | DataType::FibAddrType => BYTEORDER_HOST,
            _ => BYTEORDER_BIG,
        }
    }

    /// Whether values of this type are bit flags (`ct state established,related`).
    pub fn is_flags(self) -> bool {
        matches!(self, DataType::CtState | DataType::CtStatus)
    }

    /// The bit of a flag symbol (`established`, `dnat`, …) of a flags type.
    pub fn flag(self, s: &str) -> Option<u32> {
        match self {
            DataType::CtState => Some(match s {
                "invalid" => 1,
                "established" => 2,
                "related" => 4,
                "new" => 8,
                "untracked" => 64,
                _ => return None,
            }),
            DataType::CtStatus => Some(match s {
                "expected" => 1,
                "seen-reply" => 2,
                "assured" => 4,
                "confirmed" => 8,
                "snat" => 16,
                "dnat" => 32,
                "dying" => 512,
                _ => return None,
            }),
            _ => None,
        }
    }

    /// The `SetType` of a set keyed (or a map valued) by this type alone.
    pub fn set_type(self) -> Result<SetType, String> {
        Ok(SetType {
            type_id: self.type_id()?,
            len: self.len() as u32,
        })
    }
}

/// An `inet_proto` symbol's number.
pub fn inet_proto(s: &str) -> Option<u8> {
    Some(match s {
        "icmp" => 1,
        "igmp" => 2,
        "tcp" => 6,
        "udp" => 17,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "icmpv6" => 58,
        "sctp" => 132,
        _ => return None,
    })
}

/// An `ethertype` symbol's number.
pub fn ethertype(s: &str) -> Option<u16> {
    Some(match s {
        "ip" => 0x0800,
        "arp" => 0x0806,
        "ip6" => 0x86dd,
        "vlan" | "8021q" => 0x8100,
        "8021ad" => 0x88a8,
        _ => return None,
    })
}

/// A `fib … type` symbol's number.
pub fn fib_addr_type(s: &str) -> Option<u32> {
    Some(match s {
        "unicast" => 1,
        "local" => 2,
        "broadcast" => 3,
        "anycast" => 4,
        "multicast" => 5,
        "blackhole" => 6,
        "unreachable" => 7,
        "prohibit" => 8,
        _ => return None,
    })
}

/// A set's key: one type, or a concatenation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub parts: Vec<DataType>,
}

impl Key {
    pub fn concat(&self) -> bool {
        self.parts.len() > 1
    }

    /// nft's id of the key type: 6 bits per part.
    pub fn type_id(&self) -> Result<u32, String> {
        self.parts
            .iter()
            .try_fold(0u32, |acc, k| Ok((acc << 6) | k.type_id()?))
    }

    /// `NFTA_SET_KEY_LEN`: a single type's length, or the concatenation's aligned slots.
    pub fn len(&self) -> usize {
        match self.parts.as_slice() {
            [one] => one.len(),
            parts => parts.iter().map(|k| align4(k.len())).sum(),
        }
    }

    /// Whether the key has no part (never a valid key).
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The byte order nft records for the key (0 for a concatenation).
    pub fn byteorder(&self) -> u32 {
        match self.parts.as_slice() {
            [one] => one.byteorder(),
            _ => 0,
        }
    }

    /// The key's `SetType`.
    pub fn set_type(&self) -> Result<SetType, String> {
        Ok(SetType {
            type_id: self.type_id()?,
            len: self.len() as u32,
        })
    }

    /// A concatenated key's bytes from its parts' (each padded to its 4-byte slot).
    pub fn join(&self, parts: impl IntoIterator<Item = Vec<u8>>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        for p in parts {
            out.extend(p);
            out.resize(align4(out.len()), 0);
        }
        out
    }
}

/// `v + 1` as a big-endian number, or `None` if `v` is the maximum.
pub fn successor(v: &[u8]) -> Option<Vec<u8>> {
    let mut out = v.to_vec();
    for b in out.iter_mut().rev() {
        if *b == 0xff {
            *b = 0;
        } else {
            *b += 1;
            return Some(out);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_concatenation_is_typed_six_bits_a_part_and_joined_in_slots() {
        let key = Key {
            parts: vec![DataType::Ifname, DataType::Ipv4],
        };
        assert_eq!(
            (key.type_id().unwrap(), key.len(), key.byteorder()),
            (0xa47, 20, 0)
        );
        assert_eq!(key.join([vec![1], vec![2, 3]]), [1, 0, 0, 0, 2, 3, 0, 0]);
        assert!(DataType::CtState.type_id().is_err());
    }

    #[test]
    fn the_successor_carries_and_stops_at_the_maximum() {
        assert_eq!(successor(&[0, 0xff]), Some(vec![1, 0]));
        assert_eq!(successor(&[0xff, 0xff]), None);
    }
}
