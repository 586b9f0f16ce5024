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
//! # Where the methods live
//! This file is the outer API: every exported method, with the docs the generated Swift and
//! Kotlin carry, runs its body through [`NightjarEngine::run`] (the panic guard) and hands it
//! to an inner method in the child module for its seam: `ingest` (packets, poll, attribution,
//! the host's callbacks), `database` (the store's health, restart, `reopen_store`, `commit`),
//! `queries` (pages, rankings, coverage, exports), `intel_index` (reloads and lookups) and
//! `startup` (creating the engine). The exports stay in this one module because uniffi lays
//! its metadata out by module: moving them would reorder the generated bindings.
//!
//! # Panics
//! Every exported method runs inside `catch_unwind`. A caught panic becomes
//! `NightjarError::Internal` and marks the handle poisoned: its state may be half-updated, so
//! every later call fails with `EngineUnusable` and `is_usable()` says false.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use nightjar_engine::Engine;
use nightjar_intel::Index;
use nightjar_relay::SharedPipeline;
use nightjar_store::Store;

use crate::callbacks::{
    AlertDispatcher, AlertListener, AppResolver, SocketProtector, TunnelWriter,
};
use crate::config::EngineSettings;
use crate::error::{NightjarError, Result};
use crate::health::{Backoff, Health, IntelHealth, StoreFault};
use crate::panic_guard::panic_message;
use crate::records::{
    AlertPage, AlertState, AppInfo, AppPage, CoverageReport, DnsPage, DomainPage, ExportFormat,
    ExportTable, FlowPage, IngestResult, IntelVerdict, MemoryReport, Packet, QueryFilter,
    ShutdownReport, Stats, WriterStats, engine_stats,
};
use crate::relay_mode::{RelayCore, RelayThread};
use crate::store_rows::{MAX_PENDING, StoreSink};

mod database;
mod ingest;
mod intel_index;
mod queries;
mod startup;

