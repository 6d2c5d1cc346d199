//! Anti-spoofing with Xen's meaning of `ip`, proven with real frames between namespaces:
//! `brouter start` and `brouter vif online --ip …` on a dom0, raw frames sent from a domU's
//! `eth0`, and a listener on another domU's `eth0` (the bridge floods broadcast and
//! multicast to it) that says whether each frame got past `bridge brouter`.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use brouter_integration::binary::brouter_bin;
use brouter_integration::frames::{self, arrives};
use brouter_integration::probe::{DEADLINE, DROP_DEADLINE};
use brouter_integration::{root_or_skip, DomU, Topology};

/// One anti-spoofing network whose `[[host]]`s declare no MAC: Xen's meaning of `ip`.
const CONFIG: &str = r#"
[uplink]
interface = "eth0"

[[network]]
name = "dmz"
bridge = "xenbr0"
address = "10.98.98.1/24"
antispoof = true
"#;

const A: usize = 0; // bound to ip= "10.98.98.16/28 fd98::/64"
const B: usize = 1; // no ip: bound to its MAC alone
const LISTENER: usize = 2; // bound to 10.98.98.30, only listens
const MAC_A: &str = "aa:cc:00:00:00:01";
const MAC_B: &str = "aa:cc:00:00:00:02";

