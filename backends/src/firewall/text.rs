//! The typed tables → nft's own syntax, for `brouter check` and the snapshot tests.
//!
//! brouter applies the typed model as one nf_tables batch; this printer only shows it to people, in the
//! syntax `nft list ruleset` uses, and covers exactly the subset the renderer produces.
//! Anything outside it is printed as its JSON so nothing is silently hidden.

use std::collections::HashMap;
use std::fmt::Write;

use nftables::expr::{Expression, MetaKey, NamedExpression, Payload, SetItem, Verdict};
use nftables::schema::{NfListObject, SetFlag, SetType, SetTypeValue};
use nftables::stmt::{Operator, Statement};
use nftables::types::{NfChainType, NfFamily, NfHook};

/// Print one table (its objects as the renderer produced them, table first).
pub fn table_text(objects: &[NfListObject<'_>]) -> String {
    let mut out = String::new();
    let Some(NfListObject::Table(t)) = objects.first() else {
        return out;
    };
    let _ = writeln!(out, "table {} {} {{", family(t.family), t.name);
    // Each chain's rules, in order, gathered in one pass: asking every object for each
    // chain is quadratic (a pair chain per policy: 5,000 networks took seconds).
    let mut rules_of: HashMap<&str, Vec<&nftables::schema::Rule<'_>>> = HashMap::new();
    for o in objects {
        if let NfListObject::Rule(r) = o {
            rules_of.entry(r.chain.as_ref()).or_default().push(r);
        }
    }
    for o in &objects[1..] {
        match o {
            NfListObject::Set(s) => {
                let _ = writeln!(out, "\tset {} {{", s.name);
                let _ = writeln!(out, "\t\ttype {}", type_text(&s.set_type));
                flags(&mut out, s.flags.as_ref());
                element_counters(&mut out, &s.name);
                elements(&mut out, s.elem.as_deref());
                let _ = writeln!(out, "\t}}\n");
            }
            NfListObject::Map(m) => {
                let _ = writeln!(out, "\tmap {} {{", m.name);
                let _ = writeln!(out, "\t\ttype {} : {}", type_text(&m.set_type), type_text(&m.map));
                flags(&mut out, m.flags.as_ref());
                element_counters(&mut out, &m.name);
                elements(&mut out, m.elem.as_deref());
                let _ = writeln!(out, "\t}}\n");
            }
            NfListObject::Chain(c) => {
                let _ = writeln!(out, "\tchain {} {{", ident(&c.name));
                if let (Some(ty), Some(hook), Some(prio)) = (c._type, c.hook, c.prio) {
                    let policy = if c.policy == Some(nftables::types::NfChainPolicy::Drop) {
                        "drop"
                    } else {
                        "accept"
                    };
                    let _ = writeln!(
                        out,
                        "\t\ttype {} hook {} priority {}; policy {policy};",
                        chain_type(ty),
                        hook_name(hook),
                        priority(c.family, prio)
                    );
                }
                for r in rules_of.get(c.name.as_ref()).into_iter().flatten() {
                    let stmts: Vec<String> = r.expr.iter().map(stmt).collect();
                    let comment = r
                        .comment
                        .as_ref()
                        .map(|c| format!(" comment {c:?}"))
                        .unwrap_or_default();
                    if super::render::nft_can_parse(r) {
                        let _ = writeln!(out, "\t\t{}{comment}", stmts.join(" "));
                    } else {
                        // Printed as a comment so `brouter check | nft -f -` loads; brouter
                        // itself installs the rule through its netlink batch.
                        let _ = writeln!(
                            out,
                            "\t\t# installed by brouter through netlink (nft 1.0.6 cannot read it):\n\t\t# {}{comment}",
                            stmts.join(" ")
                        );
                    }
                }
                let _ = writeln!(out, "\t}}\n");
            }
            NfListObject::Rule(_) | NfListObject::Table(_) => {}
            other => {
                let _ = writeln!(out, "\t# {}", serde_json::to_string(other).unwrap_or_default());
            }
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out.push_str("}\n");
    out
}

fn flags(out: &mut String, f: Option<&std::collections::HashSet<SetFlag>>) {
    if let Some(f) = f {
        let mut names: Vec<&str> = f
            .iter()
            .map(|f| match f {
                SetFlag::Constant => "constant",
                SetFlag::Interval => "interval",
                SetFlag::Timeout => "timeout",
                SetFlag::Dynamic => "dynamic",
            })
            .collect();
        names.sort();
        let _ = writeln!(out, "\t\tflags {}", names.join(","));
    }
}

/// `counter` in a set's declaration: each element counts (see `render::counts_elements`).
fn element_counters(out: &mut String, name: &str) {
    if super::render::counts_elements(name) {
        let _ = writeln!(out, "\t\tcounter");
    }
}

fn elements(out: &mut String, elems: Option<&[Expression<'_>]>) {
    let Some(elems) = elems.filter(|e| !e.is_empty()) else {
        return;
    };
    let items: Vec<String> = elems
        .iter()
        .map(|e| match e {
            Expression::List(kv) if kv.len() == 2 => format!("{} : {}", expr(&kv[0]), expr(&kv[1])),
            e => expr(e),
        })
        .collect();
    let _ = writeln!(out, "\t\telements = {{ {} }}", items.join(",\n\t\t\t     "));
}

/// Priorities by the names nft prints for them.
fn priority(f: NfFamily, prio: i32) -> String {
    match (f, prio) {
        (NfFamily::Bridge, -200) | (NfFamily::INet, 0) => "filter".into(),
        (NfFamily::INet, -100) => "dstnat".into(),
        (NfFamily::INet, 100) => "srcnat".into(),
        _ => prio.to_string(),
    }
}

fn family(f: NfFamily) -> &'static str {
    match f {
        NfFamily::IP => "ip",
        NfFamily::IP6 => "ip6",
        NfFamily::INet => "inet",
        NfFamily::ARP => "arp",
        NfFamily::Bridge => "bridge",
        NfFamily::NetDev => "netdev",
    }
}

fn chain_type(t: NfChainType) -> &'static str {
    match t {
        NfChainType::Filter => "filter",
        NfChainType::Route => "route",
        NfChainType::NAT => "nat",
    }
}

fn hook_name(h: NfHook) -> &'static str {
    match h {
        NfHook::Ingress => "ingress",
        NfHook::Prerouting => "prerouting",
        NfHook::Forward => "forward",
        NfHook::Input => "input",
        NfHook::Output => "output",
        NfHook::Postrouting => "postrouting",
        NfHook::Egress => "egress",
    }
}

fn set_type(t: &SetType) -> &'static str {
    match t {
        SetType::Ipv4Addr => "ipv4_addr",
        SetType::Ipv6Addr => "ipv6_addr",
        SetType::EtherAddr => "ether_addr",
        SetType::InetProto => "inet_proto",
        SetType::InetService => "inet_service",
        SetType::Mark => "mark",
        SetType::Ifname => "ifname",
    }
}

