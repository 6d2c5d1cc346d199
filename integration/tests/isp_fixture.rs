//! The committed fixture `fixtures/isp.toml`, end to end on a real kernel, as an ISP's
//! admin runs it: `brouter --config fixtures/isp.toml start` in a dom0 namespace, web1
//! plugged into `br-dmz` (anti-spoofing, a static lease) and a guest no `[[host]]`
//! declares into `br-hosting` (a pool lease), both configuring themselves with real
//! clients (busybox `udhcpc`; the kernel's SLAAC from dnsmasq's router advertisements).
//! Then, over IPv6 as over IPv4: names from the bridges' DNS, the global dmz prefix
//! routed and the unique-local hosting prefix masqueraded, the forward of tcp/80 to
//! web1, the hosting → dmz policy (tcp/80 passes, ssh does not), dmz → external limited
//! to its services, a spoofed IPv6 source from web1 dropped while its own addresses
//! pass; `status` converged after all that, and `stop` leaving no dnsmasq. Root only;
//! every namespace is the test's own.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use brouter_integration::dnsmasq_procs::processes_naming;
use brouter_integration::fixture_lab::{
    in_64, in_pool, lookup, retry, slaac, Configured, FixtureLab, Vm, INTERNET_V4, INTERNET_V6, UPLINK_V4,
    UPLINK_V6,
};
use brouter_integration::Outcome;

/// `[[host]] web1` of the fixture, on `dmz` (`br-dmz`, anti-spoofing, DHCP).
const WEB1: usize = 0;
const WEB1_V4: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 10);
const WEB1_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 0x10);
const DMZ_GW4: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
/// dmz's global prefix: routed, not masqueraded.
const DMZ_PREFIX6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 0);

/// A VM no `[[host]]` declares, on `hosting` (`br-hosting`, DHCP pool).
const GUEST: usize = 1;
const HOSTING_GW4: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 1);
/// hosting's unique-local prefix: masqueraded to the uplink's IPv6 address.
const HOSTING_PREFIX6: Ipv6Addr = Ipv6Addr::new(0xfd00, 2, 0, 0, 0, 0, 0, 0);
const HOSTING_POOL: (Ipv4Addr, Ipv4Addr) = (Ipv4Addr::new(10, 2, 0, 100), Ipv4Addr::new(10, 2, 0, 199));

/// The VMs, in the order of the constants above.
const VMS: [Vm; 2] = [
    Vm {
        name: "web1",
        mac: "aa:cc:00:00:01:01",
        bridge: "br-dmz",
    },
    Vm {
        name: "guest",
        mac: "aa:cc:00:00:02:77",
        bridge: "br-hosting",
    },
];

/// The lab for `fixtures/isp.toml`: the internet routes the global dmz prefix back.
fn lab(tag: &str) -> FixtureLab {
    FixtureLab::new(tag, "isp.toml", &VMS, &[DMZ_PREFIX6])
}

/// `start`, both vifs online, each VM's SLAAC address and default route, its lease
/// (applied), and web1's declared IPv6 address as its own configuration would add it.
fn bring_up(lab: &FixtureLab) -> (Configured, Configured) {
    lab.start_with_vms();
    let web1 = lab.configure(WEB1, DMZ_PREFIX6);
    let guest = lab.configure(GUEST, HOSTING_PREFIX6);
    lab.add_ipv6(WEB1, WEB1_V6);
    (web1, guest)
}

fn v4(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(ip.into(), port)
}

fn v6(ip: Ipv6Addr, port: u16) -> SocketAddr {
    SocketAddr::new(ip.into(), port)
}

/// Not connected within the drop deadline: dropped or refused, never answered.
fn blocked(out: &Outcome) -> bool {
    matches!(out, Outcome::TimedOut | Outcome::Refused)
}

