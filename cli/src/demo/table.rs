//! The connectivity table: each row a real TCP connection between lab namespaces, next
//! to what `brouter explain` predicts for the same flow.
//!
//! All rows run at once, each with its own deadline, so the table costs about one
//! deadline whatever its length: an allowed connection answers in microseconds, a dropped
//! one is only known to be dropped when the deadline passes.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use brouter_engine::config::Action;
use brouter_engine::firewall::{explain, Address, ExplainContext, Flow, Ruleset, StepKind, Trace};
use brouter_lab::{connect, Listener, NsHandle, Reply};

use super::config::{DB1, DOMUS, INTERNET_GW, INTERNET_HOST, UPLINK_ADDR, WEB1, WEB2};
use super::lab::Lab;
use crate::exit::Failure;

/// How long a connection may take before it counts as dropped.
const DEADLINE: Duration = Duration::from_secs(1);

/// A party to a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Internet,
    Dom0,
    DomU(usize),
}

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::Internet => "internet",
            Who::Dom0 => "dom0",
            Who::DomU(i) => DOMUS[i].name,
        }
    }

    /// The zone explain starts the flow in, and the source address the kernel picks.
    fn zone_and_source(self) -> (&'static str, Ipv4Addr) {
        match self {
            Who::Internet => ("external", INTERNET_GW),
            Who::Dom0 => ("dom0", UPLINK_ADDR),
            Who::DomU(i) if i == DB1 => ("data", DOMUS[i].addr),
            Who::DomU(i) => ("dmz", DOMUS[i].addr),
        }
    }

    fn ns(self, lab: &Lab) -> NsHandle {
        match self {
            Who::Internet => lab.internet.handle(),
            Who::Dom0 => lab.dom0.handle(),
            Who::DomU(i) => lab.domu(i),
        }
    }
}

/// One flow of the table: `client` connects to `dst:port`; our listener in `server`
/// listens on `listen` (a forward may translate the port).
#[derive(Debug, Clone, Copy)]
struct Row {
    client: Who,
    server: Who,
    dst: Ipv4Addr,
    port: u16,
    listen: u16,
    note: &'static str,
}

fn rows() -> Vec<Row> {
    let ip = |i: usize| DOMUS[i].addr;
    let row = |client, server, dst, port, listen, note| Row {
        client,
        server,
        dst,
        port,
        listen,
        note,
    };
    use Who::*;
    vec![
        row(DomU(WEB1), DomU(WEB2), ip(WEB2), 22, 22, "same bridge"),
        row(DomU(WEB1), DomU(DB1), ip(DB1), 5432, 5432, "dmz → data, tcp/5432"),
        row(DomU(WEB1), DomU(DB1), ip(DB1), 22, 22, "dmz → data, not tcp/5432"),
        row(DomU(WEB1), Internet, INTERNET_HOST, 80, 80, "dmz → external"),
        row(DomU(DB1), Internet, INTERNET_HOST, 80, 80, "data → external"),
        row(
            Internet,
            DomU(WEB1),
            UPLINK_ADDR,
            8080,
            80,
            "forward tcp 8080 → web1:80",
        ),
        row(Internet, Dom0, UPLINK_ADDR, 22, 22, "external → dom0, tcp/22"),
        row(
            Internet,
            Dom0,
            UPLINK_ADDR,
            5432,
            5432,
            "external → dom0, no forward",
        ),
        row(Internet, DomU(DB1), ip(DB1), 5432, 5432, "external → data"),
    ]
}

/// One measured row and its prediction.
#[derive(Debug)]
pub struct Measured {
    row: Row,
    reply: Reply,
    trace: Option<Trace>,
}

impl Measured {
    /// Whether the kernel did what explain predicted (verdict, and for an accepted flow
    /// the source the receiver saw and where it arrived).
    pub fn agrees(&self) -> bool {
        let Some(t) = &self.trace else {
            return false;
        };
        match (&self.reply, t.verdict) {
            (Reply::Connected { seen, arrived }, Action::Accept) => t.delivered.as_ref().is_some_and(|d| {
                d.source == Address::from(ip(seen))
                    && d.addr == Address::from(ip(arrived))
                    && d.port == Some(arrived.port())
            }),
            (Reply::TimedOut, Action::Drop) => true,
            (Reply::Refused | Reply::Unreachable, Action::Reject) => true,
            _ => false,
        }
    }

    /// Whether the flow got through.
    pub fn allowed(&self) -> bool {
        self.reply.is_connected()
    }
}

