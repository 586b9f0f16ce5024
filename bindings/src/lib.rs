//! UniFFI bindings for Nightjar: the only surface a mobile VPN app (Swift, Kotlin) calls.
//!
//! Never: let a panic cross the FFI, derive uniffi traits on core types, or return an error as a
//! string.
//!
//! Tests: in-crate (`tests.rs`, `fault_tests.rs`, `relay_tests.rs`, `relay_dns_tests.rs`), the
//! Kotlin host tests in `bindings/kotlin-tests/`, the generated-bindings staleness check; bench:
//! `benches/ingest.rs`.
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
//!
//! # In detail
//!
//! `bindings/` is the `nightjar-ffi` crate, the only place with uniffi attributes: an inner/outer
//! API (core types never derive uniffi traits; FFI records and enums here convert),
//! `NightjarEngine` (`Send + Sync`: engine and store writer behind one mutex, queries on a separate
//! read connection, the intel index swapped under an `RwLock`), typed `NightjarError` variants,
//! every export inside `catch_unwind` with the handle poisoned after a caught panic, the app
//! resolver called on the ingesting thread with the engine lock released, engine events fed to the
//! detection `Pipeline` inside `ingest` (inventory and intel index fed to it too) and its alerts
//! stored and delivered on one `nightjar-alerts` thread through a bounded queue, a pinned
//! `uniffi-bindgen` (its own package, `bindings/uniffi-bindgen/`, so its `uniffi/cli` feature is
//! part of every workspace build instead of forcing a separate feature resolution), generated Swift
//! and Kotlin committed under `bindings/generated/` (checked for staleness), and Kotlin host tests
//! on the JVM. Monitor mode fails open at this layer too: a missing or damaged index or database, a
//! full disk or a lost writer thread never fails `new` or `ingest`; `health()` reports it, the
//! writer is restarted with backoff and `reopen_store` can move a damaged database aside
//! (`bindings/src/fault_tests.rs` injects each fault). Relay mode: the handle owns a
//! `nightjar-relay` `Relay` (its engine is the monitor path's, so store, detectors and queries are
//! shared) and one `nightjar-relay` I/O thread on a `mio::Poll` that the relay's `StdDialer`
//! registers outbound sockets with; it sleeps until readiness or `next_deadline()`, woken by
//! `ingest` only when a batch moves that deadline earlier. Packets for the tunnel come back in
//! `IngestResult.to_tunnel` (produced inside `ingest`), through the `TunnelWriter` callback (on
//! `nightjar-relay`, no lock held), or, with no writer, from a queue of 1,024 packets (drops
//! counted) returned by the next `ingest`/`poll`. `SocketProtector.protect(fd)` (Android
//! `VpnService.protect`) runs on the ingesting thread with the engine lock held; false or a throw
//! refuses the socket (RST). `Stats.relay` and `MemoryReport.relay` carry the relay's counters and
//! caps. A `tls://IP#NAME` or `https://IP/PATH#NAME` DNS upstream (parsed by
//! `nightjar_relay::DnsUpstream`, shared with `nightjar-netns`) installs the relay's encrypted
//! upstream with the platform's verifier. `EngineSettings.block_at` turns on blocking: the relay's
//! hooks are a `nightjar_relay::PipelinePolicy` over the handle's pipeline (an
//! `Arc<Mutex<Pipeline>>`, only ever locked under the engine lock, never across a relay call), and
//! the relay's block events are recorded on it (`record_relay_event`) before each drain of the
//! engine's events, so the FFI `Alert.enforcement` says how the device was refused.
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
pub use records::Alert;
pub use relay_mode::TUNNEL_QUEUE;

/// The version of the Nightjar library, for bug reports.
#[uniffi::export]
pub fn nightjar_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
