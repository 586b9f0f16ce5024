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
    /// A database problem.
    #[error(transparent)]
    Store(#[from] nightjar_store::StoreError),
    /// A protocol that is neither a name nor a number.
    #[error("not a protocol (tcp, udp, icmp, icmp6 or a number): {0}")]
    BadProto(String),
    /// A memory scenario went over its target.
    #[error("a scenario went over its memory target (see the table)")]
    OverBudget,
    /// A paging cursor that was not printed by `nightjar query`.
    #[error("not a cursor printed by `nightjar query`: {0}")]
    BadCursor(String),
    /// A time that is neither RFC 3339 nor seconds since the epoch.
    #[error("not a time (RFC 3339 like 2026-11-01T09:00:00Z, or seconds since the epoch): {0}")]
    BadTime(String),
    /// `export --format pcap` without `--alert ID` or `--all-alerts`.
    #[error("--format pcap needs --alert ID or --all-alerts")]
    PcapNeedsAlert,
    /// `export --format pcap` to standard output.
    #[error("--format pcap writes a binary file: give it -o FILE")]
    PcapNeedsOutput,
    /// The report could not be made.
    #[error(transparent)]
    Report(#[from] nightjar_report::ReportError),
    /// A detector model problem.
    #[error("DGA model: {0}")]
    Model(#[from] nightjar_detect::ModelError),
    /// An evaluation list could not be read.
    #[error(transparent)]
    Eval(#[from] nightjar_detect::EvalError),
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
    /// A closure that wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> CliError {
        let path = path.into();
        move |source| CliError::Io { path, source }
    }
}
