//! Every flow carries the best name the device revealed, and the dissectors
//! agree with independent oracles: tshark's per-packet output for TLS SNI,
//! QUIC SNI, DNS query names and HTTP hosts, and Zeek's quic.log baselines.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;

use nightjar::replay::{Collect, replay_file};
use nightjar_engine::{EngineConfig, NameSource};
use nightjar_tests::{captures, fixtures, parse_tsv, tshark_file, unordered};

type Key = (u8, SocketAddr, SocketAddr);

fn replay(path: &Path) -> Collect {
    let mut sink = Collect::default();
    replay_file(path, EngineConfig::default(), &mut sink, false, |_, _| {}).unwrap();
    sink
}

/// Differences from tshark that are right, keyed by capture and kind.
const ACCEPTED: &[(&str, &str, &str)] = &[(
    "pcap/pcapdroid/pcap/invalid_or_unsupported.pcap",
    "dns",
    "first fragments whose IP total length (1500) exceeds the frame; the engine counts them \
         as truncated_ip, tshark dissects the partial DNS payload",
)];

#[derive(Default)]
struct Expect {
    tls: BTreeSet<(Key, String)>,
    quic: BTreeSet<(Key, String)>,
    dns: BTreeSet<(Key, u16, String)>,
    http: BTreeSet<(Key, String)>,
}

fn expected(rows: &[nightjar_tests::TsharkRow]) -> Expect {
    let mut e = Expect::default();
    for r in rows {
        let Some((proto, src, dst)) = r.tuple() else {
            continue;
        };
        let key = unordered(proto, src, dst);
        let sni = r
            .get("tls.handshake.extensions_server_name")
            .to_ascii_lowercase();
        if !r.get("dns.id").is_empty() {
            let id = u16::from_str_radix(r.get("dns.id").trim_start_matches("0x"), 16).unwrap();
            // A message may hold several questions; the first is the transaction's.
            let q = r
                .get("dns.qry.name")
                .split(',')
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            // tshark writes placeholders such as `<Root>` or `<unknown extended
            // label>` (a QUIC packet its heuristics took for DNS): not names.
            if !q.is_empty() && !q.starts_with('<') {
                e.dns.insert((key, id, q.trim_end_matches('.').to_string()));
            }
        } else if !r.get("http.request.method").is_empty() {
            let host = r.get("http.host");
            let host = host
                .rsplit_once(':')
                .filter(|(h, p)| !h.contains(':') && p.parse::<u16>().is_ok())
                .map_or(host, |(h, _)| h);
            if !host.is_empty() && host.parse::<std::net::IpAddr>().is_err() {
                e.http.insert((key, host.to_ascii_lowercase()));
            }
        } else if !r.get("quic.version").is_empty() {
            if !sni.is_empty() {
                e.quic.insert((key, sni));
            }
        } else if !sni.is_empty() && proto == 6 {
            e.tls.insert((key, sni));
        }
    }
    e
}

