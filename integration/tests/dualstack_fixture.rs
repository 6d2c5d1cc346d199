//! The committed fixture `fixtures/dualstack.toml`, end to end on a real kernel, the way
//! an admin would run it: `brouter --config fixtures/dualstack.toml start` in a dom0
//! namespace, two VMs plugged in by `vif online` (web1 on `br-dmz`, a guest on `br-lan`)
//! that configure themselves with real clients — busybox `udhcpc` for IPv4 (the test
//! applies the lease with `ip`, as a DHCP client script would), the kernel's SLAAC from
//! dnsmasq's router advertisements for IPv6 — and then: names from the bridges' DNS
//! (busybox `nslookup`), both VMs to the internet over IPv4 (masqueraded) and IPv6 (the
//! global `lan` prefix routed, the unique-local `dmz` prefix masqueraded), the internet
//! to web1's port 80 through the forward over both families, `status` converged, and
//! `stop` leaving no dnsmasq (a second `stop` does nothing). Root only; every namespace
//! is the test's own (the uplink's IPv6, and the internet's route back to the global
//! prefix, are set up here: the topology only builds IPv4).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use brouter_integration::dnsmasq_procs::processes_naming;
use brouter_integration::fixture_lab::{
    in_64, in_pool, lookup, retry, Configured, FixtureLab, Vm, INTERNET_V4, INTERNET_V6, UPLINK_V4, UPLINK_V6,
};

/// `[[host]] web1` of the fixture, on `dmz` (`br-dmz`, anti-spoofing).
const WEB1: usize = 0;
const WEB1_V4: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 10);
const WEB1_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 0x10);
const DMZ_GW4: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
const DMZ_PREFIX6: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 0);

/// A VM no `[[host]]` declares, on `lan` (`br-lan`).
const GUEST: usize = 1;
const LAN_GW4: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 1);
const LAN_PREFIX6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0);
const LAN_POOL: (Ipv4Addr, Ipv4Addr) = (Ipv4Addr::new(10, 2, 0, 100), Ipv4Addr::new(10, 2, 0, 199));

/// The fixture's VMs, in the order of the constants above.
const VMS: [Vm; 2] = [
    Vm {
        name: "web1",
        mac: "aa:cc:00:00:01:01",
        bridge: "br-dmz",
    },
    Vm {
        name: "guest",
        mac: "aa:cc:00:00:02:77",
        bridge: "br-lan",
    },
];

/// The lab for `fixtures/dualstack.toml`: the internet routes the global lan prefix back.
fn lab(tag: &str) -> FixtureLab {
    FixtureLab::new(tag, "dualstack.toml", &VMS, &[LAN_PREFIX6])
}

/// Everything an admin's VMs do after `start`: both vifs online, each VM's SLAAC
/// address and default route from the bridge's advertisements, and its DHCP lease
/// (applied). Returns (web1, guest).
fn bring_up(lab: &FixtureLab) -> (Configured, Configured) {
    lab.start_with_vms();
    let web1_slaac = lab.wait_for_slaac(WEB1, DMZ_PREFIX6);
    let guest_slaac = lab.wait_for_slaac(GUEST, LAN_PREFIX6);
    let web1 = Configured {
        lease: lab.lease_and_apply(WEB1),
        slaac: web1_slaac,
    };
    let guest = Configured {
        lease: lab.lease_and_apply(GUEST),
        slaac: guest_slaac,
    };
    (web1, guest)
}

