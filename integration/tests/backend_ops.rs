//! The netlink backend against the real kernel: each operation in a throwaway namespace,
//! its effect as `observe()` reports it, its failures with the kind the simulator must
//! match, and the kernel behaviours the planner relies on.
//!
//! Root only (each test starts with `root_or_skip`). brouter's memory goes to a temporary
//! `BROUTER_STATE_DIR`, never `/run/brouter`.

use brouter_backends::netlink::links::OWNER_GROUP;
use brouter_backends::{NetlinkBackend, NetnsTarget};
use brouter_engine::config::from_xen_words;
use brouter_engine::{
    apply, compile, plan_start, plan_stop, BackendError, BridgeOptions, ErrorKind, LinkKind, NetBackend,
    Observed, PortState, IP_FORWARD, OWNER_PROTO, PROTO_BOOT, PROTO_KERNEL,
};
use brouter_integration::{root_or_skip, use_temp_state_dir, Netns};
use ipnet::{Ipv4Net, Ipv6Net};

async fn backend(ns: &Netns) -> NetlinkBackend {
    use_temp_state_dir("backend-ops");
    NetlinkBackend::new(ns.target())
        .await
        .expect("connect to the test namespace")
}

/// A backend for `ns` with brouter's bridge `xenbr0` (network `dmz`) created, still down.
async fn backend_with_bridge(ns: &Netns) -> NetlinkBackend {
    let mut b = backend(ns).await;
    b.create_bridge("xenbr0", "dmz", DEFAULTS).await.unwrap();
    b
}

/// As [`backend_with_bridge`], with `xenbr0` up.
async fn backend_with_bridge_up(ns: &Netns) -> NetlinkBackend {
    let mut b = backend_with_bridge(ns).await;
    b.set_up("xenbr0", true).await.unwrap();
    b
}

/// A veth pair `name` ↔ `peer` in `ns`, made by iproute2: a link brouter did not create.
fn add_veth(ns: &Netns, name: &str, peer: &str) {
    ns.ip(&["link", "add", name, "type", "veth", "peer", "name", peer]);
}

/// A foreign bridge `br-lan` with the address 10.1.1.1/24, made by iproute2 as an admin's
/// own network config would.
fn add_foreign_bridge(ns: &Netns) {
    ns.ip(&["link", "add", "br-lan", "type", "bridge"]);
    ns.ip(&["addr", "add", "10.1.1.1/24", "dev", "br-lan"]);
}

/// `net.ipv4.ip_forward` of the backend's namespace, as `observe` reports it.
async fn ip_forward(b: &mut NetlinkBackend) -> Option<String> {
    b.observe().await.unwrap().sysctls.remove(IP_FORWARD)
}

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

fn kind_of(r: Result<(), BackendError>) -> ErrorKind {
    r.expect_err("the kernel should refuse this").kind
}

const DEFAULTS: BridgeOptions = BridgeOptions {
    stp: false,
    forward_delay: 0,
};

#[tokio::test]
async fn create_bridge_is_down_and_marked_with_its_network() {
    if !root_or_skip("create_bridge_is_down_and_marked_with_its_network") {
        return;
    }
    let ns = Netns::new("mkbr");
    let mut b = backend(&ns).await;

    b.create_bridge("xenbr0", "dmz", DEFAULTS).await.unwrap();
    b.create_bridge(
        "xenbr1",
        "data",
        BridgeOptions {
            stp: true,
            forward_delay: 4,
        },
    )
    .await
    .unwrap();

    let o = b.observe().await.unwrap();
    let br0 = o.link("xenbr0").expect("xenbr0 observed");
    assert_eq!(br0.kind, LinkKind::Bridge);
    assert!(!br0.up, "a new bridge starts down");
    assert_eq!(br0.alias.as_deref(), Some("brouter:dmz"));
    assert_eq!(br0.owner(), Some("dmz"));
    assert_eq!(br0.bridge, Some(DEFAULTS));
    let br1 = o.link("xenbr1").unwrap();
    assert_eq!(
        br1.bridge,
        Some(BridgeOptions {
            stp: true,
            forward_delay: 4
        })
    );
    // The mark is the kernel's, not brouter's bookkeeping: iproute2 sees it too.
    let shown = ns.ip(&["-d", "link", "show", "xenbr1"]);
    assert!(shown.contains("alias brouter:data"), "{shown}");
    assert!(
        shown.contains("forward_delay 400") && shown.contains("stp_state 1"),
        "{shown}"
    );
}

