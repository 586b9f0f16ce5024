//! Engine records → store rows (feature `engine`), shared by the CLI and the
//! bindings so there is one conversion.
//!
//! A flow's hello and HTTP details arrive as separate events before the flow
//! completes; they wait in a bounded map keyed by flow id and join the flow's
//! row when it is written. Engine flow ids restart at zero with every engine,
//! while the store keys flows by id across restarts, so ids are offset past
//! the highest id already stored.

use std::collections::BTreeMap;

use nightjar_engine::{
    DnsTransaction, DnsTransport, EndReason, FlowId, FlowRecord, HelloRecord, HttpRecord, uid_for,
};

use crate::rows::{
    AlertAction, AlertRow, AlertState, DnsRow, DomainSeen, FlowRow, FlowTunnel, Severity, Signal,
};

/// The sighting a named flow adds to the `domains` table: what "first
/// contacted after install" and "first contact" read. Flows named by an
/// address (an HTTP Host that is a literal) or by a bare public suffix have
/// no registrable domain and add none.
pub fn sighting(row: &FlowRow) -> Option<DomainSeen> {
    let name = nightjar_detect::domain::normalize(row.name.as_deref()?)?;
    if name.parse::<std::net::IpAddr>().is_ok() || name.starts_with('[') {
        return None;
    }
    let registrable = nightjar_detect::domain::registrable(&name)?.to_owned();
    Some(DomainSeen {
        domain: name.into_owned(),
        registrable,
        app_uid: row.app_uid,
        first_us: row.first_us,
        last_us: row.first_us,
        count: 1,
    })
}

/// An alert's provenance as JSON, with the field names alerts.log and the store
/// share: where the indicator came from, in the feed's own words.
pub fn provenance_json(p: &nightjar_detect::alert::Provenance) -> serde_json::Value {
    serde_json::json!({
        "feed": p.source,
        "version": p.version,
        "indicator_id": p.indicator_id,
        "indicator": p.indicator,
        "category": p.category,
        "family": p.family,
        "severity": p.severity,
    })
}

/// An inventory row as the detection pipeline takes it (install and update times
/// decide what counts as "right after install"; an app never updated was last
/// changed when it was installed).
pub fn inventory_app(a: &crate::rows::AppRow) -> nightjar_detect::InventoryApp {
    nightjar_detect::InventoryApp {
        uid: a.uid,
        id: a.package.clone(),
        name: a.label.clone().unwrap_or_else(|| a.package.clone()),
        installed_us: a.installed_us.unwrap_or(0),
        updated_us: a.updated_us.or(a.installed_us).unwrap_or(0),
    }
}

/// Details of a flow seen before it completes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Details {
    sni: Option<String>,
    alpn: Option<String>,
    ja4: Option<String>,
    http_host: Option<String>,
}

/// Builds store rows from engine records.
#[derive(Debug)]
pub struct EngineRows {
    id_offset: u64,
    salt: u64,
    max_pending: usize,
    // Flow ids grow, so the first key is the oldest flow: eviction is `pop_first`.
    pending: BTreeMap<FlowId, Details>,
    details_shed: u64,
}

impl EngineRows {
    /// Rows whose flow ids are shifted by `id_offset` (use the store's
    /// `max_flow_id()`), uids keyed by `salt`, with details held for at most
    /// `max_pending` flows (past it the oldest flow's details are dropped, its
    /// row still written, and the drop counted).
    pub fn new(id_offset: u64, salt: u64, max_pending: usize) -> Self {
        EngineRows {
            id_offset,
            salt,
            max_pending,
            pending: BTreeMap::new(),
            details_shed: 0,
        }
    }

    fn uid(&self, id: u64) -> String {
        uid_for(FlowId(id.wrapping_add(self.id_offset)), self.salt)
    }

    /// The store row of a detection-pipeline alert. Its flows are named by the
    /// uids their flow rows carry, so a query joins them; the id is left for the
    /// store to allocate.
    pub fn alert_row(&self, a: &nightjar_detect::Alert) -> AlertRow {
        use nightjar_detect::{Action, Severity as S};
        AlertRow {
            id: 0,
            ts_us: a.ts_us,
            severity: match a.severity {
                S::High => Severity::High,
                S::Medium => Severity::Medium,
                // The store has no "info" level: it is the lowest it keeps.
                _ => Severity::Low,
            },
            score: a.score,
            state: AlertState::New,
            app_uid: a.app_uid,
            domain: a.domain.clone(),
            ips: a.ips.clone(),
            flow_uids: a.flow_ids.iter().map(|f| self.uid(*f)).collect(),
            detector: a.detector.name().to_owned(),
            attack: a.attack.iter().map(|r| r.id.to_owned()).collect(),
            signals: a
                .signals
                .iter()
                .map(|s| Signal {
                    name: s.name.to_owned(),
                    value: f64::from(s.value),
                    weight: f64::from(s.weight),
                })
                .collect(),
            provenance: a
                .provenance
                .as_ref()
                .map_or(serde_json::Value::Null, provenance_json),
            retroactive: false,
            action: match a.action {
                Action::Block => AlertAction::Block,
                Action::Alert => AlertAction::Alert,
                _ => AlertAction::Record,
            },
            enforcement: a.enforcement.map(|e| e.name().to_owned()),
        }
    }

