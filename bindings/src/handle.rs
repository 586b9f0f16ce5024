//! [`NightjarEngine`], the one object the host app holds.
//!
//! # Locks and threads
//! The handle is `Send + Sync`; uniffi keeps it in an `Arc`. The engine and the database writer
//! sit behind one `Mutex` (`inner`), taken by `ingest`, `poll`, `stats`, `memory`,
//! `set_app_inventory` and `shutdown`. Queries and exports use a separate read connection behind
//! its own `Mutex` (`db`), so the UI thread can page through history while the packet thread
//! ingests. The intel index is an `Arc` swapped under an `RwLock`: a reload never blocks
//! `ingest` for longer than a pointer copy. Foreign callbacks are never called with `inner`
//! held (see [`crate::callbacks`]).
//!
//! # Panics
//! Every exported method runs inside `catch_unwind`. A caught panic becomes
//! `NightjarError::Internal` and marks the handle poisoned: its state may be half-updated, so
//! every later call fails with `EngineUnusable` and `is_usable()` says false.

use std::collections::HashMap;
use std::net::IpAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use nightjar_engine::{AppId, Direction, Engine, Event, FlowRef};
use nightjar_intel::Index;
use nightjar_store::export::Table;
use nightjar_store::export::zeek::ZeekLog;
use nightjar_store::{Cursor, Query, Store, StoreConfig, StoreWriter, TalkerGroup, TimeWindow};
use nightjar_wire::{Transport, parse_ip, parse_transport};

use crate::batch_ingest::PacketRef;
use crate::callbacks::{
    AlertDispatcher, AlertListener, AppResolver, SocketProtector, TunnelWriter,
};
use crate::config::{EngineSettings, Mode};
use crate::error::{NightjarError, Result};
use crate::health::{Backoff, Health, IntelHealth, StoreFault, StoreHealth, store_health};
use crate::intel::intel_verdict;
use crate::panic_guard::panic_message;
use crate::records::{
    Action, Alert, AlertPage, AlertState, AppInfo, AppItem, AppPage, CoverageReport, DnsItem,
    DnsPage, DomainItem, DomainPage, ExportFormat, ExportTable, FlowItem, FlowKey5, FlowPage,
    IngestResult, IntelVerdict, MemoryReport, Packet, QueryFilter, ShutdownReport, Stats, Verdict,
    WriterStats, engine_stats,
};
use crate::relay_mode::{RelayCore, RelayShared, RelayThread, waker_of};
use crate::store_rows::{MAX_PENDING, StoreSink, app_row};
use nightjar_detect::Pipeline;
use nightjar_relay::{SharedPipeline, lock_pipeline};
use nightjar_store::engine_rows::{EngineRows, inventory_app};

/// Apps kept in the inventory at most; more are refused and counted.
pub const MAX_APPS: usize = 50_000;

/// Rows a talker page (domains, apps) can reach: the store ranks at most this many.
const MAX_RANKED: usize = 10_000;

/// Salt for flow uids, so uids do not reveal the engine's flow counter.
const UID_SALT: u64 = 0x6e6a_7569_6473_616c;

/// The engine, alone (monitor mode) or inside the relay (relay mode).
#[derive(Debug)]
enum Core {
    Monitor(Box<Engine>),
    Relay(Box<RelayCore>),
}

/// What `inner` guards.
#[derive(Debug)]
pub(crate) struct Inner {
    core: Core,
    sink: Option<StoreSink>,
    /// The database, when one is configured (kept to restart its writer).
    db_path: Option<PathBuf>,
    /// Salt for flow uids, kept for a sink created after a failed open.
    uid_salt: u64,
    /// Why the database last failed to open; cleared when it opens.
    open_fault: Option<StoreFault>,
    /// Writers started again after a loss.
    store_restarts: u64,
    /// Rows the writers that were lost or replaced had dropped.
    store_rows_lost: u64,
    /// When to try starting a writer again.
    restart: Backoff,
    /// The current outage was logged.
    outage_logged: bool,
    /// `reopen_store` is running: the automatic restart waits for it.
    reopening: bool,
    apps: HashMap<u32, AppInfo>,
    apps_shed: u64,
    alerts: Arc<AlertDispatcher>,
    /// The detectors: engine events and intel in, explained alerts out.
    /// Shared with relay mode's policy hooks, which ask it whether to block; the engine lock
    /// is held around every use, so this lock is never contended.
    pipeline: SharedPipeline,
}

/// Opens the database and wraps its writer in a sink whose flow ids follow the stored ones.
fn open_store(path: &Path, salt: u64) -> std::result::Result<(Store, StoreSink), StoreFault> {
    let fault = |e: &nightjar_store::StoreError| StoreFault::of_error(e);
    let (store, writer) = Store::open(path, StoreConfig::phone()).map_err(|e| fault(&e))?;
    let offset = store
        .max_flow_id()
        .map_err(|e| fault(&e))?
        .map_or(0, |m| m.saturating_add(1));
    let sink = StoreSink::new(writer, offset, salt).ok_or(StoreFault::WriterGone)?;
    Ok((store, sink))
}

/// Whether the database at `path` is damaged (not a database, or fails its integrity check).
fn is_damaged(path: &Path) -> bool {
    match Store::open_reader(path, Duration::from_millis(500)) {
        Ok(s) => !s.integrity_ok().unwrap_or(false),
        Err(e) => StoreFault::of_error(&e) == StoreFault::Corrupt,
    }
}

/// Moves a damaged database (and its WAL and shared-memory files) aside, keeping it for
/// inspection: `<db>.damaged-<unix seconds>`.
fn move_aside(path: &Path) -> std::io::Result<()> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for suffix in ["", "-wal", "-shm"] {
        let mut from = path.as_os_str().to_owned();
        from.push(suffix);
        let from = PathBuf::from(from);
        if !from.exists() {
            continue;
        }
        let mut to = path.as_os_str().to_owned();
        to.push(format!("{suffix}.damaged-{stamp}"));
        std::fs::rename(&from, PathBuf::from(to))?;
    }
    Ok(())
}

