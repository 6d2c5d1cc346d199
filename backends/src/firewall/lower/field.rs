//! The header fields and packet properties a rule loads into registers: what each of the
//! `nftables` crate's expressions loads, of which type, after which protocol check, and
//! how nft describes it (typeof) in an anonymous set's user data.

use nft_codec::expr::{NFT_PAYLOAD_LL_HEADER, NFT_PAYLOAD_NETWORK_HEADER, NFT_PAYLOAD_TRANSPORT_HEADER};
use nft_codec::types::DataType as Kind;
use nft_codec::udata::{EXPR_META, EXPR_PAYLOAD};
use nft_codec::Family;
use nftables::expr::{
    CTDir, Expression, FibFlag, FibResult, MetaKey, NamedExpression, Payload, PayloadField, CT,
};

/// A header field or packet property a rule loads into a register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Field {
    pub load: Load,
    pub kind: Kind,
    /// The protocol nft makes sure of first.
    pub dep: Option<Dep>,
    /// nft's typeof description of the field, for an anonymous set's user data.
    pub typeof_: Option<(u32, Vec<(u8, u32)>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Load {
    Meta(u32),
    Payload { base: u32, offset: u32 },
    Ct { key: u32, dir: Option<u8> },
    Fib { flags: u32, result: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Dep {
    L4(u8),
    Ipv4,
    Ipv6,
    Arp,
}

/// The field(s) an expression loads: one, or a concatenation's parts.
pub(super) fn fields(family: Family, e: &Expression<'_>) -> Result<Vec<Field>, String> {
    match e {
        Expression::Named(NamedExpression::Concat(parts)) => parts.iter().map(|p| field(family, p)).collect(),
        _ => Ok(vec![field(family, e)?]),
    }
}

fn field(family: Family, e: &Expression<'_>) -> Result<Field, String> {
    match e {
        Expression::Named(NamedExpression::Meta(m)) => meta(&m.key),
        Expression::Named(NamedExpression::Payload(Payload::PayloadField(p))) => payload(family, p),
        Expression::Named(NamedExpression::CT(ct)) => ct_field(ct),
        Expression::Named(NamedExpression::Fib(f)) => {
            let mut flags = 0;
            for fl in &f.flags {
                flags |= match fl {
                    FibFlag::Saddr => 1,
                    FibFlag::Daddr => 2,
                    FibFlag::Mark => 4,
                    FibFlag::Iif => 8,
                    FibFlag::Oif => 16,
                };
            }
            match f.result {
                FibResult::Type => Ok(Field {
                    load: Load::Fib { flags, result: 3 },
                    kind: Kind::FibAddrType,
                    dep: None,
                    typeof_: None,
                }),
                other => Err(format!("fib {other:?}")),
            }
        }
        other => Err(format!("expression {other:?} on the left of a match")),
    }
}

fn meta(key: &MetaKey) -> Result<Field, String> {
    let (key, kind) = match key {
        MetaKey::Protocol => (1, Kind::Ethertype),
        MetaKey::Iifname => (6, Kind::Ifname),
        MetaKey::Oifname => (7, Kind::Ifname),
        MetaKey::Nfproto => (15, Kind::NfProto),
        MetaKey::L4proto => (16, Kind::InetProto),
        other => return Err(format!("meta {other:?}")),
    };
    Ok(Field {
        load: Load::Meta(key),
        kind,
        dep: None,
        typeof_: Some((EXPR_META, vec![(0, key)])),
    })
}

fn pay(base: u32, offset: u32, kind: Kind, dep: Option<Dep>, typeof_: Option<(u32, u32)>) -> Field {
    Field {
        load: Load::Payload { base, offset },
        kind,
        dep,
        typeof_: typeof_.map(|(desc, field)| (EXPR_PAYLOAD, vec![(0, desc), (1, field)])),
    }
}

fn payload(family: Family, p: &PayloadField<'_>) -> Result<Field, String> {
    // nft 1.0.6's proto_desc ids in typeof user data: udp 6, tcp 8.
    let l4 = |proto: u8, desc| match p.field.as_ref() {
        "sport" => Ok(pay(
            NFT_PAYLOAD_TRANSPORT_HEADER,
            0,
            Kind::InetService,
            Some(Dep::L4(proto)),
            Some((desc, 1)),
        )),
        "dport" => Ok(pay(
            NFT_PAYLOAD_TRANSPORT_HEADER,
            2,
            Kind::InetService,
            Some(Dep::L4(proto)),
            Some((desc, 2)),
        )),
        f => Err(format!("payload {} {f}", p.protocol)),
    };
    let net = NFT_PAYLOAD_NETWORK_HEADER;
    match (p.protocol.as_ref(), p.field.as_ref()) {
        ("tcp", _) => l4(6, 8),
        ("udp", _) => l4(17, 6),
        ("ip", "saddr") => Ok(pay(net, 12, Kind::Ipv4, Some(Dep::Ipv4), None)),
        ("ip", "daddr") => Ok(pay(net, 16, Kind::Ipv4, Some(Dep::Ipv4), None)),
        // The ICMPv6 type, one byte, compared as a number (133 router solicitation, …).
        ("icmpv6", "type") => Ok(pay(
            NFT_PAYLOAD_TRANSPORT_HEADER,
            0,
            Kind::InetProto,
            Some(Dep::L4(58)),
            None,
        )),
        // A neighbour advertisement's target address (RFC 4861 4.4), 16 bytes after the
        // ICMPv6 type, code, checksum and flags. nft 1.0.6 has no name for it (it lists
        // it as `@th,64,128`); the kernel compares bytes, so it matches an `ipv6_addr`
        // set key as `ip6 saddr` does.
        ("icmpv6", "taddr") => Ok(pay(
            NFT_PAYLOAD_TRANSPORT_HEADER,
            8,
            Kind::Ipv6,
            Some(Dep::L4(58)),
            None,
        )),
        ("ip6", "saddr") => Ok(pay(net, 8, Kind::Ipv6, Some(Dep::Ipv6), None)),
        ("ip6", "daddr") => Ok(pay(net, 24, Kind::Ipv6, Some(Dep::Ipv6), None)),
        ("ether", "type") if family == Family::Bridge => {
            Ok(pay(NFT_PAYLOAD_LL_HEADER, 12, Kind::Ethertype, None, None))
        }
        ("ether", "saddr") if family == Family::Bridge => {
            Ok(pay(NFT_PAYLOAD_LL_HEADER, 6, Kind::Ether, None, None))
        }
        ("ether", "daddr") if family == Family::Bridge => {
            Ok(pay(NFT_PAYLOAD_LL_HEADER, 0, Kind::Ether, None, None))
        }
        ("arp", "saddr ip") => Ok(pay(net, 14, Kind::Ipv4, Some(Dep::Arp), None)),
        ("arp", "saddr ether") => Ok(pay(net, 8, Kind::Ether, Some(Dep::Arp), None)),
        (proto, f) => Err(format!("payload {proto} {f} in a {family:?} table")),
    }
}

fn ct_field(ct: &CT<'_>) -> Result<Field, String> {
    if ct.family.is_some() {
        return Err(format!("ct with a family ({ct:?})"));
    }
    let dir = match ct.dir {
        None => None,
        Some(CTDir::Original) => Some(0),
        Some(CTDir::Reply) => Some(1),
    };
    let (key, kind) = match (ct.key.as_ref(), dir) {
        ("state", None) => (0, Kind::CtState),
        ("status", None) => (2, Kind::CtStatus),
        ("proto-dst", Some(_)) => (12, Kind::InetService),
        ("proto-src", Some(_)) => (11, Kind::InetService),
        (k, _) => return Err(format!("ct {k} (direction {:?})", ct.dir)),
    };
    Ok(Field {
        load: Load::Ct { key, dir },
        kind,
        dep: None,
        typeof_: None,
    })
}
