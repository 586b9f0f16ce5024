//! What SQLite itself can insert into one flow partition, with no Rust in
//! the loop: rows are copied with `INSERT ... SELECT` from a table filled
//! beforehand, in the writer's 32,768-row transactions. The partition DDL is
//! read from a store this example opens, so it is the store's own.
//!
//! It answers whether the writer or SQLite bounds the sustained rate
//! (`docs/perf.md`, "What SQLite allows"). Variants, each on a fresh file:
//! - `table`: the partition table with no index;
//! - `time`: plus the time index only (keys arrive in order);
//! - `five`: all five indexes, kept up to date by every insert (the store);
//! - `deferred`: the table first, then `CREATE INDEX` for all five, which
//!   sorts each index once instead of inserting into it row by row.
//!
//! Usage: `sqlite_ceiling [ROWS] [RUNS]` (default 262144 rows, 3 runs).
// Example harness, not packet path: a failed setup should abort loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, Instant};

use nightjar_store::flow_parts::PART_COLUMNS;
use nightjar_store::{Store, StoreConfig, schema};
use rusqlite::{Connection, params};

const T0: i64 = 1_700_000_000_000_000;
const BATCH: i64 = 32_768;

/// The partition DDL as the store writes it: the table, then its indexes.
fn store_ddl(dir: &std::path::Path) -> (String, Vec<String>) {
    let path = dir.join("ddl.db");
    let (store, writer) = Store::open(&path, StoreConfig::default()).expect("open store");
    let _status = writer.shutdown();
    drop(store);
    let conn = Connection::open(&path).expect("reopen");
    let table: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'flows_p1'",
            [],
            |r| r.get(0),
        )
        .expect("partition table");
    let mut st = conn
        .prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'flows_p1' ORDER BY name")
        .expect("indexes");
    let indexes = st
        .query_map([], |r| r.get::<_, String>(0))
        .expect("indexes")
        .collect::<rusqlite::Result<Vec<_>>>()
        .expect("indexes");
    assert_eq!(indexes.len(), 5, "the store's partition has five indexes");
    (table, indexes)
}

/// A connection with the store's own pragmas (WAL, page cache, checkpoint size).
fn open(path: &std::path::Path) -> Connection {
    let conn = Connection::open(path).expect("open");
    schema::configure(&conn, Duration::ZERO, schema::CACHE_KIB).expect("pragmas");
    conn
}

/// The row shape of `insert_flows`: 10k domains, 7 hosts each, 50 apps.
fn fill_source(conn: &Connection, table_sql: &str, rows: i64) {
    conn.execute_batch(&rename_table(table_sql, "src"))
        .expect("source table");
    conn.execute_batch("BEGIN").expect("begin");
    let mut st = conn
        .prepare(&format!(
            "INSERT INTO src ({PART_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 443, ?9, \
             2000000, 12, 20, ?10, ?11, 'SF', 'fin', 'sni', 0, '1:LQU9qZlK+B5F3KDmev6m5PMibrg=', \
             ?12, ?13, ?12, 'h2', 't13d1516h2_8daaf6152771_02713d6af862', NULL, NULL)"
        ))
        .expect("prepare");
    for id in 0..rows {
        let d = id % 10_000;
        let host = id % 7;
        let resp = u32::try_from(0xC000_0000_i64 + d).expect("address");
        st.execute(params![
            id,
            format!("C{id:016x}"),
            10_000 + id % 50,
            format!("com.example.app{}", id % 50),
            if id % 5 == 0 { 17 } else { 6 },
            [10u8, 0, 0, 2].as_slice(),
            30_000 + id % 30_000,
            resp.to_be_bytes().as_slice(),
            T0 + id * 1_000,
            1_500 + id % 1_000,
            30_000 + id % 7_000,
            format!("h{host}.d{d}.example"),
            format!("example.d{d}.h{host}"),
        ])
        .expect("source row");
    }
    drop(st);
    conn.execute_batch("COMMIT").expect("commit");
}

/// `sql` with the partition's table name (quoted or not, as SQLite keeps it
/// after a rename) replaced by `to`.
fn rename_table(sql: &str, to: &str) -> String {
    sql.replace("\"flows_p1\"", to).replace("flows_p1", to)
}

/// Copies the source into `flows_x` batch by batch; returns seconds.
fn copy(conn: &Connection, rows: i64) -> f64 {
    let t = Instant::now();
    let mut lo = 0;
    while lo < rows {
        conn.execute_batch("BEGIN").expect("begin");
        conn.execute(
            "INSERT INTO flows_x SELECT * FROM src WHERE id >= ?1 AND id < ?2",
            params![lo, lo + BATCH],
        )
        .expect("copy");
        conn.execute_batch("COMMIT").expect("commit");
        lo += BATCH;
    }
    t.elapsed().as_secs_f64()
}

fn run(variant: &str, table: &str, indexes: &[String], rows: i64, dir: &std::path::Path) -> f64 {
    let path = dir.join(format!("{variant}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _gone = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let conn = open(&path);
    conn.execute_batch(&format!("ATTACH '{}' AS s", dir.join("src.db").display()))
        .expect("attach");
    conn.execute_batch(&rename_table(table, "main.flows_x"))
        .expect("table");
    let rename = |sql: &String| rename_table(sql, "flows_x").replacen("INDEX ", "INDEX main.x_", 1);
    let upfront: &[String] = match variant {
        "time" => indexes.last().map(std::slice::from_ref).unwrap_or_default(),
        "five" => indexes,
        _ => &[],
    };
    for sql in upfront {
        conn.execute_batch(&rename(sql)).expect("index");
    }
    let mut secs = copy(&conn, rows);
    if variant == "deferred" {
        let t = Instant::now();
        for sql in indexes {
            conn.execute_batch(&rename(sql)).expect("index");
        }
        secs += t.elapsed().as_secs_f64();
    }
    let copied: i64 = conn
        .query_row("SELECT count(*) FROM flows_x", [], |r| r.get(0))
        .expect("count");
    assert_eq!(copied, rows, "every source row was copied");
    let built: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'flows_x'",
            [],
            |r| r.get(0),
        )
        .expect("indexes");
    let expected = match variant {
        "table" => 0,
        "time" => 1,
        _ => indexes.len(),
    };
    assert_eq!(
        usize::try_from(built).ok(),
        Some(expected),
        "{variant}: indexes built"
    );
    secs
}

fn main() {
    let rows: i64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(262_144);
    let runs: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().expect("temp dir");
    let (table, mut indexes) = store_ddl(dir.path());
    // The time index last, so `time` can take it alone.
    indexes.sort_by_key(|sql| sql.contains("(first_us)"));
    let src = open(&dir.path().join("src.db"));
    fill_source(&src, &table, rows);
    drop(src);
    println!("SQLite {}, {rows} rows per run", rusqlite::version());
    for variant in ["table", "time", "five", "deferred"] {
        let mut rates: Vec<f64> = (0..runs)
            .map(|_| rows as f64 / run(variant, &table, &indexes, rows, dir.path()))
            .collect();
        rates.sort_by(f64::total_cmp);
        let median = rates.get(rates.len() / 2).copied().unwrap_or(0.0);
        let all: Vec<String> = rates.iter().map(|r| format!("{:.0}k", r / 1e3)).collect();
        println!(
            "{variant:>9}: median {:.0}k rows/s ({})",
            median / 1e3,
            all.join(", ")
        );
    }
}
