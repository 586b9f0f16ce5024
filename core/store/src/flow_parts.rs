//! Flows are kept in a series of partition tables (`flows_p1`, `flows_p2`,
//! ...), each with its own five indexes, behind a view named `flows` that
//! every reader uses.
//!
//! Why: the name and address indexes take inserts all over their key space
//! (each flow lands on the last leaf of its name's run). In one growing table
//! those leaves outgrow the page cache, and every insert then reads and
//! rewrites a leaf: 1M rows went in at about half the rate of the first 100k.
//! A partition stops growing after `rows` flows
//! ([`crate::StoreConfig::flow_partition_rows`]), so the leaves the writer
//! touches stay few enough to be cached (1M rows: 1.65-1.76x the one-table
//! rate; figures in `docs/perf.md`).
//!
//! Readers see one table: SQLite pushes a query's `WHERE` into every arm of the
//! view's `UNION ALL` and each arm uses its partition's index. Paged flow
//! queries go round the view and walk the partitions themselves, newest first
//! (`query::fetch_flows`), so a page usually reads one partition. Only the
//! writer inserts (into the newest partition); only the writer (replacing a
//! re-emitted flow) and retention delete, and only retention drops emptied
//! partitions. Each reads the partition list inside its write transaction, so
//! a connection never acts on a list another connection changed.
//!
//! Invariants:
//! - at least one partition exists, and the newest is never dropped;
//! - a flow id is stored at most once across partitions (a re-emitted flow
//!   replaces the row wherever it is, see `codec::FlowInserter`);
//! - every partition has the columns of [`PART_COLUMNS`] in that order, and a
//!   schema change to flows must change every partition.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;

/// Flows per partition when the config does not say; about 16 MB of name
/// and address index leaves, a quarter of the host page cache.
pub const DEFAULT_PART_ROWS: u64 = 262_144;

/// Most partitions kept. SQLite allows 500 arms in one compound SELECT; past
/// this the newest partition keeps growing instead (with the default size
/// that is 100M flows, tens of gigabytes, far past any retention limit).
pub const MAX_PARTS: usize = 400;

/// The flows columns, in table order (the schema v3 row, and v7's `tunnel`).
pub const PART_COLUMNS: &str = "id, uid, app_uid, app_name, proto, orig_h, orig_p, resp_h, \
     resp_p, first_us, dur_us, orig_pkts, resp_pkts, orig_ip_bytes, resp_ip_bytes, conn_state, \
     end_reason, name_source, flags, community_id, name, rev_name, sni, alpn, ja4, http_host, \
     tunnel";

/// One partition: its number and how many flows went into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// Partition number; the table is [`table`]`(part)`.
    pub part: i64,
    /// Flows inserted into it (a hint for rotation: deletes do not lower it).
    pub rows: u64,
}

/// The table of partition `part`.
pub fn table(part: i64) -> String {
    format!("flows_p{part}")
}

