//! Cross-checks against third-party captures and their tshark / Zeek outputs.
//!
//! Packet parsing here is deliberately minimal and test-only (Ethernet/SLL/raw,
//! IPv4/IPv6, TCP/UDP, no reassembly beyond naive in-order concatenation):
//! the real packet path lives in another crate.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::hello_assembler::{HelloAssembler, Progress};
use crate::quic::{QuicHelloAssembler, QuicProgress};

fn fixtures_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("NIGHTJAR_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"));
    if dir.join("pcap").is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: fixtures not found at {}", dir.display());
        None
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct FlowKey {
    src: Vec<u8>,
    sport: u16,
    dst: Vec<u8>,
    dport: u16,
}

#[derive(Debug)]
struct Segment {
    key: FlowKey,
    proto: u8,
    seq: u32,
    payload: Vec<u8>,
}

fn read_pcap(path: &Path) -> Vec<Segment> {
    let mut raw = Vec::new();
    std::fs::File::open(path)
        .unwrap()
        .read_to_end(&mut raw)
        .unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
        raw = out;
    }
    let mut reader = pcap_file::pcap::PcapReader::new(&raw[..]).unwrap();
    let linktype = reader.header().datalink;
    let mut out = Vec::new();
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.unwrap();
        if let Some(seg) = dissect_frame(linktype, &pkt.data) {
            out.push(seg);
        }
    }
    out
}

fn dissect_frame(linktype: pcap_file::DataLink, frame: &[u8]) -> Option<Segment> {
    use pcap_file::DataLink;
    let (ethertype, ip) = match linktype {
        DataLink::ETHERNET => {
            let mut et = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
            let mut off = 14;
            while et == 0x8100 || et == 0x88a8 {
                et = u16::from_be_bytes([*frame.get(off + 2)?, *frame.get(off + 3)?]);
                off += 4;
            }
            (et, frame.get(off..)?)
        }
        DataLink::LINUX_SLL => (
            u16::from_be_bytes([*frame.get(14)?, *frame.get(15)?]),
            frame.get(16..)?,
        ),
        DataLink::NULL | DataLink::LOOP => {
            let fam = frame.get(..4)?;
            let v6 = fam.contains(&24) || fam.contains(&28) || fam.contains(&30);
            (if v6 { 0x86dd } else { 0x0800 }, frame.get(4..)?)
        }
        DataLink::PPP => {
            let f = frame.strip_prefix(&[0xff, 0x03]).unwrap_or(frame);
            let et = match u16::from_be_bytes([*f.first()?, *f.get(1)?]) {
                0x0021 => 0x0800,
                0x0057 => 0x86dd,
                _ => return None,
            };
            (et, f.get(2..)?)
        }
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => (
            if ip_version(frame)? == 6 {
                0x86dd
            } else {
                0x0800
            },
            frame,
        ),
        _ => return None,
    };
    let (src, dst, proto, l4) = match ethertype {
        0x0800 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
            if frag & 0x3fff != 0 {
                return None; // fragments are another crate's job
            }
            let ip = ip.get(..total.min(ip.len()))?;
            (
                ip.get(12..16)?.to_vec(),
                ip.get(16..20)?.to_vec(),
                *ip.get(9)?,
                ip.get(ihl..)?,
            )
        }
        0x86dd => {
            let plen = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
            let mut next = *ip.get(6)?;
            let mut rest = ip.get(40..40 + plen.min(ip.len().saturating_sub(40)))?;
            while matches!(next, 0 | 43 | 60) {
                next = *rest.first()?;
                let len = (usize::from(*rest.get(1)?) + 1) * 8;
                rest = rest.get(len..)?;
            }
            (
                ip.get(8..24)?.to_vec(),
                ip.get(24..40)?.to_vec(),
                next,
                rest,
            )
        }
        _ => return None,
    };
    let sport = u16::from_be_bytes([*l4.first()?, *l4.get(1)?]);
    let dport = u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]);
    let (seq, payload) = match proto {
        6 => {
            let seq = u32::from_be_bytes(l4.get(4..8)?.try_into().ok()?);
            let off = usize::from(l4.get(12)? >> 4) * 4;
            (seq, l4.get(off..)?)
        }
        17 => {
            let len = usize::from(u16::from_be_bytes([*l4.get(4)?, *l4.get(5)?]));
            (0, l4.get(8..len.clamp(8, l4.len()))?)
        }
        _ => return None,
    };
    Some(Segment {
        key: FlowKey {
            src,
            sport,
            dst,
            dport,
        },
        proto,
        seq,
        payload: payload.to_vec(),
    })
}

