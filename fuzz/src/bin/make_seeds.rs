//! Writes seed corpora for every fuzz target from the fixture captures and the
//! synthetic demo scenario.
//!
//! Usage: `make_seeds [OUT_DIR]` (default: `corpus/` next to this crate).
//! Captures are found under `$NIGHTJAR_FIXTURES/pcap` (default: the shared
//! fixtures directory beside the repository). Seeds derive from third-party
//! captures, so they are generated on demand and never committed.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use nightjar_capture::CaptureReader;
use nightjar_dissect::quic::{LongHeader, PacketType, decrypt_client_initial, long_packets};
use nightjar_dns::TcpDnsFramer;
use nightjar_engine::{Direction, FragmentIn};
use nightjar_fuzz::engine_script::{self, Op};
use nightjar_fuzz::roundtrip::{self, VERSIONS};
use nightjar_fuzz::{chunking, dns_script, reassembly_script, records};
use nightjar_wire::{Transport, parse_ip, parse_transport, proto};

/// Packets of one capture read for seeds at most.
const MAX_PACKETS: usize = 20_000;
/// Packets per engine script.
const SCRIPT_PACKETS: usize = 300;
/// Engine scripts per capture.
const SCRIPTS_PER_SOURCE: usize = 4;
/// Largest seed file; bigger ones would raise libFuzzer's `-max_len` for everyone.
const MAX_SEED: usize = 64 * 1024;
/// Stream bytes kept per flow for stream targets.
const MAX_STREAM: usize = 16 * 1024;
/// Seeds per target and source, so one large capture cannot swamp a corpus.
const PER_SOURCE: usize = 64;

/// One packet of a source.
struct Pkt {
    ts: u64,
    direction: Direction,
    ip: Vec<u8>,
    orig_len: usize,
}

/// A transport flow's identity with the client first.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct FlowKey {
    proto: u8,
    client: (std::net::IpAddr, u16),
    server: (std::net::IpAddr, u16),
}

/// Writes seed files, deduplicated by content.
struct Corpus {
    root: PathBuf,
    seen: HashSet<(String, u64)>,
    written: BTreeMap<String, usize>,
    per_source: BTreeMap<String, usize>,
}

impl Corpus {
    fn new(root: PathBuf) -> Self {
        Corpus {
            root,
            seen: HashSet::new(),
            written: BTreeMap::new(),
            per_source: BTreeMap::new(),
        }
    }

    fn start_source(&mut self) {
        self.per_source.clear();
    }