#[tokio::test]
async fn delete_link_removes_the_bridge() {
    if !root_or_skip("delete_link_removes_the_bridge") {
        return;
    }
    let ns = Netns::new("delbr");
    let mut b = backend_with_bridge(&ns).await;

    b.delete_link("xenbr0").await.unwrap();

    assert!(b.observe().await.unwrap().link("xenbr0").is_none());
}

#[tokio::test]
async fn set_master_attaches_and_detaches_a_port() {
    if !root_or_skip("set_master_attaches_and_detaches_a_port") {
        return;
    }
    let ns = Netns::new("master");
    add_veth(&ns, "vif1.0", "dom1");
    let mut b = backend_with_bridge(&ns).await;

    b.set_master("vif1.0", Some("xenbr0")).await.unwrap();
    let o = b.observe().await.unwrap();
    assert_eq!(o.link("vif1.0").unwrap().master.as_deref(), Some("xenbr0"));
    assert_eq!(
        o.ports_of("xenbr0").map(|l| l.name.as_str()).collect::<Vec<_>>(),
        ["vif1.0"]
    );
    assert_eq!(o.link("vif1.0").unwrap().kind, LinkKind::Veth);

    b.set_master("vif1.0", None).await.unwrap();
    assert_eq!(b.observe().await.unwrap().link("vif1.0").unwrap().master, None);
}

#[tokio::test]
async fn set_up_and_down_is_observed() {
    if !root_or_skip("set_up_and_down_is_observed") {
        return;
    }
    let ns = Netns::new("updown");
    let mut b = backend_with_bridge(&ns).await;

    b.set_up("xenbr0", true).await.unwrap();
    assert!(b.observe().await.unwrap().link("xenbr0").unwrap().up);
    b.set_up("xenbr0", false).await.unwrap();
    assert!(!b.observe().await.unwrap().link("xenbr0").unwrap().up);
}

#[tokio::test]
async fn a_vif_is_renamed_readdressed_and_resized_like_vif_bridge_does() {
    if !root_or_skip("a_vif_is_renamed_readdressed_and_resized_like_vif_bridge_does") {
        return;
    }
    let ns = Netns::new("vifprep");
    add_veth(&ns, "vif3.0", "dom3");
    let mut b = backend(&ns).await;

    b.rename_link("vif3.0", "web1").await.unwrap();
    b.set_mac("web1", "fe:ff:ff:ff:ff:ff").await.unwrap();
    b.set_mtu("web1", 1400).await.unwrap();

    let o = b.observe().await.unwrap();
    assert!(o.link("vif3.0").is_none());
    let l = o.link("web1").expect("renamed link observed");
    assert_eq!((l.mac.as_deref(), l.mtu), (Some("fe:ff:ff:ff:ff:ff"), Some(1400)));
    let bad = b.set_mac("web1", "fe:ff:ff").await.unwrap_err();
    assert_eq!(bad.kind, ErrorKind::Invalid, "{bad}");
    b.set_up("web1", true).await.unwrap();
    // Linux ≥ 6.2 renames a link that is up (older kernels answered EBUSY).
    b.rename_link("web1", "web2").await.unwrap();
    assert!(b.observe().await.unwrap().link("web2").is_some_and(|l| l.up));
    assert_eq!(kind_of(b.rename_link("nope0", "web2").await), ErrorKind::NoDevice);
    assert_eq!(kind_of(b.rename_link("dom3", "web2").await), ErrorKind::Exists);
}

#[tokio::test]
async fn add_address_is_owned_and_brings_no_prefix_route() {
    if !root_or_skip("add_address_is_owned_and_brings_no_prefix_route") {
        return;
    }
    let ns = Netns::new("addr");
    let mut b = backend_with_bridge_up(&ns).await;

    b.add_address("xenbr0", net("10.98.98.1/24")).await.unwrap();

    let o = b.observe().await.unwrap();
    let a = o
        .addresses
        .iter()
        .find(|a| a.link == "xenbr0")
        .expect("address observed");
    assert_eq!(a.addr, net("10.98.98.1/24"));
    assert!(a.owned, "IFA_PROTO marks it as brouter's");
    assert!(
        o.routes.iter().all(|r| r.dev != "xenbr0"),
        "no kernel prefix route: {:?}",
        o.routes
    );
    let shown = ns.ip(&["addr", "show", "dev", "xenbr0"]);
    assert!(shown.contains("noprefixroute"), "{shown}");

    b.delete_address("xenbr0", net("10.98.98.1/24")).await.unwrap();
    assert!(b
        .observe()
        .await
        .unwrap()
        .addresses
        .iter()
        .all(|a| a.link != "xenbr0"));
}

