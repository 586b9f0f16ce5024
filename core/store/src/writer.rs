//! The batching writer: a bounded queue in front of one thread that owns the
//! write connection.
//!
//! The packet path only ever calls [`RecordSender::send`], which is a
//! `try_send` plus an atomic increment: when the queue is full the record is
//! dropped and counted, never waited for. The thread commits a batch when it
//! holds `batch_rows` records or `commit_interval` has passed. A failed commit
//! (disk full, database locked, corrupt file) keeps the batch, counts the
//! fault and retries with backoff, reopening the connection when the fault is
//! not a lock; rows held across failures are capped and the oldest shed.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, TransactionBehavior};
use serde::Serialize;

use crate::codec::{FlowInserter, insert_record, trim_packets, upsert_domain};
use crate::error::{Result, StoreError};
use crate::retention::{Clock, RetentionPolicy, SystemClock, step as retention_step};
use crate::rows::{AlertRow, DnsRow, DomainSeen, FlowRow, Record};
use crate::schema::{open_connection, reverse_name};

/// What the writer reports after each successful commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitInfo {
    /// 1-based sequence number of the committed batch.
    pub batch: u64,
    /// Records in this batch.
    pub rows: u64,
    /// Records committed since the writer started, this batch included.
    pub total_rows: u64,
}

/// Called on the writer thread after each commit; keep it short.
pub type CommitCallback = Arc<dyn Fn(&CommitInfo) + Send + Sync>;

/// Writer and connection settings.
#[derive(Clone)]
pub struct StoreConfig {
    /// Records the queue holds before `send` starts dropping.
    pub queue_capacity: usize,
    /// Commit once this many records are waiting. Larger batches amortise
    /// the commit and the index pages each one rewrites; half the default
    /// queue, so senders keep filling it while a batch is written.
    pub batch_rows: usize,
    /// Commit at least this often while records are waiting.
    pub commit_interval: Duration,
    /// How long one statement waits on another connection's lock.
    pub busy_timeout: Duration,
    /// SQLite page cache per connection, KiB (the writer's and the reader's each).
    pub cache_kib: u32,
    /// Records kept across failing commits; older ones are shed and counted.
    pub max_pending_rows: usize,
    /// Longest wait between retries after a failed commit.
    pub max_retry_backoff: Duration,
    /// Optional commit notification.
    pub on_commit: Option<CommitCallback>,
    /// Retention the writer thread applies in small steps between batches.
    pub retention: Option<RetentionPolicy>,
    /// How often the writer runs one retention step.
    pub retention_interval: Duration,
    /// Time source for retention.
    pub clock: Arc<dyn Clock + Send + Sync>,
    /// Packet bytes of alerted flows kept ([`Record::Packets`]); past it the
    /// oldest packets are deleted and counted in `WriterStatus::packets_shed`.
    pub max_packet_bytes: u64,
    /// Flows per partition table before the writer starts the next one
    /// ([`crate::flow_parts`]): small enough that the partition's name and
    /// address index leaves stay in `cache_kib`, large enough that queries
    /// merge few partitions.
    pub flow_partition_rows: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 65_536,
            batch_rows: 32_768,
            commit_interval: Duration::from_secs(1),
            busy_timeout: Duration::from_millis(500),
            cache_kib: crate::schema::CACHE_KIB,
            max_pending_rows: 200_000,
            max_retry_backoff: Duration::from_secs(2),
            on_commit: None,
            retention: None,
            retention_interval: Duration::from_secs(10),
            clock: Arc::new(SystemClock),
            max_packet_bytes: 16 * 1024 * 1024,
            flow_partition_rows: crate::flow_parts::DEFAULT_PART_ROWS,
        }
    }
}

