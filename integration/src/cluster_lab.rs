//! Several dom0s joined into one brouter cluster (`[cluster]`, static control): each
//! member is a [`Topology`] of its own (dom0, its internet behind its uplink, its domUs),
//! and an underlay namespace bridges the members' `under` interfaces (`10.99.0.<m+1>/24`).
//!
//! ```text
//!  member m0 dom0: eth0 ── internet m0      underlay ns: bridge ul
//!                  under 10.99.0.1 ──veth── m0 ┐
//!  member m1 dom0: under 10.99.0.2 ──veth── m1 ┼ ul
//!  member m2 dom0: under 10.99.0.3 ──veth── m2 ┘
//! ```
//!
//! Every member runs the same networks (`dmz`, `br-dmz`, 10.1.0.1/24, and `hosting`,
//! `br-hosting`, 10.2.0.1/24) from a config that differs only in `local`. Dropping the lab deletes every namespace.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Output;

use crate::binary::{brouter_config, succeeded};
use crate::{DomU, Netns, Topology};

/// The `dmz` network's gateway (the same on every member).
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
/// The `hosting` network's gateway.
pub const HOSTING_GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 1);

/// One member: its topology, config file and state directory.
#[derive(Debug)]
pub struct Member {
    pub name: String,
    pub t: Topology,
    pub config: PathBuf,
    pub state: PathBuf,
}

impl Member {
    /// `brouter --netns DOM0 --config FILE ARGS…` with this member's state directory.
    pub fn brouter(&self, args: &[&str]) -> Output {
        brouter_config(self.t.dom0(), &self.config, &self.state, args)
    }

    /// [`Member::brouter`], which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        succeeded(&self.brouter(args), &format!("{}: brouter {args:?}", self.name))
    }

    /// `vif online` for domU `i` on its network's bridge (`br-dmz` for 10.1.0.0/24,
    /// `br-hosting` for 10.2.0.0/24), as Xen's hotplug would.
    pub fn online(&self, i: usize) {
        let vif = self.t.vif(i).to_string();
        let spec = self.t.domu_spec(i);
        let mac = spec.mac.clone().expect("cluster lab domUs have MACs");
        let bridge = match spec.ip().octets()[1] {
            2 => "br-hosting",
            _ => "br-dmz",
        };
        self.ok(&["vif", "online", "--vif", &vif, "--bridge", bridge, "--mac", &mac]);
    }
}

/// The lab: the underlay namespace and the members.
#[derive(Debug)]
pub struct ClusterLab {
    pub members: Vec<Member>,
    /// Declared last: dropped after the members' namespaces.
    pub underlay: Netns,
}

/// A VM on `dmz` at `10.1.0.<last>` with MAC `02:00:00:00:00:<last>`.
pub fn dmz_vm(name: &str, last: u8) -> DomU {
    DomU::new(name, &format!("10.1.0.{last}/24"), &GATEWAY.to_string())
        .mac(&format!("02:00:00:00:00:{last:02x}"))
}

/// The `[[host]]` section declaring [`dmz_vm`]`(name, last)`.
pub fn dmz_host(name: &str, last: u8) -> String {
    format!(
        "[[host]]\nname = \"{name}\"\nnetwork = \"dmz\"\nmac = \"02:00:00:00:00:{last:02x}\"\naddresses = [\"10.1.0.{last}\"]\n\n"
    )
}

/// A member's underlay address.
pub fn member_address(m: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 99, 0, m as u8 + 1)
}

impl ClusterLab {
    /// Members `m0..` with the domUs `domus[m]` (each with a MAC), joined by the underlay;
    /// `extra` is appended to every member's config (hosts, policies, forwards).
    pub fn new(tag: &str, domus: Vec<Vec<DomU>>, antispoof: bool, extra: &str) -> ClusterLab {
        ClusterLab::with_control(tag, domus, antispoof, extra, "static")
    }

