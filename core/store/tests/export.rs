//! Every export read back and checked against the field lists of the logs
//! and OCSF classes it claims to produce.

// Test code: a failed expectation should abort loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use common::*;
use nightjar_store::export::Table;
use nightjar_store::export::zeek::ZeekLog;
use nightjar_store::{AlertState, Query, Severity, Store, StoreConfig};
use serde_json::{Value, json};

const ID: [&str; 6] = [
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
];

// Zeek 7 log records (scripts/base/protocols/*/main.zeek, `Info` records).
/// conn.log, `Conn::Info`.
const ZEEK_CONN: &[&str] = &[
    "proto",
    "service",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "local_orig",
    "local_resp",
    "missed_bytes",
    "history",
    "orig_pkts",
    "orig_ip_bytes",
    "resp_pkts",
    "resp_ip_bytes",
    "tunnel_parents",
    "ip_proto",
];
/// Non-`&optional` fields of `Conn::Info` besides the id.
const ZEEK_CONN_REQUIRED: &[&str] = &["proto"];
/// dns.log, `DNS::Info`.
const ZEEK_DNS: &[&str] = &[
    "proto",
    "trans_id",
    "rtt",
    "query",
    "qclass",
    "qclass_name",
    "qtype",
    "qtype_name",
    "rcode",
    "rcode_name",
    "AA",
    "TC",
    "RD",
    "RA",
    "Z",
    "answers",
    "TTLs",
    "rejected",
    "opcode",
    "opcode_name",
    "original_query",
];
/// Non-optional `DNS::Info` fields we commit to (header flags are not kept).
const ZEEK_DNS_REQUIRED: &[&str] = &["proto", "trans_id", "rejected"];
/// ssl.log, `SSL::Info`.
const ZEEK_SSL: &[&str] = &[
    "version",
    "cipher",
    "curve",
    "server_name",
    "resumed",
    "last_alert",
    "next_protocol",
    "established",
    "ssl_history",
    "cert_chain_fps",
    "client_cert_chain_fps",
    "sni_matches_cert",
];
/// quic.log, `QUIC::Info`.
const ZEEK_QUIC: &[&str] = &[
    "version",
    "client_initial_dcid",
    "client_scid",
    "server_scid",
    "server_name",
    "client_protocol",
    "history",
];
/// http.log, `HTTP::Info`.
const ZEEK_HTTP: &[&str] = &[
    "trans_depth",
    "method",
    "host",
    "uri",
    "referrer",
    "version",
    "user_agent",
    "origin",
    "request_body_len",
    "response_body_len",
    "status_code",
    "status_msg",
    "tags",
];
const ZEEK_HTTP_REQUIRED: &[&str] = &["trans_depth", "host"];
/// Fields packages add (community-id, ja4) and Nightjar's app attribution.
const EXTRA: &[&str] = &[
    "community_id",
    "ja4",
    "app_uid",
    "app_name",
    "name",
    "name_source",
    "ech",
    "end_reason",
    "tunnel",
    "query_too_long",
];
/// Nightjar's alerts.log.
const ALERTS_LOG: &[&str] = &[
    "ts",
    "alert_id",
    "uids",
    "severity",
    "score",
    "state",
    "app_uid",
    "domain",
    "ips",
    "detector",
    "attack",
    "signals",
    "provenance",
    "retroactive",
    "action",
];

// OCSF 1.3.0 (schema.ocsf.io/1.3.0): base event required attributes, plus
// each class's required attributes and the recommended ones we commit to.
const OCSF_BASE: &[&str] = &[
    "activity_id",
    "category_uid",
    "class_uid",
    "metadata",
    "severity_id",
    "time",
    "type_uid",
];
const OCSF_METADATA: &[&str] = &["product", "version"];
/// Network Activity [4001]: `action_id` (required), endpoints, connection, traffic.
const OCSF_4001: &[&str] = &[
    "action_id",
    "src_endpoint",
    "dst_endpoint",
    "connection_info",
    "traffic",
    "start_time",
    "end_time",
];
/// DNS Activity [4003]: `action_id`, endpoints, query (recommended).
const OCSF_4003: &[&str] = &["action_id", "src_endpoint", "dst_endpoint", "query"];
/// Detection Finding [2004]: `finding_info` with its required `uid` and `title`.
const OCSF_2004: &[&str] = &["finding_info", "status_id"];
const OCSF_FINDING_INFO: &[&str] = &["uid", "title"];

