//! A v1 database made with the v1 DDL, filled with v1-shaped rows, then
//! opened by the current code: data survives and the schema is current.

// Test code: a failed expectation should abort loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::time::Duration;

use common::*;
use nightjar_store::migrations::{self, V1};
use nightjar_store::schema::ip_to_blob;
use nightjar_store::{Query, Store, StoreConfig, StoreError};

fn make_v1(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
        .unwrap();
    conn.execute_batch(V1).unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    for id in 1..=3i64 {
        conn.execute(
            "INSERT INTO flows (id, uid, app_uid, app_name, proto, orig_h, orig_p, resp_h, resp_p, \
             first_us, last_us, orig_pkts, resp_pkts, orig_ip_bytes, resp_ip_bytes, conn_state, \
             community_id, name, rev_name, name_source, sni, alpn, http_host, end_reason) \
             VALUES (?1, ?2, 7, 'com.v1', 6, ?3, 5555, ?4, 443, ?5, ?6, 1, 1, 60, 60, 'SF', NULL, \
             'old.example.org', 'org.example.old', 'sni', 'old.example.org', NULL, NULL, 'fin')",
            rusqlite::params![
                id,
                format!("Cv1{id}"),
                ip_to_blob(ip("10.0.0.2")),
                ip_to_blob(ip("198.51.100.1")),
                T0 + id as u64,
                T0 + id as u64 + 10,
            ],
        )
        .unwrap();
    }
    assert_eq!(migrations::version(&conn).unwrap(), 1);
}

#[test]
fn v1_database_migrates_and_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    make_v1(&path);

    let (store, writer) = Store::open(&path, StoreConfig::default()).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        migrations::current_version()
    );
    assert_eq!(migrations::current_version(), 2);

    let old = store.flow(2).unwrap().unwrap();
    assert_eq!(old.uid, "Cv12");
    assert_eq!(old.resp_h, ip("198.51.100.1"));
    assert_eq!(old.name.as_deref(), Some("old.example.org"));
    // Columns v2 added read back as their defaults.
    assert_eq!(old.ja4, None);
    assert!(!old.ech);

    // The v2 columns and index exist and are used.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let idx: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'flows_app'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(idx, 1);
    let auto_vacuum: i64 = conn
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .unwrap();
    assert_eq!(auto_vacuum, 2, "incremental");
    let journal: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");

    let mut f = flow(10, T0 + 100);
    f.app_uid = Some(7);
    f.ech = true;
    writer.flow(f.clone());
    writer.shutdown();
    assert_eq!(store.flow(10).unwrap().unwrap(), f);
    let app7 = store.flows(&Query::new().app(7)).unwrap();
    assert_eq!(app7.items.len(), 4);
    let subs = store.flows(&Query::new().domain("example.org")).unwrap();
    assert_eq!(subs.items.len(), 3);
}

#[test]
fn reopening_a_current_database_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    drop(Store::open_reader(&path, Duration::from_secs(1)).unwrap());
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(migrations::migrate(&mut conn).unwrap(), 0);
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    drop(Store::open_reader(&path, Duration::from_secs(1)).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    match Store::open_reader(&path, Duration::from_secs(1)) {
        Err(StoreError::SchemaTooNew {
            found: 99,
            supported: 2,
        }) => {}
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}
