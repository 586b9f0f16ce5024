//! The rows of the store's benchmarks: 1M flows over 50 apps and 70,000
//! names, 100k DNS transactions, 1k alerts. Shared with other crates'
//! benchmarks (the report's) so they measure on the same database.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::mpsc::TrySendError;

use nightjar_store::{AlertAction, AlertRow, AlertState, DnsRow, FlowRow, Record, Severity};

pub const T0: u64 = 1_700_000_000_000_000;
pub const BIG: u64 = 1_000_000;

pub fn flow(id: u64) -> FlowRow {
    let d = id % 10_000;
    let name = format!("h{}.d{d}.example", id % 7);
    FlowRow {
        id,
        uid: format!("C{id:016x}"),
        app_uid: Some(10_000 + u32::try_from(id % 50).unwrap_or(0)),
        app_name: Some(format!("com.example.app{}", id % 50)),
        proto: if id.is_multiple_of(5) { 17 } else { 6 },
        orig_h: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        orig_p: 30_000 + u16::try_from(id % 30_000).unwrap_or(0),
        resp_h: IpAddr::V4(Ipv4Addr::from(
            0xC000_0000u32 + u32::try_from(d).unwrap_or(0),
        )),
        resp_p: 443,
        first_us: T0 + id * 1_000,
        last_us: T0 + id * 1_000 + 2_000_000,
        orig_pkts: 12,
        resp_pkts: 20,
        orig_ip_bytes: 1_500 + id % 1_000,
        resp_ip_bytes: 30_000 + id % 7_000,
        conn_state: "SF".into(),
        community_id: Some("1:LQU9qZlK+B5F3KDmev6m5PMibrg=".into()),
        sni: Some(name.clone()),
        name: Some(name),
        name_source: Some("sni".into()),
        alpn: Some("h2".into()),
        ja4: Some("t13d1516h2_8daaf6152771_02713d6af862".into()),
        http_host: None,
        ech: false,
        end_reason: "fin".into(),
        tunnel: None,
    }
}

pub fn dns(i: u64) -> DnsRow {
    DnsRow {
        ts_us: T0 + i * 10_000,
        flow_uid: None,
        app_uid: Some(10_000 + u32::try_from(i % 50).unwrap_or(0)),
        client: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 5353),
        server: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 53),
        transport: "udp".into(),
        id: 7,
        query: format!("h{}.d{}.example", i % 7, i % 10_000),
        qtype: 1,
        qclass: 1,
        rcode: Some(0),
        rcode_name: Some("NOERROR".into()),
        answers: vec!["192.0.2.1".into()],
        ttls: vec![60],
        rtt_us: Some(9_000),
        answered: true,
        query_too_long: false,
    }
}

pub fn alert(i: u64) -> AlertRow {
    AlertRow {
        id: i + 1,
        ts_us: T0 + i * 1_000_000,
        severity: [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ][usize::try_from(i % 4).unwrap_or(0)],
        score: 0.5,
        state: AlertState::New,
        app_uid: Some(10_000 + u32::try_from(i % 50).unwrap_or(0)),
        domain: Some(format!("d{}.example", i % 10_000)),
        ips: vec![],
        flow_uids: vec![],
        detector: "bench".into(),
        attack: vec!["DC0113".into()],
        signals: vec![],
        provenance: serde_json::Value::Null,
        retroactive: false,
        action: AlertAction::Record,
        enforcement: None,
    }
}

/// Pushes `n` flows through the writer, spinning when the queue is full
/// (the benchmark measures the writer, not drop behaviour).
pub fn push(writer: &nightjar_store::StoreWriter, base: u64, n: u64) {
    let sender = writer.sender().expect("writer running");
    for i in 0..n {
        // try_send hands a row back on a full queue: no clone per row.
        let mut rec = Record::Flow(Box::new(flow(base + i)));
        while let Err(TrySendError::Full(back)) = sender.try_send(rec) {
            rec = back;
            std::thread::yield_now();
        }
    }
}
