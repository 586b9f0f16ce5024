//! Runs the engine benches' workloads without criterion, so that
//! `valgrind --tool=callgrind` can count instructions per packet (a figure the
//! shared machine's load does not move). Only `drive` is counted
//! (`--toggle-collect`), so building the packets and the 10,000 background
//! flows is left out; `core/engine/bench/instructions.sh` divides by N.
//!
//! `cargo run --release -p nightjar-engine --example hot_path -- established|new|evicting N`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use nightjar_engine::{Direction, Engine, EngineConfig};
use nightjar_synth::SynFlood;

#[path = "../benches/workload/mod.rs"]
mod workload;

/// The `engine/established_flow_packet` workload: one flow among 10,000 others.
fn established(n: u64) {
    let (mut engine, data) = workload::established();
    let packets = (3..3 + n).map(|now| (now, Direction::Inbound, data.as_slice()));
    drive(&mut engine, packets);
}

/// The counted part: the packets, then draining the events they queued.
#[inline(never)]
fn drive<'a>(engine: &mut Engine, packets: impl Iterator<Item = (u64, Direction, &'a [u8])>) {
    for (ts, d, p) in packets {
        black_box(engine.on_packet(ts, d, black_box(p)));
    }
    // Draining is part of the cost a caller pays per flow.
    while black_box(engine.next_event()).is_some() {}
}

/// The `engine/new_flows_*` workloads: SYNs of distinct flows, events drained.
fn new_flows(n: u64, max_flows: usize) {
    let mut flood = SynFlood::new(7);
    let packets: Vec<(u64, Direction, Vec<u8>)> = (0..n)
        .map(|_| {
            let mut b = Vec::new();
            let (ts, d) = flood.next_into(&mut b).unwrap();
            (ts, d, b)
        })
        .collect();
    let mut cfg = EngineConfig::default();
    cfg.flows.max_flows = max_flows;
    cfg.max_events = n as usize;
    let mut engine = Engine::new(cfg).unwrap();
    drive(
        &mut engine,
        packets.iter().map(|(ts, d, p)| (*ts, *d, p.as_slice())),
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "established".into());
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    match mode.as_str() {
        "established" => established(n),
        // As the bench: the table never fills ...
        "new" => new_flows(n, 2 * n as usize),
        // ... or holds 10,000 flows, so every SYN past them evicts one.
        "evicting" => new_flows(n, 10_000),
        other => panic!("unknown workload {other}"),
    }
}
