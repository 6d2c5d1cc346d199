//! `status` for people: one line per fact, the drift last.

use std::io::Write;

use super::{NetworkStatus, PolicyStatus, Report};

/// One line of the report. A reader that went away ends the report, nothing more.
macro_rules! line {
    ($w:expr, $($arg:tt)*) => {{
        let _ = writeln!($w, $($arg)*);
    }};
}

/// Print the report as text, buffered: with 10,000 forwards it is over 11,000 lines,
/// and stdout on its own writes each line with a system call.
pub(super) fn print(r: &Report) {
    let mut w = std::io::BufWriter::with_capacity(1 << 18, std::io::stdout().lock());
    write_report(&mut w, r);
    let _ = w.flush();
}

fn write_report(w: &mut impl Write, r: &Report) {
    line!(w, "compared against {}", r.compared_with);
    for o in r.owned.iter().filter(|o| !o.in_config) {
        line!(
            w,
            "not in this config: {} {}{} (owned by brouter)",
            o.kind,
            o.name,
            o.network
                .as_ref()
                .map(|n| format!(" of network {n}"))
                .unwrap_or_default()
        );
    }
    if let Some(u) = &r.uplink {
        let state = match (u.present, u.up) {
            (false, _) => "MISSING".to_string(),
            (true, false) => "down".to_string(),
            (true, true) => format!("up {}", u.addresses.join(" ")),
        };
        line!(w, "uplink {} {}", u.interface, state.trim_end());
    }
    for n in &r.networks {
        print_network(w, n);
    }
    print_counters(w, r);
    if let Some(d) = &r.dhcp {
        line!(w, "{}", d.line());
    }
    if let Some(e) = &r.evpn {
        line!(w, "{}", e.line());
    }
    line!(w, "ip_forward {}", r.ip_forward);
    line!(
        w,
        "firewall {}",
        match &r.firewall {
            Some(fp) => format!("tables inet/bridge brouter present (ruleset {fp})"),
            None => "brouter's tables are not there".into(),
        }
    );
    for d in &r.firewall_drift {
        line!(w, "firewall drift: {d}");
    }
    for p in &r.ports_at_risk {
        line!(w, "{}", p.line());
    }
    for warning in &r.warnings {
        line!(w, "WARNING: {warning}");
    }
    if let Some(c) = &r.conflict {
        line!(w, "conflict: {c}");
    } else if r.converged {
        line!(w, "converged: start has nothing to do");
    } else if r.drift.is_empty() && r.ports_at_risk.iter().any(|p| p.exposes()) {
        line!(
            w,
            "not converged: start has nothing to do, but a VM port is exposed (see EXPOSED above)"
        );
    } else if r.drift.is_empty() {
        line!(
            w,
            "not converged: start has nothing to do, but the uplink is unusable (see the warning)"
        );
    } else {
        line!(w, "drifted: start would apply {} step(s):", r.drift.len());
        for d in &r.drift {
            line!(w, "  - {d}");
        }
    }
}

/// A network's bridge, address, route and ports.
fn print_network(w: &mut impl Write, n: &NetworkStatus) {
    line!(w, "network {} (bridge {}):", n.network, n.bridge);
    line!(
        w,
        "  bridge   {}{}",
        n.bridge_state,
        if n.up { ", up" } else { ", down" }
    );
    line!(w, "  address  {} {}", n.address, mark(n.address_present));
    if let (Some(a6), Some(present)) = (&n.address6, n.address6_present) {
        line!(w, "  address6 {a6} {}", mark(present));
    }
    line!(w, "  route    {} {}", n.route, mark(n.route_present));
    if n.ports.is_empty() {
        line!(w, "  ports    none");
    }
    for p in &n.ports {
        let host = p.host.as_ref().map(|h| format!(" host {h}")).unwrap_or_default();
        let bound = p
            .bound
            .as_ref()
            .map(|b| format!(", bound to {b}"))
            .unwrap_or_default();
        line!(w, "  port     {}{host}{bound}", p.vif);
    }
}

/// The forwards, policies and unlisted pairs, with what their counters saw.
fn print_counters(w: &mut impl Write, r: &Report) {
    for f in &r.forwards {
        match (f.connections, f.packets, f.bytes) {
            (Some(c), Some(p), Some(b)) => line!(
                w,
                "forward  {}: {c} connection{}, {p} packet{}, {}",
                f.text(),
                plural(c),
                plural(p),
                size(b)
            ),
            _ => line!(w, "forward  {}", f.text()),
        }
    }
    for p in &r.policies {
        line!(w, "policy   {}{}", p.policy, p.hits_text());
    }
    if let Some(u) = &r.unlisted {
        let logged = if u.logged_lines > 0 {
            format!("; {} line{} logged", u.logged_lines, plural(u.logged_lines))
        } else {
            String::new()
        };
        line!(
            w,
            "unlisted zone pairs: {} packet{} dropped ({}){logged}",
            u.dropped.packets,
            plural(u.dropped.packets),
            size(u.dropped.bytes)
        );
    }
}

impl PolicyStatus {
    fn hits_text(&self) -> String {
        if self.hits.is_empty() {
            return String::new();
        }
        let hits: Vec<String> = self
            .hits
            .iter()
            .map(|h| {
                format!(
                    "{} {} packet{} ({})",
                    h.verdict,
                    h.packets,
                    plural(h.packets),
                    size(h.bytes)
                )
            })
            .collect();
        let logged = self
            .logged_lines
            .map(|l| format!("; {l} line{} logged", plural(l)))
            .unwrap_or_default();
        format!(": {}{logged}", hits.join(", "))
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Bytes for people: `512 B`, `1.5 KiB`, `3.2 MiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn mark(present: bool) -> &'static str {
    if present {
        "(present)"
    } else {
        "(MISSING)"
    }
}
