//! The IPv6 cases of the differential, each a fixed sequence run on both worlds: the
//! durable record of what the sim got wrong about a link's IPv6 side (`sim/src/ipv6.rs`)
//! until the random sequences found it.

use brouter_engine::firewall::Binding;
use brouter_engine::{accept_ra_key, Op, IPV6_FORWARD};

use super::{create, master, mtu, rename, replace, run_fixed, run_fixed_steps, s, up, Step, OFF};

fn add6(link: &str, addr: &str) -> Op {
    Op::AddAddress6 {
        link: s(link),
        addr: addr.parse().unwrap(),
    }
}

fn del6(link: &str, addr: &str) -> Op {
    Op::DeleteAddress6 {
        link: s(link),
        addr: addr.parse().unwrap(),
    }
}

fn flush6(link: &str) -> Op {
    Op::FlushIpv6 { link: s(link) }
}

fn sysctl(key: &str, value: &str) -> Op {
    Op::SetSysctl {
        key: s(key),
        value: s(value),
    }
}

fn accept_ra(link: &str, value: &str) -> Op {
    sysctl(&accept_ra_key(link), value)
}

/// Found: the sim kept a link's IPv6 addresses and conf below MTU 1280; the kernel takes
/// IPv6 off the link (adding an address is then EINVAL, deleting one ENXIO, its
/// `net.ipv6.conf.<link>` is gone) and gives it a fresh conf and no addresses at 1280. A
/// bridge fitting its MTU to a small port loses IPv6 the same way.
#[test]
fn below_mtu_1280_a_link_loses_its_ipv6_addresses_and_conf() {
    run_fixed(
        "below_mtu_1280_a_link_loses_its_ipv6_addresses_and_conf",
        OFF,
        &[
            add6("vif1.0", "fd00:1::1/64"),
            accept_ra("vif1.0", "2"),
            mtu("vif1.0", 1279),
            add6("vif1.0", "fd00:1::2/64"),
            del6("vif1.0", "fd00:1::1/64"),
            accept_ra("vif1.0", "0"),
            flush6("vif1.0"),
            mtu("vif1.0", 1280),
            add6("vif1.0", "fd00:1::2/64"),
            create("xenbr0", false, 0),
            add6("xenbr0", "fd00:1::1/64"),
            accept_ra("xenbr0", "0"),
            mtu("vif1.0", 1279),
            master("vif1.0", Some("xenbr0")),
            add6("xenbr0", "fd00:1::1/64"),
            master("vif1.0", None),
            add6("xenbr0", "2001:db8::/64"),
        ],
    );
}

/// Found: renaming a link left its `net.ipv6.conf.<old name>` values behind in the sim;
/// the kernel keeps them under the new name (and the old name's keys are gone).
#[test]
fn a_renamed_link_keeps_its_ipv6_conf() {
    run_fixed(
        "a_renamed_link_keeps_its_ipv6_conf",
        OFF,
        &[
            accept_ra("vif1.0", "2"),
            add6("vif1.0", "fd00:1::1/64"),
            rename("vif1.0", "nope0"),
            accept_ra("vif1.0", "0"),
            del6("nope0", "fd00:1::1/64"),
            rename("nope0", "vif1.0"),
        ],
    );
}

/// Found: the sim reported IPv6 forwarding in `observe` once written; the kernel backend
/// reports it (like any sysctl but `ip_forward`) only while remembered, and otherwise
/// through `read_sysctls`. Writing `all.forwarding` sets `default`'s and every link's;
/// writing the sysctl of a missing link is refused alike (no file: `Unsupported`).
#[test]
fn ipv6_sysctls_are_observed_only_while_remembered() {
    run_fixed(
        "ipv6_sysctls_are_observed_only_while_remembered",
        OFF,
        &[
            sysctl(IPV6_FORWARD, "1"),
            Op::Remember {
                key: format!("sysctl:{IPV6_FORWARD}"),
                value: s("0"),
            },
            sysctl("net.ipv6.conf.eth0.forwarding", "0"),
            sysctl(IPV6_FORWARD, "1"),
            accept_ra("nope0", "2"),
            sysctl("net.ipv6.conf.nope0.forwarding", "1"),
            sysctl("net.ipv4.conf.nope0.forwarding", "1"),
            Op::Remember {
                key: format!("sysctl:{}", accept_ra_key("vif1.0")),
                value: s("1"),
            },
            mtu("vif1.0", 1279),
            mtu("vif1.0", 1500),
            Op::DeleteLink { name: s("vif1.0") },
        ],
    );
}

/// Found: the sim's `ip -6 address flush` deleted nothing. It deletes every IPv6 address
/// of the link, a link-local one added by hand too (kept by both sides, reported by
/// neither, so only adding it again shows it is gone).
#[test]
fn flushing_ipv6_deletes_every_address_of_the_link() {
    run_fixed(
        "flushing_ipv6_deletes_every_address_of_the_link",
        OFF,
        &[
            add6("xenbr1", "fd00:1::1/64"),
            add6("xenbr1", "fe80::1/64"),
            add6("xenbr1", "fe80::1/64"),
            add6("eth0", "fd00:1::1/48"),
            flush6("xenbr1"),
            flush6("nope0"),
            add6("xenbr1", "fe80::1/64"),
            del6("xenbr1", "fe80::1/64"),
            del6("xenbr1", "fe80::1/64"),
            flush6("eth0"),
        ],
    );
}

/// Checked (no disagreement): the same address under another prefix length is EEXIST, a
/// delete must name the prefix length, a link set down loses its IPv6 addresses (they do
/// not come back with it), a down link takes new ones.
#[test]
fn ipv6_addresses_follow_the_kernels_rules() {
    run_fixed(
        "ipv6_addresses_follow_the_kernels_rules",
        OFF,
        &[
            add6("xenbr1", "fd00:1::1/64"),
            add6("xenbr1", "fd00:1::1/48"),
            del6("xenbr1", "fd00:1::1/48"),
            add6("eth0", "2001:db8::2/64"),
            del6("eth0", "2001:db8::2/64"),
            add6("eth0", "2001:db8::/64"),
            up("xenbr1", false),
            up("xenbr1", true),
            add6("vif1.0", "fd00:1::2/64"),
            add6("nope0", "fd00:1::2/64"),
            del6("nope0", "fd00:1::2/64"),
        ],
    );
}

/// Checked (no disagreement): bindings with IPv6 hosts and prefixes, or any address, are
/// held and read back alike.
#[test]
fn bindings_carry_ipv6_addresses() {
    let bind = |vif: &str, mac: &str, addrs: &[&str]| {
        let mut addrs: Vec<ipnet::IpNet> = addrs.iter().map(|a| a.parse().unwrap()).collect();
        Binding::normalise(&mut addrs);
        Step::Op(Op::AddBinding {
            binding: Binding {
                vif: s(vif),
                mac: s(mac),
                addrs,
            },
        })
    };
    run_fixed_steps(
        "bindings_carry_ipv6_addresses",
        OFF,
        &[
            replace(0, vec![]),
            bind(
                "vif1.0",
                "aa:cc:00:00:00:01",
                &["10.98.98.10/32", "fd00:1::10/128"],
            ),
            bind(
                "vif9.0",
                "aa:cc:00:00:00:09",
                &["2001:db8:0:1::/64", "fd00:1::19/128"],
            ),
            bind("vif1.0", "aa:cc:00:00:00:02", &["0.0.0.0/0", "::/0"]),
        ],
    );
}
