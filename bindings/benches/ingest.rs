//! Per-call overhead of `NightjarEngine::ingest` (the exported method, Rust side): batches of
//! 1, 32, 64 and 256 packets from the synthetic phone session, no database; and of
//! `ingest_batch` (one buffer, lengths, directions) in batches of 64. Each iteration copies its
//! input once, as lifting the arguments from the FFI does.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nightjar_ffi::records::Packet;
use nightjar_ffi::{EngineSettings, Mode, NightjarEngine, default_memory_caps};
use nightjar_wire::Direction;

fn ingest(c: &mut Criterion) {
    let session = nightjar_synth::phone_session(11);
    let packets: Vec<Packet> = session
        .packets
        .iter()
        .map(|p| Packet {
            bytes: p.bytes.clone(),
            outbound: p.direction == Direction::Outbound,
            ts_us: p.ts_micros,
        })
        .collect();
    let mut group = c.benchmark_group("ingest");
    for batch in [1_usize, 32, 64, 256] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            let Ok(engine) = NightjarEngine::new(settings()) else {
                return;
            };
            // Replays the session in a loop; the engine sees old timestamps again, which
            // exercises the same lookups a live tunnel does.
            let mut chunks = packets.chunks(batch).cycle();
            b.iter(|| {
                let chunk = chunks.next().unwrap_or_default().to_vec();
                black_box(engine.ingest(black_box(chunk)))
            });
        });
    }
    group.finish();

    const BATCH: usize = 64;
    let mut group = c.benchmark_group("ingest_batch");
    group.throughput(Throughput::Elements(BATCH as u64));
    // One contiguous buffer, lengths, directions and a time per batch, as a host fills them.
    type Batch = (Vec<u8>, Vec<u32>, Vec<bool>, u64);
    let batches: Vec<Batch> = packets
        .chunks(BATCH)
        .filter(|c| c.len() == BATCH)
        .map(|c| {
            (
                c.iter().flat_map(|p| p.bytes.iter().copied()).collect(),
                c.iter().map(|p| p.bytes.len() as u32).collect(),
                c.iter().map(|p| p.outbound).collect(),
                c.first().map_or(0, |p| p.ts_us),
            )
        })
        .collect();
    group.bench_function(BenchmarkId::from_parameter(BATCH), |b| {
        let Ok(engine) = NightjarEngine::new(settings()) else {
            return;
        };
        let mut chunks = batches.iter().cycle();
        b.iter(|| {
            let Some((bytes, lengths, outbound, ts)) = chunks.next() else {
                return;
            };
            let r = engine.ingest_batch(
                black_box(bytes.clone()),
                lengths.clone(),
                outbound.clone(),
                *ts,
            );
            black_box(r).ok();
        });
    });
    group.finish();
}

fn settings() -> EngineSettings {
    EngineSettings {
        db_path: None,
        intel_index_path: None,
        mode: Mode::Monitor,
        caps: default_memory_caps(),
        hash_seed: 1,
        relay: None,
        block_at: None,
    }
}

criterion_group!(benches, ingest);
criterion_main!(benches);
