//! Hellos written by a real rustls client, read both by our parser and by
//! rustls's own server-side `Acceptor`, compared field by field.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::server::Acceptor;
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use crate::hello_assembler::{HelloAssembler, Progress};
use crate::ja4::{Transport, ja4};
use crate::tls::{ClientHello, is_grease};

fn client_bytes(
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
    name: &str,
) -> Vec<u8> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let server = ServerName::try_from(name.to_owned()).unwrap();
    let mut conn = ClientConnection::new(Arc::new(config), server).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

fn check(versions: &[&'static rustls::SupportedProtocolVersion], alpn: &[&[u8]], name: &str) {
    let bytes = client_bytes(versions, alpn, name);

    let mut acceptor = Acceptor::default();
    acceptor.read_tls(&mut &bytes[..]).unwrap();
    let accepted = acceptor.accept().unwrap().unwrap();
    let theirs = accepted.client_hello();

    // Single-record fast path and the assembler (fed in small pieces) agree.
    let direct = ClientHello::parse_record(&bytes).unwrap();
    let mut asm = HelloAssembler::new();
    let mut msg = None;
    for chunk in bytes.chunks(97) {
        if let Progress::Done(m) = asm.push(chunk) {
            msg = Some(m);
        }
    }
    let msg = msg.expect("assembler finished");
    let ours = msg.client_hello().unwrap();
    assert_eq!(ours, direct);

    assert_eq!(ours.server_name(), theirs.server_name(), "{name}");
    let their_alpn: Vec<&[u8]> = theirs.alpn().map(|a| a.collect()).unwrap_or_default();
    assert_eq!(ours.alpn().collect::<Vec<_>>(), their_alpn);
    let their_suites: Vec<u16> = theirs
        .cipher_suites()
        .iter()
        .map(|&c| u16::from(c))
        .collect();
    assert_eq!(ours.cipher_suites().collect::<Vec<_>>(), their_suites);
    let their_sigs: Vec<u16> = theirs
        .signature_schemes()
        .iter()
        .map(|&s| u16::from(s))
        .collect();
    assert_eq!(ours.signature_algorithms().collect::<Vec<_>>(), their_sigs);

    // What rustls offers is known from its config, independent of both parsers.
    let offers_13 = versions.contains(&&rustls::version::TLS13);
    assert_eq!(ours.max_version(), if offers_13 { 0x0304 } else { 0x0303 });
    assert!(
        ours.supported_groups().any(|g| g == 0x001d),
        "x25519 offered"
    );
    assert!(!ours.has_ech());
    assert!(ours.cipher_suites().all(|c| !is_grease(c)));

    let fp = ja4(&ours, Transport::Tcp);
    let sni_flag = if ours.server_name().is_some() {
        'd'
    } else {
        'i'
    };
    assert_eq!(fp.as_bytes()[3], sni_flag as u8, "{fp}");
    assert_eq!(fp.len(), 36, "{fp}");
}

#[test]
fn matches_rustls_acceptor_tls13_only() {
    check(
        &[&rustls::version::TLS13],
        &[b"h2", b"http/1.1"],
        "example.com",
    );
}

#[test]
fn matches_rustls_acceptor_tls12_and_13() {
    check(
        &[&rustls::version::TLS13, &rustls::version::TLS12],
        &[b"h3"],
        "sub.domain.example.net",
    );
}

#[test]
fn matches_rustls_acceptor_tls12_only_no_alpn() {
    check(&[&rustls::version::TLS12], &[], "a.b");
}

#[test]
fn matches_rustls_acceptor_ip_address_no_sni() {
    check(&[&rustls::version::TLS13], &[b"x-custom/1"], "192.0.2.7");
}
