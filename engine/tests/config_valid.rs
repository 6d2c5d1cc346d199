//! Valid configurations: what the defaults are, how forwards resolve, and that every
//! config that validates compiles to the kernel state it describes.

use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;

use brouter_engine::config::{
    did_you_mean, from_toml, from_xen_words, Action, Mode, PortRange, Proto, Service,
};
use brouter_engine::{compile, Config};

fn parse(text: &str) -> Config {
    from_toml(text, "test.toml").unwrap_or_else(|e| panic!("rejected:\n{e}\n--- config:\n{text}"))
}

fn fixture(name: &str) -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    from_toml(&text, &format!("fixtures/{name}")).unwrap_or_else(|e| panic!("{e}"))
}

const TWO_NETWORKS: &str = r#"
[[network]]
name = "dmz"
address = "10.98.98.1/24"

[[network]]
name = "hosting"
address = "10.98.99.1/24"
"#;

#[test]
fn network_defaults_bridge_xenbr_index_masquerade_on_antispoof_stp_off() {
    let c = parse(TWO_NETWORKS);
    assert_eq!(c.mode, Mode::File);
    let bridges: Vec<&str> = c.networks.iter().map(|n| n.bridge.as_str()).collect();
    assert_eq!(bridges, ["xenbr0", "xenbr1"]);
    for n in &c.networks {
        assert!(n.masquerade, "masquerade defaults to true");
        assert!(!n.antispoof, "antispoof defaults to false");
        assert!(!n.stp, "stp defaults to false");
        assert_eq!(n.forward_delay, 0, "forward_delay defaults to 0");
    }
    assert_eq!(c.networks[1].subnet.to_string(), "10.98.99.0/24");
    assert!(c.uplink.is_none() && c.hosts.is_empty() && c.forwards.is_empty() && c.policies.is_empty());
}

#[test]
fn stp_on_without_forward_delay_gets_the_kernels_default() {
    let c = parse("[[network]]\nname = \"dmz\"\naddress = \"10.98.98.1/24\"\nstp = true\n");
    assert!(c.networks[0].stp);
    assert_eq!(
        c.networks[0].forward_delay, 15,
        "Linux refuses a forward delay under 2 s with STP on"
    );
}

const WEB: &str = r#"
[uplink]
interface = "eth0"

[[network]]
name = "dmz"
bridge = "br-dmz"
address = "10.98.98.1/24"
antispoof = true

[[host]]
name = "web1"
network = "dmz"
mac = "AA:CC:00:00:00:01"
addresses = ["10.98.98.10", "10.98.98.11"]
"#;

#[test]
fn forward_to_host_name_resolves_to_its_first_address() {
    let c = parse(&format!(
        "{WEB}\n[[forward]]\nproto = \"tcp\"\nport = 8080\nto = \"web1:80\"\n"
    ));
    let f = &c.forwards[0];
    assert_eq!(f.host.as_deref(), Some("web1"));
    assert_eq!(f.addr, Ipv4Addr::new(10, 98, 98, 10));
    assert_eq!(f.to_port, Some(80));
    assert_eq!((f.proto, f.ports), (Proto::Tcp, PortRange::single(8080)));
}

#[test]
fn forward_to_an_address_without_port_keeps_the_external_port() {
    let c = parse(&format!(
        "{WEB}\n[[forward]]\nproto = \"udp\"\nport = 53\nto = \"10.98.98.11\"\n"
    ));
    let f = &c.forwards[0];
    assert_eq!(
        (f.host.as_deref(), f.addr, f.to_port),
        (None, Ipv4Addr::new(10, 98, 98, 11), None)
    );
}

#[test]
fn port_ranges_adjacent_ranges_and_the_same_port_on_both_protocols_are_allowed() {
    let forwards = r#"
[[forward]]
proto = "tcp"
port = "8000-8099"
to = "web1"

[[forward]]
proto = "tcp"
port = "8100"
to = "web1"

[[forward]]
proto = "udp"
port = "8000-8099"
to = "web1"
"#;
    let c = parse(&format!("{WEB}{forwards}"));
    let ports: Vec<PortRange> = c.forwards.iter().map(|f| f.ports).collect();
    assert_eq!(
        ports,
        [
            PortRange {
                first: 8000,
                last: 8099
            },
            PortRange::single(8100),
            PortRange {
                first: 8000,
                last: 8099
            }
        ]
    );
    assert!(ports[0].contains(8050) && !ports[0].overlaps(&ports[1]));
}

#[test]
fn macs_are_stored_lower_case() {
    assert_eq!(parse(WEB).hosts[0].mac.as_deref(), Some("aa:cc:00:00:00:01"));
}

