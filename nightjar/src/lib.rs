//! The `nightjar` host tool as a library, so the integration tests drive the
//! same code paths as the command line.
//!
//! Never: hold the packet path on output (the store writer drops and counts), or print a name
//! unescaped.
//!
//! Tests: in-module tests, `tests/report_browser.rs`, and the workspace's `tests/integration`,
//! which drive this library.
#![forbid(unsafe_code)]

pub mod demo;
pub mod error;
pub mod eval_cmd;
pub mod intel_cmd;
pub mod memory_cmd;
pub mod memory_relay;
pub mod output;
pub mod replay;
pub mod report_cmd;
pub mod store_cmd;
pub mod store_sink;
pub mod zeek_log;

pub use error::CliError;
