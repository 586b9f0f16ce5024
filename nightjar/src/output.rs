//! What `replay` and `demo` print: a table of flows for people, JSON lines for
//! programs, Zeek-style logs for both.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;

use comfy_table::{Cell, CellAlignment, ContentArrangement, Table, presets};
use nightjar_engine::{DnsTransaction, FlowRecord, HelloRecord, HttpRecord};

use crate::error::CliError;
use crate::replay::{RecordSink, ReplaySummary};
use crate::zeek_log::{
    AlertLine, AppNames, ConnLine, DnsLine, HelloLine, HttpLine, IntelMarks, Log, LogDir, secs,
};

/// Keeps the `limit` flows with the most bytes (memory stays bounded however
/// large the capture), plus a count of the rest.
#[derive(Debug)]
pub struct TopFlows {
    limit: usize,
    heap: BinaryHeap<Reverse<Ranked>>,
    seen: u64,
}

/// A flow ranked by bytes, then by age (older first) so the order is stable.
#[derive(Debug)]
struct Ranked {
    key: (u64, u64),
    record: Box<FlowRecord>,
}

impl PartialEq for Ranked {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ranked {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key.cmp(&o.key)
    }
}

impl TopFlows {
    /// Keep at most `limit` flows.
    pub fn new(limit: usize) -> Self {
        TopFlows {
            limit,
            heap: BinaryHeap::new(),
            seen: 0,
        }
    }

    /// The kept flows in start-time order, and how many were left out.
    pub fn into_sorted(self) -> (Vec<FlowRecord>, u64) {
        let kept = self.heap.len() as u64;
        let mut v: Vec<FlowRecord> = self.heap.into_iter().map(|Reverse(r)| *r.record).collect();
        v.sort_by_key(|r| (r.first_us, r.id));
        (v, self.seen - kept)
    }
}

impl RecordSink for TopFlows {
    fn flow(&mut self, r: &FlowRecord) -> Result<(), CliError> {
        self.seen += 1;
        let key = (r.orig_ip_bytes + r.resp_ip_bytes, u64::MAX - r.id.0);
        let smallest = self.heap.peek().map(|Reverse(s)| s.key);
        if self.heap.len() < self.limit {
            self.heap.push(Reverse(Ranked {
                key,
                record: Box::new(r.clone()),
            }));
        } else if smallest.is_some_and(|s| key > s) {
            self.heap.pop();
            self.heap.push(Reverse(Ranked {
                key,
                record: Box::new(r.clone()),
            }));
        }
        Ok(())
    }
}

/// Writes every record to the Zeek-style logs of a directory.
#[derive(Debug)]
pub struct LogSink<'a> {
    /// The logs.
    pub logs: LogDir,
    /// App names.
    pub apps: &'a AppNames,
    /// uid salt.
    pub salt: u64,
    /// Threat-intel marks (`--intel`).
    pub intel: IntelMarks<'a>,
}

impl RecordSink for LogSink<'_> {
    fn flow(&mut self, r: &FlowRecord) -> Result<(), CliError> {
        let mut line = ConnLine::new(r, self.salt, self.apps);
        line.intel = self.intel.flow(r);
        self.logs.write(Log::Conn, &line)
    }
    fn dns(&mut self, tx: &DnsTransaction) -> Result<(), CliError> {
        let mut line = DnsLine::new(tx, self.salt);
        line.intel = self.intel.dns(tx);
        self.logs.write(Log::Dns, &line)
    }
    fn hello(&mut self, h: &HelloRecord) -> Result<(), CliError> {
        let log = if h.quic_version.is_some() {
            Log::Quic
        } else {
            Log::Ssl
        };
        self.logs
            .write(log, &HelloLine::new(h, self.salt, self.apps))
    }
    fn http(&mut self, r: &HttpRecord) -> Result<(), CliError> {
        self.logs
            .write(Log::Http, &HttpLine::new(r, self.salt, self.apps))
    }
    fn alert(&mut self, a: &nightjar_detect::Alert) -> Result<(), CliError> {
        self.logs.write(Log::Alerts, &AlertLine::new(a, self.salt))
    }
}

