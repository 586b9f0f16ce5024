//! Compares nightjar-dns with tshark and Zeek on third-party captures.
//!
//! The captures live outside the repository (`NIGHTJAR_FIXTURES`); without them the
//! tests print a visible SKIPPED line and pass.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashMap;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use nightjar_dns::{
    AnswerData, DnsMessage, DnsTransaction, DnsTransactions, Endpoints, TcpDnsFramer, Transport,
    TxNote, parse,
};
use pcap_file::pcap::PcapReader;

fn fixtures_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("NIGHTJAR_FIXTURES").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/fixtures"
            ))
        },
        PathBuf::from,
    );
    if dir.join("tshark").is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: fixtures not found at {}", dir.display());
        None
    }
}

/// One DNS message found in a capture.
struct Seen {
    frame: usize,
    ts_us: u64,
    src: SocketAddr,
    dst: SocketAddr,
    transport: Transport,
    msg: DnsMessage,
}

/// Minimal Ethernet/IPv4/IPv6/UDP/TCP walk, good enough for these unfragmented traces.
/// IP fragments are skipped (their DNS is listed as an accepted disagreement).
fn walk(path: &std::path::Path) -> (Vec<Seen>, usize) {
    let mut reader = PcapReader::new(File::open(path).unwrap()).unwrap();
    let mut out = Vec::new();
    let mut parse_errors = 0;
    let mut framers: HashMap<(SocketAddr, SocketAddr), (TcpDnsFramer, Option<u32>)> =
        HashMap::new();
    let mut frame = 0;
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.unwrap();
        frame += 1;
        let ts_us = u64::try_from(pkt.timestamp.as_micros()).unwrap();
        let data = &pkt.data[..];
        let mut ethertype = u16::from_be_bytes([data[12], data[13]]);
        let mut off = 14;
        while ethertype == 0x8100 {
            ethertype = u16::from_be_bytes([data[off + 2], data[off + 3]]);
            off += 4;
        }
        let ip = &data[off..];
        let (src_ip, dst_ip, proto, l4): (IpAddr, IpAddr, u8, &[u8]) = match ethertype {
            0x0800 => {
                let ihl = usize::from(ip[0] & 0x0f) * 4;
                let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
                let frag = u16::from_be_bytes([ip[6], ip[7]]);
                if frag & 0x3fff != 0 {
                    continue;
                }
                let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
                let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
                (src.into(), dst.into(), ip[9], &ip[ihl..total.min(ip.len())])
            }
            0x86dd => {
                let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
                let src: [u8; 16] = ip[8..24].try_into().unwrap();
                let dst: [u8; 16] = ip[24..40].try_into().unwrap();
                let end = (40 + plen).min(ip.len());
                (
                    Ipv6Addr::from(src).into(),
                    Ipv6Addr::from(dst).into(),
                    ip[6],
                    &ip[40..end],
                )
            }
            _ => continue,
        };
        let (transport, sport, dport, payload, seq) = match proto {
            17 => {
                let ulen = usize::from(u16::from_be_bytes([l4[4], l4[5]]));
                let (s, d) = (
                    u16::from_be_bytes([l4[0], l4[1]]),
                    u16::from_be_bytes([l4[2], l4[3]]),
                );
                (Transport::Udp, s, d, &l4[8..ulen.min(l4.len())], 0)
            }
            6 => {
                let doff = usize::from(l4[12] >> 4) * 4;
                let (s, d) = (
                    u16::from_be_bytes([l4[0], l4[1]]),
                    u16::from_be_bytes([l4[2], l4[3]]),
                );
                let seq = u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]);
                (Transport::Tcp, s, d, &l4[doff..], seq)
            }
            _ => continue,
        };
        if sport != 53 && dport != 53 {
            continue;
        }
        let src = SocketAddr::new(src_ip, sport);
        let dst = SocketAddr::new(dst_ip, dport);
        let mut push = |bytes: &[u8]| match parse(bytes) {
            Ok(msg) => out.push(Seen {
                frame,
                ts_us,
                src,
                dst,
                transport,
                msg,
            }),
            Err(_) => parse_errors += 1,
        };
        match transport {
            Transport::Udp => push(payload),
            Transport::Tcp => {
                if payload.is_empty() {
                    continue;
                }
                let (framer, next_seq) = framers.entry((src, dst)).or_default();
                // Drop retransmissions; these traces have no reordering.
                if next_seq.is_some_and(|n| seq != n) {
                    continue;
                }
                *next_seq = Some(seq.wrapping_add(u32::try_from(payload.len()).unwrap()));
                for f in framer.push(payload) {
                    push(&f.unwrap());
                }
            }
        }
    }
    (out, parse_errors)
}

