//! Store benchmarks: sustained flow inserts through the writer, bytes per
//! stored flow, and latency of each query on a 1M-flow database.
//! Run with `cargo bench -p nightjar-store -- --quick`.
// Bench harness, not packet path: a failed setup should abort loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nightjar_store::{Query, Severity, Store, StoreConfig, TalkerGroup, TimeWindow};

mod data;

use data::{BIG, T0, alert, dns, push};

fn inserts(c: &mut Criterion) {
    let mut g = c.benchmark_group("writer");
    const N: u64 = 100_000;
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.bench_function("insert_100k_flows", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("bench setup");
                let (_s, w) = Store::open(dir.path().join("b.db"), StoreConfig::default())
                    .expect("bench setup");
                let t = Instant::now();
                push(&w, 0, N);
                let st = w.shutdown();
                total += t.elapsed();
                assert_eq!(st.committed_rows, N);
            }
            total
        });
    });
    g.finish();
}

fn queries(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("bench setup");
    let path = dir.path().join("big.db");
    let (store, w) = Store::open(
        &path,
        StoreConfig {
            batch_rows: 50_000,
            ..StoreConfig::default()
        },
    )
    .expect("bench setup");
    let t = Instant::now();
    push(&w, 0, BIG);
    for i in 0..100_000 {
        while !w.dns(dns(i)) {
            std::thread::yield_now();
        }
    }
    for i in 0..1_000 {
        while !w.alert(alert(i)) {
            std::thread::yield_now();
        }
    }
    w.shutdown();
    store.checkpoint().expect("bench setup");
    let bytes = store.db_bytes().expect("bench setup");
    eprintln!(
        "built 1M flows + 100k dns + 1k alerts in {:.1} s; db {} bytes, ~{} bytes per flow row",
        t.elapsed().as_secs_f64(),
        bytes,
        bytes / (BIG + 100_000)
    );

    let mid = T0 + BIG * 500;
    let hour = TimeWindow::new(mid, mid + 3_600_000_000);
    let mut g = c.benchmark_group("query_1m");
    g.sample_size(20);
    let page = |q: Query| q.limit(100);
    let cases: Vec<(&str, Query)> = vec![
        ("flows_by_domain", page(Query::new().domain("d42.example"))),
        (
            "flows_by_parent_domain",
            page(Query::new().domain("example")),
        ),
        ("flows_by_app", page(Query::new().app(10_007))),
        (
            "flows_by_ip",
            page(
                Query::new().ip("192.0.0.42"
                    .parse()
                    .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))),
            ),
        ),
        ("flows_by_time", page(Query::new().window(hour))),
        ("flows_by_proto", page(Query::new().proto(17))),
    ];
    for (name, q) in &cases {
        g.bench_function(*name, |b| {
            b.iter(|| black_box(store.flows(q).map(|p| p.items.len())))
        });
    }
    let dq = page(Query::new().domain("d42.example"));
    g.bench_function("dns_by_domain", |b| {
        b.iter(|| black_box(store.dns(&dq).map(|p| p.items.len())))
    });
    let aq = page(Query::new().severity(Severity::High));
    g.bench_function("alerts_by_severity", |b| {
        b.iter(|| black_box(store.alerts(&aq).map(|p| p.items.len())))
    });
    let tq = page(Query::new());
    g.bench_function("timeline_app", |b| {
        b.iter(|| black_box(store.timeline(10_007, &tq).map(|p| p.items.len())))
    });
    g.bench_function("top_talkers_app_1h", |b| {
        b.iter(|| black_box(store.top_talkers(TalkerGroup::App, hour, 10)))
    });
    g.bench_function("top_talkers_domain_1h", |b| {
        b.iter(|| black_box(store.top_talkers(TalkerGroup::Domain, hour, 10)))
    });
    g.bench_function("summary_1h", |b| b.iter(|| black_box(store.summary(hour))));
    g.bench_function("coverage_1h", |b| {
        b.iter(|| black_box(store.coverage(hour).map(|c| c.flows)))
    });
    g.finish();
}

criterion_group!(benches, inserts, queries);
criterion_main!(benches);
