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

/// Writes the `i`-th name of an endless sequence of distinct ones into `buf` (no allocation
/// once `buf` has grown): four pseudo-random letters, then `i` in base 26 over five letters
/// (distinct for the first 11.8M), so every iteration of a bench sees a never-seen name.
fn fresh_name(buf: &mut String, i: u64) {
    buf.clear();
    buf.push_str("www.");
    let mut x = i
        .wrapping_add(0x9E37_79B9_7F4A_7C15)
        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    for _ in 0..4 {
        buf.push(char::from(b'a' + (x % 26) as u8));
        x /= 26;
    }
    let mut n = i;
    for _ in 0..5 {
        buf.push(char::from(b'a' + (n % 26) as u8));
        n /= 26;
    }
    buf.push_str(".com");
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
    g.bench_function("fresh_name_only", |b| {
        // The cost of making the names below, to subtract from the two benches that use them.
        let mut buf = String::new();
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            fresh_name(&mut buf, i);
            black_box(buf.len())
        })
    });
    g.bench_function("all_detectors_new_domain", |b| {
        let mut seen = FirstSeen::new(FirstSeenConfig::default());
        let mut tunnel = TunnelDetector::new(TunnelConfig::default());
        let mut nx = NxdomainTracker::new(NxdomainConfig::default());
        let mut name = String::new();
        let mut i = 0u64;
        let mut now = 1_700_000_000_000_000u64;
        b.iter(|| {
            i += 1;
            now += 1_000;
            fresh_name(&mut name, i);
            let d = model.score(&name);
            let s = seen.observe(now, "com.example.app", &name);
            let t = tunnel.observe(now, &name);
            let n = nx.observe(now, "com.example.app", &name);
            black_box((d, s, t, n))
        })
    });
    g.bench_function("pipeline_hello_new_domain", |b| {
        // The whole pipeline on a ClientHello for a never-seen name: intel (none loaded),
        // first-seen, DGA, post-install window, baseline stage, gate.
        let mut p =
            nightjar_detect::Pipeline::new(nightjar_detect::PipelineConfig::default()).unwrap();
        let mut name = String::new();
        let mut i = 0u64;
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
            i += 1;
            now += 1_000;
            hello.ts_us = now;
            fresh_name(&mut name, i);
            hello.server_name = Some(name.clone());
            p.on_hello(now, black_box(&hello));
            while let Some(a) = p.next_alert() {
                black_box(a);
            }
        })
    });
    g.bench_function("pipeline_flow_completed", |b| {
        // The whole pipeline on a completed TCP flow: protocol baseline, intel by address,
        // then beaconing. 64 (app, destination) pairs take turns, half on a timer and half at
        // exponential gaps, so every flow is scored against a full ring of past starts.
        let mut p =
            nightjar_detect::Pipeline::new(nightjar_detect::PipelineConfig::default()).unwrap();
        let names: Vec<std::sync::Arc<str>> = (0..64)
            .map(|k| std::sync::Arc::from(format!("api.service{k}.example")))
            .collect();
        let mut next_at: Vec<u64> = vec![1_700_000_000_000_000; 64];
        let mut x: u64 = 0x9E37_79B9;
        let mut i = 0u64;
        let mut r = nightjar_engine::FlowRecord {
            id: nightjar_engine::FlowId(1),
            protocol: 6,
            orig: "10.0.0.2:40000".parse().unwrap(),
            resp: "203.0.113.5:443".parse().unwrap(),
            app: Some(nightjar_engine::AppId(10_100)),
            first_us: 0,
            last_us: 0,
            orig_pkts: 6,
            resp_pkts: 5,
            orig_ip_bytes: 900,
            resp_ip_bytes: 4200,
            tcp: None,
            end: nightjar_engine::EndReason::Closed,
            name: None,
            name_source: None,
            ech: false,
            tunnel: None,
        };
        b.iter(|| {
            i += 1;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = (i % 64) as usize;
            let gap = if k.is_multiple_of(2) {
                60_000_000 + x % 6_000_000
            } else {
                // -ln(u) * 60 s, u in (0, 1].
                let u = ((x >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
                (-u.ln() * 60e6) as u64 + 2_500_000
            };
            next_at[k] += gap;
            r.id = nightjar_engine::FlowId(i);
            r.first_us = next_at[k];
            r.last_us = next_at[k] + 300_000;
            r.resp = std::net::SocketAddr::from(([203, 0, 113, k as u8], 443));
            r.name = Some(names[k].clone());
            p.on_flow(r.last_us, black_box(&r));
            while let Some(a) = p.next_alert() {
                black_box(a);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