impl Inner {
    fn engine(&self) -> &Engine {
        match &self.core {
            Core::Monitor(e) => e,
            Core::Relay(r) => r.relay.engine(),
        }
    }

    fn engine_mut(&mut self) -> &mut Engine {
        match &mut self.core {
            Core::Monitor(e) => e,
            Core::Relay(r) => r.relay.engine_mut(),
        }
    }

    /// The relay, in relay mode.
    pub(crate) fn relay_core(&mut self) -> Option<&mut RelayCore> {
        match &mut self.core {
            Core::Monitor(_) => None,
            Core::Relay(r) => Some(r),
        }
    }

    /// The database's health.
    fn store_health(&self) -> (StoreHealth, Option<StoreFault>, u64) {
        if self.db_path.is_none() {
            return (StoreHealth::NotConfigured, None, 0);
        }
        match &self.sink {
            None => (
                StoreHealth::Unavailable,
                Some(self.open_fault.unwrap_or(StoreFault::Other)),
                0,
            ),
            Some(sink) => {
                let status = sink.status();
                if let Some(f) = self.open_fault {
                    return (
                        StoreHealth::Unavailable,
                        Some(f),
                        status.consecutive_failures,
                    );
                }
                let (h, f) = store_health(&status, sink.writer_gone());
                (h, f, status.consecutive_failures)
            }
        }
    }

    /// Puts a freshly opened writer in place (creating the sink after a failed first open).
    fn install_store(&mut self, store: &Store, writer: StoreWriter) {
        match &mut self.sink {
            Some(sink) => {
                let old = sink.status();
                self.store_rows_lost += old.dropped_closed + old.dropped_error;
                // The old writer's thread is gone (or was stopped by `reopen_store`).
                drop(sink.take_writer());
                sink.replace_writer(writer);
            }
            None => {
                let offset = store
                    .max_flow_id()
                    .ok()
                    .flatten()
                    .map_or(0, |m| m.saturating_add(1));
                self.sink = StoreSink::new(writer, offset, self.uid_salt);
            }
        }
        self.open_fault = None;
        self.restart.reset();
        self.outage_logged = false;
    }

    /// Notices a lost writer (or a database that never opened) and, with backoff, starts a new
    /// one. Returns the new read connection when it did.
    fn maintain(&mut self) -> Option<Store> {
        let path = self.db_path.clone()?;
        let up = self.open_fault.is_none() && self.sink.as_ref().is_some_and(|s| !s.writer_gone());
        if self.reopening || up {
            return None;
        }
        if !self.outage_logged {
            self.outage_logged = true;
            let (_, fault, _) = self.store_health();
            log::warn!(
                "database unavailable ({fault:?}); packets still pass, rows are dropped until a writer starts again"
            );
        }
        self.restart.arm();
        if !self.restart.due() {
            return None;
        }
        match Store::open(&path, StoreConfig::phone()) {
            Ok((store, writer)) => {
                self.install_store(&store, writer);
                self.store_restarts += 1;
                log::info!("database writer started again");
                Some(store)
            }
            Err(e) => {
                self.open_fault = Some(StoreFault::of_error(&e));
                self.restart.failed();
                None
            }
        }
    }

    /// Feeds packets to the engine, appending their verdicts, until one opens a flow while
    /// `want_keys` is set: then it stops and returns the new flow's 5-tuple, so the caller can
    /// ask the app resolver before the flow's next packet (a short flow could otherwise complete
    /// before it is attributed). The packets not taken stay in `packets`.
    ///
    /// In relay mode the device's packets go to the relay, which is polled every
    /// [`crate::relay_mode::POLL_EVERY`] packets; what it produced is appended to `to_tunnel`.
    fn ingest_until_new<'p>(
        &mut self,
        packets: &mut impl Iterator<Item = PacketRef<'p>>,
        verdicts: &mut Vec<Verdict>,
        to_tunnel: &mut Vec<Vec<u8>>,
        want_keys: bool,
    ) -> Option<(FlowRef, FlowKey5)> {
        for p in packets {
            let v = match &mut self.core {
                Core::Monitor(engine) => {
                    let direction = if p.outbound {
                        Direction::Outbound
                    } else {
                        Direction::Inbound
                    };
                    Some(engine.on_packet(p.ts_us, direction, p.bytes))
                }
                Core::Relay(r) => {
                    let v = r.on_packet(p.outbound, p.bytes);
                    if r.poll_due() {
                        r.poll_into(to_tunnel);
                    }
                    v
                }
            };
            verdicts.push(Verdict {
                action: match v.map(|v| v.action) {
                    Some(nightjar_engine::Action::Drop) => Action::Drop,
                    _ => Action::Pass,
                },
                flow_id: v.and_then(|v| v.flow).map(|f| f.id.0),
                is_new: v.and_then(|v| v.flow).is_some_and(|f| f.is_new),
            });
            // Drained after every packet, so the engine's event cap only bites when a sweep
            // completes more flows at once than it holds.
            if self.engine().pending_events() > 0 {
                self.drain();
            }
            if want_keys
                && let Some(flow) = v.and_then(|v| v.flow).filter(|f| f.is_new)
                && let Some(key) = flow_key(p.bytes, p.outbound)
            {
                return Some((flow, key));
            }
        }
        None
    }

    /// Ends a relay-mode batch: polls the relay into `to_tunnel` and wakes its thread if the
    /// relay now wants attention sooner than the thread would wake. Nothing in monitor mode.
    fn finish_relay_batch(&mut self, to_tunnel: &mut Vec<Vec<u8>>) {
        if let Core::Relay(r) = &mut self.core {
            r.poll_into(to_tunnel);
            r.wake_if_sooner();
        }
        if self.engine().pending_events() > 0 {
            self.drain();
        }
    }

    /// Moves the engine's events to the store and the detectors, and raises what they find.
    pub(crate) fn drain(&mut self) {
        if let Core::Relay(r) = &mut self.core {
            r.record_blocks();
        }
        while let Some(event) = self.engine_mut().next_event() {
            // The store first: a detector's alert names flows whose rows are already queued.
            if let Some(sink) = self.sink.as_mut() {
                match &event {
                    Event::FlowCompleted(r) => sink.flow(r, &self.apps),
                    Event::Dns(tx) => sink.dns(tx),
                    Event::Hello(h) => sink.hello(h),
                    Event::Http(h) => sink.http(h),
                    _ => {}
                }
            }
            let now_us = match &event {
                Event::FlowCompleted(r) => r.last_us,
                Event::Dns(tx) => tx.ts_us.saturating_add(tx.rtt_us.unwrap_or(0)),
                Event::Hello(h) => h.ts_us,
                Event::Http(h) => h.ts_us,
                _ => continue,
            };
            let alerts: Vec<_> = {
                let mut pipeline = lock_pipeline(&self.pipeline);
                pipeline.on_event(now_us, &event);
                std::iter::from_fn(|| pipeline.next_alert()).collect()
            };
            for a in alerts {
                let row = match &self.sink {
                    Some(sink) => sink.alert_row(&a),
                    // No database: uids as a store would give them to a fresh engine's flows.
                    None => EngineRows::new(0, self.uid_salt, 0).alert_row(&a),
                };
                self.raise_alert(Alert::from(&row));
            }
        }
    }

    /// The one way an alert leaves the engine: to the store (when configured) and to the
    /// listener's queue. Never blocks and never calls the listener itself.
    fn raise_alert(&mut self, alert: Alert) {
        if let Some(sink) = &self.sink {
            sink.alert(alert.to_row());
        }
        self.alerts.offer(alert);
    }
}

