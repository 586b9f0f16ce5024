//! Flow partitions: the writer rotates them, readers see one table through
//! the `flows` view, a re-emitted flow is stored once, and retention drops
//! what it empties.

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
use nightjar_store::{
    Clock, FlowRow, Query, RetentionPolicy, Store, StoreConfig, StoreWriter, TimeWindow,
};

const PART: u64 = 100;

fn small_parts() -> StoreConfig {
    StoreConfig {
        flow_partition_rows: PART,
        // Batches that straddle partition boundaries.
        batch_rows: 37,
        commit_interval: Duration::from_millis(5),
        ..StoreConfig::default()
    }
}

fn open(dir: &tempfile::TempDir) -> (Store, StoreWriter) {
    Store::open(dir.path().join("t.db"), small_parts()).unwrap()
}

/// Flow `id`: five names under two parents, four apps, three servers, and
/// start times out of id order (a long flow ends, and is written, late).
fn row(id: u64) -> FlowRow {
    let parent = if id.is_multiple_of(2) {
        "even.example"
    } else {
        "odd.example"
    };
    let resp = ["192.0.2.1", "192.0.2.2", "198.51.100.7"][usize::try_from(id % 3).unwrap()];
    let ts = T0 + (id * 7_919) % 10_007 * 1_000;
    named(
        id,
        ts,
        &format!("h{}.{parent}", id % 5),
        Some(u32::try_from(id % 4).unwrap()),
        resp,
    )
}

fn parts(store: &Store) -> Vec<(i64, i64)> {
    let c = rusqlite::Connection::open(store.path()).unwrap();
    let mut st = c
        .prepare("SELECT part, rows FROM flow_parts ORDER BY part")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Every page of `q`, `page` rows at a time, as ids in the order served.
fn paged_ids(store: &Store, q: &Query, page: usize) -> Vec<u64> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let p = store.flows(&q.clone().limit(page).after(after)).unwrap();
        out.extend(p.items.iter().map(|f| f.id));
        match p.next {
            Some(c) => after = Some(c),
            None => return out,
        }
    }
}

/// What `q` should return: `keep` over every row, newest first, id as the
/// tie-break.
fn want(rows: &[FlowRow], keep: impl Fn(&FlowRow) -> bool) -> Vec<u64> {
    let mut v: Vec<&FlowRow> = rows.iter().filter(|f| keep(f)).collect();
    v.sort_by_key(|f| std::cmp::Reverse((f.first_us, f.id)));
    v.iter().map(|f| f.id).collect()
}

#[test]
fn the_writer_rotates_partitions_and_queries_read_across_them() {
    let dir = tempfile::tempdir().unwrap();
    let (store, writer) = open(&dir);
    let rows: Vec<FlowRow> = (1..=1_000).map(row).collect();
    for f in &rows {
        writer.flow(f.clone());
    }
    assert_eq!(writer.shutdown().committed_rows, 1_000);

    let p = parts(&store);
    assert_eq!(p.len(), 10, "{p:?}");
    assert!(p.iter().all(|(_, n)| *n == 100), "{p:?}");

    // Pages of 37 over ten partitions: every flow once, in keyset order.
    assert_eq!(paged_ids(&store, &Query::new(), 37), want(&rows, |_| true));
    let odd = Query::new().domain("odd.example");
    assert_eq!(paged_ids(&store, &odd, 37), want(&rows, |f| f.id % 2 == 1));
    let app = Query::new().app(3);
    assert_eq!(
        paged_ids(&store, &app, 50),
        want(&rows, |f| f.app_uid == Some(3))
    );
    let by_ip = Query::new().ip(ip("198.51.100.7"));
    assert_eq!(
        paged_ids(&store, &by_ip, 64),
        want(&rows, |f| f.resp_h == ip("198.51.100.7"))
    );
    let window = TimeWindow {
        since_us: T0 + 2_000_000,
        until_us: T0 + 4_000_000,
    };
    let timed = Query::new().window(window);
    assert_eq!(
        paged_ids(&store, &timed, 29),
        want(&rows, |f| (T0 + 2_000_000..T0 + 4_000_000)
            .contains(&f.first_us))
    );

    // Lookups that bypass the view's merge.
    assert_eq!(store.max_flow_id().unwrap(), Some(1_000));
    assert_eq!(store.flow(3).unwrap().as_ref(), Some(&rows[2]));
    assert_eq!(store.flow(1_000).unwrap().as_ref(), Some(&rows[999]));
    let cov = store
        .coverage(TimeWindow {
            since_us: 0,
            until_us: u64::MAX / 2,
        })
        .unwrap();
    let first = rows.iter().map(|f| f.first_us).min().unwrap();
    let last = rows.iter().map(|f| f.first_us).max().unwrap();
    assert_eq!(cov.retained, Some((first, last)));
    let s = store
        .summary(TimeWindow {
            since_us: 0,
            until_us: u64::MAX / 2,
        })
        .unwrap();
    assert_eq!((s.flows, s.apps, s.domains), (1_000, 4, 10));
}

