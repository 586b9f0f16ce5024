//! The CLI's error type: one variant per thing a user can fix.

use std::path::PathBuf;

/// Everything that can stop a `nightjar` command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The capture could not be read at all.
    #[error(transparent)]
    Capture(#[from] nightjar_capture::CaptureError),
    /// A file or directory could not be created or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Writing to standard output failed (a closed pipe, say).
    #[error("writing output: {0}")]
    Stdout(std::io::Error),
    /// A feed or intel index problem.
    #[error(transparent)]
    Intel(#[from] nightjar_intel::IntelError),
    /// The engine refused the configuration.
    #[error("engine configuration: {0}")]
    Config(#[from] nightjar_engine::ConfigError),
    /// The demo scenario could not be generated.
    #[error("generating the demo scenario: {0}")]
    Synth(String),
    /// Writing a generated pcap failed.
    #[error("{path}: {source}")]
    PcapWrite {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: nightjar_capture::WriteError,
    },
}

impl CliError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> CliError {
        let path = path.into();
        move |source| CliError::Io { path, source }
    }
}