#[test]
fn names_match_tshark() {
    let Some(root) = fixtures("names_match_tshark") else {
        return;
    };
    let mut failures = Vec::new();
    let mut compared = BTreeMap::<&str, usize>::new();
    for (rel, path) in captures(&root, "pcap") {
        let Ok(text) = std::fs::read_to_string(tshark_file(&root, &rel, ".tsv")) else {
            continue;
        };
        let exp = expected(&parse_tsv(&text));
        let got = replay(&path);
        let mut ours = Expect::default();
        for h in &got.hellos {
            let key = unordered(
                if h.quic_version.is_some() { 17 } else { 6 },
                h.orig,
                h.resp,
            );
            if let Some(n) = &h.server_name {
                let set = if h.quic_version.is_some() {
                    &mut ours.quic
                } else {
                    &mut ours.tls
                };
                set.insert((key, n.clone()));
            }
        }
        for tx in &got.dns {
            let proto = if tx.transport == nightjar_engine::DnsTransport::Tcp {
                6
            } else {
                17
            };
            if let Some(q) = &tx.query {
                ours.dns
                    .insert((unordered(proto, tx.client, tx.server), tx.id, q.clone()));
            }
        }
        for r in &got.http {
            if let Some(h) = &r.host {
                ours.http
                    .insert((unordered(6, r.orig, r.resp), h.to_ascii_lowercase()));
            }
        }
        let checks: [(&str, usize, Vec<String>); 4] = [
            (
                "tls",
                exp.tls.len(),
                exp.tls
                    .difference(&ours.tls)
                    .map(|x| format!("{x:?}"))
                    .collect(),
            ),
            (
                "quic",
                exp.quic.len(),
                exp.quic
                    .difference(&ours.quic)
                    .map(|x| format!("{x:?}"))
                    .collect(),
            ),
            (
                "dns",
                exp.dns.len(),
                exp.dns
                    .difference(&ours.dns)
                    .map(|x| format!("{x:?}"))
                    .collect(),
            ),
            (
                "http",
                exp.http.len(),
                exp.http
                    .difference(&ours.http)
                    .map(|x| format!("{x:?}"))
                    .collect(),
            ),
        ];
        for (kind, n, missing) in checks {
            *compared.entry(kind).or_default() += n;
            let accepted = ACCEPTED.iter().find(|(c, k, _)| *c == rel && *k == kind);
            match (missing.is_empty(), accepted) {
                (true, None) => {}
                (false, Some((_, _, why))) => {
                    eprintln!(
                        "accepted {kind} difference in {rel}: {why}\n  {}",
                        missing.join("\n  ")
                    )
                }
                (true, Some(_)) => {
                    failures.push(format!("{rel} {kind}: listed in ACCEPTED but matches"))
                }
                (false, None) => failures.push(format!(
                    "{rel} {kind}: tshark has, we lack:\n  {}",
                    missing.join("\n  ")
                )),
            }
        }
    }
    eprintln!("compared with tshark: {compared:?}");
    assert!(
        compared["tls"] >= 10
            && compared["quic"] >= 5
            && compared["dns"] >= 30
            && compared["http"] >= 5,
        "{compared:?}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn community_ids_match_tshark_per_packet() {
    let Some(root) = fixtures("community_ids_match_tshark_per_packet") else {
        return;
    };
    let mut compared = 0;
    for (rel, path) in captures(&root, "pcap") {
        let Ok(text) = std::fs::read_to_string(tshark_file(&root, &rel, ".tsv")) else {
            continue;
        };
        let got = replay(&path);
        let ours: BTreeMap<Key, BTreeSet<String>> =
            got.flows.iter().fold(BTreeMap::new(), |mut m, f| {
                if let Some(id) = f.community_id(0) {
                    m.entry(unordered(f.protocol, f.orig, f.resp))
                        .or_default()
                        .insert(id);
                }
                m
            });
        for row in parse_tsv(&text) {
            let (Some((proto, s, d)), id) = (row.tuple(), row.get("communityid")) else {
                continue;
            };
            if id.is_empty() || id.contains(',') {
                continue;
            }
            let Some(set) = ours.get(&unordered(proto, s, d)) else {
                continue;
            };
            assert!(
                set.contains(id),
                "{rel}: {s} -> {d}: tshark {id}, ours {set:?}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 90, "compared {compared}");
}

#[test]
fn quic_names_match_zeek() {
    let Some(root) = fixtures("quic_names_match_zeek") else {
        return;
    };
    let base = root.join("pcap/zeek/quic/baseline");
    let traces = root.join("pcap/zeek/quic/traces/quic");
    let cases = [
        (
            "scripts.base.protocols.quic.chromium",
            "chromium-115.0.5790.110-api-cirrus-com.pcap",
        ),
        (
            "scripts.base.protocols.quic.curl-http3",
            "curl-8.1.2-dev-http3-www-google-de.pcap",
        ),
        (
            "scripts.base.protocols.quic.interop.quic-go_quic-go.handshake",
            "interop/quic-go_quic-go/handshake.pcap",
        ),
        (
            "scripts.base.protocols.quic.interop.quic-go_quic-go.retry",
            "interop/quic-go_quic-go/retry.pcap",
        ),
        (
            "scripts.base.protocols.quic.interop.quic-go_quic-go.zerortt",
            "interop/quic-go_quic-go/zerortt.pcap",
        ),
        (
            "scripts.base.protocols.quic.multiple-initial-fragmented-crypto",
            "quic-multiple-initial-fragmented-crypto.pcap",
        ),
        (
            "scripts.base.protocols.quic.quicv2-echo-443",
            "quicv2-echo-443.pcap",
        ),
    ];
    for (dir, trace) in cases {
        // A `.cut` baseline keeps only some columns and names them in a plain
        // header line instead of `#fields`.
        let (log, cut) = match std::fs::read_to_string(base.join(dir).join("quic.log")) {
            Ok(l) => (l, false),
            Err(_) => (
                std::fs::read_to_string(base.join(dir).join("quic.log.cut")).unwrap(),
                true,
            ),
        };
        let header = if cut {
            log.lines().find(|l| l.starts_with("ts\t")).unwrap()
        } else {
            log.lines()
                .find(|l| l.starts_with("#fields"))
                .unwrap()
                .trim_start_matches("#fields\t")
        };
        let fields: Vec<&str> = header.split('\t').collect();
        let col = |name: &str| fields.iter().position(|f| *f == name);
        let (sni_col, ver_col) = (col("server_name").unwrap(), col("version"));
        let zeek: BTreeSet<(Option<String>, String)> = log
            .lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_digit() || c == 'X'))
            .map(|l| {
                let v: Vec<&str> = l.split('\t').collect();
                (ver_col.map(|c| v[c].to_string()), v[sni_col].to_string())
            })
            .filter(|(_, s)| s != "-")
            .collect();
        let got = replay(&traces.join(trace));
        let ours: BTreeSet<(Option<String>, String)> = got
            .hellos
            .iter()
            .filter_map(|h| {
                let v = match h.quic_version? {
                    1 => "1".to_string(),
                    0x6b33_43cf => "quicv2".to_string(),
                    v => format!("unknown-{v:x}"),
                };
                Some((Some(v), h.server_name.clone()?))
            })
            .collect();
        assert!(!zeek.is_empty(), "{dir}");
        // A `.cut` baseline has no version column: match on the name alone.
        for (version, name) in &zeek {
            let found = ours
                .iter()
                .any(|(v, n)| n == name && (version.is_none() || v == version));
            assert!(found, "{trace}: zeek {zeek:?}, ours {ours:?}");
        }
        // Every QUIC flow Zeek named carries that name in conn.log too.
        for (_, name) in &zeek {
            assert!(
                got.flows.iter().any(|f| f.name.as_deref() == Some(name)
                    && f.name_source == Some(NameSource::QuicSni)),
                "{trace}: no flow named {name} by QUIC SNI"
            );
        }
    }
}

fn flow_to<'a>(c: &'a Collect, resp: &str) -> Vec<&'a nightjar_engine::FlowRecord> {
    let resp: SocketAddr = resp.parse().unwrap();
    c.flows
        .iter()
        .filter(|f| f.resp == resp || f.orig == resp)
        .collect()
}

