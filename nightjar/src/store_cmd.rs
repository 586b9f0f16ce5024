//! `nightjar query`, `nightjar export` (pcap too), `nightjar coverage` and
//! `nightjar intel recheck` over a database written by `replay --db` (or by
//! the app through the bindings).

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use nightjar_store::export::Table as ExportTable;
use nightjar_store::export::zeek::ZeekLog;
use nightjar_store::export::{PcapExport, PcapSelection};
use nightjar_store::recheck::{RecheckLimits, RecheckOutcome};
use nightjar_store::{Cursor, FeedRow, Query, Store, TalkerGroup, TimeWindow};
use serde::Serialize;

use crate::error::CliError;

/// Filters common to the queries.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Domain, subdomains included.
    pub domain: Option<String>,
    /// App uid.
    pub app: Option<u32>,
    /// An address (either side).
    pub ip: Option<IpAddr>,
    /// IP protocol number.
    pub proto: Option<u8>,
    /// Start of the window, µs since the epoch.
    pub since_us: Option<u64>,
    /// End of the window (exclusive).
    pub until_us: Option<u64>,
    /// Rows per page.
    pub limit: usize,
    /// Continue after this cursor (printed at the end of the previous page).
    pub cursor: Option<String>,
}

impl Filters {
    /// The time window (everything when open-ended).
    pub fn window(&self) -> TimeWindow {
        TimeWindow::new(
            self.since_us.unwrap_or(0),
            self.until_us.unwrap_or(u64::MAX),
        )
    }

    fn query(&self) -> Result<Query, CliError> {
        let mut q = Query::new().window(self.window()).limit(self.limit.max(1));
        if let Some(d) = &self.domain {
            q = q.domain(d.clone());
        }
        if let Some(a) = self.app {
            q = q.app(a);
        }
        if let Some(ip) = self.ip {
            q = q.ip(ip);
        }
        if let Some(p) = self.proto {
            q = q.proto(p);
        }
        let cursor = match &self.cursor {
            Some(c) => Some(
                c.parse::<Cursor>()
                    .map_err(|_| CliError::BadCursor(c.clone()))?,
            ),
            None => None,
        };
        Ok(q.after(cursor))
    }
}

/// What `nightjar query` can list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// Flows.
    Flows,
    /// DNS transactions.
    Dns,
    /// Alerts.
    Alerts,
    /// The top talkers by app.
    TopApps,
    /// The top talkers by domain.
    TopDomains,
    /// Summary counts.
    Summary,
}

fn open(db: &Path) -> Result<Store, CliError> {
    if !db.exists() {
        return Err(CliError::Io {
            path: db.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such database"),
        });
    }
    Ok(Store::open_reader(
        db,
        std::time::Duration::from_millis(500),
    )?)
}

fn lines<T: Serialize>(out: &mut impl Write, rows: &[T]) -> Result<(), CliError> {
    for r in rows {
        serde_json::to_writer(&mut *out, r).map_err(|e| CliError::Stdout(e.into()))?;
        out.write_all(b"\n").map_err(CliError::Stdout)?;
    }
    Ok(())
}

/// Run a query, writing JSON lines to `out`; a page's continuation cursor goes
/// last as `{"next": "…"}` so scripts can page through.
pub fn query(db: &Path, what: Listing, f: &Filters, out: &mut impl Write) -> Result<(), CliError> {
    let store = open(db)?;
    let q = f.query()?;
    let next = match what {
        Listing::Flows => {
            let page = store.flows(&q)?;
            lines(out, &page.items)?;
            page.next
        }
        Listing::Dns => {
            let page = store.dns(&q)?;
            lines(out, &page.items)?;
            page.next
        }
        Listing::Alerts => {
            let page = store.alerts(&q)?;
            lines(out, &page.items)?;
            page.next
        }
        Listing::TopApps | Listing::TopDomains => {
            let group = if what == Listing::TopApps {
                TalkerGroup::App
            } else {
                TalkerGroup::Domain
            };
            lines(out, &store.top_talkers(group, f.window(), f.limit.max(1))?)?;
            None
        }
        Listing::Summary => {
            lines(out, &[store.summary(f.window())?])?;
            None
        }
    };
    if let Some(c) = next {
        lines(out, &[serde_json::json!({ "next": c.to_string() })])?;
    }
    Ok(())
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Zeek JSON lines.
    Zeek,
    /// OCSF 1.x events, one JSON object per line.
    Ocsf,
    /// CSV with a header row.
    Csv,
}

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataset {
    /// Flows (conn.log / Network Activity).
    Conn,
    /// DNS (dns.log / DNS Activity).
    Dns,
    /// TLS hellos recorded with flows (ssl.log).
    Ssl,
    /// QUIC hellos recorded with flows (quic.log).
    Quic,
    /// HTTP hosts recorded with flows (http.log).
    Http,
    /// Alerts (alerts.log / Detection Finding).
    Alerts,
}

