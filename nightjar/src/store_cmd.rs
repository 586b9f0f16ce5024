//! `nightjar query`, `nightjar export` and `nightjar coverage` over a database
//! written by `replay --db` (or by the app through the bindings).

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use nightjar_store::export::Table as ExportTable;
use nightjar_store::export::zeek::ZeekLog;
use nightjar_store::{Cursor, Query, Store, TalkerGroup, TimeWindow};
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