fn ip(a: &SocketAddr) -> Ipv4Addr {
    match a {
        SocketAddr::V4(v4) => *v4.ip(),
        SocketAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    }
}

/// Start the listeners, run every row at once, stop the listeners.
pub async fn measure(lab: &Lab, ruleset: &Ruleset, ctx: &ExplainContext) -> Result<Vec<Measured>, Failure> {
    let rows = rows();
    let mut listeners: Vec<(Who, u16, Listener)> = Vec::new();
    for r in &rows {
        if !listeners.iter().any(|(w, p, _)| *w == r.server && *p == r.listen) {
            let l = Listener::start(&r.server.ns(lab), r.listen)
                .map_err(|e| Failure::op(format!("demo: start a listener in {}: {e}", r.server.name())))?;
            listeners.push((r.server, r.listen, l));
        }
    }
    let jobs: Vec<(NsHandle, SocketAddr)> = rows
        .iter()
        .map(|r| (r.client.ns(lab), SocketAddr::new(r.dst.into(), r.port)))
        .collect();
    let replies = super::off_thread(move || {
        std::thread::scope(|s| {
            let handles: Vec<_> = jobs
                .iter()
                .map(|(ns, dst)| s.spawn(move || connect(ns, *dst, DEADLINE)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Reply::Failed("probe thread panicked".into()))
                })
                .collect::<Vec<_>>()
        })
    })
    .await?;
    drop(listeners);
    Ok(rows
        .into_iter()
        .zip(replies)
        .map(|(row, reply)| {
            let (zone, src) = row.client.zone_and_source();
            let flow = Flow::tcp(zone, Address::from(row.dst), row.port).with_src(src);
            Measured {
                row,
                reply,
                trace: explain(ruleset, ctx, &flow).ok(),
            }
        })
        .collect())
}

/// Print the table.
pub fn print(results: &[Measured]) {
    let flows: Vec<String> = results
        .iter()
        .map(|m| {
            let to = match m.row.server {
                _ if m.row.dst == UPLINK_ADDR => "dom0".to_string(),
                s => s.name().to_string(),
            };
            format!("{} → {to}:{}", m.row.client.name(), m.row.port)
        })
        .collect();
    let measured: Vec<String> = results.iter().map(describe).collect();
    let w1 = flows.iter().map(|f| f.chars().count()).max().unwrap_or(0);
    let w2 = results
        .iter()
        .map(|m| m.row.note.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    let w3 = measured.iter().map(|f| f.chars().count()).max().unwrap_or(0);
    println!(
        "  {:<w1$}  {:<w2$}  {:<w3$}  explain predicts",
        "flow", "", "measured (real TCP)"
    );
    for ((m, flow), got) in results.iter().zip(&flows).zip(&measured) {
        let note = format!("({})", m.row.note);
        let predicted = match &m.trace {
            Some(t) => {
                let mark = if m.agrees() { "✓" } else { "✗ DIFFERS" };
                format!("{} {mark}", t.verdict)
            }
            None => "(explain failed)".into(),
        };
        println!("  {flow:<w1$}  {note:<w2$}  {got:<w3$}  {predicted}");
    }
}

/// The measured outcome in words: who saw which source, and where a forward delivered it.
fn describe(m: &Measured) -> String {
    match &m.reply {
        Reply::Connected { seen, arrived } => {
            let server = m.row.server.name();
            let (_, src) = m.row.client.zone_and_source();
            let mut s = String::from("allowed: ");
            if ip(arrived) != m.row.dst {
                s.push_str(&format!("DNAT to {server}:{}, ", arrived.port()));
            }
            s.push_str(&format!("{server} saw {}", ip(seen)));
            if ip(seen) != src {
                s.push_str(" (masqueraded)");
            }
            s
        }
        Reply::TimedOut => format!("blocked (no answer in {}s: dropped)", DEADLINE.as_secs()),
        Reply::Refused => "blocked (TCP reset: refused)".into(),
        Reply::Unreachable => "blocked (ICMP unreachable)".into(),
        Reply::Failed(e) => format!("probe failed: {e}"),
    }
}

/// Why a row's prediction was what it was: explain's filter step, for disagreements.
pub fn explain_detail(m: &Measured) -> String {
    match &m.trace {
        Some(t) => t
            .step(StepKind::Filter)
            .map_or_else(|| t.to_string(), |s| s.detail.clone()),
        None => "explain could not walk this flow".into(),
    }
}