    fn add(&mut self, target: &str, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() || bytes.len() > MAX_SEED {
            return Ok(());
        }
        let used = self.per_source.entry(target.to_owned()).or_default();
        if *used >= PER_SOURCE {
            return Ok(());
        }
        let h = fnv1a(bytes);
        if !self.seen.insert((target.to_owned(), h)) {
            return Ok(());
        }
        *used += 1;
        let dir = self.root.join(target);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join(format!("seed-{h:016x}")), bytes)?;
        *self.written.entry(target.to_owned()).or_default() += 1;
        Ok(())
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn fixtures_dir() -> PathBuf {
    std::env::var_os("NIGHTJAR_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn read_capture(path: &Path) -> Option<Vec<Pkt>> {
    let mut reader = CaptureReader::open(path).ok()?;
    let mut pkts = Vec::new();
    while let Some(frame) = reader.next_frame() {
        let Ok(frame) = frame else { break };
        let Ok(ip) = frame.ip else { continue };
        let link_overhead = frame.captured.len().saturating_sub(ip.len());
        pkts.push(Pkt {
            ts: frame.ts_micros,
            direction: Direction::Unknown,
            ip: ip.to_vec(),
            orig_len: (frame.orig_len as usize)
                .saturating_sub(link_overhead)
                .max(ip.len()),
        });
        if pkts.len() >= MAX_PACKETS {
            break;
        }
    }
    Some(pkts)
}

/// Ports that name the server end of a flow, for telling client from server.
fn is_service_port(p: u16) -> bool {
    matches!(p, 53 | 80 | 443 | 853 | 4433 | 5353 | 5355 | 8080 | 8443) || p < 1024
}

fn flow_of(
    proto: u8,
    src: (std::net::IpAddr, u16),
    dst: (std::net::IpAddr, u16),
) -> (FlowKey, bool) {
    let src_is_server = is_service_port(src.1) && !is_service_port(dst.1)
        || (is_service_port(src.1) && is_service_port(dst.1) && src.1 < dst.1);
    if src_is_server {
        (
            FlowKey {
                proto,
                client: dst,
                server: src,
            },
            false,
        )
    } else {
        (
            FlowKey {
                proto,
                client: src,
                server: dst,
            },
            true,
        )
    }
}

fn harvest(corpus: &mut Corpus, pkts: &[Pkt], capture_bytes: Option<&[u8]>) -> io::Result<()> {
    corpus.start_source();
    if let Some(bytes) = capture_bytes {
        corpus.add("capture_reader", bytes.get(..MAX_SEED).unwrap_or(bytes))?;
    }

    // Engine scripts: consecutive runs of packets with their real time steps.
    for chunk in pkts.chunks(SCRIPT_PACKETS).take(SCRIPTS_PER_SOURCE) {
        let mut script = engine_script::Knobs::SEED.encode().to_vec();
        let mut prev = chunk.first().map_or(0, |p| p.ts);
        for (i, p) in chunk.iter().enumerate() {
            let dt = p.ts.saturating_sub(prev);
            prev = prev.max(p.ts);
            let op = if p.orig_len > p.ip.len() {
                Op::Captured {
                    direction: p.direction,
                    bytes: &p.ip,
                    cut: u16::try_from(p.orig_len - p.ip.len()).unwrap_or(u16::MAX),
                }
            } else {
                Op::Packet {
                    direction: p.direction,
                    bytes: &p.ip,
                }
            };
            engine_script::encode(&mut script, dt, &op);
            if i % 50 == 49 {
                engine_script::encode(
                    &mut script,
                    0,
                    &Op::Attribute {
                        recent: i as u8,
                        app: 7,
                    },
                );
                engine_script::encode(&mut script, 0, &Op::Drain(0));
            }
        }
        engine_script::encode(&mut script, 400_000_000, &Op::Poll);
        engine_script::encode(&mut script, 0, &Op::Drain(0));
        engine_script::encode(&mut script, 0, &Op::Flush);
        corpus.add("engine_sequence", &script)?;
    }

    let mut frag_script = reassembly_script::Knobs::SEED.encode().to_vec();
    let mut frag_prev: Option<u64> = None;
    let mut tcp_streams: BTreeMap<(FlowKey, bool), Vec<u8>> = BTreeMap::new();
    let mut quic_flows: BTreeMap<FlowKey, Vec<Vec<u8>>> = BTreeMap::new();
    let mut dns_script = dns_script::Knobs::SEED.encode().to_vec();
    let mut dns_prev: Option<u64> = None;
    let mut dns_ends: BTreeMap<FlowKey, u8> = BTreeMap::new();

    for p in pkts {
        corpus.add("wire_ip", &p.ip)?;
        let Ok(ip) = parse_ip(&p.ip) else { continue };
        if nightjar_wire::tunnel::may_carry(ip.protocol, ip.payload) {
            // wire_tunnel's first byte picks the protocol (IPIP, 41, GRE, UDP).
            let selector = match ip.protocol {
                nightjar_wire::tunnel::IPIP => 0,
                nightjar_wire::tunnel::IPV6_IN_IP => 1,
                nightjar_wire::tunnel::GRE => 2,
                _ => 3,
            };
            let mut seed = vec![selector];
            seed.extend_from_slice(ip.payload);
            corpus.add("wire_tunnel", &seed)?;
        }
        if let Some(f) = ip.fragment {
            let frag = FragmentIn {
                src: ip.src,
                dst: ip.dst,
                protocol: ip.protocol,
                ident: f.ident,
                offset: f.offset,
                more: f.more,
                header_len: ip.header_len,
                data: ip.payload,
            };
            let pair = if ip.src.is_ipv4() { 0 } else { 2 };
            let dt = frag_prev.map_or(0, |t| p.ts.saturating_sub(t));
            frag_prev = Some(p.ts);
            reassembly_script::encode_push(&mut frag_script, dt, pair, &frag);
            continue;
        }
        let mut l4 = vec![ip.protocol];
        l4.extend_from_slice(ip.payload);
        corpus.add("wire_transport", &l4)?;
        match parse_transport(ip.protocol, ip.payload) {
            Ok(Transport::Tcp(seg)) if !seg.payload.is_empty() => {
                let (key, from_client) =
                    flow_of(proto::TCP, (ip.src, seg.src_port), (ip.dst, seg.dst_port));
                let s = tcp_streams.entry((key, from_client)).or_default();
                if s.len() < MAX_STREAM {
                    s.extend_from_slice(seg.payload);
                }
            }
            Ok(Transport::Udp {
                src_port,
                dst_port,
                payload,
            }) => {
                let (key, from_client) =
                    flow_of(proto::UDP, (ip.src, src_port), (ip.dst, dst_port));
                let dns_port = [53, 5353, 5355].contains(&key.server.1);
                if dns_port || [53, 5353, 5355].contains(&key.client.1) {
                    corpus.add("dns_message", payload)?;
                    let n = dns_ends.len();
                    let ends = *dns_ends.entry(key.clone()).or_insert(n as u8);
                    let dt = dns_prev.map_or(0, |t| p.ts.saturating_sub(t));
                    dns_prev = Some(p.ts);
                    dns_script::encode_message(
                        &mut dns_script,
                        dt,
                        ends,
                        false,
                        from_client,
                        payload,
                    );
                }
                if from_client && payload.first().is_some_and(|b| b & 0x80 != 0) {
                    let dgrams = quic_flows.entry(key).or_default();
                    if dgrams.len() < 8 {
                        dgrams.push(payload.to_vec());
                    }
                }
            }
            _ => {}
        }
    }
    if frag_script.len() > reassembly_script::KNOBS_LEN {
        frag_script.push(2); // expire
        frag_script.extend_from_slice(&[0x10, 0, 60]); // a minute later
        corpus.add("reassembly", &frag_script)?;
    }
    if dns_script.len() > dns_script::KNOBS_LEN {
        dns_script.extend_from_slice(&[0x12, 0, 30, 3, 0, 0]); // poll 30 s later, drain
        corpus.add(
            "dns_transactions",
            dns_script.get(..MAX_SEED).unwrap_or(&dns_script),
        )?;
    }

    for ((key, from_client), stream) in &tcp_streams {
        let port = key.server.1;
        if port == 53 {
            corpus.add("dns_tcp_framing", &chunking::encode(0, stream))?;
            corpus.add("dns_tcp_framing", &chunking::encode(11, stream))?;
            let mut framer = TcpDnsFramer::new();
            for msg in framer.push(stream).flatten() {
                corpus.add("dns_message", &msg)?;
            }
        }
        if !from_client {
            continue;
        }
        if stream.first() == Some(&0x16) {
            corpus.add("tls_client_hello", stream)?;
            corpus.add("tls_hello_assembler", &chunking::encode(0, stream))?;
            corpus.add("tls_hello_assembler", &chunking::encode(29, stream))?;
            if let Some(handshake) = stream.get(5..) {
                corpus.add("tls_client_hello", handshake)?;
            }
        } else if stream.first().is_some_and(u8::is_ascii_uppercase) {
            corpus.add("http_request", &chunking::encode(0, stream))?;
            corpus.add("http_request", &chunking::encode(5, stream))?;
        }
    }

    for dgrams in quic_flows.values() {
        let mut rec = Vec::new();
        for d in dgrams {
            records::encode(&mut rec, d);
            for h in long_packets(d).flatten() {
                if h.packet_type() != PacketType::Initial || !VERSIONS.contains(&h.version()) {
                    continue;
                }
                let Ok(plain) = decrypt_client_initial(&h) else {
                    continue;
                };
                let input = roundtrip::Input {
                    version: h.version(),
                    dcid: h.dcid(),
                    scid: h.scid(),
                    packet_number: plain.packet_number() as u32,
                    frames: plain.payload(),
                };
                corpus.add("quic_roundtrip", &roundtrip::encode(&input))?;
            }
        }
        if dgrams.iter().any(|d| LongHeader::parse(d).is_ok()) {
            corpus.add("quic_initial", &rec)?;
        }
    }
    Ok(())
}

/// Seeds for the targets whose inputs the fixtures hardly hold: Google QUIC
/// CHLOs, stacked tunnels and DNS over cleartext HTTP, built by the project's
/// own builders.
fn generated(corpus: &mut Corpus) -> io::Result<()> {
    use nightjar_dissect::gquic::{self, build};
    use nightjar_synth::doh::{self, H2Writer, Method};
    use nightjar_synth::packet::{IpPair, ip_udp};
    corpus.start_source();

    // gquic_chlo: built mode (SNI, UAID, then tags), one per version, and the
    // same packets raw.
    let mut built = vec![b"www.example.org".len() as u8];
    built.extend_from_slice(b"www.example.org");
    built.push(6);
    built.extend_from_slice(b"Chrome");
    built.extend_from_slice(&[b'A', b'B', b'C', 2, 1, 2]);
    for selector in 0x80..0x83u8 {
        let mut seed = vec![selector];
        seed.extend_from_slice(&built);
        corpus.add("gquic_chlo", &seed)?;
    }
    let chlo = build::chlo_message(&[(*b"SNI\0", b"www.example.org"), (*b"UAID", b"ua")])
        .unwrap_or_default();
    let cid = [1, 2, 3, 4, 5, 6, 7, 8];
    for packet in [
        build::unencrypted_packet(gquic::Q043, cid, &chlo, 1350),
        build::unencrypted_packet(gquic::Q046, cid, &chlo, 1350),
        build::q050_packet(&cid, &chlo, 1350),
    ]
    .into_iter()
    .flatten()
    {
        let mut seed = vec![0];
        seed.extend_from_slice(&packet);
        corpus.add("gquic_chlo", &seed)?;
    }

    // engine_tunnel: a DNS datagram under 0-4 layers of every kind.
    let ips = IpPair::new([10, 0, 0, 2].into(), [10, 0, 0, 1].into()).ok();
    let query =
        nightjar_synth::payload::dns_query(1, "a.example", nightjar_synth::payload::QueryType::A)
            .unwrap_or_default();
    if let Some(inner) = ips.and_then(|ips| ip_udp(ips, 5000, 53, &query).ok()) {
        for (depth, layers) in [
            (0u8, &[][..]),
            (1, &[0u8][..]),
            (2, &[1, 2]),
            (3, &[8, 5, 2]),
            (4, &[0, 1, 2, 3]),
        ] {
            let mut rec = vec![depth << 2, 1];
            rec.extend_from_slice(layers);
            rec.extend_from_slice(&inner);
            let mut seed = Vec::new();
            records::encode(&mut seed, &rec);
            records::encode(&mut seed, &rec);
            corpus.add("engine_tunnel", &seed)?;
        }
    }

    // doh_stream: each reader's kind, whole and split.
    let a =
        nightjar_synth::payload::dns_query(0, "a.example", nightjar_synth::payload::QueryType::A)
            .unwrap_or_default();
    let (mut client, mut server) = (H2Writer::new(), H2Writer::new());
    let mut h2_client = H2Writer::client_start();
    h2_client.extend(client.request(1, "doh.example", Method::Get, &a));
    h2_client.extend(client.request(3, "doh.example", Method::Post, &a));
    let mut h2_server = H2Writer::server_start();
    h2_server.extend(server.response(1, &a));
    h2_server.extend(server.response(3, &a));
    let mut responses = doh::http1_response(&a);
    responses.extend(doh::http1_switching());
    responses.extend(H2Writer::server_start());
    let mut requests = doh::http1_request("doh.example", Method::Get, &a);
    requests.extend(doh::http1_request("doh.example", Method::Post, &a));
    requests.extend(doh::http1_upgrade_request("doh.example", &a));
    for (kind, stream) in [
        (0u8, &h2_client),
        (1, &h2_server),
        (2, &responses),
        (3, &requests),
    ] {
        for split in [0u8, 7] {
            let mut seed = vec![kind];
            seed.extend(chunking::encode(split, stream));
            corpus.add("doh_stream", &seed)?;
        }
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    let mut corpus = Corpus::new(out.clone());

    let fixtures = fixtures_dir();
    let mut files = Vec::new();
    walk(&fixtures.join("pcap"), &mut files);
    if files.is_empty() {
        eprintln!("SKIPPED: fixtures not found at {}", fixtures.display());
    }
    let mut captures = 0usize;
    for path in &files {
        let Some(pkts) = read_capture(path) else {
            continue;
        };
        captures += 1;
        let bytes = fs::read(path)?;
        harvest(&mut corpus, &pkts, Some(&bytes))?;
    }

    // The demo scenario, with real directions, cut into several sources so its
    // many flows are all represented.
    let scenario = nightjar_synth::phone_session(7);
    let synth: Vec<Pkt> = scenario
        .packets
        .iter()
        .map(|p| Pkt {
            ts: p.ts_micros,
            direction: p.direction,
            ip: p.bytes.clone(),
            orig_len: p.bytes.len(),
        })
        .collect();
    for part in synth.chunks(SCRIPT_PACKETS) {
        harvest(&mut corpus, part, None)?;
    }

    generated(&mut corpus)?;

    eprintln!(
        "{} captures and {} synthetic packets -> {}",
        captures,
        synth.len(),
        out.display()
    );
    for (target, n) in &corpus.written {
        eprintln!("  {target:<20} {n:>5} seeds");
    }
    Ok(())
}