#[test]
fn pages_stay_exact_across_time_ordered_partitions_and_ties_at_their_edges() {
    let dir = tempfile::tempdir().unwrap();
    let (store, writer) = open(&dir);
    // Three flows per start time, so 99, 100 (partition 1) and 101 (partition 2)
    // tie: a page that stopped at partition 1's newest row would miss 101.
    let rows: Vec<FlowRow> = (1..=350)
        .map(|id| named(id, T0 + id / 3 * 1_000, "a.example", Some(1), "192.0.2.9"))
        .collect();
    for f in &rows {
        writer.flow(f.clone());
    }
    writer.shutdown();
    assert_eq!(parts(&store).len(), 4);
    for page in [1, 2, 3, 7, 100, 101, 400] {
        for q in [
            Query::new(),
            Query::new().domain("example"),
            Query::new().app(1),
            Query::new().window(TimeWindow {
                since_us: T0 + 20_000,
                until_us: T0 + 70_000,
            }),
            // Starts at partition 1's newest flows (99 and 100) and ends at
            // partition 2's oldest: both bounds land on a partition's edge.
            Query::new().window(TimeWindow {
                since_us: T0 + 33_000,
                until_us: T0 + 34_000,
            }),
        ] {
            let want = want(&rows, |f| {
                q.since_us.is_none_or(|s| f.first_us >= s)
                    && q.until_us.is_none_or(|u| f.first_us < u)
            });
            assert_eq!(paged_ids(&store, &q, page), want, "page {page}, {q:?}");
        }
    }

    // The older partition's newest flow ties the newer one's three oldest and
    // has the higher id, so it ranks above them: a 99-row page (fetched 100
    // deep) fills from partition 2 and must still reach into partition 1.
    let dir = tempfile::tempdir().unwrap();
    let (store, writer) = open(&dir);
    let rows: Vec<FlowRow> = (0..100)
        .map(|i| flow(1_001 + i, T0 + i * 1_000))
        .chain((0..100).map(|i| flow(1 + i, T0 + (97 + i).max(99) * 1_000)))
        .collect();
    for f in &rows {
        writer.flow(f.clone());
    }
    writer.shutdown();
    assert_eq!(parts(&store).len(), 2);
    let page = store.flows(&Query::new().limit(99)).unwrap();
    let ids: Vec<u64> = page.items.iter().map(|f| f.id).collect();
    assert_eq!(ids, want(&rows, |_| true)[..99].to_vec());
    assert_eq!(ids[97..], [1_100, 3]);
    for size in [1, 99, 100, 101, 150] {
        assert_eq!(
            paged_ids(&store, &Query::new(), size),
            want(&rows, |_| true)
        );
    }
}

