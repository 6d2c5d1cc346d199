//! `dhcp = true` and `address6` need dnsmasq on this host: refused before anything is changed, with
//! the package that brings it, rather than a failed step half-way through `start`.

use brouter_engine::Config;

use crate::exit::Failure;

/// Exit 2 when `config` asks for DHCP or router advertisements and no dnsmasq can be found.
pub fn require_dnsmasq(config: &Config) -> Result<(), Failure> {
    let Some(i) = config
        .networks
        .iter()
        .position(|n| n.dhcp || n.address6.is_some())
    else {
        return Ok(());
    };
    let (key, why) = match config.networks[i].dhcp {
        true => ("dhcp = true", "DHCP and DNS come from"),
        false => ("address6", "router advertisements (SLAAC) come from"),
    };
    if brouter_backends::dnsmasq::dnsmasq_program().is_some() {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "{}: network[{i}].{key} needs dnsmasq ({why} it), which is not installed (looked at \
         $BROUTER_DNSMASQ, PATH, /usr/sbin and /sbin): install Debian's dnsmasq-base \
         (apt install dnsmasq-base)",
        config.origin
    )))
}
