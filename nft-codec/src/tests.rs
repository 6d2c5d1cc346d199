//! The codec against itself (encode → decode round trips) and against what nft 1.0.6
//! sends for the same objects (its `--debug=mnl` output, copied here).

use netlink_wire::messages;

use super::*;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The command bodies of a transaction (batch markers left out).
fn bodies(tx: &Transaction) -> Vec<(u16, Vec<u8>)> {
    messages(tx.bytes())
        .map(|m| m.unwrap())
        .filter(|m| m.ty >> 8 == 10)
        .map(|m| (m.ty & 0xff, m.body.to_vec()))
        .collect()
}

fn rule(exprs: Vec<Expr>) -> Rule {
    Rule {
        family: Family::Inet,
        table: "t".into(),
        chain: "c".into(),
        handle: None,
        exprs,
        userdata: Some(udata::rule_comment("a comment").unwrap()),
    }
}

#[test]
fn a_cmp_expression_is_laid_out_as_nft_sends_it() {
    // meta l4proto icmp: `cmp` { sreg 1, op eq, data { value 01 } }
    let mut w = netlink_wire::Writer::default();
    Expr::Cmp {
        sreg: 1,
        op: 0,
        data: vec![1],
    }
    .write(&mut w);
    // elem (44) { name "cmp" } { data (32) { sreg 1 } { op 0 } { data (12) { value (5) 01 } } }
    assert_eq!(
        hex(w.as_bytes()),
        "2c00018008000100636d700020000280080001000000000108000200000000000c0003800500010001000000"
    );
}

/// One of each expression the codec models.
fn all_exprs() -> Vec<Expr> {
    vec![
        Expr::Meta { key: 16, dreg: 1 },
        Expr::Cmp {
            sreg: 1,
            op: expr::NFT_CMP_EQ,
            data: vec![6],
        },
        Expr::Payload {
            base: 2,
            offset: 2,
            len: 2,
            dreg: 1,
        },
        Expr::Ct {
            key: 12,
            dreg: 9,
            dir: Some(1),
        },
        Expr::Fib {
            flags: 2,
            result: 3,
            dreg: 1,
        },
        Expr::Bitwise {
            sreg: 1,
            dreg: 1,
            mask: vec![6, 0, 0, 0],
            xor: vec![0; 4],
        },
        Expr::Lookup {
            sreg: 1,
            dreg: Some(0),
            set: "__map%d".into(),
            id: Some(41),
            inv: false,
        },
        Expr::Lookup {
            sreg: 1,
            dreg: None,
            set: "s".into(),
            id: Some(2),
            inv: true,
        },
        Expr::Immediate(Verdict::Goto("pair.a.b".into())),
        Expr::Immediate(Verdict::Accept),
        Expr::Counter {
            packets: 3,
            bytes: 300,
        },
        Expr::COUNTER,
        Expr::Limit {
            rate: 10,
            unit: 60,
            burst: 5,
            flags: 0,
        },
        Expr::Log {
            prefix: Some("brouter drop a->b ".into()),
        },
        Expr::Log { prefix: None },
        Expr::Reject { ty: 2, code: 1 },
        Expr::Nat {
            ty: 1,
            family: 2,
            addr: Some(1),
            proto: Some(2),
            flags: 2,
        },
        Expr::Masq,
    ]
}

#[test]
fn every_expression_survives_encoding_and_decoding() {
    let mut b = Batch::new();
    let r = rule(all_exprs());
    b.new_rule(&r, "rule 1".into());
    let tx = b.finish();
    let [(cmd, body)] = bodies(&tx).try_into().unwrap();
    assert_eq!(cmd, batch::NFT_MSG_NEWRULE);
    let back = decode::rule(&body).unwrap();
    assert_eq!(back, r);
    assert_eq!(back.comment(), Some("a comment"));
}

#[test]
fn tables_chains_and_sets_survive_encoding_and_decoding() {
    let table = Table {
        family: Family::Bridge,
        name: "t".into(),
        flags: 0,
    };
    let chain = Chain {
        family: Family::Bridge,
        table: "t".into(),
        name: "prerouting".into(),
        base: Some(BaseChain {
            ty: "filter".into(),
            hook: 0,
            priority: -300,
            policy: Verdict::Drop,
        }),
    };
    let set = Set {
        family: Family::Bridge,
        table: "t".into(),
        name: "mac_bind".into(),
        id: Some(3),
        flags: NFT_SET_MAP,
        key: SetType {
            type_id: 0xa49,
            len: 24,
        },
        data: Some(SetType {
            type_id: NFT_DATA_VERDICT,
            len: 0,
        }),
        size: Some(2),
        fields: vec![],
        udata: vec![0, 4, 0, 0, 0, 0],
        counter: true,
    };
    let mut b = Batch::new();
    b.table(Mode::Create, &table);
    b.new_chain(&chain, "chain".into());
    b.new_set(&set, "set".into());
    let tx = b.finish();
    let got = bodies(&tx);
    assert_eq!(decode::table(&got[0].1), Some(table));
    assert_eq!(decode::chain(&got[1].1), Some(chain));
    assert_eq!(decode::set(&got[2].1), Some(set));
    assert_eq!(
        tx.descriptions().collect::<Vec<_>>(),
        ["table bridge t", "chain", "set"]
    );
}

