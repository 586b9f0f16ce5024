//! Paged queries with keyset pagination.
//!
//! Results come newest first, ordered by `(time, kind, rowid)`; a [`Cursor`]
//! is that key of the last row returned, and the next page starts strictly
//! below it. Unlike OFFSET this costs the same on page 1000 as on page 1 and
//! does not skip or repeat rows when the writer inserts meanwhile.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use rusqlite::types::Value;
use rusqlite::{Connection, params, params_from_iter};
use serde::Serialize;

use crate::codec::{self, ALERT_COLS, DNS_COLS, FLOW_COLS};
use crate::digest::FlowTotals;
use crate::error::{Result, StoreError};
use crate::flow_parts;
use crate::rows::{AlertRow, AlertState, DnsRow, FlowRow, Severity};
use crate::schema::{ip_to_blob, subdomain_bounds};
use crate::store::{Store, TimeWindow};

/// Rows per page when the query does not say.
pub const DEFAULT_PAGE: usize = 100;
/// Largest page served, whatever the query asks.
pub const MAX_PAGE: usize = 10_000;

const KIND_FLOW: u8 = 0;
const KIND_DNS: u8 = 1;
const KIND_ALERT: u8 = 2;

/// Where the next page starts. Opaque: pass back what [`Page::next`] gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    ts: u64,
    kind: u8,
    id: i64,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}.{}.{:x}", self.ts, self.kind, self.id)
    }
}

impl FromStr for Cursor {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        let mut it = s.split('.');
        let (Some(ts), Some(kind), Some(id), None) = (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(StoreError::BadCursor);
        };
        Ok(Cursor {
            ts: u64::from_str_radix(ts, 16).map_err(|_| StoreError::BadCursor)?,
            kind: kind.parse().map_err(|_| StoreError::BadCursor)?,
            id: i64::from_str_radix(id, 16).map_err(|_| StoreError::BadCursor)?,
        })
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    /// The rows, newest first.
    pub items: Vec<T>,
    /// Cursor for the next page; `None` on the last page.
    #[serde(serialize_with = "ser_cursor")]
    pub next: Option<Cursor>,
}

fn ser_cursor<S: serde::Serializer>(c: &Option<Cursor>, s: S) -> Result<S::Ok, S::Error> {
    match c {
        Some(c) => s.serialize_some(&c.to_string()),
        None => s.serialize_none(),
    }
}

/// Filters shared by the paged queries; unset filters match everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// Domain, subdomains included (label boundary respected).
    pub domain: Option<String>,
    /// App uid.
    pub app_uid: Option<u32>,
    /// Either endpoint of a flow; client or server of a DNS transaction.
    pub ip: Option<IpAddr>,
    /// Inclusive lower time bound (µs).
    pub since_us: Option<u64>,
    /// Exclusive upper time bound (µs).
    pub until_us: Option<u64>,
    /// IP protocol number (flows; DNS maps 6/17 to its transport).
    pub proto: Option<u8>,
    /// Alert severity.
    pub severity: Option<Severity>,
    /// Alert state.
    pub state: Option<AlertState>,
    /// Page size (default [`DEFAULT_PAGE`], capped at [`MAX_PAGE`]).
    pub limit: Option<usize>,
    /// Continue after this cursor.
    pub after: Option<Cursor>,
}

impl Query {
    /// Matches everything.
    pub fn new() -> Self {
        Self::default()
    }
    /// Filter by domain, subdomains included.
    pub fn domain(mut self, d: impl Into<String>) -> Self {
        self.domain = Some(d.into());
        self
    }
    /// Filter by app uid.
    pub fn app(mut self, uid: u32) -> Self {
        self.app_uid = Some(uid);
        self
    }
    /// Filter by address.
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip);
        self
    }
    /// Filter by `[since_us, until_us)`.
    pub fn window(mut self, w: TimeWindow) -> Self {
        self.since_us = Some(w.since_us);
        self.until_us = Some(w.until_us);
        self
    }
    /// Filter by IP protocol.
    pub fn proto(mut self, p: u8) -> Self {
        self.proto = Some(p);
        self
    }
    /// Filter alerts by severity.
    pub fn severity(mut self, s: Severity) -> Self {
        self.severity = Some(s);
        self
    }
    /// Filter alerts by state.
    pub fn state(mut self, s: AlertState) -> Self {
        self.state = Some(s);
        self
    }
    /// Page size.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }
    /// Continue after `c`.
    pub fn after(mut self, c: Option<Cursor>) -> Self {
        self.after = c;
        self
    }

    fn page_size(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)
    }
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Accumulates `AND` clauses and their parameters.
///
/// Equality filters are written `col IN (?n)`, not `col = ?n`: SQLite plans
/// both the same, but with `= ?` and an `ORDER BY ... LIMIT` it marks the
/// statement as depending on the bound value and compiles it again on every
/// execution (measured with `StatementStatus::RePrepare`: once per run; for
/// the flow page query that was about 60 µs of a 340 µs query).
#[derive(Default)]
struct Where {
    sql: String,
    args: Vec<Value>,
}