fn ip_version(b: &[u8]) -> Option<u8> {
    Some(b.first()? >> 4)
}

/// One tshark row: source port, SNI ("" if none), ALPN list, QUIC version.
#[derive(Debug, Clone)]
struct TsharkRow {
    sport: u16,
    sni: String,
    alpn: String,
    quic_version: String,
}

fn tshark_rows(fixtures: &Path, capture_rel: &str) -> Vec<TsharkRow> {
    let name = format!("{}.tsv", capture_rel.replace('/', "_"));
    let text = std::fs::read_to_string(fixtures.join("tshark").join(name)).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (tsp, usp, qv, sni, alpn) = (
        col("tcp.srcport"),
        col("udp.srcport"),
        col("quic.version"),
        col("tls.handshake.extensions_server_name"),
        col("tls.handshake.extensions_alpn_str"),
    );
    lines
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter_map(|f| {
            let port = [f[tsp], f[usp]].into_iter().find(|p| !p.is_empty())?;
            Some(TsharkRow {
                sport: port.split(',').next()?.parse().ok()?,
                sni: f[sni].to_owned(),
                alpn: f[alpn].to_owned(),
                quic_version: f[qv].to_owned(),
            })
        })
        .collect()
}

/// What we extracted for one client flow.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    sni: String,
    alpn: String,
}

fn found_from(msg: &crate::HelloMessage) -> Found {
    let ch = msg.client_hello().unwrap();
    Found {
        sni: ch.server_name().unwrap_or_default().to_owned(),
        alpn: ch
            .alpn()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect::<Vec<_>>()
            .join(","),
    }
}

fn quic_flows(segments: &[Segment]) -> BTreeMap<u16, Found> {
    let mut flows: BTreeMap<FlowKey, QuicHelloAssembler> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for s in segments
        .iter()
        .filter(|s| s.proto == 17 && matches!(s.key.dport, 443 | 4433))
    {
        let asm = flows.entry(s.key.clone()).or_default();
        if let QuicProgress::Done { hello, .. } = asm.push_datagram(&s.payload) {
            out.insert(s.key.sport, found_from(&hello));
        }
    }
    out
}

fn tcp_flows(segments: &[Segment]) -> BTreeMap<u16, Option<Found>> {
    // Naive in-order concatenation: skip retransmissions, trust order otherwise.
    let mut flows: BTreeMap<FlowKey, (HelloAssembler, Option<u32>)> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for s in segments
        .iter()
        .filter(|s| s.proto == 6 && !s.payload.is_empty())
    {
        let (asm, next) = flows
            .entry(s.key.clone())
            .or_insert_with(|| (HelloAssembler::new(), None));
        if let Some(n) = *next {
            let end = s.seq.wrapping_add(s.payload.len() as u32);
            if end.wrapping_sub(n) as i32 <= 0 {
                continue;
            }
        }
        *next = Some(s.seq.wrapping_add(s.payload.len() as u32));
        match asm.push(&s.payload) {
            Progress::Done(m) => {
                out.insert(s.key.sport, Some(found_from(&m)));
            }
            Progress::SslV2 => {
                out.insert(s.key.sport, None);
            }
            _ => {}
        }
    }
    out
}

fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            captures(&p, out);
        } else if p.to_string_lossy().contains(".pcap") {
            out.push(p);
        }
    }
}

