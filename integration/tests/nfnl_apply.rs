//! brouter applies its tables as one nf_tables netlink batch, in-process
//! (`firewall::batch`), instead of piping JSON to `nft -j -f -`. The batch must build the
//! very tables the JSON did: for each ruleset, apply both ways in two namespaces and
//! compare what `nft -j list table` prints (handles dropped, element lists sorted).

use std::fmt::Write as _;
use std::path::Path;

use brouter_backends::firewall;
use brouter_backends::firewall::batch::{self, Mode};
use brouter_backends::firewall::render::NA_SPOOF_COMMENT;
use brouter_engine::config::{from_toml, from_xen_words};
use brouter_engine::firewall::{compile, Binding, Ruleset};
use brouter_integration::{root_or_skip, Netns};
use serde_json::Value;

fn fixture(name: &str) -> Ruleset {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    compile(&from_toml(&text, name).unwrap())
}

fn xen() -> Ruleset {
    compile(&from_xen_words(&["bridgeip=10.98.98.1/24", "brnet=10.98.98.0/24", "antispoof=yes"]).unwrap())
}

/// `nets` anti-spoofed networks, `hosts` hosts, `forwards` forwards (every 10th a port
/// range, every 3rd kept-port, the rest translated; tcp and udp), like the benchmark's.
fn generated(nets: usize, hosts: usize, forwards: usize) -> String {
    let mut s = String::from("[uplink]\ninterface = \"eth0\"\n\n");
    for i in 0..nets {
        let _ = writeln!(
            s,
            "[[network]]\nname = \"n{i}\"\nbridge = \"brn{i}\"\naddress = \"10.{}.{}.1/24\"\nantispoof = true\n",
            100 + i / 250,
            i % 250
        );
    }
    let host_ip = |h: usize| {
        let n = h % nets;
        format!("10.{}.{}.{}", 100 + n / 250, n % 250, 10 + h / nets)
    };
    for h in 0..hosts {
        let _ = writeln!(
            s,
            "[[host]]\nname = \"h{h}\"\nnetwork = \"n{}\"\nmac = \"aa:cc:00:00:{:02x}:{:02x}\"\naddresses = [\"{}\"]\n",
            h % nets,
            h / 256,
            h % 256,
            host_ip(h)
        );
    }
    let mut port = 10000u32;
    for f in 0..forwards {
        let proto = if f % 2 == 0 { "tcp" } else { "udp" };
        let ports = if f % 10 == 0 {
            let p = format!("\"{port}-{}\"", port + 4);
            port += 5;
            p
        } else {
            port += 1;
            (port - 1).to_string()
        };
        let to = if f % 3 == 0 {
            format!("h{}", f % hosts)
        } else {
            format!("h{}:80", f % hosts)
        };
        let _ = writeln!(
            s,
            "[[forward]]\nproto = \"{proto}\"\nport = {ports}\nto = \"{to}\"\n"
        );
    }
    for i in 0..nets {
        let _ = writeln!(
            s,
            "[[policy]]\nfrom = \"n{i}\"\nto = \"external\"\naction = \"accept\"\nservices = [\"tcp/80\", \"tcp/443\", \"udp/53\"]\n"
        );
    }
    s
}

fn ruleset_of(toml: &str) -> Ruleset {
    compile(&from_toml(toml, "generated.toml").expect("generated config validates"))
}

fn bindings(n: usize) -> Vec<Binding> {
    (0..n)
        .map(|i| Binding {
            vif: format!("vif{i}.0"),
            mac: format!("aa:cc:00:01:{:02x}:{:02x}", i / 256, i % 256),
            // A host address, an IPv4 prefix and an IPv6 prefix (Xen's `ip` holds all three).
            addrs: vec![
                format!("10.100.{}.{}/32", i / 200, 10 + i % 200).parse().unwrap(),
                format!("10.200.{}.{}/30", i / 64, (i % 64) * 4).parse().unwrap(),
                format!("fd00:{i:x}::/64").parse().unwrap(),
            ],
        })
        .collect()
}