    /// The uid the store row (and any alert) of engine flow `id` carries:
    /// the key under which the flow's packets are saved.
    pub fn flow_uid(&self, id: FlowId) -> String {
        self.uid(id.0)
    }

    fn details(&mut self, id: FlowId) -> &mut Details {
        if self.pending.len() >= self.max_pending
            && !self.pending.contains_key(&id)
            && self.pending.pop_first().is_some()
        {
            self.details_shed += 1;
        }
        self.pending.entry(id).or_default()
    }

    /// A ClientHello: held until its flow completes.
    pub fn hello(&mut self, h: &HelloRecord) {
        let d = self.details(h.flow);
        d.sni.clone_from(&h.server_name);
        d.alpn = h.alpn.first().cloned();
        d.ja4 = Some(h.ja4.clone());
    }

    /// An HTTP request head: the first Host is held until its flow completes.
    pub fn http(&mut self, r: &HttpRecord) {
        let d = self.details(r.flow);
        if d.http_host.is_none() {
            d.http_host.clone_from(&r.host);
        }
    }

    /// A completed flow's row, with any details waiting for it.
    pub fn flow_row(&mut self, r: &FlowRecord, app_name: Option<String>) -> FlowRow {
        let d = self.pending.remove(&r.id).unwrap_or_default();
        FlowRow {
            id: r.id.0.wrapping_add(self.id_offset),
            uid: self.uid(r.id.0),
            app_uid: r.app.map(|a| a.0),
            app_name,
            proto: r.protocol,
            orig_h: r.orig.ip(),
            orig_p: r.orig.port(),
            resp_h: r.resp.ip(),
            resp_p: r.resp.port(),
            first_us: r.first_us,
            last_us: r.last_us,
            orig_pkts: r.orig_pkts,
            resp_pkts: r.resp_pkts,
            orig_ip_bytes: r.orig_ip_bytes,
            resp_ip_bytes: r.resp_ip_bytes,
            conn_state: r.conn_state().as_str().to_owned(),
            community_id: r.community_id(0),
            name: r.name.as_deref().map(str::to_owned),
            name_source: r.name_source.map(|s| s.as_str().to_owned()),
            sni: d.sni,
            alpn: d.alpn,
            ja4: d.ja4,
            http_host: d.http_host,
            ech: r.ech,
            end_reason: end_reason(r.end).to_owned(),
            tunnel: r.tunnel.map(|t| FlowTunnel {
                kind: t.kind.name().to_owned(),
                outer_proto: t.outer_protocol,
                outer_src: t.outer_src,
                outer_dst: t.outer_dst,
                parent_uid: t.outer_flow.map(|f| self.uid(f.0)),
            }),
        }
    }

    /// A DNS transaction's row.
    pub fn dns_row(&self, tx: &DnsTransaction) -> DnsRow {
        DnsRow {
            ts_us: tx.ts_us,
            flow_uid: Some(self.uid(tx.flow_ref)),
            app_uid: None,
            client: tx.client,
            server: tx.server,
            transport: if tx.transport == DnsTransport::Tcp {
                "tcp"
            } else {
                "udp"
            }
            .to_owned(),
            id: tx.id,
            query: tx.query.clone().unwrap_or_default(),
            qtype: tx.qtype.unwrap_or(0),
            qclass: tx.qclass.unwrap_or(0),
            rcode: tx.rcode,
            rcode_name: tx.rcode_name().map(str::to_owned),
            answers: tx.answers.clone(),
            ttls: tx.ttls.clone(),
            rtt_us: tx.rtt_us,
            answered: tx.answered,
            query_too_long: tx.query_too_long,
        }
    }

    /// Flows with details waiting.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Details dropped at the cap.
    pub fn details_shed(&self) -> u64 {
        self.details_shed
    }
}

/// Zeek-style spelling of why a flow ended.
pub fn end_reason(e: EndReason) -> &'static str {
    match e {
        EndReason::Closed => "closed",
        EndReason::IdleTimeout => "idle_timeout",
        EndReason::Evicted => "evicted",
        EndReason::Reused => "reused",
        EndReason::Flushed => "flushed",
    }
}
