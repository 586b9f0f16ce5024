//! Zeek-compatible JSON lines: conn, dns, ssl, quic, http, plus Nightjar's own
//! alerts.log. Field names follow Zeek's logs (`ts` as float seconds, `uid`,
//! `id.orig_h`, ...); fields Nightjar cannot know (history, TLS version, DNS
//! header flags) are omitted, as Zeek omits unset `&optional` fields in JSON.
//! Extra fields, as Zeek packages add them: `community_id` (the community-id
//! package), `ja4` (the ja4 package), and `app_uid`/`app_name`/`name_source`/
//! `ech`/`end_reason`/`tunnel` (conn) and `query_too_long` (dns) from Nightjar.

use std::io::Write;

use serde_json::{Map, Value, json};

use crate::error::Result;
use crate::rows::{AlertRow, DnsRow, FlowRow};

/// A Zeek log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ZeekLog {
    /// conn.log.
    Conn,
    /// dns.log.
    Dns,
    /// ssl.log (TLS over TCP with a ClientHello seen).
    Ssl,
    /// quic.log (QUIC Initial seen).
    Quic,
    /// http.log (cleartext HTTP request seen).
    Http,
    /// alerts.log, Nightjar's own.
    Alerts,
}

#[allow(clippy::cast_precision_loss)]
fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

/// Zeek's transport_proto names.
pub fn proto_name(p: u8) -> &'static str {
    match p {
        6 => "tcp",
        17 => "udp",
        1 | 58 => "icmp",
        _ => "unknown_transport",
    }
}

fn service(f: &FlowRow) -> Option<&'static str> {
    match f.name_source.as_deref() {
        Some("sni") => Some("ssl"),
        Some("quic_sni") => Some("quic,ssl"),
        Some("http_host") => Some("http"),
        _ if f.resp_p == 53 => Some("dns"),
        _ => None,
    }
}

fn id_fields(m: &mut Map<String, Value>, f: &FlowRow) {
    m.insert("ts".into(), json!(secs(f.first_us)));
    m.insert("uid".into(), json!(f.uid));
    m.insert("id.orig_h".into(), json!(f.orig_h.to_string()));
    m.insert("id.orig_p".into(), json!(f.orig_p));
    m.insert("id.resp_h".into(), json!(f.resp_h.to_string()));
    m.insert("id.resp_p".into(), json!(f.resp_p));
}

fn app_fields(m: &mut Map<String, Value>, app_uid: Option<u32>, app_name: Option<&str>) {
    if let Some(a) = app_uid {
        m.insert("app_uid".into(), json!(a));
    }
    if let Some(a) = app_name {
        m.insert("app_name".into(), json!(a));
    }
}

fn opt(m: &mut Map<String, Value>, k: &str, v: Option<&str>) {
    if let Some(v) = v {
        m.insert(k.into(), json!(v));
    }
}

/// A conn.log record.
pub fn conn(f: &FlowRow) -> Value {
    let mut m = Map::new();
    id_fields(&mut m, f);
    m.insert("proto".into(), json!(proto_name(f.proto)));
    opt(&mut m, "service", service(f));
    m.insert(
        "duration".into(),
        json!(secs(f.last_us.saturating_sub(f.first_us))),
    );
    m.insert("conn_state".into(), json!(f.conn_state));
    m.insert("orig_pkts".into(), json!(f.orig_pkts));
    m.insert("orig_ip_bytes".into(), json!(f.orig_ip_bytes));
    m.insert("resp_pkts".into(), json!(f.resp_pkts));
    m.insert("resp_ip_bytes".into(), json!(f.resp_ip_bytes));
    m.insert("ip_proto".into(), json!(f.proto));
    opt(&mut m, "community_id", f.community_id.as_deref());
    app_fields(&mut m, f.app_uid, f.app_name.as_deref());
    opt(&mut m, "name", f.name.as_deref());
    opt(&mut m, "name_source", f.name_source.as_deref());
    m.insert("end_reason".into(), json!(f.end_reason));
    if let Some(t) = &f.tunnel {
        // As `nightjar replay --logs` writes them: Zeek's `tunnel_parents` (the outer
        // flow's uid, when the outer packets make a flow) and the outer packet itself.
        if let Some(parent) = &t.parent_uid {
            m.insert("tunnel_parents".into(), json!([parent]));
        }
        m.insert(
            "tunnel".into(),
            json!({
                "type": t.kind,
                "proto": t.outer_proto,
                "src_h": t.outer_src.to_string(),
                "dst_h": t.outer_dst.to_string(),
            }),
        );
    }
    Value::Object(m)
}

/// An ssl.log record, if the flow is TLS over TCP with a ClientHello seen.
pub fn ssl(f: &FlowRow) -> Option<Value> {
    if f.proto != 6 || (f.sni.is_none() && f.ja4.is_none()) {
        return None;
    }
    let mut m = Map::new();
    id_fields(&mut m, f);
    opt(&mut m, "server_name", f.sni.as_deref());
    opt(&mut m, "next_protocol", f.alpn.as_deref());
    opt(&mut m, "ja4", f.ja4.as_deref());
    m.insert("ech".into(), json!(f.ech));
    opt(&mut m, "community_id", f.community_id.as_deref());
    app_fields(&mut m, f.app_uid, f.app_name.as_deref());
    Some(Value::Object(m))
}

