//! DNS over cleartext HTTP through the whole engine: HTTP/1.1 GET and POST,
//! HTTP/2 with prior knowledge and after `Upgrade: h2c`. Each query comes out as
//! a DNS transaction with its answers, and an answer names the flow that follows
//! to its address, as plain DNS does.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::{IpAddr, SocketAddr};

use nightjar_engine::{DnsTransaction, Engine, EngineConfig, Event, NameSource};
use nightjar_synth::doh::{self, H2Writer, Method};
use nightjar_synth::payload::{DnsAnswer, QueryType, dns_query, dns_response};
use nightjar_synth::session::{FlowSpec, Round, tcp_connection};

const SERVER: &str = "198.51.100.53:80";

fn spec(sport: u16, remote: &str, start: u64) -> FlowSpec {
    FlowSpec {
        app_uid: None,
        device: SocketAddr::new("10.0.0.2".parse().unwrap(), sport),
        remote: remote.parse().unwrap(),
        start_micros: start,
        rtt_micros: 20_000,
        seed: u64::from(sport),
    }
}

fn query(name: &str) -> Vec<u8> {
    dns_query(0, name, QueryType::A).unwrap()
}

fn answer(name: &str, addr: &str) -> Vec<u8> {
    let addrs: [IpAddr; 1] = [addr.parse().unwrap()];
    let a = DnsAnswer {
        cnames: &[],
        addrs: &addrs,
        ttl: 60,
    };
    dns_response(0, name, QueryType::A, &a).unwrap()
}

/// Runs the packets of `rounds` on one connection, then a flow to each
/// address in `later`.
fn run(rounds: &[(Vec<u8>, Vec<u8>)], later: &[&str]) -> Vec<Event> {
    let rounds: Vec<Round<'_>> = rounds
        .iter()
        .map(|(request, response)| Round {
            gap_micros: 1_000,
            request,
            response,
        })
        .collect();
    let mut packets = tcp_connection(&spec(40_000, SERVER, 0), &rounds, true).unwrap();
    for (i, addr) in later.iter().enumerate() {
        // Bytes that are neither TLS nor HTTP: only DNS can name this flow.
        let opaque = Round {
            gap_micros: 1_000,
            request: b"\x00\x01opaque",
            response: b"\x00\x02opaque",
        };
        let remote = format!("{addr}:443");
        packets.extend(
            tcp_connection(
                &spec(41_000 + i as u16, &remote, 5_000_000),
                &[opaque],
                true,
            )
            .unwrap(),
        );
    }
    let mut engine = Engine::new(EngineConfig::default()).unwrap();
    let mut events = Vec::new();
    for p in &packets {
        engine.on_packet(p.ts_micros, p.direction, &p.bytes);
        while let Some(e) = engine.next_event() {
            events.push(e);
        }
    }
    engine.flush();
    while let Some(e) = engine.next_event() {
        events.push(e);
    }
    let stats = engine.stats();
    assert_eq!(stats.app.broken_streams, 0);
    events
}

fn transactions(events: &[Event]) -> Vec<&DnsTransaction> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Dns(tx) => Some(&**tx),
            _ => None,
        })
        .collect()
}

/// Each name was asked and answered with its address, and the later flow to
/// that address is named by it.
fn check(events: &[Event], names: &[(&str, &str)]) {
    let txs = transactions(events);
    for (name, addr) in names {
        let tx = txs
            .iter()
            .find(|t| t.query.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no transaction for {name}: {txs:?}"));
        assert_eq!(tx.answers, vec![addr.to_string()], "{name}");
        assert_eq!(tx.server, SERVER.parse().unwrap());
        let flow = events
            .iter()
            .find_map(|e| match e {
                Event::FlowCompleted(f) if f.resp.ip().to_string() == *addr => Some(f),
                _ => None,
            })
            .unwrap();
        assert_eq!(flow.name.as_deref(), Some(*name));
        assert_eq!(flow.name_source, Some(NameSource::Dns));
    }
    assert_eq!(txs.len(), names.len(), "{txs:?}");
}

#[test]
fn http1_get_and_post_queries_and_their_answers_are_dns() {
    let rounds = vec![
        (
            doh::http1_request("doh.example", Method::Get, &query("a.example")),
            doh::http1_response(&answer("a.example", "192.0.2.1")),
        ),
        (
            doh::http1_request("doh.example", Method::Post, &query("b.example")),
            doh::http1_response(&answer("b.example", "192.0.2.2")),
        ),
    ];
    let events = run(&rounds, &["192.0.2.1", "192.0.2.2"]);
    check(
        &events,
        &[("a.example", "192.0.2.1"), ("b.example", "192.0.2.2")],
    );
    // The DoH connection itself is named by its Host.
    let doh_flow = events
        .iter()
        .find_map(|e| match e {
            Event::FlowCompleted(f) if f.resp == SERVER.parse().unwrap() => Some(f),
            _ => None,
        })
        .unwrap();
    assert_eq!(doh_flow.name.as_deref(), Some("doh.example"));
}

#[test]
fn http2_with_prior_knowledge_gives_every_stream_its_transaction() {
    let (mut client, mut server) = (H2Writer::new(), H2Writer::new());
    let mut first = H2Writer::client_start();
    first.extend(client.request(1, "doh.example", Method::Get, &query("a.example")));
    let mut first_answer = H2Writer::server_start();
    first_answer.extend(server.response(1, &answer("a.example", "192.0.2.1")));
    let rounds = vec![
        (first, first_answer),
        (
            client.request(3, "doh.example", Method::Post, &query("b.example")),
            server.response(3, &answer("b.example", "192.0.2.2")),
        ),
        (
            client.request(5, "doh.example", Method::Get, &query("c.example")),
            server.response(5, &answer("c.example", "192.0.2.3")),
        ),
    ];
    let events = run(&rounds, &["192.0.2.1", "192.0.2.2", "192.0.2.3"]);
    check(
        &events,
        &[
            ("a.example", "192.0.2.1"),
            ("b.example", "192.0.2.2"),
            ("c.example", "192.0.2.3"),
        ],
    );
}

#[test]
fn http2_after_an_upgrade_reads_the_upgrading_request_and_the_streams_after_it() {
    let (mut client, mut server) = (H2Writer::new(), H2Writer::new());
    let mut switched = doh::http1_switching();
    switched.extend(H2Writer::server_start());
    switched.extend(server.response(1, &answer("a.example", "192.0.2.1")));
    let mut h2_start = H2Writer::client_start();
    h2_start.extend(client.request(3, "doh.example", Method::Post, &query("b.example")));
    let rounds = vec![
        (
            doh::http1_upgrade_request("doh.example", &query("a.example")),
            switched,
        ),
        (
            h2_start,
            server.response(3, &answer("b.example", "192.0.2.2")),
        ),
    ];
    let events = run(&rounds, &["192.0.2.1", "192.0.2.2"]);
    check(
        &events,
        &[("a.example", "192.0.2.1"), ("b.example", "192.0.2.2")],
    );
}