/// A new flow's 5-tuple seen from the device.
fn flow_key(bytes: &[u8], outbound: bool) -> Option<FlowKey5> {
    let ip = parse_ip(bytes).ok()?;
    let (sport, dport) = if ip.fragment.is_none() {
        match parse_transport(ip.protocol, ip.payload) {
            Ok(Transport::Tcp(seg)) => (seg.src_port, seg.dst_port),
            Ok(
                Transport::Udp {
                    src_port, dst_port, ..
                }
                | Transport::Sctp { src_port, dst_port },
            ) => (src_port, dst_port),
            _ => (0, 0),
        }
    } else {
        (0, 0)
    };
    let (local, lport, remote, rport) = if outbound {
        (ip.src, sport, ip.dst, dport)
    } else {
        (ip.dst, dport, ip.src, sport)
    };
    Some(FlowKey5 {
        protocol: ip.protocol,
        local_ip: local.to_string(),
        local_port: lport,
        remote_ip: remote.to_string(),
        remote_port: rport,
    })
}

/// A Nightjar engine: give it the tunnel's packets, read back what the device talked to.
#[derive(uniffi::Object)]
pub struct NightjarEngine {
    /// Shared with the `nightjar-relay` thread in relay mode.
    inner: Arc<Mutex<Option<Inner>>>,
    /// Relay mode's I/O thread and what it shares with the handle.
    relay: Option<RelayThread>,
    db: Mutex<Option<Store>>,
    intel: RwLock<Option<Arc<Index>>>,
    resolver: RwLock<Option<Arc<dyn AppResolver>>>,
    alerts: Arc<AlertDispatcher>,
    /// The intel index's state and the loads that failed.
    intel_health: RwLock<IntelHealth>,
    intel_failures: AtomicU64,
    /// A database was configured (so a missing read connection is a fault, not `NoDatabase`).
    db_configured: bool,
    poisoned: AtomicBool,
    shut_down: AtomicBool,
    attributed: AtomicU64,
    resolver_failures: AtomicU64,
}

