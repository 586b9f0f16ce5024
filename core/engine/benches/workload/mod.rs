//! The engine benches' workloads, shared with `examples/hot_path.rs` so the
//! instruction counts and the criterion times measure the same packets.

use nightjar_engine::{Direction, Engine, EngineConfig};
use nightjar_synth::SynFlood;
use nightjar_synth::packet::{TcpFlags, TcpSegment, ipv4_tcp};

/// `engine/established_flow_packet`: an engine holding 10,000 other live flows
/// (so the lookup is not into an empty map) and one established TCP flow, with
/// the 1,200-byte server packet that is sent on it again and again.
pub fn established() -> (Engine, Vec<u8>) {
    let dev = "10.0.0.2".parse().unwrap();
    let srv = "192.0.2.1".parse().unwrap();
    let syn = ipv4_tcp(dev, srv, &TcpSegment::new(40_000, 443, TcpFlags::Syn, 1, 0)).unwrap();
    let synack = ipv4_tcp(
        srv,
        dev,
        &TcpSegment::new(443, 40_000, TcpFlags::SynAck, 9, 2),
    )
    .unwrap();
    let body = [0u8; 1200];
    let data = ipv4_tcp(
        srv,
        dev,
        &TcpSegment::new(443, 40_000, TcpFlags::PshAck, 10, 2).with_payload(&body),
    )
    .unwrap();
    let mut engine = Engine::new(EngineConfig::default()).unwrap();
    let mut flood = SynFlood::new(1);
    let mut buf = Vec::new();
    for _ in 0..10_000 {
        let (ts, dir) = flood.next_into(&mut buf).unwrap();
        engine.on_packet(ts, dir, &buf);
    }
    while engine.next_event().is_some() {}
    engine.on_packet(1, Direction::Outbound, &syn);
    engine.on_packet(2, Direction::Inbound, &synack);
    (engine, data)
}
