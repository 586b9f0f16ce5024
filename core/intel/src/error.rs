//! The crate's typed error.

use std::path::PathBuf;

use crate::feed::FeedFormat;

/// Everything that can go wrong while loading feeds, compiling or opening an index.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntelError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The feed's format could not be recognised.
    #[error("{file}: not recognisable as any supported feed format")]
    UnrecognisedFormat {
        /// The feed file.
        file: String,
    },
    /// The feed parsed, but too much of it was rejected to trust the rest.
    #[error("{file}: refused as {format:?}: {rejected} of {lines} entries rejected")]
    MostlyGarbage {
        /// The feed file.
        file: String,
        /// The format it was read as.
        format: FeedFormat,
        /// Rejected entries.
        rejected: u64,
        /// Significant (non-comment) entries.
        lines: u64,
    },
    /// A STIX bundle is not valid JSON or not a bundle.
    #[error("{file}: invalid STIX bundle: {reason}")]
    InvalidStix {
        /// The feed file.
        file: String,
        /// What serde_json reported.
        reason: String,
    },
    /// A compiled index is corrupt, truncated or of another version.
    #[error("corrupt index: {0}")]
    CorruptIndex(CorruptIndex),
    /// The index would exceed a limit of the file format (u32 offsets/counts).
    #[error("index too large: {0}")]
    TooLarge(&'static str),
    /// The fuse filter could not be constructed.
    #[error("filter construction failed: {0}")]
    Filter(&'static str),
    /// A `NAME=PATH` feed argument is malformed.
    #[error("invalid feed argument: {0}")]
    InvalidArgument(String),
}

/// Why an index file was refused on open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptIndex {
    /// The file is shorter than its header or a section it declares.
    #[error("truncated")]
    Truncated,
    /// The magic bytes are wrong: not an index file.
    #[error("bad magic")]
    BadMagic,
    /// Written by an incompatible version of this crate.
    #[error(
        "index format version {0} is not supported (this build reads version {v}); recompile the feeds",
        v = crate::format::VERSION
    )]
    UnsupportedVersion(u32),
    /// The header checksum does not match.
    #[error("header checksum mismatch")]
    HeaderChecksum,
    /// The body checksum does not match (only checked by `Index::verify`).
    #[error("body checksum mismatch")]
    BodyChecksum,
    /// A section's offset or length is out of bounds or inconsistent.
    #[error("section {0} out of bounds or malformed")]
    Section(usize),
}

impl From<CorruptIndex> for IntelError {
    fn from(c: CorruptIndex) -> Self {
        IntelError::CorruptIndex(c)
    }
}
