//! The report on the store's 1M-flow benchmark database (1,000,000 flows,
//! 100,000 DNS transactions, 1,000 alerts, the rows of the store's own
//! `query_1m` benchmark; the alerts also name a flow and carry signals and
//! provenance, as real ones do). Prints the page size once.
//! Run with `cargo bench -p nightjar-report -- --quick`.
// Bench harness, not packet path: a failed setup should abort loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]

#[path = "../../store/benches/data/mod.rs"]
mod data;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use nightjar_report::ReportOptions;
use nightjar_store::{Signal, Store, StoreConfig};

fn report(c: &mut Criterion) {
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
    data::push(&w, 0, data::BIG);
    for i in 0..100_000 {
        while !w.dns(data::dns(i)) {
            std::thread::yield_now();
        }
    }
    for i in 0..1_000 {
        let mut a = data::alert(i);
        a.flow_uids = vec![data::flow(i * 997).uid];
        a.signals = (0..6)
            .map(|k| Signal {
                name: format!("signal_{k}"),
                value: f64::from(k) * 0.5,
                weight: 1.0 / f64::from(k + 1),
            })
            .collect();
        a.provenance = serde_json::json!({
            "feed": "bench-feed", "version": "2026-11-01", "indicator_id": format!("indicator--{i}"),
            "valid_from": "2026-10-01T00:00:00Z"
        });
        while !w.alert(a.clone()) {
            std::thread::yield_now();
        }
    }
    w.shutdown();
    store.checkpoint().expect("bench setup");
    eprintln!(
        "built 1M flows + 100k dns + 1k alerts in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let reader = Store::open_reader(&path, Duration::from_secs(5)).expect("bench setup");
    let options = ReportOptions::default();
    let t = Instant::now();
    let html = nightjar_report::render(&reader, &options).expect("report");
    eprintln!(
        "report: {} bytes, first render {:.2} s",
        html.len(),
        t.elapsed().as_secs_f64()
    );
    let mut g = c.benchmark_group("report_1m");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("whole_database", |b| {
        b.iter(|| black_box(nightjar_report::render(&reader, &options).map(|h| h.len())))
    });
    g.finish();
}

criterion_group!(benches, report);
criterion_main!(benches);