#[test]
fn a_re_emitted_flow_replaces_its_row_in_an_older_partition() {
    let dir = tempfile::tempdir().unwrap();
    let (store, writer) = open(&dir);
    for id in 1..=350 {
        writer.flow(row(id));
    }
    writer.flush(Duration::from_secs(5));
    assert_eq!(parts(&store).len(), 4);

    // Flow 5 lives in partition 1, flow 340 in the current one.
    let mut again = row(5);
    again.resp_ip_bytes = 999_999;
    again.last_us += 60_000_000;
    let mut current = row(340);
    current.orig_ip_bytes = 12_345;
    writer.flow(again.clone());
    writer.flow(current.clone());
    writer.shutdown();

    let c = rusqlite::Connection::open(store.path()).unwrap();
    let count = |id: u64| -> i64 {
        c.query_row("SELECT count(*) FROM flows WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap()
    };
    assert_eq!(count(5), 1);
    assert_eq!(count(340), 1);
    let total: i64 = c
        .query_row("SELECT count(*) FROM flows", [], |r| r.get(0))
        .unwrap();
    assert_eq!(total, 350);
    assert_eq!(store.flow(5).unwrap(), Some(again));
    assert_eq!(store.flow(340).unwrap(), Some(current));
}

struct FakeClock(Cell<u64>);
impl Clock for FakeClock {
    fn now_us(&self) -> u64 {
        self.0.get()
    }
}

#[test]
fn retention_drops_the_partitions_it_empties_and_keeps_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let (store, writer) = open(&dir);
    // In time order this time: partition k holds flows 100k+1 ..= 100k+100.
    let at = |id: u64| T0 + id * 1_000_000;
    for id in 1..=500 {
        writer.flow(flow(id, at(id)));
    }
    writer.shutdown();
    assert_eq!(parts(&store).len(), 5);

    // Keep flows that started at or after flow 250: partitions 1 and 2 go,
    // partition 3 keeps its second half.
    let policy = RetentionPolicy {
        max_age_us: Some(at(500) - at(250)),
        max_db_bytes: None,
        batch_rows: 64,
        vacuum_pages: 1_000,
    };
    let clock = FakeClock(Cell::new(at(500)));
    let r = store.enforce_retention(&policy, &clock, 100).unwrap();
    assert_eq!(r.deleted_flows, 249);
    let p: Vec<i64> = parts(&store).iter().map(|(n, _)| *n).collect();
    assert_eq!(p, vec![3, 4, 5]);
    assert_eq!(store.flow(249).unwrap(), None);
    assert_eq!(store.flow(250).unwrap().map(|f| f.id), Some(250));
    assert_eq!(paged_ids(&store, &Query::new(), 100).len(), 251);
    assert!(store.integrity_ok().unwrap());

    // Everything expires: the newest partition stays, empty, and takes the
    // next flows.
    clock.0.set(at(10_000));
    store.enforce_retention(&policy, &clock, 100).unwrap();
    assert_eq!(
        parts(&store).iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        vec![5]
    );
    assert_eq!(store.max_flow_id().unwrap(), None);
    let (store, writer) = open(&dir);
    writer.flow(flow(501, at(501)));
    writer.shutdown();
    assert_eq!(paged_ids(&store, &Query::new(), 10), vec![501]);
}

#[test]
fn past_the_partition_cap_the_newest_keeps_growing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig {
        flow_partition_rows: 1,
        ..small_parts()
    };
    let (store, writer) = Store::open(dir.path().join("t.db"), cfg).unwrap();
    let cap = nightjar_store::flow_parts::MAX_PARTS;
    let n = u64::try_from(cap).unwrap() + 25;
    let rows: Vec<FlowRow> = (1..=n).map(|id| flow(id, T0 + id * 1_000)).collect();
    for f in &rows {
        writer.flow(f.clone());
    }
    assert_eq!(writer.shutdown().committed_rows, n);
    let p = parts(&store);
    assert_eq!(p.len(), cap);
    assert_eq!(p.last().map(|(_, rows)| *rows), Some(26));
    assert_eq!(paged_ids(&store, &Query::new(), 97), want(&rows, |_| true));
    assert_eq!(store.max_flow_id().unwrap(), Some(n));
}