/// Writes every record as a JSON line tagged with its log (`"_path":"conn"`, …).
#[derive(Debug)]
pub struct JsonSink<'a, W: Write> {
    /// Where.
    pub out: W,
    /// App names.
    pub apps: &'a AppNames,
    /// uid salt.
    pub salt: u64,
    /// Threat-intel marks (`--intel`).
    pub intel: IntelMarks<'a>,
}

#[derive(serde::Serialize)]
struct Tagged<'a, T: serde::Serialize> {
    #[serde(rename = "_path")]
    path: &'a str,
    #[serde(flatten)]
    inner: T,
}

impl<W: Write> JsonSink<'_, W> {
    fn line(&mut self, path: &str, inner: impl serde::Serialize) -> Result<(), CliError> {
        serde_json::to_writer(&mut self.out, &Tagged { path, inner })
            .map_err(|e| CliError::Stdout(e.into()))?;
        self.out.write_all(b"\n").map_err(CliError::Stdout)
    }
}

impl<W: Write> RecordSink for JsonSink<'_, W> {
    fn flow(&mut self, r: &FlowRecord) -> Result<(), CliError> {
        let mut line = ConnLine::new(r, self.salt, self.apps);
        line.intel = self.intel.flow(r);
        self.line("conn", line)
    }
    fn dns(&mut self, tx: &DnsTransaction) -> Result<(), CliError> {
        let mut line = DnsLine::new(tx, self.salt);
        line.intel = self.intel.dns(tx);
        self.line("dns", line)
    }
    fn hello(&mut self, h: &HelloRecord) -> Result<(), CliError> {
        let path = if h.quic_version.is_some() {
            "quic"
        } else {
            "ssl"
        };
        let line = HelloLine::new(h, self.salt, self.apps);
        self.line(path, line)
    }
    fn http(&mut self, r: &HttpRecord) -> Result<(), CliError> {
        let line = HttpLine::new(r, self.salt, self.apps);
        self.line("http", line)
    }
    fn alert(&mut self, a: &nightjar_detect::Alert) -> Result<(), CliError> {
        self.line("alerts", AlertLine::new(a, self.salt))
    }
}

/// The alerts as a table: time relative to `start_us`, severity, detector, app, domain or
/// address, and the strongest reasons.
pub fn alert_table(alerts: &[nightjar_detect::Alert], start_us: u64) -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header([
        "t (s)",
        "severity",
        "detector",
        "app",
        "domain / ip",
        "score",
        "reasons",
        "attack",
    ]);
    for a in alerts {
        let mut reasons: Vec<&nightjar_detect::Signal> =
            a.signals.iter().filter(|s| s.weight != 0.0).collect();
        reasons.sort_by(|x, y| y.weight.abs().total_cmp(&x.weight.abs()));
        let mut why: Vec<String> = reasons
            .iter()
            .take(3)
            .map(|s| format!("{}={:.2} (w {:+.2})", s.name, s.value, s.weight))
            .collect();
        if let Some(p) = &a.provenance {
            why.push(format!(
                "feed {} {} {}",
                p.source,
                p.version,
                p.indicator_id.as_deref().unwrap_or("")
            ));
        }
        let subject = a
            .domain
            .clone()
            .or_else(|| a.ips.first().map(ToString::to_string))
            .unwrap_or_default();
        t.add_row([
            format!("{:.1}", a.ts_us.saturating_sub(start_us) as f64 / 1e6),
            a.severity.name().to_owned(),
            a.detector.name().to_owned(),
            a.app.clone().unwrap_or_else(|| "-".into()),
            subject,
            format!("{:.2}", a.score),
            why.join("; "),
            a.attack.iter().map(|r| r.id).collect::<Vec<_>>().join(" "),
        ]);
    }
    t
}

