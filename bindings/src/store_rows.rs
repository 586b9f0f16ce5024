//! Engine records → store rows, on the way to the writer thread.
//!
//! A flow's hello and HTTP details arrive as separate events before the flow completes; they
//! wait in a bounded map keyed by flow id and join the flow's row when it is written. Engine
//! flow ids restart at zero with every engine, while the store keys flows by id across
//! restarts, so ids are offset past the highest id already stored.

use std::collections::HashMap;
use std::time::Duration;

use nightjar_engine::{DnsTransaction, FlowRecord, HelloRecord, HttpRecord};
use nightjar_store::engine_rows::EngineRows;
use nightjar_store::{AlertRow, AppRow, Record, StoreWriter, WriterStatus};

use crate::records::AppInfo;

/// Flows whose details are held at most; past it the oldest flow's details are dropped (its
/// row is still written, without them) and counted.
pub(crate) const MAX_PENDING: usize = 16_384;

/// The writer plus the shared row builder.
#[derive(Debug)]
pub(crate) struct StoreSink {
    writer: StoreWriter,
    rows: EngineRows,
}

impl StoreSink {
    /// A sink writing through `writer`; flow ids are shifted by `id_offset`.
    pub(crate) fn new(writer: StoreWriter, id_offset: u64, salt: u64) -> Self {
        StoreSink {
            writer,
            rows: EngineRows::new(id_offset, salt, MAX_PENDING),
        }
    }

    /// A completed flow: its row, with any details waiting for it.
    pub(crate) fn flow(&mut self, r: &FlowRecord, apps: &HashMap<u32, AppInfo>) {
        let app_name = r
            .app
            .and_then(|a| apps.get(&a.0))
            .map(|a| a.package.clone());
        // A full queue drops the row and the writer counts it: the packet path never waits.
        self.writer.flow(self.rows.flow_row(r, app_name));
    }

    /// A DNS transaction.
    pub(crate) fn dns(&mut self, tx: &DnsTransaction) {
        self.writer.dns(self.rows.dns_row(tx));
    }

    /// A ClientHello: held until its flow completes.
    pub(crate) fn hello(&mut self, h: &HelloRecord) {
        self.rows.hello(h);
    }

    /// An HTTP request head: the first Host is held until its flow completes.
    pub(crate) fn http(&mut self, r: &HttpRecord) {
        self.rows.http(r);
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
        self.rows.pending()
    }

    /// Details dropped at the cap.
    pub(crate) fn details_shed(&self) -> u64 {
        self.rows.details_shed()
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