/// Apps kept in the inventory at most; more are refused and counted.
pub const MAX_APPS: usize = 50_000;

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

    fn poison(&self) -> NightjarError {
        self.poisoned.store(true, Ordering::Release);
        NightjarError::EngineUnusable
    }
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
        self.run(|| self.ingest_inner(packets))
    }

    /// Lets time pass without packets (call about once a second when the tunnel is quiet):
    /// idle flows complete and are written. Returns the packets for the tunnel: always empty in
    /// monitor mode; in relay mode what the relay produced now and any queued while no
    /// [`TunnelWriter`] was set (relay mode uses its own clock, not `now_us`).
    pub fn poll(&self, now_us: u64) -> Result<Vec<Vec<u8>>> {
        self.run(|| self.poll_inner(now_us))
    }

    /// Sets (or with `None` removes) relay mode's socket protector (Android:
    /// `VpnService.protect`). Set it before the first `ingest`: sockets opened without one are
    /// not protected. Called on the ingesting thread with the engine lock held (see the
    /// `callbacks` module). Fails with `InvalidArgument` in monitor mode, which opens no
    /// sockets.
    pub fn set_socket_protector(&self, protector: Option<Arc<dyn SocketProtector>>) -> Result<()> {
        self.run(|| self.set_socket_protector_inner(protector))
    }

    /// Sets (or with `None` removes) relay mode's tunnel writer, which receives the packets the
    /// relay produces outside `ingest` (answers from the network, retransmissions), on the
    /// `nightjar-relay` thread with no lock held. Packets queued while none was set are
    /// delivered to it at once. Without one they wait for the next `ingest` or `poll` (at most
    /// `TUNNEL_QUEUE`; more are dropped and counted). Fails with `InvalidArgument` in
    /// monitor mode.
    pub fn set_tunnel_writer(&self, writer: Option<Arc<dyn TunnelWriter>>) -> Result<()> {
        self.run(|| self.set_tunnel_writer_inner(writer))
    }

    /// Sets (or with `None` removes) the app-attribution callback.
    pub fn set_app_resolver(&self, resolver: Option<Arc<dyn AppResolver>>) -> Result<()> {
        self.run(|| self.set_app_resolver_inner(resolver))
    }

    /// Sets (or with `None` removes) the alert listener. Alerts arrive on the `nightjar-alerts`
    /// thread; the first listener starts it.
    pub fn set_alert_listener(&self, listener: Option<Arc<dyn AlertListener>>) -> Result<()> {
        self.run(|| self.set_alert_listener_inner(listener))
    }

    /// Replaces the app inventory (names for flow rows and app queries); written to the
    /// database's apps table when one is configured. At most [`MAX_APPS`] are kept.
    pub fn set_app_inventory(&self, apps: Vec<AppInfo>) -> Result<()> {
        self.run(|| self.set_app_inventory_inner(apps))
    }

    /// Flows matching `filter`, newest first, `limit` a page (the store caps it). Pass the
    /// returned cursor back for the next page.
    pub fn query_flows(
        &self,
        filter: QueryFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<FlowPage> {
        self.run(|| self.query_flows_inner(filter, cursor, limit))
    }

    /// DNS transactions matching `filter`, newest first.
    pub fn query_dns(
        &self,
        filter: QueryFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<DnsPage> {
        self.run(|| self.query_dns_inner(filter, cursor, limit))
    }

    /// Alerts matching `filter`, newest first.
    pub fn query_alerts(
        &self,
        filter: QueryFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<AlertPage> {
        self.run(|| self.query_alerts_inner(filter, cursor, limit))
    }

    /// Sets an alert's triage state. Returns whether the alert exists.
    pub fn set_alert_state(&self, alert_id: u64, state: AlertState) -> Result<bool> {
        self.run(|| self.set_alert_state_inner(alert_id, state))
    }

    /// Top talkers by domain over the filter's time window, most bytes first. Only the window
    /// applies; at most 10,000 domains are ranked.
    pub fn query_domains(
        &self,
        filter: QueryFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<DomainPage> {
        self.run(|| self.query_domains_inner(filter, cursor, limit))
    }

    /// Traffic per app over the filter's time window, most bytes first, with package and label
    /// from the inventory.
    pub fn query_apps(
        &self,
        filter: QueryFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<AppPage> {
        self.run(|| self.query_apps_inner(filter, cursor, limit))
    }

    /// What Nightjar could and could not see in `[since_us, until_us)`.
    pub fn coverage(&self, since_us: u64, until_us: u64) -> Result<CoverageReport> {
        self.run(|| self.coverage_inner(since_us, until_us))
    }

    /// Writes `table` in `format` to the file at `path` (replaced). Returns the rows written.
    pub fn export(
        &self,
        format: ExportFormat,
        table: ExportTable,
        filter: QueryFilter,
        path: String,
    ) -> Result<u64> {
        self.run(|| self.export_inner(format, table, filter, path))
    }

    /// Maps the index at `path` and swaps it in atomically: lookups in flight finish on the old
    /// index. On error the old index stays.
    pub fn reload_intel(&self, path: String) -> Result<()> {
        self.run(|| self.reload_intel_inner(path))
    }

    /// Looks a domain (or URL, or `host:port`) up in the intel index at `now_us`.
    pub fn check_domain(&self, name: String, now_us: u64) -> Result<IntelVerdict> {
        self.run(|| self.check_domain_inner(name, now_us))
    }

    /// Looks an address up in the intel index at `now_us`.
    pub fn check_ip(&self, ip: String, now_us: u64) -> Result<IntelVerdict> {
        self.run(|| self.check_ip_inner(ip, now_us))
    }

    /// What is degraded: the database (disk full, damaged, writer gone) and the intel index
    /// (missing, damaged). Packets pass whatever this says; see [`crate::health`].
    pub fn health(&self) -> Result<Health> {
        self.run(|| self.health_inner())
    }

    /// Stops the database writer (committing what it can), reopens the database and starts a
    /// new writer and read connection. With `discard_damaged`, a damaged database (not a
    /// database, or failing its integrity check) is first moved aside to
    /// `<db>.damaged-<unix seconds>` and a fresh one is created. Packets keep passing meanwhile
    /// (their rows are dropped and counted). Fails with `NoDatabase` without `db_path`, and with
    /// `Store` if the database still cannot be opened (the engine keeps retrying by itself).
    pub fn reopen_store(&self, discard_damaged: bool) -> Result<()> {
        self.run(|| self.reopen_store_inner(discard_damaged))
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
        self.run(|| self.commit_inner(timeout_ms))
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
    pub fn debug_deliver_alert(&self, alert: crate::records::Alert) -> Result<()> {
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

impl Drop for NightjarEngine {
    /// A handle dropped without `shutdown` still stops its relay thread.
    fn drop(&mut self) {
        if let Some(relay) = &self.relay {
            relay.stop();
        }
    }
}

impl NightjarEngine {
    /// Ends the writer thread while the engine still holds its sender (see
    /// `debug_kill_store_writer`).
    #[cfg(any(test, feature = "test-support"))]
    pub(crate) fn kill_store_writer_for_test(&self) -> Result<bool> {
        let w =
            self.with_inner(|inner| Ok(inner.sink.as_mut().and_then(StoreSink::take_writer)))?;
        Ok(w.map(nightjar_store::StoreWriter::shutdown).is_some())
    }

    /// Raises an alert through the engine's alert path (what detectors will call).
    #[cfg(test)]
    pub(crate) fn raise_alert_for_test(&self, alert: crate::records::Alert) -> Result<()> {
        self.with_inner(|inner| {
            inner.raise_alert(alert);
            Ok(())
        })
    }
}
