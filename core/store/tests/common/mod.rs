//! Row builders shared by the integration tests.

// Test code: a failed expectation should abort loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    // Each test binary uses a different subset of the builders.
    dead_code
)]

use std::net::{IpAddr, SocketAddr};

use nightjar_store::{AlertAction, AlertRow, AlertState, DnsRow, FlowRow, Severity, Signal};

pub const T0: u64 = 1_700_000_000_000_000;

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn flow(id: u64, ts: u64) -> FlowRow {
    FlowRow {
        id,
        uid: format!("C{id:08x}"),
        app_uid: Some(10_000 + u32::try_from(id % 3).unwrap()),
        app_name: Some(format!("com.example.app{}", id % 3)),
        proto: 6,
        orig_h: ip("10.0.0.2"),
        orig_p: 40_000 + u16::try_from(id % 20_000).unwrap(),
        resp_h: ip("93.184.216.34"),
        resp_p: 443,
        first_us: ts,
        last_us: ts + 1_500_000,
        orig_pkts: 10,
        resp_pkts: 12,
        orig_ip_bytes: 1_000 + id,
        resp_ip_bytes: 20_000,
        conn_state: "SF".into(),
        community_id: Some("1:LQU9qZlK+B5F3KDmev6m5PMibrg=".into()),
        name: Some("www.example.com".into()),
        name_source: Some("sni".into()),
        sni: Some("www.example.com".into()),
        alpn: Some("h2".into()),
        ja4: Some("t13d1516h2_8daaf6152771_02713d6af862".into()),
        http_host: None,
        ech: false,
        end_reason: "fin".into(),
        tunnel: None,
    }
}

pub fn named(id: u64, ts: u64, name: &str, app: Option<u32>, resp: &str) -> FlowRow {
    FlowRow {
        app_uid: app,
        app_name: app.map(|a| format!("app{a}")),
        name: Some(name.into()),
        sni: Some(name.into()),
        resp_h: ip(resp),
        ..flow(id, ts)
    }
}

pub fn dns(ts: u64, query: &str, app: Option<u32>) -> DnsRow {
    DnsRow {
        ts_us: ts,
        flow_uid: Some(format!("D{ts:x}")),
        app_uid: app,
        client: SocketAddr::new(ip("10.0.0.2"), 5353),
        server: SocketAddr::new(ip("10.0.0.1"), 53),
        transport: "udp".into(),
        id: 0x1234,
        query: query.into(),
        qtype: 1,
        qclass: 1,
        rcode: Some(0),
        rcode_name: Some("NOERROR".into()),
        answers: vec!["93.184.216.34".into()],
        ttls: vec![300],
        rtt_us: Some(12_000),
        answered: true,
        query_too_long: false,
    }
}

pub fn alert(id: u64, ts: u64, sev: Severity, state: AlertState, app: Option<u32>) -> AlertRow {
    AlertRow {
        id,
        ts_us: ts,
        severity: sev,
        score: 0.75,
        state,
        app_uid: app,
        domain: Some("bad.example.net".into()),
        ips: vec![ip("203.0.113.9")],
        flow_uids: vec!["C00000001".into()],
        detector: "intel".into(),
        attack: vec!["DC0113".into(), "AN1700".into(), "T1637.001".into()],
        signals: vec![Signal {
            name: "feed_hit".into(),
            value: 1.0,
            weight: 0.8,
        }],
        provenance: serde_json::json!({"feed": "mvt", "version": "2024-01"}),
        retroactive: false,
        action: AlertAction::Alert,
        enforcement: None,
    }
}
