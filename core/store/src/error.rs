//! Typed errors for the store.

use std::path::PathBuf;

/// Everything that can go wrong in the store. SQLite errors are kept whole so
/// callers can match on the extended result code (disk full, corrupt, busy).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database was written by a newer version of Nightjar than this one.
    #[error("database schema version {found} is newer than the supported {supported}")]
    SchemaTooNew {
        /// `PRAGMA user_version` of the file.
        found: u32,
        /// Highest version this code knows how to migrate to.
        supported: u32,
    },
    /// The writer thread could not be started.
    #[error("could not start the writer thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// A value stored in a column does not decode (e.g. an IP blob of 5 bytes).
    #[error("column {column} holds a value that does not decode")]
    BadColumn {
        /// Column name.
        column: &'static str,
    },
    /// A JSON column or export could not be (de)serialised.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// Writing an export failed.
    #[error("export i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Writing a CSV export failed.
    #[error("csv: {0}")]
    Csv(#[from] csv::Error),
    /// Writing a pcap export failed.
    #[error("pcap: {0}")]
    Pcap(#[from] nightjar_capture::WriteError),
    /// No alert has this id.
    #[error("no alert with id {0}")]
    NoSuchAlert(u64),
    /// A pagination cursor string was not produced by this store.
    #[error("malformed cursor")]
    BadCursor,
    /// The database file could not be opened.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The path given to [`crate::Store::open`].
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
}

/// Result alias for the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
