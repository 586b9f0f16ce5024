//! Names on traffic the project builds itself, one capture per class of issue 21:
//! DNS names with bytes that are not printable, HTTP Hosts that are addresses,
//! QUIC draft-29 and coalesced / 0-RTT first flights, tunnels (6in4, 4in6, GRE,
//! GTP-U), Google QUIC CHLOs (Q043, Q046, Q050) and DTLS ClientHellos.
//!
//! Each capture is checked against the values its spec implies, then, where
//! tshark is installed, against live tshark: every name tshark finds, Nightjar
//! finds. Without tshark that half prints SKIPPED.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::Command;

use nightjar::replay::{Collect, replay_file};
use nightjar_capture::PcapWriter;
use nightjar_dissect::gquic::{self, build as gbuild};
use nightjar_dissect::quic::{VERSION_1, seal_client_initial};
use nightjar_engine::{EngineConfig, TunnelKind};
use nightjar_synth::packet::{IpPair, ip_udp};
use nightjar_synth::payload::{ClientHelloSpec, tls_client_hello};
use nightjar_synth::session::{FlowSpec, SynthPacket, TlsPlan, http_connection, tls_connection};
use nightjar_synth::tunnel::{Encapsulation, encapsulate};

pub(super) const T0: u64 = 1_700_000_000_000_000;

/// Writes the capture; `NIGHTJAR_GENERATED_DIR` keeps a copy there for a person to open.
pub(super) fn write(dir: &Path, name: &str, packets: &[(u64, Vec<u8>)]) -> std::path::PathBuf {
    let dir = std::env::var_os("NIGHTJAR_GENERATED_DIR").map_or(dir.to_path_buf(), Into::into);
    let path = dir.join(name);
    let mut w = PcapWriter::new(std::fs::File::create(&path).unwrap()).unwrap();
    for (ts, p) in packets {
        w.write_packet(*ts, p).unwrap();
    }
    drop(w.into_inner());
    path
}

pub(super) fn replay(path: &Path) -> Collect {
    let mut sink = Collect::default();
    let s = replay_file(path, EngineConfig::default(), &mut sink, false, |_, _| {}).unwrap();
    assert!(s.stopped_early.is_none());
    sink
}

fn v4(a: [u8; 4]) -> Ipv4Addr {
    Ipv4Addr::from(a)
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn sock(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The handshake message inside a TLS record.
fn hello_message(name: &str, seed: u64) -> Vec<u8> {
    let record = tls_client_hello(&ClientHelloSpec {
        server_name: name,
        alpn: &["h3"],
        post_quantum: false,
        seed,
    })
    .unwrap();
    record[5..].to_vec()
}

fn crypto_frame(offset: u64, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x06];
    f.extend_from_slice(&(0x8000_0000u32 | offset as u32).to_be_bytes());
    f.extend_from_slice(&(0x4000u16 | data.len() as u16).to_be_bytes());
    f.extend_from_slice(data);
    f
}

fn padded(mut frames: Vec<u8>, to: usize) -> Vec<u8> {
    if frames.len() < to {
        frames.resize(to, 0);
    }
    frames
}

/// A 0-RTT packet of `version` (type bits 01; its payload is opaque to an observer).
fn zero_rtt(dcid: &[u8], len: usize) -> Vec<u8> {
    let mut p = vec![0xc0 | (1 << 4) | 0x03];
    p.extend_from_slice(&VERSION_1.to_be_bytes());
    p.push(dcid.len() as u8);
    p.extend_from_slice(dcid);
    p.push(0);
    p.extend_from_slice(&(0x4000u16 | len as u16).to_be_bytes());
    p.extend((0..len).map(|i| (i * 7 + 3) as u8));
    p
}

pub(super) fn synth(packets: Vec<SynthPacket>) -> Vec<(u64, Vec<u8>)> {
    packets
        .into_iter()
        .map(|p| (p.ts_micros, p.bytes))
        .collect()
}

pub(super) fn flow(device: &str, remote: &str, start: u64) -> FlowSpec {
    FlowSpec {
        app_uid: None,
        device: sock(device),
        remote: sock(remote),
        start_micros: start,
        rtt_micros: 20_000,
        seed: start,
    }
}

fn tls(device: &str, remote: &str, start: u64, name: &str) -> Vec<(u64, Vec<u8>)> {
    let plan = TlsPlan {
        hello: ClientHelloSpec {
            server_name: name,
            alpn: &["h2"],
            post_quantum: false,
            seed: start,
        },
        server_flight_len: 2_000,
        exchanges: &[],
        close: true,
    };
    synth(tls_connection(&flow(device, remote, start), &plan).unwrap())
}

/// Every packet of `inner` inside `how`, each way between the two outer addresses.
fn tunnelled(
    inner: Vec<(u64, Vec<u8>)>,
    a: IpAddr,
    b: IpAddr,
    how: Encapsulation,
) -> Vec<(u64, Vec<u8>)> {
    let first_src = inner.first().map(|(_, p)| src_of(p));
    inner
        .into_iter()
        .map(|(ts, p)| {
            let pair = if Some(src_of(&p)) == first_src {
                IpPair::new(a, b).unwrap()
            } else {
                IpPair::new(b, a).unwrap()
            };
            (ts, encapsulate(pair, how, &p).unwrap())
        })
        .collect()
}

fn src_of(p: &[u8]) -> IpAddr {
    if p[0] >> 4 == 4 {
        IpAddr::from(<[u8; 4]>::try_from(&p[12..16]).unwrap())
    } else {
        IpAddr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap())
    }
}