#[test]
fn isp_vms_get_their_leases_and_slaac_addresses_and_resolve_names() {
    let test = "isp_vms_get_their_leases_and_slaac_addresses_and_resolve_names";
    if !FixtureLab::can_run(test) {
        return;
    }
    let lab = lab("ispaddr");
    let (web1, guest) = bring_up(&lab);

    assert_eq!(web1.lease.ip, WEB1_V4, "web1's static lease: {web1:?}");
    assert_eq!(web1.lease.routers, [DMZ_GW4], "{web1:?}");
    assert_eq!(web1.lease.dns, [DMZ_GW4], "{web1:?}");
    assert_eq!(web1.slaac, slaac(DMZ_PREFIX6, VMS[WEB1].mac));
    assert_eq!(
        web1.slaac,
        "2001:db8:10:0:a8cc:ff:fe00:101".parse::<Ipv6Addr>().unwrap()
    );

    assert!(
        in_pool(guest.lease.ip, HOSTING_POOL),
        "a hosting pool address: {guest:?}"
    );
    assert_eq!(guest.lease.routers, [HOSTING_GW4], "{guest:?}");
    assert_eq!(guest.lease.dns, [HOSTING_GW4], "{guest:?}");
    assert!(in_64(guest.slaac, HOSTING_PREFIX6), "{guest:?}");

    let a = retry(
        "web1.dmz should resolve to 10.1.0.10 at 10.2.0.1 (asked from hosting)",
        || lookup(lab.vm(GUEST), "a", "web1.dmz", HOSTING_GW4),
        |r| r.as_ref().is_ok_and(|v| v == &[IpAddr::V4(WEB1_V4)]),
    );
    assert_eq!(a, Ok(vec![IpAddr::V4(WEB1_V4)]));
    let aaaa = retry(
        "web1 should resolve (AAAA) to 2001:db8:10::10 at 10.1.0.1 (asked from dmz)",
        || lookup(lab.vm(WEB1), "aaaa", "web1", DMZ_GW4),
        |r| r.as_ref().is_ok_and(|v| v == &[IpAddr::V6(WEB1_V6)]),
    );
    assert_eq!(aaaa, Ok(vec![IpAddr::V6(WEB1_V6)]));
    let db1 = retry(
        "db1.data should resolve (AAAA) to fd00:3::10 at 10.2.0.1 (a network without DHCP)",
        || lookup(lab.vm(GUEST), "aaaa", "db1.data", HOSTING_GW4),
        |r| r.is_ok(),
    );
    assert_eq!(db1, Ok(vec!["fd00:3::10".parse::<IpAddr>().unwrap()]));
}

