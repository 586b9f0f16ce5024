//! How the host app configures an engine.

use nightjar_engine::EngineConfig;

use crate::error::{NightjarError, Result};

/// What the tunnel does with packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Mode {
    /// Observe only: every verdict is `Pass` and the OS keeps forwarding the packets.
    Monitor,
    /// Nightjar relays the traffic itself (local VPN). Not built yet: refused with
    /// `NightjarError::Unsupported`.
    Relay,
}

/// Memory caps. Every table in the engine has one; above it work is shed and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct MemoryCaps {
    /// Flows tracked at once (1 ..= 2^32 - 2). A full table evicts the flow nearest its timeout.
    pub max_flows: u64,
    /// Bytes all hello/request inspections may buffer together.
    pub max_inspection_bytes: u64,
    /// Engine events queued between drains; the bindings drain after every packet, so this only
    /// matters when a sweep completes many flows at once.
    pub max_events: u64,
}

/// Everything needed to create a [`crate::NightjarEngine`].
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EngineSettings {
    /// SQLite database for flows, DNS, alerts and apps; `None` keeps nothing on disk (queries
    /// and exports then fail with `NoDatabase`).
    pub db_path: Option<String>,
    /// A compiled intel index (see `compile_feeds`); `None` starts without one.
    pub intel_index_path: Option<String>,
    /// Monitor (the only mode built so far) or relay.
    pub mode: Mode,
    /// Memory caps.
    pub caps: MemoryCaps,
    /// Random bits from the host (`SecRandomCopyBytes`, `SecureRandom`): seeds the flow table's
    /// hash so a remote peer cannot aim collisions at it.
    pub hash_seed: u64,
}

/// The defaults a phone can afford: 16,384 flows, 2 MiB of inspection, 4,096 queued events.
#[uniffi::export]
pub fn default_memory_caps() -> MemoryCaps {
    let d = EngineConfig::default();
    MemoryCaps {
        max_flows: 16_384,
        max_inspection_bytes: d.max_inspection_bytes as u64,
        max_events: d.max_events as u64,
    }
}

/// Flow-table caps above this are refused before any allocation: the engine sizes its index
/// for twice the cap up front.
const MAX_FLOWS_LIMIT: u64 = 4_000_000;

impl EngineSettings {
    /// The engine configuration these settings ask for.
    pub(crate) fn engine_config(&self) -> Result<EngineConfig> {
        if self.mode == Mode::Relay {
            return Err(NightjarError::Unsupported {
                feature: "relay mode (monitor only for now)".into(),
            });
        }
        let caps = self.caps;
        if caps.max_flows == 0 || caps.max_flows > MAX_FLOWS_LIMIT {
            return Err(NightjarError::InvalidConfig {
                reason: format!(
                    "max_flows must be between 1 and {MAX_FLOWS_LIMIT}, got {}",
                    caps.max_flows
                ),
            });
        }
        let size = |name: &str, v: u64| {
            usize::try_from(v).map_err(|_| NightjarError::InvalidConfig {
                reason: format!("{name} does not fit this platform's address space"),
            })
        };
        let mut config = EngineConfig::default();
        config.flows.max_flows = size("max_flows", caps.max_flows)?;
        config.max_inspection_bytes = size("max_inspection_bytes", caps.max_inspection_bytes)?;
        config.max_events = size("max_events", caps.max_events)?;
        config.hash_seed = self.hash_seed;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> EngineSettings {
        EngineSettings {
            db_path: None,
            intel_index_path: None,
            mode: Mode::Monitor,
            caps: default_memory_caps(),
            hash_seed: 42,
        }
    }

    #[test]
    fn caps_and_seed_reach_the_engine_config() {
        let mut s = settings();
        s.caps.max_flows = 100;
        s.caps.max_events = 7;
        s.caps.max_inspection_bytes = 9_000;
        let c = s.engine_config().unwrap();
        assert_eq!(c.flows.max_flows, 100);
        assert_eq!(c.max_events, 7);
        assert_eq!(c.max_inspection_bytes, 9_000);
        assert_eq!(c.hash_seed, 42);
    }

    #[test]
    fn relay_and_bad_caps_are_refused() {
        let mut s = settings();
        s.mode = Mode::Relay;
        assert!(matches!(
            s.engine_config(),
            Err(NightjarError::Unsupported { .. })
        ));
        let mut s = settings();
        s.caps.max_flows = 0;
        assert!(matches!(
            s.engine_config(),
            Err(NightjarError::InvalidConfig { .. })
        ));
        s.caps.max_flows = MAX_FLOWS_LIMIT + 1;
        assert!(matches!(
            s.engine_config(),
            Err(NightjarError::InvalidConfig { .. })
        ));
    }
}
