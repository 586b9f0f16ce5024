//! Detector building blocks for Nightjar: DGA scoring ([`dga`]) and per-app DGA infection verdicts ([`infection`]), beaconing
//! ([`beacon`], gated on a period by [`beacon_period`]), NXDOMAIN bursts ([`nxdomain`]), DNS tunnelling ([`tunnel`]),
//! previously-unseen domains ([`first_seen`]), contacts right after an app
//! install/update ([`install`]), per-app baselines ([`baseline`]), shared CDN
//! infrastructure ([`shared_infra`]), the alert type and gate ([`alert`]), the
//! [`pipeline`] that wires them to the engine's events, and the evaluation
//! harnesses ([`eval`], [`beacon_eval`], [`infection_eval`]).
//!
//! Everything is sans-IO: callers pass names, sizes and the time (`now_us`,
//! microseconds since the Unix epoch); every table is capped and counts what it
//! sheds. Only the evaluation loaders read files, and they are not on the
//! packet path.
#![forbid(unsafe_code)]

pub mod alert;
pub mod baseline;
pub mod beacon;
pub mod beacon_eval;
pub mod beacon_period;
pub mod beacon_traffic;
pub mod dga;
pub mod dga_families;
pub mod dga_features;
pub mod dga_trees;
pub mod domain;
pub mod eval;
pub mod eval_lofo;
pub mod first_seen;
pub mod infection;
pub mod infection_eval;
pub mod install;
pub mod nxdomain;
pub mod pipeline;
pub mod shared_infra;
pub mod tunnel;

#[cfg(test)]
mod explain_tests;
#[cfg(test)]
mod test_fixtures;

pub use alert::{
    Action, Alert, AlertGate, AttackRef, Detector, Enforcement, GateConfig, Policy, Severity,
    Signal,
};
pub use beacon::{Allowlist, BeaconConfig, BeaconKey, BeaconScore, BeaconTracker};
pub use beacon_eval::{BeaconEval, BeaconEvalConfig, eval_beacon};
pub use beacon_period::{PeriodFit, PeriodGate};
pub use dga::{DgaModel, DgaScore, ModelError};
pub use eval::{DgaEval, EvalError, eval_dga};
pub use eval_lofo::{LofoEval, eval_leave_family_out};
pub use first_seen::{FirstSeen, FirstSeenConfig, Novelty, StateError};
pub use infection::{InfectionConfig, InfectionTracker, InfectionVerdict, Lookup};
pub use infection_eval::{InfectionEval, InfectionEvalConfig, eval_infection};
pub use install::{AppInfo, ContactContext, InstallConfig, PostInstallDetector, PostInstallScore};
pub use nxdomain::{NxBurst, NxdomainConfig, NxdomainTracker};
pub use pipeline::{
    InventoryApp, Pipeline, PipelineConfig, PipelineCounters, PipelineError, PipelineMemory,
};
pub use tunnel::{TunnelConfig, TunnelDetector, TunnelScore};
