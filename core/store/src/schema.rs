//! Connection setup and the column encodings shared by every table.
//!
//! Addresses are stored as BLOBs of 4 or 16 bytes (the address in network
//! order): a quarter of the text form for IPv4, equality is a memcmp in the
//! index, and the length tells the family apart without another column.
//! Names are stored twice: as seen, and with labels reversed and lowercased
//! (`a.example.org` -> `org.example.a`) so that "this domain and its
//! subdomains" is one index range.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::error::{Result, StoreError};
use crate::migrations;

/// WAL pages (of 4 KiB) that trigger an automatic checkpoint: at least
/// 4,096 (16 MiB, four times SQLite's default), and as many as the page cache
/// holds. A writer batch (tens of thousands of rows, each touching pages of
/// five indexes) then no longer checkpoints on every commit, and a page
/// rewritten by several commits is copied into the database once. Measured on
/// 1M flows with the host cache: 16 MiB of WAL gave 85k rows/s, 64 MiB 97k.
/// The cost is disk, bounded by [`journal_size_limit`]; the phone preset's
/// small cache keeps its WAL at 16 MiB.
fn wal_autocheckpoint_pages(cache_kib: u32) -> i64 {
    (i64::from(cache_kib) / 4).max(4096)
}

/// Largest WAL file kept after a checkpoint; bounds the disk the WAL holds.
/// A little above the checkpoint size (4 MiB), so the file is not cut and
/// regrown after every checkpoint.
fn journal_size_limit(cache_kib: u32) -> i64 {
    wal_autocheckpoint_pages(cache_kib) * 4096 + 4 * 1024 * 1024
}

/// Page cache per connection, in KiB (the bound on its memory), for the host
/// default; the phone preset sets 2 MiB. The random inserts into the name and
/// address indexes touch pages all over them; with SQLite's 2 MiB default the
/// writer evicted and re-read them within one batch (measured: about a third
/// more wall time per batch), and at 16 MiB a growing database still re-read
/// them (1M flows: 85k rows/s at 16 MiB, 97k at 64 MiB).
pub const CACHE_KIB: u32 = 64 * 1024;

/// Prepared statements kept per connection. Queries and inserts name each
/// flow partition's table, so the working set is a few statements per
/// partition on top of the fixed ones; rusqlite's default of 16 made paged
/// queries re-prepare their statements on every call once a database had
/// four partitions.
const STATEMENT_CACHE: usize = 128;

/// Opens (creating if needed) a database, applies the pragmas and migrates it.
pub fn open_connection(path: &Path, busy_timeout: Duration, cache_kib: u32) -> Result<Connection> {
    let mut conn = Connection::open(path).map_err(|source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    configure(&conn, busy_timeout, cache_kib)?;
    migrations::migrate(&mut conn)?;
    Ok(conn)
}

/// Applies the per-connection pragmas. On a brand-new file it also selects
/// incremental auto-vacuum, which SQLite only honours before the first table
/// exists.
pub fn configure(conn: &Connection, busy_timeout: Duration, cache_kib: u32) -> Result<()> {
    conn.busy_timeout(busy_timeout)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    if tables == 0 {
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    }
    let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "journal_size_limit", journal_size_limit(cache_kib))?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -i64::from(cache_kib))?;
    conn.pragma_update(
        None,
        "wal_autocheckpoint",
        wal_autocheckpoint_pages(cache_kib),
    )?;
    Ok(())
}

/// Encodes an address as its 4 or 16 network-order bytes.
pub fn ip_to_blob(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// Decodes [`ip_to_blob`]; other lengths are `None`.
pub fn blob_to_ip(b: &[u8]) -> Option<IpAddr> {
    if let Ok(a) = <[u8; 4]>::try_from(b) {
        return Some(IpAddr::V4(Ipv4Addr::from(a)));
    }
    <[u8; 16]>::try_from(b)
        .ok()
        .map(|a| IpAddr::V6(Ipv6Addr::from(a)))
}

/// Lowercases, drops a trailing dot and reverses the labels:
/// `WWW.Example.org.` -> `org.example.www`.
pub fn reverse_name(name: &str) -> String {
    let trimmed = name.trim().trim_end_matches('.');
    let mut out = String::with_capacity(trimmed.len());
    for (i, label) in trimmed.rsplit('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(label);
    }
    // In place: the writer calls this for every flow row.
    out.make_ascii_lowercase();
    out
}

/// Bounds for "`name` and its subdomains" over reversed names: the exact
/// value, and the half-open range `[rev + ".", rev + "/")` ('/' sorts right
/// after '.'), so `example.org` matches `a.example.org` but not
/// `badexample.org` (reversed `org.badexample`).
pub fn subdomain_bounds(name: &str) -> (String, String, String) {
    let rev = reverse_name(name);
    let lo = format!("{rev}.");
    let hi = format!("{rev}/");
    (rev, lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverses_labels_and_normalises() {
        assert_eq!(reverse_name("WWW.Example.org."), "org.example.www");
        assert_eq!(reverse_name("localhost"), "localhost");
        assert_eq!(reverse_name(""), "");
    }

    #[test]
    fn subdomain_range_respects_label_boundary() {
        let (exact, lo, hi) = subdomain_bounds("example.org");
        let inside = |n: &str| {
            let r = reverse_name(n);
            r == exact || (r.as_str() >= lo.as_str() && r.as_str() < hi.as_str())
        };
        assert!(inside("example.org"));
        assert!(inside("a.example.org"));
        assert!(inside("x.y.example.org"));
        assert!(!inside("badexample.org"));
        assert!(!inside("example.org.evil.com"));
        assert!(!inside("example.com"));
    }

    #[test]
    fn ip_blobs_round_trip() {
        for ip in ["10.1.2.3", "2001:db8::1", "::ffff:1.2.3.4"] {
            let ip: IpAddr = ip.parse().unwrap();
            let b = ip_to_blob(ip);
            assert_eq!(b.len(), if ip.is_ipv4() { 4 } else { 16 });
            assert_eq!(blob_to_ip(&b), Some(ip));
        }
        assert_eq!(blob_to_ip(&[1, 2, 3]), None);
    }

    #[test]
    fn the_wal_checkpoint_follows_the_page_cache_and_bounds_the_wal_file() {
        let dir = tempfile::tempdir().unwrap();
        let pragma = |c: &Connection, name: &str| -> i64 {
            c.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
                .unwrap()
        };
        // The phone preset's 2 MiB cache keeps the 16 MiB floor; the host's 64 MiB cache
        // checkpoints every 64 MiB. The WAL file kept is 4 MiB above either.
        for (cache_kib, pages) in [(2 * 1024, 4096), (CACHE_KIB, 16_384)] {
            let conn = open_connection(
                &dir.path().join(format!("{cache_kib}.db")),
                Duration::ZERO,
                cache_kib,
            )
            .unwrap();
            assert_eq!(pragma(&conn, "wal_autocheckpoint"), pages);
            assert_eq!(
                pragma(&conn, "journal_size_limit"),
                pages * 4096 + 4 * 1024 * 1024
            );
            assert_eq!(pragma(&conn, "cache_size"), -i64::from(cache_kib));
        }
    }
}