    /// [`ClusterLab::new`] with `control = "<control>"` (`"evpn"`: each member's brouter
    /// runs FRR in its dom0).
    pub fn with_control(
        tag: &str,
        domus: Vec<Vec<DomU>>,
        antispoof: bool,
        extra: &str,
        control: &str,
    ) -> ClusterLab {
        let underlay = Netns::new(&format!("{tag}u"));
        underlay.ip_batch(&["link add ul type bridge".into(), "link set ul up".into()]);
        let count = domus.len();
        let mut members = Vec::new();
        for (m, vms) in domus.into_iter().enumerate() {
            let mut b = Topology::new(&format!("{tag}{m}"));
            for d in vms {
                b = b.domu(d);
            }
            let t = b.build();
            t.dom0().ip_batch(&[
                format!(
                    "link add under type veth peer name m{m} netns {}",
                    underlay.name()
                ),
                format!("addr add {}/24 dev under", member_address(m)),
                "link set under up".into(),
            ]);
            underlay.ip_batch(&[format!("link set m{m} master ul up")]);
            let state = std::env::temp_dir().join(format!("brouter-cluster-{tag}{m}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&state);
            std::fs::create_dir_all(&state).unwrap();
            let config = state.join("brouter.toml");
            std::fs::write(&config, config_text(m, count, antispoof, extra, control)).unwrap();
            members.push(Member {
                name: format!("m{m}"),
                t,
                config,
                state,
            });
        }
        let lab = ClusterLab { members, underlay };
        lab.settle_underlay();
        lab
    }

    /// Every member reaches every other over the underlay before the lab is handed over. A
    /// fresh underlay bridge loses the first ARP request between two members (measured:
    /// the first ping takes 1.0 s, the retransmission), which would add a second to
    /// whatever a test or the bench first sends across; a real underlay is long settled.
    fn settle_underlay(&self) {
        let deadline = std::time::Duration::from_secs(5);
        for (m, member) in self.members.iter().enumerate() {
            for other in (0..self.members.len()).filter(|o| *o != m) {
                let to = member_address(other).into();
                let out = crate::probe::ping(member.t.dom0(), to, deadline);
                assert!(out.is_connected(), "underlay m{m} → m{other}: {out:?}");
            }
        }
    }

    pub fn member(&self, m: usize) -> &Member {
        &self.members[m]
    }
}

impl Drop for ClusterLab {
    fn drop(&mut self) {
        for m in &self.members {
            // A test that failed before `stop` leaves brouter's FRR running in the dom0:
            // end whatever runs there before the namespace goes.
            m.t.dom0().kill_all();
            let _ = std::fs::remove_dir_all(&m.state);
        }
    }
}

/// The config of member `m` of `count`, with `control = "<control>"`.
pub fn config_text(m: usize, count: usize, antispoof: bool, extra: &str, control: &str) -> String {
    let mut s = format!(
        "[uplink]\ninterface = \"eth0\"\n\n[[network]]\nname = \"dmz\"\nbridge = \"br-dmz\"\naddress = \"{GATEWAY}/24\"\nantispoof = {antispoof}\n\n[[network]]\nname = \"hosting\"\nbridge = \"br-hosting\"\naddress = \"{HOSTING_GATEWAY}/24\"\nantispoof = {antispoof}\n\n[[policy]]\nfrom = \"dmz\"\nto = \"external\"\naction = \"accept\"\n\n[[policy]]\nfrom = \"dmz\"\nto = \"dom0\"\naction = \"accept\"\nservices = [\"icmp\"]\n\n[cluster]\nlocal = \"m{m}\"\nunderlay = \"under\"\ncontrol = \"{control}\"\n"
    );
    for i in 0..count {
        s.push_str(&format!(
            "\n[[cluster.member]]\nname = \"m{i}\"\naddress = \"{}\"\n",
            member_address(i)
        ));
    }
    s.push('\n');
    s.push_str(extra);
    s
}

/// What a migrated guest does once its link is up again (Xen's netfront on resume): wait
/// until `eth0` is operationally up (until then the kernel drops what it sends), then one
/// gratuitous ARP for `ip` (`busybox arping -U`), from which every member learns where its
/// MAC is now.
pub fn announce(vm: &Netns, ip: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !vm
        .ip(&["-j", "link", "show", "eth0"])
        .contains("\"operstate\":\"UP\"")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "eth0 of {} never came up",
            vm.name()
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let garp = vm.exec("busybox", &["arping", "-U", "-c", "1", "-I", "eth0", ip]);
    assert!(
        garp.status.success(),
        "arping: {}",
        String::from_utf8_lossy(&garp.stderr)
    );
}
