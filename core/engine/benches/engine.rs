//! Per-packet cost on an established flow, and the rate of new flows.
//! Targets (docs/perf.md): <= 100 ns per established-flow packet, >= 1M new flows/s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use nightjar_engine::{Direction, Engine, EngineConfig};
use nightjar_synth::SynFlood;

mod workload;

fn established(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(1));
    let (mut engine, data) = workload::established();
    let mut now = 3u64;
    group.bench_function("established_flow_packet", |b| {
        b.iter(|| {
            now += 1;
            black_box(engine.on_packet(now, Direction::Inbound, black_box(&data)))
        })
    });
    group.finish();
}

fn new_flows(c: &mut Criterion) {
    const N: usize = 100_000;
    let mut flood = SynFlood::new(7);
    let packets: Vec<(u64, Direction, Vec<u8>)> = (0..N)
        .map(|_| {
            let mut b = Vec::new();
            let (ts, d) = flood.next_into(&mut b).unwrap();
            (ts, d, b)
        })
        .collect();
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(N as u64));
    group.sample_size(20);
    for (label, max_flows) in [
        ("new_flows_table_not_full", 2 * N),
        ("new_flows_evicting", 10_000),
    ] {
        group.bench_function(label, |b| {
            b.iter_batched(
                || {
                    let mut cfg = EngineConfig::default();
                    cfg.flows.max_flows = max_flows;
                    cfg.max_events = N;
                    Engine::new(cfg).unwrap()
                },
                |mut engine| {
                    for (ts, d, p) in &packets {
                        black_box(engine.on_packet(*ts, *d, p));
                    }
                    // Draining is part of the cost a caller pays per flow.
                    while engine.next_event().is_some() {}
                    engine
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, established, new_flows);
criterion_main!(benches);
