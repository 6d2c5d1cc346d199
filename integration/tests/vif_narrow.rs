//! The kernel backend's narrow reads and element writes for `vif online|offline`:
//! `observe_links` reports exactly what a full `observe` reports for the named links, and
//! a binding written over nfnetlink is what `nft` lists — replacing the vif's old
//! elements, leaving every other vif's alone, in tables an older brouter made too.
//!
//! Root only (each test starts with `root_or_skip`); brouter's memory goes to a temporary
//! `BROUTER_STATE_DIR`.

use brouter_backends::{firewall, NetlinkBackend};
use brouter_engine::config::from_xen_words;
use brouter_engine::firewall::Binding;
use brouter_engine::{apply, compile, plan_start, ErrorKind, NetBackend};
use brouter_integration::{root_or_skip, use_temp_state_dir, Netns};

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A started Xen-mode network with anti-spoofing (`xenbr0`), and veths `vif1.0`…`vif<n>.0`.
async fn started(ns: &Netns, vifs: usize) -> NetlinkBackend {
    use_temp_state_dir("vif-narrow");
    let mut b = NetlinkBackend::new(ns.target()).await.unwrap();
    let d = compile(&from_xen_words(&["bridgeip=10.98.96.1/22", "antispoof=yes"]).unwrap());
    let p = plan_start(&d, &b.observe().await.unwrap()).unwrap();
    apply(&mut b, &p).await.unwrap();
    let lines: Vec<String> = (1..=vifs)
        .map(|i| format!("link add vif{i}.0 type veth peer name peer{i}"))
        .collect();
    ns.ip_batch(&lines);
    b
}

fn binding(vif: &str, mac: &str, addrs: &[&str]) -> Binding {
    Binding {
        vif: vif.into(),
        mac: mac.into(),
        addrs: addrs
            .iter()
            .map(|a| brouter_engine::firewall::parse_entry(a).unwrap())
            .collect(),
    }
}

#[test]
fn observe_links_reports_what_observe_reports_for_the_named_links() {
    if !root_or_skip("observe_links_reports_what_observe_reports_for_the_named_links") {
        return;
    }
    let ns = Netns::new("narrowobs");
    block(async {
        let mut b = started(&ns, 6).await;
        for i in 1..=4 {
            let vif = format!("vif{i}.0");
            b.set_master(&vif, Some("xenbr0")).await.unwrap();
            b.set_up(&vif, true).await.unwrap();
            b.add_binding(&binding(&vif, &format!("aa:cc:00:00:00:0{i}"), &["10.98.96.9"]))
                .await
                .unwrap();
        }
        ns.ip(&["addr", "add", "169.254.1.1/16", "dev", "vif2.0"]);
        ns.ip(&["addr", "add", "169.254.1.2/16", "dev", "vif5.0"]);
        for names in [
            vec!["vif2.0", "xenbr0"],
            vec!["vif5.0", "missing0", "xenbr0"],
            vec!["vif3.0"],
            vec!["xenbr0", "vif6.0"],
        ] {
            let names: Vec<String> = names.into_iter().map(String::from).collect();
            let narrow = b.observe_links(&names).await.unwrap().normalized();
            let full = b.observe().await.unwrap().restricted_to(&names).normalized();
            assert_eq!(narrow, full, "for {names:?}");
        }
        let vif3 = b.observe_links(&["vif3.0".to_string()]).await.unwrap();
        assert_eq!(
            vif3.links[0].master.as_deref(),
            Some("xenbr0"),
            "the master is named though not asked for"
        );
        assert_eq!(vif3.bindings.len(), 1);
    });
}

#[test]
fn bindings_written_over_nfnetlink_are_what_nft_lists() {
    if !root_or_skip("bindings_written_over_nfnetlink_are_what_nft_lists") {
        return;
    }
    let ns = Netns::new("narrowbind");
    block(async {
        let mut b = started(&ns, 0).await;
        let web1 = binding("vif1.0", "aa:cc:00:00:01:01", &["10.1.0.10"]);
        let web2 = binding("vif2.0", "aa:cc:00:00:01:02", &["10.1.0.11", "10.1.0.12"]);
        let stranger = binding("vif3.0", "aa:cc:00:00:09:09", &[]);
        for x in [&web1, &web2, &stranger] {
            b.add_binding(x).await.unwrap();
        }
        let listed = firewall::read_bindings_nft(&ns.target()).unwrap();
        assert_eq!(listed, vec![web1, web2.clone(), stranger.clone()]);

        // Binding again replaces the vif's MAC and addresses; nobody else's.
        let moved = binding("vif1.0", "aa:cc:00:00:01:99", &["10.1.0.20", "10.1.0.21"]);
        b.add_binding(&moved).await.unwrap();
        let listed = firewall::read_bindings_nft(&ns.target()).unwrap();
        assert_eq!(listed, vec![moved.clone(), web2, stranger.clone()]);

        b.remove_binding("vif2.0").await.unwrap();
        b.remove_binding("vif2.0").await.unwrap();
        let listed = firewall::read_bindings_nft(&ns.target()).unwrap();
        assert_eq!(listed, vec![moved, stranger]);
    });
}

