//! Retention with a fake clock: age and size limits, bounded steps, space
//! handed back to the file system.

// Test code: a failed expectation should abort loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::cell::Cell;
use std::time::Duration;

use common::*;
use nightjar_store::{Clock, RetentionPolicy, Store, StoreConfig};

struct FakeClock(Cell<u64>);
impl Clock for FakeClock {
    fn now_us(&self) -> u64 {
        self.0.get()
    }
}

const DAY: u64 = 24 * 3600 * 1_000_000;

fn filled(n: u64, spacing: u64) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let (store, writer) = Store::open(&path, StoreConfig::default()).unwrap();
    for i in 0..n {
        let mut f = flow(i, T0 + i * spacing);
        // Padding so the size limit has something to bite on.
        f.app_name = Some(format!("{:0>200}", i));
        writer.flow(f);
        writer.dns(dns(T0 + i * spacing, "a.example.com", Some(1)));
    }
    writer.shutdown();
    store.checkpoint().unwrap();
    (dir, store)
}

fn counts(store: &Store) -> (u64, u64) {
    let c = rusqlite::Connection::open(store.path()).unwrap();
    let f = c
        .query_row("SELECT count(*) FROM flows", [], |r| r.get(0))
        .unwrap();
    let d = c
        .query_row("SELECT count(*) FROM dns", [], |r| r.get(0))
        .unwrap();
    (f, d)
}

#[test]
fn age_limit_deletes_in_bounded_steps() {
    // 1000 flows, one every 1/100 day: the last 10 days hold the newest 1000.
    let (_d, store) = filled(2_000, DAY / 100);
    let clock = FakeClock(Cell::new(T0 + 2_000 * (DAY / 100)));
    let policy = RetentionPolicy {
        max_age_us: Some(10 * DAY),
        max_db_bytes: None,
        batch_rows: 100,
        vacuum_pages: 8,
    };
    let step = store.retention_step(&policy, clock.now_us()).unwrap();
    assert_eq!(
        step.deleted_flows, 100,
        "one step deletes at most batch_rows"
    );
    assert_eq!(step.deleted_dns, 100);
    assert!(step.more);
    assert!(step.pages_freed <= 8);

    let total = store.enforce_retention(&policy, &clock, 1_000).unwrap();
    assert!(!total.more);
    let (f, d) = counts(&store);
    assert_eq!((f, d), (1_000, 1_000));
    let oldest = store
        .flows(&nightjar_store::Query::new().limit(10_000))
        .unwrap()
        .items
        .last()
        .unwrap()
        .first_us;
    assert!(oldest >= clock.now_us() - 10 * DAY);

    // Advance the fake clock: more falls out of the window.
    clock.0.set(clock.now_us() + 5 * DAY);
    store.enforce_retention(&policy, &clock, 1_000).unwrap();
    assert_eq!(counts(&store), (500, 500));
}

#[test]
fn size_limit_deletes_oldest_and_reclaims_space() {
    let (_d, store) = filled(6_000, 1_000);
    let before_file = std::fs::metadata(store.path()).unwrap().len();
    let before = store.db_bytes().unwrap();
    assert!(before > 1_000_000, "fixture too small: {before}");
    let limit = before / 3;
    let policy = RetentionPolicy {
        max_age_us: None,
        max_db_bytes: Some(limit),
        batch_rows: 500,
        vacuum_pages: 64,
    };
    let clock = FakeClock(Cell::new(T0));
    let mut steps = 0;
    loop {
        let r = store.retention_step(&policy, clock.now_us()).unwrap();
        steps += 1;
        assert!(r.deleted_flows <= 500 && r.deleted_dns <= 500);
        assert!(r.pages_freed <= 64);
        if !r.more {
            break;
        }
        assert!(steps < 10_000);
    }
    assert!(steps > 1, "work was spread over several steps");
    store.checkpoint().unwrap();
    let after = store.db_bytes().unwrap();
    let after_file = std::fs::metadata(store.path()).unwrap().len();
    assert!(after <= limit + limit / 10, "{after} > {limit}");
    assert!(
        after_file < before_file / 2,
        "file {before_file} -> {after_file}"
    );
    // The newest rows are the ones kept.
    let (f, _) = counts(&store);
    assert!(f > 0 && f < 6_000);
    assert!(store.flow(5_999).unwrap().is_some());
    assert!(store.flow(0).unwrap().is_none());
    let c = rusqlite::Connection::open(store.path()).unwrap();
    let free: i64 = c
        .query_row("PRAGMA freelist_count", [], |r| r.get(0))
        .unwrap();
    assert_eq!(free, 0);
}

#[test]
fn writer_thread_applies_retention() {
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(SharedClock(T0 + 100 * DAY));
    let cfg = StoreConfig {
        retention: Some(RetentionPolicy {
            max_age_us: Some(DAY),
            max_db_bytes: None,
            batch_rows: 1_000,
            vacuum_pages: 100,
        }),
        retention_interval: Duration::from_millis(1),
        clock,
        commit_interval: Duration::from_millis(5),
        ..StoreConfig::default()
    };
    let (store, writer) = Store::open(dir.path().join("t.db"), cfg).unwrap();
    for i in 0..100 {
        writer.flow(flow(i, T0 + i));
    }
    writer.flush(Duration::from_secs(5));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while writer.status().retention_deleted < 100 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(writer.status().retention_deleted, 100);
    writer.shutdown();
    assert_eq!(counts(&store).0, 0);
}

struct SharedClock(u64);
impl Clock for SharedClock {
    fn now_us(&self) -> u64 {
        self.0
    }
}