/// (1) What each VM configured for itself: web1 its static lease (10.1.0.10, router and
/// DNS the dmz bridge) and its SLAAC address in fd00:1::/64, the guest a pool lease of
/// lan and its SLAAC address in 2001:db8:2::/64 ([`bring_up`] already waited for
/// each SLAAC address and default route from its bridge's advertisements).
fn assert_configured(web1: &Configured, guest: &Configured) {
    assert_eq!(web1.lease.ip, WEB1_V4, "web1's static lease: {web1:?}");
    assert_eq!(web1.lease.routers, [DMZ_GW4], "{web1:?}");
    assert_eq!(web1.lease.dns, [DMZ_GW4], "{web1:?}");
    assert_eq!(web1.lease.subnet.as_deref(), Some("255.255.255.0"), "{web1:?}");
    assert!(in_64(web1.slaac, DMZ_PREFIX6), "{web1:?}");
    assert_eq!(
        web1.slaac,
        "fd00:1::a8cc:ff:fe00:101".parse::<Ipv6Addr>().unwrap()
    );

    assert!(
        in_pool(guest.lease.ip, LAN_POOL),
        "a pool address of lan: {guest:?}"
    );
    assert_eq!(guest.lease.routers, [LAN_GW4], "{guest:?}");
    assert_eq!(guest.lease.dns, [LAN_GW4], "{guest:?}");
    assert_eq!(guest.lease.subnet.as_deref(), Some("255.255.255.0"), "{guest:?}");
    assert!(in_64(guest.slaac, LAN_PREFIX6), "{guest:?}");
}

/// (2) The bridges' DNS: the guest asks its own bridge (lan) for a host of the other
/// network, and web1 asks its bridge for its IPv6 address.
fn assert_names(lab: &FixtureLab) {
    let a = retry(
        "web1.dmz should resolve to 10.1.0.10 at 10.2.0.1 (asked from lan)",
        || lookup(lab.vm(GUEST), "a", "web1.dmz", LAN_GW4),
        |r| r.as_ref().is_ok_and(|v| v == &[IpAddr::V4(WEB1_V4)]),
    );
    assert_eq!(a, Ok(vec![IpAddr::V4(WEB1_V4)]));
    let aaaa = retry(
        "web1 should resolve (AAAA) to fd00:1::10 at 10.1.0.1 (asked from dmz)",
        || lookup(lab.vm(WEB1), "aaaa", "web1", DMZ_GW4),
        |r| r.as_ref().is_ok_and(|v| v == &[IpAddr::V6(WEB1_V6)]),
    );
    assert_eq!(aaaa, Ok(vec![IpAddr::V6(WEB1_V6)]));
}

/// (3) Out: lan → external accepts everything, dmz → external tcp/80 and tcp/443. The
/// guest over IPv4 is masqueraded to the uplink, over IPv6 from its SLAAC address routed
/// (the server sees the guest's own address); web1 from fd00:1::10 is masqueraded to the
/// uplink's IPv6 address.
fn assert_outbound(lab: &FixtureLab, guest: &Configured) {
    let seen = lab.out_to_internet(
        "guest → 192.0.2.1:8080 over IPv4",
        GUEST,
        None,
        SocketAddr::new(INTERNET_V4.into(), 8080),
    );
    assert_eq!(
        seen,
        IpAddr::V4(UPLINK_V4),
        "lan IPv4 is masqueraded to the uplink"
    );
    let seen = lab.out_to_internet(
        "guest → [2001:db8:1::1]:8081 from its SLAAC address",
        GUEST,
        Some(guest.slaac.into()),
        SocketAddr::new(INTERNET_V6.into(), 8081),
    );
    assert_eq!(
        seen,
        IpAddr::V6(guest.slaac),
        "the global lan prefix is routed: the server sees the guest's own address"
    );
    lab.add_ipv6(WEB1, WEB1_V6);
    let seen = lab.out_to_internet(
        "web1 → [2001:db8:1::1]:443 from fd00:1::10",
        WEB1,
        Some(WEB1_V6.into()),
        SocketAddr::new(INTERNET_V6.into(), 443),
    );
    assert_eq!(
        seen,
        IpAddr::V6(UPLINK_V6),
        "the unique-local dmz prefix is masqueraded to the uplink's IPv6 address"
    );
}