#[test]
fn quic_captures_match_tshark() {
    let Some(fx) = fixtures_dir() else { return };
    let mut files = Vec::new();
    captures(&fx.join("pcap/zeek/quic/traces"), &mut files);
    assert!(files.len() >= 9, "{files:?}");
    for path in files {
        let rel = path
            .strip_prefix(&fx)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let ours = quic_flows(&read_pcap(&path));
        // tshark prints one row per packet that holds a ClientHello (or part of one).
        let mut want: BTreeMap<u16, Found> = BTreeMap::new();
        for row in tshark_rows(&fx, &rel) {
            if row.quic_version.is_empty() {
                continue;
            }
            want.entry(row.sport).or_insert(Found {
                sni: row.sni,
                alpn: row.alpn,
            });
        }
        assert_eq!(ours, want, "{rel}");
    }
}

/// Zeek's quic.log: server_name per originator port ("-" = none).
fn zeek_quic_names(baseline: &Path) -> BTreeSet<String> {
    let file = ["quic.log", "quic.log.cut"]
        .iter()
        .map(|f| baseline.join(f))
        .find(|p| p.exists())
        .unwrap();
    let text = std::fs::read_to_string(file).unwrap();
    let mut col = None;
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        if let Some(pos) = fields.iter().position(|f| *f == "server_name") {
            // "#fields\t..." shifts the columns by one compared with the data rows.
            col = Some(if fields[0] == "#fields" { pos - 1 } else { pos });
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if let Some(v) = col.and_then(|c| fields.get(c)).filter(|v| **v != "-") {
            names.insert((*v).to_owned());
        }
    }
    names
}

#[test]
fn quic_captures_match_zeek() {
    let Some(fx) = fixtures_dir() else { return };
    let pairs = [
        ("chromium-115.0.5790.110-api-cirrus-com.pcap", "chromium"),
        ("curl-8.1.2-dev-http3-www-google-de.pcap", "curl-http3"),
        (
            "interop/quic-go_quic-go/handshake.pcap",
            "interop.quic-go_quic-go.handshake",
        ),
        (
            "interop/quic-go_quic-go/retry.pcap",
            "interop.quic-go_quic-go.retry",
        ),
        (
            "interop/quic-go_quic-go/zerortt.pcap",
            "interop.quic-go_quic-go.zerortt",
        ),
        (
            "quic-multiple-initial-fragmented-crypto.pcap",
            "multiple-initial-fragmented-crypto",
        ),
        ("quicv2-echo-443.pcap", "quicv2-echo-443"),
        ("quicv2-http3-443.pcap", "quicv2-http3-443"),
        ("vector-max-size-crash.pcap", "vector-max-size-crash"),
    ];
    for (trace, base) in pairs {
        let segs = read_pcap(&fx.join("pcap/zeek/quic/traces/quic").join(trace));
        let ours: BTreeSet<String> = quic_flows(&segs)
            .into_values()
            .map(|f| f.sni)
            .filter(|s| !s.is_empty())
            .collect();
        let zeek = zeek_quic_names(
            &fx.join("pcap/zeek/quic/baseline")
                .join(format!("scripts.base.protocols.quic.{base}")),
        );
        assert_eq!(ours, zeek, "{trace}");
    }
}

#[test]
fn tls_captures_match_tshark() {
    let Some(fx) = fixtures_dir() else { return };
    let mut files = Vec::new();
    captures(&fx.join("pcap/zeek/tls/traces"), &mut files);
    assert!(files.len() >= 10, "{files:?}");
    for path in files {
        let rel = path
            .strip_prefix(&fx)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let ours = tcp_flows(&read_pcap(&path));
        let mut want: BTreeMap<u16, String> = BTreeMap::new();
        for row in tshark_rows(&fx, &rel) {
            // hrr.pcap: the second ClientHello (after HelloRetryRequest) has the
            // same port; the assembler reports the first hello of a stream only.
            want.entry(row.sport).or_insert(row.sni);
        }
        let got: BTreeMap<u16, String> = ours
            .into_iter()
            .map(|(port, f)| (port, f.map(|f| f.sni).unwrap_or_default()))
            .collect();
        assert_eq!(got, want, "{rel}");
    }
}

