//! UniFFI bindings for Nightjar: the only surface a mobile VPN app (Swift, Kotlin) calls.
//!
//! The inner/outer split of Mozilla's application-services: the core crates never derive uniffi
//! traits; this crate defines the FFI records and enums ([`records`]) and converts. One object,
//! [`NightjarEngine`], holds an engine (in relay mode, inside the local-VPN relay with its I/O
//! thread, see `relay_mode`), its database writer, the intel index and the callbacks;
//! free functions compile feeds ([`compile_feeds`]), configure logging ([`init_logging`]) and
//! give default caps ([`default_memory_caps`]).
//!
//! No panic crosses the FFI: every exported function runs inside `catch_unwind` and returns
//! [`NightjarError::Internal`] instead; an engine that panicked marks itself unusable. Which
//! thread each callback runs on is documented in [`callbacks`].
//!
//! Bindings: `bindings/generate.sh` regenerates `bindings/generated/{swift,kotlin}` with the
//! pinned generator (the `nightjar-uniffi-bindgen` package in `bindings/uniffi-bindgen`).
#![forbid(unsafe_code)]

uniffi::setup_scaffolding!();

mod batch_ingest;
pub mod callbacks;
mod config;
mod error;
#[cfg(test)]
mod fault_tests;
mod handle;
pub mod health;
mod intel;
#[cfg(test)]
mod log_capture;
mod logging;
mod network_change;
mod panic_guard;
pub mod records;
#[cfg(test)]
mod relay_dns_tests;
mod relay_mode;
#[cfg(test)]
mod relay_tests;
mod report;
mod store_rows;
#[cfg(test)]
mod tests;

pub use callbacks::{ALERT_QUEUE, AlertListener, AppResolver, SocketProtector, TunnelWriter};
pub use config::{
    EngineSettings, MemoryCaps, Mode, RelaySettings, default_memory_caps, default_relay_settings,
};
pub use error::{NightjarError, Result};
pub use handle::{MAX_APPS, NightjarEngine};
pub use health::{Health, IntelHealth, StoreFault, StoreHealth};
pub use intel::compile_feeds;
pub use logging::{LogLevel, init_logging};
pub use network_change::NetworkChange;
pub use relay_mode::TUNNEL_QUEUE;

/// The version of the Nightjar library, for bug reports.
#[uniffi::export]
pub fn nightjar_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