#[tokio::test]
async fn add_route_is_link_scope_with_brouters_protocol() {
    if !root_or_skip("add_route_is_link_scope_with_brouters_protocol") {
        return;
    }
    let ns = Netns::new("route");
    let mut b = backend_with_bridge_up(&ns).await;

    b.add_route(net("10.98.98.0/24"), "xenbr0").await.unwrap();

    let o = b.observe().await.unwrap();
    let r = o
        .routes
        .iter()
        .find(|r| r.dev == "xenbr0")
        .expect("route observed");
    assert_eq!(
        (r.dst, r.gateway, r.protocol, r.metric),
        (net("10.98.98.0/24"), None, OWNER_PROTO, 0)
    );
    assert!(r.owned());
    let shown = ns.ip(&["route", "show", "table", "main", "dev", "xenbr0"]);
    assert!(
        shown.contains("proto 98") && shown.contains("scope link"),
        "{shown}"
    );

    b.delete_route(net("10.98.98.0/24"), "xenbr0").await.unwrap();
    assert!(b
        .observe()
        .await
        .unwrap()
        .routes
        .iter()
        .all(|r| r.dev != "xenbr0"));
}

#[tokio::test]
async fn foreign_objects_are_reported_but_not_owned() {
    if !root_or_skip("foreign_objects_are_reported_but_not_owned") {
        return;
    }
    let ns = Netns::new("foreign");
    add_foreign_bridge(&ns);
    ns.ip(&["link", "set", "br-lan", "up"]);
    ns.ip(&["route", "add", "10.2.0.0/16", "dev", "br-lan"]);
    let mut b = backend(&ns).await;

    let o = b.observe().await.unwrap();

    let l = o.link("br-lan").unwrap();
    assert_eq!((l.owner(), l.kind.clone(), l.up), (None, LinkKind::Bridge, true));
    let a = o.addresses.iter().find(|a| a.link == "br-lan").unwrap();
    assert_eq!((a.addr, a.owned), (net("10.1.1.1/24"), false));
    let prefix = o
        .routes
        .iter()
        .find(|r| r.dst == net("10.1.1.0/24"))
        .expect("kernel prefix route");
    assert_eq!((prefix.dev.as_str(), prefix.protocol), ("br-lan", PROTO_KERNEL));
    let added = o
        .routes
        .iter()
        .find(|r| r.dst == net("10.2.0.0/16"))
        .expect("ip route add route");
    assert_eq!(added.protocol, PROTO_BOOT);
    assert!(o.routes.iter().all(|r| !r.owned()));
    assert!(
        o.addresses.iter().all(|a| !a.owned),
        "lo's 127.0.0.1 is not brouter's either"
    );
    assert_eq!(o.link("lo").unwrap().kind, LinkKind::Other("loopback".into()));
    // Only the main table: the local table's 10.1.1.1 and broadcast routes stay out.
    assert!(o.routes.iter().all(|r| r.dst.prefix_len() < 32), "{:?}", o.routes);
}

