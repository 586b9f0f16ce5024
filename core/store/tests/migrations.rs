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
    assert_eq!(migrations::current_version(), 7);

    let old = store.flow(2).unwrap().unwrap();
    assert_eq!(old.uid, "Cv12");
    assert_eq!(old.resp_h, ip("198.51.100.1"));
    assert_eq!(old.name.as_deref(), Some("old.example.org"));
    // Columns v2 added read back as their defaults.
    assert_eq!(old.ja4, None);
    assert!(!old.ech);

    // v3 rebuilt the table and recreated every index; v6 made it partition 1
    // (renamed with its indexes) behind the `flows` view.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let part1: (i64, i64) = conn
        .query_row("SELECT part, rows FROM flow_parts", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(part1, (1, 3));
    let view: String = conn
        .query_row(
            "SELECT type FROM sqlite_master WHERE name = 'flows'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(view, "view");
    let idx: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'flows_p1' \
             AND name IN ('flows_time', 'flows_rev_name', 'flows_resp_h', 'flows_orig_h', \
             'flows_app')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(idx, 5);
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

    // v4: the packet table and the retroactive match key, both in use.
    let mut a = alert(
        0,
        T0,
        nightjar_store::Severity::High,
        nightjar_store::AlertState::New,
        Some(7),
    );
    a.flow_uids = vec!["Cv12".into()];
    // v5: how a block was enforced.
    a.enforcement = Some("tcp_reset".into());
    let id = store.insert_alert(&a).unwrap();
    let stored = store.alerts(&Query::new()).unwrap().items;
    assert_eq!(
        stored
            .iter()
            .find(|s| s.id == id)
            .and_then(|s| s.enforcement.as_deref()),
        Some("tcp_reset")
    );
    store
        .save_packets(
            &nightjar_store::FlowPackets {
                flow_uid: "Cv12".into(),
                packets: vec![nightjar_store::PacketRow {
                    ts_us: T0,
                    orig_len: 4,
                    data: vec![0x45, 0, 0, 4],
                }],
            },
            u64::MAX,
        )
        .unwrap();
    assert_eq!(store.packets("Cv12").unwrap().len(), 1);
    let n = store
        .export_pcap(
            nightjar_store::export::PcapSelection::Alert(id),
            std::io::sink(),
        )
        .unwrap();
    assert_eq!(n.packets, 1);
    let keyed: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('alerts_match_key', \
             'flow_packets_uid', 'flow_packets_time')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(keyed, 3);
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
            supported: 7,
        }) => {}
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

/// A v2 database (v1 DDL, then the v2 step) with v2-shaped rows covering the
/// v3 encodings: known and unknown enum names, sni/http_host equal to and
/// different from the name, ECH, a Community ID and none, no name at all.
#[test]
fn v2_rows_survive_the_v3_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.db");
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
        .unwrap();
    assert_eq!(migrations::migrate_to(&mut conn, 2).unwrap(), 2);
    assert_eq!(migrations::version(&conn).unwrap(), 2);

    let mut expected = Vec::new();
    type Tweak = Box<dyn Fn(&mut nightjar_store::FlowRow)>;
    let variants: Vec<Tweak> = vec![
        Box::new(|_| {}),
        Box::new(|f| {
            f.conn_state = "RSTOS0".into();
            f.end_reason = "rst".into();
            f.ech = true;
        }),
        Box::new(|f| {
            // Names the v3 code tables do not know stay text.
            f.conn_state = "XYZ".into();
            f.end_reason = "cosmic_ray".into();
            f.name_source = Some("guess".into());
            f.community_id = None;
        }),
        Box::new(|f| {
            f.sni = Some("other.example.net".into());
            f.http_host = Some("www.example.com".into());
            f.name_source = Some("http_host".into());
        }),
        Box::new(|f| {
            f.name = None;
            f.name_source = None;
            f.sni = None;
            f.alpn = None;
            f.ja4 = None;
            f.last_us = f.first_us;
        }),
    ];
    for (i, tweak) in variants.iter().enumerate() {
        let id = 100 + i as u64;
        let mut f = flow(id, T0 + id);
        tweak(&mut f);
        conn.execute(
            "INSERT INTO flows (id, uid, app_uid, app_name, proto, orig_h, orig_p, resp_h, resp_p, \
             first_us, last_us, orig_pkts, resp_pkts, orig_ip_bytes, resp_ip_bytes, conn_state, \
             community_id, name, rev_name, name_source, sni, alpn, ja4, http_host, ech, \
             end_reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, \
             ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)",
            rusqlite::params![
                f.id,
                f.uid,
                f.app_uid,
                f.app_name,
                f.proto,
                ip_to_blob(f.orig_h),
                f.orig_p,
                ip_to_blob(f.resp_h),
                f.resp_p,
                f.first_us,
                f.last_us,
                f.orig_pkts,
                f.resp_pkts,
                f.orig_ip_bytes,
                f.resp_ip_bytes,
                f.conn_state,
                f.community_id,
                f.name,
                f.name.as_deref().map(nightjar_store::schema::reverse_name),
                f.name_source,
                f.sni,
                f.alpn,
                f.ja4,
                f.http_host,
                f.ech,
                f.end_reason,
            ],
        )
        .unwrap();
        expected.push(f);
    }
    drop(conn);

    let store = Store::open_reader(&path, Duration::from_secs(1)).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        migrations::current_version()
    );
    for f in &expected {
        assert_eq!(store.flow(f.id).unwrap().as_ref(), Some(f));
    }
    // The domain index still answers after the rebuild.
    let page = store.flows(&Query::new().domain("example.com")).unwrap();
    assert_eq!(page.items.len(), expected.len() - 1);
    // Rows written by the v3 code read back the same as migrated ones.
    let (_, writer) = Store::open(&path, StoreConfig::default()).unwrap();
    let mut fresh = expected.clone();
    for f in &mut fresh {
        f.id += 1_000;
        writer.flow(f.clone());
    }
    writer.shutdown();
    for f in &fresh {
        assert_eq!(store.flow(f.id).unwrap().as_ref(), Some(f));
    }
}