fn dataset() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let (store, writer) = Store::open(dir.path().join("e.db"), StoreConfig::default()).unwrap();
    // TLS, QUIC, HTTP, plain and DNS flows.
    writer.flow(flow(1, T0));
    let mut quic = named(2, T0 + 1, "q.example", Some(5), "192.0.2.2");
    quic.proto = 17;
    quic.name_source = Some("quic_sni".into());
    quic.alpn = Some("h3".into());
    // Seen inside GTP-U: the outer UDP flow is its tunnel parent.
    quic.tunnel = Some(nightjar_store::FlowTunnel {
        kind: "gtpv1".into(),
        outer_proto: 17,
        outer_src: ip("203.0.113.1"),
        outer_dst: ip("203.0.113.2"),
        parent_uid: Some("C00000009".into()),
    });
    writer.flow(quic);
    let mut http = named(3, T0 + 2, "h.example", None, "192.0.2.3");
    http.resp_p = 80;
    http.sni = None;
    http.ja4 = None;
    http.name_source = Some("http_host".into());
    http.http_host = Some("h.example:8080".into());
    http.end_reason = "rst".into();
    writer.flow(http);
    let mut bare = flow(4, T0 + 3);
    bare.name = None;
    bare.sni = None;
    bare.ja4 = None;
    bare.name_source = None;
    bare.community_id = None;
    bare.app_uid = None;
    bare.app_name = None;
    bare.proto = 1;
    writer.flow(bare);
    writer.dns(dns(T0 + 4, "Mixed.Case.example", Some(5)));
    let mut unanswered = dns(T0 + 5, "nx.example", None);
    unanswered.answered = false;
    unanswered.rcode = None;
    unanswered.rcode_name = None;
    unanswered.answers.clear();
    unanswered.ttls.clear();
    unanswered.flow_uid = None;
    unanswered.query_too_long = true;
    writer.dns(unanswered);
    writer.alert(alert(
        1,
        T0 + 6,
        Severity::Critical,
        AlertState::New,
        Some(5),
    ));
    let mut resolved = alert(2, T0 + 7, Severity::Low, AlertState::Resolved, None);
    resolved.domain = None;
    resolved.action = nightjar_store::AlertAction::Block;
    writer.alert(resolved);
    writer.shutdown();
    (dir, store)
}

fn lines(store: &Store, log: ZeekLog) -> Vec<serde_json::Map<String, Value>> {
    let mut buf = Vec::new();
    let n = store.export_zeek(log, &Query::new(), &mut buf).unwrap();
    let out: Vec<_> = String::from_utf8(buf)
        .unwrap()
        .lines()
        .map(|l| match serde_json::from_str::<Value>(l).unwrap() {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        })
        .collect();
    assert_eq!(out.len() as u64, n);
    out
}

fn check_zeek(recs: &[serde_json::Map<String, Value>], known: &[&str], required: &[&str]) {
    for r in recs {
        for k in r.keys() {
            assert!(
                ID.contains(&k.as_str())
                    || known.contains(&k.as_str())
                    || EXTRA.contains(&k.as_str()),
                "unknown field {k}"
            );
        }
        for k in ID.iter().chain(required) {
            assert!(r.contains_key(*k), "missing {k} in {r:?}");
        }
        assert!(r["ts"].is_f64(), "ts is float seconds");
        assert!(r["id.orig_p"].is_u64() && r["id.resp_p"].is_u64());
        assert!(r["uid"].as_str().is_some_and(|u| !u.is_empty()));
    }
}