/// Every partition, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<Part>> {
    let mut st = conn.prepare_cached("SELECT part, rows FROM flow_parts ORDER BY part")?;
    let parts = st.query_map([], |r| {
        Ok(Part {
            part: r.get(0)?,
            rows: r.get(1)?,
        })
    })?;
    Ok(parts.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Lowest and highest flow id in `part`, `None` when it is empty (rowid
/// lookups at both ends of the table).
pub fn id_range(conn: &Connection, part: i64) -> Result<Option<(u64, u64)>> {
    let t = table(part);
    let lo: Option<u64> = conn
        .prepare_cached(&format!("SELECT id FROM {t} ORDER BY id LIMIT 1"))?
        .query_row([], |r| r.get(0))
        .optional()?;
    let hi: Option<u64> = conn
        .prepare_cached(&format!("SELECT id FROM {t} ORDER BY id DESC LIMIT 1"))?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(lo.zip(hi))
}

/// Earliest and latest `first_us` in `part`: two probes of its time index in
/// one statement (a single `min(), max()` aggregate would scan the table).
pub fn time_range(conn: &Connection, part: i64) -> Result<Option<(u64, u64)>> {
    let t = table(part);
    let span: (Option<u64>, Option<u64>) = conn
        .prepare_cached(&format!(
            "SELECT (SELECT first_us FROM {t} ORDER BY first_us LIMIT 1), \
             (SELECT first_us FROM {t} ORDER BY first_us DESC LIMIT 1)"
        ))?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(span.0.zip(span.1))
}

/// The DDL of one partition table and its indexes. Partition 1 is the
/// table migrated from schema v5 and keeps that schema's index names
/// (`flows_time`, ...), which renaming would have had to rebuild.
fn create_sql(part: i64) -> String {
    let t = table(part);
    format!(
        "CREATE TABLE {t} (
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL,
            app_uid INTEGER,
            app_name TEXT,
            proto INTEGER NOT NULL,
            orig_h BLOB NOT NULL,
            orig_p INTEGER NOT NULL,
            resp_h BLOB NOT NULL,
            resp_p INTEGER NOT NULL,
            first_us INTEGER NOT NULL,
            dur_us INTEGER NOT NULL,
            orig_pkts INTEGER NOT NULL,
            resp_pkts INTEGER NOT NULL,
            orig_ip_bytes INTEGER NOT NULL,
            resp_ip_bytes INTEGER NOT NULL,
            conn_state NOT NULL,
            end_reason NOT NULL,
            name_source,
            flags INTEGER NOT NULL,
            community_id,
            name TEXT,
            rev_name TEXT,
            sni TEXT,
            alpn TEXT,
            ja4 TEXT,
            http_host TEXT,
            tunnel TEXT
        );
        CREATE INDEX {t}_time ON {t}(first_us);
        CREATE INDEX {t}_rev_name ON {t}(rev_name, first_us);
        CREATE INDEX {t}_resp_h ON {t}(resp_h, first_us);
        CREATE INDEX {t}_orig_h ON {t}(orig_h, first_us);
        CREATE INDEX {t}_app ON {t}(app_uid, first_us);"
    )
}

/// Recreates the `flows` view over `parts` (oldest first).
pub(crate) fn rebuild_view(conn: &Connection, parts: &[i64]) -> Result<()> {
    let arms: Vec<String> = parts
        .iter()
        .map(|p| format!("SELECT {PART_COLUMNS} FROM {}", table(*p)))
        .collect();
    conn.execute_batch(&format!(
        "DROP VIEW IF EXISTS flows; CREATE VIEW flows AS {};",
        arms.join(" UNION ALL ")
    ))?;
    Ok(())
}

/// Adds partition `last + 1` and returns its number. Call inside the write
/// transaction that will insert into it.
pub fn add(conn: &Connection) -> Result<i64> {
    let parts = list(conn)?;
    let next = parts.last().map_or(1, |p| p.part + 1);
    conn.execute_batch(&create_sql(next))?;
    conn.execute(
        "INSERT INTO flow_parts (part, rows) VALUES (?1, 0)",
        params![next],
    )?;
    let mut numbers: Vec<i64> = parts.iter().map(|p| p.part).collect();
    numbers.push(next);
    rebuild_view(conn, &numbers)?;
    log::debug!("store: flow partition {next} started");
    Ok(next)
}

/// Records that `added` flows went into `part`.
pub fn count_rows(conn: &Connection, part: i64, added: u64) -> Result<()> {
    if added > 0 {
        conn.prepare_cached("UPDATE flow_parts SET rows = rows + ?2 WHERE part = ?1")?
            .execute(params![part, added])?;
    }
    Ok(())
}

/// Drops every partition but the newest that holds no rows. Returns how
/// many went. Call inside a write transaction.
pub fn drop_empty(conn: &Connection) -> Result<usize> {
    let parts = list(conn)?;
    let Some((newest, older)) = parts.split_last() else {
        return Ok(0);
    };
    let mut keep = Vec::with_capacity(parts.len());
    let mut dropped = 0;
    for p in older {
        let t = table(p.part);
        let empty: bool = conn
            .prepare_cached(&format!("SELECT NOT EXISTS (SELECT 1 FROM {t})"))?
            .query_row([], |r| r.get(0))?;
        if empty {
            conn.execute_batch(&format!("DROP TABLE {t};"))?;
            conn.execute("DELETE FROM flow_parts WHERE part = ?1", params![p.part])?;
            dropped += 1;
        } else {
            keep.push(p.part);
        }
    }
    if dropped > 0 {
        keep.push(newest.part);
        rebuild_view(conn, &keep)?;
        log::debug!("store: {dropped} emptied flow partitions dropped");
    }
    Ok(dropped)
}

/// Highest stored flow id: one rowid lookup per partition (through the view,
/// max() would scan every row).
pub fn max_id(conn: &Connection) -> Result<Option<u64>> {
    let mut best: Option<u64> = None;
    for p in list(conn)? {
        if let Some((_, hi)) = id_range(conn, p.part)? {
            best = Some(best.map_or(hi, |b| b.max(hi)));
        }
    }
    Ok(best)
}