impl StoreConfig {
    /// Sized for a phone's packet tunnel (iOS kills one at 50 MiB): a 1,024-row batch, a
    /// 4,096-record queue, at most 16,384 records held across failing commits, a 2 MiB
    /// page cache per connection and 131,072-flow partitions, so the store stays a few megabytes instead of the desktop
    /// defaults' tens.
    /// Mobile hosts (the bindings) use this; the rest is as [`StoreConfig::default`].
    pub fn phone() -> Self {
        Self {
            queue_capacity: 4_096,
            batch_rows: 1_024,
            max_pending_rows: 16_384,
            // SQLite's own default: the writer re-reads index pages more often, which costs
            // time per batch, not memory the tunnel cannot spare.
            cache_kib: 2 * 1024,
            // A phone writes tens of flows a second, not thousands: partitions
            // this size keep a year of flows to a few dozen view arms.
            flow_partition_rows: 131_072,
            ..Self::default()
        }
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("queue_capacity", &self.queue_capacity)
            .field("batch_rows", &self.batch_rows)
            .field("commit_interval", &self.commit_interval)
            .field("busy_timeout", &self.busy_timeout)
            .field("cache_kib", &self.cache_kib)
            .field("max_pending_rows", &self.max_pending_rows)
            .field("max_retry_backoff", &self.max_retry_backoff)
            .field("on_commit", &self.on_commit.is_some())
            .field("retention", &self.retention)
            .field("retention_interval", &self.retention_interval)
            .field("max_packet_bytes", &self.max_packet_bytes)
            .field("flow_partition_rows", &self.flow_partition_rows)
            .finish_non_exhaustive()
    }
}

/// Class of the last write failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FaultKind {
    /// Another connection holds the lock.
    Busy,
    /// The disk is full.
    DiskFull,
    /// The file or directory is read-only.
    ReadOnly,
    /// The file is damaged or not a database.
    Corrupt,
    /// The file could not be opened.
    CannotOpen,
    /// Disk I/O error.
    Io,
    /// Anything else.
    Other,
}

impl FaultKind {
    fn of(err: &StoreError) -> Self {
        let code = match err {
            StoreError::Sqlite(e) | StoreError::Open { source: e, .. } => e.sqlite_error_code(),
            _ => None,
        };
        match code {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => FaultKind::Busy,
            Some(ErrorCode::DiskFull) => FaultKind::DiskFull,
            Some(ErrorCode::ReadOnly) => FaultKind::ReadOnly,
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => FaultKind::Corrupt,
            Some(ErrorCode::CannotOpen) => FaultKind::CannotOpen,
            Some(ErrorCode::SystemIoFailure) => FaultKind::Io,
            _ => FaultKind::Other,
        }
    }
}

/// A snapshot of the writer's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct WriterStatus {
    /// Records accepted into the queue.
    pub accepted: u64,
    /// Records dropped because the queue was full.
    pub dropped_full: u64,
    /// Records dropped because the writer had shut down.
    pub dropped_closed: u64,
    /// Records shed after commits kept failing (pending cap or shutdown).
    pub dropped_error: u64,
    /// Records committed.
    pub committed_rows: u64,
    /// Batches committed.
    pub committed_batches: u64,
    /// Failed commit attempts.
    pub write_errors: u64,
    /// Failed attempts since the last success (0 = healthy).
    pub consecutive_failures: u64,
    /// Class of the most recent failure, cleared by the next success.
    pub last_fault: Option<FaultKind>,
    /// Rows deleted by retention steps run on the writer thread.
    pub retention_deleted: u64,
    /// Stored packets of alerted flows deleted to stay within
    /// `StoreConfig::max_packet_bytes`.
    pub packets_shed: u64,
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    flush: AtomicBool,
    accepted: AtomicU64,
    dropped_full: AtomicU64,
    dropped_closed: AtomicU64,
    dropped_error: AtomicU64,
    committed_rows: AtomicU64,
    committed_batches: AtomicU64,
    write_errors: AtomicU64,
    consecutive_failures: AtomicU64,
    retention_deleted: AtomicU64,
    packets_shed: AtomicU64,
    last_fault: Mutex<Option<FaultKind>>,
}

impl Shared {
    fn set_fault(&self, f: Option<FaultKind>) {
        let mut g = self.last_fault.lock().unwrap_or_else(|e| e.into_inner());
        *g = f;
    }