#[test]
fn zeek_logs_have_zeek_fields() {
    let (_d, store) = dataset();
    let conn = lines(&store, ZeekLog::Conn);
    assert_eq!(conn.len(), 4);
    check_zeek(&conn, ZEEK_CONN, ZEEK_CONN_REQUIRED);
    let by_uid: HashMap<&str, &serde_json::Map<String, Value>> = conn
        .iter()
        .map(|r| (r["uid"].as_str().unwrap(), r))
        .collect();
    let tls = by_uid["C00000001"];
    assert_eq!(tls["ts"].as_f64().unwrap(), T0 as f64 / 1e6);
    assert_eq!(tls["duration"].as_f64().unwrap(), 1.5);
    assert_eq!(tls["proto"], "tcp");
    assert_eq!(tls["service"], "ssl");
    assert_eq!(tls["community_id"], "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
    assert_eq!(tls["app_uid"], 10_001);
    assert_eq!(by_uid["C00000004"]["proto"], "icmp");
    assert_eq!(by_uid["C00000002"]["service"], "quic,ssl");
    assert_eq!(by_uid["C00000002"]["tunnel_parents"], json!(["C00000009"]));
    assert_eq!(
        by_uid["C00000002"]["tunnel"],
        json!({"type": "gtpv1", "proto": 17, "src_h": "203.0.113.1", "dst_h": "203.0.113.2"})
    );
    assert!(!tls.contains_key("tunnel") && !tls.contains_key("tunnel_parents"));

    let ssl = lines(&store, ZeekLog::Ssl);
    check_zeek(&ssl, ZEEK_SSL, &[]);
    assert_eq!(ssl.len(), 1);
    assert_eq!(ssl[0]["server_name"], "www.example.com");
    assert_eq!(ssl[0]["ja4"], "t13d1516h2_8daaf6152771_02713d6af862");
    assert_eq!(ssl[0]["next_protocol"], "h2");

    let quic = lines(&store, ZeekLog::Quic);
    check_zeek(&quic, ZEEK_QUIC, &["server_name"]);
    assert_eq!(quic.len(), 1);
    assert_eq!(quic[0]["client_protocol"], "h3");

    let http = lines(&store, ZeekLog::Http);
    check_zeek(&http, ZEEK_HTTP, ZEEK_HTTP_REQUIRED);
    assert_eq!(http.len(), 1);
    assert_eq!(http[0]["host"], "h.example:8080");

    let dns = lines(&store, ZeekLog::Dns);
    check_zeek(&dns, ZEEK_DNS, ZEEK_DNS_REQUIRED);
    assert_eq!(dns.len(), 2);
    let answered = dns.iter().find(|r| r.contains_key("answers")).unwrap();
    assert_eq!(
        answered["query"], "mixed.case.example",
        "Zeek lowercases query"
    );
    assert_eq!(answered["qtype_name"], "A");
    assert_eq!(answered["TTLs"][0].as_f64(), Some(300.0));
    assert_eq!(answered["rtt"].as_f64(), Some(0.012));
    assert!(!answered.contains_key("query_too_long"));
    let nx = dns.iter().find(|r| !r.contains_key("answers")).unwrap();
    assert_eq!(nx["query_too_long"], true);

    let alerts = lines(&store, ZeekLog::Alerts);
    assert_eq!(alerts.len(), 2);
    for a in &alerts {
        for k in a.keys() {
            assert!(
                ALERTS_LOG.contains(&k.as_str()),
                "unknown alerts.log field {k}"
            );
        }
        for k in [
            "ts",
            "alert_id",
            "severity",
            "detector",
            "attack",
            "retroactive",
        ] {
            assert!(a.contains_key(k), "missing {k}");
        }
    }
}

/// The field names in `#fields` lines of Zeek's own baselines for `log`.
fn baseline_fields(root: &std::path::Path, log: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(areas) = std::fs::read_dir(root.join("pcap/zeek")) else {
        return out;
    };
    for area in areas.flatten() {
        let Ok(tests) = std::fs::read_dir(area.path().join("baseline")) else {
            continue;
        };
        for t in tests.flatten() {
            let Ok(text) = std::fs::read_to_string(t.path().join(log)) else {
                continue;
            };
            for line in text.lines() {
                if let Some(f) = line.strip_prefix("#fields\t") {
                    out.extend(f.split('\t').map(str::to_string));
                }
            }
        }
    }
    out
}

#[test]
fn zeek_field_names_match_zeek_baselines() {
    let root = std::env::var_os("NIGHTJAR_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/fixtures"
            ))
        });
    if !root.join("pcap/zeek").is_dir() {
        eprintln!("SKIPPED: fixtures not found at {}", root.display());
        return;
    }
    let (_d, store) = dataset();
    for (log, file) in [
        (ZeekLog::Conn, "conn.log"),
        (ZeekLog::Dns, "dns.log"),
        (ZeekLog::Ssl, "ssl.log"),
        (ZeekLog::Quic, "quic.log"),
        (ZeekLog::Http, "http.log"),
    ] {
        let zeek = baseline_fields(&root, file);
        assert!(!zeek.is_empty(), "no {file} baseline");
        for rec in lines(&store, log) {
            for k in rec.keys() {
                assert!(
                    zeek.contains(k) || EXTRA.contains(&k.as_str()),
                    "{file}: {k} is neither in Zeek's baselines nor a declared extra"
                );
            }
        }
    }
}

