//! `SimBackend`: the `NetBackend` over a [`Kernel`], with fault injection.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use brouter_engine::backend::BackendResult;
use brouter_engine::firewall::{Binding, Ruleset};
use brouter_engine::{BackendError, BridgeOptions, ErrorKind, NetBackend, Observed};
use ipnet::Ipv4Net;

use crate::kernel::Kernel;
use crate::second_writer::ForeignEdit;

/// How an injected fault behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The k-th operation fails with this kind and changes nothing; later ones work.
    Fail(ErrorKind),
    /// The process "dies" before the k-th operation: it and every later one fail with
    /// [`ErrorKind::Crashed`], as if brouter had been killed there.
    Crash,
}

/// The simulated kernel behind brouter's backend seam.
#[derive(Debug, Clone, Default)]
pub struct SimBackend {
    pub kernel: Kernel,
    /// Operations attempted so far (observe excluded).
    pub ops: usize,
    /// Kernel writes that succeeded (what a converged run must keep at zero).
    pub writes: usize,
    fault: Option<(usize, Fault)>,
    crashed: bool,
    /// Edits another process makes, each just before the operation with that index.
    interleaved: Vec<(usize, ForeignEdit)>,
}

impl SimBackend {
    pub fn new(kernel: Kernel) -> Self {
        SimBackend {
            kernel,
            ..Default::default()
        }
    }

    /// Inject `fault` at the operation with 0-based index `k` (counted from now on).
    pub fn inject(&mut self, k: usize, fault: Fault) {
        self.fault = Some((self.ops + k, fault));
    }

    /// Let a second writer make `edit` just before the operation with 0-based index `k`
    /// (counted from now on): brouter's plan was made before it (see [`crate::second_writer`]).
    pub fn interleave(&mut self, k: usize, edit: ForeignEdit) {
        self.interleaved.push((self.ops + k, edit));
    }

    /// Load a kernel from a `--sim` state file; a missing file is a typical fresh dom0.
    pub fn load(path: &Path) -> Result<Self, BackendError> {
        let kernel = match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                BackendError::new(
                    ErrorKind::Other,
                    format!("{}: not a brouter sim state: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Kernel::typical_host(),
            Err(e) => {
                return Err(BackendError::new(
                    ErrorKind::Other,
                    format!("{}: {e}", path.display()),
                ))
            }
        };
        Ok(SimBackend::new(kernel))
    }

    /// Save the kernel to a `--sim` state file (atomically: temp file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), BackendError> {
        let text = serde_json::to_string_pretty(&self.kernel).expect("kernel serialises");
        let tmp = PathBuf::from(format!("{}.tmp", path.display()));
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| BackendError::new(ErrorKind::Other, format!("{}: {e}", path.display())))
    }

    fn step(&mut self, f: impl FnOnce(&mut Kernel) -> BackendResult<()>, write: bool) -> BackendResult<()> {
        let index = self.ops;
        self.ops += 1;
        for (_, edit) in self.interleaved.iter().filter(|(k, _)| *k == index) {
            self.kernel.foreign_edit(edit);
        }
        if self.crashed {
            return Err(BackendError::new(
                ErrorKind::Crashed,
                "brouter was killed before this step",
            ));
        }
        if let Some((k, fault)) = self.fault {
            if k == index {
                match fault {
                    Fault::Fail(kind) => {
                        return Err(BackendError::new(
                            kind,
                            format!("injected failure at step {index}"),
                        ))
                    }
                    Fault::Crash => {
                        self.crashed = true;
                        return Err(BackendError::new(
                            ErrorKind::Crashed,
                            format!("brouter killed at step {index}"),
                        ));
                    }
                }
            }
        }
        f(&mut self.kernel)?;
        if write {
            self.writes += 1;
        }
        Ok(())
    }
}

#[async_trait]
impl NetBackend for SimBackend {
    async fn observe(&mut self) -> BackendResult<Observed> {
        if self.crashed {
            return Err(BackendError::new(ErrorKind::Crashed, "brouter was killed"));
        }
        Ok(self.kernel.observe())
    }

    async fn firewall_drift(&mut self, ruleset: &Ruleset) -> BackendResult<Vec<String>> {
        let _ = ruleset;
        Ok(self.kernel.drift_lines())
    }

    async fn firewall_delta(
        &mut self,
        ruleset: &Ruleset,
    ) -> BackendResult<Option<brouter_engine::plan::FirewallDelta>> {
        let k = &self.kernel;
        Ok(k.firewall.as_ref().map(|have| {
            let mut d = crate::fw_elements::delta(have, k.firewall_edited.is_some(), ruleset);
            d.differences = k.firewall_edited.iter().cloned().collect();
            d
        }))
    }

