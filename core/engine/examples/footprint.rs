//! Prints the flow table's memory per live flow at its cap (docs/perf.md).
//! `cargo run --release -p nightjar-engine --example footprint`
#![allow(clippy::unwrap_used)]

use nightjar_engine::{Engine, EngineConfig};
use nightjar_synth::SynFlood;

fn main() {
    for cap in [10_000usize, 50_000] {
        let mut cfg = EngineConfig::default();
        cfg.flows.max_flows = cap;
        let mut engine = Engine::new(cfg).unwrap();
        let mut flood = SynFlood::new(3);
        let mut buf = Vec::new();
        for _ in 0..cap {
            let (ts, dir) = flood.next_into(&mut buf).unwrap();
            engine.on_packet(ts, dir, &buf);
        }
        let m = engine.memory();
        let live = engine.stats().live_flows;
        println!(
            "cap {cap}: {live} live flows, flow table {} bytes = {:.1} bytes/flow (cap estimate {} bytes)",
            m.flow_table,
            m.flow_table as f64 / live as f64,
            m.flow_table_cap
        );
    }
}