fn tsv(dir: &std::path::Path, capture: &str) -> Vec<HashMap<String, String>> {
    let name = format!("{}.tsv", capture.replace('/', "_"));
    let text = std::fs::read_to_string(dir.join("tshark").join(name)).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split('\t').chain(std::iter::repeat("")))
                .map(|(h, v)| ((*h).to_owned(), v.to_owned()))
                .collect()
        })
        .filter(|row: &HashMap<String, String>| !row["dns.id"].is_empty())
        .collect()
}

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// (capture, tshark frame, why we do not produce that DNS message).
const NOT_SEEN: &[(&str, usize, &str)] = &[(
    "pcap/zeek/dns/traces/ipv6-fragmented-dns.pcap",
    8,
    "response arrives in IPv6 fragments; IP reassembly belongs to the engine, not this crate",
)];

const CAPTURES: &[&str] = &[
    "pcap/zeek/dns/traces/dns-https.pcap",
    "pcap/zeek/dns/traces/dns-two-responses.pcap",
    "pcap/zeek/dns/traces/dns-zero-RRs.pcap",
    "pcap/zeek/dns/traces/dns53.pcap",
    "pcap/zeek/dns/traces/dns_original_case.pcap",
    "pcap/zeek/dns/traces/ipv6-fragmented-dns.pcap",
    "pcap/zeek/dns/traces/dns/dns-corrupt.pcap",
    "pcap/zeek/dns/traces/dns/max-compression-depth.pcap",
    "pcap/zeek/dns/traces/dns/tkey.pcap",
    "pcap/pcapdroid/pcap/metadata.pcap",
];

#[test]
fn messages_match_tshark() {
    let Some(dir) = fixtures_dir() else { return };
    let mut compared = 0;
    let mut listed_rows = 0;
    for capture in CAPTURES {
        let (seen, errors) = walk(&dir.join(capture));
        assert_eq!(errors, 0, "{capture}: parse errors");
        let rows = tsv(&dir, capture);
        listed_rows += rows.len();
        let by_frame: HashMap<usize, &Seen> = seen.iter().map(|s| (s.frame, s)).collect();
        assert_eq!(
            by_frame.len(),
            seen.len(),
            "{capture}: one DNS message per frame"
        );
        for row in &rows {
            let frame: usize = row["frame.number"].parse().unwrap();
            let Some(s) = by_frame.get(&frame) else {
                assert!(
                    NOT_SEEN.iter().any(|(c, f, _)| c == capture && *f == frame),
                    "{capture}: frame {frame} missing"
                );
                continue;
            };
            let m = &s.msg;
            let ctx = format!("{capture} frame {frame}");
            assert_eq!(format!("{:#06x}", m.id), row["dns.id"], "{ctx}");
            assert_eq!(m.is_response, row["dns.flags.response"] == "1", "{ctx}");
            // tshark keeps the case on the wire, as does our original name.
            assert_eq!(
                m.question().unwrap().original_name,
                row["dns.qry.name"],
                "{ctx}"
            );
            assert_eq!(
                m.question().unwrap().name,
                row["dns.qry.name"].to_ascii_lowercase(),
                "{ctx}"
            );
            assert_eq!(
                m.question().unwrap().qtype.to_string(),
                row["dns.qry.type"],
                "{ctx}"
            );
            if m.is_response {
                assert_eq!(m.rcode.to_string(), row["dns.flags.rcode"], "{ctx}");
            }
            // tshark lists addresses from every section in message order; ours are the
            // answer section, so they must be a prefix, and any surplus must come from
            // authority/additional records.
            let ours_a: Vec<String> = addrs(m, |d| match d {
                AnswerData::A(a) => Some(a.to_string()),
                _ => None,
            });
            let ours_aaaa: Vec<String> = addrs(m, |d| match d {
                AnswerData::Aaaa(a) => Some(a.to_string()),
                _ => None,
            });
            let ours_cname: Vec<String> = addrs(m, |d| match d {
                AnswerData::Cname(c) => Some(c.clone()),
                _ => None,
            });
            for (ours, col) in [
                (ours_a, "dns.a"),
                (ours_aaaa, "dns.aaaa"),
                (ours_cname, "dns.cname"),
            ] {
                let theirs = list(&row[col]);
                assert!(
                    theirs.starts_with(&ours),
                    "{ctx} {col}: {ours:?} vs {theirs:?}"
                );
                if theirs.len() > ours.len() {
                    assert!(
                        m.other_record_count > 0,
                        "{ctx} {col}: surplus without records"
                    );
                }
            }
            compared += 1;
        }
        let listed: Vec<usize> = rows
            .iter()
            .map(|r| r["frame.number"].parse().unwrap())
            .collect();
        for s in &seen {
            assert!(
                listed.contains(&s.frame),
                "{capture}: extra frame {}",
                s.frame
            );
        }
    }
    assert_eq!(compared, listed_rows - NOT_SEEN.len());
    assert!(compared > 40, "compared only {compared} messages");
}