/// `bridge brouter` as brouter made it before single addresses had sets of their own:
/// every bound address and prefix in the interval sets `ip_bind` and `ip6_bind`, whose
/// rules (only the first here, with its fingerprint) look only there.
const OLD_BRIDGE_TABLE: &str = "delete table bridge brouter
table bridge brouter {
    set ports { type ifname; }
    set mac_bind { type ifname . ether_addr; }
    set ip_bind { type ifname . ipv4_addr; flags interval; }
    set ip6_bind { type ifname . ipv6_addr; flags interval; }
    chain antispoof {
        iifname . ip saddr != @ip_bind drop
    }
    chain prerouting {
        type filter hook prerouting priority -200;
        iifname @ports goto antispoof comment \"brouter ruleset 0123456789abcdef\"
    }
}
";

#[test]
fn a_vif_is_bound_and_unbound_in_tables_an_older_brouter_made() {
    if !root_or_skip("a_vif_is_bound_and_unbound_in_tables_an_older_brouter_made") {
        return;
    }
    let ns = Netns::new("narrowold");
    block(async {
        // vif1.0 exists: `start` keeps the bindings of vifs that are there.
        let mut b = started(&ns, 1).await;
        // A host upgraded to this brouter boots a domU before its next `start`.
        let file = std::env::temp_dir().join(format!("brouter-old-bridge-{}.nft", std::process::id()));
        std::fs::write(&file, OLD_BRIDGE_TABLE).unwrap();
        let out = ns.exec("nft", &["-f", file.to_str().unwrap()]);
        let _ = std::fs::remove_file(&file);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

        let web1 = binding("vif1.0", "aa:cc:00:00:01:01", &["10.1.0.10", "10.1.1.0/24"]);
        b.add_binding(&web1).await.unwrap();
        // Where the old rules look for it: the host address in the interval set.
        let out = ns.exec("nft", &["list", "set", "bridge", "brouter", "ip_bind"]);
        let listed = String::from_utf8_lossy(&out.stdout);
        assert!(listed.contains("\"vif1.0\" . 10.1.0.10"), "{listed}");
        assert_eq!(
            firewall::read_bindings_nft(&ns.target()).unwrap(),
            vec![web1.clone()]
        );

        // Read back narrowly, bound again with other addresses, then unbound: nothing left.
        let names = vec!["vif1.0".to_string()];
        assert_eq!(b.observe_links(&names).await.unwrap().bindings, vec![web1]);
        let moved = binding("vif1.0", "aa:cc:00:00:01:01", &["10.1.0.11"]);
        b.add_binding(&moved).await.unwrap();
        assert_eq!(
            firewall::read_bindings_nft(&ns.target()).unwrap(),
            vec![moved.clone()]
        );

        // The next `start` replaces the old tables, the binding carried into `ip_host`.
        let d = compile(&from_xen_words(&["bridgeip=10.98.96.1/22", "antispoof=yes"]).unwrap());
        let p = plan_start(&d, &b.observe().await.unwrap()).unwrap();
        apply(&mut b, &p).await.unwrap();
        let out = ns.exec("nft", &["list", "set", "bridge", "brouter", "ip_host"]);
        let listed = String::from_utf8_lossy(&out.stdout);
        assert!(listed.contains("\"vif1.0\" . 10.1.0.11"), "{listed}");
        assert_eq!(firewall::read_bindings_nft(&ns.target()).unwrap(), vec![moved]);
        b.remove_binding("vif1.0").await.unwrap();
        assert!(firewall::read_bindings_nft(&ns.target()).unwrap().is_empty());
    });
}

#[test]
fn a_refused_binding_changes_nothing_and_says_why() {
    if !root_or_skip("a_refused_binding_changes_nothing_and_says_why") {
        return;
    }
    let ns = Netns::new("narrowbad");
    block(async {
        let mut b = started(&ns, 0).await;
        let e = b
            .add_binding(&binding("vif1.0", "not-a-mac", &[]))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert!(e.message.contains("binding vif1.0 to MAC not-a-mac"), "{e}");
        assert!(firewall::read_bindings_nft(&ns.target()).unwrap().is_empty());

        b.delete_firewall().await.unwrap();
        let e = b
            .add_binding(&binding("vif1.0", "aa:cc:00:00:01:01", &["10.1.0.10"]))
            .await
            .unwrap_err();
        assert!(e.message.contains("brouter start"), "{e}");
        b.remove_binding("vif1.0").await.unwrap();
    });
}
