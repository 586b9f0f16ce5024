//! Why a report could not be made.

/// A report failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// Reading the store failed.
    #[error("reading the store: {0}")]
    Store(#[from] nightjar_store::StoreError),
    /// The template failed to render (a value's formatting failed).
    #[error("rendering the page: {0}")]
    Template(#[from] askama::Error),
    /// `since` is not before `until`.
    #[error("the period is empty: since ({since_us} µs) is not before until ({until_us} µs)")]
    EmptyPeriod {
        /// Requested start.
        since_us: u64,
        /// Requested end.
        until_us: u64,
    },
}
