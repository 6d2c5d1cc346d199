//! brouter's tables read back over nfnetlink compare equal, element by element, with the
//! transaction that installed them: the base every drift case stands on (a read-back that
//! always differs would make `status` cry wolf, one that never does would hide drift).

use brouter_backends::firewall::{self, drift};
use brouter_engine::config;
use brouter_engine::firewall::Binding;
use brouter_integration::{root_or_skip, Netns};

fn read(ns: &Netns) -> [Option<drift::TableContents>; 2] {
    ns.target().run(|| drift::read_here(true)).unwrap().unwrap()
}

#[test]
fn freshly_installed_tables_read_back_with_no_difference() {
    if !root_or_skip("freshly_installed_tables_read_back_with_no_difference") {
        return;
    }
    let ns = Netns::new("driftrb");
    let t = ns.target();
    for fixture in ["seed.toml", "isp.toml", "logged.toml"] {
        let path = format!("{}/../fixtures/{fixture}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let cfg = config::from_toml(&text, &path).unwrap();
        let rs = brouter_engine::firewall::compile(&cfg);
        let bindings = vec![Binding {
            vif: "vif1.0".into(),
            mac: "aa:cc:00:00:01:01".into(),
            addrs: vec!["10.98.98.10/32".parse().unwrap()],
        }];
        firewall::replace_with_bindings(&t, &rs, &bindings).unwrap();
        let expected = drift::expected(&rs, &bindings).unwrap();
        let live = read(&ns);
        let d = drift::differences(&expected, &live);
        assert!(d.is_empty(), "{fixture}: {d:#?}");
        let wanted = [Some(expected[0].clone()), Some(expected[1].clone())];
        assert_eq!(drift::digest(&live), drift::digest(&wanted), "{fixture}");
    }
}