fn dns_query(id: u16, labels: &[&[u8]]) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for l in labels {
        q.push(l.len() as u8);
        q.extend_from_slice(l);
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// Names tshark writes for this capture: DNS query names, HTTP hosts (port cut),
/// TLS/DTLS/QUIC SNI and gQUIC SNI, with the inner (last) addresses.
fn tshark_names(path: &Path) -> Option<BTreeSet<(String, String)>> {
    let ok = Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        return None;
    }
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-n", "-o", "tcp.desegment_tcp_streams:TRUE", "-T", "fields"])
        .args(["-E", "separator=/t", "-E", "occurrence=l"])
        .args(["-e", "dns.qry.name", "-e", "http.host"])
        .args(["-e", "tls.handshake.extensions_server_name"])
        .args([
            "-e",
            "dtls.handshake.extensions_server_name",
            "-e",
            "gquic.tag.sni",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names = BTreeSet::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        for (kind, v) in ["dns", "http", "sni", "sni", "sni"].iter().zip(&cols) {
            // tshark writes placeholders such as `<name too long>`: not names.
            if v.is_empty() || v.starts_with('<') {
                continue;
            }
            let v = if *kind == "http" {
                v.rsplit_once(':')
                    .filter(|(h, p)| {
                        p.parse::<u16>().is_ok() && (!h.contains(':') || h.ends_with(']'))
                    })
                    .map_or(*v, |(h, _)| h)
            } else {
                v
            };
            names.insert((kind.to_string(), v.to_ascii_lowercase()));
        }
    }
    Some(names)
}

/// Our DNS presentation text as tshark 4.0 writes the same bytes: labels joined
/// by dots whatever they hold, control bytes as octal escapes, other bytes as UTF-8
/// (invalid sequences as U+FFFD). Lossy, so only this direction can be compared.
fn tshark_form(presentation: &str) -> String {
    let labels = nightjar_dns::presentation::decode(presentation).unwrap();
    let joined = labels.join(&b'.');
    let mut out = String::new();
    for chunk in joined.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_ascii_control() {
                out.push_str(&format!("\\{:03o}", c as u32));
            } else {
                out.push(c);
            }
        }
        if !chunk.invalid().is_empty() {
            out.push('\u{fffd}');
        }
    }
    out
}

fn our_names(c: &Collect) -> BTreeSet<(String, String)> {
    let mut names = BTreeSet::new();
    for tx in &c.dns {
        if let Some(q) = &tx.query {
            names.insert(("dns".to_string(), tshark_form(q).to_ascii_lowercase()));
        }
    }
    for h in &c.http {
        if let Some(host) = &h.host {
            names.insert(("http".to_string(), host.to_ascii_lowercase()));
        }
    }
    for h in &c.hellos {
        if let Some(n) = &h.server_name {
            names.insert(("sni".to_string(), n.clone()));
        }
    }
    names
}