#[tokio::test]
async fn failing_operations_have_the_kernels_error_kinds() {
    if !root_or_skip("failing_operations_have_the_kernels_error_kinds") {
        return;
    }
    let ns = Netns::new("errors");
    add_veth(&ns, "vif1.0", "dom1");
    let mut b = backend_with_bridge(&ns).await;
    b.add_address("xenbr0", net("10.98.98.1/24")).await.unwrap();

    let mut measured = Vec::new();
    let mut check = |what: &str, got: ErrorKind, want: ErrorKind| {
        measured.push(format!("{what}: {}", got.errno_name()));
        assert_eq!(got, want, "{what}");
    };
    check(
        "create an existing bridge",
        kind_of(b.create_bridge("xenbr0", "dmz", DEFAULTS).await),
        ErrorKind::Exists,
    );
    check(
        "create a bridge named like a veth",
        kind_of(b.create_bridge("vif1.0", "x", DEFAULTS).await),
        ErrorKind::Exists,
    );
    check(
        "delete a missing link",
        kind_of(b.delete_link("nope0").await),
        ErrorKind::NoDevice,
    );
    check(
        "set a missing link up",
        kind_of(b.set_up("nope0", true).await),
        ErrorKind::NoDevice,
    );
    check(
        "attach a missing link",
        kind_of(b.set_master("nope0", Some("xenbr0")).await),
        ErrorKind::NoDevice,
    );
    check(
        "attach to a missing bridge",
        kind_of(b.set_master("vif1.0", Some("nope0")).await),
        ErrorKind::NoDevice,
    );
    check(
        "detach a missing link",
        kind_of(b.set_master("nope0", None).await),
        ErrorKind::NoDevice,
    );
    check(
        "add an address twice",
        kind_of(b.add_address("xenbr0", net("10.98.98.1/24")).await),
        ErrorKind::Exists,
    );
    check(
        "add an address to a missing link",
        kind_of(b.add_address("nope0", net("10.9.9.1/24")).await),
        ErrorKind::NoDevice,
    );
    check(
        "delete a missing address",
        kind_of(b.delete_address("xenbr0", net("10.98.98.7/24")).await),
        ErrorKind::AddrNotAvail,
    );
    check(
        "delete an address from a missing link",
        kind_of(b.delete_address("nope0", net("10.9.9.1/24")).await),
        ErrorKind::NoDevice,
    );
    check(
        "add a route via a down link",
        kind_of(b.add_route(net("10.98.98.0/24"), "xenbr0").await),
        ErrorKind::NetDown,
    );
    b.set_up("xenbr0", true).await.unwrap();
    b.add_route(net("10.98.98.0/24"), "xenbr0").await.unwrap();
    check(
        "add a route twice",
        kind_of(b.add_route(net("10.98.98.0/24"), "xenbr0").await),
        ErrorKind::Exists,
    );
    check(
        "add a route via a missing link",
        kind_of(b.add_route(net("10.9.9.0/24"), "nope0").await),
        ErrorKind::NoDevice,
    );
    check(
        "delete a missing route",
        kind_of(b.delete_route(net("10.7.7.0/24"), "xenbr0").await),
        ErrorKind::NoSuchRoute,
    );
    ns.ip(&["route", "add", "10.5.5.0/24", "dev", "xenbr0"]);
    check(
        "delete a route brouter did not make",
        kind_of(b.delete_route(net("10.5.5.0/24"), "xenbr0").await),
        ErrorKind::NoSuchRoute,
    );
    eprintln!("measured error kinds:\n  {}", measured.join("\n  "));
}

#[tokio::test]
async fn setting_a_link_down_drops_its_routes_and_up_brings_back_only_prefix_routes() {
    if !root_or_skip("setting_a_link_down_drops_its_routes_and_up_brings_back_only_prefix_routes") {
        return;
    }
    let ns = Netns::new("downup");
    add_foreign_bridge(&ns);
    let mut b = backend_with_bridge(&ns).await;
    b.add_address("xenbr0", net("10.98.98.1/24")).await.unwrap();
    b.add_address("br-lan", net("10.3.3.1/24")).await.unwrap();
    for link in ["xenbr0", "br-lan"] {
        b.set_up(link, true).await.unwrap();
    }
    b.add_route(net("10.98.98.0/24"), "xenbr0").await.unwrap();
    b.add_route(net("10.4.0.0/16"), "br-lan").await.unwrap();

    for link in ["xenbr0", "br-lan"] {
        b.set_up(link, false).await.unwrap();
    }
    let down = b.observe().await.unwrap();
    assert!(
        down.routes.iter().all(|r| r.dev != "xenbr0" && r.dev != "br-lan"),
        "{:?}",
        down.routes
    );
    assert_eq!(
        down.addresses.iter().filter(|a| a.link != "lo").count(),
        3,
        "addresses stay"
    );

    for link in ["xenbr0", "br-lan"] {
        b.set_up(link, true).await.unwrap();
    }
    let up = b.observe().await.unwrap();
    let routes: Vec<(String, String, u8)> = up
        .routes
        .iter()
        .map(|r| (r.dst.to_string(), r.dev.clone(), r.protocol))
        .collect();
    assert_eq!(
        routes,
        [("10.1.1.0/24".to_string(), "br-lan".to_string(), PROTO_KERNEL)],
        "only the foreign prefix route returns"
    );
}