impl Where {
    fn push(&mut self, clause: &str, args: impl IntoIterator<Item = Value>) {
        self.sql.push_str(" AND ");
        self.sql.push_str(clause);
        self.args.extend(args);
    }

    fn next(&self) -> usize {
        self.args.len() + 1
    }

    /// `broad`: the name matches so many rows that walking the time index
    /// newest-first and filtering finds a page sooner than collecting and
    /// sorting every match from the name index. The unary `+` stops SQLite
    /// from using the name index for the term, so it picks an index that
    /// already yields `ORDER BY time DESC` and stops at the LIMIT.
    fn domain(&mut self, col: &str, domain: &str, broad: bool) {
        let (exact, lo, hi) = subdomain_bounds(domain);
        let i = self.next();
        let c = if broad {
            format!("+{col}")
        } else {
            col.to_string()
        };
        self.push(
            &format!(
                "({c} IN (?{i}) OR ({c} >= ?{} AND {c} < ?{}))",
                i + 1,
                i + 2
            ),
            [Value::Text(exact), Value::Text(lo), Value::Text(hi)],
        );
    }

    fn window(&mut self, col: &str, q: &Query) {
        if let Some(s) = q.since_us {
            let i = self.next();
            self.push(&format!("{col} >= ?{i}"), [Value::Integer(i64_of(s))]);
        }
        if let Some(u) = q.until_us {
            let i = self.next();
            self.push(&format!("{col} < ?{i}"), [Value::Integer(i64_of(u))]);
        }
    }

    /// Rows strictly below the cursor in `(ts, kind, id)` order, written so
    /// that the per-table kind constant folds away and the time index serves.
    fn keyset(&mut self, ts_col: &str, id_col: &str, kind: u8, c: Option<Cursor>) {
        let Some(c) = c else { return };
        let i = self.next();
        let ts = Value::Integer(i64_of(c.ts));
        match kind.cmp(&c.kind) {
            std::cmp::Ordering::Less => self.push(&format!("{ts_col} <= ?{i}"), [ts]),
            std::cmp::Ordering::Greater => self.push(&format!("{ts_col} < ?{i}"), [ts]),
            std::cmp::Ordering::Equal => self.push(
                &format!("({ts_col}, {id_col}) < (?{i}, ?{})", i + 1),
                [ts, Value::Integer(c.id)],
            ),
        }
    }
}

/// Matches above which a domain filter counts as broad (see [`Where::domain`]).
/// Sorting this many rows costs about what scanning the time index for a
/// page costs when one row in 250 of a million matches.
const BROAD_MATCHES: u32 = 4_096;

/// Whether `domain` (with subdomains) matches at least [`BROAD_MATCHES`] rows
/// of `table`: a count over the name index that stops at the threshold.
fn domain_is_broad(conn: &Connection, table: &str, col: &str, domain: &str) -> Result<bool> {
    let (exact, lo, hi) = subdomain_bounds(domain);
    let sql = format!(
        "SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {col} = ?1 OR \
         ({col} >= ?2 AND {col} < ?3) LIMIT {BROAD_MATCHES})"
    );
    let n: u32 = conn
        .prepare_cached(&sql)?
        .query_row(params![exact, lo, hi], |r| r.get(0))?;
    Ok(n >= BROAD_MATCHES)
}

