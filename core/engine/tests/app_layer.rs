//! The application layer through the whole engine, on generated traffic:
//! naming precedence, hellos split and reordered, app-aware DNS correlation,
//! and the inspection caps.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::{IpAddr, SocketAddr};

use nightjar_engine::{AppId, Engine, EngineConfig, Event, FlowRecord, NameSource};
use nightjar_synth::SynthPacket;
use nightjar_synth::payload::{ClientHelloSpec, DnsAnswer, QueryType};
use nightjar_synth::session::{
    DnsOutcome, FlowSpec, TlsPlan, dns_udp, http_connection, tls_connection,
};

const DEV: &str = "10.0.0.2";
const RESOLVER: &str = "10.0.0.1:53";

fn spec(app: u32, sport: u16, remote: &str, start: u64) -> FlowSpec {
    FlowSpec {
        app_uid: Some(app),
        device: SocketAddr::new(DEV.parse().unwrap(), sport),
        remote: remote.parse().unwrap(),
        start_micros: start,
        rtt_micros: 20_000,
        seed: u64::from(sport),
    }
}

fn dns(app: u32, sport: u16, name: &str, addr: &str, start: u64) -> Vec<SynthPacket> {
    let addrs: [IpAddr; 1] = [addr.parse().unwrap()];
    let answer = DnsAnswer {
        cnames: &[],
        addrs: &addrs,
        ttl: 60,
    };
    dns_udp(
        &spec(app, sport, RESOLVER, start),
        7,
        name,
        QueryType::A,
        &DnsOutcome::Answer(answer),
    )
    .unwrap()
}

fn tls(app: u32, sport: u16, remote: &str, sni: &str, start: u64, pq: bool) -> Vec<SynthPacket> {
    let plan = TlsPlan {
        hello: ClientHelloSpec {
            server_name: sni,
            alpn: &["h2"],
            post_quantum: pq,
            seed: 1,
        },
        server_flight_len: 3000,
        exchanges: &[],
        close: true,
    };
    tls_connection(&spec(app, sport, remote, start), &plan).unwrap()
}

/// Replay like a tunnel does: attribute each new flow to the packet's app.
fn run(engine: &mut Engine, packets: &[SynthPacket]) -> Vec<Event> {
    let mut events = Vec::new();
    for p in packets {
        let v = engine.on_packet(p.ts_micros, p.direction, &p.bytes);
        if let (Some(f), Some(app)) = (v.flow, p.app_uid)
            && f.is_new
        {
            engine.attribute(f, AppId(app));
        }
        while let Some(e) = engine.next_event() {
            events.push(e);
        }
    }
    engine.flush();
    while let Some(e) = engine.next_event() {
        events.push(e);
    }
    events
}

fn flows(events: &[Event]) -> Vec<&FlowRecord> {
    events
        .iter()
        .filter_map(|e| {
            if let Event::FlowCompleted(f) = e {
                Some(f)
            } else {
                None
            }
        })
        .collect()
}

fn flow_to<'a>(events: &'a [Event], remote: &str) -> &'a FlowRecord {
    let remote: SocketAddr = remote.parse().unwrap();
    flows(events)
        .into_iter()
        .find(|f| f.resp == remote)
        .unwrap()
}