#[tokio::test]
async fn deleting_the_last_address_of_a_link_drops_its_routes() {
    if !root_or_skip("deleting_the_last_address_of_a_link_drops_its_routes") {
        return;
    }
    let ns = Netns::new("lastaddr");
    let mut b = backend_with_bridge_up(&ns).await;
    b.add_address("xenbr0", net("10.98.98.1/24")).await.unwrap();
    b.add_route(net("10.98.98.0/24"), "xenbr0").await.unwrap();

    b.delete_address("xenbr0", net("10.98.98.1/24")).await.unwrap();

    let o = b.observe().await.unwrap();
    assert!(
        o.routes.iter().all(|r| r.dev != "xenbr0"),
        "the kernel flushes a link's routes with its last address: {:?}",
        o.routes
    );
}

#[tokio::test]
async fn sysctl_is_set_inside_the_namespace_only() {
    if !root_or_skip("sysctl_is_set_inside_the_namespace_only") {
        return;
    }
    let root_before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let ns = Netns::new("sysctl");
    let mut b = backend(&ns).await;
    assert_eq!(ip_forward(&mut b).await.as_deref(), Some("0"));

    b.set_sysctl(IP_FORWARD, "1").await.unwrap();

    assert_eq!(ip_forward(&mut b).await.as_deref(), Some("1"));
    let inside = ns.exec("cat", &["/proc/sys/net/ipv4/ip_forward"]);
    assert_eq!(String::from_utf8_lossy(&inside.stdout).trim(), "1");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        root_before
    );
    let bad = b.set_sysctl("net.ipv4.no_such_knob", "1").await.unwrap_err();
    assert_eq!(bad.kind, ErrorKind::Unsupported, "{bad}");
}

#[tokio::test]
async fn memory_survives_a_new_backend_and_is_per_namespace() {
    if !root_or_skip("memory_survives_a_new_backend_and_is_per_namespace") {
        return;
    }
    let ns = Netns::new("memory");
    let other = Netns::new("memory2");
    let mut b = backend(&ns).await;
    b.remember("sysctl:net.ipv4.ip_forward", "0").await.unwrap();
    b.remember("link-up:br-lan", "down").await.unwrap();
    assert!(b
        .memory()
        .path()
        .starts_with(std::env::var("BROUTER_STATE_DIR").unwrap()));
    assert!(
        b.netns_id().starts_with("cookie-"),
        "named by the netns cookie: {}",
        b.netns_id()
    );

    let mut again = backend(&ns).await;
    let o = again.observe().await.unwrap();
    assert_eq!(
        o.memory.get("sysctl:net.ipv4.ip_forward").map(String::as_str),
        Some("0")
    );
    assert_eq!(o.memory.get("link-up:br-lan").map(String::as_str), Some("down"));
    assert!(
        backend(&other).await.observe().await.unwrap().memory.is_empty(),
        "another namespace has its own"
    );

    again.forget("sysctl:net.ipv4.ip_forward").await.unwrap();
    again.forget("link-up:br-lan").await.unwrap();
    assert!(b.observe().await.unwrap().memory.is_empty());
    assert!(!b.memory().path().exists());
}

#[tokio::test]
async fn a_missing_namespace_is_named_in_the_error() {
    if !root_or_skip("a_missing_namespace_is_named_in_the_error") {
        return;
    }
    let e = NetlinkBackend::new(NetnsTarget::Named("brt-no-such-ns".into()))
        .await
        .unwrap_err();
    assert!(
        e.message.contains("brt-no-such-ns") && e.message.contains("ip netns add"),
        "{e}"
    );
}