/// A quic.log record, if the flow is QUIC with an Initial seen.
pub fn quic(f: &FlowRow) -> Option<Value> {
    if f.proto != 17 || f.name_source.as_deref() != Some("quic_sni") {
        return None;
    }
    let mut m = Map::new();
    id_fields(&mut m, f);
    opt(&mut m, "server_name", f.sni.as_deref());
    opt(&mut m, "client_protocol", f.alpn.as_deref());
    opt(&mut m, "ja4", f.ja4.as_deref());
    opt(&mut m, "community_id", f.community_id.as_deref());
    app_fields(&mut m, f.app_uid, f.app_name.as_deref());
    Some(Value::Object(m))
}

/// An http.log record, if a cleartext request was seen on the flow.
pub fn http(f: &FlowRow) -> Option<Value> {
    let host = f.http_host.as_deref()?;
    let mut m = Map::new();
    id_fields(&mut m, f);
    // Only the first request's Host is kept per flow.
    m.insert("trans_depth".into(), json!(1));
    m.insert("host".into(), json!(host));
    opt(&mut m, "community_id", f.community_id.as_deref());
    app_fields(&mut m, f.app_uid, f.app_name.as_deref());
    Some(Value::Object(m))
}

/// The record of `log` for a flow, if the flow belongs in that log.
pub fn flow_record(log: ZeekLog, f: &FlowRow) -> Option<Value> {
    match log {
        ZeekLog::Conn => Some(conn(f)),
        ZeekLog::Ssl => ssl(f),
        ZeekLog::Quic => quic(f),
        ZeekLog::Http => http(f),
        ZeekLog::Dns | ZeekLog::Alerts => None,
    }
}

/// Zeek's names for common query types.
pub fn qtype_name(t: u16) -> Option<&'static str> {
    Some(match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        64 => "SVCB",
        65 => "HTTPS",
        255 => "*",
        _ => return None,
    })
}

/// A dns.log record. A transaction not tied to a flow gets a uid derived
/// from its time and message id so the field is never empty.
pub fn dns(d: &DnsRow) -> Value {
    let mut m = Map::new();
    m.insert("ts".into(), json!(secs(d.ts_us)));
    let uid = d
        .flow_uid
        .clone()
        .unwrap_or_else(|| format!("D{:x}{:04x}", d.ts_us, d.id));
    m.insert("uid".into(), json!(uid));
    m.insert("id.orig_h".into(), json!(d.client.ip().to_string()));
    m.insert("id.orig_p".into(), json!(d.client.port()));
    m.insert("id.resp_h".into(), json!(d.server.ip().to_string()));
    m.insert("id.resp_p".into(), json!(d.server.port()));
    m.insert("proto".into(), json!(d.transport));
    m.insert("trans_id".into(), json!(d.id));
    if let Some(rtt) = d.rtt_us {
        m.insert("rtt".into(), json!(secs(rtt)));
    }
    m.insert("query".into(), json!(d.query.to_ascii_lowercase()));
    m.insert("qclass".into(), json!(d.qclass));
    if d.qclass == 1 {
        m.insert("qclass_name".into(), json!("C_INTERNET"));
    }
    m.insert("qtype".into(), json!(d.qtype));
    opt(&mut m, "qtype_name", qtype_name(d.qtype));
    if let Some(rc) = d.rcode {
        m.insert("rcode".into(), json!(rc));
    }
    opt(&mut m, "rcode_name", d.rcode_name.as_deref());
    if !d.answers.is_empty() {
        m.insert("answers".into(), json!(d.answers));
        let ttls: Vec<f64> = d.ttls.iter().map(|t| f64::from(*t)).collect();
        m.insert("TTLs".into(), json!(ttls));
    }
    m.insert("rejected".into(), json!(d.rcode == Some(5)));
    if d.query_too_long {
        m.insert("query_too_long".into(), json!(true));
    }
    app_fields(&mut m, d.app_uid, None);
    Value::Object(m)
}

/// An alerts.log record (Nightjar's own log; Zeek conventions for `ts`/`uid`).
pub fn alert(a: &AlertRow) -> Value {
    let mut m = Map::new();
    m.insert("ts".into(), json!(secs(a.ts_us)));
    m.insert("alert_id".into(), json!(a.id));
    m.insert("uids".into(), json!(a.flow_uids));
    m.insert("severity".into(), json!(a.severity));
    m.insert("score".into(), json!(a.score));
    m.insert("state".into(), json!(a.state));
    app_fields(&mut m, a.app_uid, None);
    opt(&mut m, "domain", a.domain.as_deref());
    let ips: Vec<String> = a.ips.iter().map(ToString::to_string).collect();
    m.insert("ips".into(), json!(ips));
    m.insert("detector".into(), json!(a.detector));
    m.insert("attack".into(), json!(a.attack));
    m.insert("signals".into(), json!(a.signals));
    m.insert("provenance".into(), a.provenance.clone());
    m.insert("retroactive".into(), json!(a.retroactive));
    m.insert("action".into(), json!(a.action));
    opt(&mut m, "enforcement", a.enforcement.as_deref());
    Value::Object(m)
}

/// Writes one JSON line. Returns 1 (lines written) for easy counting.
pub fn write_line<W: Write>(w: &mut W, v: &Value) -> Result<u64> {
    serde_json::to_writer(&mut *w, v)?;
    w.write_all(b"\n")?;
    Ok(1)
}