    /// One transaction on the kernel, so one step here.
    async fn update_firewall_elements(
        &mut self,
        fingerprint: &str,
        ruleset: &Ruleset,
        sets: &[brouter_engine::plan::SetDelta],
    ) -> BackendResult<()> {
        let _ = fingerprint;
        self.step(
            |k| {
                let Some(have) = k.firewall.as_mut() else {
                    return Err(BackendError::new(
                        ErrorKind::Other,
                        "brouter's firewall tables do not exist: nothing to update",
                    ));
                };
                crate::fw_elements::apply(have, ruleset, sets)
            },
            true,
        )
    }

    async fn firewall_digest(&mut self, ruleset: Option<&Ruleset>) -> BackendResult<Option<u64>> {
        let digest = |r: &Ruleset| brouter_engine::firewall::digest64(r.fingerprint().as_bytes());
        Ok(match ruleset {
            Some(r) => Some(digest(r)),
            None => self
                .kernel
                .firewall
                .as_ref()
                .map(|r| digest(r) ^ u64::from(self.kernel.tables_edited())),
        })
    }

    async fn create_bridge(
        &mut self,
        name: &str,
        network: &str,
        options: BridgeOptions,
    ) -> BackendResult<()> {
        self.step(|k| k.create_bridge(name, network, options), true)
    }

    async fn delete_link(&mut self, name: &str) -> BackendResult<()> {
        self.step(|k| k.delete_link(name), true)
    }

    async fn set_master(&mut self, link: &str, master: Option<&str>) -> BackendResult<()> {
        self.step(|k| k.set_master(link, master), true)
    }

    async fn set_up(&mut self, link: &str, up: bool) -> BackendResult<()> {
        self.step(|k| k.set_up(link, up), true)
    }

    async fn add_address(&mut self, link: &str, addr: Ipv4Net) -> BackendResult<()> {
        self.step(|k| k.add_address(link, addr), true)
    }

    async fn delete_address(&mut self, link: &str, addr: Ipv4Net) -> BackendResult<()> {
        self.step(|k| k.delete_address(link, addr), true)
    }

    async fn read_sysctls(&mut self, keys: &[String]) -> BackendResult<BTreeMap<String, String>> {
        Ok(keys
            .iter()
            .filter_map(|k| self.kernel.sysctl(k).map(|v| (k.clone(), v)))
            .collect())
    }

    async fn add_address6(&mut self, link: &str, addr: ipnet::Ipv6Net) -> BackendResult<()> {
        self.step(|k| k.add_address6(link, addr), true)
    }

    async fn delete_address6(&mut self, link: &str, addr: ipnet::Ipv6Net) -> BackendResult<()> {
        self.step(|k| k.delete_address6(link, addr), true)
    }

    async fn add_route(&mut self, dst: Ipv4Net, dev: &str) -> BackendResult<()> {
        self.step(|k| k.add_route(dst, dev), true)
    }

    async fn delete_route(&mut self, dst: Ipv4Net, dev: &str) -> BackendResult<()> {
        self.step(|k| k.delete_route(dst, dev), true)
    }

    async fn set_sysctl(&mut self, key: &str, value: &str) -> BackendResult<()> {
        self.step(|k| k.set_sysctl(key, value), true)
    }

    async fn remember(&mut self, key: &str, value: &str) -> BackendResult<()> {
        self.step(
            |k| {
                k.memory.insert(key.to_string(), value.to_string());
                Ok(())
            },
            false,
        )
    }

    async fn forget(&mut self, key: &str) -> BackendResult<()> {
        self.step(
            |k| {
                k.memory.remove(key);
                Ok(())
            },
            false,
        )
    }

    async fn replace_firewall(&mut self, ruleset: &Ruleset) -> BackendResult<()> {
        self.step(
            |k| {
                k.replace_firewall(ruleset);
                Ok(())
            },
            true,
        )
    }

    /// One transaction on the kernel, so one step here: a crash cannot split it.
    async fn replace_firewall_with_bindings(
        &mut self,
        ruleset: &Ruleset,
        bindings: &[Binding],
    ) -> BackendResult<()> {
        self.step(
            |k| {
                k.replace_firewall(ruleset);
                bindings.iter().try_for_each(|b| k.add_binding(b))
            },
            true,
        )
    }