fn flow_where(q: &Query, broad_domain: bool) -> Where {
    let mut w = Where::default();
    if let Some(d) = &q.domain {
        w.domain("rev_name", d, broad_domain);
    }
    if let Some(a) = q.app_uid {
        let i = w.next();
        w.push(
            &format!("app_uid IN (?{i})"),
            [Value::Integer(i64::from(a))],
        );
    }
    if let Some(ip) = q.ip {
        let i = w.next();
        // Two equality probes the planner turns into a union of two index
        // lookups (flows_resp_h, flows_orig_h).
        w.push(
            &format!("(resp_h IN (?{i}) OR orig_h IN (?{}))", i + 1),
            [Value::Blob(ip_to_blob(ip)), Value::Blob(ip_to_blob(ip))],
        );
    }
    w.window("first_us", q);
    if let Some(p) = q.proto {
        let i = w.next();
        w.push(&format!("proto IN (?{i})"), [Value::Integer(i64::from(p))]);
    }
    w
}

fn dns_where(q: &Query, broad_domain: bool) -> Where {
    let mut w = Where::default();
    if let Some(d) = &q.domain {
        w.domain("rev_query", d, broad_domain);
    }
    if let Some(a) = q.app_uid {
        let i = w.next();
        w.push(
            &format!("app_uid IN (?{i})"),
            [Value::Integer(i64::from(a))],
        );
    }
    if let Some(ip) = q.ip {
        let i = w.next();
        w.push(
            &format!("(server_h IN (?{i}) OR client_h IN (?{}))", i + 1),
            [Value::Blob(ip_to_blob(ip)), Value::Blob(ip_to_blob(ip))],
        );
    }
    w.window("ts_us", q);
    if let Some(p) = q.proto {
        let t = match p {
            6 => "tcp",
            17 => "udp",
            _ => "-",
        };
        let i = w.next();
        w.push(&format!("transport IN (?{i})"), [Value::Text(t.into())]);
    }
    w
}

fn alert_where(q: &Query) -> Where {
    let mut w = Where::default();
    if let Some(d) = &q.domain {
        // Alerts are few; the name index is always the better start.
        w.domain("rev_domain", d, false);
    }
    if let Some(a) = q.app_uid {
        let i = w.next();
        w.push(
            &format!("app_uid IN (?{i})"),
            [Value::Integer(i64::from(a))],
        );
    }
    if let Some(s) = q.severity {
        let i = w.next();
        w.push(&format!("severity IN (?{i})"), [Value::Integer(s.code())]);
    }
    if let Some(s) = q.state {
        let i = w.next();
        w.push(&format!("state IN (?{i})"), [Value::Integer(s.code())]);
    }
    w.window("ts_us", q);
    w
}

/// The page query for flows in `table` (a partition, or the `flows` view)
/// and its arguments.
fn flow_sql(
    conn: &Connection,
    table: &str,
    q: &Query,
    after: Option<Cursor>,
    n: usize,
) -> Result<(String, Where)> {
    let broad = match &q.domain {
        Some(d) => domain_is_broad(conn, table, "rev_name", d)?,
        None => false,
    };
    let mut w = flow_where(q, broad);
    w.keyset("first_us", "id", KIND_FLOW, after);
    let sql = format!(
        "SELECT {FLOW_COLS} FROM {table} WHERE 1{} ORDER BY first_us DESC, id DESC LIMIT {n}",
        w.sql
    );
    Ok((sql, w))
}

