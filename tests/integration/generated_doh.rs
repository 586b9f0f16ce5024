//! DNS over cleartext HTTP on a generated capture (issue 21's last class): the
//! same four queries over HTTP/1.1 (GET and POST), over HTTP/2 with prior
//! knowledge and over HTTP/2 after `Upgrade: h2c`, each answered. Every query
//! name comes out as a DNS transaction with its answer, and, with tshark
//! installed, every DNS name tshark finds in the capture we find too.

use std::collections::BTreeSet;
use std::net::IpAddr;

use nightjar_synth::doh::{self, H2Writer, Method};
use nightjar_synth::payload::{DnsAnswer, QueryType, dns_query, dns_response};
use nightjar_synth::session::{Round, tcp_connection};

use super::generated_names::{T0, compare_with_tshark, flow, replay, synth, write};

fn query(name: &str) -> Vec<u8> {
    dns_query(0, name, QueryType::A).unwrap()
}

fn answer(name: &str, addr: &str) -> Vec<u8> {
    let addrs: [IpAddr; 1] = [addr.parse().unwrap()];
    let a = DnsAnswer {
        cnames: &[],
        addrs: &addrs,
        ttl: 300,
    };
    dns_response(0, name, QueryType::A, &a).unwrap()
}

fn connection(port: u16, start: u64, rounds: &[(Vec<u8>, Vec<u8>)]) -> Vec<(u64, Vec<u8>)> {
    let rounds: Vec<Round<'_>> = rounds
        .iter()
        .map(|(request, response)| Round {
            gap_micros: 2_000,
            request,
            response,
        })
        .collect();
    let spec = flow(&format!("10.0.0.2:{port}"), "198.51.100.53:80", start);
    synth(tcp_connection(&spec, &rounds, true).unwrap())
}

#[test]
fn dns_over_cleartext_http_1_and_2_gives_every_query_and_answer() {
    let dir = tempfile::tempdir().unwrap();
    let mut packets = connection(
        40_001,
        T0,
        &[
            (
                doh::http1_request("doh.example", Method::Get, &query("get1.example")),
                doh::http1_response(&answer("get1.example", "192.0.2.1")),
            ),
            (
                doh::http1_request("doh.example", Method::Post, &query("post1.example")),
                doh::http1_response(&answer("post1.example", "192.0.2.2")),
            ),
        ],
    );
    let (mut c, mut s) = (H2Writer::new(), H2Writer::new());
    let mut open = H2Writer::client_start();
    open.extend(c.request(1, "doh.example", Method::Post, &query("post2.example")));
    let mut opened = H2Writer::server_start();
    opened.extend(s.response(1, &answer("post2.example", "192.0.2.3")));
    packets.extend(connection(
        40_002,
        T0 + 1_000_000,
        &[
            (open, opened),
            (
                c.request(3, "doh.example", Method::Get, &query("get2.example")),
                s.response(3, &answer("get2.example", "192.0.2.4")),
            ),
        ],
    ));
    let (mut c, mut s) = (H2Writer::new(), H2Writer::new());
    let mut switched = doh::http1_switching();
    switched.extend(H2Writer::server_start());
    switched.extend(s.response(1, &answer("up1.example", "192.0.2.5")));
    let mut h2 = H2Writer::client_start();
    h2.extend(c.request(3, "doh.example", Method::Post, &query("up2.example")));
    packets.extend(connection(
        40_003,
        T0 + 2_000_000,
        &[
            (
                doh::http1_upgrade_request("doh.example", &query("up1.example")),
                switched,
            ),
            (h2, s.response(3, &answer("up2.example", "192.0.2.6"))),
        ],
    ));
    packets.sort_by_key(|(ts, _)| *ts);
    let path = write(dir.path(), "doh.pcap", &packets);
    let c = replay(&path);

    let got: BTreeSet<(String, Vec<String>)> = c
        .dns
        .iter()
        .map(|t| (t.query.clone().unwrap(), t.answers.clone()))
        .collect();
    let want: BTreeSet<(String, Vec<String>)> = [
        ("get1.example", "192.0.2.1"),
        ("post1.example", "192.0.2.2"),
        ("post2.example", "192.0.2.3"),
        ("get2.example", "192.0.2.4"),
        ("up1.example", "192.0.2.5"),
        ("up2.example", "192.0.2.6"),
    ]
    .iter()
    .map(|(q, a)| (q.to_string(), vec![a.to_string()]))
    .collect();
    assert_eq!(got, want);
    assert_eq!(c.dns.len(), 6, "{:?}", c.dns);
    compare_with_tshark("doh", &path, &c);
}
