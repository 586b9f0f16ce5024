//! Decapsulation in the engine: fuzzer-chosen bytes wrapped in 0-4 well-formed
//! tunnel layers (IP in IP, GRE with or without a key, GTP-U with or without a
//! sequence number; IPv4 or IPv6 outer headers) built by `nightjar_synth`, fed
//! to `Engine::on_packet` both ways with time steps, under a small flow table.
//!
//! After every packet: each packet (outer and inner) is counted once, in a flow
//! or under a no-flow reason; at most two layers open, every built layer that
//! carries a built packet opens, and a third built layer that would open is
//! counted `too_deep` exactly once. At the
//! end, `flush` leaves no flows and every tunnelled record names a tunnel
//! protocol.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use nightjar_engine::{Direction, Engine, EngineConfig, Event};
use nightjar_fuzz::{EPOCH_US, records, step};
use nightjar_synth::packet::IpPair;
use nightjar_synth::tunnel::{Encapsulation, encapsulate};
use nightjar_wire::{parse_ip, tunnel};

/// Layers the engine opens (`nightjar_engine::decap::MAX_DEPTH`).
const MAX_DEPTH: usize = 2;

/// One layer from one byte: the encapsulation in the low bits, the outer family
/// and the optional fields above them.
fn layer(b: u8) -> (Encapsulation, IpPair) {
    let how = match b & 3 {
        0 => Encapsulation::IpInIp,
        1 => Encapsulation::Gre {
            key: (b & 4 != 0).then_some(u32::from(b)),
        },
        _ => Encapsulation::GtpU {
            teid: u32::from(b),
            sequence: (b & 4 != 0).then_some(u16::from(b)),
        },
    };
    let ips = if b & 8 == 0 {
        IpPair::V4 {
            src: Ipv4Addr::new(192, 0, 2, b >> 4),
            dst: Ipv4Addr::new(198, 51, 100, 1),
        }
    } else {
        IpPair::V6 {
            src: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(b >> 4)),
            dst: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1),
        }
    };
    (how, ips)
}

fn check(engine: &Engine) {
    let stats = engine.stats();
    let p = stats.packets;
    assert_eq!(
        p.packets,
        p.in_flows + p.no_flow_total(),
        "packet accounting: {stats:?}"
    );
    let m = engine.memory();
    assert!(
        m.flow_table <= m.flow_table_cap,
        "flow table over cap: {m:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let mut config = EngineConfig::default();
    config.flows.max_flows = 16;
    config.max_events = 64;
    let Ok(mut engine) = Engine::new(config) else {
        return;
    };
    let mut now = EPOCH_US;
    // Each record: [flags, step, layer bytes..., inner packet]; flags hold the
    // direction, the layer count (0-4) and the time scale.
    for rec in records::decode(data) {
        let Some((&flags, rest)) = rec.split_first() else {
            continue;
        };
        let Some((&count, rest)) = rest.split_first() else {
            continue;
        };
        now = step(now, flags >> 6, u16::from(count), false);
        let depth = usize::from((flags >> 2) & 7).min(4).min(rest.len());
        let (layers, inner) = rest.split_at(depth);
        // `wrapped[i]`: the packet after `i + 1` layers, innermost first.
        let mut wrapped: Vec<Vec<u8>> = Vec::with_capacity(layers.len());
        for &b in layers.iter().rev() {
            let (how, ips) = layer(b);
            let below = wrapped.last().map_or(inner, Vec::as_slice);
            match encapsulate(ips, how, below) {
                Ok(p) => wrapped.push(p),
                Err(_) => break,
            }
        }
        let built = wrapped.len();
        let packet = wrapped.last().map_or(inner, Vec::as_slice);
        let direction = match flags & 3 {
            0 => Direction::Outbound,
            1 => Direction::Inbound,
            _ => Direction::Unknown,
        };
        let before = engine.stats().decap;
        let _ = engine.on_packet(now, direction, packet);
        let _ = engine.take_inner_verdict();
        let after = engine.stats().decap;
        check(&engine);
        let opened = after.decapsulated - before.decapsulated;
        let too_deep = after.too_deep - before.too_deep;
        // The fuzzer's own bytes may be tunnel packets too, so only the depth
        // bound caps what opens; every built layer but the innermost (whose
        // payload is fuzzer bytes) carries a packet the synth made and opens.
        assert!(opened <= MAX_DEPTH as u64, "{before:?} -> {after:?}");
        assert!(
            opened >= built.saturating_sub(1).min(MAX_DEPTH) as u64,
            "{built} layers"
        );
        assert!(too_deep <= 1);
        if built > MAX_DEPTH {
            // The third layer is counted too deep when it is a tunnel packet
            // that opens (else under the reason it does not).
            let third = &wrapped[built - MAX_DEPTH - 1];
            let opens = parse_ip(third)
                .is_ok_and(|ip| matches!(tunnel::open(ip.protocol, ip.payload), Ok(Some(_))));
            assert_eq!(
                (opened, too_deep),
                (MAX_DEPTH as u64, u64::from(opens)),
                "{built} layers"
            );
        }
        while let Some(ev) = engine.next_event() {
            drop(ev);
        }
    }
    engine.flush();
    check(&engine);
    assert_eq!(engine.stats().live_flows, 0);
    while let Some(ev) = engine.next_event() {
        if let Event::FlowCompleted(r) = ev
            && let Some(t) = r.tunnel
        {
            assert!(matches!(t.outer_protocol, 4 | 41 | 47 | 17), "{t:?}");
        }
    }
});