#[test]
fn policies_with_services_and_log() {
    let c = parse(&format!(
        "{TWO_NETWORKS}\n[[policy]]\nfrom = \"dmz\"\nto = \"hosting\"\naction = \"reject\"\n\
         services = [\"tcp/80\", \"udp/6000-6010\", \"icmp\"]\nlog = true\n"
    ));
    let p = &c.policies[0];
    assert_eq!(
        (p.from.as_str(), p.to.as_str(), p.action, p.log),
        ("dmz", "hosting", Action::Reject, true)
    );
    assert_eq!(
        p.services,
        [
            Service::Tcp(PortRange::single(80)),
            Service::Udp(PortRange {
                first: 6000,
                last: 6010
            }),
            Service::Icmp
        ]
    );
}

#[test]
fn log_section_sets_the_default_for_policies_and_the_rate() {
    let policy = |from: &str, to: &str, log: &str| {
        format!("\n[[policy]]\nfrom = \"{from}\"\nto = \"{to}\"\naction = \"drop\"\n{log}")
    };
    let c = parse(&format!(
        "[log]\ndrops = true\nrate = \"10/hour\"\n{TWO_NETWORKS}{}{}",
        policy("dmz", "hosting", ""),
        policy("hosting", "dmz", "log = false\n")
    ));
    assert!(c.log.drops);
    assert_eq!(c.log.rate.to_string(), "10/hour");
    assert!(c.policies[0].log, "[log] drops is the default");
    assert!(!c.policies[1].log, "a policy's own log wins");
    // Without [log]: nothing is logged unless a policy says so; the rate is 5/minute.
    let c = parse(&format!("{TWO_NETWORKS}{}", policy("dmz", "hosting", "")));
    assert!(!c.log.drops && !c.policies[0].log);
    assert_eq!(c.log.rate.to_string(), "5/minute");
}

#[test]
fn a_slash_30_holds_the_bridge_and_one_vm() {
    let c = parse(
        "[[network]]\nname = \"p2p\"\naddress = \"10.0.0.1/30\"\n\n\
         [[host]]\nname = \"vm\"\nnetwork = \"p2p\"\naddresses = [\"10.0.0.2\"]\n",
    );
    assert_eq!(c.networks[0].subnet.to_string(), "10.0.0.0/30");
}

#[test]
fn did_you_mean_suggests_only_close_words() {
    assert_eq!(
        did_you_mean("bridgeipp", &["bridgeip", "brnet"]).as_deref(),
        Some("bridgeip")
    );
    assert_eq!(
        did_you_mean("hostnig", &["external", "dom0", "hosting"]).as_deref(),
        Some("hosting")
    );
    assert_eq!(did_you_mean("totally-different", &["external", "dom0"]), None);
}

#[test]
fn xen_words_keep_the_seed_defaults_and_netmask() {
    let c = from_xen_words(&["antispoof=yes", "vifnum=3"]).unwrap();
    let n = &c.networks[0];
    assert_eq!(c.mode, Mode::Xen);
    assert_eq!(
        (n.bridge.as_str(), n.address.to_string()),
        ("xenbr3", "10.6.7.1/24".to_string())
    );
    assert!(n.antispoof && n.masquerade);
    let c = from_xen_words(&["bridgeip=192.168.5.1", "netmask=255.255.255.128", "bridge=br-vms"]).unwrap();
    assert_eq!(c.networks[0].address.to_string(), "192.168.5.1/25");
    assert_eq!(c.networks[0].bridge, "br-vms");
    // A matching netmask next to a prefix is fine.
    assert!(from_xen_words(&["bridgeip=10.1.2.3/16", "netmask=255.255.0.0"]).is_ok());
}

#[test]
fn seed_toml_describes_the_same_kernel_state_as_the_seed_xend_line() {
    // seed.toml adds IPv6 and DHCP to the seed; without them it is the xend line.
    let mut seed = fixture("seed.toml");
    assert!(seed.networks[0].address6.is_some() && seed.networks[0].dhcp);
    seed.networks[0].address6 = None;
    seed.networks[0].dhcp = false;
    let file = compile(&seed);
    let xen = compile(&from_xen_words(&["bridgeip=10.98.98.1/24", "brnet=10.98.98.0/24"]).unwrap());
    assert_eq!(
        file.bridges.iter().map(|b| &b.name).collect::<Vec<_>>(),
        ["xenbr0"]
    );
    assert_eq!(file.addresses, xen.addresses);
    assert_eq!(file.routes, xen.routes);
    assert_eq!(file.sysctls, xen.sysctls);
}

/// Every example config shipped in `fixtures/` validates and compiles to one bridge,
/// one address and one route per network.
#[test]
fn every_fixture_config_validates_and_compiles() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let mut seen = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let c = fixture(path.file_name().unwrap().to_str().unwrap());
        let d = compile(&c);
        assert_eq!(d.bridges.len(), c.networks.len(), "{}", path.display());
        for n in &c.networks {
            assert!(d
                .bridges
                .iter()
                .any(|b| b.name == n.bridge && b.network == n.name));
            assert!(d
                .addresses
                .iter()
                .any(|a| a.link == n.bridge && a.addr == n.address));
            assert!(d.routes.iter().any(|r| r.dev == n.bridge && r.dst == n.subnet));
        }
        seen += 1;
    }
    assert!(seen >= 1, "no fixture configs in {}", dir.display());
}
