//! The firewall IR → brouter's two nftables tables, as the `nftables` crate's typed model.
//!
//! Layout (each stage mirrors one stage of `brouter_engine::firewall::explain`):
//!
//! * `inet brouter`
//!   - `forward` / `input` / `output` base chains (policy accept) judge only traffic that
//!     touches a brouter bridge (or, when a policy names it, the host's own uplink
//!     traffic) by `goto` into `fwd_judge` / `in_judge` / `out_judge`; all else passes.
//!   - `forward` first sends DNAT'd connections to `fwd_dnat`, which counts and accepts
//!     them (a forward implies its accept), and accepts established/related traffic,
//!     before any interface lookup; the judge chains drop invalid (`in_judge` and
//!     `out_judge` accept established/related first), then dispatch new connections by a
//!     verdict map on `iifname . oifname` to one chain per listed zone pair; what no
//!     element matches is an unlisted pair and drops. With `[log] drops`, unlisted
//!     pairs' elements `jump` to a one-rule chain (`log.<from>.<to>`) that logs and
//!     returns to that drop.
//!   - every verdict rule of a pair chain, and each judge's final drop, has a `counter`
//!     (`status` reads them as policy hits); a logged pair verdict has one rate-limited
//!     `log` rule (`brouter drop dmz->data `) placed so only what is refused is logged.
//!   - `fwd_dnat` counts forwarded connections' traffic by their original port
//!     (`<proto>_fwd_traffic`), and the DNAT maps count connections: per-element
//!     counters of named sets (see [`counts_elements`]), not rules.
//!   - `prerouting` (dstnat) DNATs through port-keyed maps (`tcp_fwd_addr` +
//!     `tcp_fwd_port`, or `tcp_fwd_keep` when the port is kept; same for udp): two
//!     maps, because nft 1.0.6 breaks maps whose data is a concatenation.
//!   - every forward set and map exists twice: hash sets for single ports
//!     (`tcp_fwd_*`) and interval sets for port ranges (`tcp_range_fwd_*`), see [`Shape`].
//!   - `postrouting` (srcnat) masquerades hairpin traffic to the server's bridge and
//!     the masquerading networks' traffic leaving through `external`.
//! * `bridge brouter`: bound vifs (`ports`) are checked against `mac_bind`, `ip_host`
//!   and `ip_bind` (Ethernet source, IP source, ARP sender; `ip6_host` and `ip6_bind`
//!   for IPv6); the sets are filled per vif.
//!
//! The number of rules depends on the zones and policies only: forwards, hosts and
//! bindings are elements of named sets and maps.
//!
//! One file per concern: `inet` (its sets, forward maps and chain declarations, in
//! order), `judges` (the filter chains), `pairs` (the zone pairs' chains), `nat` (DNAT
//! and masquerade), `bridge` (anti-spoofing), `builder` (the object list).

use brouter_engine::config::Proto;
use brouter_engine::firewall::Ruleset;
use nftables::schema::{NfListObject, Table};
use nftables::types::NfFamily;

mod bridge;
mod builder;
mod inet;
mod judges;
mod nat;
mod pairs;

pub use bridge::{binding_elements, is_host, nft_can_parse, NA_SPOOF_COMMENT};

/// brouter's table name in both families.
pub const TABLE: &str = "brouter";
/// The rule comment that carries the ruleset's fingerprint (`<prefix><fingerprint>`).
pub const FINGERPRINT_PREFIX: &str = "brouter ruleset ";

/// The bridge-family sets the bindings live in: the bound vifs, their MACs, their
/// single addresses (`*_host`, hash sets) and their prefixes (`*_bind`, interval sets).
pub const PORTS: &str = "ports";
pub const MAC_BIND: &str = "mac_bind";
pub const IP_HOST: &str = "ip_host";
pub const IP_BIND: &str = "ip_bind";
pub const IP6_HOST: &str = "ip6_host";
pub const IP6_BIND: &str = "ip6_bind";

