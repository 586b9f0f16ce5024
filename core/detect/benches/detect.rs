//! Per-domain cost of the detectors: one new name scored by the DGA model and
//! booked into first-seen, tunnelling and NXDOMAIN state.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use nightjar_detect::{
    DgaModel, FirstSeen, FirstSeenConfig, NxdomainConfig, NxdomainTracker, TunnelConfig,
    TunnelDetector,
};

fn names(n: usize) -> Vec<String> {
    let mut x: u64 = 0x1234_5678;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let label: String = (0..8 + (x % 10) as usize)
                .map(|k| char::from(b'a' + ((x >> (k * 5)) % 26) as u8))
                .collect();
            format!("www{}.{label}.com", i % 7)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let model = DgaModel::builtin().unwrap();
    let names = names(4096);
    let mut g = c.benchmark_group("detect");
    g.bench_function("dga_score", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % names.len();
            black_box(model.score(black_box(&names[i])))
        })
    });
    g.bench_function("dga_probability", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % names.len();
            black_box(model.probability(black_box(&names[i])))
        })
    });
    g.bench_function("all_detectors_new_domain", |b| {
        let mut seen = FirstSeen::new(FirstSeenConfig::default());
        let mut tunnel = TunnelDetector::new(TunnelConfig::default());
        let mut nx = NxdomainTracker::new(NxdomainConfig::default());
        let mut i = 0usize;
        let mut now = 1_700_000_000_000_000u64;
        b.iter(|| {
            i = (i + 1) % names.len();
            now += 1_000;
            let name = &names[i];
            let d = model.score(name);
            let s = seen.observe(now, "com.example.app", name);
            let t = tunnel.observe(now, name);
            let n = nx.observe(now, "com.example.app", name);
            black_box((d, s, t, n))
        })
    });
    g.bench_function("pipeline_hello_new_domain", |b| {
        // The whole pipeline on a ClientHello for a never-seen name: intel (none loaded),
        // first-seen, DGA, post-install window, baseline stage, gate.
        let mut p =
            nightjar_detect::Pipeline::new(nightjar_detect::PipelineConfig::default()).unwrap();
        let mut i = 0usize;
        let mut now = 1_700_000_000_000_000u64;
        let mut hello = nightjar_engine::HelloRecord {
            ts_us: now,
            flow: nightjar_engine::FlowId(1),
            orig: "10.0.0.2:40000".parse().unwrap(),
            resp: "203.0.113.5:443".parse().unwrap(),
            app: Some(nightjar_engine::AppId(10_100)),
            server_name: None,
            alpn: vec![],
            max_version: 0x0304,
            ja4: String::new(),
            ech: false,
            quic_version: None,
        };
        b.iter(|| {
            i = (i + 1) % names.len();
            now += 1_000;
            hello.ts_us = now;
            hello.server_name = Some(names[i].clone());
            p.on_hello(now, black_box(&hello));
            while let Some(a) = p.next_alert() {
                black_box(a);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