/// The engine end to end on the kernel, for what this backend drives: links, addresses,
/// routes, sysctls and memory. The firewall is left out on purpose (`desired.firewall =
/// None`): its convergence is the firewall module's to prove, and this test must not
/// depend on it.
#[tokio::test]
async fn seed_start_converges_and_stop_restores_the_namespace() {
    if !root_or_skip("seed_start_converges_and_stop_restores_the_namespace") {
        return;
    }
    let ns = Netns::new("seed");
    let mut b = backend(&ns).await;
    let mut desired = compile(&from_xen_words(&["bridgeip=10.98.98.1/24", "brnet=10.98.98.0/24"]).unwrap());
    desired.firewall = None;
    desired.firewall_fingerprint = None;
    let before: Observed = b.observe().await.unwrap().normalized();

    let start = plan_start(&desired, &before).unwrap();
    apply(&mut b, &start).await.unwrap();

    let started = b.observe().await.unwrap();
    let again = plan_start(&desired, &started).unwrap();
    assert!(again.is_empty(), "a second start plans nothing: {:?}", again.ops);
    let br = started.link("xenbr0").unwrap();
    assert!(br.up && br.owner().is_some(), "{br:?}");
    assert!(started
        .addresses
        .iter()
        .any(|a| a.link == "xenbr0" && a.addr == net("10.98.98.1/24") && a.owned));
    let routes: Vec<_> = started.routes.iter().filter(|r| r.dev == "xenbr0").collect();
    assert!(
        routes.len() == 1 && routes[0].owned() && routes[0].dst == net("10.98.98.0/24"),
        "{routes:?}"
    );
    assert_eq!(started.sysctls.get(IP_FORWARD).map(String::as_str), Some("1"));
    assert_eq!(
        started
            .memory
            .get("sysctl:net.ipv4.ip_forward")
            .map(String::as_str),
        Some("0")
    );

    let stop = plan_stop(&desired.scope, &started);
    apply(&mut b, &stop).await.unwrap();
    assert_eq!(b.observe().await.unwrap().normalized(), before);
}

/// brouter killed between the two messages of `create_bridge` (the link, then its alias)
/// leaves a bridge in brouter's link group without an alias. It is still reported as
/// brouter's — not adopted as foreign — so `stop` removes it; a foreign bridge stays.
#[tokio::test]
async fn a_bridge_left_unmarked_by_a_crash_is_still_brouters_and_stop_removes_it() {
    if !root_or_skip("a_bridge_left_unmarked_by_a_crash_is_still_brouters_and_stop_removes_it") {
        return;
    }
    let ns = Netns::new("unmarked");
    let group = OWNER_GROUP.to_string();
    // What the first message alone leaves behind.
    ns.ip(&["link", "add", "xenbr0", "group", &group, "type", "bridge"]);
    ns.ip(&["link", "add", "br-lan", "type", "bridge"]);
    let mut b = backend(&ns).await;
    b.create_bridge("xenbr1", "data", DEFAULTS).await.unwrap();
    let shown = ns.ip(&["link", "show", "xenbr1"]);
    assert!(
        shown.contains(&format!("group {group}")),
        "created in brouter's group: {shown}"
    );

    let o = b.observe().await.unwrap();
    assert_eq!(
        o.link("xenbr0").unwrap().owner(),
        Some(""),
        "brouter's, network unknown"
    );
    assert_eq!(o.link("xenbr1").unwrap().owner(), Some("data"));
    assert_eq!(o.link("br-lan").unwrap().owner(), None);
    let desired = compile(&from_xen_words(&["bridgeip=10.98.98.1/24"]).unwrap());
    apply(&mut b, &plan_stop(&desired.scope, &o)).await.unwrap();

    let after = b.observe().await.unwrap();
    assert!(after.link("xenbr0").is_none(), "stop removed the unmarked bridge");
    assert!(after.link("br-lan").is_some(), "the foreign bridge stays");
}

fn net6(s: &str) -> Ipv6Net {
    s.parse().unwrap()
}

/// The IPv6 addresses `observe` reports on `link`, as (address, owned).
fn addresses6_on(o: &Observed, link: &str) -> Vec<(Ipv6Net, bool)> {
    o.addresses6
        .iter()
        .filter(|a| a.link == link)
        .map(|a| (a.addr, a.owned))
        .collect()
}