#[test]
fn elements_survive_encoding_and_decoding_and_big_lists_are_split() {
    let set = SetRef {
        family: Family::Inet,
        table: "t",
        name: "m",
        id: Some(7),
    };
    let mut elems: Vec<Elem> = (1..=20_000u32)
        .map(|p| Elem {
            data: Some(ElemData::Value(p.to_be_bytes().to_vec())),
            counter: Some((u64::from(p), 2)),
            ..Elem::key((p as u16).to_be_bytes().to_vec())
        })
        .collect();
    elems[0].data = Some(ElemData::Verdict(Verdict::Jump("x".into())));
    elems[1].end = true;
    elems[2].open = true;
    let mut b = Batch::new();
    b.new_elements(set, &elems, "elements of map m");
    let tx = b.finish();
    let parts = bodies(&tx);
    assert!(parts.len() > 1, "{}", parts.len());
    assert!(tx.describe(3).ends_with("(part 2)"));
    let mut back = vec![];
    for (cmd, body) in &parts {
        assert_eq!(*cmd, batch::NFT_MSG_NEWSETELEM);
        assert!(body.len() < 65_000);
        let (name, e) = decode::elements(body).unwrap();
        assert_eq!(name, "m");
        back.extend(e);
    }
    assert_eq!(back, elems);
}

#[test]
fn intervals_from_zero_need_no_leading_end_and_overlaps_are_refused() {
    // (The layout nft 1.0.6 sends is pinned end to end in brouter's `firewall::lower`.)
    let p = |v: u16| v.to_be_bytes().to_vec();
    let r = |a, b| ((p(a), p(b)), None);
    let e = intervals(vec![r(10, 20), r(0, 5)], "s").unwrap();
    let keys: Vec<(String, bool)> = e.iter().map(|e| (hex(&e.key), e.end)).collect();
    let want = [("0000", false), ("0006", true), ("000a", false), ("0015", true)];
    assert_eq!(keys, want.map(|(k, end)| (k.to_string(), end)));
    let overlap = intervals(vec![r(80, 90), r(85, 85)], "s").unwrap_err();
    assert!(overlap.contains("overlapping intervals in set s"), "{overlap}");
}

#[test]
fn create_asks_for_an_exclusive_table() {
    let mut b = Batch::new();
    let t = Table {
        family: Family::Inet,
        name: "t".into(),
        flags: 0,
    };
    b.table(Mode::Create, &t);
    let tx = b.finish();
    let flags = u16::from_ne_bytes(tx.bytes()[20 + 6..20 + 8].try_into().unwrap());
    assert_eq!(flags & netlink_wire::NLM_F_EXCL, netlink_wire::NLM_F_EXCL);
    let mut b = Batch::new();
    b.table(Mode::Replace, &t);
    let tx = b.finish();
    assert_eq!(
        tx.descriptions().collect::<Vec<_>>(),
        ["table inet t", "deleting table inet t", "table inet t"]
    );
    assert_eq!(tx.check_bytes().len() + 20, tx.len());
}

#[test]
fn an_element_nests_its_key_in_its_list_entry() {
    let mut w = netlink_wire::Writer::default();
    Elem::key(b"ab".to_vec()).write(&mut w, 1);
    // list elem (len 16, nested) > key (len 12, nested) > value (len 6 + 2 padding)
    assert_eq!(
        w.as_bytes(),
        [16, 0, 1, 0x80, 12, 0, 1, 0x80, 6, 0, 1, 0, b'a', b'b', 0, 0]
    );
}

#[test]
fn an_element_in_wire_form_reads_back_as_itself() {
    let map = Elem {
        data: Some(ElemData::Value(vec![10, 1, 0, 5])),
        ..Elem::key(vec![0x1f, 0x90, 0, 0])
    };
    let end = Elem::end(vec![0x1f, 0x9a, 0, 0]);
    let verdict = Elem {
        data: Some(ElemData::Verdict(Verdict::Jump("c".into()))),
        ..Elem::key(vec![1])
    };
    for e in [map, end, verdict] {
        assert_eq!(Elem::read(&e.to_wire()), e);
    }
}

#[test]
fn a_replaced_rule_names_its_handle_and_asks_to_replace() {
    let r = Rule {
        family: Family::Inet,
        table: "t".into(),
        chain: "c".into(),
        handle: None,
        exprs: vec![Expr::Immediate(Verdict::Accept)],
        userdata: None,
    };
    let mut b = Batch::new();
    b.replace_rule(&r, 46, "restamping".into());
    let tx = b.finish();
    let m = messages(tx.bytes()).flatten().nth(1).expect("the rule message");
    assert_eq!(m.ty & 0xff, 6, "NFT_MSG_NEWRULE");
    assert_ne!(m.flags & 0x100, 0, "NLM_F_REPLACE");
    assert_eq!(crate::decode::rule(m.body).and_then(|r| r.handle), Some(46));
}