/// Every binding set, in the order a batch touches them.
pub const BINDING_SETS: [&str; 6] = [PORTS, MAC_BIND, IP_HOST, IP_BIND, IP6_HOST, IP6_BIND];

/// Whether a named set or map of `inet brouter` keeps a counter per element: the DNAT
/// maps that name a forward's target (`<proto>_fwd_addr`, `<proto>_fwd_keep`: connections)
/// and `<proto>_fwd_traffic` (every packet of those connections), and their
/// `<proto>_range_fwd_*` twins for port ranges. The crate's typed `Set`
/// has no field for nft's set-level `counter` statement, so the JSON transaction adds it
/// for these names (`firewall::add_element_counters`) and the text printer prints it.
pub fn counts_elements(name: &str) -> bool {
    ["tcp_", "udp_"].iter().any(|p| name.starts_with(p))
        && ["_fwd_addr", "_fwd_keep", "_fwd_traffic"]
            .iter()
            .any(|s| name.ends_with(s))
}

/// How a forward's external ports are keyed. Single ports go to hash sets and maps:
/// constant-time lookups on the packet path and the cheapest to load (10,000 forwards);
/// port ranges need interval sets (an rbtree in the kernel). Both kinds always exist, so
/// the rule count does not depend on the forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Port,
    Range,
}

impl Shape {
    pub const ALL: [Shape; 2] = [Shape::Port, Shape::Range];

    /// The shape of a forward of `first..=last`.
    pub fn of(first: u16, last: u16) -> Shape {
        if first == last {
            Shape::Port
        } else {
            Shape::Range
        }
    }
}

/// The name of a forward set or map: `<proto>_fwd_<what>` for single ports,
/// `<proto>_range_fwd_<what>` for ranges (`what`: `addr`, `port`, `keep`, `traffic`).
pub fn fwd_set(proto: Proto, shape: Shape, what: &str) -> String {
    match shape {
        Shape::Port => format!("{proto}_fwd_{what}"),
        Shape::Range => format!("{proto}_range_fwd_{what}"),
    }
}

/// The set whose per-element counters hold the traffic of `proto`'s forwards of `shape`.
pub fn traffic_set(proto: Proto, shape: Shape) -> String {
    fwd_set(proto, shape, "traffic")
}

/// The objects of both tables, in the order they must be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub inet: Vec<NfListObject<'static>>,
    pub bridge: Vec<NfListObject<'static>>,
}

impl Tables {
    /// How many rules both tables hold (the number that must not grow with forwards,
    /// hosts or vifs).
    pub fn rule_count(&self) -> usize {
        self.inet
            .iter()
            .chain(&self.bridge)
            .filter(|o| matches!(o, NfListObject::Rule(_)))
            .count()
    }
}

/// The `table` object of one family: the first object of its batch, and what a
/// teardown deletes.
pub fn table(family: NfFamily) -> Table<'static> {
    Table {
        family,
        name: TABLE.into(),
        handle: None,
    }
}

/// Render the IR. `fingerprint` is stored as a rule comment in both tables.
pub fn render(rs: &Ruleset, fingerprint: &str) -> Tables {
    Tables {
        inet: inet::inet(rs, fingerprint),
        bridge: bridge::bridge(rs, fingerprint),
    }
}

/// The chain that decides one listed zone pair. Zone names cannot contain `.`, so the
/// name is unique.
pub fn pair_chain(from: &str, to: &str) -> String {
    format!("pair.{from}.{to}")
}

/// The chain that logs and rejects a logged `reject` policy's services (the rest of the
/// pair chain logs and drops what is not among them).
pub fn reject_chain(from: &str, to: &str) -> String {
    format!("pair.{from}.{to}.reject")
}

/// The one-rule chain that logs an unlisted pair's drop (`[log] drops = true`).
pub fn log_chain(from: &str, to: &str) -> String {
    format!("log.{from}.{to}")
}

/// The comment of each judge chain's final drop (read back as the unlisted pairs' hits).
pub const UNLISTED: &str = "unlisted zone pair";
