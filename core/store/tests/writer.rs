//! Writer behaviour: flush on shutdown, drops counted when the queue is full,
//! recovery after a transient fault, commit notifications, merged sightings.

// Test code: a failed expectation should abort loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use nightjar_store::{
    AppRow, DomainSeen, FaultKind, FeedRow, Query, Record, StateBlob, Store, StoreConfig,
};

fn count(store: &Store, table: &str) -> u64 {
    let p = store.path().to_path_buf();
    let c = rusqlite::Connection::open(p).unwrap();
    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn shutdown_flushes_everything_queued() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let cfg = StoreConfig {
        // Nothing would be committed by time or size before shutdown.
        commit_interval: Duration::from_secs(3600),
        batch_rows: 1_000_000,
        ..StoreConfig::default()
    };
    let (store, writer) = Store::open(&path, cfg).unwrap();
    for i in 0..5_000 {
        assert!(writer.flow(flow(i, T0 + i)));
    }
    for i in 0..100 {
        assert!(writer.dns(dns(T0 + i, "a.example.com", Some(1))));
    }
    let status = writer.shutdown();
    assert_eq!(status.accepted, 5_100);
    assert_eq!(status.committed_rows, 5_100);
    assert_eq!(status.dropped_full + status.dropped_error, 0);
    assert_eq!(count(&store, "flows"), 5_000);
    assert_eq!(count(&store, "dns"), 100);
    let f = store.flow(42).unwrap().unwrap();
    assert_eq!(f, flow(42, T0 + 42));
}

#[test]
fn drop_also_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    {
        let (_store, writer) = Store::open(
            &path,
            StoreConfig {
                commit_interval: Duration::from_secs(3600),
                ..StoreConfig::default()
            },
        )
        .unwrap();
        for i in 0..10 {
            writer.flow(flow(i, T0));
        }
    }
    let store = Store::open_reader(&path, Duration::from_secs(1)).unwrap();
    assert_eq!(store.flows(&Query::new()).unwrap().items.len(), 10);
}

#[test]
fn full_queue_drops_and_counts_without_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let gate_rx = Mutex::new(gate_rx);
    let first = Mutex::new(true);
    let cfg = StoreConfig {
        queue_capacity: 8,
        // Park the writer thread inside the first commit callback so the
        // queue cannot drain while the test fills it.
        on_commit: Some(Arc::new(move |_| {
            let mut f = first.lock().unwrap();
            if *f {
                *f = false;
                let _ = gate_rx.lock().unwrap().recv();
            }
        })),
        ..StoreConfig::default()
    };
    let (store, writer) = Store::open(dir.path().join("t.db"), cfg).unwrap();
    assert!(writer.flow(flow(0, T0)));
    assert!(writer.flush(Duration::from_secs(10)));
    let mut ok = 0;
    for i in 1..=20 {
        if writer.flow(flow(i, T0 + i)) {
            ok += 1;
        }
    }
    assert_eq!(ok, 8);
    let s = writer.status();
    assert_eq!(s.dropped_full, 12);
    assert_eq!(s.accepted, 9);
    gate_tx.send(()).unwrap();
    let s = writer.shutdown();
    assert_eq!(s.committed_rows, 9);
    assert_eq!(count(&store, "flows"), 9);
}

#[test]
fn recovers_after_transient_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let cfg = StoreConfig {
        busy_timeout: Duration::from_millis(20),
        commit_interval: Duration::from_millis(10),
        max_retry_backoff: Duration::from_millis(50),
        ..StoreConfig::default()
    };
    let (store, writer) = Store::open(&path, cfg).unwrap();
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    for i in 0..50 {
        assert!(writer.flow(flow(i, T0 + i)));
    }
    assert!(!writer.flush(Duration::from_millis(300)));
    let s = writer.status();
    assert!(s.write_errors > 0, "{s:?}");
    assert_eq!(s.last_fault, Some(FaultKind::Busy));
    assert_eq!(s.committed_rows, 0);
    blocker.execute_batch("COMMIT").unwrap();
    assert!(writer.flush(Duration::from_secs(10)));
    let s = writer.status();
    assert_eq!(s.committed_rows, 50);
    assert_eq!(s.last_fault, None);
    assert_eq!(s.consecutive_failures, 0);
    assert_eq!(count(&store, "flows"), 50);
}

#[test]
fn commit_callback_reports_running_totals() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    let cfg = StoreConfig {
        batch_rows: 100,
        on_commit: Some(Arc::new(move |c| seen2.lock().unwrap().push(*c))),
        ..StoreConfig::default()
    };
    let (_store, writer) = Store::open(dir.path().join("t.db"), cfg).unwrap();
    for i in 0..1_000 {
        writer.flow(flow(i, T0));
    }
    writer.shutdown();
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty());
    let mut total = 0;
    for (i, c) in seen.iter().enumerate() {
        total += c.rows;
        assert_eq!(c.batch, i as u64 + 1);
        assert_eq!(c.total_rows, total);
    }
    assert_eq!(total, 1_000);
}