#[tokio::test]
async fn add_address6_is_owned_serves_at_once_and_brings_its_prefix_route() {
    if !root_or_skip("add_address6_is_owned_serves_at_once_and_brings_its_prefix_route") {
        return;
    }
    let ns = Netns::new("addr6");
    let mut b = backend_with_bridge_up(&ns).await;

    b.add_address6("xenbr0", net6("fd98:98::1/64")).await.unwrap();
    // At once, before anything else: an address still in duplicate address detection
    // (`tentative`) cannot be bound to (EADDRNOTAVAIL); brouter's can.
    let bound = ns.run(|| std::net::UdpSocket::bind("[fd98:98::1]:0").map(|_| ()));
    assert!(bound.is_ok(), "the address serves at once: {bound:?}");

    let o = b.observe().await.unwrap();
    assert_eq!(
        addresses6_on(&o, "xenbr0"),
        [(net6("fd98:98::1/64"), true)],
        "IFA_PROTO marks it as brouter's"
    );
    let shown = ns.ip(&["-6", "addr", "show", "dev", "xenbr0"]);
    let line = shown
        .lines()
        .find(|l| l.contains("inet6 fd98:98::1/64"))
        .unwrap_or_default();
    assert!(line.contains("nodad") && !line.contains("tentative"), "{shown}");
    let routes = ns.ip(&["-6", "route", "show", "dev", "xenbr0"]);
    assert!(routes.contains("fd98:98::/64 proto kernel"), "{routes}");

    b.delete_address6("xenbr0", net6("fd98:98::1/64")).await.unwrap();
    assert!(addresses6_on(&b.observe().await.unwrap(), "xenbr0").is_empty());
    let routes = ns.ip(&["-6", "route", "show", "dev", "xenbr0"]);
    assert!(
        !routes.contains("fd98:98::/64"),
        "the prefix route goes with it: {routes}"
    );
}

#[tokio::test]
async fn failing_ipv6_address_operations_have_the_kernels_error_kinds() {
    if !root_or_skip("failing_ipv6_address_operations_have_the_kernels_error_kinds") {
        return;
    }
    let ns = Netns::new("errors6");
    let mut b = backend_with_bridge_up(&ns).await;
    b.add_address6("xenbr0", net6("fd98:98::1/64")).await.unwrap();

    let mut measured = Vec::new();
    let mut check = |what: &str, got: ErrorKind, want: ErrorKind| {
        measured.push(format!("{what}: {}", got.errno_name()));
        assert_eq!(got, want, "{what}");
    };
    check(
        "add an IPv6 address twice",
        kind_of(b.add_address6("xenbr0", net6("fd98:98::1/64")).await),
        ErrorKind::Exists,
    );
    check(
        "add an IPv6 address again under another prefix length",
        kind_of(b.add_address6("xenbr0", net6("fd98:98::1/48")).await),
        ErrorKind::Exists,
    );
    check(
        "add an IPv6 address to a missing link",
        kind_of(b.add_address6("nope0", net6("fd98:98::1/64")).await),
        ErrorKind::NoDevice,
    );
    check(
        "delete an IPv6 address under another prefix length",
        kind_of(b.delete_address6("xenbr0", net6("fd98:98::1/48")).await),
        ErrorKind::AddrNotAvail,
    );
    check(
        "delete an IPv6 address from a missing link",
        kind_of(b.delete_address6("nope0", net6("fd98:98::1/64")).await),
        ErrorKind::NoDevice,
    );
    b.delete_address6("xenbr0", net6("fd98:98::1/64")).await.unwrap();
    check(
        "delete an IPv6 address twice",
        kind_of(b.delete_address6("xenbr0", net6("fd98:98::1/64")).await),
        ErrorKind::AddrNotAvail,
    );
    eprintln!("measured error kinds:\n  {}", measured.join("\n  "));
}

#[tokio::test]
async fn foreign_ipv6_addresses_are_reported_but_not_owned_and_link_local_ones_not_at_all() {
    if !root_or_skip("foreign_ipv6_addresses_are_reported_but_not_owned_and_link_local_ones_not_at_all") {
        return;
    }
    let ns = Netns::new("foreign6");
    add_foreign_bridge(&ns);
    ns.ip(&["-6", "addr", "add", "fd00:1::1/64", "dev", "br-lan"]);
    // Both ends up: each veth gets its link-local fe80:: address.
    add_veth(&ns, "vif1.0", "dom1");
    for link in ["vif1.0", "dom1"] {
        ns.ip(&["link", "set", link, "up"]);
    }
    let mut b = backend(&ns).await;
    b.add_address6("vif1.0", net6("2001:db8::1/64")).await.unwrap();
    let link_local = ns.ip(&["-6", "addr", "show", "dev", "vif1.0"]);
    assert!(link_local.contains("inet6 fe80::"), "{link_local}");
    let lo = ns.ip(&["-6", "addr", "show", "dev", "lo"]);
    assert!(lo.contains("inet6 ::1/128"), "{lo}");

    let o = b.observe().await.unwrap();

    assert_eq!(addresses6_on(&o, "br-lan"), [(net6("fd00:1::1/64"), false)]);
    assert_eq!(addresses6_on(&o, "vif1.0"), [(net6("2001:db8::1/64"), true)]);
    assert!(
        o.addresses6
            .iter()
            .all(|a| a.addr.addr().segments()[0] & 0xffc0 != 0xfe80),
        "no link-local address is reported: {:?}",
        o.addresses6
    );
    assert!(
        addresses6_on(&o, "lo").is_empty(),
        "nor lo's ::1: {:?}",
        o.addresses6
    );
    assert_eq!(o.addresses6.len(), 2, "{:?}", o.addresses6);
    // The IPv4 side of the shared address dump is unchanged.
    let a = o.addresses.iter().find(|a| a.link == "br-lan").unwrap();
    assert_eq!((a.addr, a.owned), (net("10.1.1.1/24"), false));
}

