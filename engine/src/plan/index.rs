//! The observed state with its lookups indexed, for [`plan_start`](super::plan_start).
//!
//! The planner asks, for every wanted bridge, route and address, whether the kernel
//! already has it. Scanning the observed lists for each made a converged `plan` quadratic
//! (10,000 networks: ~10⁸ name comparisons, 0.7 s); these maps answer each question from
//! the few entries that can match, in the observed order, so the plan is the same.

use std::collections::HashMap;
use std::ops::Deref;

use ipnet::Ipv4Net;

use crate::model::{Address, Link, Observed, Route};

/// [`Observed`] plus maps by link name and route destination. Derefs to the
/// [`Observed`], so the planner's other reads are unchanged.
pub struct Indexed<'o> {
    observed: &'o Observed,
    links: HashMap<&'o str, &'o Link>,
    routes: HashMap<Ipv4Net, Vec<&'o Route>>,
    /// Each link's addresses with their index in `observed.addresses`, in that order.
    addresses: HashMap<&'o str, Vec<(usize, &'o Address)>>,
}

impl<'o> Indexed<'o> {
    pub fn new(observed: &'o Observed) -> Indexed<'o> {
        let mut links = HashMap::with_capacity(observed.links.len());
        for l in &observed.links {
            // The first of a name, as `Observed::link` finds it.
            links.entry(l.name.as_str()).or_insert(l);
        }
        let mut routes: HashMap<Ipv4Net, Vec<&Route>> = HashMap::new();
        for r in &observed.routes {
            routes.entry(r.dst).or_default().push(r);
        }
        let mut addresses: HashMap<&str, Vec<(usize, &Address)>> = HashMap::new();
        for (k, a) in observed.addresses.iter().enumerate() {
            addresses.entry(a.link.as_str()).or_default().push((k, a));
        }
        Indexed {
            observed,
            links,
            routes,
            addresses,
        }
    }

    /// The link named `name` (as [`Observed::link`]).
    pub fn link(&self, name: &str) -> Option<&'o Link> {
        self.links.get(name).copied()
    }

    /// The observed routes to `dst`, in observed order.
    pub fn routes_to(&self, dst: &Ipv4Net) -> &[&'o Route] {
        self.routes.get(dst).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The observed addresses on `link` with their index, in observed order.
    pub fn addresses_on(&self, link: &str) -> &[(usize, &'o Address)] {
        self.addresses.get(link).map(Vec::as_slice).unwrap_or(&[])
    }
}

impl Deref for Indexed<'_> {
    type Target = Observed;

    fn deref(&self) -> &Observed {
        self.observed
    }
}
