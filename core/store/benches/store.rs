//! Store benchmarks: sustained flow inserts through the writer, bytes per
//! stored flow, and latency of each query on a 1M-flow database.
//! Run with `cargo bench -p nightjar-store -- --quick`.
// Bench harness, not packet path: a failed setup should abort loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::mpsc::TrySendError;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nightjar_store::{
    AlertAction, AlertRow, AlertState, DnsRow, FlowRow, Query, Record, Severity, Store,
    StoreConfig, TalkerGroup, TimeWindow,
};

const T0: u64 = 1_700_000_000_000_000;
const BIG: u64 = 1_000_000;

fn flow(id: u64) -> FlowRow {
    let d = id % 10_000;
    let name = format!("h{}.d{d}.example", id % 7);
    FlowRow {
        id,
        uid: format!("C{id:016x}"),
        app_uid: Some(10_000 + u32::try_from(id % 50).unwrap_or(0)),
        app_name: Some(format!("com.example.app{}", id % 50)),
        proto: if id.is_multiple_of(5) { 17 } else { 6 },
        orig_h: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        orig_p: 30_000 + u16::try_from(id % 30_000).unwrap_or(0),
        resp_h: IpAddr::V4(Ipv4Addr::from(
            0xC000_0000u32 + u32::try_from(d).unwrap_or(0),
        )),
        resp_p: 443,
        first_us: T0 + id * 1_000,
        last_us: T0 + id * 1_000 + 2_000_000,
        orig_pkts: 12,
        resp_pkts: 20,
        orig_ip_bytes: 1_500 + id % 1_000,
        resp_ip_bytes: 30_000 + id % 7_000,
        conn_state: "SF".into(),
        community_id: Some("1:LQU9qZlK+B5F3KDmev6m5PMibrg=".into()),
        sni: Some(name.clone()),
        name: Some(name),
        name_source: Some("sni".into()),
        alpn: Some("h2".into()),
        ja4: Some("t13d1516h2_8daaf6152771_02713d6af862".into()),
        http_host: None,
        ech: false,
        end_reason: "fin".into(),
    }
}

fn dns(i: u64) -> DnsRow {
    DnsRow {
        ts_us: T0 + i * 10_000,
        flow_uid: None,
        app_uid: Some(10_000 + u32::try_from(i % 50).unwrap_or(0)),
        client: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 5353),
        server: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 53),
        transport: "udp".into(),
        id: 7,
        query: format!("h{}.d{}.example", i % 7, i % 10_000),
        qtype: 1,
        qclass: 1,
        rcode: Some(0),
        rcode_name: Some("NOERROR".into()),
        answers: vec!["192.0.2.1".into()],
        ttls: vec![60],
        rtt_us: Some(9_000),
        answered: true,
    }
}

fn alert(i: u64) -> AlertRow {
    AlertRow {
        id: i + 1,
        ts_us: T0 + i * 1_000_000,
        severity: [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ][usize::try_from(i % 4).unwrap_or(0)],
        score: 0.5,
        state: AlertState::New,
        app_uid: Some(10_000 + u32::try_from(i % 50).unwrap_or(0)),
        domain: Some(format!("d{}.example", i % 10_000)),
        ips: vec![],
        flow_uids: vec![],
        detector: "bench".into(),
        attack: vec!["DC0113".into()],
        signals: vec![],
        provenance: serde_json::Value::Null,
        retroactive: false,
        action: AlertAction::Record,
        enforcement: None,
    }
}

/// Pushes `n` flows through the writer, spinning when the queue is full
/// (the benchmark measures the writer, not drop behaviour).
fn push(writer: &nightjar_store::StoreWriter, base: u64, n: u64) {
    let sender = writer.sender().expect("writer running");
    for i in 0..n {
        // try_send hands a row back on a full queue: no clone per row.
        let mut rec = Record::Flow(Box::new(flow(base + i)));
        while let Err(TrySendError::Full(back)) = sender.try_send(rec) {
            rec = back;
            std::thread::yield_now();
        }
    }
}

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