impl std::fmt::Debug for NightjarEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NightjarEngine")
            .field("poisoned", &self.poisoned.load(Ordering::Relaxed))
            .field("shut_down", &self.shut_down.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl NightjarEngine {
    /// Runs an exported method's body: a panic poisons the handle and becomes `Internal`.
    pub(crate) fn run<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        if !self.is_usable_now() {
            return Err(NightjarError::EngineUnusable);
        }
        catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
            self.poisoned.store(true, Ordering::Release);
            log::error!("panic caught at the FFI boundary; engine marked unusable");
            Err(NightjarError::Internal {
                detail: panic_message(payload.as_ref()),
            })
        })
    }

    /// The body of both `ingest` forms: `count` packets (for the verdicts' capacity), stopping
    /// at each new flow to ask the app resolver with the engine lock released.
    pub(crate) fn ingest_packets<'p>(
        &self,
        packets: &mut impl Iterator<Item = PacketRef<'p>>,
        count: usize,
    ) -> Result<IngestResult> {
        let resolver = self
            .resolver
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut verdicts = Vec::with_capacity(count);
        let mut to_tunnel = Vec::new();
        loop {
            let new_flow = self.with_inner(|inner| {
                Ok(inner.ingest_until_new(
                    packets,
                    &mut verdicts,
                    &mut to_tunnel,
                    resolver.is_some(),
                ))
            })?;
            match (&resolver, new_flow) {
                (Some(r), Some((flow, key))) => self.attribute(r, flow, key)?,
                _ => break,
            }
        }
        if self.relay.is_some() {
            self.with_inner(|inner| {
                inner.finish_relay_batch(&mut to_tunnel);
                Ok(())
            })?;
        }
        self.maintain()?;
        Ok(IngestResult {
            verdicts,
            to_tunnel,
        })
    }

    fn is_usable_now(&self) -> bool {
        !self.poisoned.load(Ordering::Acquire)
            && !self.shut_down.load(Ordering::Acquire)
            && !self.relay.as_ref().is_some_and(RelayThread::failed)
    }

    /// Runs `f` on the engine under its lock.
    pub(crate) fn with_inner<T>(&self, f: impl FnOnce(&mut Inner) -> Result<T>) -> Result<T> {
        let mut guard = self.inner.lock().map_err(|_| self.poison())?;
        let inner = guard.as_mut().ok_or(NightjarError::EngineUnusable)?;
        f(inner)
    }

    /// Wakes relay mode's I/O thread (no-op in monitor mode).
    pub(crate) fn wake_relay(&self) {
        if let Some(r) = &self.relay {
            r.wake();
        }
    }

    /// Runs `f` on the read connection.
    pub(crate) fn with_db<T>(&self, f: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        let guard: MutexGuard<'_, Option<Store>> = self.db.lock().map_err(|_| self.poison())?;
        let store = guard.as_ref().ok_or(if self.db_configured {
            NightjarError::Store {
                reason: "the database is unavailable (see health())".into(),
            }
        } else {
            NightjarError::NoDatabase
        })?;
        f(store)
    }

    /// Runs the store's upkeep under the engine lock and installs a new read connection if a
    /// writer was started again.
    fn maintain(&self) -> Result<()> {
        if let Some(store) = self.with_inner(|inner| Ok(inner.maintain()))? {
            *self.db.lock().map_err(|_| self.poison())? = Some(store);
        }
        Ok(())
    }

    /// Records a failed intel load: the state (unless an index is still loaded) and a warning.
    fn intel_failed(&self, e: &nightjar_intel::IntelError) {
        self.intel_failures.fetch_add(1, Ordering::Relaxed);
        let kind = IntelHealth::of_error(e);
        let mut state = self
            .intel_health
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if *state != IntelHealth::Loaded {
            *state = kind;
        }
        log::warn!("intel index not loaded ({kind:?}); running on the previous index or none");
    }

    fn poison(&self) -> NightjarError {
        self.poisoned.store(true, Ordering::Release);
        NightjarError::EngineUnusable
    }

    fn index(&self) -> Option<Arc<Index>> {
        self.intel
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Asks the resolver who owns a new flow (no lock held), then attributes it under the lock.
    fn attribute(
        &self,
        resolver: &Arc<dyn AppResolver>,
        flow: FlowRef,
        key: FlowKey5,
    ) -> Result<()> {
        // The resolver is foreign code: an exception there must not poison the engine.
        let uid = match catch_unwind(AssertUnwindSafe(|| resolver.owner(key))) {
            Ok(Some(uid)) => uid,
            Ok(None) => return Ok(()),
            Err(_) => {
                self.resolver_failures.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        };
        self.with_inner(|inner| {
            lock_pipeline(&inner.pipeline).attribute(flow.id.0, uid);
            if inner.engine_mut().attribute(flow, AppId(uid)) {
                self.attributed.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
    }

    fn store_query(
        &self,
        filter: &QueryFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<Query> {
        let mut q = Query::new().limit(usize::try_from(limit).unwrap_or(usize::MAX));
        if let Some(d) = &filter.domain {
            q = q.domain(d.clone());
        }
        if let Some(a) = filter.app_uid {
            q = q.app(a);
        }
        if let Some(ip) = &filter.ip {
            let ip = IpAddr::from_str(ip.trim())
                .map_err(|_| NightjarError::arg("ip is not an IPv4 or IPv6 address"))?;
            q = q.ip(ip);
        }
        q.since_us = filter.since_us;
        q.until_us = filter.until_us;
        q.proto = filter.proto;
        q.severity = filter.severity.map(Into::into);
        q.state = filter.state.map(Into::into);
        if let Some(c) = cursor {
            q = q.after(Some(Cursor::from_str(&c)?));
        }
        Ok(q)
    }
}

fn window(filter: &QueryFilter) -> TimeWindow {
    TimeWindow::new(
        filter.since_us.unwrap_or(0),
        filter.until_us.unwrap_or(TimeWindow::all().until_us),
    )
}

/// Offset cursors for ranked lists (top talkers), which have no natural key.
fn offset_of(cursor: Option<&str>) -> Result<usize> {
    match cursor {
        None => Ok(0),
        Some(c) => c
            .strip_prefix("rank.")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| NightjarError::arg("cursor was not produced by this query")),
    }
}

/// The slice `[offset, offset + limit)` of a ranking and the cursor after it.
fn rank_page<T>(mut ranked: Vec<T>, offset: usize, limit: usize) -> (Vec<T>, Option<String>) {
    let more = ranked.len() > offset + limit;
    ranked.truncate(offset + limit);
    let items = ranked.into_iter().skip(offset).collect();
    (items, more.then(|| format!("rank.{}", offset + limit)))
}

fn page_limit(limit: u32) -> usize {
    usize::try_from(limit)
        .unwrap_or(MAX_RANKED)
        .clamp(1, MAX_RANKED)
}

#[uniffi::export]
impl NightjarEngine {
    /// Creates an engine: validates the settings, opens (creating or migrating) the database and
    /// starts its writer thread, and maps the intel index.
    #[uniffi::constructor]
    pub fn new(settings: EngineSettings) -> Result<Arc<Self>> {
        crate::panic_guard::guard(|| Self::open(&settings).map(Arc::new))
    }

    /// Feeds a batch of packets, in the order they crossed the tunnel. Call it from the packet
    /// thread. When a packet opens a flow, the [`AppResolver`] (if set) is asked for the owner
    /// on this thread, with the engine lock released, before the batch goes on.
    ///
    /// Relay mode: give it every packet read from the tunnel (`outbound = true`); the relay
    /// answers the device's connections itself, opening outbound sockets through the
    /// [`SocketProtector`] on this thread, and the packets to write back to the tunnel come
    /// back in `to_tunnel` (the ones produced later, through the [`TunnelWriter`]). Verdicts
    /// are `Pass` and only say which flow each packet was counted in: the relay has already
    /// consumed the packets, so the host forwards nothing itself.
    pub fn ingest(&self, packets: Vec<Packet>) -> Result<IngestResult> {
        self.run(|| {
            let mut refs = packets.iter().map(|p| PacketRef {
                ts_us: p.ts_us,
                outbound: p.outbound,
                bytes: &p.bytes,
            });
            self.ingest_packets(&mut refs, packets.len())
        })
    }

    /// Lets time pass without packets (call about once a second when the tunnel is quiet):
    /// idle flows complete and are written. Returns the packets for the tunnel: always empty in
    /// monitor mode; in relay mode what the relay produced now and any queued while no
    /// [`TunnelWriter`] was set (relay mode uses its own clock, not `now_us`).
    pub fn poll(&self, now_us: u64) -> Result<Vec<Vec<u8>>> {
        self.run(|| {
            let out = self.with_inner(|inner| {
                let mut out = Vec::new();
                match &mut inner.core {
                    Core::Monitor(engine) => engine.poll(now_us),
                    Core::Relay(r) => {
                        let now = r.now();
                        r.relay.engine_mut().poll(now);
                    }
                }
                inner.drain();
                inner.finish_relay_batch(&mut out);
                Ok(out)
            })?;
            self.maintain()?;
            Ok(out)
        })
    }

    /// Sets (or with `None` removes) relay mode's socket protector (Android:
    /// `VpnService.protect`). Set it before the first `ingest`: sockets opened without one are
    /// not protected. Called on the ingesting thread with the engine lock held (see the
    /// `callbacks` module). Fails with `InvalidArgument` in monitor mode, which opens no
    /// sockets.
    pub fn set_socket_protector(&self, protector: Option<Arc<dyn SocketProtector>>) -> Result<()> {
        self.run(|| {
            let relay = self.relay.as_ref().ok_or_else(not_relay)?;
            *relay
                .shared
                .protector
                .write()
                .unwrap_or_else(PoisonError::into_inner) = protector;
            Ok(())
        })
    }

    /// Sets (or with `None` removes) relay mode's tunnel writer, which receives the packets the
    /// relay produces outside `ingest` (answers from the network, retransmissions), on the
    /// `nightjar-relay` thread with no lock held. Packets queued while none was set are
    /// delivered to it at once. Without one they wait for the next `ingest` or `poll` (at most
    /// `TUNNEL_QUEUE`; more are dropped and counted). Fails with `InvalidArgument` in
    /// monitor mode.
    pub fn set_tunnel_writer(&self, writer: Option<Arc<dyn TunnelWriter>>) -> Result<()> {
        self.run(|| {
            let relay = self.relay.as_ref().ok_or_else(not_relay)?;
            *relay
                .shared
                .writer
                .write()
                .unwrap_or_else(PoisonError::into_inner) = writer;
            relay.wake();
            Ok(())
        })
    }

    /// Sets (or with `None` removes) the app-attribution callback.
    pub fn set_app_resolver(&self, resolver: Option<Arc<dyn AppResolver>>) -> Result<()> {
        self.run(|| {
            *self
                .resolver
                .write()
                .unwrap_or_else(PoisonError::into_inner) = resolver;
            Ok(())
        })
    }

    /// Sets (or with `None` removes) the alert listener. Alerts arrive on the `nightjar-alerts`
    /// thread; the first listener starts it.
    pub fn set_alert_listener(&self, listener: Option<Arc<dyn AlertListener>>) -> Result<()> {
        self.run(|| {
            self.alerts
                .set_listener(listener)
                .map_err(|e| NightjarError::Internal {
                    detail: format!("cannot start the alert thread: {e}"),
                })
        })
    }

    /// Replaces the app inventory (names for flow rows and app queries); written to the
    /// database's apps table when one is configured. At most [`MAX_APPS`] are kept.
    pub fn set_app_inventory(&self, apps: Vec<AppInfo>) -> Result<()> {
        self.run(|| {
            self.with_inner(|inner| {
                inner.apps.clear();
                for app in apps {
                    if inner.apps.len() >= MAX_APPS && !inner.apps.contains_key(&app.uid) {
                        inner.apps_shed += 1;
                        continue;
                    }
                    if let Some(sink) = &inner.sink {
                        sink.app(&app);
                    }
                    inner.apps.insert(app.uid, app);
                }
                let inventory: Vec<_> = inner
                    .apps
                    .values()
                    .map(|a| inventory_app(&app_row(a)))
                    .collect();
                lock_pipeline(&inner.pipeline).set_inventory(&inventory);
                Ok(())
            })
        })
    }

    /// Flows matching `filter`, newest first, `limit` a page (the store caps it). Pass the
    /// returned cursor back for the next page.
    pub fn query_flows(
        &self,
        filter: QueryFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<FlowPage> {
        self.run(|| {
            let q = self.store_query(&filter, cursor, limit)?;
            let page = self.with_db(|s| Ok(s.flows(&q)?))?;
            Ok(FlowPage {
                items: page.items.iter().map(FlowItem::from).collect(),
                next_cursor: page.next.map(|c| c.to_string()),
            })
        })
    }

    /// DNS transactions matching `filter`, newest first.
    pub fn query_dns(
        &self,
        filter: QueryFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<DnsPage> {
        self.run(|| {
            let q = self.store_query(&filter, cursor, limit)?;
            let page = self.with_db(|s| Ok(s.dns(&q)?))?;
            Ok(DnsPage {
                items: page.items.iter().map(DnsItem::from).collect(),
                next_cursor: page.next.map(|c| c.to_string()),
            })
        })
    }

    /// Alerts matching `filter`, newest first.
    pub fn query_alerts(
        &self,
        filter: QueryFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<AlertPage> {
        self.run(|| {
            let q = self.store_query(&filter, cursor, limit)?;
            let page = self.with_db(|s| Ok(s.alerts(&q)?))?;
            Ok(AlertPage {
                items: page.items.iter().map(Alert::from).collect(),
                next_cursor: page.next.map(|c| c.to_string()),
            })
        })
    }

    /// Sets an alert's triage state. Returns whether the alert exists.
    pub fn set_alert_state(&self, alert_id: u64, state: AlertState) -> Result<bool> {
        self.run(|| self.with_db(|s| Ok(s.set_alert_state(alert_id, state.into())?)))
    }

    /// Top talkers by domain over the filter's time window, most bytes first. Only the window
    /// applies; at most 10,000 domains are ranked.
    pub fn query_domains(
        &self,
        filter: QueryFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<DomainPage> {
        self.run(|| {
            let offset = offset_of(cursor.as_deref())?;
            let limit = page_limit(limit);
            let ranked = self.with_db(|s| {
                Ok(s.top_talkers(
                    TalkerGroup::Domain,
                    window(&filter),
                    (offset + limit + 1).min(MAX_RANKED),
                )?)
            })?;
            let (items, next_cursor) = rank_page(ranked, offset, limit);
            Ok(DomainPage {
                items: items.iter().map(DomainItem::from).collect(),
                next_cursor,
            })
        })
    }

    /// Traffic per app over the filter's time window, most bytes first, with package and label
    /// from the inventory.
    pub fn query_apps(
        &self,
        filter: QueryFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<AppPage> {
        self.run(|| {
            let offset = offset_of(cursor.as_deref())?;
            let limit = page_limit(limit);
            let ranked = self.with_db(|s| {
                Ok(s.top_talkers(
                    TalkerGroup::App,
                    window(&filter),
                    (offset + limit + 1).min(MAX_RANKED),
                )?)
            })?;
            let (talkers, next_cursor) = rank_page(ranked, offset, limit);
            let items = self.with_inner(|inner| {
                Ok(talkers
                    .iter()
                    .map(|t| {
                        let app = t.app_uid.and_then(|u| inner.apps.get(&u));
                        AppItem {
                            uid: t.app_uid,
                            package: app.map(|a| a.package.clone()).or(t.app_name.clone()),
                            label: app.and_then(|a| a.label.clone()),
                            flows: t.flows,
                            bytes_out: t.bytes_out,
                            bytes_in: t.bytes_in,
                        }
                    })
                    .collect())
            })?;
            Ok(AppPage { items, next_cursor })
        })
    }

    /// What Nightjar could and could not see in `[since_us, until_us)`.
    pub fn coverage(&self, since_us: u64, until_us: u64) -> Result<CoverageReport> {
        self.run(|| {
            self.with_db(|s| {
                Ok(CoverageReport::from(
                    &s.coverage(TimeWindow::new(since_us, until_us))?,
                ))
            })
        })
    }

    /// Writes `table` in `format` to the file at `path` (replaced). Returns the rows written.
    pub fn export(
        &self,
        format: ExportFormat,
        table: ExportTable,
        filter: QueryFilter,
        path: String,
    ) -> Result<u64> {
        self.run(|| {
            let q = self.store_query(&filter, None, 0)?;
            let zeek_only =
                || NightjarError::arg("the tls, quic and http tables exist only as Zeek logs");
            let plain = match table {
                ExportTable::Flows => Some(Table::Flows),
                ExportTable::Dns => Some(Table::Dns),
                ExportTable::Alerts => Some(Table::Alerts),
                ExportTable::Tls | ExportTable::Quic | ExportTable::Http => None,
            };
            if format != ExportFormat::Zeek && plain.is_none() {
                return Err(zeek_only());
            }
            self.with_db(|s| {
                let file =
                    std::fs::File::create(&path).map_err(|e| NightjarError::io(&path, &e))?;
                let mut w = std::io::BufWriter::new(file);
                let n = match (format, plain) {
                    (ExportFormat::Zeek, _) => {
                        let log = match table {
                            ExportTable::Flows => ZeekLog::Conn,
                            ExportTable::Dns => ZeekLog::Dns,
                            ExportTable::Alerts => ZeekLog::Alerts,
                            ExportTable::Tls => ZeekLog::Ssl,
                            ExportTable::Quic => ZeekLog::Quic,
                            ExportTable::Http => ZeekLog::Http,
                        };
                        s.export_zeek(log, &q, &mut w)?
                    }
                    (ExportFormat::Ocsf, Some(t)) => s.export_ocsf(t, &q, &mut w)?,
                    (ExportFormat::Csv, Some(t)) => s.export_csv(t, &q, &mut w)?,
                    (_, None) => return Err(zeek_only()),
                };
                std::io::Write::flush(&mut w).map_err(|e| NightjarError::io(&path, &e))?;
                Ok(n)
            })
        })
    }

    /// Maps the index at `path` and swaps it in atomically: lookups in flight finish on the old
    /// index. On error the old index stays.
    pub fn reload_intel(&self, path: String) -> Result<()> {
        self.run(|| {
            let index = match Index::open(Path::new(&path)) {
                Ok(i) => Arc::new(i),
                Err(e) => {
                    self.intel_failed(&e);
                    return Err(e.into());
                }
            };
            self.with_inner(|inner| {
                lock_pipeline(&inner.pipeline).set_intel(Some(Arc::clone(&index)));
                Ok(())
            })?;
            *self.intel.write().unwrap_or_else(PoisonError::into_inner) = Some(index);
            *self
                .intel_health
                .write()
                .unwrap_or_else(PoisonError::into_inner) = IntelHealth::Loaded;
            log::info!("intel index reloaded");
            Ok(())
        })
    }

    /// Looks a domain (or URL, or `host:port`) up in the intel index at `now_us`.
    pub fn check_domain(&self, name: String, now_us: u64) -> Result<IntelVerdict> {
        self.run(|| {
            let index = self.index().ok_or_else(no_index)?;
            let verdict = match nightjar_intel::normalize::normalize_host(name.trim()) {
                Ok(nightjar_intel::normalize::Host::Domain(d)) => index.lookup_domain(&d, now_us),
                Ok(nightjar_intel::normalize::Host::Ip(ip)) => index.lookup_ip(ip, now_us),
                Err(_) => return Err(NightjarError::arg("not a domain name")),
            };
            Ok(intel_verdict(&verdict))
        })
    }

    /// Looks an address up in the intel index at `now_us`.
    pub fn check_ip(&self, ip: String, now_us: u64) -> Result<IntelVerdict> {
        self.run(|| {
            let index = self.index().ok_or_else(no_index)?;
            let ip = IpAddr::from_str(ip.trim())
                .map_err(|_| NightjarError::arg("not an IPv4 or IPv6 address"))?;
            Ok(intel_verdict(&index.lookup_ip(ip, now_us)))
        })
    }

    /// What is degraded: the database (disk full, damaged, writer gone) and the intel index
    /// (missing, damaged). Packets pass whatever this says; see [`crate::health`].
    pub fn health(&self) -> Result<Health> {
        self.run(|| {
            let (store, store_fault, fails, restarts, lost) = self.with_inner(|inner| {
                let (h, f, n) = inner.store_health();
                let lost = inner.store_rows_lost
                    + inner.sink.as_ref().map_or(0, |s| {
                        let st = s.status();
                        st.dropped_closed + st.dropped_error
                    });
                Ok((h, f, n, inner.store_restarts, lost))
            })?;
            Ok(Health {
                store,
                store_fault,
                store_consecutive_failures: fails,
                store_restarts: restarts,
                store_rows_lost: lost,
                intel: *self
                    .intel_health
                    .read()
                    .unwrap_or_else(PoisonError::into_inner),
                intel_load_failures: self.intel_failures.load(Ordering::Relaxed),
            })
        })
    }

    /// Stops the database writer (committing what it can), reopens the database and starts a
    /// new writer and read connection. With `discard_damaged`, a damaged database (not a
    /// database, or failing its integrity check) is first moved aside to
    /// `<db>.damaged-<unix seconds>` and a fresh one is created. Packets keep passing meanwhile
    /// (their rows are dropped and counted). Fails with `NoDatabase` without `db_path`, and with
    /// `Store` if the database still cannot be opened (the engine keeps retrying by itself).
    pub fn reopen_store(&self, discard_damaged: bool) -> Result<()> {
        self.run(|| {
            let (path, old) = self.with_inner(|inner| {
                let path = inner.db_path.clone().ok_or(NightjarError::NoDatabase)?;
                inner.reopening = true;
                Ok((path, inner.sink.as_mut().and_then(StoreSink::take_writer)))
            })?;
            // Outside the engine lock: a failing database takes up to a second to give up.
            if let Some(w) = old {
                w.shutdown();
            }
            drop(self.db.lock().map_err(|_| self.poison())?.take());
            let open = || {
                Store::open(&path, StoreConfig::phone())
                    .map_err(|e| (StoreFault::of_error(&e), NightjarError::from(e)))
            };
            let opened = if discard_damaged && path.exists() && is_damaged(&path) {
                log::warn!("damaged database moved aside; starting a new one");
                move_aside(&path)
                    .map_err(|e| {
                        (
                            StoreFault::Io,
                            NightjarError::io(&path.display().to_string(), &e),
                        )
                    })
                    .and_then(|()| open())
            } else {
                open()
            };
            let reader = self.with_inner(|inner| {
                inner.reopening = false;
                match opened {
                    Ok((store, writer)) => {
                        inner.install_store(&store, writer);
                        inner.store_restarts += 1;
                        Ok(store)
                    }
                    Err((fault, e)) => {
                        inner.open_fault = Some(fault);
                        Err(e)
                    }
                }
            })?;
            *self.db.lock().map_err(|_| self.poison())? = Some(reader);
            log::info!("database reopened");
            Ok(())
        })
    }

    /// Counters: packets by fate, flows, what was shed where, the writer's counters.
    pub fn stats(&self) -> Result<Stats> {
        self.run(|| {
            let mut s = self.with_inner(|inner| {
                let mut s = engine_stats(&inner.engine().stats());
                if let Some(sink) = &inner.sink {
                    s.details_shed = sink.details_shed();
                    s.writer = Some(WriterStats::from(&sink.status()));
                }
                s.apps_shed = inner.apps_shed;
                if let (Some(core), Some(t)) = (inner.relay_core(), &self.relay) {
                    s.relay = Some(core.counters(&t.shared));
                }
                Ok(s)
            })?;
            s.flows_attributed = self.attributed.load(Ordering::Relaxed);
            s.alerts_delivered = self.alerts.delivered();
            s.alerts_shed = self.alerts.shed();
            s.resolver_failures = self.resolver_failures.load(Ordering::Relaxed);
            Ok(s)
        })
    }

    /// Memory in use against the caps.
    pub fn memory(&self) -> Result<MemoryReport> {
        self.run(|| {
            self.with_inner(|inner| {
                let pending = inner.sink.as_ref().map_or(0, StoreSink::pending);
                let mut m = MemoryReport::new(&inner.engine().memory(), pending, MAX_PENDING);
                m.relay = inner.relay_core().map(|r| r.memory());
                Ok(m)
            })
        })
    }

    /// Waits up to `timeout_ms` until every record queued so far is committed (before the app
    /// is suspended, or before a query that must see the latest flows). Holds the engine lock
    /// meanwhile: not for the packet thread. Returns whether everything was committed.
    pub fn commit(&self, timeout_ms: u32) -> Result<bool> {
        self.run(|| {
            self.with_inner(|inner| {
                Ok(inner
                    .sink
                    .as_ref()
                    .is_none_or(|s| s.flush(Duration::from_millis(u64::from(timeout_ms)))))
            })
        })
    }

    /// Completes every live flow, writes everything to the database and stops its writer, the
    /// alert thread and, in relay mode, the relay thread (its connections are dropped; the
    /// device's TCP stack sees them time out). Every later call fails with `EngineUnusable`.
    pub fn shutdown(&self) -> Result<ShutdownReport> {
        self.run(|| {
            let taken = {
                let mut guard = self.inner.lock().map_err(|_| self.poison())?;
                self.shut_down.store(true, Ordering::Release);
                guard.take()
            };
            let Some(mut inner) = taken else {
                return Err(NightjarError::EngineUnusable);
            };
            if let Some(relay) = &self.relay {
                relay.stop();
            }
            let live = inner.engine().stats().live_flows;
            inner.engine_mut().flush();
            inner.drain();
            let writer = inner.sink.take().map(|s| WriterStats::from(&s.finish()));
            self.alerts.close();
            log::info!("engine shut down");
            Ok(ShutdownReport {
                flows_flushed: u64::try_from(live).unwrap_or(u64::MAX),
                writer,
            })
        })
    }

    /// False once the engine was shut down or a panic was caught inside it; then drop the
    /// handle and create a new engine.
    pub fn is_usable(&self) -> bool {
        self.is_usable_now()
    }
}

#[cfg(feature = "test-panic")]
#[uniffi::export]
impl NightjarEngine {
    /// Test builds only (`test-panic`): panics inside the engine, to prove the panic comes back
    /// as `Internal` and poisons the handle.
    #[expect(
        clippy::panic,
        reason = "a test-only export whose whole job is to panic"
    )]
    pub fn debug_panic(&self) -> Result<()> {
        self.run(|| self.with_inner(|_| panic!("debug_panic called")))
    }
}

#[cfg(feature = "test-support")]
#[uniffi::export]
impl NightjarEngine {
    /// Test builds only (`test-support`): raises `alert` through the path detector alerts will
    /// take (store, then the listener's queue).
    pub fn debug_deliver_alert(&self, alert: Alert) -> Result<()> {
        self.run(|| {
            self.with_inner(|inner| {
                inner.raise_alert(alert);
                Ok(())
            })
        })
    }

    /// Test builds only (`test-support`): ends the database writer's thread behind the engine's
    /// back, as a crash of that thread would. The engine notices on its next row. Returns
    /// whether there was a writer.
    pub fn debug_kill_store_writer(&self) -> Result<bool> {
        self.run(|| self.kill_store_writer_for_test())
    }
}

fn not_relay() -> NightjarError {
    NightjarError::arg("only relay mode opens sockets and writes to the tunnel")
}

impl Drop for NightjarEngine {
    /// A handle dropped without `shutdown` still stops its relay thread.
    fn drop(&mut self) {
        if let Some(relay) = &self.relay {
            relay.stop();
        }
    }
}

fn no_index() -> NightjarError {
    NightjarError::Intel {
        reason: "no intel index loaded".into(),
    }
}

impl NightjarEngine {
    fn open(settings: &EngineSettings) -> Result<Self> {
        let shared = Arc::new(RelayShared::default());
        let pipeline: SharedPipeline =
            Arc::new(Mutex::new(Pipeline::new(settings.pipeline_config())?));
        let (core, poll) = match settings.mode {
            Mode::Monitor => (
                Core::Monitor(Box::new(Engine::new(settings.engine_config()?)?)),
                None,
            ),
            Mode::Relay => {
                let (core, poll) = RelayCore::new(
                    settings.relay_config()?,
                    settings.secure_dns()?,
                    &shared,
                    Arc::clone(&pipeline),
                )?;
                (Core::Relay(Box::new(core)), Some(poll))
            }
        };
        // Fail open: a missing or damaged index or database never stops the engine from
        // starting; `health()` says what is missing and the engine recovers when it can.
        let mut intel_failures = 0;
        let (intel, intel_health) = match &settings.intel_index_path {
            Some(p) => match Index::open(&PathBuf::from(p)) {
                Ok(i) => (Some(Arc::new(i)), IntelHealth::Loaded),
                Err(e) => {
                    intel_failures += 1;
                    let kind = IntelHealth::of_error(&e);
                    log::warn!("intel index not loaded ({kind:?}); running without intel");
                    (None, kind)
                }
            },
            None => (None, IntelHealth::NotConfigured),
        };
        let uid_salt = settings.hash_seed ^ UID_SALT;
        let db_path = settings.db_path.as_ref().map(PathBuf::from);
        let (db, sink, open_fault) = match &db_path {
            Some(p) => match open_store(p, uid_salt) {
                Ok((store, sink)) => (Some(store), Some(sink), None),
                Err(fault) => {
                    log::warn!(
                        "database unavailable ({fault:?}); packets still pass, rows are dropped until it opens"
                    );
                    (None, None, Some(fault))
                }
            },
            None => (None, None, None),
        };
        lock_pipeline(&pipeline).set_intel(intel.clone());
        let alerts = Arc::new(AlertDispatcher::default());
        let db_configured = db_path.is_some();
        log::info!(
            "engine created (mode: {:?}, database: {}, intel: {})",
            settings.mode,
            db.is_some(),
            intel.is_some()
        );
        let waker = match &core {
            Core::Relay(r) => Some(waker_of(r)),
            Core::Monitor(_) => None,
        };
        let inner = Arc::new(Mutex::new(Some(Inner {
            core,
            sink,
            db_path,
            uid_salt,
            open_fault,
            store_restarts: 0,
            store_rows_lost: 0,
            restart: Backoff::default(),
            outage_logged: open_fault.is_some(),
            reopening: false,
            apps: HashMap::new(),
            apps_shed: 0,
            alerts: Arc::clone(&alerts),
            pipeline,
        })));
        let relay = match (poll, waker) {
            (Some(poll), Some(waker)) => {
                Some(RelayThread::spawn(Arc::clone(&inner), shared, waker, poll)?)
            }
            _ => None,
        };
        Ok(NightjarEngine {
            inner,
            relay,
            db: Mutex::new(db),
            intel: RwLock::new(intel),
            resolver: RwLock::new(None),
            alerts,
            intel_health: RwLock::new(intel_health),
            intel_failures: AtomicU64::new(intel_failures),
            db_configured,
            poisoned: AtomicBool::new(false),
            shut_down: AtomicBool::new(false),
            attributed: AtomicU64::new(0),
            resolver_failures: AtomicU64::new(0),
        })
    }

    /// Ends the writer thread while the engine still holds its sender (see
    /// `debug_kill_store_writer`).
    #[cfg(any(test, feature = "test-support"))]
    pub(crate) fn kill_store_writer_for_test(&self) -> Result<bool> {
        let w =
            self.with_inner(|inner| Ok(inner.sink.as_mut().and_then(StoreSink::take_writer)))?;
        Ok(w.map(StoreWriter::shutdown).is_some())
    }

    /// Raises an alert through the engine's alert path (what detectors will call).
    #[cfg(test)]
    pub(crate) fn raise_alert_for_test(&self, alert: Alert) -> Result<()> {
        self.with_inner(|inner| {
            inner.raise_alert(alert);
            Ok(())
        })
    }
}
