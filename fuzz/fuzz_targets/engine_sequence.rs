//! The whole engine: packets both ways with time steps, captured (snapped)
//! packets, polls, flushes, attributions and event drains, under small caps so
//! eviction and shedding run. After every step the accounting invariants hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightjar_engine::{AppId, Engine, Event, FlowRef};
use nightjar_fuzz::engine_script::{self, Op};
use nightjar_fuzz::{EPOCH_US, step};

/// Flows remembered for attribution (some will be gone by the time they are used).
const RECENT: usize = 8;

fn check(engine: &Engine, max_flows: usize, max_events: usize) {
    let stats = engine.stats();
    let p = stats.packets;
    assert_eq!(
        p.packets,
        p.in_flows + p.no_flow_total(),
        "packet accounting: {stats:?}"
    );
    assert!(
        stats.live_flows <= max_flows,
        "live flows over cap: {stats:?}"
    );
    assert!(engine.pending_events() <= max_events, "events over cap");
    let m = engine.memory();
    assert!(
        m.flow_table <= m.flow_table_cap,
        "flow table over cap: {m:?}"
    );
    assert!(
        m.reassembly <= m.reassembly_cap,
        "reassembly over cap: {m:?}"
    );
    assert!(m.events <= m.events_cap, "event queue over cap: {m:?}");
    assert!(
        m.inspection <= m.inspection_cap,
        "inspection over cap: {m:?}"
    );
    // The name cache is capped in entries, not bytes, and total_cap() leaves
    // it out; everything else must fit the sum of the caps.
    assert!(
        m.total() - m.name_cache <= m.total_cap(),
        "memory over cap: {m:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let (knobs, steps) = engine_script::decode(data);
    let config = knobs.config();
    let Ok(mut engine) = Engine::new(config) else {
        return;
    };
    let (max_flows, max_events) = (config.flows.max_flows, config.max_events);
    let mut now = EPOCH_US;
    let mut recent: Vec<FlowRef> = Vec::with_capacity(RECENT);
    let mut completed = 0u64;
    for s in steps {
        now = step(now, s.scale, s.count, s.backwards);
        let verdict = match s.op {
            Op::Packet { direction, bytes } => Some(engine.on_packet(now, direction, bytes)),
            Op::Captured {
                direction,
                bytes,
                cut,
            } => Some(engine.on_captured(now, direction, bytes, bytes.len() + usize::from(cut))),
            Op::Poll => {
                engine.poll(now);
                None
            }
            Op::Flush => {
                engine.flush();
                assert_eq!(engine.stats().live_flows, 0, "flush left flows");
                None
            }
            Op::Attribute { recent: i, app } => {
                if let Some(flow) = recent.get(usize::from(i) % RECENT.max(1)) {
                    engine.attribute(*flow, AppId(u32::from(app)));
                }
                None
            }
            Op::Drain(n) => {
                let limit = if n == 0 { usize::MAX } else { usize::from(n) };
                for _ in 0..limit {
                    match engine.next_event() {
                        Some(Event::FlowCompleted(r)) => {
                            completed += 1;
                            let _ = r;
                        }
                        Some(e) => {
                            let _ = e;
                        }
                        None => break,
                    }
                }
                None
            }
        };
        if let Some(v) = verdict {
            // A packet lands in a flow or is counted with a reason, never both or neither.
            assert!(v.flow.is_some() != v.no_flow.is_some(), "verdict {v:?}");
            if let Some(flow) = v.flow {
                if recent.len() == RECENT {
                    recent.remove(0);
                }
                recent.push(flow);
            }
        }
        check(&engine, max_flows, max_events);
    }
    engine.flush();
    check(&engine, max_flows, max_events);
    while engine.next_event().is_some() {
        completed += 1;
    }
    let stats = engine.stats();
    assert_eq!(stats.live_flows, 0);
    let _ = completed;
});