/// Export `data` in `format`; returns the number of records written.
pub fn export(
    db: &Path,
    format: Format,
    data: Dataset,
    f: &Filters,
    out: &mut impl Write,
) -> Result<u64, CliError> {
    let store = open(db)?;
    // Exports stream every matching row, page by page inside the store.
    let q = Filters {
        limit: usize::MAX,
        cursor: None,
        ..f.clone()
    }
    .query()?;
    let table = match data {
        Dataset::Dns => ExportTable::Dns,
        Dataset::Alerts => ExportTable::Alerts,
        _ => ExportTable::Flows,
    };
    Ok(match format {
        Format::Zeek => {
            let log = match data {
                Dataset::Conn => ZeekLog::Conn,
                Dataset::Dns => ZeekLog::Dns,
                Dataset::Ssl => ZeekLog::Ssl,
                Dataset::Quic => ZeekLog::Quic,
                Dataset::Http => ZeekLog::Http,
                Dataset::Alerts => ZeekLog::Alerts,
            };
            store.export_zeek(log, &q, out)?
        }
        Format::Ocsf => store.export_ocsf(table, &q, out)?,
        Format::Csv => store.export_csv(table, &q, out)?,
    })
}

/// The DC0113 coverage report over a window.
pub fn coverage(db: &Path, f: &Filters, json: bool, out: &mut impl Write) -> Result<(), CliError> {
    let store = open(db)?;
    let report = store.coverage(f.window())?;
    if json {
        lines(out, &[report])
    } else {
        writeln!(out, "{report}").map_err(CliError::Stdout)
    }
}

/// `nightjar export --format pcap`: the saved packets of one alert's flows,
/// or of every alert's, as a raw-IP pcap.
pub fn export_pcap(
    db: &Path,
    selection: PcapSelection,
    out: &mut impl Write,
) -> Result<PcapExport, CliError> {
    let store = open(db)?;
    Ok(store.export_pcap(selection, out)?)
}

/// Rows below which a re-check finishes too fast to need a bar.
const RECHECK_BAR_MIN_ROWS: u64 = 200_000;

/// `nightjar intel recheck` (and `intel compile --db`): re-check the flows
/// and DNS in `window` against the compiled index at `index`, raising
/// retroactive alerts, and record the index's feeds in the database.
/// Returns the report printed to the user.
pub fn recheck(
    db: &Path,
    index: &Path,
    window: TimeWindow,
    now_us: u64,
    progress: bool,
    feeds: &[FeedRow],
) -> Result<String, CliError> {
    let store = open(db)?;
    let idx = nightjar_intel::Index::open(index)?;
    for f in feeds {
        store.record_feed(f)?;
    }
    let mut bar: Option<ProgressBar> = None;
    let mut report = |p: nightjar_store::recheck::RecheckProgress| {
        if !progress || p.total < RECHECK_BAR_MIN_ROWS {
            return;
        }
        let b = bar.get_or_insert_with(|| {
            let b = ProgressBar::new(p.total);
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} re-checking [{bar:40}] {pos}/{len} rows ({per_sec}, {eta} left)",
            ) {
                b.set_style(style.progress_chars("=> "));
            }
            b
        });
        b.set_position(p.done);
    };
    let out = store.recheck_intel(&idx, window, now_us, RecheckLimits::default(), &mut report)?;
    if let Some(b) = bar.take() {
        b.finish_and_clear();
    }
    Ok(recheck_text(db, index, &out))
}

fn recheck_text(db: &Path, index: &Path, out: &RecheckOutcome) -> String {
    let mut text = format!(
        "re-checked {} flows and {} DNS transactions in {} against {}: {} new retroactive alerts, \
         {} already raised by an earlier re-check",
        out.flows_checked,
        out.dns_checked,
        db.display(),
        index.display(),
        out.alerts.len(),
        out.duplicates
    );
    if out.hits_shed > 0 {
        text.push_str(&format!(
            ", {} more matches over the alert cap",
            out.hits_shed
        ));
    }
    for a in &out.alerts {
        let feed = a
            .provenance
            .get("feed")
            .and_then(|v| v.as_str())
            .unwrap_or("?");
        let id = a
            .provenance
            .get("indicator_id")
            .and_then(|v| v.as_str())
            .unwrap_or("?");
        let indicator = a
            .provenance
            .get("indicator")
            .and_then(|v| v.as_str())
            .unwrap_or("?");
        let app = a.app_uid.map_or_else(|| "-".to_string(), |u| u.to_string());
        text.push_str(&format!(
            "\n  alert {}: {} app {} {} ({} flows) matched {indicator} [feed {feed}, {id}]",
            a.id,
            format!("{:?}", a.severity).to_lowercase(),
            app,
            a.domain
                .clone()
                .or_else(|| a.ips.first().map(ToString::to_string))
                .unwrap_or_default(),
            a.flow_uids.len(),
        ));
    }
    text
}

/// The feeds table rows for a compiled index: name, version, indicators accepted.
pub fn feed_rows(summary: &nightjar_intel::CompileSummary, now_us: u64) -> Vec<FeedRow> {
    summary
        .feeds
        .iter()
        .map(|f| FeedRow {
            name: f.name.clone(),
            version: f.version.clone().unwrap_or_else(|| "unversioned".into()),
            loaded_us: now_us,
            indicators: f.report.accepted,
        })
        .collect()
}
