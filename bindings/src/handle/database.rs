//! The database behind the handle: opening it, its health, restarting a lost writer with
//! backoff, `reopen_store` (moving a damaged file aside) and `commit`. Packets pass whatever
//! the database does (fail open).

use std::path::{Path, PathBuf};
use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::Duration;

use nightjar_store::{Store, StoreConfig, StoreWriter};

use crate::error::{NightjarError, Result};
use crate::health::{Health, StoreFault, StoreHealth, store_health};
use crate::store_rows::StoreSink;

use super::{Inner, NightjarEngine};

/// Opens the database and wraps its writer in a sink whose flow ids follow the stored ones.
pub(super) fn open_store(
    path: &Path,
    salt: u64,
) -> std::result::Result<(Store, StoreSink), StoreFault> {
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
}

impl NightjarEngine {
    /// Runs the store's upkeep under the engine lock and installs a new read connection if a
    /// writer was started again.
    pub(super) fn maintain(&self) -> Result<()> {
        if let Some(store) = self.with_inner(|inner| Ok(inner.maintain()))? {
            *self.db.lock().map_err(|_| self.poison())? = Some(store);
        }
        Ok(())
    }
}

impl NightjarEngine {
    pub(super) fn health_inner(&self) -> Result<Health> {
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
    }

    pub(super) fn reopen_store_inner(&self, discard_damaged: bool) -> Result<()> {
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
    }

    pub(super) fn commit_inner(&self, timeout_ms: u32) -> Result<bool> {
        self.with_inner(|inner| {
            Ok(inner
                .sink
                .as_ref()
                .is_none_or(|s| s.flush(Duration::from_millis(u64::from(timeout_ms)))))
        })
    }
}