    fn status(&self) -> WriterStatus {
        let last_fault = *self.last_fault.lock().unwrap_or_else(|e| e.into_inner());
        WriterStatus {
            accepted: self.accepted.load(Ordering::Relaxed),
            dropped_full: self.dropped_full.load(Ordering::Relaxed),
            dropped_closed: self.dropped_closed.load(Ordering::Relaxed),
            dropped_error: self.dropped_error.load(Ordering::Relaxed),
            committed_rows: self.committed_rows.load(Ordering::Relaxed),
            committed_batches: self.committed_batches.load(Ordering::Relaxed),
            write_errors: self.write_errors.load(Ordering::Relaxed),
            consecutive_failures: self.consecutive_failures.load(Ordering::Relaxed),
            last_fault,
            retention_deleted: self.retention_deleted.load(Ordering::Relaxed),
            packets_shed: self.packets_shed.load(Ordering::Relaxed),
        }
    }
}

/// A cheap, cloneable handle for submitting records from any thread.
#[derive(Debug, Clone)]
pub struct RecordSender {
    tx: SyncSender<Record>,
    shared: Arc<Shared>,
}

impl RecordSender {
    /// Queues a record without waiting. Returns `false` (and counts the drop)
    /// when the queue is full or the writer has stopped.
    pub fn send(&self, rec: Record) -> bool {
        match self.tx.try_send(rec) {
            Ok(()) => {
                self.shared.accepted.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(_)) => {
                self.shared.dropped_full.fetch_add(1, Ordering::Relaxed);
                false
            }
            Err(TrySendError::Disconnected(_)) => {
                self.shared.dropped_closed.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Queues a record without waiting, handing it back instead of dropping
    /// it when the queue is full or the writer has stopped. Nothing is
    /// counted as dropped: the caller still holds the record and decides
    /// (retry later, or give up through [`RecordSender::send`]).
    pub fn try_send(&self, rec: Record) -> std::result::Result<(), TrySendError<Record>> {
        self.tx.try_send(rec)?;
        self.shared.accepted.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Queues a flow; see [`RecordSender::send`].
    pub fn flow(&self, row: FlowRow) -> bool {
        self.send(Record::Flow(Box::new(row)))
    }

    /// Queues a DNS transaction; see [`RecordSender::send`].
    pub fn dns(&self, row: DnsRow) -> bool {
        self.send(Record::Dns(Box::new(row)))
    }

    /// Queues an alert; see [`RecordSender::send`].
    pub fn alert(&self, row: AlertRow) -> bool {
        self.send(Record::Alert(Box::new(row)))
    }

    /// Current counters.
    pub fn status(&self) -> WriterStatus {
        self.shared.status()
    }
}

/// Owner of the writer thread. Dropping it (or calling
/// [`StoreWriter::shutdown`]) commits everything queued and joins the thread.
#[derive(Debug)]
pub struct StoreWriter {
    sender: Option<RecordSender>,
    shared: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
}

impl StoreWriter {
    pub(crate) fn start(path: &Path, config: StoreConfig) -> Result<Self> {
        let conn = open_connection(path, config.busy_timeout, config.cache_kib)?;
        let (tx, rx) = sync_channel(config.queue_capacity.max(1));
        let shared = Arc::new(Shared::default());
        let worker = Worker {
            path: path.to_path_buf(),
            conn: Some(conn),
            shared: Arc::clone(&shared),
            pending: VecDeque::new(),
            backoff: Duration::ZERO,
            retry_at: None,
            last_commit: Instant::now(),
            last_retention: None,
            config,
        };
        let handle = std::thread::Builder::new()
            .name("nightjar-store".into())
            .spawn(move || worker.run(rx))
            .map_err(StoreError::Spawn)?;
        Ok(Self {
            sender: Some(RecordSender {
                tx,
                shared: Arc::clone(&shared),
            }),
            shared,
            handle: Some(handle),
        })
    }

    /// A cloneable sender for other threads.
    pub fn sender(&self) -> Option<RecordSender> {
        self.sender.clone()
    }

    /// Queues a record without waiting; see [`RecordSender::send`].
    pub fn send(&self, rec: Record) -> bool {
        match &self.sender {
            Some(s) => s.send(rec),
            None => {
                self.shared.dropped_closed.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Queues a flow.
    pub fn flow(&self, row: FlowRow) -> bool {
        self.send(Record::Flow(Box::new(row)))
    }

    /// Queues a DNS transaction.
    pub fn dns(&self, row: DnsRow) -> bool {
        self.send(Record::Dns(Box::new(row)))
    }

    /// Queues an alert.
    pub fn alert(&self, row: AlertRow) -> bool {
        self.send(Record::Alert(Box::new(row)))
    }

    /// Current counters.
    pub fn status(&self) -> WriterStatus {
        self.shared.status()
    }

    /// Asks the thread to commit now and waits until every record accepted so
    /// far is committed or shed, or `timeout` passes. Returns whether it got
    /// there. Not for the packet path (it waits); for app backgrounding/tests.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.shared.flush.store(true, Ordering::Release);
        loop {
            let s = self.shared.status();
            if s.committed_rows + s.dropped_error >= s.accepted {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Commits everything queued, stops the thread and returns the final counters.
    pub fn shutdown(mut self) -> WriterStatus {
        self.stop_and_join();
        self.shared.status()
    }

    fn stop_and_join(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.sender = None;
        if let Some(h) = self.handle.take()
            && h.join().is_err()
        {
            log::error!("store writer thread panicked");
        }
    }
}

impl Drop for StoreWriter {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// How often the thread wakes to check the stop/flush flags while idle.
const POLL: Duration = Duration::from_millis(20);
/// Commit attempts made at shutdown before giving up on a failing database.
const SHUTDOWN_ATTEMPTS: u32 = 5;

struct Worker {
    path: PathBuf,
    conn: Option<Connection>,
    shared: Arc<Shared>,
    pending: VecDeque<Record>,
    backoff: Duration,
    retry_at: Option<Instant>,
    last_commit: Instant,
    last_retention: Option<Instant>,
    config: StoreConfig,
}

impl Worker {
    fn run(mut self, rx: Receiver<Record>) {
        let batch = self.config.batch_rows.max(1);
        loop {
            let mut stopping = self.shared.stop.load(Ordering::Acquire);
            if !stopping {
                let wait = POLL.min(self.config.commit_interval);
                match rx.recv_timeout(wait) {
                    Ok(r) => {
                        self.push(r);
                        while self.pending.len() < batch {
                            match rx.try_recv() {
                                Ok(r) => self.push(r),
                                Err(_) => break,
                            }
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => stopping = true,
                }
            }
            if stopping {
                self.finish(&rx);
                return;
            }
            let flush = self.shared.flush.swap(false, Ordering::AcqRel);
            let due = self.pending.len() >= batch
                || self.last_commit.elapsed() >= self.config.commit_interval
                || flush;
            let may_retry = self.retry_at.is_none_or(|t| Instant::now() >= t) || flush;
            if due && may_retry && !self.pending.is_empty() {
                self.commit();
            }
            self.maybe_retention();
        }
    }

    fn push(&mut self, r: Record) {
        self.pending.push_back(r);
        if self.pending.len() > self.config.max_pending_rows.max(1) {
            self.pending.pop_front();
            self.shared.dropped_error.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Drains the queue and commits it, retrying a failing database a few
    /// times; what still cannot be written is counted as shed.
    fn finish(&mut self, rx: &Receiver<Record>) {
        while let Ok(r) = rx.try_recv() {
            self.push(r);
        }
        let mut attempts = 0;
        while !self.pending.is_empty() && attempts < SHUTDOWN_ATTEMPTS {
            if !self.commit() {
                attempts += 1;
                std::thread::sleep(self.backoff.min(Duration::from_millis(200)));
            }
        }
        let lost = u64::try_from(self.pending.len()).unwrap_or(u64::MAX);
        self.shared.dropped_error.fetch_add(lost, Ordering::Relaxed);
        self.pending.clear();
        // Records a cloned sender queued after the drain above: the receiver
        // is about to go away, so they will never be written.
        let mut stragglers = 0u64;
        while rx.try_recv().is_ok() {
            stragglers += 1;
        }
        self.shared
            .dropped_closed
            .fetch_add(stragglers, Ordering::Relaxed);
    }

    fn write_pending(&mut self) -> Result<u64> {
        if self.conn.is_none() {
            self.conn = Some(open_connection(
                &self.path,
                self.config.busy_timeout,
                self.config.cache_kib,
            )?);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Ok(0);
        };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut packets = false;
        let mut shed = 0;
        {
            let mut flows = FlowInserter::new(&tx, self.config.flow_partition_rows);
            // Sightings come one per named flow; a batch repeats the same few
            // names, so they are merged here and upserted once each.
            let mut seen: HashMap<(String, Option<u32>), DomainSeen> = HashMap::new();
            for rec in &self.pending {
                match rec {
                    Record::Flow(f) => flows.push(f)?,
                    Record::Domain(d) => merge_sighting(&mut seen, d),
                    other => {
                        packets |= matches!(other, Record::Packets(_));
                        insert_record(&tx, other)?;
                    }
                }
            }
            flows.finish()?;
            for d in seen.values() {
                upsert_domain(&tx, d)?;
            }
        }
        if packets {
            shed = trim_packets(&tx, self.config.max_packet_bytes)?;
        }
        tx.commit()?;
        self.shared.packets_shed.fetch_add(shed, Ordering::Relaxed);
        Ok(u64::try_from(self.pending.len()).unwrap_or(u64::MAX))
    }

    /// Commits all pending records in one transaction. Returns success.
    fn commit(&mut self) -> bool {
        self.last_commit = Instant::now();
        match self.write_pending() {
            Ok(rows) => {
                self.pending.clear();
                self.backoff = Duration::ZERO;
                self.retry_at = None;
                let s = &self.shared;
                let total = s.committed_rows.fetch_add(rows, Ordering::AcqRel) + rows;
                let batch = s.committed_batches.fetch_add(1, Ordering::AcqRel) + 1;
                s.consecutive_failures.store(0, Ordering::Relaxed);
                s.set_fault(None);
                if let Some(cb) = &self.config.on_commit {
                    cb(&CommitInfo {
                        batch,
                        rows,
                        total_rows: total,
                    });
                }
                true
            }
            Err(e) => {
                let kind = FaultKind::of(&e);
                log::warn!("store commit failed ({kind:?}): {e}");
                self.shared.write_errors.fetch_add(1, Ordering::Relaxed);
                self.shared
                    .consecutive_failures
                    .fetch_add(1, Ordering::Relaxed);
                self.shared.set_fault(Some(kind));
                if kind != FaultKind::Busy {
                    // A fresh connection is the way out of a replaced, deleted
                    // or re-permissioned file.
                    self.conn = None;
                }
                self.backoff = (self.backoff * 2)
                    .max(Duration::from_millis(25))
                    .min(self.config.max_retry_backoff);
                self.retry_at = Some(Instant::now() + self.backoff);
                false
            }
        }
    }

    fn maybe_retention(&mut self) {
        let Some(policy) = self.config.retention.clone() else {
            return;
        };
        if self
            .last_retention
            .is_some_and(|t| t.elapsed() < self.config.retention_interval)
        {
            return;
        }
        self.last_retention = Some(Instant::now());
        let Some(conn) = self.conn.as_ref() else {
            return;
        };
        match retention_step(conn, &policy, self.config.clock.now_us()) {
            Ok(report) => {
                self.shared
                    .retention_deleted
                    .fetch_add(report.deleted_total(), Ordering::Relaxed);
            }
            Err(e) => log::warn!("retention step failed: {e}"),
        }
    }
}

fn merge_sighting(seen: &mut HashMap<(String, Option<u32>), DomainSeen>, d: &DomainSeen) {
    match seen.entry((reverse_name(&d.domain), d.app_uid)) {
        std::collections::hash_map::Entry::Occupied(mut e) => {
            let m = e.get_mut();
            m.first_us = m.first_us.min(d.first_us);
            m.last_us = m.last_us.max(d.last_us);
            m.count = m.count.saturating_add(d.count);
        }
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(d.clone());
        }
    }
}
