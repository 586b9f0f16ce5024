//! Retention by age and by database size, in small bounded steps.
//!
//! Each [`step`] deletes at most `batch_rows` rows per table in one short
//! transaction (`DELETE ... WHERE rowid IN (SELECT rowid ... LIMIT n)` over the
//! time indexes), then hands at most `vacuum_pages` free pages back to the
//! file system with `PRAGMA incremental_vacuum(n)` (the file is created with
//! `auto_vacuum=INCREMENTAL`). No step holds the write lock long enough to
//! stall the writer thread; callers loop until [`RetentionReport::more`] is
//! false.

use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, TransactionBehavior, params};
use serde::Serialize;

use crate::error::Result;
use crate::flow_parts;

/// Time source, injectable so tests drive retention with a fake clock.
pub trait Clock {
    /// Microseconds since the Unix epoch.
    fn now_us(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_us(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

/// What to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Rows older than this (by start time; by last sighting for domains) go.
    pub max_age_us: Option<u64>,
    /// Above this many live bytes (`(page_count - freelist_count) * page_size`)
    /// the oldest flows and DNS rows go. Alerts, apps, feeds and state are
    /// small and worth more, so size pressure never deletes them.
    pub max_db_bytes: Option<u64>,
    /// Rows deleted per table per step.
    pub batch_rows: u32,
    /// Pages handed back per step.
    pub vacuum_pages: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            max_age_us: Some(30 * 24 * 3600 * 1_000_000),
            max_db_bytes: Some(256 * 1024 * 1024),
            batch_rows: 2_000,
            vacuum_pages: 512,
        }
    }
}

/// What one step (or a sequence of steps) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct RetentionReport {
    /// Flows deleted.
    pub deleted_flows: u64,
    /// DNS rows deleted.
    pub deleted_dns: u64,
    /// Alerts deleted.
    pub deleted_alerts: u64,
    /// Domain sightings deleted.
    pub deleted_domains: u64,
    /// Saved packets of alerted flows deleted.
    pub deleted_packets: u64,
    /// Pages returned to the file system.
    pub pages_freed: u64,
    /// Steps run.
    pub steps: u64,
    /// `page_count * page_size` after the last step.
    pub db_bytes: u64,
    /// Another step has work to do.
    pub more: bool,
}

impl RetentionReport {
    /// All rows deleted.
    pub fn deleted_total(&self) -> u64 {
        self.deleted_flows
            + self.deleted_dns
            + self.deleted_alerts
            + self.deleted_domains
            + self.deleted_packets
    }

    fn add(&mut self, o: &RetentionReport) {
        self.deleted_flows += o.deleted_flows;
        self.deleted_dns += o.deleted_dns;
        self.deleted_alerts += o.deleted_alerts;
        self.deleted_domains += o.deleted_domains;
        self.deleted_packets += o.deleted_packets;
        self.pages_freed += o.pages_freed;
        self.steps += o.steps;
        self.db_bytes = o.db_bytes;
        self.more = o.more;
    }
}

fn pragma_u64(conn: &Connection, name: &str) -> Result<u64> {
    let v: i64 = conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))?;
    Ok(u64::try_from(v).unwrap_or(0))
}

/// `page_count * page_size`: the main file's size once checkpointed.
pub fn db_bytes(conn: &Connection) -> Result<u64> {
    Ok(pragma_u64(conn, "page_count")? * pragma_u64(conn, "page_size")?)
}

/// Bytes in pages that hold data (free pages excluded).
pub fn live_bytes(conn: &Connection) -> Result<u64> {
    let pages = pragma_u64(conn, "page_count")?;
    let free = pragma_u64(conn, "freelist_count")?;
    Ok(pages.saturating_sub(free) * pragma_u64(conn, "page_size")?)
}

