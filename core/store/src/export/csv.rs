//! CSV rows (the `csv` crate does quoting). List columns are joined with
//! `|`; structured columns (signals, provenance) are JSON text.

use std::io::Write;

use crate::error::Result;
use crate::rows::{AlertRow, DnsRow, FlowRow};

/// Header of the flows CSV.
pub const FLOW_HEADER: &[&str] = &[
    "id",
    "uid",
    "app_uid",
    "app_name",
    "proto",
    "orig_h",
    "orig_p",
    "resp_h",
    "resp_p",
    "first_us",
    "last_us",
    "orig_pkts",
    "resp_pkts",
    "orig_ip_bytes",
    "resp_ip_bytes",
    "conn_state",
    "community_id",
    "name",
    "name_source",
    "sni",
    "alpn",
    "ja4",
    "http_host",
    "ech",
    "end_reason",
    "tunnel",
];

/// Header of the DNS CSV.
pub const DNS_HEADER: &[&str] = &[
    "ts_us",
    "flow_uid",
    "app_uid",
    "client",
    "server",
    "transport",
    "id",
    "query",
    "qtype",
    "qclass",
    "rcode",
    "rcode_name",
    "answers",
    "ttls",
    "rtt_us",
    "answered",
    "query_too_long",
];

/// Header of the alerts CSV.
pub const ALERT_HEADER: &[&str] = &[
    "id",
    "ts_us",
    "severity",
    "score",
    "state",
    "app_uid",
    "domain",
    "ips",
    "flow_uids",
    "detector",
    "attack",
    "signals",
    "provenance",
    "retroactive",
    "action",
    "enforcement",
];

fn o<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

fn join<T: ToString>(v: &[T]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("|")
}

/// Writes one flow.
pub fn write_flow<W: Write>(w: &mut csv::Writer<W>, f: &FlowRow) -> Result<()> {
    w.write_record([
        f.id.to_string(),
        f.uid.clone(),
        o(&f.app_uid),
        o(&f.app_name),
        f.proto.to_string(),
        f.orig_h.to_string(),
        f.orig_p.to_string(),
        f.resp_h.to_string(),
        f.resp_p.to_string(),
        f.first_us.to_string(),
        f.last_us.to_string(),
        f.orig_pkts.to_string(),
        f.resp_pkts.to_string(),
        f.orig_ip_bytes.to_string(),
        f.resp_ip_bytes.to_string(),
        f.conn_state.clone(),
        o(&f.community_id),
        o(&f.name),
        o(&f.name_source),
        o(&f.sni),
        o(&f.alpn),
        o(&f.ja4),
        o(&f.http_host),
        f.ech.to_string(),
        f.end_reason.clone(),
        // The store column's text (`KIND PROTO SRC DST [PARENT_UID]`).
        f.tunnel
            .as_ref()
            .map(crate::tunnel_col::encode)
            .unwrap_or_default(),
    ])?;
    Ok(())
}

/// Writes one DNS transaction.
pub fn write_dns<W: Write>(w: &mut csv::Writer<W>, d: &DnsRow) -> Result<()> {
    w.write_record([
        d.ts_us.to_string(),
        o(&d.flow_uid),
        o(&d.app_uid),
        d.client.to_string(),
        d.server.to_string(),
        d.transport.clone(),
        d.id.to_string(),
        d.query.clone(),
        d.qtype.to_string(),
        d.qclass.to_string(),
        o(&d.rcode),
        o(&d.rcode_name),
        join(&d.answers),
        join(&d.ttls),
        o(&d.rtt_us),
        d.answered.to_string(),
        d.query_too_long.to_string(),
    ])?;
    Ok(())
}

/// Writes one alert.
pub fn write_alert<W: Write>(w: &mut csv::Writer<W>, a: &AlertRow) -> Result<()> {
    w.write_record([
        a.id.to_string(),
        a.ts_us.to_string(),
        a.severity.as_str().to_string(),
        a.score.to_string(),
        a.state.as_str().to_string(),
        o(&a.app_uid),
        o(&a.domain),
        join(&a.ips),
        join(&a.flow_uids),
        a.detector.clone(),
        join(&a.attack),
        serde_json::to_string(&a.signals)?,
        serde_json::to_string(&a.provenance)?,
        a.retroactive.to_string(),
        a.action.as_str().to_string(),
        o(&a.enforcement),
    ])?;
    Ok(())
}
