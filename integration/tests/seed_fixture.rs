//! The committed fixture `fixtures/seed.toml` (the seed's one brouter, `xenbr0` with
//! 10.98.98.1/24, plus `address6` and `dhcp`), end to end on a real kernel: `brouter
//! --config fixtures/seed.toml start` in a dom0 namespace, a VM no `[[host]]` declares
//! plugged into `xenbr0`, configuring itself with real clients (busybox `udhcpc`; the
//! kernel's SLAAC from dnsmasq's router advertisements). It gets a pool lease and a
//! SLAAC address, reaches the internet masqueraded in both families, nothing on the
//! internet can open a connection to it (even with a route to its addresses), `status`
//! is converged and `stop` leaves no dnsmasq. No `[uplink]`: the external zone is every
//! interface that is not a brouter bridge, as in the seed script. Root only; every
//! namespace is the test's own.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use brouter_integration::dnsmasq_procs::processes_naming;
use brouter_integration::fixture_lab::{
    in_64, in_pool, retry, Configured, FixtureLab, Vm, INTERNET_V4, INTERNET_V6, UPLINK_V4, UPLINK_V6,
};
use brouter_integration::{probe, Outcome};

const VM: usize = 0;
const GW4: Ipv4Addr = Ipv4Addr::new(10, 98, 98, 1);
const PREFIX6: Ipv6Addr = Ipv6Addr::new(0xfd98, 0x98, 0, 0, 0, 0, 0, 0);
/// The default pool: the host addresses above the bridge's.
const POOL: (Ipv4Addr, Ipv4Addr) = (Ipv4Addr::new(10, 98, 98, 2), Ipv4Addr::new(10, 98, 98, 254));

const VMS: [Vm; 1] = [Vm {
    name: "vm",
    mac: "aa:cc:00:00:98:01",
    bridge: "xenbr0",
}];

/// The lab for `fixtures/seed.toml`. The internet gets routes to the VM network in both
/// families through the dom0, so that only the firewall stands between it and the VM.
fn lab(tag: &str) -> FixtureLab {
    let lab = FixtureLab::new(tag, "seed.toml", &VMS, &[PREFIX6]);
    lab.internet()
        .ip(&["route", "add", "10.98.98.0/24", "via", &UPLINK_V4.to_string()]);
    lab
}

fn bring_up(lab: &FixtureLab) -> Configured {
    lab.start_with_vms();
    lab.configure(VM, PREFIX6)
}

#[test]
fn seed_vm_gets_a_lease_and_slaac_and_goes_out_masqueraded_but_nothing_comes_in() {
    let test = "seed_vm_gets_a_lease_and_slaac_and_goes_out_masqueraded_but_nothing_comes_in";
    if !FixtureLab::can_run(test) {
        return;
    }
    let lab = lab("seedvm");
    let vm = bring_up(&lab);
    assert!(in_pool(vm.lease.ip, POOL), "a pool address of xenbr0: {vm:?}");
    assert_eq!(vm.lease.routers, [GW4], "{vm:?}");
    assert_eq!(vm.lease.dns, [GW4], "{vm:?}");
    assert_eq!(vm.lease.subnet.as_deref(), Some("255.255.255.0"), "{vm:?}");
    assert!(in_64(vm.slaac, PREFIX6), "{vm:?}");

    let seen = lab.out_to_internet(
        "vm → 192.0.2.1:8080",
        VM,
        None,
        SocketAddr::new(INTERNET_V4.into(), 8080),
    );
    assert_eq!(seen, IpAddr::V4(UPLINK_V4), "IPv4 is masqueraded to the uplink");
    let seen = lab.out_to_internet(
        "vm → [2001:db8:1::1]:8080 from its SLAAC address",
        VM,
        Some(vm.slaac.into()),
        SocketAddr::new(INTERNET_V6.into(), 8080),
    );
    assert_eq!(
        seen,
        IpAddr::V6(UPLINK_V6),
        "the ULA prefix is masqueraded to the uplink's IPv6"
    );

    // external → dmz is not a policy: unlisted pairs drop, in both families.
    for dst in [IpAddr::V4(vm.lease.ip), IpAddr::V6(vm.slaac)] {
        let listen = SocketAddr::new(
            match dst {
                IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
                IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
            },
            22,
        );
        let out = probe::tcp(
            lab.vm(VM),
            listen,
            lab.internet(),
            SocketAddr::new(dst, 22),
            probe::DEADLINE,
        );
        assert!(
            matches!(out, Outcome::TimedOut),
            "the internet must not open a connection to the VM at {dst}: {out:?}"
        );
    }
}

#[test]
fn seed_status_is_converged_with_a_vm_and_stop_leaves_no_dnsmasq() {
    let test = "seed_status_is_converged_with_a_vm_and_stop_leaves_no_dnsmasq";
    if !FixtureLab::can_run(test) {
        return;
    }
    let lab = lab("seedstop");
    let vm = bring_up(&lab);
    retry(
        "vm → [2001:db8:1::1]:8080",
        || lab.to_internet_once(VM, vm.slaac.into(), SocketAddr::new(INTERNET_V6.into(), 8080)),
        Outcome::is_connected,
    );
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
    assert!(!links.contains(" xenbr0:"), "xenbr0 is gone:\n{links}");
    let again = lab.ok(&["stop"]);
    assert!(
        again.contains("nothing to do"),
        "a second stop does nothing: {again}"
    );
}
