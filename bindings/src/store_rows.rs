//! Engine records → store rows, on the way to the writer thread.
//!
//! A flow's hello and HTTP details arrive as separate events before the flow completes; they
//! wait in a bounded map keyed by flow id and join the flow's row when it is written. Engine
//! flow ids restart at zero with every engine, while the store keys flows by id across
//! restarts, so ids are offset past the highest id already stored.

use std::collections::HashMap;
use std::time::Duration;

use nightjar_engine::{DnsTransaction, FlowRecord, HelloRecord, HttpRecord};
use nightjar_store::engine_rows::{self, EngineRows};
use nightjar_store::{AlertRow, AppRow, Record, RecordSender, StoreWriter, WriterStatus};

use crate::records::AppInfo;

/// Flows whose details are held at most; past it the oldest flow's details are dropped (its
/// row is still written, without them) and counted.
pub(crate) const MAX_PENDING: usize = 16_384;

/// The writer plus the shared row builder.
///
/// Rows go through a [`RecordSender`] rather than the [`StoreWriter`] itself, so a writer
/// thread that ended behind our back shows up as sends refused with "closed"
/// ([`StoreSink::writer_gone`]) and a new writer can be swapped in while the row builder (its
/// id offset and the details waiting for their flows) stays.
#[derive(Debug)]
pub(crate) struct StoreSink {
    writer: Option<StoreWriter>,
    tx: RecordSender,
    rows: EngineRows,
}

impl StoreSink {
    /// A sink writing through `writer`; flow ids are shifted by `id_offset`. None if the writer
    /// was already shut down.
    pub(crate) fn new(writer: StoreWriter, id_offset: u64, salt: u64) -> Option<Self> {
        Some(StoreSink {
            tx: writer.sender()?,
            writer: Some(writer),
            rows: EngineRows::new(id_offset, salt, MAX_PENDING),
        })
    }

    /// Writes through `writer` from now on (the old writer, if any, is the caller's to stop).
    /// Returns false, keeping the old one, if `writer` was already shut down.
    pub(crate) fn replace_writer(&mut self, writer: StoreWriter) -> bool {
        let Some(tx) = writer.sender() else {
            return false;
        };
        self.tx = tx;
        self.writer = Some(writer);
        true
    }

    /// Takes the writer out (to stop it without holding the engine lock). Rows sent meanwhile
    /// are counted as dropped (closed) once its thread ends.
    pub(crate) fn take_writer(&mut self) -> Option<StoreWriter> {
        self.writer.take()
    }

    /// The writer thread has ended: a send was refused because its queue is closed. (A writer
    /// that died with nothing sent since has lost nothing yet.)
    pub(crate) fn writer_gone(&self) -> bool {
        self.tx.status().dropped_closed > 0
    }

    /// A completed flow: its row, with any details waiting for it.
    pub(crate) fn flow(&mut self, r: &FlowRecord, apps: &HashMap<u32, AppInfo>) {
        let app_name = r
            .app
            .and_then(|a| apps.get(&a.0))
            .map(|a| a.package.clone());
        // A full queue drops the row and the writer counts it: the packet path never waits.
        let row = self.rows.flow_row(r, app_name);
        let seen = engine_rows::sighting(&row);
        self.tx.flow(row);
        if let Some(d) = seen {
            self.tx.send(Record::Domain(d));
        }
    }

    /// A DNS transaction.
    pub(crate) fn dns(&mut self, tx: &DnsTransaction) {
        self.tx.dns(self.rows.dns_row(tx));
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
        self.tx.send(Record::App(app_row(a)));
    }

    /// The row of a detector's alert, its flows named by their stored uids.
    pub(crate) fn alert_row(&self, a: &nightjar_detect::Alert) -> AlertRow {
        self.rows.alert_row(a)
    }

    /// An alert.
    pub(crate) fn alert(&self, a: AlertRow) {
        self.tx.alert(a);
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
        self.tx.status()
    }

    /// Waits (up to `timeout`) until everything queued so far is committed.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        self.writer.as_ref().is_some_and(|w| w.flush(timeout))
    }

    /// Commits what is queued and stops the writer thread.
    pub(crate) fn finish(self) -> WriterStatus {
        match self.writer {
            Some(w) => w.shutdown(),
            None => self.tx.status(),
        }
    }
}

/// The store's row for an inventory entry.
pub(crate) fn app_row(a: &AppInfo) -> AppRow {
    AppRow {
        uid: a.uid,
        package: a.package.clone(),
        label: a.label.clone(),
        installed_us: a.installed_us,
        updated_us: a.updated_us,
    }
}
