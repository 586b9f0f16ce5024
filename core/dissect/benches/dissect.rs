//! Throughput of the three flow-naming paths. Measures only; asserts nothing.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use nightjar_dissect::http::parse_request;
use nightjar_dissect::quic::{VERSION_1, client_hello_from_datagram, seal_client_initial};
use nightjar_dissect::tls::ClientHello;

fn vec16(data: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(data.len())
        .unwrap_or(0)
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(data);
    out
}

/// A browser-sized TLS 1.3 ClientHello handshake message (about 500 bytes).
fn hello_message() -> Vec<u8> {
    let mut exts: Vec<(u16, Vec<u8>)> = Vec::new();
    let mut sni = vec![0u8];
    sni.extend(vec16(b"www.example-benchmark.com"));
    exts.push((0x0a0a, Vec::new()));
    exts.push((0x0000, vec16(&sni)));
    exts.push((0x0017, Vec::new()));
    exts.push((0xff01, vec![0]));
    exts.push((
        0x000a,
        vec16(&[0x0a, 0x0a, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18]),
    ));
    exts.push((0x000b, vec![1, 0]));
    exts.push((0x0023, Vec::new()));
    exts.push((0x0010, vec16(b"\x02h2\x08http/1.1")));
    exts.push((0x0005, vec![1, 0, 0, 0, 0]));
    exts.push((
        0x000d,
        vec16(&[4, 3, 8, 4, 4, 1, 5, 3, 8, 5, 5, 1, 8, 6, 6, 1]),
    ));
    exts.push((0x0012, Vec::new()));
    let mut ks = vec![0x00, 0x1d, 0x00, 0x20];
    ks.extend([0x5a; 32]);
    exts.push((0x0033, vec16(&ks)));
    exts.push((0x002d, vec![1, 1]));
    exts.push((0x002b, vec![4, 0x03, 0x04, 0x03, 0x03]));
    exts.push((0x0015, vec![0; 180]));

    let mut body = vec![0x03, 0x03];
    body.extend([0x11; 32]);
    body.push(32);
    body.extend([0x22; 32]);
    let suites: Vec<u8> = [
        0x0a0a_u16, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030,
    ]
    .iter()
    .flat_map(|c| c.to_be_bytes())
    .collect();
    body.extend(vec16(&suites));
    body.extend([1, 0]);
    let mut ext_bytes = Vec::new();
    for (ty, data) in &exts {
        ext_bytes.extend(ty.to_be_bytes());
        ext_bytes.extend(vec16(data));
    }
    body.extend(vec16(&ext_bytes));
    let len = u32::try_from(body.len()).unwrap_or(0).to_be_bytes();
    let mut msg = vec![1, len[1], len[2], len[3]];
    msg.extend(body);
    msg
}

fn benches(c: &mut Criterion) {
    let msg = hello_message();
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend(vec16(&msg));
    c.bench_function("tls_sni_single_record", |b| {
        b.iter(|| {
            ClientHello::parse_record(black_box(&record))
                .ok()
                .and_then(|h| h.server_name())
        })
    });

    let mut frames = vec![0x06, 0x00, 0x40 | (msg.len() >> 8) as u8, msg.len() as u8];
    frames.extend(&msg);
    frames.resize(1162, 0);
    if let Ok(datagram) = seal_client_initial(
        VERSION_1,
        b"\x83\x94\xc8\xf0\x3e\x51\x57\x08",
        b"",
        0,
        &frames,
    ) {
        c.bench_function("quic_initial_to_sni", |b| {
            b.iter(|| {
                client_hello_from_datagram(black_box(&datagram))
                    .ok()
                    .and_then(|m| {
                        m.client_hello()
                            .ok()
                            .and_then(|h| h.server_name())
                            .map(str::len)
                    })
            })
        });
    }

    let req = b"GET /search?q=nightjar HTTP/1.1\r\nHost: www.example.org:8080\r\n\
        User-Agent: Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36\r\n\
        Accept: text/html\r\nAccept-Language: en\r\nConnection: keep-alive\r\n\r\n";
    c.bench_function("http_request_parse", |b| {
        b.iter(|| {
            parse_request(black_box(req))
                .ok()
                .flatten()
                .and_then(|r| r.host().map(|a| a.host.len()))
        })
    });
}

criterion_group!(dissect, benches);
criterion_main!(dissect);