fn addrs(m: &DnsMessage, f: impl Fn(&AnswerData) -> Option<String>) -> Vec<String> {
    m.answers.iter().filter_map(|a| f(&a.data)).collect()
}

fn transactions(dir: &std::path::Path, capture: &str) -> Vec<DnsTransaction> {
    let (seen, _) = walk(&dir.join(capture));
    let mut tx = DnsTransactions::default();
    let mut out = Vec::new();
    for s in &seen {
        // The walker has no flow table: call the sender the client for queries.
        let from_client = !s.msg.is_response;
        let (client, server) = if from_client {
            (s.src, s.dst)
        } else {
            (s.dst, s.src)
        };
        let ends = Endpoints {
            client,
            server,
            transport: s.transport,
        };
        tx.on_message(s.ts_us, ends, from_client, &s.msg, 0);
        out.extend(tx.poll_expired(s.ts_us));
    }
    out.extend(tx.drain());
    out
}

/// Zeek dns.log rows as column maps.
fn zeek_log(dir: &std::path::Path, test: &str) -> Vec<HashMap<String, String>> {
    let path = dir
        .join("pcap/zeek/dns/baseline")
        .join(test)
        .join("dns.log");
    let text = std::fs::read_to_string(path).unwrap();
    let fields: Vec<&str> = text
        .lines()
        .find_map(|l| l.strip_prefix("#fields\t"))
        .unwrap()
        .split('\t')
        .collect();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            fields
                .iter()
                .zip(l.split('\t'))
                .map(|(f, v)| ((*f).to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// Compares one of our records with one Zeek row. Zeek renders non-address answers
/// as `TYPE details…`; we keep only the type, so those compare by first word.
fn assert_like_zeek(
    ours: &DnsTransaction,
    z: &HashMap<String, String>,
    ctx: &str,
    check_rtt: bool,
) {
    assert_eq!(ours.client.ip().to_string(), z["id.orig_h"], "{ctx}");
    assert_eq!(ours.client.port().to_string(), z["id.orig_p"], "{ctx}");
    assert_eq!(ours.server.ip().to_string(), z["id.resp_h"], "{ctx}");
    assert_eq!(ours.server.port().to_string(), z["id.resp_p"], "{ctx}");
    let proto = match ours.transport {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
    };
    assert_eq!(proto, z["proto"], "{ctx}");
    assert_eq!(ours.id.to_string(), z["trans_id"], "{ctx}");
    assert_eq!(ours.query.as_deref(), Some(z["query"].as_str()), "{ctx}");
    assert_eq!(
        ours.rcode.map_or("-".to_owned(), |r| r.to_string()),
        z["rcode"],
        "{ctx}"
    );
    assert_eq!(ours.rcode_name().unwrap_or("-"), z["rcode_name"], "{ctx}");
    let tf = |b: bool| if b { "T" } else { "F" };
    assert_eq!(tf(ours.flags.rd), z["RD"], "{ctx} RD");
    // Accepted: Zeek copies AA/RA only while logging an answer record, so a response
    // without answers logs F; we report the response header as sent.
    if !ours.answers.is_empty() {
        assert_eq!(tf(ours.flags.aa), z["AA"], "{ctx} AA");
        assert_eq!(tf(ours.flags.ra), z["RA"], "{ctx} RA");
    }
    assert_eq!(tf(ours.rejected), z["rejected"], "{ctx}");
    if check_rtt {
        match ours.rtt_us {
            None => assert_eq!(z["rtt"], "-", "{ctx}"),
            Some(us) => assert_eq!(format!("{:.6}", us as f64 / 1e6), z["rtt"], "{ctx}"),
        }
    }
    let zeek_answers: Vec<&str> = if z["answers"] == "-" {
        Vec::new()
    } else {
        z["answers"].split(',').collect()
    };
    assert_eq!(ours.answers.len(), zeek_answers.len(), "{ctx} answers");
    for (a, za) in ours.answers.iter().zip(&zeek_answers) {
        assert!(
            a == za || za.split(' ').next() == Some(a.as_str()),
            "{ctx}: answer {a} vs {za}"
        );
    }
    let zeek_ttls: Vec<String> = if z["TTLs"] == "-" {
        Vec::new()
    } else {
        z["TTLs"].split(',').map(str::to_owned).collect()
    };
    let our_ttls: Vec<String> = ours.ttls.iter().map(|t| format!("{t}.000000")).collect();
    assert_eq!(our_ttls, zeek_ttls, "{ctx} TTLs");
}

#[test]
fn transactions_match_zeek_dns_log() {
    let Some(dir) = fixtures_dir() else { return };

    // Duplicate responses: Zeek logs the answered query, then a second record for the
    // second response with no RTT.
    let ours = transactions(&dir, "pcap/zeek/dns/traces/dns-two-responses.pcap");
    let zeek = zeek_log(&dir, "scripts.base.protocols.dns.duplicate-reponses");
    assert_eq!(ours.len(), zeek.len());
    assert_like_zeek(&ours[0], &zeek[0], "duplicate #1", true);
    assert_like_zeek(&ours[1], &zeek[1], "duplicate #2", true);
    assert_eq!(ours[1].notes, [TxNote::DuplicateResponse]);

    // A lone response between two port-53 hosts: Zeek flips it so the receiver is orig.
    let ours = transactions(&dir, "pcap/zeek/dns/traces/dns53.pcap");
    let zeek = zeek_log(&dir, "scripts.base.protocols.dns.flip");
    assert_eq!(ours.len(), 1);
    assert_like_zeek(&ours[0], &zeek[0], "flip", true);
    assert_eq!(ours[0].notes, [TxNote::UnmatchedResponse]);

    // Unanswered mixed-case query.
    let ours = transactions(&dir, "pcap/zeek/dns/traces/dns_original_case.pcap");
    let zeek = zeek_log(&dir, "scripts.policy.protocols.dns.original_case");
    assert_eq!(ours.len(), 1);
    assert_like_zeek(&ours[0], &zeek[0], "original_case", true);
    assert_eq!(
        ours[0].original_query.as_deref(),
        Some(zeek[0]["original_query"].as_str())
    );
    assert!(!ours[0].answered);

    // Accepted: Zeek sets rtt only when an answer record arrives; we report the RTT of
    // every matched response, including this one with zero records.
    let ours = transactions(&dir, "pcap/zeek/dns/traces/dns-zero-RRs.pcap");
    let zeek = zeek_log(&dir, "scripts.base.protocols.dns.zero-responses");
    assert_eq!(ours.len(), 1);
    assert_like_zeek(&ours[0], &zeek[0], "zero-RRs", false);
    assert!(ours[0].rtt_us.is_some() && zeek[0]["rtt"] == "-");

    // Accepted: over TCP Zeek logs the TKEY exchange without RTT or answers (TKEY goes
    // to its own event); we pair it like any other and list the answer by type, in
    // RFC 3597 form because hickory has no TKEY mnemonic.
    let ours = transactions(&dir, "pcap/zeek/dns/traces/dns/tkey.pcap");
    let zeek = zeek_log(&dir, "scripts.base.protocols.dns.tkey");
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].transport, Transport::Tcp);
    assert_eq!(ours[0].answers, ["TYPE249"]);
    let mut ours0 = ours[0].clone();
    ours0.answers.clear();
    ours0.ttls.clear();
    ours0.flags.aa = false;
    assert_like_zeek(&ours0, &zeek[0], "tkey", false);

    // Accepted: the 3230 response is IPv6-fragmented (no reassembly here) and its
    // retransmitted query is folded into one unanswered record instead of Zeek's two.
    let ours = transactions(&dir, "pcap/zeek/dns/traces/ipv6-fragmented-dns.pcap");
    let zeek = zeek_log(&dir, "core.ipv6-frag");
    assert_eq!(ours.len(), 2);
    assert_like_zeek(&ours[0], &zeek[0], "ipv6-frag #1", true);
    assert_eq!(ours[1].query.as_deref(), Some(zeek[1]["query"].as_str()));
    assert!(!ours[1].answered);
    assert_eq!(ours[1].notes, [TxNote::RetransmittedQuery]);
}

#[test]
fn pcapdroid_metadata_pairs_every_query() {
    let Some(dir) = fixtures_dir() else { return };
    let ours = transactions(&dir, "pcap/pcapdroid/pcap/metadata.pcap");
    let rows = tsv(&dir, "pcap/pcapdroid/pcap/metadata.pcap");
    let queries = rows
        .iter()
        .filter(|r| r["dns.flags.response"] == "0")
        .count();
    let responses = rows.len() - queries;
    let answered = ours
        .iter()
        .filter(|t| t.answered && t.rtt_us.is_some())
        .count();
    // Every response in this trace answers a query seen earlier.
    assert_eq!(answered, responses);
    assert_eq!(ours.len(), queries);
    let google = ours
        .iter()
        .find(|t| t.query.as_deref() == Some("www.google.com") && t.qtype == Some(1))
        .unwrap();
    assert_eq!(google.answers, ["216.58.208.164"]);
}