    async fn add_binding(&mut self, binding: &Binding) -> BackendResult<()> {
        self.step(|k| k.add_binding(binding), true)
    }

    async fn remove_binding(&mut self, vif: &str) -> BackendResult<()> {
        self.step(|k| k.remove_binding(vif), true)
    }

    async fn rename_link(&mut self, link: &str, new_name: &str) -> BackendResult<()> {
        self.step(|k| k.rename_link(link, new_name), true)
    }

    async fn create_vxlan(&mut self, spec: &brouter_engine::backend::VxlanSpec<'_>) -> BackendResult<()> {
        self.step(|k| k.create_vxlan(spec), true)
    }

    async fn add_flood(&mut self, link: &str, dst: std::net::IpAddr) -> BackendResult<()> {
        self.step(|k| k.add_flood(link, dst), true)
    }

    async fn delete_flood(&mut self, link: &str, dst: std::net::IpAddr) -> BackendResult<()> {
        self.step(|k| k.delete_flood(link, dst), true)
    }

    async fn set_neighbour(&mut self, link: &str, ip: std::net::IpAddr, mac: &str) -> BackendResult<()> {
        self.step(|k| k.set_neighbour(link, ip, mac), true)
    }

    async fn delete_neighbour(&mut self, link: &str, ip: std::net::IpAddr) -> BackendResult<()> {
        self.step(|k| k.delete_neighbour(link, ip), true)
    }

    async fn set_mac(&mut self, link: &str, mac: &str) -> BackendResult<()> {
        self.step(|k| k.set_mac(link, mac), true)
    }

    async fn set_mtu(&mut self, link: &str, mtu: u32) -> BackendResult<()> {
        self.step(|k| k.set_mtu(link, mtu), true)
    }

    async fn flush_ipv6(&mut self, link: &str) -> BackendResult<()> {
        self.step(|k| k.flush_ipv6(link), true)
    }

    async fn set_alias(&mut self, link: &str, alias: &str) -> BackendResult<()> {
        self.step(|k| k.set_alias(link, alias), true)
    }

    async fn set_stp(&mut self, link: &str, stp: bool) -> BackendResult<()> {
        self.step(|k| k.set_stp(link, stp), true)
    }

    async fn set_forward_delay(&mut self, link: &str, seconds: u32) -> BackendResult<()> {
        self.step(|k| k.set_forward_delay(link, seconds), true)
    }

    async fn set_port_state(&mut self, port: &str, state: brouter_engine::PortState) -> BackendResult<()> {
        self.step(|k| k.set_port_state(port, state), true)
    }

    async fn delete_firewall(&mut self) -> BackendResult<()> {
        self.step(
            |k| {
                k.delete_firewall();
                Ok(())
            },
            true,
        )
    }

    async fn write_dhcp_files(&mut self, files: &BTreeMap<String, String>) -> BackendResult<()> {
        self.step(
            |k| {
                k.dhcp.get_or_insert_with(Default::default).write_files(files);
                Ok(())
            },
            true,
        )
    }

    async fn start_dhcp(&mut self, options: &[String], digest: &str, _restart: bool) -> BackendResult<()> {
        self.step(
            |k| {
                k.dhcp.get_or_insert_with(Default::default).start(options, digest);
                Ok(())
            },
            true,
        )
    }

    async fn reload_dhcp(&mut self, digest: &str) -> BackendResult<()> {
        self.step(
            |k| match &mut k.dhcp {
                Some(d) => d.reload(digest),
                None => Err(BackendError::new(
                    ErrorKind::Other,
                    "dnsmasq is not running: nothing to reload",
                )),
            },
            true,
        )
    }

    async fn stop_dhcp(&mut self) -> BackendResult<()> {
        self.step(
            |k| {
                k.dhcp = None;
                Ok(())
            },
            true,
        )
    }

    async fn start_routing(&mut self, config: &str, digest: &str) -> BackendResult<()> {
        self.step(
            |k| {
                k.routing
                    .get_or_insert_with(Default::default)
                    .start(config, digest);
                Ok(())
            },
            true,
        )
    }

    async fn reload_routing(
        &mut self,
        config: &str,
        digest: &str,
        _commands: &[String],
    ) -> BackendResult<()> {
        self.step(
            |k| {
                k.routing
                    .get_or_insert_with(Default::default)
                    .reload(config, digest)
            },
            true,
        )
    }

    async fn stop_routing(&mut self) -> BackendResult<()> {
        self.step(
            |k| {
                k.routing = None;
                Ok(())
            },
            true,
        )
    }
}
