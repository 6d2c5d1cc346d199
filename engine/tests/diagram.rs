//! The topology picture of every fixture, as Graphviz DOT, pinned by snapshots: a change to
//! what `brouter diagram` draws is reviewed as a diff (`INSTA_UPDATE=always cargo test -p
//! brouter-engine --test diagram`, then `git diff engine/tests/snapshots`).

use std::path::Path;

use brouter_engine::config::{from_toml, from_xen_words, Config};
use brouter_engine::diagram::{diagram, to_dot};
use brouter_engine::firewall::Binding;
use brouter_engine::{Address, Link, LinkKind, Observed, IP_FORWARD};

fn fixture(name: &str) -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    from_toml(&text, &format!("fixtures/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn isp_topology_as_dot() {
    insta::assert_snapshot!("isp", to_dot(&diagram(&fixture("isp.toml"), None)));
}

#[test]
fn seed_topology_as_dot() {
    insta::assert_snapshot!("seed", to_dot(&diagram(&fixture("seed.toml"), None)));
}

#[test]
fn xen_words_topology_as_dot() {
    let c = from_xen_words(&["bridgeip=10.98.98.1/24", "brnet=10.98.98.0/24", "antispoof=yes"]).unwrap();
    insta::assert_snapshot!("xen_antispoof", to_dot(&diagram(&c, None)));
}

fn link(name: &str, kind: LinkKind, master: Option<&str>, up: bool) -> Link {
    Link {
        carrier: None,
        port_state: None,
        name: name.into(),
        kind,
        alias: None,
        master: master.map(Into::into),
        up,
        bridge: None,
        mac: None,
        mtu: None,
    }
}

/// isp.toml on a dom0 where br-dmz is up with web1's vif bound, br-hosting is down and
/// carries a vif nobody declared, br-data was never created, and eth0 has its address.
#[test]
fn isp_topology_with_live_state_as_dot() {
    let vif = || LinkKind::Other("vif".into());
    let mut obs = Observed::default();
    obs.links
        .push(link("eth0", LinkKind::Other("physical".into()), None, true));
    obs.links.push(link("br-dmz", LinkKind::Bridge, None, true));
    obs.links.push(link("br-hosting", LinkKind::Bridge, None, false));
    obs.links.push(link("vif3.0", vif(), Some("br-dmz"), true));
    obs.links.push(link("vif9.0", vif(), Some("br-hosting"), true));
    for (l, a) in [("eth0", "192.0.2.2/24"), ("br-dmz", "10.1.0.1/24")] {
        obs.addresses.push(Address {
            link: l.into(),
            addr: a.parse().unwrap(),
            owned: l != "eth0",
        });
    }
    obs.sysctls.insert(IP_FORWARD.into(), "1".into());
    obs.bindings.push(Binding {
        vif: "vif3.0".into(),
        mac: "aa:cc:00:00:01:01".into(),
        addrs: vec!["10.1.0.10/32".parse().unwrap()],
    });
    insta::assert_snapshot!("isp_live", to_dot(&diagram(&fixture("isp.toml"), Some(&obs))));
}
