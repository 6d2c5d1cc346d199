//! `brouter dhcp-lease add|old|del MAC IP [HOSTNAME]`: dnsmasq's lease script. brouter's
//! dnsmasq runs it (as root, in its namespace) for every lease it grants, renews, finds
//! at start or lets end; on an anti-spoofing network the lease then becomes the binding
//! of the VM's vif (see `brouter_engine::dhcp_lease`). Its bridge is dnsmasq's
//! `DNSMASQ_INTERFACE`.

use brouter_engine::dhcp_lease::{plan_lease, LeaseEvent};

use crate::args::{Cli, LeaseArgs};
use crate::exit::{Failure, OK};

pub async fn command(cli: &Cli, args: &LeaseArgs) -> Result<u8, Failure> {
    let event = LeaseEvent::parse(&args.event).ok_or_else(|| {
        Failure::usage(format!(
            "dhcp-lease: {:?} is not a lease event; dnsmasq passes add, old or del",
            args.event
        ))
    })?;
    let mac = brouter_engine::backend::mac_octets(&args.mac)
        .map(|_| args.mac.to_ascii_lowercase())
        .ok_or_else(|| Failure::usage(format!("dhcp-lease: {:?} is not a MAC address", args.mac)))?;
    let Ok(ip) = args.ip.parse::<std::net::Ipv4Addr>() else {
        // A DHCPv6 lease (not served yet) or garbage: nothing brouter binds.
        return Ok(OK);
    };
    let bridge = std::env::var("DNSMASQ_INTERFACE").ok().filter(|b| !b.is_empty());
    let lock_path = crate::lock::path_for(cli.sim.as_deref(), cli.netns.as_deref())?;
    let _lock = crate::lock::lock(&lock_path)?;
    let mut backend = crate::run::open(cli).await?;
    let observed = backend
        .get()
        .observe()
        .await
        .map_err(|e| Failure::op(format!("cannot read the kernel state: {e}")))?;
    let plan = plan_lease(event, &mac, ip, bridge.as_deref(), &observed);
    crate::run::execute(&plan, &mut backend).await?;
    for op in &plan.ops {
        tracing::info!("dhcp-lease {} {mac} {ip}: {op}", args.event);
    }
    Ok(OK)
}
