//! Aggregates for a one-page overview of a device and period (the analyst's
//! report): first contacts, alerts by severity and the most relevant
//! flows, and the row types of [`crate::digest`], which adds activity per
//! app over time, each app's top domains and the largest flows.
//!
//! Every query here returns a bounded result (top-N, fixed bins), whatever
//! the size of the database, so the page built from it stays small.

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter};
use serde::Serialize;

use crate::codec::{self, ALERT_COLS, FLOW_COLS};
use crate::error::Result;
use crate::flow_parts;
use crate::rows::{AlertRow, AppRow, DomainSeen, FlowRow};
use crate::store::{Store, TimeWindow};

/// Largest number of bins [`Store::flow_digest`] splits a window into.
pub const MAX_BINS: u32 = 2_000;
/// Largest number of rows any list here returns.
pub const MAX_ROWS: usize = 5_000;

/// Flows of one app that started in one time bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ActivityBin {
    /// App, `None` for unattributed flows.
    pub app_uid: Option<u32>,
    /// Bin number, 0 at the window start.
    pub bin: u32,
    /// Flows that started in it.
    pub flows: u64,
}

/// One app's traffic to one domain over a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainActivity {
    /// App, `None` for unattributed flows.
    pub app_uid: Option<u32>,
    /// The flow name (as first written; names compare case-insensitively).
    pub domain: String,
    /// First flow start in the window.
    pub first_us: u64,
    /// Last flow start in the window.
    pub last_us: u64,
    /// Flows.
    pub flows: u64,
    /// IP bytes, both directions.
    pub bytes: u64,
    /// IP protocol numbers seen.
    pub protos: Vec<u8>,
    /// How the name was learnt (`sni`, `quic_sni`, `http_host`, `dns`).
    pub sources: Vec<String>,
}

/// An app's first contact with a registrable domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirstContact {
    /// App.
    pub app_uid: u32,
    /// Registrable domain (eTLD+1).
    pub registrable: String,
    /// When the app first contacted it (any name under it).
    pub first_us: u64,
}

fn capped(limit: usize) -> i64 {
    i64::try_from(limit.min(MAX_ROWS)).unwrap_or(0)
}

/// `app_uid IN (?n)` when an app is asked for, else nothing.
fn app_clause(app: Option<u32>, n: usize) -> (String, Vec<Value>) {
    match app {
        Some(a) => (
            format!(" AND app_uid IN (?{n})"),
            vec![Value::Integer(i64::from(a))],
        ),
        None => (String::new(), Vec::new()),
    }
}

impl Store {
    /// The installed apps the store knows, by uid.
    pub fn apps(&self) -> Result<Vec<AppRow>> {
        let mut st = self.conn.prepare_cached(
            "SELECT uid, package, label, installed_us, updated_us FROM apps ORDER BY uid",
        )?;
        let rows = st.query_map([], |r| {
            Ok(AppRow {
                uid: r.get(0)?,
                package: r.get(1)?,
                label: r.get(2)?,
                installed_us: r.get(3)?,
                updated_us: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Earliest and latest flow start in `window`: index probes per
    /// partition, no scan.
    pub fn flow_span(&self, window: TimeWindow) -> Result<Option<(u64, u64)>> {
        let (s, u) = window.bounds();
        let mut span: Option<(u64, u64)> = None;
        for p in flow_parts::list(&self.conn)? {
            let t = flow_parts::table(p.part);
            let (lo, hi): (Option<u64>, Option<u64>) = self
                .conn
                .prepare_cached(&format!(
                    "SELECT (SELECT first_us FROM {t} WHERE first_us >= ?1 AND first_us < ?2 \
                     ORDER BY first_us LIMIT 1), (SELECT first_us FROM {t} WHERE first_us >= ?1 \
                     AND first_us < ?2 ORDER BY first_us DESC LIMIT 1)"
                ))?
                .query_row(params![s, u], |r| Ok((r.get(0)?, r.get(1)?)))?;
            if let (Some(lo), Some(hi)) = (lo, hi) {
                span = Some(match span {
                    Some((a, b)) => (a.min(lo), b.max(hi)),
                    None => (lo, hi),
                });
            }
        }
        Ok(span)
    }

    /// Each app's first contact with each registrable domain, where it
    /// falls in `window`, earliest first, at most `limit`.
    pub fn first_contacts(
        &self,
        window: TimeWindow,
        app: Option<u32>,
        limit: usize,
    ) -> Result<Vec<FirstContact>> {
        let (s, u) = window.bounds();
        let (app_sql, app_args) = match app {
            Some(a) => (
                " AND app_key IN (?4)".to_string(),
                vec![Value::Integer(i64::from(a))],
            ),
            None => (String::new(), Vec::new()),
        };
        let sql = format!(
            "SELECT app_key, registrable, min(first_us) AS first FROM domains \
             WHERE app_key >= 0{app_sql} GROUP BY app_key, registrable \
             HAVING first >= ?1 AND first < ?2 ORDER BY first LIMIT ?3"
        );
        let mut args = vec![
            Value::Integer(s),
            Value::Integer(u),
            Value::Integer(capped(limit)),
        ];
        args.extend(app_args);
        let mut st = self.conn.prepare_cached(&sql)?;
        let rows = st.query_map(params_from_iter(args.iter()), |r| {
            Ok(FirstContact {
                app_uid: r.get(0)?,
                registrable: r.get(1)?,
                first_us: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Domains `app_uid` first contacted in `window` (say, the hour after
    /// its install), earliest first, at most `limit`.
    pub fn domains_first_seen(
        &self,
        app_uid: u32,
        window: TimeWindow,
        limit: usize,
    ) -> Result<Vec<DomainSeen>> {
        let (s, u) = window.bounds();
        let mut st = self.conn.prepare_cached(
            "SELECT domain, registrable, app_key, first_us, last_us, count FROM domains \
             WHERE app_key = ?1 AND first_us >= ?2 AND first_us < ?3 \
             ORDER BY first_us LIMIT ?4",
        )?;
        let rows = st.query_map(
            params![i64::from(app_uid), s, u, capped(limit)],
            codec::read_domain,
        )?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Alerts in `window`, most severe first (then highest score, newest),
    /// at most `limit`.
    pub fn alerts_by_severity(
        &self,
        window: TimeWindow,
        app: Option<u32>,
        limit: usize,
    ) -> Result<Vec<AlertRow>> {
        let (s, u) = window.bounds();
        let (app_sql, app_args) = app_clause(app, 4);
        let sql = format!(
            "SELECT {ALERT_COLS} FROM alerts WHERE ts_us >= ?1 AND ts_us < ?2{app_sql} \
             ORDER BY severity DESC, score DESC, ts_us DESC, id DESC LIMIT ?3"
        );
        let mut args = vec![
            Value::Integer(s),
            Value::Integer(u),
            Value::Integer(capped(limit)),
        ];
        args.extend(app_args);
        let mut st = self.conn.prepare_cached(&sql)?;
        let rows = st.query_map(params_from_iter(args.iter()), codec::read_alert)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The flows with these uids (at most [`MAX_ROWS`] asked), one pass.
    pub fn flows_by_uid(&self, uids: &[String]) -> Result<Vec<FlowRow>> {
        let uids: Vec<Value> = uids
            .iter()
            .take(MAX_ROWS)
            .map(|u| Value::Text(u.clone()))
            .collect();
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; uids.len()].join(",");
        let sql = format!("SELECT {FLOW_COLS} FROM flows WHERE uid IN ({marks})");
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map(params_from_iter(uids.iter()), codec::read_flow)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}