fn type_text(t: &SetTypeValue<'_>) -> String {
    match t {
        SetTypeValue::Single(t) => set_type(t).to_string(),
        SetTypeValue::Concatenated(ts) => ts.iter().map(set_type).collect::<Vec<_>>().join(" . "),
    }
}

/// Chain names with characters nft's grammar does not take bare are quoted.
fn ident(name: &str) -> String {
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        name.to_string()
    } else {
        format!("{name:?}")
    }
}

/// Words nft prints bare; every other string (interface names, comments) is quoted.
const BARE: &[&str] = &[
    "established",
    "related",
    "invalid",
    "untracked",
    "new",
    "dnat",
    "snat",
    "local",
    "ip",
    "arp",
    "icmp",
    "tcp",
    "udp",
    "ip6",
    "icmpv6",
    "8021q",
    "8021ad",
];

fn string(s: &str) -> String {
    let is_ip = s.parse::<std::net::IpAddr>().is_ok();
    let is_mac =
        s.len() == 17 && s.split(':').count() == 6 && s.split(':').all(|p| u8::from_str_radix(p, 16).is_ok());
    if s.starts_with('@') || is_ip || is_mac || BARE.contains(&s) {
        s.to_string()
    } else {
        format!("{s:?}")
    }
}

fn meta_key(k: MetaKey) -> String {
    match k {
        MetaKey::Iifname => "iifname".into(),
        MetaKey::Oifname => "oifname".into(),
        other => format!(
            "meta {}",
            serde_json::to_value(other)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        ),
    }
}

fn verdict(v: &Verdict<'_>) -> String {
    match v {
        Verdict::Accept => "accept".into(),
        Verdict::Drop => "drop".into(),
        Verdict::Continue => "continue".into(),
        Verdict::Return => "return".into(),
        Verdict::Jump(t) => format!("jump {}", ident(&t.target)),
        Verdict::Goto(t) => format!("goto {}", ident(&t.target)),
    }
}