#[test]
fn other_records_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (store, writer) = Store::open(dir.path().join("t.db"), StoreConfig::default()).unwrap();
    let sender = writer.sender().unwrap();
    sender.send(Record::App(AppRow {
        uid: 10_001,
        package: "com.example".into(),
        label: Some("Example".into()),
        installed_us: Some(T0),
        updated_us: None,
    }));
    sender.send(Record::Feed(FeedRow {
        name: "mvt".into(),
        version: "7".into(),
        loaded_us: T0,
        indicators: 1234,
    }));
    sender.send(Record::State(StateBlob {
        key: "baseline".into(),
        bytes: vec![0, 1, 2, 255],
        updated_us: T0,
    }));
    for (app, first, last) in [(Some(1), 100, 200), (Some(2), 50, 150), (Some(1), 300, 400)] {
        sender.send(Record::Domain(DomainSeen {
            domain: "Tracker.Example.com".into(),
            registrable: "example.com".into(),
            app_uid: app,
            first_us: first,
            last_us: last,
            count: 1,
        }));
    }
    writer.shutdown();
    assert_eq!(store.app(10_001).unwrap().unwrap().package, "com.example");
    assert_eq!(store.feeds().unwrap()[0].indicators, 1234);
    assert_eq!(
        store.state("baseline").unwrap().unwrap().bytes,
        vec![0, 1, 2, 255]
    );
    let a1 = store
        .domain_seen("tracker.example.com", Some(1))
        .unwrap()
        .unwrap();
    assert_eq!((a1.first_us, a1.last_us, a1.count), (100, 400, 2));
    let dev = store
        .domain_seen("tracker.example.com", None)
        .unwrap()
        .unwrap();
    assert_eq!((dev.first_us, dev.last_us, dev.count), (50, 400, 3));
    assert_eq!(dev.app_uid, None);
    // Sends after shutdown are refused and counted.
    assert!(!sender.send(Record::State(StateBlob {
        key: "late".into(),
        bytes: vec![],
        updated_us: 0,
    })));
    assert_eq!(sender.status().dropped_closed, 1);
}

/// A flow re-emitted with the same id (a longer-lived flow) replaces the
/// stored row, whether the first copy is in the same batch or already
/// committed, and the plain-insert fast path leaves no duplicate behind.
#[test]
fn re_emitted_flow_replaces_the_stored_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let (store, writer) = Store::open(&path, StoreConfig::default()).unwrap();
    let first = flow(7, T0);
    let mut longer = first.clone();
    longer.last_us += 60_000_000;
    longer.resp_ip_bytes *= 3;
    longer.end_reason = "idle".into();
    assert!(writer.flow(first.clone()));
    assert!(writer.flow(longer.clone()));
    assert!(writer.flush(Duration::from_secs(10)));
    assert_eq!(store.flow(7).unwrap().as_ref(), Some(&longer));

    let mut last = longer.clone();
    last.last_us += 1;
    last.ech = true;
    assert!(writer.flow(last.clone()));
    assert!(writer.flow(flow(8, T0 + 1)));
    let status = writer.shutdown();
    assert_eq!(status.committed_rows, 4);
    assert_eq!(status.write_errors, 0);
    assert_eq!(count(&store, "flows"), 2);
    assert_eq!(store.flow(7).unwrap().as_ref(), Some(&last));
    assert_eq!(store.flows(&Query::new()).unwrap().items.len(), 2);
}

/// `try_send` hands a record back instead of counting it dropped.
#[test]
fn try_send_hands_back_when_full() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let cfg = StoreConfig {
        queue_capacity: 1,
        commit_interval: Duration::from_secs(3600),
        batch_rows: 1_000_000,
        ..StoreConfig::default()
    };
    let (_store, writer) = Store::open(&path, cfg).unwrap();
    let sender = writer.sender().unwrap();
    let mut handed_back = 0u64;
    let mut sent = 0u64;
    for i in 0..2_000 {
        match sender.try_send(Record::Flow(Box::new(flow(i, T0 + i)))) {
            Ok(()) => sent += 1,
            Err(std::sync::mpsc::TrySendError::Full(Record::Flow(f))) => {
                assert_eq!(f.id, i);
                handed_back += 1;
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(handed_back > 0, "a one-slot queue must fill up");
    let status = writer.shutdown();
    assert_eq!(status.accepted, sent);
    assert_eq!(status.dropped_full, 0);
    assert_eq!(status.committed_rows, sent);
}