#[test]
fn pcapdroid_naming_facts() {
    let Some(root) = fixtures("pcapdroid_naming_facts") else {
        return;
    };
    let got = replay(&root.join("pcap/pcapdroid/pcap/metadata.pcap"));
    let named = |resp: &str| -> Vec<(Option<String>, Option<NameSource>)> {
        flow_to(&got, resp)
            .iter()
            .map(|f| (f.name.as_deref().map(str::to_string), f.name_source))
            .collect()
    };
    let one = |resp: &str, name: &str, source: NameSource| {
        let n = named(resp);
        assert!(
            !n.is_empty()
                && n.iter()
                    .all(|(nm, s)| nm.as_deref() == Some(name) && *s == Some(source)),
            "{resp}: expected {name} by {source:?}, got {n:?}"
        );
    };
    // TLS SNI.
    one("142.250.180.131:443", "google.it", NameSource::Sni);
    one(
        "[2ed5:9050:81e9:4b68:248:1893:25c8:1946]:443",
        "example.org",
        NameSource::Sni,
    );
    one(
        "[3a5d:15fe:e3cb:9c5f::2003]:443",
        "www.google.it",
        NameSource::Sni,
    );
    // HTTP Host, over IPv4 and IPv6, with its URL.
    one("216.58.208.164:80", "www.google.com", NameSource::HttpHost);
    one(
        "[385d:1ee:e3c9:9c5f::2004]:80",
        "www.google.com",
        NameSource::HttpHost,
    );
    for r in got
        .http
        .iter()
        .filter(|r| r.resp.port() == 80 && r.host.as_deref() == Some("www.google.com"))
    {
        assert_eq!(r.uri, "/imghp?test=1&v2=2");
    }
    assert!(
        got.http
            .iter()
            .filter(|r| r.host.as_deref() == Some("www.google.com"))
            .count()
            >= 2
    );
    // f-droid.org is named only by correlating the earlier DNS answer.
    one("149.202.95.241:80", "f-droid.org", NameSource::Dns);
    // The one unnamed IPv6 flow stays unnamed.
    let n = named("[2c9b:a9b9:83dd:d9d1::2003]:443");
    assert!(
        !n.is_empty() && n.iter().all(|(nm, _)| nm.is_none()),
        "{n:?}"
    );
    // ICMP to 1.1.1.1 has no name.
    assert!(
        got.flows
            .iter()
            .filter(|f| f.protocol == 1)
            .all(|f| f.name.is_none())
    );
    // www.internetbadguys.com was resolved and contacted on 146.112.255.155:80.
    assert!(
        named("146.112.255.155:80")
            .iter()
            .all(|(nm, _)| nm.as_deref() == Some("www.internetbadguys.com"))
    );
    // DNS: example.org over UDP without a reply, f-droid.org over TCP.
    let q = |name: &'static str| {
        got.dns
            .iter()
            .filter(move |t| t.query.as_deref() == Some(name))
    };
    assert!(q("example.org").any(|t| t.client.port() == 48037 && !t.answered));
    assert!(
        q("f-droid.org").any(|t| t.transport == nightjar_engine::DnsTransport::Tcp && t.answered)
    );
}

