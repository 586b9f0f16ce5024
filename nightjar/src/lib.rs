//! The `nightjar` host tool as a library, so the integration tests drive the
//! same code paths as the command line.
#![forbid(unsafe_code)]

pub mod demo;
pub mod error;
pub mod intel_cmd;
pub mod output;
pub mod replay;
pub mod zeek_log;

pub use error::CliError;