#[test]
fn sni_beats_dns_and_a_split_reordered_hello_is_read() {
    let mut packets = dns(1, 5000, "cdn.example.net", "192.0.2.10", 0);
    // A post-quantum hello spans two segments; deliver the second first.
    let mut conn = tls(
        1,
        40_000,
        "192.0.2.10:443",
        "api.example.org",
        100_000,
        true,
    );
    let first_data = conn.iter().position(|p| p.bytes.len() > 1000).unwrap();
    conn.swap(first_data, first_data + 1);
    packets.extend(conn);
    let mut engine = Engine::new(EngineConfig::default()).unwrap();
    let events = run(&mut engine, &packets);
    let f = flow_to(&events, "192.0.2.10:443");
    assert_eq!(f.name.as_deref(), Some("api.example.org"));
    assert_eq!(f.name_source, Some(NameSource::Sni));
    let hello = events
        .iter()
        .find_map(|e| {
            if let Event::Hello(h) = e {
                Some(h)
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!(hello.server_name.as_deref(), Some("api.example.org"));
    assert_eq!(hello.alpn, vec!["h2".to_string()]);
    assert!(hello.ja4.starts_with("t13d"), "{}", hello.ja4);
    assert_eq!(hello.app, Some(AppId(1)));
    assert_eq!(engine.stats().app.tls_hellos, 1);
}

#[test]
fn dns_names_flows_and_prefers_the_same_app() {
    // Two apps resolve different names to the same CDN address; each app's
    // flow takes the name its own lookup produced, not merely the latest.
    let mut packets = dns(1, 5000, "one.example", "192.0.2.20", 0);
    packets.extend(dns(2, 5001, "two.example", "192.0.2.20", 1_000_000));
    let quiet = |app, sport, start| -> Vec<SynthPacket> {
        // A plain TCP connection with no hello and no HTTP: only DNS can name it.
        let spec = spec(app, sport, "192.0.2.20:5222", start);
        nightjar_synth::session::tcp_connection(
            &spec,
            &[nightjar_synth::session::Round {
                gap_micros: 0,
                request: b"\x00\x01",
                response: b"\x00\x02",
            }],
            true,
        )
        .unwrap()
    };
    packets.extend(quiet(1, 41_000, 2_000_000));
    packets.extend(quiet(2, 41_001, 3_000_000));
    packets.sort_by_key(|p| p.ts_micros);
    let mut engine = Engine::new(EngineConfig::default()).unwrap();
    let events = run(&mut engine, &packets);
    let by_port = |p: u16| {
        flows(&events)
            .into_iter()
            .find(|f| f.orig.port() == p)
            .unwrap()
    };
    assert_eq!(by_port(41_000).name.as_deref(), Some("one.example"));
    assert_eq!(by_port(41_001).name.as_deref(), Some("two.example"));
    assert_eq!(by_port(41_000).name_source, Some(NameSource::Dns));
    let dns_tx: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Event::Dns(_)))
        .collect();
    assert_eq!(dns_tx.len(), 2);
}

#[test]
fn http_host_names_the_flow() {
    let packets = http_connection(
        &spec(3, 42_000, "198.51.100.7:80", 0),
        "www.example.com:8080",
        "/a?b=c",
        "ua/1",
        500,
    )
    .unwrap();
    let mut engine = Engine::new(EngineConfig::default()).unwrap();
    let events = run(&mut engine, &packets);
    let f = flow_to(&events, "198.51.100.7:80");
    assert_eq!(f.name.as_deref(), Some("www.example.com"));
    assert_eq!(f.name_source, Some(NameSource::HttpHost));
    let r = events
        .iter()
        .find_map(|e| {
            if let Event::Http(r) = e {
                Some(r)
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!(
        (r.host.as_deref(), r.host_port, r.uri.as_str()),
        (Some("www.example.com"), Some(8080), "/a?b=c")
    );
}

#[test]
fn inspection_caps_shed_and_count_but_flows_still_count() {
    let cfg = EngineConfig {
        max_inspected_flows: 2,
        ..Default::default()
    };
    let mut engine = Engine::new(cfg).unwrap();
    // Four connections open at once: their hellos arrive after all four SYNs.
    // Post-quantum hellos span two segments, so each inspection stays open
    // until its second segment; interleave the connections packet by packet.
    let conns: Vec<Vec<SynthPacket>> = (0..4)
        .map(|i| {
            tls(
                1,
                43_000 + i,
                &format!("192.0.2.{}:443", 30 + i),
                "x.example",
                0,
                true,
            )
        })
        .collect();
    let mut keyed: Vec<(usize, u16, SynthPacket)> = conns
        .into_iter()
        .enumerate()
        .flat_map(|(c, ps)| {
            ps.into_iter()
                .enumerate()
                .map(move |(k, p)| (k, c as u16, p))
        })
        .collect();
    keyed.sort_by_key(|(k, c, _)| (*k, *c));
    let packets: Vec<SynthPacket> = keyed.into_iter().map(|(_, _, p)| p).collect();
    let events = run(&mut engine, &packets);
    let s = engine.stats();
    assert_eq!(flows(&events).len(), 4);
    assert!(s.app.inspections_shed > 0, "{:?}", s.app);
    assert!(s.app.tls_hellos >= 2 && s.app.tls_hellos < 4, "{:?}", s.app);
    assert_eq!(s.packets.no_flow_total(), 0);

    // A byte budget smaller than one hello abandons it.
    let cfg = EngineConfig {
        max_inspection_bytes: 64,
        ..Default::default()
    };
    let mut engine = Engine::new(cfg).unwrap();
    let events = run(
        &mut engine,
        &tls(1, 44_000, "192.0.2.40:443", "y.example", 0, true),
    );
    assert_eq!(engine.stats().app.tls_hellos, 0);
    assert!(engine.stats().app.inspections_shed >= 1);
    assert_eq!(flow_to(&events, "192.0.2.40:443").name, None);
    assert!(engine.memory().inspection <= engine.memory().inspection_cap);
}
