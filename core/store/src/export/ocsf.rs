//! OCSF 1.3.0 events: Network Activity (4001) for flows, DNS Activity (4003)
//! for DNS transactions, Detection Finding (2004) for alerts.
//!
//! Every event carries the base attributes OCSF requires (`activity_id`,
//! `category_uid`, `class_uid`, `type_uid = class_uid * 100 + activity_id`,
//! `time` in ms, `severity_id`, `metadata.product`, `metadata.version`) and
//! the class's required ones (`action_id` on the network classes,
//! `finding_info.uid`/`title` on findings). What OCSF has no attribute for
//! (app uid, JA4, name source) goes under `unmapped`.

use serde_json::{Map, Value, json};

use crate::export::zeek::{proto_name, qtype_name};
use crate::rows::{AlertAction, AlertRow, AlertState, DnsRow, FlowRow, Severity};

/// The OCSF schema version emitted.
pub const OCSF_VERSION: &str = "1.3.0";

fn ms(us: u64) -> u64 {
    us / 1000
}

fn metadata() -> Value {
    json!({
        "version": OCSF_VERSION,
        "product": {
            "name": "Nightjar",
            "vendor_name": "Nightjar",
            "version": env!("CARGO_PKG_VERSION"),
        },
    })
}

fn base(
    class_uid: u32,
    class_name: &str,
    category_uid: u32,
    category_name: &str,
    activity: (u32, &str),
    time_us: u64,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("class_uid".into(), json!(class_uid));
    m.insert("class_name".into(), json!(class_name));
    m.insert("category_uid".into(), json!(category_uid));
    m.insert("category_name".into(), json!(category_name));
    m.insert("activity_id".into(), json!(activity.0));
    m.insert("activity_name".into(), json!(activity.1));
    m.insert(
        "type_uid".into(),
        json!(u64::from(class_uid) * 100 + u64::from(activity.0)),
    );
    m.insert(
        "type_name".into(),
        json!(format!("{class_name}: {}", activity.1)),
    );
    m.insert("time".into(), json!(ms(time_us)));
    m.insert("metadata".into(), metadata());
    m
}

fn informational(m: &mut Map<String, Value>) {
    m.insert("severity_id".into(), json!(1));
    m.insert("severity".into(), json!("Informational"));
    // The tunnel observes and forwards: the traffic was allowed.
    m.insert("action_id".into(), json!(1));
    m.insert("action".into(), json!("Allowed"));
}

/// A Network Activity event for a flow.
pub fn network_activity(f: &FlowRow) -> Value {
    let activity = match f.end_reason.as_str() {
        "rst" => (3, "Reset"),
        "fin" => (2, "Close"),
        _ => (6, "Traffic"),
    };
    let mut m = base(
        4001,
        "Network Activity",
        4,
        "Network Activity",
        activity,
        f.first_us,
    );
    informational(&mut m);
    m.insert("start_time".into(), json!(ms(f.first_us)));
    m.insert("end_time".into(), json!(ms(f.last_us)));
    m.insert(
        "duration".into(),
        json!(ms(f.last_us.saturating_sub(f.first_us))),
    );
    m.insert(
        "src_endpoint".into(),
        json!({"ip": f.orig_h.to_string(), "port": f.orig_p}),
    );
    let mut dst = json!({"ip": f.resp_h.to_string(), "port": f.resp_p});
    if let (Some(name), Some(obj)) = (&f.name, dst.as_object_mut()) {
        obj.insert("hostname".into(), json!(name));
    }
    m.insert("dst_endpoint".into(), dst);
    let mut conn = json!({
        "uid": f.uid,
        "protocol_num": f.proto,
        "protocol_name": proto_name(f.proto),
        "direction_id": 2,
        "direction": "Outbound",
    });
    if let (Some(c), Some(obj)) = (&f.community_id, conn.as_object_mut()) {
        obj.insert("community_uid".into(), json!(c));
    }
    m.insert("connection_info".into(), conn);
    m.insert(
        "traffic".into(),
        json!({
            "bytes_out": f.orig_ip_bytes,
            "bytes_in": f.resp_ip_bytes,
            "bytes": f.orig_ip_bytes + f.resp_ip_bytes,
            "packets_out": f.orig_pkts,
            "packets_in": f.resp_pkts,
            "packets": f.orig_pkts + f.resp_pkts,
        }),
    );
    if let Some(a) = &f.app_name {
        m.insert("app_name".into(), json!(a));
    }
    m.insert(
        "unmapped".into(),
        json!({
            "app_uid": f.app_uid,
            "conn_state": f.conn_state,
            "name_source": f.name_source,
            "sni": f.sni,
            "alpn": f.alpn,
            "ja4": f.ja4,
            "http_host": f.http_host,
            "ech": f.ech,
            "end_reason": f.end_reason,
            "tunnel": f.tunnel,
        }),
    );
    Value::Object(m)
}

