//! The one error type that crosses the FFI. Each variant is something the host app can act on;
//! only failures nobody could plan for (a caught panic) become [`NightjarError::Internal`].

use nightjar_engine::ConfigError;
use nightjar_intel::IntelError;
use nightjar_store::StoreError;

/// Why a call into Nightjar failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[non_exhaustive]
pub enum NightjarError {
    /// The configuration was refused (a cap of zero, a cap too large): fix the config and create
    /// the engine again.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
    /// An argument of the call was refused (a cursor from elsewhere, an unparsable address, an
    /// export table the format does not have): fix the argument.
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What is wrong.
        reason: String,
    },
    /// The call needs the database and the engine was created without `db_path`.
    #[error("no database configured")]
    NoDatabase,
    /// A file could not be read or written (export target, feed file): check the path and
    /// permissions.
    #[error("i/o error on {path}: {reason}")]
    Io {
        /// The file involved.
        path: String,
        /// What the OS said.
        reason: String,
    },
    /// A feed or intel index was refused (unrecognised format, mostly garbage, corrupt index), or
    /// no index is loaded: fix or re-download the feed, recompile.
    #[error("intel: {reason}")]
    Intel {
        /// What the intel layer said.
        reason: String,
    },
    /// The database failed (disk full, corrupt, schema newer than this build).
    #[error("store: {reason}")]
    Store {
        /// What the store said.
        reason: String,
    },
    /// The engine was shut down, or a panic was caught inside it earlier: its state cannot be
    /// trusted. Drop the handle and create a new engine.
    #[error("engine unusable (shut down or poisoned by an earlier failure)")]
    EngineUnusable,
    /// A bug: a panic was caught at the FFI boundary. The process lives; the engine that
    /// panicked is marked unusable.
    #[error("internal error: {detail}")]
    Internal {
        /// The panic message, for a bug report. (Not `message`: that name clashes with
        /// `Throwable.message` in the generated Kotlin.)
        detail: String,
    },
}

/// Result alias for the bindings.
pub type Result<T, E = NightjarError> = std::result::Result<T, E>;

impl From<ConfigError> for NightjarError {
    fn from(e: ConfigError) -> Self {
        NightjarError::InvalidConfig {
            reason: e.to_string(),
        }
    }
}

impl From<nightjar_detect::PipelineError> for NightjarError {
    /// Only the built-in DGA model can fail to load here: a build defect, not a caller's.
    fn from(e: nightjar_detect::PipelineError) -> Self {
        NightjarError::Internal {
            detail: e.to_string(),
        }
    }
}

impl From<IntelError> for NightjarError {
    fn from(e: IntelError) -> Self {
        match e {
            IntelError::Io { path, source } => NightjarError::Io {
                path: path.display().to_string(),
                reason: source.to_string(),
            },
            other => NightjarError::Intel {
                reason: other.to_string(),
            },
        }
    }
}

impl From<StoreError> for NightjarError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::BadCursor => NightjarError::InvalidArgument {
                reason: "cursor was not produced by this database".into(),
            },
            StoreError::Io(io) => NightjarError::Io {
                path: String::new(),
                reason: io.to_string(),
            },
            other => NightjarError::Store {
                reason: other.to_string(),
            },
        }
    }
}

impl NightjarError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: &str, e: &std::io::Error) -> Self {
        NightjarError::Io {
            path: path.to_owned(),
            reason: e.to_string(),
        }
    }

    /// A refused argument.
    pub(crate) fn arg(reason: impl Into<String>) -> Self {
        NightjarError::InvalidArgument {
            reason: reason.into(),
        }
    }
}