fn ocsf(store: &Store, t: Table) -> Vec<Value> {
    let mut buf = Vec::new();
    store.export_ocsf(t, &Query::new(), &mut buf).unwrap();
    String::from_utf8(buf)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn check_ocsf(ev: &Value, class: u64, category: u64, class_required: &[&str]) {
    for k in OCSF_BASE.iter().chain(class_required) {
        assert!(ev.get(k).is_some(), "class {class}: missing {k}");
    }
    for k in OCSF_METADATA {
        assert!(ev["metadata"].get(k).is_some(), "metadata.{k}");
    }
    assert!(ev["metadata"]["product"]["name"].is_string());
    assert!(
        ev["metadata"]["version"]
            .as_str()
            .unwrap()
            .starts_with("1.")
    );
    assert_eq!(ev["class_uid"], class);
    assert_eq!(ev["category_uid"], category);
    let act = ev["activity_id"].as_u64().unwrap();
    assert_eq!(ev["type_uid"].as_u64().unwrap(), class * 100 + act);
    let t = ev["time"].as_u64().unwrap();
    assert_eq!(t, T0 / 1000 + t % (T0 / 1000), "time in ms");
    assert!((0..=6).contains(&ev["severity_id"].as_u64().unwrap()));
}

#[test]
fn ocsf_events_carry_required_attributes() {
    let (_d, store) = dataset();
    let flows = ocsf(&store, Table::Flows);
    assert_eq!(flows.len(), 4);
    for e in &flows {
        check_ocsf(e, 4001, 4, OCSF_4001);
        assert!(e["src_endpoint"]["ip"].is_string());
        assert!(e["traffic"]["bytes"].as_u64().unwrap() > 0);
    }
    let reset = flows
        .iter()
        .find(|e| e["connection_info"]["uid"] == "C00000003")
        .unwrap();
    assert_eq!(reset["activity_id"], 3);
    let tls = flows
        .iter()
        .find(|e| e["connection_info"]["uid"] == "C00000001")
        .unwrap();
    assert_eq!(tls["dst_endpoint"]["hostname"], "www.example.com");
    assert_eq!(
        tls["connection_info"]["community_uid"],
        "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
    );
    assert_eq!(
        tls["unmapped"]["ja4"],
        "t13d1516h2_8daaf6152771_02713d6af862"
    );

    let dns = ocsf(&store, Table::Dns);
    assert_eq!(dns.len(), 2);
    for e in &dns {
        check_ocsf(e, 4003, 4, OCSF_4003);
        assert!(e["query"]["hostname"].is_string());
    }
    let answered = dns.iter().find(|e| e["activity_id"] == 6).unwrap();
    assert_eq!(answered["rcode_id"], 0);
    assert_eq!(answered["answers"][0]["rdata"], "93.184.216.34");
    let query = dns.iter().find(|e| e["activity_id"] == 1).unwrap();
    assert_eq!(query["unmapped"]["query_too_long"], true);
    assert_eq!(answered["unmapped"]["query_too_long"], false);
    let quic = flows
        .iter()
        .find(|e| e["connection_info"]["uid"] == "C00000002")
        .unwrap();
    assert_eq!(quic["unmapped"]["tunnel"]["kind"], "gtpv1");
    assert_eq!(quic["unmapped"]["tunnel"]["parent_uid"], "C00000009");
    assert!(tls["unmapped"]["tunnel"].is_null());

    let findings = ocsf(&store, Table::Alerts);
    assert_eq!(findings.len(), 2);
    for e in &findings {
        check_ocsf(e, 2004, 2, OCSF_2004);
        for k in OCSF_FINDING_INFO {
            assert!(e["finding_info"].get(k).is_some(), "finding_info.{k}");
        }
    }
    let crit = findings
        .iter()
        .find(|e| e["finding_info"]["uid"] == "1")
        .unwrap();
    assert_eq!(crit["severity_id"], 5);
    assert_eq!(crit["activity_id"], 1);
    assert_eq!(crit["attacks"][0]["technique"]["uid"], "T1637.001");
    assert_eq!(crit["unmapped"]["attack"][0], "DC0113");
    let closed = findings
        .iter()
        .find(|e| e["finding_info"]["uid"] == "2")
        .unwrap();
    assert_eq!(closed["activity_id"], 3);
    assert_eq!(closed["status_id"], 4);
    assert_eq!(closed["action_id"], 2);
}

#[test]
fn csv_round_trips() {
    let (_d, store) = dataset();
    for (table, header, rows) in [
        (Table::Flows, nightjar_store::export::csv::FLOW_HEADER, 4),
        (Table::Dns, nightjar_store::export::csv::DNS_HEADER, 2),
        (Table::Alerts, nightjar_store::export::csv::ALERT_HEADER, 2),
    ] {
        let mut buf = Vec::new();
        assert_eq!(
            store.export_csv(table, &Query::new(), &mut buf).unwrap(),
            rows
        );
        let mut r = csv::Reader::from_reader(buf.as_slice());
        let h: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
        assert_eq!(h, header);
        let recs: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(recs.len() as u64, rows);
        for rec in &recs {
            assert_eq!(rec.len(), header.len());
        }
        if table == Table::Flows {
            let quic = recs.iter().find(|r| &r[1] == "C00000002").unwrap();
            assert_eq!(&quic[25], "gtpv1 17 203.0.113.1 203.0.113.2 C00000009");
            let tls = recs.iter().find(|r| &r[1] == "C00000001").unwrap();
            assert_eq!(&tls[25], "");
            assert_eq!(&tls[5], "10.0.0.2");
            assert_eq!(tls[14].parse::<u64>().unwrap(), 20_000);
            assert_eq!(&tls[17], "www.example.com");
        }
        if table == Table::Dns {
            let nx = recs.iter().find(|r| &r[7] == "nx.example").unwrap();
            assert_eq!(&nx[16], "true");
        }
        if table == Table::Alerts {
            let a = recs.iter().find(|r| &r[0] == "1").unwrap();
            assert_eq!(&a[10], "DC0113|AN1700|T1637.001");
            let prov: Value = serde_json::from_str(&a[12]).unwrap();
            assert_eq!(prov["feed"], "mvt");
        }
    }
}
