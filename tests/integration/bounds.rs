//! Memory stays bounded: a million SYNs with random 5-tuples never push the
//! flow table past its cap, and the engine's own accounting stays under its caps.

use nightjar_engine::{Engine, EngineConfig, Event};
use nightjar_synth::SynFlood;

#[test]
fn million_syn_flood_respects_the_cap() {
    let mut config = EngineConfig::default();
    config.flows.max_flows = 50_000;
    let mut engine = Engine::new(config).unwrap();
    let mut flood = SynFlood::new(0x5eed);
    let mut buf = Vec::new();
    let mut completed = 0u64;
    let mut peak = 0;
    let cap_bytes = engine.memory().total_cap();
    for i in 0..1_000_000u64 {
        let (ts, dir) = flood.next_into(&mut buf).unwrap();
        engine.on_packet(ts, dir, &buf);
        while let Some(Event::FlowCompleted(_)) = engine.next_event() {
            completed += 1;
        }
        let live = engine.stats().live_flows;
        peak = peak.max(live);
        assert!(
            live <= 50_000,
            "live flows {live} above the cap at packet {i}"
        );
        if i % 65_536 == 0 {
            let m = engine.memory();
            assert!(
                m.total() <= cap_bytes,
                "memory {} above cap {} at packet {i}: {m:?} vs {:?}",
                m.total(),
                cap_bytes,
                engine.memory()
            );
        }
    }
    let s = engine.stats();
    assert_eq!(peak, 50_000, "the flood should fill the table");
    assert_eq!(s.packets.in_flows, 1_000_000);
    // Every flow beyond the cap was shed by eviction and counted.
    assert_eq!(s.flows.created, 1_000_000);
    assert_eq!(
        s.flows.evicted + s.flows.timed_out,
        s.flows.created - 50_000
    );
    assert_eq!(completed, s.flows.created - 50_000);
    assert!(engine.memory().total() <= cap_bytes);
}