fn fetch_flows_in(
    conn: &Connection,
    table: &str,
    q: &Query,
    after: Option<Cursor>,
    n: usize,
) -> Result<Vec<FlowRow>> {
    let (sql, w) = flow_sql(conn, table, q, after, n)?;
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map(params_from_iter(w.args.iter()), codec::read_flow)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The first `n` flows matching `q` below `after`, newest first.
///
/// Partition by partition, the one with the newest flow first, rather than
/// through the `flows` view: a page usually comes whole from the newest
/// partition, and a partition whose newest flow is older than the page's
/// last row cannot change the page, so the walk stops there. The view would
/// walk an index in every partition. A partition's span only shrinks once
/// it is no longer the newest (inserts go to the newest), so the spans read
/// here are safe bounds.
fn fetch_flows(
    conn: &Connection,
    q: &Query,
    after: Option<Cursor>,
    n: usize,
) -> Result<Vec<FlowRow>> {
    let mut spans = Vec::new();
    for p in flow_parts::list(conn)? {
        if let Some((lo, hi)) = flow_parts::time_range(conn, p.part)? {
            spans.push((p.part, lo, hi));
        }
    }
    spans.sort_by_key(|s| std::cmp::Reverse(s.2));
    let mut out: Vec<FlowRow> = Vec::new();
    for (part, lo, hi) in spans {
        let outside = q.since_us.is_some_and(|s| hi < s)
            || q.until_us.is_some_and(|u| lo >= u)
            // Every row is above the cursor (keyset rows have first_us <= its ts).
            || after.is_some_and(|c| lo > c.ts);
        if outside {
            continue;
        }
        if out.len() >= n && out.last().is_some_and(|last| hi < last.first_us) {
            break;
        }
        out.extend(fetch_flows_in(conn, &flow_parts::table(part), q, after, n)?);
        out.sort_by_key(|f| std::cmp::Reverse((f.first_us, f.id)));
        out.truncate(n);
    }
    Ok(out)
}

fn fetch_dns(
    conn: &Connection,
    q: &Query,
    after: Option<Cursor>,
    n: usize,
) -> Result<Vec<(i64, DnsRow)>> {
    let broad = match &q.domain {
        Some(d) => domain_is_broad(conn, "dns", "rev_query", d)?,
        None => false,
    };
    let mut w = dns_where(q, broad);
    w.keyset("ts_us", "seq", KIND_DNS, after);
    let sql = format!(
        "SELECT {DNS_COLS} FROM dns WHERE 1{} ORDER BY ts_us DESC, seq DESC LIMIT {n}",
        w.sql
    );
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map(params_from_iter(w.args.iter()), codec::read_dns)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn fetch_alerts(
    conn: &Connection,
    q: &Query,
    after: Option<Cursor>,
    n: usize,
) -> Result<Vec<AlertRow>> {
    let mut w = alert_where(q);
    w.keyset("ts_us", "id", KIND_ALERT, after);
    let sql = format!(
        "SELECT {ALERT_COLS} FROM alerts WHERE 1{} ORDER BY ts_us DESC, id DESC LIMIT {n}",
        w.sql
    );
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map(params_from_iter(w.args.iter()), codec::read_alert)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Cuts a `n + 1` fetch down to a page and its cursor.
fn paginate<T>(mut items: Vec<T>, n: usize, key: impl Fn(&T) -> Cursor) -> Page<T> {
    let more = items.len() > n;
    items.truncate(n);
    let next = if more { items.last().map(key) } else { None };
    Page { items, next }
}

fn flow_cursor(f: &FlowRow) -> Cursor {
    Cursor {
        ts: f.first_us,
        kind: KIND_FLOW,
        id: i64_of(f.id),
    }
}

fn alert_cursor(a: &AlertRow) -> Cursor {
    Cursor {
        ts: a.ts_us,
        kind: KIND_ALERT,
        id: i64_of(a.id),
    }
}

/// One entry of an app timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TimelineItem {
    /// A flow (at its first packet).
    Flow(FlowRow),
    /// A DNS transaction.
    Dns(DnsRow),
    /// An alert.
    Alert(AlertRow),
}

impl TimelineItem {
    /// When it happened.
    pub fn ts_us(&self) -> u64 {
        match self {
            TimelineItem::Flow(f) => f.first_us,
            TimelineItem::Dns(d) => d.ts_us,
            TimelineItem::Alert(a) => a.ts_us,
        }
    }
}

/// What [`Store::top_talkers`] groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TalkerGroup {
    /// Per app.
    App,
    /// Per flow name (domain).
    Domain,
    /// Per (app, domain) pair.
    AppDomain,
}

/// One row of a top-talkers list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Talker {
    /// App (when grouped by app).
    pub app_uid: Option<u32>,
    /// App name seen on its flows.
    pub app_name: Option<String>,
    /// Domain (when grouped by domain).
    pub domain: Option<String>,
    /// Flows.
    pub flows: u64,
    /// IP bytes sent by the device.
    pub bytes_out: u64,
    /// IP bytes received.
    pub bytes_in: u64,
}