#[test]
fn http_proxy_connect_is_recorded() {
    let Some(root) = fixtures("http_proxy_connect_is_recorded") else {
        return;
    };
    let got = replay(&root.join("pcap/pcapdroid/pcap/http_proxy.pcap"));
    let proxy: Vec<_> = got
        .http
        .iter()
        .filter(|r| r.resp == "85.25.246.38:8080".parse().unwrap())
        .collect();
    assert!(
        proxy
            .iter()
            .any(|r| r.host.as_deref() == Some("weberblog.net")),
        "{proxy:?}"
    );
    assert!(
        proxy
            .iter()
            .any(|r| r.method == "CONNECT" && r.uri == "15.35.226.136:443"),
        "{proxy:?}"
    );
    // The proxy flow is named by its Host first, then by the SNI of the TLS
    // hello tunnelled after a CONNECT, which is stronger evidence.
    for f in flow_to(&got, "85.25.246.38:8080") {
        assert_eq!(f.name.as_deref(), Some("weberblog.net"));
        assert!(matches!(
            f.name_source,
            Some(NameSource::HttpHost | NameSource::Sni)
        ));
    }
    assert!(
        got.hellos
            .iter()
            .any(|h| h.resp.port() == 8080 && h.server_name.as_deref() == Some("weberblog.net"))
    );
}
