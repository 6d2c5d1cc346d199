//! Valid but risky: configurations that do what they say, where what they say is likely
//! not what the admin meant. `brouter check` prints these as warnings (exit 0).

use std::collections::HashSet;
use std::net::Ipv4Addr;

use super::overlaps::NetIndex;
use super::{Action, Config, ZONE_DOM0, ZONE_EXTERNAL};

/// One line per risk found in `config`, each saying what to write instead.
pub fn risks(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for p in &config.policies {
        let opens_a_network = p.from == ZONE_EXTERNAL && p.to != ZONE_DOM0 && p.to != ZONE_EXTERNAL;
        if opens_a_network && p.action == Action::Accept && p.services.is_empty() {
            out.push(format!(
                "policy {} -> {} accepts every service: every port of every VM on {} is open to \
                 the internet; list services = [\"tcp/443\", …] or use [[forward]]s",
                p.from, p.to, p.to
            ));
        }
    }
    // A host without a mac on an antispoof network is an error already (validate); a
    // forward to a bare address there reaches a VM only if some [[host]] declares it.
    // Indexed once, so 10,000 forwards do not each scan every network and host.
    let ix = NetIndex::new(config);
    let declared_addrs: HashSet<(&str, Ipv4Addr)> = config
        .hosts
        .iter()
        .filter(|h| h.mac.is_some())
        .flat_map(|h| h.addresses.iter().map(move |a| (h.network.as_str(), *a)))
        .collect();
    for f in &config.forwards {
        let Some(net) = ix.network_of(f.addr) else {
            continue;
        };
        let declared = declared_addrs.contains(&(net.name.as_str(), f.addr));
        if net.antispoof && !declared {
            out.push(format!(
                "forward {}/{} goes to {} on anti-spoofing network {}, which no [[host]] with a \
                 mac declares: no vif may use that address, so the forward leads nowhere; add a \
                 [[host]] with network = \"{}\", its mac and addresses = [\"{}\"]",
                f.proto, f.ports, f.addr, net.name, net.name, f.addr
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_toml;

    const BASE: &str = "[uplink]\ninterface = \"eth0\"\n[[network]]\nname = \"dmz\"\naddress = \"10.1.0.1/24\"\nantispoof = true\n";

    #[test]
    fn a_safe_config_has_no_risks() {
        let c = from_toml(
            &format!("{BASE}[[policy]]\nfrom = \"external\"\nto = \"dmz\"\naction = \"accept\"\nservices = [\"tcp/443\"]\n"),
            "t",
        )
        .unwrap();
        assert!(risks(&c).is_empty(), "{:?}", risks(&c));
    }

    #[test]
    fn an_open_network_and_a_forward_to_an_undeclared_address_are_named() {
        let c = from_toml(
            &format!(
                "{BASE}[[host]]\nname = \"web1\"\nnetwork = \"dmz\"\nmac = \"aa:cc:00:00:01:01\"\n\
                 addresses = [\"10.1.0.10\"]\n\
                 [[forward]]\nproto = \"tcp\"\nport = 80\nto = \"web1\"\n\
                 [[forward]]\nproto = \"tcp\"\nport = 81\nto = \"10.1.0.99\"\n\
                 [[policy]]\nfrom = \"external\"\nto = \"dmz\"\naction = \"accept\"\n"
            ),
            "t",
        )
        .unwrap();
        let r = risks(&c);
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(r[0].contains("external -> dmz accepts every service"), "{}", r[0]);
        assert!(r[1].contains("tcp/81 goes to 10.1.0.99"), "{}", r[1]);
    }
}
