//! `--db`: completed flows and DNS transactions go to the SQLite store through
//! its writer thread. Hello and HTTP details arrive before their flow
//! completes and are joined into the flow row by flow id.

use std::collections::HashMap;
use std::path::Path;

use nightjar_engine::{
    DnsTransaction, DnsTransport, FlowId, FlowRecord, HelloRecord, HttpRecord, uid_for,
};
use nightjar_store::{AppRow, DnsRow, FlowRow, Store, StoreConfig, StoreWriter, WriterStatus};

use crate::error::CliError;
use crate::replay::{AppNames, RecordSink};

/// Details of a flow seen before it completes.
#[derive(Debug, Default)]
struct Pending {
    sni: Option<String>,
    alpn: Option<String>,
    ja4: Option<String>,
    http_host: Option<String>,
}

/// Flows whose details are held at most; past it the oldest details are
/// dropped (the flow row is still written, without them) and counted.
const MAX_PENDING: usize = 65_536;

/// A sink that writes to the store.
pub struct StoreSink<'a> {
    writer: StoreWriter,
    store: Store,
    apps: &'a AppNames,
    salt: u64,
    pending: HashMap<FlowId, Pending>,
    /// Details dropped because too many flows were pending.
    pub details_shed: u64,
}

impl std::fmt::Debug for StoreSink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSink")
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl<'a> StoreSink<'a> {
    /// Open (or create) the database at `path`.
    pub fn open(path: &Path, apps: &'a AppNames, salt: u64) -> Result<Self, CliError> {
        let (store, writer) = Store::open(path, StoreConfig::default())?;
        Ok(StoreSink {
            writer,
            store,
            apps,
            salt,
            pending: HashMap::new(),
            details_shed: 0,
        })
    }

    /// Record the app inventory.
    pub fn apps(&self, rows: impl IntoIterator<Item = AppRow>) {
        for row in rows {
            self.writer.send(nightjar_store::Record::App(row));
        }
    }

    /// Flush everything queued and stop the writer.
    pub fn finish(self) -> (Store, WriterStatus) {
        let status = self.writer.shutdown();
        (self.store, status)
    }

    fn details(&mut self, id: FlowId) -> &mut Pending {
        if self.pending.len() >= MAX_PENDING
            && !self.pending.contains_key(&id)
            && let Some(oldest) = self.pending.keys().min().copied()
        {
            self.pending.remove(&oldest);
            self.details_shed += 1;
        }
        self.pending.entry(id).or_default()
    }
}

/// The store row for a completed flow.
pub fn flow_row(r: &FlowRecord, salt: u64, apps: &AppNames) -> FlowRow {
    FlowRow {
        id: r.id.0,
        uid: r.uid(salt),
        app_uid: r.app.map(|a| a.0),
        app_name: r.app.and_then(|a| apps.get(&a.0)).cloned(),
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
        conn_state: r.conn_state().as_str().to_string(),
        community_id: r.community_id(0),
        name: r.name.as_deref().map(str::to_string),
        name_source: r.name_source.map(|s| s.as_str().to_string()),
        sni: None,
        alpn: None,
        ja4: None,
        http_host: None,
        ech: r.ech,
        end_reason: serde_json::to_value(r.end)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
    }
}

/// The store row for a DNS transaction.
pub fn dns_row(tx: &DnsTransaction, salt: u64) -> DnsRow {
    DnsRow {
        ts_us: tx.ts_us,
        flow_uid: Some(uid_for(FlowId(tx.flow_ref), salt)),
        app_uid: None,
        client: tx.client,
        server: tx.server,
        transport: if tx.transport == DnsTransport::Tcp {
            "tcp"
        } else {
            "udp"
        }
        .to_string(),
        id: tx.id,
        query: tx.query.clone().unwrap_or_default(),
        qtype: tx.qtype.unwrap_or(0),
        qclass: tx.qclass.unwrap_or(0),
        rcode: tx.rcode,
        rcode_name: tx.rcode_name().map(str::to_string),
        answers: tx.answers.clone(),
        ttls: tx.ttls.clone(),
        rtt_us: tx.rtt_us,
        answered: tx.answered,
    }
}

impl RecordSink for StoreSink<'_> {
    fn flow(&mut self, r: &FlowRecord) -> Result<(), CliError> {
        let mut row = flow_row(r, self.salt, self.apps);
        if let Some(p) = self.pending.remove(&r.id) {
            row.sni = p.sni;
            row.alpn = p.alpn;
            row.ja4 = p.ja4;
            row.http_host = p.http_host;
        }
        // A full queue drops the row and the writer counts it; replay never waits.
        self.writer.flow(row);
        Ok(())
    }
    fn dns(&mut self, tx: &DnsTransaction) -> Result<(), CliError> {
        self.writer.dns(dns_row(tx, self.salt));
        Ok(())
    }
    fn hello(&mut self, h: &HelloRecord) -> Result<(), CliError> {
        let d = self.details(h.flow);
        d.sni = h.server_name.clone();
        d.alpn = h.alpn.first().cloned();
        d.ja4 = Some(h.ja4.clone());
        Ok(())
    }
    fn http(&mut self, r: &HttpRecord) -> Result<(), CliError> {
        let d = self.details(r.flow);
        if d.http_host.is_none() {
            d.http_host = r.host.clone();
        }
        Ok(())
    }
}