/// Requests per client flow (method, target, Host-with-port, version), naive in-order TCP.
fn http_requests(segments: &[Segment]) -> Vec<(String, String, String, crate::http::HttpVersion)> {
    let mut flows: BTreeMap<FlowKey, (crate::http::HttpRequestScanner, Option<u32>)> =
        BTreeMap::new();
    let mut out = Vec::new();
    for s in segments
        .iter()
        .filter(|s| s.proto == 6 && !s.payload.is_empty() && matches!(s.key.dport, 80 | 8080))
    {
        let (scanner, next) = flows.entry(s.key.clone()).or_default();
        if let Some(n) = *next {
            let end = s.seq.wrapping_add(s.payload.len() as u32);
            if end.wrapping_sub(n) as i32 <= 0 {
                continue;
            }
        }
        *next = Some(s.seq.wrapping_add(s.payload.len() as u32));
        scanner.push(&s.payload);
        while let Some(Ok(r)) = scanner.next_request() {
            let host = match (r.host, r.port) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h,
                (None, _) => String::new(),
            };
            out.push((r.method, r.target, host, r.version));
        }
    }
    out
}

#[test]
fn http_captures_match_tshark() {
    let Some(fx) = fixtures_dir() else { return };
    for rel in [
        "pcap/zeek/http/traces/http/connect-with-header.pcap",
        "pcap/zeek/http/traces/http/get.pcap",
        "pcap/zeek/http/traces/http/pipelined-requests.pcap",
        "pcap/pcapdroid/pcap/http_proxy.pcap",
    ] {
        let ours: Vec<(String, String)> = http_requests(&read_pcap(&fx.join(rel)))
            .into_iter()
            .map(|(m, _, h, _)| (m, h))
            .collect();
        let text = std::fs::read_to_string(
            fx.join("tshark")
                .join(format!("{}.tsv", rel.replace('/', "_"))),
        )
        .unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
        let m = header
            .iter()
            .position(|h| *h == "http.request.method")
            .unwrap();
        let h = header.iter().position(|h| *h == "http.host").unwrap();
        let want: Vec<(String, String)> = lines
            .map(|l| l.split('\t').collect::<Vec<_>>())
            .filter(|f| !f[m].is_empty())
            .map(|f| (f[m].to_owned(), f[h].to_owned()))
            .collect();
        assert!(!want.is_empty(), "{rel}");
        assert_eq!(ours, want, "{rel}");
    }
}

/// tshark does not dissect version-less request lines at all; Zeek logs them as 0.9.
#[test]
fn http09_captures_match_zeek() {
    let Some(fx) = fixtures_dir() else { return };
    for (trace, base) in [
        ("http_09.pcap", "http-09"),
        ("no-version.pcap", "no-version"),
    ] {
        let ours: Vec<(String, String)> = http_requests(&read_pcap(
            &fx.join("pcap/zeek/http/traces/http").join(trace),
        ))
        .into_iter()
        .inspect(|r| assert_eq!(r.3, crate::http::HttpVersion::Http09))
        .map(|(m, t, _, _)| (m, t))
        .collect();
        let log = std::fs::read_to_string(
            fx.join("pcap/zeek/http/baseline")
                .join(format!("scripts.base.protocols.http.{base}"))
                .join("http.log"),
        )
        .unwrap();
        let mut cols = None;
        let mut want = Vec::new();
        for line in log.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            if f[0] == "#fields" {
                let pos = |n: &str| f.iter().position(|x| *x == n).unwrap() - 1;
                cols = Some((pos("method"), pos("uri"), pos("version")));
            } else if let (false, Some((m, u, v))) = (line.starts_with('#'), cols)
                && f.len() > v
                && f[m] != "-"
            {
                assert_eq!(f[v], "0.9");
                want.push((f[m].to_owned(), f[u].to_owned()));
            }
        }
        assert!(!want.is_empty(), "{trace}");
        assert_eq!(ours, want, "{trace}");
    }
}