/// A v6 database with two flow partitions (the second made as v6's writer made
/// it: v6's partition DDL under the next name), flows in both and a DNS row,
/// then opened by the current code: v7 adds `tunnel` to every partition and
/// `query_too_long` to dns, old rows read back untunnelled and not flagged, and
/// new rows keep both.
#[test]
fn v6_partitions_gain_the_tunnel_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v6.db");
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
        .unwrap();
    assert_eq!(migrations::migrate_to(&mut conn, 6).unwrap(), 6);
    let p1_sql: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'flows_p1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!p1_sql.contains("tunnel"));
    // v6's column list, as its view and inserts named it.
    let v6_cols = "id, uid, app_uid, app_name, proto, orig_h, orig_p, resp_h, resp_p, first_us, \
        dur_us, orig_pkts, resp_pkts, orig_ip_bytes, resp_ip_bytes, conn_state, end_reason, \
        name_source, flags, community_id, name, rev_name, sni, alpn, ja4, http_host";
    conn.execute_batch(&format!(
        "{}; INSERT INTO flow_parts (part, rows) VALUES (2, 0); DROP VIEW flows; \
         CREATE VIEW flows AS SELECT {v6_cols} FROM flows_p1 UNION ALL SELECT {v6_cols} FROM flows_p2;",
        p1_sql.replacen("flows_p1", "flows_p2", 1)
    ))
    .unwrap();
    for (part, id) in [(1, 1u64), (1, 2), (2, 3)] {
        conn.execute(
            &format!(
                "INSERT INTO flows_p{part} ({v6_cols}) VALUES (?1, ?2, 7, 'com.v6', 6, ?3, 5555, ?4, \
                 443, ?5, 10, 1, 1, 60, 60, 3, 1, 1, 2, NULL, 'v6.example.org', 'org.example.v6', \
                 NULL, NULL, NULL, NULL)"
            ),
            rusqlite::params![
                id,
                format!("Cv6{id}"),
                ip_to_blob(ip("10.0.0.2")),
                ip_to_blob(ip("198.51.100.1")),
                T0 + id,
            ],
        )
        .unwrap();
    }
    conn.execute(
        "INSERT INTO dns (ts_us, client_h, client_p, server_h, server_p, transport, msg_id, \
         query, rev_query, qtype, qclass, answers, ttls, answered) VALUES (?1, ?2, 5353, ?3, 53, \
         'udp', 7, 'v6.example.org', 'org.example.v6', 1, 1, '[]', '[]', 0)",
        rusqlite::params![T0, ip_to_blob(ip("10.0.0.2")), ip_to_blob(ip("10.0.0.1"))],
    )
    .unwrap();
    drop(conn);

    let (store, writer) = Store::open(&path, StoreConfig::default()).unwrap();
    assert_eq!(store.schema_version().unwrap(), 7);
    for id in 1..=3 {
        let f = store.flow(id).unwrap().unwrap();
        assert_eq!(f.uid, format!("Cv6{id}"));
        assert_eq!(f.name.as_deref(), Some("v6.example.org"));
        assert_eq!(
            f.sni.as_deref(),
            Some("v6.example.org"),
            "flag 2: sni is the name"
        );
        assert_eq!(f.tunnel, None);
    }
    let old_dns = store.dns(&Query::new()).unwrap().items;
    assert_eq!(old_dns.len(), 1);
    assert!(!old_dns[0].query_too_long);

    let conn = rusqlite::Connection::open(&path).unwrap();
    for part in ["flows_p1", "flows_p2"] {
        let has: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM pragma_table_info('{part}') WHERE name = 'tunnel'"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(has, 1, "{part}");
    }

    let mut tunnelled = flow(10, T0 + 100);
    tunnelled.tunnel = Some(nightjar_store::FlowTunnel {
        kind: "ip6".into(),
        outer_proto: 41,
        outer_src: ip("192.0.2.1"),
        outer_dst: ip("192.0.2.2"),
        parent_uid: None,
    });
    writer.flow(tunnelled.clone());
    let mut long = dns(T0 + 200, "a.example", Some(7));
    long.query_too_long = true;
    writer.dns(long.clone());
    writer.shutdown();
    assert_eq!(store.flow(10).unwrap().unwrap(), tunnelled);
    let raw: String = conn
        .query_row("SELECT tunnel FROM flows WHERE id = 10", [], |r| r.get(0))
        .unwrap();
    assert_eq!(raw, "ip6 41 192.0.2.1 192.0.2.2");
    let got = store.dns(&Query::new().domain("a.example")).unwrap().items;
    assert_eq!(got, vec![long]);
}
