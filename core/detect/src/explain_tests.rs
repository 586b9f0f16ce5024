//! The pipeline's DGA, infection and tunnel alerts explain themselves: every
//! one lists its reasons in contribution order, in words, and none of them
//! argues against the alert.

use std::net::SocketAddr;

use nightjar_dns::{DnsTransaction, Flags, Transport};

use crate::alert::{Detector, Severity};
use crate::pipeline::{InventoryApp, Pipeline, PipelineConfig};

const UID: u32 = 10_123;
const FLOW: u64 = 77;

fn tx(ts_us: u64, name: &str, qtype: u16, rcode: u16, answers: &[&str]) -> DnsTransaction {
    let addr: SocketAddr = "10.0.0.2:40000".parse().unwrap();
    let server: SocketAddr = "10.0.0.1:53".parse().unwrap();
    DnsTransaction {
        ts_us,
        rtt_us: Some(1000),
        client: addr,
        server,
        transport: Transport::Udp,
        id: 1,
        flow_ref: FLOW,
        query: Some(name.to_owned()),
        original_query: Some(name.to_owned()),
        qtype: Some(qtype),
        qclass: Some(1),
        opcode: 0,
        rcode: Some(rcode),
        flags: Flags::default(),
        answers: answers.iter().map(|a| (*a).to_owned()).collect(),
        ttls: answers.iter().map(|_| 60).collect(),
        rejected: false,
        answered: true,
        notes: Vec::new(),
        query_too_long: false,
    }
}

fn pipeline() -> Pipeline {
    let mut p = Pipeline::new(PipelineConfig::default()).unwrap();
    p.set_inventory(&[InventoryApp {
        uid: UID,
        id: "com.example.flashlight".into(),
        name: "Flashlight".into(),
        installed_us: 0,
        updated_us: 0,
    }]);
    p.attribute(FLOW, UID);
    p
}

/// xorshift letters: a random-letter DGA label.
fn letters(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect()
}

fn drain(p: &mut Pipeline) -> Vec<crate::Alert> {
    std::iter::from_fn(|| p.next_alert()).collect()
}

fn assert_explained(a: &crate::Alert) {
    assert!(!a.signals.is_empty(), "{a:?}");
    for s in &a.signals {
        assert!(s.weight > 0.0, "reason against the verdict: {s:?}");
        assert!(
            s.detail.chars().any(|c| c.is_ascii_digit()) && s.detail.contains(' '),
            "not a phrase with its figure: {s:?}"
        );
    }
    assert!(
        a.signals.windows(2).all(|w| w[0].weight >= w[1].weight),
        "not in contribution order: {:?}",
        a.signals
    );
}

#[test]
fn dga_walk_raises_one_infection_alert_and_low_name_alerts() {
    let mut p = pipeline();
    let base = 1_800_000_000_000_000;
    for i in 0..20u64 {
        let t = base + i * 5_000_000;
        let name = format!("{}.com", letters(i + 1, 14));
        p.on_dns(t, &tx(t, &name, 1, 3, &[]));
    }
    let alerts = drain(&mut p);
    let infection: Vec<_> = alerts
        .iter()
        .filter(|a| a.detector == Detector::DgaInfection)
        .collect();
    assert_eq!(infection.len(), 1, "{alerts:#?}");
    let a = infection[0];
    assert!(a.severity >= Severity::Medium);
    assert_eq!(a.app.as_deref(), Some("com.example.flashlight"));
    assert!(a.domain.is_some());
    assert_eq!(a.signals[0].name, "failed_unseen_domains");
    let names: Vec<_> = alerts
        .iter()
        .filter(|a| a.detector == Detector::Dga)
        .collect();
    assert!(!names.is_empty());
    assert!(names.iter().all(|a| a.severity <= Severity::Low));
    for a in alerts
        .iter()
        .filter(|a| matches!(a.detector, Detector::Dga | Detector::DgaInfection))
    {
        assert_explained(a);
    }
}

#[test]
fn ordinary_lookups_and_browser_probes_raise_nothing() {
    let mut p = pipeline();
    let base = 1_800_000_000_000_000;
    for (i, name) in ["www.google.com", "graph.facebook.com", "api.weather.com"]
        .iter()
        .enumerate()
    {
        let t = base + i as u64 * 1_000_000;
        p.on_dns(t, &tx(t, name, 1, 0, &["93.184.216.34"]));
    }
    for i in 0..3u64 {
        let t = base + 10_000_000 + i;
        p.on_dns(t, &tx(t, &letters(100 + i, 11), 1, 3, &[]));
    }
    let alerts = drain(&mut p);
    assert!(
        alerts
            .iter()
            .all(|a| !matches!(a.detector, Detector::Dga | Detector::DgaInfection)),
        "{alerts:#?}"
    );
}

#[test]
fn iodine_tunnel_is_at_least_medium_and_explained() {
    let mut p = pipeline();
    let base = 1_800_000_000_000_000;
    let b32 = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut x = 0x1234_5678_9abc_def1u64;
    for i in 0..600u64 {
        let label: String = (0..57)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b32[(x % 32) as usize])
            })
            .collect();
        let t = base + i * 200_000;
        // NULL queries answered with NULL records (no addresses).
        p.on_dns(
            t,
            &tx(
                t,
                &format!("{label}.t.tunnel.example.com"),
                10,
                0,
                &["NULL"],
            ),
        );
    }
    let alerts = drain(&mut p);
    let tunnel: Vec<_> = alerts
        .iter()
        .filter(|a| a.detector == Detector::DnsTunnel)
        .collect();
    assert!(
        tunnel.iter().any(|a| a.severity >= Severity::Medium),
        "{tunnel:#?}"
    );
    for a in tunnel {
        assert_explained(a);
    }
}
