//! `dhcp = true` needs dnsmasq on this host: refused before anything is changed, with
//! the package that brings it, rather than a failed step half-way through `start`.

use brouter_engine::Config;

use crate::exit::Failure;

/// Exit 2 when `config` asks for DHCP and no dnsmasq can be found.
pub fn require_dnsmasq(config: &Config) -> Result<(), Failure> {
    let Some(i) = config.networks.iter().position(|n| n.dhcp) else {
        return Ok(());
    };
    if brouter_backends::dnsmasq::dnsmasq_program().is_some() {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "{}: network[{i}].dhcp = true needs dnsmasq, which is not installed (looked at \
         $BROUTER_DNSMASQ, PATH, /usr/sbin and /sbin): install Debian's dnsmasq-base \
         (apt install dnsmasq-base), or set dhcp = false",
        config.origin
    )))
}