struct Lab {
    t: Topology,
    state: PathBuf,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let t = Topology::new(tag)
            .domu(DomU::new("a", "10.98.98.17/24", "10.98.98.1").mac(MAC_A))
            .domu(DomU::new("b", "10.98.98.40/24", "10.98.98.1").mac(MAC_B))
            .domu(DomU::new("l", "10.98.98.30/24", "10.98.98.1").mac("aa:cc:00:00:00:03"))
            .build();
        let state = std::env::temp_dir().join(format!("brouter-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("brouter.toml"), CONFIG).unwrap();
        let lab = Lab { t, state };
        lab.ok(&["start"]);
        lab
    }

    fn brouter(&self, args: &[&str]) -> Output {
        Command::new(brouter_bin())
            .args(["--netns", self.t.dom0().name(), "--config"])
            .arg(self.state.join("brouter.toml"))
            .args(args)
            .env("BROUTER_STATE_DIR", &self.state)
            .output()
            .expect("run brouter")
    }

    fn ok(&self, args: &[&str]) -> Output {
        let out = self.brouter(args);
        assert!(
            out.status.success(),
            "brouter {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `vif online` for domU `i` as Xen would run it by hand: its MAC, and `ip` if any.
    fn online(&self, i: usize, ip: Option<&str>) -> Output {
        let vif = self.t.vif(i).to_string();
        let mac = self.t.domu_spec(i).mac.clone().unwrap();
        let mut args = vec![
            "vif", "online", "--vif", &vif, "--bridge", "xenbr0", "--mac", &mac,
        ];
        if let Some(ip) = ip {
            args.extend(["--ip", ip]);
        }
        self.ok(&args)
    }

    /// Whether the frame `build` makes, sent from domU `from`, reaches the listener.
    fn passes(&self, from: usize, deadline: Duration, build: impl FnOnce(&[u8; 16]) -> Vec<u8>) -> bool {
        arrives(
            self.t.domu(LISTENER),
            "eth0",
            self.t.domu(from),
            "eth0",
            build,
            deadline,
        )
        .unwrap()
    }

    fn assert_passes(&self, from: usize, what: &str, build: impl FnOnce(&[u8; 16]) -> Vec<u8>) {
        assert!(self.passes(from, DEADLINE, build), "{what} must pass");
    }

    fn assert_dropped(&self, from: usize, what: &str, build: impl FnOnce(&[u8; 16]) -> Vec<u8>) {
        assert!(!self.passes(from, DROP_DEADLINE, build), "{what} must be dropped");
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// A UDP datagram to the broadcast address from `src`, as domU `mac` sends it.
fn udp_from(mac: &'static str, src: &'static str) -> impl FnOnce(&[u8; 16]) -> Vec<u8> {
    move |t| frames::ipv4_udp(mac, v4(src), Ipv4Addr::BROADCAST, 5000, 5001, t)
}

/// A UDP datagram to all nodes (`ff02::1`) from `src`.
fn udp6_from(mac: &'static str, src: &'static str) -> impl FnOnce(&[u8; 16]) -> Vec<u8> {
    move |t| {
        frames::ipv6(
            mac,
            v6(src),
            v6("ff02::1"),
            17,
            &[0x13, 0x88, 0x13, 0x89, 0, 24, 0, 0],
            t,
        )
    }
}

/// A UDP datagram to all nodes (`ff02::1`) from `src:sport` (to port 546 when `sport` is
/// a DHCPv6 server's 547, else to 5001).
fn udp6(mac: &'static str, src: Ipv6Addr, sport: u16) -> impl FnOnce(&[u8; 16]) -> Vec<u8> {
    move |t| {
        let dport: u16 = if sport == 547 { 546 } else { 5001 };
        let mut head = sport.to_be_bytes().to_vec();
        head.extend_from_slice(&dport.to_be_bytes());
        head.extend_from_slice(&[0, 24, 0, 0]);
        frames::ipv6(mac, src, v6("ff02::1"), 17, &head, t)
    }
}

/// An ICMPv6 message (`head`) to all nodes from `src`.
fn icmp6(mac: &'static str, src: Ipv6Addr, head: Vec<u8>) -> impl FnOnce(&[u8; 16]) -> Vec<u8> {
    move |t| frames::ipv6(mac, src, v6("ff02::1"), 58, &head, t)
}

/// Router advertisements and redirects, and DHCP server replies of both families, are
/// the dom0's alone on an anti-spoofing bridge: from a bound vif they are dropped
/// whatever its binding allows (a VM bound to any address included), while the same
/// VM's other traffic from the same source passes.
#[test]
fn a_vm_cannot_act_as_router_or_dhcp_server_on_an_antispoof_bridge() {
    if !root_or_skip("a_vm_cannot_act_as_router_or_dhcp_server_on_an_antispoof_bridge") {
        return;
    }
    let lab = Lab::new("as-rguard");
    lab.online(A, Some("10.98.98.16/28 fd98::/64"));
    lab.online(B, None);
    lab.online(LISTENER, Some("10.98.98.30"));
    for (vm, mac) in [(A, MAC_A), (B, MAC_B)] {
        let ll = frames::eui64_link_local(mac);
        lab.assert_passes(vm, "UDP from its own link-local address", udp6(mac, ll, 5000));
        lab.assert_dropped(
            vm,
            "a router advertisement from its own link-local address",
            icmp6(mac, ll, frames::router_advertisement()),
        );
        lab.assert_dropped(
            vm,
            "an ICMPv6 redirect",
            icmp6(mac, ll, frames::redirect(ll, v6("fd98::30"))),
        );
        lab.assert_dropped(vm, "a DHCPv6 server reply (udp 547 → 546)", udp6(mac, ll, 547));
        let server = |mac: &'static str, sport: u16| {
            move |t: &[u8; 16]| frames::ipv4_udp(mac, v4("10.98.98.20"), Ipv4Addr::BROADCAST, sport, 68, t)
        };
        lab.assert_passes(vm, "UDP from a bound address to port 68", server(mac, 5000));
        lab.assert_dropped(vm, "a DHCP server reply (udp 67 → 68)", server(mac, 67));
    }
}

/// A neighbour advertisement may only announce an address the vif is bound to (or its
/// MAC's own link-local one): announcing the gateway's or a neighbour's address would
/// take their traffic, as a spoofed ARP reply would in IPv4. A vif bound to any address
/// may announce any.
#[test]
fn a_vm_may_only_advertise_its_own_ipv6_addresses_to_its_neighbours() {
    if !root_or_skip("a_vm_may_only_advertise_its_own_ipv6_addresses_to_its_neighbours") {
        return;
    }
    let lab = Lab::new("as-na");
    lab.online(A, Some("10.98.98.16/28 fd98::/64"));
    lab.online(B, None);
    lab.online(LISTENER, Some("10.98.98.30"));
    let na = |mac: &'static str, target: Ipv6Addr| {
        icmp6(
            mac,
            frames::eui64_link_local(mac),
            frames::neighbour_advertisement(target),
        )
    };
    let own_ll = frames::eui64_link_local(MAC_A);
    lab.assert_passes(
        A,
        "an advertisement of a bound address",
        na(MAC_A, v6("fd98::20")),
    );
    lab.assert_passes(
        A,
        "an advertisement of its own link-local address",
        na(MAC_A, own_ll),
    );
    lab.assert_dropped(
        A,
        "an advertisement of the gateway's kind of link-local address",
        na(MAC_A, v6("fe80::1")),
    );
    lab.assert_dropped(
        A,
        "an advertisement of another VM's link-local address",
        na(MAC_A, frames::eui64_link_local("aa:cc:00:00:00:03")),
    );
    lab.assert_dropped(
        A,
        "an advertisement of an address outside its binding",
        na(MAC_A, v6("fd99::30")),
    );
    lab.assert_passes(
        B,
        "any advertisement from a vif bound to any address",
        na(MAC_B, v6("fe80::1")),
    );
}

#[test]
fn xen_ip_binds_prefixes_of_both_families_and_drops_what_lies_outside() {
    if !root_or_skip("xen_ip_binds_prefixes_of_both_families_and_drops_what_lies_outside") {
        return;
    }
    let lab = Lab::new("as-prefix");
    lab.online(A, Some("10.98.98.16/28 fd98::/64"));
    lab.online(LISTENER, Some("10.98.98.30"));
    lab.assert_passes(A, "IPv4 from the bound /28", udp_from(MAC_A, "10.98.98.20"));
    lab.assert_dropped(A, "IPv4 from outside the /28", udp_from(MAC_A, "10.98.98.66"));
    lab.assert_passes(A, "IPv6 from the bound /64", udp6_from(MAC_A, "fd98::20"));
    lab.assert_dropped(A, "IPv6 from outside the /64", udp6_from(MAC_A, "fd99::20"));
    lab.assert_passes(A, "IPv6 from its MAC's own link-local address", move |t| {
        udp6(MAC_A, frames::eui64_link_local(MAC_A), 5000)(t)
    });
    lab.assert_dropped(
        A,
        "IPv6 from another link-local address (the gateway's kind)",
        udp6_from(MAC_A, "fe80::1"),
    );
    lab.assert_dropped(A, "IPv6 from another MAC's link-local address", move |t| {
        udp6(MAC_A, frames::eui64_link_local(MAC_B), 5000)(t)
    });
    lab.assert_dropped(
        A,
        "the bound source from another MAC",
        udp_from(MAC_B, "10.98.98.20"),
    );
}

#[test]
fn dhcp_and_neighbour_discovery_pass_from_the_bound_mac_whatever_is_bound() {
    if !root_or_skip("dhcp_and_neighbour_discovery_pass_from_the_bound_mac_whatever_is_bound") {
        return;
    }
    let lab = Lab::new("as-dhcp");
    lab.online(A, Some("10.98.98.16/28 fd98::/64"));
    lab.online(LISTENER, Some("10.98.98.30"));
    let discover = |mac: &'static str| {
        move |t: &[u8; 16]| frames::ipv4_udp(mac, Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, 68, 67, t)
    };
    lab.assert_passes(
        A,
        "a DHCP discover (0.0.0.0:68 → 255.255.255.255:67)",
        discover(MAC_A),
    );
    lab.assert_dropped(A, "a DHCP discover from another MAC", discover(MAC_B));
    let target = v6("fd98::5:20");
    lab.assert_passes(A, "duplicate address detection from ::", move |t| {
        frames::ipv6(
            MAC_A,
            Ipv6Addr::UNSPECIFIED,
            frames::solicited_node(target),
            58,
            &frames::neighbour_solicitation(target),
            t,
        )
    });
    lab.assert_dropped(A, "UDP from :: (not ICMPv6)", udp6_from(MAC_A, "::"));
}

#[test]
fn without_ip_the_mac_alone_is_bound_and_any_address_from_it_passes() {
    if !root_or_skip("without_ip_the_mac_alone_is_bound_and_any_address_from_it_passes") {
        return;
    }
    let lab = Lab::new("as-maconly");
    let out = lab.online(B, None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning") && err.contains("any address"), "{err}");
    lab.online(LISTENER, Some("10.98.98.30"));
    lab.assert_passes(B, "IPv4 from any address", udp_from(MAC_B, "203.0.113.9"));
    lab.assert_passes(B, "IPv6 from any address", udp6_from(MAC_B, "2001:db8::9"));
    lab.assert_dropped(
        B,
        "the same from another MAC",
        udp_from("aa:cc:00:00:00:99", "203.0.113.9"),
    );
}

#[test]
fn tagged_frames_are_dropped_on_an_antispoof_port() {
    if !root_or_skip("tagged_frames_are_dropped_on_an_antispoof_port") {
        return;
    }
    let lab = Lab::new("as-vlan");
    lab.online(A, Some("10.98.98.16/28"));
    lab.online(LISTENER, Some("10.98.98.30"));
    lab.assert_passes(A, "the untagged frame", udp_from(MAC_A, "10.98.98.20"));
    lab.assert_dropped(A, "the same frame tagged (802.1Q)", |t| {
        frames::tagged(&udp_from(MAC_A, "10.98.98.20")(t), 10)
    });
}

#[test]
fn vif_online_flushes_ipv6_addresses_as_vif_bridge_does() {
    if !root_or_skip("vif_online_flushes_ipv6_addresses_as_vif_bridge_does") {
        return;
    }
    let lab = Lab::new("as-flush6");
    let vif = lab.t.vif(A).to_string();
    let d0 = lab.t.dom0();
    d0.ip(&["-6", "addr", "add", "2001:db8::99/64", "dev", &vif, "nodad"]);
    assert!(d0
        .ip(&["-6", "addr", "show", "dev", &vif])
        .contains("2001:db8::99"));
    lab.online(A, Some("10.98.98.17"));
    let left = d0.ip(&["-6", "addr", "show", "dev", &vif]);
    assert!(!left.contains("2001:db8::99"), "flushed: {left}");
}

#[test]
fn a_port_enslaved_by_hand_to_an_antispoof_bridge_reaches_no_vm_and_hears_none() {
    if !root_or_skip("a_port_enslaved_by_hand_to_an_antispoof_bridge_reaches_no_vm_and_hears_none") {
        return;
    }
    let lab = Lab::new("as-unbound");
    lab.online(A, Some("10.98.98.16/28"));
    lab.online(LISTENER, Some("10.98.98.30"));
    // B's vif joins the bridge without `vif online`: nothing binds it.
    let vif_b = lab.t.vif(B).to_string();
    let d0 = lab.t.dom0();
    d0.ip(&["link", "set", &vif_b, "master", "xenbr0"]);
    d0.ip(&["link", "set", &vif_b, "up"]);
    lab.assert_passes(A, "a bound vif's frame (control)", udp_from(MAC_A, "10.98.98.20"));
    lab.assert_dropped(
        B,
        "a frame from the unbound port to a bound vif",
        udp_from(MAC_B, "10.98.98.40"),
    );
    let heard = arrives(
        lab.t.domu(B),
        "eth0",
        lab.t.domu(A),
        "eth0",
        udp_from(MAC_A, "10.98.98.20"),
        DROP_DEADLINE,
    )
    .unwrap();
    assert!(!heard, "a bound vif's broadcast must not reach the unbound port");
    // explain, asked about the live system, agrees with the kernel both ways.
    let explain = |vif: &str, src: &str| {
        let out = lab.brouter(&[
            "explain",
            "--from",
            src,
            "--to",
            "10.98.98.30:5001",
            "--proto",
            "udp",
            "--vif",
            vif,
        ]);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let fenced = explain(&vif_b, "10.98.98.40");
    assert!(
        fenced.contains("forward chain") && fenced.contains("DROP"),
        "{fenced}"
    );
    let bound = explain(lab.t.vif(A), "10.98.98.20");
    assert!(bound.contains("ACCEPT"), "{bound}");
    let out = lab.brouter(&["status", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed = json["ports_at_risk"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["port"] == vif_b.as_str() && p["problem"] == "unbound");
    assert!(listed, "status lists {vif_b} as unbound: {json}");
}
