//! Throughput of the DNS hot paths. Reports only; nothing here asserts on time.

#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::{A, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use nightjar_dns::{DnsTransactions, Endpoints, NameCache, Transport, parse};

/// A typical mobile answer: one CNAME and two A records for a CDN-hosted name.
fn typical_response() -> Vec<u8> {
    let qname = Name::from_ascii("www.example.com.").unwrap_or_default();
    let edge = Name::from_ascii("www.example.com.cdn.example.net.").unwrap_or_default();
    let mut m = Message::new(0x1234, MessageType::Response, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.metadata.recursion_available = true;
    m.add_query(Query::query(qname.clone(), RecordType::A));
    m.add_answer(Record::from_rdata(
        qname,
        300,
        RData::CNAME(CNAME(edge.clone())),
    ));
    m.add_answer(Record::from_rdata(
        edge.clone(),
        60,
        RData::A(A(Ipv4Addr::new(192, 0, 2, 10))),
    ));
    m.add_answer(Record::from_rdata(
        edge,
        60,
        RData::A(A(Ipv4Addr::new(192, 0, 2, 11))),
    ));
    m.to_vec().unwrap_or_default()
}

fn query_of(response: &[u8]) -> Vec<u8> {
    let mut bytes = response.to_vec();
    // Clear QR and drop the answers: a query with the same question.
    if let Some(b) = bytes.get_mut(2) {
        *b &= 0x7f;
    }
    if let Some(b) = bytes.get_mut(7) {
        *b = 0;
    }
    bytes
}

fn benches(c: &mut Criterion) {
    let response = typical_response();
    let query = query_of(&response);
    let ends = Endpoints {
        client: SocketAddr::from(([10, 0, 0, 2], 40_000)),
        server: SocketAddr::from(([10, 0, 0, 1], 53)),
        transport: Transport::Udp,
    };

    c.bench_function("parse_typical_response", |b| {
        b.iter(|| parse(black_box(&response)))
    });

    let mut tx = DnsTransactions::default();
    let mut now = 1_700_000_000_000_000u64;
    c.bench_function("parse_and_complete_transaction", |b| {
        b.iter(|| {
            now += 1_000;
            if let Ok(q) = parse(black_box(&query)) {
                tx.on_message(now, ends, true, &q, 7);
            }
            if let Ok(r) = parse(black_box(&response)) {
                tx.on_message(now + 500, ends, false, &r, 7);
            }
            black_box(tx.pop_ready())
        })
    });

    let mut cache = NameCache::default();
    let name: Arc<str> = Arc::from("www.example.com");
    for i in 0..10_000u32 {
        let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        cache.insert(now, ip, &name, None, Some(i % 50), 300);
    }
    let hit_ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + 1234));
    let miss_ip = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));
    c.bench_function("name_cache_lookup_hit", |b| {
        b.iter(|| cache.lookup(now, black_box(hit_ip), Some(34)))
    });
    c.bench_function("name_cache_lookup_miss", |b| {
        b.iter(|| cache.lookup(now, black_box(miss_ip), Some(34)))
    });
}

criterion_group!(dns, benches);
criterion_main!(dns);