pub(super) fn compare_with_tshark(class: &str, path: &Path, c: &Collect) {
    let Some(theirs) = tshark_names(path) else {
        eprintln!("SKIPPED generated_names {class}: tshark not installed");
        return;
    };
    let ours = our_names(c);
    let missing: Vec<_> = theirs.difference(&ours).collect();
    assert!(
        missing.is_empty(),
        "{class}: tshark has, we lack {missing:?}; ours {ours:?}"
    );
    eprintln!("{class}: {} names agree with tshark", theirs.len());
}

#[test]
fn dns_names_are_presentation_format_and_decode_to_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let odd: &[&[u8]] = &[b"J\xe4g.e\\r\x00 x", b"de"];
    let long: Vec<&[u8]> = vec![&[b'a'; 63][..]; 5];
    let ips = IpPair::new(
        IpAddr::V4(v4([10, 0, 0, 1])),
        IpAddr::V4(v4([10, 0, 0, 53])),
    )
    .unwrap();
    let packets = vec![
        (T0, ip_udp(ips, 5000, 53, &dns_query(0x1234, odd)).unwrap()),
        (
            T0 + 1_000,
            ip_udp(ips, 5001, 53, &dns_query(0x4321, &long)).unwrap(),
        ),
    ];
    let path = write(dir.path(), "dns.pcap", &packets);
    let c = replay(&path);
    let tx = c.dns.iter().find(|t| t.id == 0x1234).unwrap();
    // RFC 1035 §5.1: decimal \DDD, \. and \\ inside a label.
    assert_eq!(
        tx.original_query.as_deref(),
        Some("J\\228g\\.e\\\\r\\000\\032x.de")
    );
    assert_eq!(tx.query.as_deref(), Some("j\\228g\\.e\\\\r\\000\\032x.de"));
    let back = nightjar_dns::presentation::decode(tx.original_query.as_deref().unwrap()).unwrap();
    assert_eq!(back, odd.iter().map(|l| l.to_vec()).collect::<Vec<_>>());
    assert!(!tx.query_too_long);
    let long_tx = c.dns.iter().find(|t| t.id == 0x4321).unwrap();
    assert!(long_tx.query_too_long);
    assert_eq!(long_tx.query.as_deref().map(str::len), Some(5 * 63 + 4));
    compare_with_tshark("dns", &path, &c);
}

#[test]
fn http_hosts_that_are_addresses_are_logged_as_sent_and_name_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ssdp = b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\
        MAN: \"ssdp:discover\"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n";
    let ips = IpPair::new(
        IpAddr::V4(v4([192, 168, 1, 20])),
        IpAddr::V4(v4([239, 255, 255, 250])),
    )
    .unwrap();
    let mut packets = vec![
        (T0, ip_udp(ips, 50000, 1900, ssdp).unwrap()),
        (T0 + 1_000_000, ip_udp(ips, 50000, 1900, ssdp).unwrap()),
    ];
    let v6flow = flow("[2001:db8::1]:40000", "[2001:db8::2]:8080", T0 + 2_000_000);
    packets.extend(synth(
        http_connection(&v6flow, "[::1]:8080", "/", "curl/8", 100).unwrap(),
    ));
    let path = write(dir.path(), "http.pcap", &packets);
    let c = replay(&path);
    let hosts: BTreeSet<_> = c.http.iter().filter_map(|h| h.host.clone()).collect();
    assert_eq!(
        hosts,
        BTreeSet::from(["239.255.255.250".to_string(), "[::1]".to_string()])
    );
    assert_eq!(c.http.iter().filter(|h| h.method == "M-SEARCH").count(), 2);
    // An address names no flow.
    assert!(c.flows.iter().all(|f| f.name.is_none()), "{:?}", c.flows);
    compare_with_tshark("http", &path, &c);
}

