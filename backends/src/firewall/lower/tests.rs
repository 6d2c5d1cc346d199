//! The encoders against what nft 1.0.6 sends for the same rules (its `--debug=netlink`
//! and `--debug=mnl` output, copied here).

use std::borrow::Cow;
use std::collections::HashMap;

use nftables::expr::MetaKey;
use nftables::stmt::{Statement, NAT};

use nft_codec::types::{DataType as Kind, Key};
use nft_codec::Expr;

use super::expr::{compile, Sets};
use super::set::Data;
use super::*;
use crate::firewall::batch::encode;
use crate::firewall::expr::*;

/// Named sets as the renderer declares them (ids by name), numbering anonymous ones from 40.
struct Fake(HashMap<&'static str, (u32, Key, Option<Data>)>, u32);

impl Sets for Fake {
    fn named(&self, name: &str) -> Option<(u32, Key, Option<Data>)> {
        self.0.get(name).cloned()
    }
    fn next_id(&mut self) -> u32 {
        self.1 += 1;
        self.1
    }
}

fn sets() -> Fake {
    let k = |parts: Vec<Kind>| Key { parts };
    Fake(
        HashMap::from([
            ("ip_bind", (17, k(vec![Kind::Ifname, Kind::Ipv4]), None)),
            ("bridges", (1, k(vec![Kind::Ifname]), None)),
            ("bridge_addrs", (4, k(vec![Kind::Ipv4]), None)),
            (
                "tcp_fwd_addr",
                (7, k(vec![Kind::InetService]), Some(Data::Value(Kind::Ipv4))),
            ),
            (
                "tcp_fwd_port",
                (
                    8,
                    k(vec![Kind::InetService]),
                    Some(Data::Value(Kind::InetService)),
                ),
            ),
        ]),
        40,
    )
}

fn exprs(family: Family, stmts: Vec<Statement<'static>>) -> Vec<Expr> {
    compile(family, "brouter", &stmts, &mut sets()).unwrap().exprs
}

#[test]
fn ct_state_is_a_bit_test() {
    // [ ct load state => reg 1 ] [ bitwise reg 1 = ( reg 1 & 0x00000006 ) ^ 0x00000000 ]
    // [ cmp neq reg 1 0x00000000 ] [ immediate reg 0 accept ]
    let e = exprs(
        Family::Inet,
        vec![ct_state(&["established", "related"]), accept()],
    );
    assert_eq!(
        e,
        vec![
            Expr::Ct {
                key: 0,
                dreg: 1,
                dir: None
            },
            Expr::Bitwise {
                sreg: 1,
                dreg: 1,
                mask: 6u32.to_ne_bytes().to_vec(),
                xor: vec![0; 4]
            },
            Expr::Cmp {
                sreg: 1,
                op: 1,
                data: vec![0; 4]
            },
            Expr::Immediate(Verdict::Accept),
        ]
    );
}

#[test]
fn a_concatenation_follows_its_dependency_and_fills_consecutive_registers() {
    // bridge: iifname . ip saddr != @ip_bind drop
    // [ meta load protocol => reg 1 ] [ cmp eq reg 1 0x00000008 ] [ meta load iifname => reg 1 ]
    // [ payload load 4b @ network header + 12 => reg 2 ] [ lookup reg 1 set ip_bind 0x1 ]
    let e = exprs(
        Family::Bridge,
        vec![
            ne(
                concat(vec![meta(MetaKey::Iifname), payload("ip", "saddr")]),
                set_ref("ip_bind"),
            ),
            drop(),
        ],
    );
    assert_eq!(
        e,
        vec![
            Expr::Meta { key: 1, dreg: 1 },
            Expr::Cmp {
                sreg: 1,
                op: 0,
                data: vec![8, 0]
            },
            Expr::Meta { key: 6, dreg: 1 },
            Expr::Payload {
                base: 1,
                offset: 12,
                len: 4,
                dreg: 2
            },
            Expr::Lookup {
                sreg: 1,
                dreg: None,
                set: "ip_bind".into(),
                id: Some(17),
                inv: true
            },
            Expr::Immediate(Verdict::Drop),
        ]
    );
}

#[test]
fn dnat_through_two_maps_uses_two_registers_and_one_dependency() {
    // [ fib daddr type => reg 1 ] [ cmp eq reg 1 0x00000002 ] [ meta load nfproto => reg 1 ]
    // [ cmp eq reg 1 0x00000002 ] [ payload load 4b @ network header + 16 => reg 1 ]
    // [ lookup reg 1 set bridge_addrs 0x1 ] [ meta load l4proto => reg 1 ] [ cmp eq reg 1 0x00000006 ]
    // [ payload load 2b @ transport header + 2 => reg 1 ] [ lookup reg 1 set tcp_fwd_addr dreg 1 ]
    // [ payload load 2b @ transport header + 2 => reg 2 ] [ lookup reg 2 set tcp_fwd_port dreg 2 ]
    // [ nat dnat ip addr_min reg 1 proto_min reg 2 flags 0x2 ]
    let e = exprs(
        Family::Inet,
        vec![
            eq(fib_daddr_type(), str("local")),
            ne(payload("ip", "daddr"), set_ref("bridge_addrs")),
            Statement::DNAT(Some(NAT {
                addr: Some(map_lookup(payload("tcp", "dport"), "tcp_fwd_addr")),
                family: Some(nftables::stmt::NATFamily::IP),
                port: Some(map_lookup(payload("tcp", "dport"), "tcp_fwd_port")),
                flags: None,
            })),
        ],
    );
    let cmp = |data: Vec<u8>| Expr::Cmp { sreg: 1, op: 0, data };
    let tcp_dport = |dreg| Expr::Payload {
        base: 2,
        offset: 2,
        len: 2,
        dreg,
    };
    let lookup = |set: &str, id, r| Expr::Lookup {
        sreg: r,
        dreg: Some(r),
        set: set.into(),
        id: Some(id),
        inv: false,
    };
    assert_eq!(
        e,
        vec![
            Expr::Fib {
                flags: 2,
                result: 3,
                dreg: 1
            },
            cmp(2u32.to_ne_bytes().to_vec()),
            Expr::Meta { key: 15, dreg: 1 },
            cmp(vec![2]),
            Expr::Payload {
                base: 1,
                offset: 16,
                len: 4,
                dreg: 1
            },
            Expr::Lookup {
                sreg: 1,
                dreg: None,
                set: "bridge_addrs".into(),
                id: Some(4),
                inv: true
            },
            Expr::Meta { key: 16, dreg: 1 },
            cmp(vec![6]),
            tcp_dport(1),
            lookup("tcp_fwd_addr", 7, 1),
            tcp_dport(2),
            lookup("tcp_fwd_port", 8, 2),
            Expr::Nat {
                ty: 1,
                family: 2,
                addr: Some(1),
                proto: Some(2),
                flags: 2
            },
        ]
    );
}

#[test]
fn a_port_set_becomes_an_anonymous_set_and_one_port_a_comparison() {
    let mut s = sets();
    let c = compile(
        Family::Inet,
        "brouter",
        &[
            eq(payload("tcp", "dport"), anon_set(vec![num(80), num(443)])),
            accept(),
        ],
        &mut s,
    )
    .unwrap();
    let (def, elems) = &c.sets[0];
    assert_eq!(
        (def.name.as_str(), def.id, def.flags, def.size),
        ("__set%d", 41, 3, Some(2))
    );
    // nft 1.0.6's user data for `tcp dport { 80, 443 }`.
    assert_eq!(
        hex(&def.udata),
        "0004020000000314000407000000010c000408000000010402000000"
    );
    assert_eq!(
        elems.iter().map(|e| hex(&e.key)).collect::<Vec<_>>(),
        ["0050", "01bb"]
    );
    assert!(matches!(c.exprs[3], Expr::Lookup { ref set, id: Some(41), .. } if set == "__set%d"));

    let one = exprs(
        Family::Inet,
        vec![eq(payload("udp", "dport"), anon_set(vec![num(53)])), accept()],
    );
    assert_eq!(
        one[3],
        Expr::Cmp {
            sreg: 1,
            op: 0,
            data: vec![0, 53]
        }
    );
}

#[test]
fn a_verdict_map_on_a_concatenation_carries_nfts_typeof() {
    let mut s = sets();
    let key = concat(vec![meta(MetaKey::Iifname), meta(MetaKey::Oifname)]);
    let map = anon_vmap(vec![
        (concat(vec![str("br-dmz"), str("br-dmz")]), accept()),
        (
            concat(vec![str("br-dmz"), str("eth0")]),
            goto("pair.dmz.external"),
        ),
    ]);
    let c = compile(Family::Inet, "brouter", &[vmap(key, map)], &mut s).unwrap();
    let (def, elems) = &c.sets[0];
    assert_eq!(
        (def.name.as_str(), def.flags, def.key.type_id().unwrap()),
        ("__map%d", 0xb, 0xa69)
    );
    assert_eq!(
        hex(&def.udata),
        "000400000000010400000000032800040d0000000120000e0004090000000106000406000000010e00040900000001060004070000000408000401000000010006040000000"
            .to_string()
            + "0"
    );
    assert_eq!(
        elems[1].data,
        Some(ElemData::Verdict(Verdict::Goto("pair.dmz.external".into())))
    );
    assert_eq!(
        c.exprs,
        vec![
            Expr::Meta { key: 6, dreg: 1 },
            Expr::Meta { key: 7, dreg: 2 },
            Expr::Lookup {
                sreg: 1,
                dreg: Some(0),
                set: "__map%d".into(),
                id: Some(41),
                inv: false
            },
        ]
    );
}

#[test]
fn what_the_encoder_cannot_translate_is_refused_by_name() {
    let e = compile(Family::Inet, "brouter", &[Statement::Notrack], &mut sets()).unwrap_err();
    assert!(e.contains("Notrack"), "{e}");
    let e = compile(
        Family::Inet,
        "brouter",
        &[eq(payload("ip", "saddr"), set_ref("nope"))],
        &mut sets(),
    )
    .unwrap_err();
    assert!(e.contains("@nope"), "{e}");
}

#[test]
fn a_whole_ruleset_encodes_with_its_comments_and_counted_maps() {
    let cfg = brouter_engine::config::from_xen_words(&["bridgeip=10.98.98.1/24", "antispoof=yes"]).unwrap();
    let rs = brouter_engine::firewall::compile(&cfg);
    let t = crate::firewall::tables(&rs);
    let tx = encode(Mode::Replace, Some(&t), &[b2()]).unwrap();
    let what: Vec<&str> = tx.descriptions().collect();
    assert_eq!(
        &what[..3],
        [
            "table inet brouter",
            "deleting table inet brouter",
            "table inet brouter"
        ]
    );
    assert!(what.contains(&"elements of set ip_bind of table bridge brouter"));
    let rules = what.iter().filter(|w| w.starts_with("rule ")).count();
    assert_eq!(rules, t.rule_count());
    // The fingerprint comment is in the batch as the rule's user data TLV.
    let fp = format!("{}{}", render::FINGERPRINT_PREFIX, rs.fingerprint());
    let mut tlv = vec![0u8, fp.len() as u8 + 1];
    tlv.extend_from_slice(fp.as_bytes());
    assert!(tx.bytes().windows(tlv.len()).any(|w| w == tlv.as_slice()));

    if let Ok(dir) = std::env::var("BROUTER_DUMP_DIR") {
        // For comparing with `nft --debug=mnl -j -f xen.json` by hand.
        let dir = std::path::Path::new(&dir);
        std::fs::write(dir.join("xen.batch"), tx.bytes()).unwrap();
        std::fs::write(dir.join("xen.json"), crate::firewall::replace_json(&rs, &[b2()])).unwrap();
    }

    let create = encode(Mode::Create, Some(&t), &[]).unwrap();
    assert_eq!(create.descriptions().next(), Some("table inet brouter"));
    let flags = u16::from_ne_bytes(create.bytes()[20 + 6..20 + 8].try_into().unwrap());
    assert_eq!(flags & netlink_wire::NLM_F_EXCL, netlink_wire::NLM_F_EXCL);
}

#[test]
fn big_element_lists_are_split_below_the_nested_attribute_limit() {
    let elems: Vec<_> = (1..=20_000u32)
        .map(|p| map_elem(num(p), str("10.0.0.1")))
        .collect();
    let map = NfListObject::Map(Box::new(nftables::schema::Map {
        family: NfFamily::INet,
        table: TABLE.into(),
        name: "tcp_fwd_keep".into(),
        handle: None,
        set_type: SetTypeValue::Single(nftables::schema::SetType::InetService),
        map: SetTypeValue::Single(nftables::schema::SetType::Ipv4Addr),
        policy: None,
        flags: Some(std::collections::HashSet::from([SetFlag::Interval])),
        elem: Some(Cow::Owned(elems)),
        timeout: None,
        gc_interval: None,
        size: None,
        comment: None,
    }));
    let t = Tables {
        inet: vec![map],
        bridge: vec![],
    };
    let tx = encode(Mode::Replace, Some(&t), &[]).unwrap();
    let parts = tx
        .descriptions()
        .filter(|w| w.starts_with("elements of map"))
        .count();
    assert!(parts > 1, "{parts}");
    for msg in netlink_wire::messages(tx.bytes()) {
        let msg = msg.unwrap();
        if msg.ty == (10 << 8) | 12 {
            assert!(msg.body.len() < 65_000);
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn b2() -> Binding {
    Binding {
        vif: "vif1.0".into(),
        mac: "aa:cc:00:00:01:01".into(),
        addrs: vec![
            "10.98.98.10/32".parse().unwrap(),
            "10.98.98.16/28".parse().unwrap(),
            "fd00::/64".parse().unwrap(),
        ],
    }
}