impl Talker {
    /// Both directions.
    pub fn bytes(&self) -> u64 {
        self.bytes_out + self.bytes_in
    }
}

/// Counts over a window.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Summary {
    /// Flows.
    pub flows: u64,
    /// DNS transactions.
    pub dns: u64,
    /// Alerts.
    pub alerts: u64,
    /// Alerts per severity name.
    pub alerts_by_severity: BTreeMap<String, u64>,
    /// Distinct apps with flows.
    pub apps: u64,
    /// Distinct flow names (case-insensitive, trailing dot ignored).
    pub domains: u64,
    /// IP bytes sent.
    pub bytes_out: u64,
    /// IP bytes received.
    pub bytes_in: u64,
}

impl Store {
    /// Flows matching `q`, newest first.
    pub fn flows(&self, q: &Query) -> Result<Page<FlowRow>> {
        let n = q.page_size();
        let items = fetch_flows(&self.conn, q, q.after, n + 1)?;
        Ok(paginate(items, n, flow_cursor))
    }

    /// DNS transactions matching `q`, newest first.
    pub fn dns(&self, q: &Query) -> Result<Page<DnsRow>> {
        let n = q.page_size();
        let items = fetch_dns(&self.conn, q, q.after, n + 1)?;
        let page = paginate(items, n, |(seq, d)| Cursor {
            ts: d.ts_us,
            kind: KIND_DNS,
            id: *seq,
        });
        Ok(Page {
            items: page.items.into_iter().map(|(_, d)| d).collect(),
            next: page.next,
        })
    }

    /// Alerts matching `q` (severity, state, app, domain, window), newest first.
    pub fn alerts(&self, q: &Query) -> Result<Page<AlertRow>> {
        let n = q.page_size();
        let items = fetch_alerts(&self.conn, q, q.after, n + 1)?;
        Ok(paginate(items, n, alert_cursor))
    }

    /// Flows, DNS and alerts of one app merged by time, newest first. The
    /// other filters of `q` apply to each kind where they make sense.
    pub fn timeline(&self, app_uid: u32, q: &Query) -> Result<Page<TimelineItem>> {
        let n = q.page_size();
        let q = q.clone().app(app_uid);
        // Each source is fetched n + 1 deep; the merge can take at most n + 1
        // from any one of them, so the page and its "more" flag are exact.
        let flows = fetch_flows(&self.conn, &q, q.after, n + 1)?;
        let dns = fetch_dns(&self.conn, &q, q.after, n + 1)?;
        let alerts = fetch_alerts(&self.conn, &q, q.after, n + 1)?;
        let mut all: Vec<(Cursor, TimelineItem)> = Vec::with_capacity(3 * (n + 1));
        all.extend(
            flows
                .into_iter()
                .map(|f| (flow_cursor(&f), TimelineItem::Flow(f))),
        );
        all.extend(dns.into_iter().map(|(seq, d)| {
            (
                Cursor {
                    ts: d.ts_us,
                    kind: KIND_DNS,
                    id: seq,
                },
                TimelineItem::Dns(d),
            )
        }));
        all.extend(
            alerts
                .into_iter()
                .map(|a| (alert_cursor(&a), TimelineItem::Alert(a))),
        );
        all.sort_by_key(|(c, _)| std::cmp::Reverse((c.ts, c.kind, c.id)));
        let page = paginate(all, n, |(c, _)| *c);
        Ok(Page {
            items: page.items.into_iter().map(|(_, i)| i).collect(),
            next: page.next,
        })
    }

