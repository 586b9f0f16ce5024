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
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