/// A DNS Activity event for a transaction (Traffic if answered, else Query).
pub fn dns_activity(d: &DnsRow) -> Value {
    let activity = if d.answered {
        (6, "Traffic")
    } else {
        (1, "Query")
    };
    let mut m = base(
        4003,
        "DNS Activity",
        4,
        "Network Activity",
        activity,
        d.ts_us,
    );
    informational(&mut m);
    m.insert(
        "src_endpoint".into(),
        json!({"ip": d.client.ip().to_string(), "port": d.client.port()}),
    );
    m.insert(
        "dst_endpoint".into(),
        json!({"ip": d.server.ip().to_string(), "port": d.server.port()}),
    );
    let proto_num = if d.transport == "tcp" { 6 } else { 17 };
    m.insert(
        "connection_info".into(),
        json!({"protocol_name": d.transport, "protocol_num": proto_num, "direction_id": 2}),
    );
    let mut query = json!({"hostname": d.query, "packet_uid": d.id, "class": d.qclass.to_string()});
    if let Some(obj) = query.as_object_mut() {
        obj.insert(
            "type".into(),
            json!(qtype_name(d.qtype).map_or_else(|| d.qtype.to_string(), str::to_string)),
        );
    }
    m.insert("query".into(), query);
    if !d.answers.is_empty() {
        let answers: Vec<Value> = d
            .answers
            .iter()
            .enumerate()
            .map(|(i, a)| json!({"rdata": a, "ttl": d.ttls.get(i).copied()}))
            .collect();
        m.insert("answers".into(), json!(answers));
    }
    if let Some(rc) = d.rcode {
        // OCSF's rcode_id enumerates the DNS RCODEs 0..=23 by value.
        let id = if rc <= 23 { u32::from(rc) } else { 99 };
        m.insert("rcode_id".into(), json!(id));
        if let Some(n) = &d.rcode_name {
            m.insert("rcode".into(), json!(n));
        }
    }
    if let Some(rtt) = d.rtt_us {
        m.insert("duration".into(), json!(ms(rtt)));
    }
    m.insert(
        "unmapped".into(),
        json!({"app_uid": d.app_uid, "flow_uid": d.flow_uid, "query_too_long": d.query_too_long}),
    );
    Value::Object(m)
}

fn severity(s: Severity) -> (u32, &'static str) {
    match s {
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
        Severity::Critical => (5, "Critical"),
    }
}

/// A Detection Finding for an alert: Create while new, Update while being
/// triaged, Close once resolved or judged a false positive.
pub fn detection_finding(a: &AlertRow) -> Value {
    let (activity, status) = match a.state {
        AlertState::New => ((1, "Create"), (1, "New")),
        AlertState::Acknowledged => ((2, "Update"), (2, "In Progress")),
        AlertState::Resolved => ((3, "Close"), (4, "Resolved")),
        AlertState::FalsePositive => ((3, "Close"), (3, "Suppressed")),
    };
    let mut m = base(2004, "Detection Finding", 2, "Findings", activity, a.ts_us);
    let (sid, sname) = severity(a.severity);
    m.insert("severity_id".into(), json!(sid));
    m.insert("severity".into(), json!(sname));
    m.insert("status_id".into(), json!(status.0));
    m.insert("status".into(), json!(status.1));
    let (action_id, action) = match a.action {
        AlertAction::Block => (2, "Denied"),
        AlertAction::Record | AlertAction::Alert => (1, "Allowed"),
    };
    m.insert("action_id".into(), json!(action_id));
    m.insert("action".into(), json!(action));
    let title = match &a.domain {
        Some(d) => format!("{}: {d}", a.detector),
        None => a.detector.clone(),
    };
    let techniques: Vec<Value> = a
        .attack
        .iter()
        .filter(|id| id.starts_with('T'))
        .map(|id| json!({"technique": {"uid": id}}))
        .collect();
    m.insert(
        "finding_info".into(),
        json!({
            "uid": a.id.to_string(),
            "title": title,
            "analytic": {"name": a.detector, "type_id": 1, "type": "Rule"},
            "related_events": a.flow_uids.iter().map(|u| json!({"uid": u})).collect::<Vec<_>>(),
            "first_seen_time": ms(a.ts_us),
        }),
    );
    if !techniques.is_empty() {
        m.insert("attacks".into(), json!(techniques));
    }
    let mut observables = Vec::new();
    if let Some(d) = &a.domain {
        observables.push(json!({"name": "domain", "type_id": 1, "type": "Hostname", "value": d}));
    }
    for ip in &a.ips {
        observables.push(
            json!({"name": "ip", "type_id": 2, "type": "IP Address", "value": ip.to_string()}),
        );
    }
    if !observables.is_empty() {
        m.insert("observables".into(), json!(observables));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let risk = (a.score.clamp(0.0, 1.0) * 100.0).round() as u32;
    m.insert("risk_score".into(), json!(risk));
    m.insert(
        "unmapped".into(),
        json!({
            "app_uid": a.app_uid,
            "score": a.score,
            "attack": a.attack,
            "signals": a.signals,
            "provenance": a.provenance,
            "retroactive": a.retroactive,
            "action": a.action,
            "enforcement": a.enforcement,
        }),
    );
    Value::Object(m)
}
