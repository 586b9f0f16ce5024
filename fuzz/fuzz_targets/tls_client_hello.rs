//! TLS ClientHello parsing (record, handshake and body forms), every accessor,
//! and JA4 over each transport.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightjar_dissect::tls::is_sslv2_client_hello;
use nightjar_dissect::{ClientHello, Transport, ja4, ja4_all};

fn exercise(hello: &ClientHello<'_>) {
    let _ = (hello.legacy_version(), hello.random(), hello.session_id());
    let _ = hello.cipher_suites().count();
    let _ = hello.compression_methods();
    for ext in hello.extensions() {
        let _ = ext;
    }
    let _ = hello.extension(0);
    let _ = hello.server_name();
    let _ = hello.alpn().count();
    let _ = hello.supported_versions().count();
    let _ = hello.signature_algorithms().count();
    let _ = hello.supported_groups().count();
    let _ = (hello.has_ech(), hello.max_version());
    for t in [Transport::Tcp, Transport::Quic, Transport::Dtls] {
        let fp = ja4(hello, t);
        let all = ja4_all(hello, t);
        assert_eq!(fp, all.ja4, "ja4 and ja4_all disagree");
        // a_b_c: ten-character prefix, two 12-hex-digit hashes.
        let parts: Vec<&str> = fp.split('_').collect();
        assert_eq!(parts.len(), 3, "{fp}");
        assert_eq!(parts.first().map(|p| p.len()), Some(10), "{fp}");
        assert!(parts.iter().skip(1).all(|p| p.len() == 12), "{fp}");
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = is_sslv2_client_hello(data);
    if let Ok(h) = ClientHello::parse_record(data) {
        exercise(&h);
    }
    if let Ok(h) = ClientHello::parse_handshake(data) {
        exercise(&h);
    }
    if let Ok(h) = ClientHello::parse(data) {
        exercise(&h);
    }
});