/// Deletes up to `limit` rows of `table` matching `cond` (in `order`).
/// Table/column names are compile-time constants, never user input.
fn delete_batch(
    conn: &Connection,
    table: &str,
    cond: &str,
    order: &str,
    arg: i64,
    limit: u32,
) -> Result<u64> {
    let sql = format!(
        "DELETE FROM {table} WHERE rowid IN \
         (SELECT rowid FROM {table} WHERE {cond} ORDER BY {order} LIMIT ?2)"
    );
    let n = conn.prepare_cached(&sql)?.execute(params![arg, limit])?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Deletes up to `limit` flows matching `cond` (on `first_us`), oldest
/// partition first, then drops the partitions that emptied.
fn delete_flows(conn: &Connection, cond: &str, arg: i64, limit: u32) -> Result<u64> {
    let mut deleted = 0u64;
    for p in flow_parts::list(conn)? {
        let left = u64::from(limit).saturating_sub(deleted);
        if left == 0 {
            break;
        }
        let left = u32::try_from(left).unwrap_or(limit);
        let table = flow_parts::table(p.part);
        deleted += delete_batch(conn, &table, cond, "first_us", arg, left)?;
    }
    if deleted > 0 {
        flow_parts::drop_empty(conn)?;
    }
    Ok(deleted)
}

/// One bounded retention step at time `now_us`.
pub fn step(conn: &Connection, policy: &RetentionPolicy, now_us: u64) -> Result<RetentionReport> {
    let n = policy.batch_rows.max(1);
    let mut rep = RetentionReport {
        steps: 1,
        ..RetentionReport::default()
    };
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    if let Some(age) = policy.max_age_us {
        let cutoff = i64::try_from(now_us.saturating_sub(age)).unwrap_or(i64::MAX);
        rep.deleted_flows = delete_flows(&tx, "first_us < ?1", cutoff, n)?;
        rep.deleted_dns = delete_batch(&tx, "dns", "ts_us < ?1", "ts_us", cutoff, n)?;
        rep.deleted_alerts = delete_batch(&tx, "alerts", "ts_us < ?1", "ts_us", cutoff, n)?;
        rep.deleted_domains = delete_batch(&tx, "domains", "last_us < ?1", "last_us", cutoff, n)?;
        rep.deleted_packets = delete_batch(&tx, "flow_packets", "ts_us < ?1", "ts_us", cutoff, n)?;
        let limit = u64::from(n);
        rep.more = [
            rep.deleted_flows,
            rep.deleted_dns,
            rep.deleted_alerts,
            rep.deleted_domains,
            rep.deleted_packets,
        ]
        .contains(&limit);
    }
    if let Some(max) = policy.max_db_bytes
        && live_bytes(&tx)? > max
    {
        // Oldest first, by the same time indexes; `?1` is a no-op bound.
        let f = delete_flows(&tx, "first_us >= ?1", 0, n)?;
        let d = delete_batch(&tx, "dns", "ts_us >= ?1", "ts_us", 0, n)?;
        rep.deleted_flows += f;
        rep.deleted_dns += d;
        rep.more |= f + d > 0;
    }
    tx.commit()?;
    let before = pragma_u64(conn, "page_count")?;
    conn.execute_batch(&format!(
        "PRAGMA incremental_vacuum({})",
        policy.vacuum_pages.max(1)
    ))?;
    let after = pragma_u64(conn, "page_count")?;
    rep.pages_freed = before.saturating_sub(after);
    rep.more |= pragma_u64(conn, "freelist_count")? > 0;
    rep.db_bytes = db_bytes(conn)?;
    Ok(rep)
}

/// Runs steps until nothing is left to do or `max_steps` ran.
pub fn run(
    conn: &Connection,
    policy: &RetentionPolicy,
    clock: &dyn Clock,
    max_steps: u32,
) -> Result<RetentionReport> {
    let mut total = RetentionReport::default();
    for _ in 0..max_steps {
        let r = step(conn, policy, clock.now_us())?;
        total.add(&r);
        if !r.more {
            break;
        }
    }
    Ok(total)
}