/// Apply the JSON transaction with `nft -j -f` (the reference).
fn apply_json(ns: &Netns, json: &str) {
    let path = std::env::temp_dir().join(format!(
        "brouter-nfnl-apply-{}-{}.json",
        ns.name(),
        std::process::id()
    ));
    std::fs::write(&path, json).unwrap();
    let out = ns.exec("nft", &["-j", "-f", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "nft -j -f: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Remove the rule with `comment` from a listing; the rule as JSON text.
fn take_rule(listing: &mut Value, comment: &str) -> Option<String> {
    let items = listing["nftables"].as_array_mut()?;
    let at = items
        .iter()
        .position(|i| i["rule"]["comment"].as_str() == Some(comment))?;
    Some(items.remove(at).to_string())
}

/// `nft -j list table FAMILY brouter`, normalised: no handles, no metainfo, element
/// lists sorted (the kernel may list a hash set in any order). `None` if missing.
fn listing(ns: &Netns, family: &str) -> Option<Value> {
    let out = ns.exec("nft", &["-j", "list", "table", family, "brouter"]);
    if !out.status.success() {
        return None;
    }
    let mut v: Value = serde_json::from_slice(&out.stdout).expect("nft prints JSON");
    normalise(&mut v);
    let items = v["nftables"].as_array_mut().unwrap();
    items.retain(|i| i.get("metainfo").is_none());
    Some(v)
}

fn normalise(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("handle");
            if let Some(Value::Array(elems)) = m.get_mut("elem") {
                elems.sort_by_key(|e| e.to_string());
            }
            for (_, x) in m.iter_mut() {
                normalise(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalise),
        _ => {}
    }
}

fn both(ns: &Netns) -> (Option<Value>, Option<Value>) {
    (listing(ns, "inet"), listing(ns, "bridge"))
}

/// Apply `rs` with `bindings` both ways and compare the listings.
fn assert_same_tables(tag: &str, rs: &Ruleset, binds: &[Binding]) {
    let reference = Netns::new(&format!("{tag}j"));
    let ours = Netns::new(&format!("{tag}b"));
    apply_json(&reference, &firewall::replace_json(rs, binds));
    let t = firewall::tables(rs);
    batch::apply(
        &ours.target(),
        Mode::Replace,
        Some(&t),
        binds,
        false,
        "brouter's firewall",
    )
    .unwrap();
    let (want, mut got) = (both(&reference), both(&ours));
    // The one rule the reference cannot carry: nft 1.0.6 parses no neighbour
    // advertisement target (render::NA_SPOOF_COMMENT). The batch has it, listed as nft
    // reads it back; the rest must be the same.
    let na = take_rule(
        got.1.as_mut().expect("the batch applied the bridge table"),
        NA_SPOOF_COMMENT,
    );
    let na = na.expect("the batch carries the neighbour advertisement check");
    assert!(
        na.contains(r#""base":"th","len":128,"offset":64"#) && na.contains("@ip6_bind"),
        "the advertised address looked up in ip6_bind: {na}"
    );
    assert!(want.0.is_some() && want.1.is_some(), "the reference applied");
    for (w, g, family) in [(&want.0, &got.0, "inet"), (&want.1, &got.1, "bridge")] {
        if w != g {
            let text = |ns: &Netns| {
                String::from_utf8_lossy(&ns.exec("nft", &["list", "table", family, "brouter"]).stdout)
                    .into_owned()
            };
            panic!(
                "{tag}: table {family} brouter differs\n--- nft -j -f ---\n{}\n--- batch ---\n{}",
                text(&reference),
                text(&ours)
            );
        }
    }
}

#[test]
fn the_batch_builds_the_same_tables_as_nft_for_the_xen_ruleset() {
    if !root_or_skip("the_batch_builds_the_same_tables_as_nft_for_the_xen_ruleset") {
        return;
    }
    assert_same_tables("nbxen", &xen(), &bindings(3));
}

#[test]
fn the_batch_builds_the_same_tables_as_nft_for_the_isp_fixture() {
    if !root_or_skip("the_batch_builds_the_same_tables_as_nft_for_the_isp_fixture") {
        return;
    }
    assert_same_tables("nbisp", &fixture("isp.toml"), &[]);
    assert_same_tables("nbseed", &fixture("seed.toml"), &bindings(2));
}

#[test]
fn the_batch_builds_the_same_tables_as_nft_with_logged_drops() {
    if !root_or_skip("the_batch_builds_the_same_tables_as_nft_with_logged_drops") {
        return;
    }
    assert_same_tables("nblog", &fixture("logged.toml"), &[]);
}

#[test]
fn the_batch_builds_the_same_tables_as_nft_for_a_big_config() {
    if !root_or_skip("the_batch_builds_the_same_tables_as_nft_for_a_big_config") {
        return;
    }
    let rs = ruleset_of(&generated(8, 200, 2000));
    assert_eq!(rs.forwards.len(), 2000);
    assert_same_tables("nbbig", &rs, &bindings(300));
}

#[test]
fn replacing_twice_equals_replacing_once_and_delete_removes_both_tables() {
    if !root_or_skip("replacing_twice_equals_replacing_once_and_delete_removes_both_tables") {
        return;
    }
    let ns = Netns::new("nbrepl");
    let t = ns.target();
    let rs = fixture("isp.toml");
    let tables = firewall::tables(&rs);
    let binds = bindings(2);
    batch::apply(&t, Mode::Replace, Some(&tables), &binds, false, "first").unwrap();
    let once = both(&ns);
    batch::apply(&t, Mode::Replace, Some(&tables), &binds, false, "second").unwrap();
    assert_eq!(both(&ns), once);
    assert_eq!(firewall::read_bindings(&t).unwrap(), binds);

    batch::apply(&t, Mode::Delete, None, &[], false, "delete").unwrap();
    assert_eq!(both(&ns), (None, None));
    // Deleting what is not there is fine too.
    batch::apply(&t, Mode::Delete, None, &[], false, "delete again").unwrap();
}

#[test]
fn create_fails_without_change_when_a_table_exists() {
    if !root_or_skip("create_fails_without_change_when_a_table_exists") {
        return;
    }
    let ns = Netns::new("nbcreate");
    let t = ns.target();
    let isp = firewall::tables(&fixture("isp.toml"));
    batch::apply(&t, Mode::Create, Some(&isp), &[], false, "create").unwrap();
    let before = both(&ns);
    let e = batch::apply(
        &t,
        Mode::Create,
        Some(&firewall::tables(&xen())),
        &[],
        false,
        "create again",
    )
    .unwrap_err();
    assert!(e.message.contains("table inet brouter"), "{}", e.message);
    assert!(e.message.contains("File exists"), "{}", e.message);
    assert_eq!(both(&ns), before, "a refused create changes nothing");
}

#[test]
fn a_refused_batch_leaves_the_previous_tables_and_names_the_rule() {
    if !root_or_skip("a_refused_batch_leaves_the_previous_tables_and_names_the_rule") {
        return;
    }
    let ns = Netns::new("nbrefuse");
    let t = ns.target();
    let rs = xen();
    firewall::replace_with_bindings(&t, &rs, &bindings(1)).unwrap();
    let before = both(&ns);
    // A rule jumping to a chain that does not exist: the kernel refuses the batch.
    let mut broken = firewall::tables(&rs);
    broken.inet.push(
        serde_json::from_value(serde_json::json!({"rule": {
            "family": "inet", "table": "brouter", "chain": "fwd_judge",
            "expr": [{"jump": {"target": "no_such_chain"}}],
            "comment": "broken on purpose"
        }}))
        .expect("a rule object"),
    );
    let e = batch::apply(
        &t,
        Mode::Replace,
        Some(&broken),
        &[],
        false,
        "the broken firewall",
    )
    .unwrap_err();
    assert!(e.message.contains("chain fwd_judge"), "{}", e.message);
    assert!(e.message.contains("broken on purpose"), "{}", e.message);
    assert!(e.message.contains("No such file or directory"), "{}", e.message);
    assert_eq!(both(&ns), before, "the previous tables are untouched");
    // A check-only batch validates without applying.
    let e = batch::apply(&t, Mode::Replace, Some(&broken), &[], true, "check").unwrap_err();
    assert!(e.message.contains("chain fwd_judge"), "{}", e.message);
    let fresh = firewall::tables(&fixture("isp.toml"));
    batch::apply(&t, Mode::Replace, Some(&fresh), &[], true, "check").unwrap();
    assert_eq!(both(&ns), before, "a check applies nothing");
}

#[test]
fn fingerprint_bindings_and_counters_read_back_after_a_batch_apply() {
    if !root_or_skip("fingerprint_bindings_and_counters_read_back_after_a_batch_apply") {
        return;
    }
    let ns = Netns::new("nbread");
    let t = ns.target();
    let rs = fixture("isp.toml");
    let binds = bindings(3);
    batch::apply(
        &t,
        Mode::Replace,
        Some(&firewall::tables(&rs)),
        &binds,
        false,
        "apply",
    )
    .unwrap();
    assert_eq!(
        firewall::read_fingerprint(&t).unwrap().as_deref(),
        Some(rs.fingerprint().as_str())
    );
    assert_eq!(firewall::read_bindings(&t).unwrap(), binds);
    // The counters read the same as over tables applied by nft: one per forward.
    let reference = Netns::new("nbreadj");
    apply_json(&reference, &firewall::replace_json(&rs, &binds));
    let c = firewall::read_counters(&t).unwrap();
    assert_eq!(c.forwards.len(), rs.forwards.len());
    assert_eq!(c, firewall::read_counters(&reference.target()).unwrap());
}

#[test]
fn carried_counts_start_the_new_counters_of_rules_ranges_and_map_elements() {
    if !root_or_skip("carried_counts_start_the_new_counters_of_rules_ranges_and_map_elements") {
        return;
    }
    // isp.toml forwards tcp/8000-8009 (a range, kept port) and tcp/2222 (translated).
    let rs = fixture("isp.toml");
    let range = 8000u16.to_be_bytes().to_vec();
    let single = 2222u16.to_be_bytes().to_vec();
    let mut carry = batch::Carry::default();
    carry
        .elements
        .insert(("tcp_range_fwd_traffic".into(), range.clone()), (40, 4000));
    carry
        .elements
        .insert(("tcp_range_fwd_keep".into(), range), (4, 240));
    carry
        .elements
        .insert(("tcp_fwd_traffic".into(), single.clone()), (7, 700));
    carry.elements.insert(("tcp_fwd_addr".into(), single), (2, 120));
    // The final drop of fwd_judge: the unlisted pairs.
    carry.rules.insert(
        batch::RuleId {
            chain: "fwd_judge".into(),
            comment: Some("unlisted zone pair".into()),
            verdict: Some("drop"),
            logs: false,
            ordinal: 0,
        },
        (9, 900),
    );
    let ns = Netns::new("nbcarry");
    let tables = firewall::tables(&rs);
    let tx = batch::encode_with(Mode::Create, Some(&tables), &[], carry).unwrap();
    ns.run(move || batch::send_here(&tx, false)).unwrap();

    let c = firewall::read_counters(&ns.target()).unwrap();
    let fwd = |port: u16| {
        c.forwards
            .iter()
            .find(|f| f.ports.first == port)
            .unwrap_or_else(|| panic!("forward {port}: {c:?}"))
    };
    assert_eq!((fwd(8000).ports.last, fwd(8000).connections), (8009, 4));
    assert_eq!((fwd(8000).traffic.packets, fwd(8000).traffic.bytes), (40, 4000));
    assert_eq!((fwd(2222).connections, fwd(2222).traffic.packets), (2, 7));
    assert_eq!((fwd(80).connections, fwd(80).traffic.packets), (0, 0));
    assert_eq!((c.unlisted.packets, c.unlisted.bytes), (9, 900));
    // The read-back's one dump carries the same counters as their own dumps.
    let read = firewall::drift::read_tables(None, &ns.target()).unwrap();
    assert_eq!(read.counters.map(|counts| counts.named()), Some(c));
    assert!(read.tables[0].is_some() && read.tables[1].is_some());
    // The digest of the tables as dumped (counters and all, unsorted) is the digest of
    // the normalised tables, and of what the batch installed.
    let dumped = firewall::drift::digest_dumped(&read.tables);
    let contents = firewall::drift::ReadBack::contents(read.tables);
    assert_eq!(dumped, firewall::drift::digest(&contents));
    let installed = firewall::drift::expected(&rs, &[]).unwrap();
    assert_eq!(dumped, firewall::drift::digest(&installed.map(Some)));
}
