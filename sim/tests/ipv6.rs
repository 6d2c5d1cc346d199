//! A link's IPv6 side in the sim, as the differential found the kernel keeps it (see
//! `integration/tests/differential/ipv6.rs`): read through the backend seam — `observe`
//! and `read_sysctls`, as the CLI reads a real kernel — not through the sim's fields.

use brouter_engine::{accept_ra_key, ErrorKind, LinkKind, NetBackend, Observed, IPV6_FORWARD};
use brouter_sim::{Kernel, SimBackend};

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn sim() -> SimBackend {
    let mut k = Kernel::default();
    k.add_link("vif1.0", LinkKind::Veth, true);
    SimBackend::new(k)
}

fn observe(sim: &mut SimBackend) -> Observed {
    block(sim.observe()).unwrap()
}

/// The value `read_sysctls` gives for `key`, `None` when the key does not exist.
fn read(sim: &mut SimBackend, key: &str) -> Option<String> {
    block(sim.read_sysctls(&[key.to_string()])).unwrap().remove(key)
}

fn addrs6(sim: &mut SimBackend) -> Vec<String> {
    observe(sim)
        .addresses6
        .iter()
        .map(|a| format!("{} {}", a.link, a.addr))
        .collect()
}

#[test]
fn below_mtu_1280_a_link_has_no_ipv6_and_at_1280_a_fresh_conf() {
    let mut s = sim();
    let ra = accept_ra_key("vif1.0");
    block(s.add_address6("vif1.0", "fd00:1::1/64".parse().unwrap())).unwrap();
    block(s.set_sysctl(&ra, "2")).unwrap();
    block(s.set_mtu("vif1.0", 1279)).unwrap();
    assert!(addrs6(&mut s).is_empty());
    assert_eq!(read(&mut s, &ra), None);
    let kind = |r: Result<(), brouter_engine::BackendError>| r.unwrap_err().kind;
    let a = "fd00:1::2/64".parse().unwrap();
    assert_eq!(kind(block(s.add_address6("vif1.0", a))), ErrorKind::Invalid);
    assert_eq!(kind(block(s.delete_address6("vif1.0", a))), ErrorKind::Other);
    assert_eq!(kind(block(s.set_sysctl(&ra, "0"))), ErrorKind::Unsupported);
    block(s.set_mtu("vif1.0", 1280)).unwrap();
    assert_eq!(read(&mut s, &ra).as_deref(), Some("1"), "the default again");
    block(s.add_address6("vif1.0", a)).unwrap();
}

#[test]
fn a_bridge_fitted_to_a_small_port_loses_ipv6() {
    let mut s = sim();
    block(s.create_bridge("xenbr0", "dmz", Default::default())).unwrap();
    block(s.add_address6("xenbr0", "fd00:1::1/64".parse().unwrap())).unwrap();
    block(s.set_mtu("vif1.0", 1279)).unwrap();
    block(s.set_master("vif1.0", Some("xenbr0"))).unwrap();
    assert!(addrs6(&mut s).is_empty());
    assert_eq!(read(&mut s, &accept_ra_key("xenbr0")), None);
    block(s.set_master("vif1.0", None)).unwrap();
    assert_eq!(read(&mut s, &accept_ra_key("xenbr0")).as_deref(), Some("1"));
}

#[test]
fn ipv6_sysctls_are_observed_only_while_remembered_and_forwarding_reaches_every_link() {
    let mut s = sim();
    block(s.set_sysctl(IPV6_FORWARD, "1")).unwrap();
    assert!(!observe(&mut s).sysctls.contains_key(IPV6_FORWARD));
    assert_eq!(
        read(&mut s, "net.ipv6.conf.vif1/0.forwarding").as_deref(),
        Some("1")
    );
    assert_eq!(
        read(&mut s, "net.ipv6.conf.default.forwarding").as_deref(),
        Some("1")
    );
    block(s.remember(&format!("sysctl:{IPV6_FORWARD}"), "0")).unwrap();
    assert_eq!(observe(&mut s).sysctls[IPV6_FORWARD], "1");
    let missing = block(s.set_sysctl(&accept_ra_key("nope0"), "2")).unwrap_err();
    assert_eq!(missing.kind, ErrorKind::Unsupported);
    let missing4 = block(s.set_sysctl("net.ipv4.conf.nope0.forwarding", "1")).unwrap_err();
    assert_eq!(missing4.kind, ErrorKind::Unsupported);
}

#[test]
fn a_renamed_link_keeps_its_ipv6_conf_and_addresses() {
    let mut s = sim();
    block(s.set_sysctl(&accept_ra_key("vif1.0"), "2")).unwrap();
    block(s.add_address6("vif1.0", "fd00:1::1/64".parse().unwrap())).unwrap();
    block(s.set_up("vif1.0", false)).unwrap();
    block(s.add_address6("vif1.0", "fd00:1::1/64".parse().unwrap())).unwrap();
    block(s.rename_link("vif1.0", "web1")).unwrap();
    assert_eq!(read(&mut s, &accept_ra_key("web1")).as_deref(), Some("2"));
    assert_eq!(read(&mut s, &accept_ra_key("vif1.0")), None);
    assert_eq!(addrs6(&mut s), ["web1 fd00:1::1/64"]);
}

#[test]
fn a_flush_deletes_every_ipv6_address_and_link_local_ones_are_never_observed() {
    let mut s = sim();
    block(s.add_address6("vif1.0", "fe80::1/64".parse().unwrap())).unwrap();
    block(s.add_address6("vif1.0", "fd00:1::1/64".parse().unwrap())).unwrap();
    assert_eq!(addrs6(&mut s), ["vif1.0 fd00:1::1/64"]);
    let again = block(s.add_address6("vif1.0", "fe80::1/64".parse().unwrap()));
    assert_eq!(again.unwrap_err().kind, ErrorKind::Exists, "kept, not reported");
    block(s.flush_ipv6("vif1.0")).unwrap();
    assert!(addrs6(&mut s).is_empty());
    block(s.add_address6("vif1.0", "fe80::1/64".parse().unwrap())).unwrap();
    assert_eq!(
        block(s.flush_ipv6("nope0")).unwrap_err().kind,
        ErrorKind::NoDevice
    );
}