#[test]
fn quic_draft_29_coalesced_and_zero_rtt_first_flights_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let client = |port: u16| {
        IpPair::new(
            IpAddr::V4(v4([10, 1, 0, 2])),
            IpAddr::V4(v4([203, 0, 113, port as u8])),
        )
        .unwrap()
    };
    let mut packets = Vec::new();
    // draft-29 (0xff00001d, its own salt).
    // One DCID per connection: tshark tracks QUIC connections by connection ID.
    let dcid = |n: u8| [0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, n];
    let frames = padded(crypto_frame(0, &hello_message("draft29.example", 1)), 1_162);
    let d = seal_client_initial(0xff00_001d, &dcid(1), b"c1", 0, &frames).unwrap();
    packets.push((T0, ip_udp(client(1), 50001, 443, &d).unwrap()));
    // v1 Initial coalesced with a 0-RTT packet (RFC 9000 §12.2).
    let frames = crypto_frame(0, &hello_message("coalesced.example", 2));
    let mut d = seal_client_initial(VERSION_1, &dcid(2), b"c2", 0, &frames).unwrap();
    d.extend(zero_rtt(&dcid(2), 1_200 - d.len().min(1_100)));
    packets.push((T0 + 1_000, ip_udp(client(2), 50002, 443, &d).unwrap()));
    // A first flight whose ClientHello spans two Initials, with twelve 0-RTT
    // datagrams between them.
    let msg = hello_message("zerortt.example", 3);
    let (a, b) = msg.split_at(100);
    let d1 = seal_client_initial(
        VERSION_1,
        &dcid(3),
        b"c3",
        0,
        &padded(crypto_frame(0, a), 1_162),
    )
    .unwrap();
    packets.push((T0 + 2_000, ip_udp(client(3), 50003, 443, &d1).unwrap()));
    for i in 0..12u64 {
        packets.push((
            T0 + 2_100 + i,
            ip_udp(client(3), 50003, 443, &zero_rtt(&dcid(3), 1_000)).unwrap(),
        ));
    }
    let d2 = seal_client_initial(
        VERSION_1,
        &dcid(3),
        b"c3",
        1,
        &padded(crypto_frame(100, b), 1_162),
    )
    .unwrap();
    packets.push((T0 + 3_000, ip_udp(client(3), 50003, 443, &d2).unwrap()));
    let path = write(dir.path(), "quic.pcap", &packets);
    let c = replay(&path);
    let got: BTreeSet<_> = c
        .hellos
        .iter()
        .map(|h| (h.quic_version, h.server_name.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        got,
        BTreeSet::from([
            (Some(0xff00_001d), "draft29.example".to_string()),
            (Some(VERSION_1), "coalesced.example".to_string()),
            (Some(VERSION_1), "zerortt.example".to_string()),
        ])
    );
    compare_with_tshark("quic", &path, &c);
}