fn expr(e: &Expression<'_>) -> String {
    match e {
        Expression::String(s) => string(s),
        Expression::Number(n) => n.to_string(),
        Expression::Boolean(b) => b.to_string(),
        Expression::List(v) => v.iter().map(expr).collect::<Vec<_>>().join(","),
        Expression::Range(r) => format!("{}-{}", expr(&r.range[0]), expr(&r.range[1])),
        Expression::Verdict(v) => verdict(v),
        Expression::BinaryOperation(b) => serde_json::to_string(b).unwrap_or_default(),
        Expression::Named(n) => match n {
            NamedExpression::Concat(v) => v.iter().map(expr).collect::<Vec<_>>().join(" . "),
            NamedExpression::Set(items) => {
                let inner: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        SetItem::Element(e) => expr(e),
                        SetItem::Mapping(k, v) => format!("{} : {}", expr(k), expr(v)),
                        SetItem::MappingStatement(k, s) => format!("{} : {}", expr(k), stmt(s)),
                    })
                    .collect();
                format!("{{ {} }}", inner.join(", "))
            }
            NamedExpression::Map(m) => format!("{} map {}", expr(&m.key), expr(&m.data)),
            NamedExpression::Prefix(p) => format!("{}/{}", expr(&p.addr), p.len),
            // As nft 1.0.6 lists it: it has no name for a neighbour advertisement's target.
            NamedExpression::Payload(Payload::PayloadField(f))
                if f.protocol == "icmpv6" && f.field == "taddr" =>
            {
                "@th,64,128".to_string()
            }
            NamedExpression::Payload(Payload::PayloadField(f)) => format!("{} {}", f.protocol, f.field),
            NamedExpression::Meta(m) => meta_key(m.key),
            NamedExpression::CT(c) => match c.dir {
                Some(nftables::expr::CTDir::Original) => format!("ct original {}", c.key),
                Some(nftables::expr::CTDir::Reply) => format!("ct reply {}", c.key),
                None => format!("ct {}", c.key),
            },
            NamedExpression::Fib(f) => {
                let mut flags: Vec<String> = f
                    .flags
                    .iter()
                    .filter_map(|x| {
                        serde_json::to_value(x)
                            .ok()
                            .and_then(|v| v.as_str().map(String::from))
                    })
                    .collect();
                flags.sort();
                let result = serde_json::to_value(f.result)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from));
                format!("fib {} {}", flags.join(" . "), result.unwrap_or_default())
            }
            other => serde_json::to_string(other).unwrap_or_default(),
        },
    }
}

fn stmt(s: &Statement<'_>) -> String {
    match s {
        Statement::Match(m) => {
            let (l, r) = (expr(&m.left), expr(&m.right));
            match m.op {
                Operator::EQ | Operator::IN => format!("{l} {r}"),
                Operator::NEQ => format!("{l} != {r}"),
                op => format!(
                    "{l} {} {r}",
                    serde_json::to_value(op)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default()
                ),
            }
        }
        Statement::Accept(_) => "accept".into(),
        Statement::Drop(_) => "drop".into(),
        Statement::Return(_) => "return".into(),
        Statement::Continue(_) => "continue".into(),
        Statement::Jump(t) => format!("jump {}", ident(&t.target)),
        Statement::Goto(t) => format!("goto {}", ident(&t.target)),
        Statement::VerdictMap(v) => match &v.data {
            // Long anonymous maps get one element per line, so snapshot diffs stay readable.
            Expression::Named(NamedExpression::Set(items)) if items.len() > 3 => {
                let inner: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        SetItem::Element(e) => expr(e),
                        SetItem::Mapping(k, v) => format!("{} : {}", expr(k), expr(v)),
                        SetItem::MappingStatement(k, s) => format!("{} : {}", expr(k), stmt(s)),
                    })
                    .collect();
                format!(
                    "{} vmap {{\n\t\t\t{}\n\t\t}}",
                    expr(&v.key),
                    inner.join(",\n\t\t\t")
                )
            }
            _ => format!("{} vmap {}", expr(&v.key), expr(&v.data)),
        },
        Statement::Masquerade(_) => "masquerade".into(),
        Statement::Reject(_) => "reject".into(),
        Statement::DNAT(Some(nat)) | Statement::SNAT(Some(nat)) => {
            let kind = if matches!(s, Statement::SNAT(_)) {
                "snat"
            } else {
                "dnat"
            };
            let fam = match nat.family {
                Some(nftables::stmt::NATFamily::IP6) => " ip6",
                Some(_) => " ip",
                None => "",
            };
            let addr = nat.addr.as_ref().map(expr).unwrap_or_default();
            let port = nat
                .port
                .as_ref()
                .map(|p| format!(" : {}", expr(p)))
                .unwrap_or_default();
            format!("{kind}{fam} to {addr}{port}")
        }
        Statement::Limit(l) => format!("limit rate {}/{}", l.rate, l.per.as_deref().unwrap_or("second")),
        Statement::Log(Some(l)) => match &l.prefix {
            Some(p) => format!("log prefix {p:?}"),
            None => "log".into(),
        },
        Statement::Log(None) => "log".into(),
        Statement::Counter(_) => "counter".into(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}
