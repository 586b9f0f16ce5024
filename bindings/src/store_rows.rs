//! Engine records → store rows, on the way to the writer thread.
//!
//! A flow's hello and HTTP details arrive as separate events before the flow completes; they
//! wait in a bounded map keyed by flow id and join the flow's row when it is written. Engine
//! flow ids restart at zero with every engine, while the store keys flows by id across
//! restarts, so ids are offset past the highest id already stored.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use nightjar_engine::{
    DnsTransaction, DnsTransport, EndReason, FlowId, FlowRecord, HelloRecord, HttpRecord, uid_for,
};
use nightjar_store::{AlertRow, AppRow, DnsRow, FlowRow, Record, StoreWriter, WriterStatus};

use crate::records::AppInfo;

/// Flows whose details are held at most; past it the oldest flow's details are dropped (its
/// row is still written, without them) and counted.
pub(crate) const MAX_PENDING: usize = 16_384;

/// Details of a flow seen before it completes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Details {
    sni: Option<String>,
    alpn: Option<String>,
    ja4: Option<String>,
    http_host: Option<String>,
}

/// The writer plus what is needed to build rows.
#[derive(Debug)]
pub(crate) struct StoreSink {
    writer: StoreWriter,
    id_offset: u64,
    salt: u64,
    // Flow ids grow, so the first key is the oldest flow: eviction is `pop_first`.
    pending: BTreeMap<FlowId, Details>,
    details_shed: u64,
}

impl StoreSink {
    /// A sink writing through `writer`; flow ids are shifted by `id_offset`.
    pub(crate) fn new(writer: StoreWriter, id_offset: u64, salt: u64) -> Self {
        StoreSink {
            writer,
            id_offset,
            salt,
            pending: BTreeMap::new(),
            details_shed: 0,
        }
    }

    fn uid(&self, id: u64) -> String {
        uid_for(FlowId(id.wrapping_add(self.id_offset)), self.salt)
    }

    fn details(&mut self, id: FlowId) -> &mut Details {
        if self.pending.len() >= MAX_PENDING
            && !self.pending.contains_key(&id)
            && self.pending.pop_first().is_some()
        {
            self.details_shed += 1;
        }
        self.pending.entry(id).or_default()
    }

    /// A completed flow: its row, with any details waiting for it.
    pub(crate) fn flow(&mut self, r: &FlowRecord, apps: &HashMap<u32, AppInfo>) {
        let d = self.pending.remove(&r.id).unwrap_or_default();
        let row = FlowRow {
            id: r.id.0.wrapping_add(self.id_offset),
            uid: self.uid(r.id.0),
            app_uid: r.app.map(|a| a.0),
            app_name: r
                .app
                .and_then(|a| apps.get(&a.0))
                .map(|a| a.package.clone()),
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
        };
        // A full queue drops the row and the writer counts it: the packet path never waits.
        self.writer.flow(row);
    }

    /// A DNS transaction.
    pub(crate) fn dns(&mut self, tx: &DnsTransaction) {
        let row = DnsRow {
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
        };
        self.writer.dns(row);
    }

    /// A ClientHello: held until its flow completes.
    pub(crate) fn hello(&mut self, h: &HelloRecord) {
        let d = self.details(h.flow);
        d.sni.clone_from(&h.server_name);
        d.alpn = h.alpn.first().cloned();
        d.ja4 = Some(h.ja4.clone());
    }

    /// An HTTP request head: the first Host is held until its flow completes.
    pub(crate) fn http(&mut self, r: &HttpRecord) {
        let d = self.details(r.flow);
        if d.http_host.is_none() {
            d.http_host.clone_from(&r.host);
        }
    }

    /// An inventory entry.
    pub(crate) fn app(&self, a: &AppInfo) {
        self.writer.send(Record::App(AppRow {
            uid: a.uid,
            package: a.package.clone(),
            label: a.label.clone(),
            installed_us: a.installed_us,
            updated_us: a.updated_us,
        }));
    }

    /// An alert.
    pub(crate) fn alert(&self, a: AlertRow) {
        self.writer.alert(a);
    }

    /// Flows with details waiting.
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Details dropped at the cap.
    pub(crate) fn details_shed(&self) -> u64 {
        self.details_shed
    }

    /// The writer's counters.
    pub(crate) fn status(&self) -> WriterStatus {
        self.writer.status()
    }

    /// Waits (up to `timeout`) until everything queued so far is committed.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        self.writer.flush(timeout)
    }

    /// Commits what is queued and stops the writer thread.
    pub(crate) fn finish(self) -> WriterStatus {
        self.writer.shutdown()
    }
}

fn end_reason(e: EndReason) -> &'static str {
    match e {
        EndReason::Closed => "closed",
        EndReason::IdleTimeout => "idle_timeout",
        EndReason::Evicted => "evicted",
        EndReason::Reused => "reused",
        EndReason::Flushed => "flushed",
    }
}
