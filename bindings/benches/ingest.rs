//! Per-call overhead of `NightjarEngine::ingest` (the exported method, Rust side): batches of
//! 1, 32 and 256 packets from the synthetic phone session, no database.

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
    for batch in [1_usize, 32, 256] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            let settings = EngineSettings {
                db_path: None,
                intel_index_path: None,
                mode: Mode::Monitor,
                caps: default_memory_caps(),
                hash_seed: 1,
                relay: None,
                block_at: None,
            };
            let Ok(engine) = NightjarEngine::new(settings) else {
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
}

criterion_group!(benches, ingest);
criterion_main!(benches);
