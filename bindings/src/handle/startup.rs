//! Creating the engine: the detectors, the engine or the relay around it, the intel index and
//! the database, each failing open (a missing index or database is reported by `health()`,
//! never a reason not to start), then the relay thread in relay mode.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};

use nightjar_detect::Pipeline;
use nightjar_engine::Engine;
use nightjar_intel::Index;
use nightjar_relay::{SharedPipeline, lock_pipeline};

use crate::callbacks::AlertDispatcher;
use crate::config::{EngineSettings, Mode};
use crate::error::Result;
use crate::health::{Backoff, IntelHealth};
use crate::relay_mode::{RelayCore, RelayShared, RelayThread, waker_of};

use super::database::open_store;
use super::{Core, Inner, NightjarEngine};

/// Salt for flow uids, so uids do not reveal the engine's flow counter.
const UID_SALT: u64 = 0x6e6a_7569_6473_616c;

impl NightjarEngine {
    pub(super) fn open(settings: &EngineSettings) -> Result<Self> {
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
}