#[test]
fn isp_policies_forwards_and_anti_spoofing_hold_over_ipv6_as_over_ipv4() {
    let test = "isp_policies_forwards_and_anti_spoofing_hold_over_ipv6_as_over_ipv4";
    if !FixtureLab::can_run(test) {
        return;
    }
    let lab = lab("isppol");
    let (web1, guest) = bring_up(&lab);

    // hosting → external accepts everything: masqueraded in both families (ULA).
    let seen = lab.out_to_internet("guest → 192.0.2.1:8080", GUEST, None, v4(INTERNET_V4, 8080));
    assert_eq!(seen, IpAddr::V4(UPLINK_V4), "hosting IPv4 is masqueraded");
    let seen = lab.out_to_internet(
        "guest → [2001:db8:1::1]:8080 from its SLAAC address",
        GUEST,
        Some(guest.slaac.into()),
        v6(INTERNET_V6, 8080),
    );
    assert_eq!(
        seen,
        IpAddr::V6(UPLINK_V6),
        "the ULA hosting prefix is masqueraded"
    );

    // dmz → external: tcp/443 passes, routed (global prefix), from the SLAAC address and
    // the declared one; ssh is not among dmz's services.
    for src in [web1.slaac, WEB1_V6] {
        let seen = lab.out_to_internet(
            &format!("web1 → [2001:db8:1::1]:443 from {src}"),
            WEB1,
            Some(src.into()),
            v6(INTERNET_V6, 443),
        );
        assert_eq!(
            seen,
            IpAddr::V6(src),
            "the global dmz prefix is routed, not masqueraded"
        );
    }
    let ssh = lab.to_internet_once(WEB1, WEB1_V6.into(), v6(INTERNET_V6, 22));
    assert!(
        blocked(&ssh),
        "dmz → external tcp/22 is not a dmz service: {ssh:?}"
    );

    // Anti-spoofing: the same flow that passed from web1's own addresses, from an
    // address of its prefix that is neither declared nor its SLAAC address, is dropped
    // (the internet routes the whole prefix back, so an answer would come).
    let spoofed: Ipv6Addr = "2001:db8:10::99".parse().unwrap();
    lab.add_ipv6(WEB1, spoofed);
    let out = lab.to_internet_once(WEB1, spoofed.into(), v6(INTERNET_V6, 443));
    assert!(
        blocked(&out),
        "a spoofed IPv6 source is dropped at web1's port: {out:?}"
    );

    // The forward of tcp/80 to web1, both families; web1 sees the client.
    let seen = lab.in_from_internet("internet → 192.0.2.2:80", WEB1, 80, v4(UPLINK_V4, 80));
    assert_eq!(seen, IpAddr::V4(INTERNET_V4));
    let seen = lab.in_from_internet("internet → [2001:db8:1::2]:80", WEB1, 80, v6(UPLINK_V6, 80));
    assert_eq!(
        seen,
        IpAddr::V6(INTERNET_V6),
        "[2001:db8:10::10]:80 sees the client"
    );

    // hosting → dmz: tcp/80 passes over IPv6 (no NAT between VM zones), ssh does not.
    let web = retry(
        "guest → [2001:db8:10::10]:80",
        || lab.vm_to_vm(GUEST, Some(guest.slaac.into()), WEB1, v6(WEB1_V6, 80)),
        Outcome::is_connected,
    );
    assert_eq!(web.peer_ip(), Some(IpAddr::V6(guest.slaac)));
    let ssh = lab.vm_to_vm(GUEST, Some(guest.slaac.into()), WEB1, v6(WEB1_V6, 22));
    assert!(blocked(&ssh), "hosting → dmz tcp/22 is not allowed: {ssh:?}");
    let ssh4 = lab.vm_to_vm(GUEST, None, WEB1, v4(WEB1_V4, 22));
    assert!(blocked(&ssh4), "nor over IPv4: {ssh4:?}");
}

#[test]
fn isp_status_is_converged_after_traffic_and_stop_leaves_no_dnsmasq() {
    let test = "isp_status_is_converged_after_traffic_and_stop_leaves_no_dnsmasq";
    if !FixtureLab::can_run(test) {
        return;
    }
    let lab = lab("ispstop");
    let (_, guest) = bring_up(&lab);
    lab.out_to_internet(
        "guest → [2001:db8:1::1]:8080",
        GUEST,
        Some(guest.slaac.into()),
        v6(INTERNET_V6, 8080),
    );
    lab.in_from_internet("internet → [2001:db8:1::2]:80", WEB1, 80, v6(UPLINK_V6, 80));
    let (code, out) = lab.status();
    assert_eq!(code, 0, "status is converged:\n{out}");
    assert!(
        !processes_naming(&lab.state).is_empty(),
        "dnsmasq runs before stop"
    );

    lab.ok(&["stop"]);
    assert_eq!(
        processes_naming(&lab.state),
        Vec::<u32>::new(),
        "no dnsmasq after stop"
    );
    let links = lab.dom0().ip(&["-o", "link", "show"]);
    for br in ["br-dmz", "br-hosting", "br-data"] {
        assert!(!links.contains(&format!(" {br}:")), "{br} is gone:\n{links}");
    }
    let again = lab.ok(&["stop"]);
    assert!(
        again.contains("nothing to do"),
        "a second stop does nothing: {again}"
    );
}