/// (4) In: the forward of tcp/80 to web1, over IPv4 (192.0.2.2:80 → 10.1.0.10:80) and
/// IPv6 ([2001:db8:1::2]:80 → [fd00:1::10]:80), web1 seeing the client's own address.
fn assert_inbound(lab: &FixtureLab) {
    lab.add_ipv6(WEB1, WEB1_V6);
    let seen = lab.in_from_internet(
        "internet → 192.0.2.2:80",
        WEB1,
        80,
        SocketAddr::new(UPLINK_V4.into(), 80),
    );
    assert_eq!(seen, IpAddr::V4(INTERNET_V4), "10.1.0.10:80 sees the client");
    let seen = lab.in_from_internet(
        "internet → [2001:db8:1::2]:80",
        WEB1,
        80,
        SocketAddr::new(UPLINK_V6.into(), 80),
    );
    assert_eq!(seen, IpAddr::V6(INTERNET_V6), "[fd00:1::10]:80 sees the client");
}

#[test]
fn the_vms_configure_their_addresses_and_default_routes_from_brouters_dnsmasq() {
    let test = "the_vms_configure_their_addresses_and_default_routes_from_brouters_dnsmasq";
    if !FixtureLab::can_run(test) {
        return;
    }
    let lab = lab("fixaddr");
    let (web1, guest) = bring_up(&lab);
    assert_configured(&web1, &guest);
}

#[test]
fn the_bridges_dns_answers_host_names_across_networks_and_in_aaaa() {
    let test = "the_bridges_dns_answers_host_names_across_networks_and_in_aaaa";
    if !FixtureLab::can_run(test) {
        return;
    }
    let lab = lab("fixdns");
    bring_up(&lab);
    assert_names(&lab);
}

#[test]
fn the_vms_reach_the_internet_masqueraded_or_routed_by_family_and_prefix() {
    let test = "the_vms_reach_the_internet_masqueraded_or_routed_by_family_and_prefix";
    if !FixtureLab::can_run(test) {
        return;
    }
    let lab = lab("fixout");
    let (_, guest) = bring_up(&lab);
    assert_outbound(&lab, &guest);
}

#[test]
fn the_internet_reaches_web1s_port_80_through_the_forward_over_both_families() {
    let test = "the_internet_reaches_web1s_port_80_through_the_forward_over_both_families";
    if !FixtureLab::can_run(test) {
        return;
    }
    let lab = lab("fixin");
    bring_up(&lab);
    assert_inbound(&lab);
}

/// (5) After everything above (leases, SLAAC, DNS, traffic both ways, both families),
/// `status` reads the kernel back and finds it converged.
#[test]
fn status_is_converged_after_an_admins_session() {
    if !FixtureLab::can_run("status_is_converged_after_an_admins_session") {
        return;
    }
    let lab = lab("fixstatus");
    let (web1, guest) = bring_up(&lab);
    assert_configured(&web1, &guest);
    assert_names(&lab);
    assert_outbound(&lab, &guest);
    assert_inbound(&lab);
    let (code, out) = lab.status();
    assert_eq!(code, 0, "status is converged:\n{out}");
}

/// (5) After the VMs configured themselves and traffic flowed, `stop` ends the test's
/// dnsmasq and removes both bridges; a second `stop` does nothing.
#[test]
fn stop_leaves_no_dnsmasq_and_a_second_stop_does_nothing() {
    if !FixtureLab::can_run("stop_leaves_no_dnsmasq_and_a_second_stop_does_nothing") {
        return;
    }
    let lab = lab("fixstop");
    let (_, guest) = bring_up(&lab);
    assert_outbound(&lab, &guest);
    assert_inbound(&lab);
    assert!(
        !processes_naming(&lab.state).is_empty(),
        "dnsmasq runs before stop"
    );

    lab.ok(&["stop"]);
    assert_eq!(
        processes_naming(&lab.state),
        Vec::<u32>::new(),
        "no dnsmasq of ours remains after stop"
    );
    let links = lab.dom0().ip(&["-o", "link", "show"]);
    assert!(
        !links.contains(" br-dmz:") && !links.contains(" br-lan:"),
        "both bridges are gone:\n{links}"
    );
    let again = lab.ok(&["stop"]);
    assert!(
        again.contains("nothing to do"),
        "a second stop does nothing: {again}"
    );
    assert_eq!(processes_naming(&lab.state), Vec::<u32>::new());
}
