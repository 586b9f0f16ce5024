//! Compile, open and lookup costs on a generated 1,000,000-domain feed. Criterion reports the
//! timings; nothing here asserts on speed.
//!
//! Lookups are measured in on-CPU time of the benchmark thread (Linux schedstat), not wall
//! time, so time spent waiting for a CPU on a shared machine is not counted; they cycle
//! through 100,000 distinct names of each kind, as the `scale` example does, so the filter
//! is not artificially cache-hot.
// A measurement harness, never on the packet path: failing loudly is the right behaviour.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
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

/// On-CPU nanoseconds of the calling thread; falls back to wall time where schedstat is
/// missing (then the figures include waiting for a CPU).
struct ThreadCpu(WallTime);

fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

impl Measurement for ThreadCpu {
    type Intermediate = (Option<u64>, std::time::Instant);
    type Value = std::time::Duration;
    fn start(&self) -> Self::Intermediate {
        (cpu_ns(), std::time::Instant::now())
    }
    fn end(&self, (cpu, wall): Self::Intermediate) -> Self::Value {
        match (cpu, cpu_ns()) {
            (Some(a), Some(b)) => std::time::Duration::from_nanos(b.saturating_sub(a)),
            _ => wall.elapsed(),
        }
    }
    fn add(&self, a: &Self::Value, b: &Self::Value) -> Self::Value {
        *a + *b
    }
    fn zero(&self) -> Self::Value {
        std::time::Duration::ZERO
    }
    fn to_f64(&self, v: &Self::Value) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self.0.formatter()
    }
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
}

const DISTINCT: u64 = 100_000;

fn lookups(c: &mut Criterion<ThreadCpu>) {
    let names: Vec<String> = (0..N as u64).map(name).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.idx");
    std::fs::write(&path, build(&names)).unwrap();
    let idx = Index::open(&path).unwrap();
    let misses: Vec<String> = (0..DISTINCT)
        .map(|i| format!("cdn{i}.static.{}", name(N as u64 + i)))
        .collect();
    let hits: Vec<String> = (0..DISTINCT)
        .map(|i| format!("cdn{i}.static.{}", names[(i * 7919) as usize % N]))
        .collect();
    drop(names);
    assert!(idx.lookup_domain(&hits[0], 1).is_blocked());
    assert!(!idx.lookup_domain(&misses[0], 1).is_blocked());
    let mut g = c.benchmark_group("intel_cpu");
    let mut i = 0usize;
    let mut next = || {
        i = (i + 1) % DISTINCT as usize;
        i
    };
    g.bench_function("lookup_ref_miss_4_labels", |b| {
        b.iter(|| black_box(idx.lookup_domain_ref(&misses[next()], 1).is_blocked()))
    });
    g.bench_function("lookup_ref_hit_4_labels", |b| {
        b.iter(|| black_box(idx.lookup_domain_ref(&hits[next()], 1).is_blocked()))
    });
    g.bench_function("lookup_miss_4_labels", |b| {
        b.iter(|| black_box(idx.lookup_domain(&misses[next()], 1)))
    });
    g.bench_function("lookup_hit_4_labels", |b| {
        b.iter(|| black_box(idx.lookup_domain(&hits[next()], 1)))
    });
    g.bench_function("lookup_ip_miss", |b| {
        b.iter(|| {
            let i = next();
            black_box(idx.lookup_ip(std::net::IpAddr::from([10, 0, (i >> 8) as u8, i as u8]), 1))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpu(WallTime));
    targets = lookups
}
criterion_main!(benches, cpu);
