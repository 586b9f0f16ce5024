//! `--db`: completed flows and DNS transactions go to the SQLite store through
//! its writer thread. Rows are built by the store's shared `EngineRows`, which
//! joins hello and HTTP details into the flow row by flow id.

use std::path::Path;

use nightjar_capture::{PacketRing, RingConfig, RingStats};
use nightjar_detect::Alert;
use nightjar_engine::{DnsTransaction, FlowRecord, HelloRecord, HttpRecord};
use nightjar_store::engine_rows::{self, EngineRows};
use nightjar_store::{AppRow, Record, Store, StoreConfig, StoreWriter, WriterStatus};

use crate::error::CliError;
use crate::replay::{AppNames, RecordSink};

/// Flows whose details are held at most (see `EngineRows`).
const MAX_PENDING: usize = 65_536;

/// A sink that writes to the store.
pub struct StoreSink<'a> {
    writer: StoreWriter,
    store: Store,
    apps: &'a AppNames,
    rows: EngineRows,
    /// Recent packets by flow, when `--packet-ring` asked for them.
    ring: Option<PacketRing>,
    alerts_dropped: u64,
}

impl std::fmt::Debug for StoreSink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSink")
            .field("rows", &self.rows)
            .finish()
    }
}

impl<'a> StoreSink<'a> {
    /// Open (or create) the database at `path`. Flow ids continue past the
    /// highest already stored, so replaying into an existing database adds.
    pub fn open(path: &Path, apps: &'a AppNames, salt: u64) -> Result<Self, CliError> {
        Self::open_with(path, apps, salt, StoreConfig::default())
    }

    /// [`open`](Self::open) with a store configuration (`nightjar memory` uses the phone one).
    pub fn open_with(
        path: &Path,
        apps: &'a AppNames,
        salt: u64,
        config: StoreConfig,
    ) -> Result<Self, CliError> {
        let (store, writer) = Store::open(path, config)?;
        let offset = store.max_flow_id()?.map_or(0, |m| m.saturating_add(1));
        Ok(StoreSink {
            writer,
            store,
            apps,
            rows: EngineRows::new(offset, salt, MAX_PENDING),
            ring: None,
            alerts_dropped: 0,
        })
    }

    /// Keep recent packets in a ring of `bytes` so that an alert saves the
    /// packets of its flows (`export --format pcap`). Off unless called.
    pub fn with_packet_ring(mut self, bytes: usize) -> Self {
        self.ring = Some(PacketRing::new(RingConfig::with_bytes(bytes)));
        self
    }

    /// The packet ring's counters, when there is one.
    pub fn ring_stats(&self) -> Option<RingStats> {
        self.ring.as_ref().map(PacketRing::stats)
    }

    /// Alerts the writer's full queue dropped.
    pub fn alerts_dropped(&self) -> u64 {
        self.alerts_dropped
    }

    /// Record the app inventory.
    pub fn apps(&self, rows: impl IntoIterator<Item = AppRow>) {
        for row in rows {
            self.writer.send(nightjar_store::Record::App(row));
        }
    }

    /// Saves the packets a packet ring still held for engine flow `flow`,
    /// because an alert was raised for it: they go through the writer (never
    /// waiting; a full queue drops and counts them) under the flow's uid, the
    /// one its alert lists, and `export --format pcap` writes them.
    /// Returns whether they were queued.
    pub fn alert_packets(
        &self,
        flow: nightjar_engine::FlowId,
        packets: Vec<nightjar_capture::RingPacket>,
    ) -> bool {
        if packets.is_empty() {
            return true;
        }
        let rec = nightjar_store::FlowPackets::from_ring(self.rows.flow_uid(flow), packets);
        self.writer
            .send(nightjar_store::Record::Packets(Box::new(rec)))
    }

    /// Details dropped because too many flows were pending.
    pub fn details_shed(&self) -> u64 {
        self.rows.details_shed()
    }

    /// Flush everything queued and stop the writer.
    pub fn finish(self) -> (Store, WriterStatus) {
        let status = self.writer.shutdown();
        (self.store, status)
    }
}

impl RecordSink for StoreSink<'_> {
    fn flow(&mut self, r: &FlowRecord) -> Result<(), CliError> {
        let app_name = r.app.and_then(|a| self.apps.get(&a.0)).cloned();
        // A full queue drops the row and the writer counts it; replay never waits.
        let row = self.rows.flow_row(r, app_name);
        let seen = engine_rows::sighting(&row);
        self.writer.flow(row);
        if let Some(d) = seen {
            self.writer.send(Record::Domain(d));
        }
        Ok(())
    }
    fn dns(&mut self, tx: &DnsTransaction) -> Result<(), CliError> {
        self.writer.dns(self.rows.dns_row(tx));
        Ok(())
    }
    fn hello(&mut self, h: &HelloRecord) -> Result<(), CliError> {
        self.rows.hello(h);
        Ok(())
    }
    fn http(&mut self, r: &HttpRecord) -> Result<(), CliError> {
        self.rows.http(r);
        Ok(())
    }
    fn alert(&mut self, a: &Alert) -> Result<(), CliError> {
        if !self.writer.alert(self.rows.alert_row(a)) {
            self.alerts_dropped += 1;
        }
        for &flow in &a.flow_ids {
            let packets = match &mut self.ring {
                Some(ring) => ring.take(flow),
                None => break,
            };
            self.alert_packets(nightjar_engine::FlowId(flow), packets);
        }
        Ok(())
    }
    fn packet(&mut self, flow: u64, ts_us: u64, ip: &[u8]) {
        if let Some(ring) = &mut self.ring {
            ring.push(flow, ts_us, ip);
        }
    }
}
