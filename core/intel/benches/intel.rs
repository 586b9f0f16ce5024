//! Compile, open and lookup costs on a generated 1,000,000-domain feed. Criterion reports the
//! timings; nothing here asserts on speed.
// A measurement harness, never on the packet path: failing loudly is the right behaviour.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use nightjar_intel::{Index, IndexBuilder, Indicator, IndicatorId, ListKind, Severity, Target};

const N: usize = 1_000_000;
const TLDS: [&str; 8] = ["com", "net", "org", "ru", "top", "xyz", "info", "cn"];

/// Deterministic, DGA-looking names: `<letters>.<tld>`.
fn name(i: u64) -> String {
    let mut x = i
        .wrapping_add(0x9E37_79B9_7F4A_7C15)
        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let len = 6 + (x % 10) as usize;
    let mut s = String::with_capacity(len + 5);
    for _ in 0..len {
        x ^= x >> 31;
        x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
        s.push((b'a' + (x % 26) as u8) as char);
    }
    s.push_str(&format!("{i}."));
    s.push_str(TLDS[(i % 8) as usize]);
    s
}

fn build(names: &[String]) -> Vec<u8> {
    let mut b = IndexBuilder::new();
    let h = b
        .begin_feed(
            "generated",
            Some("1"),
            "generated.txt",
            ListKind::Block,
            Severity::Medium,
        )
        .unwrap();
    for (i, n) in names.iter().enumerate() {
        let t = Target::Domain {
            name: n.clone(),
            subdomains_only: false,
        };
        b.push(h, &Indicator::new(t, IndicatorId::Line(i as u32 + 1)))
            .unwrap();
    }
    b.build(0).unwrap()
}

fn bench(c: &mut Criterion) {
    let names: Vec<String> = (0..N as u64).map(name).collect();
    let bytes = build(&names);
    eprintln!("index file size for {N} domains: {} bytes", bytes.len());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.idx");
    std::fs::write(&path, &bytes).unwrap();

    let mut g = c.benchmark_group("intel");
    g.sample_size(10);
    g.bench_function("compile_1m", |b| b.iter(|| black_box(build(&names).len())));
    g.finish();

    c.bench_function("open_1m", |b| {
        b.iter(|| black_box(Index::open(&path).unwrap().stats().domain_entries))
    });

    let idx = Index::open(&path).unwrap();
    let misses: Vec<String> = (0..4096u64)
        .map(|i| format!("cdn{i}.static.{}", name(N as u64 + i)))
        .collect();
    let hits: Vec<String> = (0..4096u64)
        .map(|i| format!("cdn{i}.static.{}", names[(i * 241) as usize % N]))
        .collect();
    assert!(idx.lookup_domain(&hits[0], 1).is_blocked());
    assert!(!idx.lookup_domain(&misses[0], 1).is_blocked());
    let mut i = 0usize;
    c.bench_function("lookup_miss_4_labels", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(idx.lookup_domain(&misses[i], 1))
        })
    });
    c.bench_function("lookup_hit_4_labels", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(idx.lookup_domain(&hits[i], 1))
        })
    });
    c.bench_function("lookup_ref_miss_4_labels", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(idx.lookup_domain_ref(&misses[i], 1).is_blocked())
        })
    });
    c.bench_function("lookup_ref_hit_4_labels", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(idx.lookup_domain_ref(&hits[i], 1).is_blocked())
        })
    });
    c.bench_function("lookup_ip_miss", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(idx.lookup_ip(std::net::IpAddr::from([10, 0, (i >> 8) as u8, i as u8]), 1))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
