//! Driving a backend through a plan.

use crate::backend::NetBackend;
use crate::error::BackendError;
use crate::plan::{Op, Plan};

/// A plan that stopped part-way: which step, which op, and the kernel's complaint.
/// Everything before `step` was applied; a re-run plans from what is there now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("step {} of {total} failed: {op}: {error}", step + 1)]
pub struct ApplyError {
    pub step: usize,
    pub total: usize,
    pub op: Op,
    pub error: BackendError,
}

/// Apply every op in order; stop at the first failure. Each step is logged (`-v`) with
/// how long the kernel took for it.
pub async fn apply<B: NetBackend + ?Sized>(backend: &mut B, plan: &Plan) -> Result<(), ApplyError> {
    let total = plan.ops.len();
    for (step, op) in plan.ops.iter().enumerate() {
        let started = std::time::Instant::now();
        let done = apply_op(backend, op).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match &done {
            Ok(()) => tracing::info!("step {}/{total}: {op} ({ms:.2} ms)", step + 1),
            Err(e) => tracing::warn!("step {}/{total}: {op} failed after {ms:.2} ms: {e}", step + 1),
        }
        done.map_err(|error| ApplyError {
            step,
            total,
            op: op.clone(),
            error,
        })?;
    }
    Ok(())
}

/// One op, one backend call: the backend never sees anything but kernel-shaped requests.
pub async fn apply_op<B: NetBackend + ?Sized>(backend: &mut B, op: &Op) -> Result<(), BackendError> {
    match op {
        Op::CreateBridge {
            name,
            network,
            options,
        } => backend.create_bridge(name, network, *options).await,
        Op::DeleteLink { name } => backend.delete_link(name).await,
        Op::SetMaster { link, master } => backend.set_master(link, master.as_deref()).await,
        Op::SetUp { link, up } => backend.set_up(link, *up).await,
        Op::AddAddress { link, addr } => backend.add_address(link, *addr).await,
        Op::DeleteAddress { link, addr } => backend.delete_address(link, *addr).await,
        Op::AddAddress6 { link, addr } => backend.add_address6(link, *addr).await,
        Op::DeleteAddress6 { link, addr } => backend.delete_address6(link, *addr).await,
        Op::AddRoute { dst, dev } => backend.add_route(*dst, dev).await,
        Op::DeleteRoute { dst, dev } => backend.delete_route(*dst, dev).await,
        Op::SetSysctl { key, value } => backend.set_sysctl(key, value).await,
        Op::Remember { key, value } => backend.remember(key, value).await,
        Op::Forget { key } => backend.forget(key).await,
        Op::ReplaceFirewall {
            ruleset, bindings, ..
        } if bindings.is_empty() => backend.replace_firewall(ruleset).await,
        Op::ReplaceFirewall {
            ruleset, bindings, ..
        } => backend.replace_firewall_with_bindings(ruleset, bindings).await,
        Op::DeleteFirewall => backend.delete_firewall().await,
        Op::RenameLink { link, new_name } => backend.rename_link(link, new_name).await,
        Op::SetMac { link, mac } => backend.set_mac(link, mac).await,
        Op::CreateVxlan {
            name,
            network,
            vni,
            local,
            underlay,
            port,
            learning,
        } => {
            let spec = crate::backend::VxlanSpec {
                name,
                network,
                vni: *vni,
                local: *local,
                underlay,
                port: *port,
                learning: *learning,
            };
            backend.create_vxlan(&spec).await
        }
        Op::DeleteVxlan { name } => backend.delete_link(name).await,
        Op::AddFlood { link, dst } => backend.add_flood(link, *dst).await,
        Op::DeleteFlood { link, dst } => backend.delete_flood(link, *dst).await,
        Op::SetNeighbour { link, ip, mac } => backend.set_neighbour(link, *ip, mac).await,
        Op::DeleteNeighbour { link, ip } => backend.delete_neighbour(link, *ip).await,
        Op::SetMtu { link, mtu } => backend.set_mtu(link, *mtu).await,
        Op::FlushIpv6 { link } => backend.flush_ipv6(link).await,
        Op::SetAlias { link, alias } => backend.set_alias(link, alias).await,
        Op::SetStp { link, stp } => backend.set_stp(link, *stp).await,
        Op::SetForwardDelay { link, seconds } => backend.set_forward_delay(link, *seconds).await,
        Op::AddBinding { binding } => backend.add_binding(binding).await,
        Op::RemoveBinding { vif } => backend.remove_binding(vif).await,
        Op::SetPortState { port, state, .. } => backend.set_port_state(port, *state).await,
        Op::UpdateFirewallElements {
            fingerprint,
            ruleset,
            sets,
        } => backend.update_firewall_elements(fingerprint, ruleset, sets).await,
        Op::FlushConntrack { to, to6, flows } => backend.flush_conntrack(to, to6, flows).await,
        Op::WriteDhcpFiles { files } => backend.write_dhcp_files(files).await,
        Op::StartDhcp {
            options,
            digest,
            restart,
        } => backend.start_dhcp(options, digest, *restart).await,
        Op::ReloadDhcp { digest } => backend.reload_dhcp(digest).await,
        Op::StopDhcp => backend.stop_dhcp().await,
        Op::StartRouting { config, digest, .. } => backend.start_routing(config, digest).await,
        Op::ReloadRouting {
            config,
            digest,
            commands,
        } => backend.reload_routing(config, digest, commands).await,
        Op::StopRouting => backend.stop_routing().await,
    }
}