#[tokio::test]
async fn observe_links_reports_the_named_links_ipv6_addresses_only() {
    if !root_or_skip("observe_links_reports_the_named_links_ipv6_addresses_only") {
        return;
    }
    let ns = Netns::new("narrow6");
    add_foreign_bridge(&ns);
    ns.ip(&["-6", "addr", "add", "fd00:1::1/64", "dev", "br-lan"]);
    let mut b = backend_with_bridge_up(&ns).await;
    b.add_address("xenbr0", net("10.98.98.1/24")).await.unwrap();
    b.add_address6("xenbr0", net6("fd98:98::1/64")).await.unwrap();
    let full = b.observe().await.unwrap();

    let narrow = b.observe_links(&["xenbr0".to_string()]).await.unwrap();

    assert_eq!(addresses6_on(&narrow, "xenbr0"), [(net6("fd98:98::1/64"), true)]);
    assert_eq!(narrow.addresses6.len(), 1, "{:?}", narrow.addresses6);
    assert_eq!(narrow.addresses.len(), 1, "{:?}", narrow.addresses);
    let names = ["xenbr0".to_string()];
    assert_eq!(narrow.addresses6, full.clone().restricted_to(&names).addresses6);
    assert_eq!(narrow.addresses, full.restricted_to(&names).addresses);
}

/// A host on the bridge reaches brouter's IPv6 address right after it is added: the
/// kernel answers its neighbour solicitation (it would not for a tentative address).
#[tokio::test]
async fn a_peer_reaches_a_new_ipv6_address_without_waiting() {
    if !root_or_skip("a_peer_reaches_a_new_ipv6_address_without_waiting") {
        return;
    }
    let ns = Netns::new("reach6");
    let peer = Netns::new("reach6peer");
    let p = peer.name().to_string();
    ns.ip(&[
        "link", "add", "vif1.0", "type", "veth", "peer", "name", "dom1", "netns", &p,
    ]);
    peer.ip(&["-6", "addr", "add", "fd98:98::2/64", "dev", "dom1", "nodad"]);
    peer.ip(&["link", "set", "dom1", "up"]);
    let mut b = backend_with_bridge_up(&ns).await;
    b.set_master("vif1.0", Some("xenbr0")).await.unwrap();
    b.set_up("vif1.0", true).await.unwrap();
    let listener = ns.run(|| std::net::TcpListener::bind("[::]:7007").unwrap());

    // Setup, not the property under test: the port forwards once the kernel has seen the
    // veth's carrier (linkwatch, up to a second later).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while b.observe().await.unwrap().link("vif1.0").unwrap().port_state != Some(PortState::Forwarding) {
        assert!(std::time::Instant::now() < deadline, "vif1.0 never forwarded");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    b.add_address6("xenbr0", net6("fd98:98::1/64")).await.unwrap();
    // Usable at once: not tentative (no duplicate address detection to wait for), read
    // right after the add, before anything could have waited for DAD to finish.
    let shown = ns.ip(&["-6", "addr", "show", "dev", "xenbr0"]);
    let line = shown
        .lines()
        .find(|l| l.contains("fd98:98::1/64"))
        .unwrap_or_else(|| panic!("the address is on the bridge: {shown}"));
    assert!(!line.contains("tentative"), "no DAD wait: {line}");
    let connected = peer.run(|| {
        let to = "[fd98:98::1]:7007".parse().unwrap();
        std::net::TcpStream::connect_timeout(&to, std::time::Duration::from_secs(3)).map(|_| ())
    });

    assert!(connected.is_ok(), "connect from the peer: {connected:?}");
    drop(listener);
}