/// Print the summary as the last JSON line (`"_path":"stats"`).
pub fn write_summary_json(out: &mut impl Write, s: &ReplaySummary) -> Result<(), CliError> {
    let line = Tagged {
        path: "stats",
        inner: s,
    };
    serde_json::to_writer(&mut *out, &line).map_err(|e| CliError::Stdout(e.into()))?;
    out.write_all(b"\n").map_err(CliError::Stdout)
}

fn human_bytes(b: u64) -> String {
    match b {
        0..=9_999 => format!("{b} B"),
        10_000..=9_999_999 => format!("{:.1} kB", b as f64 / 1e3),
        _ => format!("{:.1} MB", b as f64 / 1e6),
    }
}

/// The human table of flows.
pub fn flow_table(flows: &[FlowRecord], start_us: u64, apps: &AppNames) -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "start",
            "proto",
            "originator",
            "responder",
            "name (source)",
            "app",
            "state",
            "pkts →/←",
            "bytes →/←",
            "duration",
        ]);
    for r in flows {
        let app = r
            .app
            .map(|a| {
                apps.get(&a.0)
                    .cloned()
                    .unwrap_or_else(|| format!("uid {}", a.0))
            })
            .unwrap_or_else(|| "-".into());
        t.add_row(vec![
            Cell::new(format!(
                "{:+.3}s",
                secs(r.first_us.saturating_sub(start_us))
            ))
            .set_alignment(CellAlignment::Right),
            Cell::new(r.proto_name()),
            Cell::new(r.orig.to_string()),
            Cell::new(r.resp.to_string()),
            Cell::new(match (&r.name, r.name_source) {
                (Some(n), Some(s)) => format!("{n} ({})", s.as_str()),
                _ => "-".into(),
            }),
            Cell::new(app),
            Cell::new(r.conn_state().as_str()),
            Cell::new(format!("{}/{}", r.orig_pkts, r.resp_pkts))
                .set_alignment(CellAlignment::Right),
            Cell::new(format!(
                "{}/{}",
                human_bytes(r.orig_ip_bytes),
                human_bytes(r.resp_ip_bytes)
            ))
            .set_alignment(CellAlignment::Right),
            Cell::new(format!("{:.3}s", secs(r.duration_us()))).set_alignment(CellAlignment::Right),
        ]);
    }
    t
}

/// Lines that explain every frame that made no flow.
pub fn summary_lines(s: &ReplaySummary) -> Vec<String> {
    let p = &s.engine.packets;
    let mut lines = vec![format!(
        "{} frames, {} IP packets in {} flows ({} still live at the end were flushed)",
        s.frames, p.in_flows, s.flows, s.engine.flows.flushed
    )];
    let mut other: Vec<String> = p
        .no_flow_nonzero()
        .map(|(r, n)| format!("{} {}", n, r.name().replace('_', " ")))
        .collect();
    let l = &s.link;
    for (n, what) in [
        (l.not_ip, "not IP"),
        (l.truncated_link_header, "truncated link header"),
        (l.unsupported_link_type, "unsupported link type"),
        (l.other, "unreadable record"),
    ] {
        if n > 0 {
            other.push(format!("{n} {what}"));
        }
    }
    if !other.is_empty() {
        lines.push(format!("no flow: {}", other.join(", ")));
    }
    let a = &s.engine.app;
    lines.push(format!(
        "names: {} by TLS SNI, {} by QUIC SNI, {} by HTTP Host, {} by DNS; {} DNS messages, {} TLS and {} QUIC hellos, {} HTTP requests",
        a.named_by_sni,
        a.named_by_quic_sni,
        a.named_by_http_host,
        a.named_by_dns,
        a.dns_messages,
        a.tls_hellos,
        a.quic_hellos,
        a.http_requests
    ));
    if s.engine.flows.evicted > 0 || s.engine.events_shed > 0 || a.inspections_shed > 0 {
        lines.push(format!(
            "shed under load: {} flows evicted, {} events dropped, {} inspections abandoned",
            s.engine.flows.evicted, s.engine.events_shed, a.inspections_shed
        ));
    }
    if let Some(e) = &s.stopped_early {
        lines.push(format!("warning: reading stopped early: {e}"));
    }
    lines
}