#[test]
fn flows_inside_tunnels_are_the_inner_five_tuples_with_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let o4a = IpAddr::V4(v4([192, 0, 2, 1]));
    let o4b = IpAddr::V4(v4([192, 0, 2, 2]));
    let o6a = IpAddr::V6(v6("2001:db8:ffff::1"));
    let o6b = IpAddr::V6(v6("2001:db8:ffff::2"));
    let mut packets = Vec::new();
    // 6in4 (RFC 4213): a TLS connection over IPv6 inside IPv4.
    let six = tls(
        "[2001:db8::10]:40001",
        "[2001:db8::20]:443",
        T0,
        "sixinfour.example",
    );
    let n_six = six.len() as u64;
    packets.extend(tunnelled(six, o4a, o4b, Encapsulation::IpInIp));
    // 4in6 (RFC 2473): a TLS connection over IPv4 inside IPv6.
    let four = tls(
        "10.9.0.1:40002",
        "10.9.0.2:443",
        T0 + 1_000_000,
        "fourinsix.example",
    );
    let n_four = four.len() as u64;
    packets.extend(tunnelled(four, o6a, o6b, Encapsulation::IpInIp));
    // GRE (RFC 2784 with an RFC 2890 key): a DNS query.
    let ips = IpPair::new(
        IpAddr::V4(v4([10, 8, 0, 1])),
        IpAddr::V4(v4([10, 8, 0, 53])),
    )
    .unwrap();
    let q = ip_udp(ips, 5353, 53, &dns_query(7, &[b"gre", b"example"])).unwrap();
    packets.push((
        T0 + 2_000_000,
        encapsulate(
            IpPair::new(o4a, o4b).unwrap(),
            Encapsulation::Gre { key: Some(9) },
            &q,
        )
        .unwrap(),
    ));
    // GTP-U (TS 29.281): a TLS connection from a handset through the mobile core.
    let gtp = tls(
        "100.64.0.7:40003",
        "198.51.100.9:443",
        T0 + 3_000_000,
        "gtp.example",
    );
    let n_gtp = gtp.len() as u64;
    packets.extend(tunnelled(
        gtp,
        IpAddr::V4(v4([172, 16, 0, 1])),
        IpAddr::V4(v4([172, 16, 0, 2])),
        Encapsulation::GtpU {
            teid: 0x1234_5678,
            sequence: Some(1),
        },
    ));
    // GRE in 6in4 in IPv4... nested three deep: counted, innermost not parsed.
    let deep = encapsulate(
        IpPair::new(o4a, o4b).unwrap(),
        Encapsulation::IpInIp,
        &encapsulate(
            IpPair::new(o4a, o4b).unwrap(),
            Encapsulation::Gre { key: None },
            &encapsulate(IpPair::new(o4a, o4b).unwrap(), Encapsulation::IpInIp, &q).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    packets.push((T0 + 4_000_000, deep));
    let path = write(dir.path(), "tunnels.pcap", &packets);
    let mut sink = Collect::default();
    let summary = replay_file(&path, EngineConfig::default(), &mut sink, false, |_, _| {}).unwrap();
    let c = sink;

    let named = |name: &str| {
        c.flows
            .iter()
            .find(|f| f.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no flow named {name}: {:?}", c.flows))
    };
    let f = named("sixinfour.example");
    assert_eq!(f.resp, sock("[2001:db8::20]:443"));
    let t = f.tunnel.unwrap();
    assert_eq!((t.kind, t.outer_protocol), (TunnelKind::Ipv6InIp, 41));
    assert_eq!((t.outer_src, t.outer_dst), (o4a, o4b));
    assert_eq!(f.orig_pkts + f.resp_pkts, n_six);
    let f = named("fourinsix.example");
    assert_eq!(f.resp, sock("10.9.0.2:443"));
    assert_eq!(f.tunnel.unwrap().kind, TunnelKind::Ipip);
    let f = named("gtp.example");
    let t = f.tunnel.unwrap();
    assert_eq!((t.kind, t.outer_protocol), (TunnelKind::GtpU, 17));
    // GTP-U's outer datagrams are a UDP flow of their own, the inner flow's parent.
    let outer = c.flows.iter().find(|f| f.resp.port() == 2152).unwrap();
    assert_eq!(t.outer_flow, Some(outer.id));
    let dns = c.dns.iter().find(|t| t.id == 7).unwrap();
    assert_eq!(dns.query.as_deref(), Some("gre.example"));
    // The deep packet: two layers opened, the third counted.
    let d = summary.engine.decap;
    assert_eq!(d.too_deep, 1);
    assert_eq!(d.decapsulated, n_six + n_four + 1 + n_gtp + 2, "{d:?}");
    assert_eq!(outer.orig_pkts + outer.resp_pkts, n_gtp);
    let p = summary.engine.packets;
    assert_eq!(p.packets, p.in_flows + p.no_flow_total());
    compare_with_tshark("tunnels", &path, &c);

    // The store keeps the tunnel (schema v7) and gives it back in its exports.
    let apps = nightjar::replay::AppNames::new();
    let db = dir.path().join("tunnels.db");
    let mut store = nightjar::store_sink::StoreSink::open(&db, &apps, 0).unwrap();
    replay_file(&path, EngineConfig::default(), &mut store, false, |_, _| {}).unwrap();
    let (store, status) = store.finish();
    assert_eq!(status.dropped_full + status.dropped_error, 0);
    let rows = store
        .flows(&nightjar_store::Query::new().limit(100))
        .unwrap()
        .items;
    let row = |name: &str| {
        rows.iter()
            .find(|f| f.name.as_deref() == Some(name))
            .unwrap()
    };
    let outer = rows.iter().find(|f| f.resp_p == 2152).unwrap();
    let gtp = row("gtp.example").tunnel.clone().unwrap();
    assert_eq!((gtp.kind.as_str(), gtp.outer_proto), ("gtpv1", 17));
    assert_eq!(gtp.parent_uid.as_deref(), Some(outer.uid.as_str()));
    let six = row("sixinfour.example").tunnel.clone().unwrap();
    assert_eq!((six.kind.as_str(), six.outer_proto), ("ip6", 41));
    assert_eq!(
        (six.outer_src, six.outer_dst, six.parent_uid),
        (o4a, o4b, None)
    );
    assert!(outer.tunnel.is_none());
    let mut conn = Vec::new();
    store
        .export_zeek(
            nightjar_store::export::zeek::ZeekLog::Conn,
            &nightjar_store::Query::new().domain("gtp.example"),
            &mut conn,
        )
        .unwrap();
    let line: serde_json::Value = serde_json::from_slice(&conn).unwrap();
    assert_eq!(line["tunnel_parents"][0], outer.uid.as_str());
    assert_eq!(line["tunnel"]["type"], "gtpv1");
}

#[test]
fn google_quic_and_dtls_hellos_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let ips = |n: u8| {
        IpPair::new(
            IpAddr::V4(v4([10, 2, 0, 2])),
            IpAddr::V4(v4([203, 0, 113, n])),
        )
        .unwrap()
    };
    let chlo = |sni: &[u8], ver: &[u8]| {
        gbuild::chlo_message(&[
            (*b"PAD\0", &[0x2d; 64]),
            (*b"SNI\0", sni),
            (*b"UAID", b"Chrome/86.0"),
            (*b"VER\0", ver),
        ])
        .unwrap()
    };
    let cid = [9, 8, 7, 6, 5, 4, 3, 2];
    let q043 = gbuild::unencrypted_packet(gquic::Q043, cid, &chlo(b"q043.example", b"Q043"), 1_350)
        .unwrap();
    let q046 = gbuild::unencrypted_packet(gquic::Q046, cid, &chlo(b"q046.example", b"Q046"), 1_350)
        .unwrap();
    let q050 = gbuild::q050_packet(&cid, &chlo(b"q050.example", b"Q050"), 1_350).unwrap();
    let dtls = dtls_client_hello("dtls.example");
    let packets = vec![
        (T0, ip_udp(ips(1), 51001, 443, &q043).unwrap()),
        (T0 + 1_000, ip_udp(ips(2), 51002, 443, &q046).unwrap()),
        (T0 + 2_000, ip_udp(ips(3), 51003, 443, &q050).unwrap()),
        (T0 + 3_000, ip_udp(ips(4), 51004, 4433, &dtls).unwrap()),
    ];
    let path = write(dir.path(), "gquic_dtls.pcap", &packets);
    let c = replay(&path);
    let got: BTreeSet<_> = c
        .hellos
        .iter()
        .map(|h| (h.quic_version, h.server_name.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        got,
        BTreeSet::from([
            (Some(gquic::Q043), "q043.example".to_string()),
            (Some(gquic::Q046), "q046.example".to_string()),
            (Some(gquic::Q050), "q050.example".to_string()),
            (None, "dtls.example".to_string()),
        ])
    );
    for name in [
        "q043.example",
        "q046.example",
        "q050.example",
        "dtls.example",
    ] {
        assert!(
            c.flows.iter().any(|f| f.name.as_deref() == Some(name)),
            "{name}"
        );
    }
    compare_with_tshark("gquic_dtls", &path, &c);
}

/// A DTLS 1.2 record holding the synth ClientHello, with an empty cookie.
fn dtls_client_hello(name: &str) -> Vec<u8> {
    let tls = hello_message(name, 4);
    let body = &tls[4..];
    let sid_len = usize::from(body[34]);
    let (head, after) = body.split_at(35 + sid_len);
    let mut dbody = head.to_vec();
    dbody.push(0); // cookie
    dbody.extend_from_slice(after);
    let len = (dbody.len() as u32).to_be_bytes();
    let mut hs = vec![
        1, len[1], len[2], len[3], 0, 0, 0, 0, 0, len[1], len[2], len[3],
    ];
    hs.extend_from_slice(&dbody);
    let mut rec = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}
