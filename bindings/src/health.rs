//! What is degraded, in a form the host can show and act on.
//!
//! Monitor mode fails open: a full disk, a damaged database, a dead writer thread or a missing
//! or damaged intel index never turns into an `ingest` error or a non-`Pass` verdict. The fault
//! is reported here (`NightjarEngine::health`), once at `warn` in the log (kinds only: no names,
//! no addresses, no paths), and as `NightjarError::Store` on the calls that need the database.
//! Recovery: the writer retries a failing database by itself (disk full clears when space
//! returns); a dead writer is restarted with backoff; `reopen_store` reopens on request (and can
//! move a damaged file aside); `reload_intel` with a good index clears an intel fault.

use std::time::{Duration, Instant};

use nightjar_intel::IntelError;
use nightjar_store::{FaultKind, StoreError, WriterStatus};
use rusqlite::ErrorCode;

/// The database's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum StoreHealth {
    /// The engine was created without `db_path`.
    NotConfigured,
    /// Rows are being committed.
    Healthy,
    /// Commits fail (see `store_fault`); rows are held in memory up to a cap and retried.
    Degraded,
    /// No writer (the database could not be opened, or the writer thread is gone): rows are
    /// dropped and counted until it is restarted.
    Unavailable,
}

/// Why the database is degraded or unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum StoreFault {
    /// The disk is full: free space (or lower retention) and the writer catches up by itself.
    DiskFull,
    /// The file or its directory is read-only.
    ReadOnly,
    /// The file is damaged or not a database: `reopen_store(discard_damaged = true)` moves it
    /// aside and starts a fresh one.
    Corrupt,
    /// The file could not be opened (missing directory, permissions).
    CannotOpen,
    /// A disk I/O error.
    Io,
    /// Another process holds the lock.
    Busy,
    /// The writer thread ended without being shut down.
    WriterGone,
    /// The database was written by a newer Nightjar.
    SchemaTooNew,
    /// Anything else.
    Other,
}

/// The intel index's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum IntelHealth {
    /// No index was configured or loaded.
    NotConfigured,
    /// An index is loaded and answers lookups.
    Loaded,
    /// The configured index file does not exist: the engine runs without intel.
    Missing,
    /// The configured index file is damaged or not an index: the engine runs without intel.
    Corrupt,
}

/// Everything that is degraded, in one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct Health {
    /// The database.
    pub store: StoreHealth,
    /// Why the database is degraded or unavailable; `None` when healthy.
    pub store_fault: Option<StoreFault>,
    /// Commit attempts failed in a row (0 when healthy).
    pub store_consecutive_failures: u64,
    /// Times a writer was started again after it was lost or could not be opened.
    pub store_restarts: u64,
    /// Rows dropped because the database was unavailable or kept failing (writer queue
    /// closed, or shed after failed commits), over every writer this engine had.
    pub store_rows_lost: u64,
    /// The intel index.
    pub intel: IntelHealth,
    /// `reload_intel` calls (and the initial load) that failed; a failed reload keeps the old
    /// index.
    pub intel_load_failures: u64,
}

impl StoreFault {
    /// The fault behind a store error (opening or writing).
    pub(crate) fn of_error(e: &StoreError) -> Self {
        match e {
            StoreError::Sqlite(s) | StoreError::Open { source: s, .. } => {
                match s.sqlite_error_code() {
                    Some(ErrorCode::DiskFull) => StoreFault::DiskFull,
                    Some(ErrorCode::ReadOnly) => StoreFault::ReadOnly,
                    Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                        StoreFault::Corrupt
                    }
                    Some(ErrorCode::CannotOpen) => StoreFault::CannotOpen,
                    Some(ErrorCode::SystemIoFailure) => StoreFault::Io,
                    Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreFault::Busy,
                    _ => StoreFault::Other,
                }
            }
            StoreError::SchemaTooNew { .. } => StoreFault::SchemaTooNew,
            StoreError::Io(_) => StoreFault::Io,
            _ => StoreFault::Other,
        }
    }

    /// The fault the writer last reported.
    pub(crate) fn of_kind(k: FaultKind) -> Self {
        match k {
            FaultKind::Busy => StoreFault::Busy,
            FaultKind::DiskFull => StoreFault::DiskFull,
            FaultKind::ReadOnly => StoreFault::ReadOnly,
            FaultKind::Corrupt => StoreFault::Corrupt,
            FaultKind::CannotOpen => StoreFault::CannotOpen,
            FaultKind::Io => StoreFault::Io,
            _ => StoreFault::Other,
        }
    }
}

impl IntelHealth {
    /// The state after a failed load.
    pub(crate) fn of_error(e: &IntelError) -> Self {
        match e {
            IntelError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                IntelHealth::Missing
            }
            _ => IntelHealth::Corrupt,
        }
    }
}

/// The database's health from the writer's counters.
pub(crate) fn store_health(status: &WriterStatus, gone: bool) -> (StoreHealth, Option<StoreFault>) {
    if gone {
        (StoreHealth::Unavailable, Some(StoreFault::WriterGone))
    } else if status.consecutive_failures > 0 {
        (
            StoreHealth::Degraded,
            Some(
                status
                    .last_fault
                    .map_or(StoreFault::Other, StoreFault::of_kind),
            ),
        )
    } else {
        (StoreHealth::Healthy, None)
    }
}

/// First wait before restarting a writer, doubled after each failed attempt up to
/// [`RESTART_MAX`].
pub(crate) const RESTART_FIRST: Duration = Duration::from_secs(1);
/// Longest wait between writer restarts.
pub(crate) const RESTART_MAX: Duration = Duration::from_secs(60);

/// When to try restarting the writer next. Wall-clock time: the bindings are an edge.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    next: Option<Instant>,
    wait: Duration,
}

impl Backoff {
    /// Starts waiting, if not already waiting.
    pub(crate) fn arm(&mut self) {
        if self.next.is_none() {
            self.wait = RESTART_FIRST;
            self.next = Some(Instant::now() + self.wait);
        }
    }

    /// Whether an attempt is due now.
    pub(crate) fn due(&self) -> bool {
        self.next.is_some_and(|t| Instant::now() >= t)
    }

    /// An attempt failed: wait longer.
    pub(crate) fn failed(&mut self) {
        self.wait = (self.wait * 2).clamp(RESTART_FIRST, RESTART_MAX);
        self.next = Some(Instant::now() + self.wait);
    }

    /// The fault cleared.
    pub(crate) fn reset(&mut self) {
        self.next = None;
        self.wait = Duration::ZERO;
    }
}
