//! brouter's dnsmasq on the simulator: started by the first `start`, left alone by a
//! converged one, reloaded (not restarted) when only hosts change, restarted when a
//! pool changes, started again after it died (also after a kill between writing its
//! files and the SIGHUP), and gone after `stop`.

use brouter_engine::config::from_toml;
use brouter_engine::{apply, compile, plan_start, plan_stop, Desired, Op, Plan};
use brouter_sim::{Fault, Kernel, SimBackend};

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

const CONFIG: &str = "[uplink]\ninterface = \"eth0\"\n\
    [[network]]\nname = \"dmz\"\nbridge = \"br0\"\naddress = \"10.98.98.1/24\"\ndhcp = true\n\
    [[network]]\nname = \"data\"\nbridge = \"br1\"\naddress = \"10.99.0.1/24\"\n\
    [[host]]\nname = \"web1\"\nnetwork = \"dmz\"\nmac = \"52:54:00:00:00:01\"\naddresses = [\"10.98.98.10\"]\n";

fn desired(text: &str) -> Desired {
    compile(&from_toml(text, "t.toml").unwrap())
}

fn plan(sim: &SimBackend, d: &Desired) -> Plan {
    plan_start(d, &sim.kernel.observe()).unwrap()
}

fn start(sim: &mut SimBackend, text: &str) -> Plan {
    let d = desired(text);
    let p = plan(sim, &d);
    block(apply(sim, &p)).unwrap();
    assert!(plan(sim, &d).is_empty(), "not converged after start");
    p
}

fn dhcp_ops(p: &Plan) -> Vec<String> {
    p.ops
        .iter()
        .filter(|o| {
            matches!(
                o,
                Op::WriteDhcpFiles { .. } | Op::StartDhcp { .. } | Op::ReloadDhcp { .. } | Op::StopDhcp
            )
        })
        .map(ToString::to_string)
        .collect()
}

#[test]
fn started_once_then_left_alone() {
    let mut sim = SimBackend::new(Kernel::typical_host());
    let first = start(&mut sim, CONFIG);
    assert_eq!(dhcp_ops(&first).len(), 2, "{:?}", dhcp_ops(&first));
    let d = sim.kernel.dhcp.clone().unwrap();
    assert!(d.serves_its_files());
    assert!(d.options.contains(&"--interface=br0".to_string()));
    assert!(!d.options.iter().any(|o| o.contains("br1")), "{:?}", d.options);
    assert!(start(&mut sim, CONFIG).is_empty());
    assert_eq!(sim.kernel.dhcp.as_ref().unwrap().starts, 1);
}

#[test]
fn a_host_edit_reloads_a_pool_edit_restarts() {
    let mut sim = SimBackend::new(Kernel::typical_host());
    start(&mut sim, CONFIG);
    let edited = CONFIG.replace("10.98.98.10", "10.98.98.20");
    let p = start(&mut sim, &edited);
    assert_eq!(
        dhcp_ops(&p),
        [
            "write dnsmasq's static leases and host names (2 line(s))",
            "reload dnsmasq's static leases and host names (SIGHUP)"
        ]
    );
    assert_eq!(
        sim.kernel.dhcp.as_ref().unwrap().starts,
        1,
        "a reload is not a restart"
    );
    assert!(sim.kernel.dhcp.as_ref().unwrap().serving["hosts"].contains("10.98.98.20 web1"));
    let pool = edited.replace(
        "dhcp = true\n",
        "dhcp = true\ndhcp_range = \"10.98.98.100-10.98.98.199\"\n",
    );
    let p = start(&mut sim, &pool);
    assert_eq!(dhcp_ops(&p), ["restart dnsmasq (DHCP and DNS) on br0"]);
    assert_eq!(sim.kernel.dhcp.as_ref().unwrap().starts, 2);
}

#[test]
fn a_dead_dnsmasq_is_drift_and_start_brings_it_back() {
    let mut sim = SimBackend::new(Kernel::typical_host());
    start(&mut sim, CONFIG);
    sim.kernel.dhcp.as_mut().unwrap().kill();
    let p = plan(&sim, &desired(CONFIG));
    assert_eq!(dhcp_ops(&p), ["start dnsmasq (DHCP and DNS) on br0"]);
    start(&mut sim, CONFIG);
    assert!(sim.kernel.dhcp.as_ref().unwrap().serves_its_files());
}

#[test]
fn a_kill_between_writing_and_reloading_is_finished_by_the_next_start() {
    let mut sim = SimBackend::new(Kernel::typical_host());
    start(&mut sim, CONFIG);
    let edited = CONFIG.replace("10.98.98.10", "10.98.98.20");
    let d = desired(&edited);
    let p = plan(&sim, &d);
    let reload = p
        .ops
        .iter()
        .position(|o| matches!(o, Op::ReloadDhcp { .. }))
        .unwrap();
    sim.inject(reload, Fault::Crash);
    assert!(block(apply(&mut sim, &p)).is_err());
    let mut sim = SimBackend::new(sim.kernel.clone());
    assert!(
        !sim.kernel.dhcp.as_ref().unwrap().serves_its_files(),
        "files written, not loaded"
    );
    let p = start(&mut sim, &edited);
    assert_eq!(
        dhcp_ops(&p),
        ["reload dnsmasq's static leases and host names (SIGHUP)"]
    );
    assert!(sim.kernel.dhcp.as_ref().unwrap().serves_its_files());
}

#[test]
fn stop_ends_it_and_dropping_dhcp_from_the_config_too() {
    let mut sim = SimBackend::new(Kernel::typical_host());
    start(&mut sim, CONFIG);
    let p = start(&mut sim, &CONFIG.replace("dhcp = true\n", ""));
    assert_eq!(dhcp_ops(&p), ["stop dnsmasq and remove its files and leases"]);
    assert!(sim.kernel.dhcp.is_none());
    start(&mut sim, CONFIG);
    let d = desired(CONFIG);
    let p = plan_stop(&d.scope, &sim.kernel.observe());
    assert_eq!(p.ops[0], Op::StopDhcp, "DHCP and DNS end first");
    block(apply(&mut sim, &p)).unwrap();
    assert!(sim.kernel.dhcp.is_none());
    assert!(plan_stop(&d.scope, &sim.kernel.observe()).is_empty());
}
