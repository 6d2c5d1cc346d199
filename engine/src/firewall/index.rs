//! Hash lookups over a [`Ruleset`], for code that asks about every zone or zone pair.
//!
//! [`Ruleset::network`] and [`Ruleset::decide`] scan lists, which is right for one
//! question (`explain`) and quadratic or worse for a renderer that asks once per network
//! or per pair: with 1,000 networks the zone dispatch map asked a million pair questions,
//! each scanning 1,000 policies. Build a [`ZoneIndex`] once and ask it instead.

use std::collections::HashMap;

use super::ir::{decision, NetZone, PairDecision, PairPolicy, Ruleset};

/// A [`Ruleset`]'s networks by name and bridge and its policies by pair. Answers exactly
/// as the ruleset's own lookups do (the first of duplicates wins).
pub struct ZoneIndex<'a> {
    pub rs: &'a Ruleset,
    by_name: HashMap<&'a str, &'a NetZone>,
    by_bridge: HashMap<&'a str, &'a NetZone>,
    policies: HashMap<(&'a str, &'a str), &'a PairPolicy>,
}

impl Ruleset {
    /// Index this ruleset for many lookups (O(networks + policies) to build).
    pub fn index(&self) -> ZoneIndex<'_> {
        let mut by_name = HashMap::with_capacity(self.networks.len());
        let mut by_bridge = HashMap::with_capacity(self.networks.len());
        for n in &self.networks {
            by_name.entry(n.name.as_str()).or_insert(n);
            by_bridge.entry(n.bridge.as_str()).or_insert(n);
        }
        let mut policies = HashMap::with_capacity(self.policies.len());
        for p in &self.policies {
            policies.entry((p.from.as_str(), p.to.as_str())).or_insert(p);
        }
        ZoneIndex {
            rs: self,
            by_name,
            by_bridge,
            policies,
        }
    }
}

impl<'a> ZoneIndex<'a> {
    /// As [`Ruleset::network`].
    pub fn network(&self, name: &str) -> Option<&'a NetZone> {
        self.by_name.get(name).copied()
    }

    /// As [`Ruleset::network_by_bridge`].
    pub fn network_by_bridge(&self, iface: &str) -> Option<&'a NetZone> {
        self.by_bridge.get(iface).copied()
    }

    /// As [`Ruleset::policy`].
    pub fn policy(&self, from: &str, to: &str) -> Option<&'a PairPolicy> {
        self.policies.get(&(from, to)).copied()
    }

    /// As [`Ruleset::decide`].
    pub fn decide(&self, from: &str, to: &str) -> PairDecision<'a> {
        decision(self.policy(from, to), from, to)
    }

    /// The listed policies, in config order.
    pub fn policies(&self) -> &'a [PairPolicy] {
        &self.rs.policies
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{from_toml, ZONE_DOM0, ZONE_EXTERNAL};
    use crate::firewall::compile;

    #[test]
    fn index_answers_every_pair_as_the_ruleset_does() {
        let c = from_toml(
            "[uplink]\ninterface = \"eth0\"\n\
             [[network]]\nname = \"a\"\naddress = \"10.1.0.1/24\"\n\
             [[network]]\nname = \"b\"\naddress = \"10.2.0.1/24\"\n\
             [[policy]]\nfrom = \"a\"\nto = \"external\"\naction = \"accept\"\n\
             [[policy]]\nfrom = \"external\"\nto = \"dom0\"\naction = \"drop\"\n",
            "t.toml",
        )
        .unwrap();
        let rs = compile(&c);
        let ix = rs.index();
        let zones = ["a", "b", "zz", ZONE_EXTERNAL, ZONE_DOM0];
        for f in zones {
            assert_eq!(ix.network(f), rs.network(f));
            for t in zones {
                assert_eq!(ix.decide(f, t), rs.decide(f, t), "{f} -> {t}");
            }
        }
        assert_eq!(ix.network_by_bridge("xenbr1"), rs.network_by_bridge("xenbr1"));
    }
}