    /// The `limit` biggest talkers by bytes (both directions) over flows
    /// that started in `window`.
    pub fn top_talkers(
        &self,
        group: TalkerGroup,
        window: TimeWindow,
        limit: usize,
    ) -> Result<Vec<Talker>> {
        let (by, app_col, dom_col) = match group {
            TalkerGroup::App => ("app_uid", "app_uid", "NULL"),
            TalkerGroup::Domain => ("lower(name)", "NULL", "lower(name)"),
            TalkerGroup::AppDomain => ("app_uid, lower(name)", "app_uid", "lower(name)"),
        };
        let sql = format!(
            "SELECT {app_col}, max(app_name), {dom_col}, count(*), \
             sum(orig_ip_bytes), sum(resp_ip_bytes) FROM flows \
             WHERE first_us >= ?1 AND first_us < ?2 GROUP BY {by} \
             ORDER BY sum(orig_ip_bytes) + sum(resp_ip_bytes) DESC LIMIT ?3"
        );
        let (s, u) = window.bounds();
        let mut st = self.conn.prepare_cached(&sql)?;
        let limit = i64::try_from(limit.min(MAX_PAGE)).unwrap_or(0);
        let rows = st.query_map(params![s, u, limit], |r| {
            Ok(Talker {
                app_uid: r.get(0)?,
                app_name: if group == TalkerGroup::Domain {
                    None
                } else {
                    r.get(1)?
                },
                domain: r.get(2)?,
                flows: r.get(3)?,
                bytes_out: r.get(4)?,
                bytes_in: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Counts over `window`.
    pub fn summary(&self, window: TimeWindow) -> Result<Summary> {
        let (s, u) = window.bounds();
        let totals = self.conn.query_row(
            "SELECT count(*), count(DISTINCT app_uid), count(DISTINCT rev_name), \
             coalesce(sum(orig_ip_bytes), 0), coalesce(sum(resp_ip_bytes), 0) FROM flows \
             WHERE first_us >= ?1 AND first_us < ?2",
            params![s, u],
            |r| {
                Ok(FlowTotals {
                    flows: r.get(0)?,
                    apps: r.get(1)?,
                    domains: r.get(2)?,
                    bytes_out: r.get(3)?,
                    bytes_in: r.get(4)?,
                })
            },
        )?;
        self.summary_from(window, totals)
    }

    /// [`Store::summary`] with the flow totals already counted (by
    /// [`Store::flow_digest`]): only the DNS and alert counts are read.
    pub fn summary_from(&self, window: TimeWindow, totals: FlowTotals) -> Result<Summary> {
        let (s, u) = window.bounds();
        let dns: u64 = self.conn.query_row(
            "SELECT count(*) FROM dns WHERE ts_us >= ?1 AND ts_us < ?2",
            params![s, u],
            |r| r.get(0),
        )?;
        let mut by_sev = BTreeMap::new();
        let mut alerts = 0;
        let mut st = self.conn.prepare_cached(
            "SELECT severity, count(*) FROM alerts WHERE ts_us >= ?1 AND ts_us < ?2 \
             GROUP BY severity",
        )?;
        let rows = st.query_map(params![s, u], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, u64>(1)?))
        })?;
        for row in rows {
            let (code, n) = row?;
            alerts += n;
            let name = Severity::from_code(code).map_or("unknown", Severity::as_str);
            *by_sev.entry(name.to_string()).or_insert(0) += n;
        }
        Ok(Summary {
            flows: totals.flows,
            dns,
            alerts,
            alerts_by_severity: by_sev,
            apps: totals.apps,
            domains: totals.domains,
            bytes_out: totals.bytes_out,
            bytes_in: totals.bytes_in,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::codec::{FlowInserter, insert_flow};

    fn flow(id: u64, name: &str) -> FlowRow {
        FlowRow {
            id,
            uid: format!("C{id}"),
            app_uid: Some(1),
            app_name: None,
            proto: 6,
            orig_h: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            orig_p: 40_000,
            resp_h: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            resp_p: 443,
            // Not in id order, so time order and rowid order differ.
            first_us: 1_000_000 + (id * 7_919) % 10_007,
            last_us: 2_000_000,
            orig_pkts: 1,
            resp_pkts: 1,
            orig_ip_bytes: 60,
            resp_ip_bytes: 60,
            conn_state: "SF".into(),
            community_id: None,
            name: Some(name.into()),
            name_source: Some("sni".into()),
            sni: Some(name.into()),
            alpn: None,
            ja4: None,
            http_host: None,
            ech: false,
            end_reason: "fin".into(),
            tunnel: None,
        }
    }

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrations::migrate(&mut conn).unwrap();
        let tx = conn.transaction().unwrap();
        let broad = u64::from(BROAD_MATCHES) + 500;
        let rows: Vec<FlowRow> = (0..broad)
            .map(|id| flow(id, &format!("h{}.wide.example", id % 5)))
            .chain((broad..broad + 40).map(|id| flow(id, "a.narrow.example")))
            .chain((broad + 40..broad + 80).map(|id| flow(id, "notwide.example")))
            .collect();
        // Small partitions, so every query below merges several of them.
        let mut ins = FlowInserter::new(&tx, 1_000);
        for f in &rows {
            ins.push(f).unwrap();
        }
        ins.finish().unwrap();
        // A re-emitted id, once more through the one-row path.
        insert_flow(&tx, rows.get(7).unwrap()).unwrap();
        tx.commit().unwrap();
        assert_eq!(crate::flow_parts::list(&conn).unwrap().len(), 5);
        conn
    }

    fn plan(conn: &Connection, q: &Query) -> String {
        let (sql, w) = flow_sql(conn, "flows", q, None, 101).unwrap();
        let mut st = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = st
            .query_map(params_from_iter(w.args.iter()), |r| r.get::<_, String>(3))
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    }

    /// Every page, keyset-paged, newest first.
    fn all_ids(conn: &Connection, domain: &str) -> Vec<u64> {
        let q = Query::new().domain(domain).limit(700);
        let mut after = None;
        let mut ids = Vec::new();
        loop {
            let items = fetch_flows(conn, &q, after, 701).unwrap();
            let page = paginate(items, 700, flow_cursor);
            ids.extend(page.items.iter().map(|f| f.id));
            match page.next {
                Some(c) => after = Some(c),
                None => return ids,
            }
        }
    }

    fn expected(conn: &Connection, domain: &str) -> Vec<u64> {
        let mut all: Vec<FlowRow> = fetch_flows(conn, &Query::new(), None, 100_000).unwrap();
        let (exact, lo, hi) = subdomain_bounds(domain);
        all.retain(|f| {
            let r = crate::schema::reverse_name(f.name.as_deref().unwrap());
            r == exact || (r >= lo && r < hi)
        });
        all.iter().map(|f| f.id).collect()
    }

    #[test]
    fn broad_parent_walks_the_time_index_without_sorting() {
        let conn = db();
        assert!(domain_is_broad(&conn, "flows", "rev_name", "wide.example").unwrap());
        assert!(!domain_is_broad(&conn, "flows", "rev_name", "narrow.example").unwrap());

        // Partition 1 keeps the v5 index names, partition k has flows_pk_*.
        let broad = plan(&conn, &Query::new().domain("wide.example"));
        assert!(broad.contains("MERGE"), "{broad}");
        assert!(broad.contains("flows_time"), "{broad}");
        assert!(broad.contains("flows_p5_time"), "{broad}");
        assert!(!broad.contains("TEMP B-TREE"), "{broad}");
        let narrow = plan(&conn, &Query::new().domain("narrow.example"));
        assert!(narrow.contains("flows_rev_name"), "{narrow}");
        assert!(narrow.contains("flows_p5_rev_name"), "{narrow}");
    }

    #[test]
    fn page_statements_are_not_compiled_again_on_every_run() {
        let conn = db();
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        for q in [
            Query::new().domain("narrow.example"),
            Query::new().domain("wide.example"),
            Query::new().app(1).proto(6),
            Query::new().ip(ip),
        ] {
            let (sql, w) = flow_sql(&conn, "flows_p5", &q, None, 101).unwrap();
            for _ in 0..3 {
                let mut st = conn.prepare_cached(&sql).unwrap();
                let rows = st.query_map(params_from_iter(w.args.iter()), |_| Ok(()));
                assert!(rows.unwrap().count() > 0, "{q:?}");
            }
            let st = conn.prepare_cached(&sql).unwrap();
            assert_eq!(
                st.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "{sql}"
            );
        }
    }

    #[test]
    fn both_plans_return_the_same_rows_in_the_same_order() {
        let conn = db();
        for domain in [
            "wide.example",
            "narrow.example",
            "h3.wide.example",
            "example",
        ] {
            let got = all_ids(&conn, domain);
            let want = expected(&conn, domain);
            assert!(!want.is_empty(), "{domain}");
            assert_eq!(got, want, "{domain}");
        }
        // The label boundary holds on the broad path too.
        assert!(
            all_ids(&conn, "wide.example")
                .iter()
                .all(|id| *id < u64::from(BROAD_MATCHES) + 500)
        );
    }
}
