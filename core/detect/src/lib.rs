//! Detector building blocks for Nightjar: DGA scoring ([`dga`]) and per-app DGA infection verdicts ([`infection`]), beaconing
//! ([`beacon`], gated on a period by [`beacon_peak`] and [`beacon_period`]), NXDOMAIN bursts ([`nxdomain`]), DNS tunnelling ([`tunnel`]),
//! previously-unseen domains ([`first_seen`]), contacts right after an app
//! install/update ([`install`]), per-app baselines ([`baseline`]), shared CDN
//! infrastructure ([`shared_infra`]), the alert type and gate ([`alert`]), the
//! [`pipeline`] that wires them to the engine's events, and the evaluation
//! harnesses ([`eval`], [`beacon_eval`], [`infection_eval`]).
//!
//! Never: do I/O or read a clock (time comes with each event); never raise an alert without its
//! reasons, its source and its app and flow; every table is capped.
//!
//! Tests: in-module tests (including `explain_tests.rs`); evaluations through `nightjar eval dga |
//! dga-infection | beacon`; bench: `benches/detect.rs`.
//!
//! Everything is sans-IO: callers pass names, sizes and the time (`now_us`,
//! microseconds since the Unix epoch); every table is capped and counts what it
//! sheds. Only the evaluation loaders read files, and they are not on the
//! packet path.
//!
//! # In detail
//!
//! (Moved here from ARCHITECTURE.md's crate map, which keeps one sentence per crate.)
//!
//! Detector building blocks, sans-IO and bounded: the DGA model (a failed lookup is scored on its
//! generated label: the customer's label under a Public Suffix List private suffix such as
//! `ddns.net`, or the leftmost label of a subdomain-style DGA, whichever looks more generated; an
//! answered name on the label left of the ICANN suffix, so platform-picked CDN labels are not
//! scored; single-label names never: 18 features from one pass over the label (`dga_features`:
//! benign and DGA character-trigram models and their log-likelihood ratio, the share of the label
//! covered by 5-letter pieces common in benign names, the least and most surprising 4-character
//! windows, shape) combined by gradient-boosted trees with monotone constraints (`dga_trees`:
//! evaluated in plain Rust, each node carrying its expected logit so a score splits into
//! per-feature contributions for the alert's reasons), shipped as a model file under 256 KiB; the
//! reproducible trainer, `tools/train_dga.sh`, generates its positives with re-implemented DGA
//! family generators, takes its benign names from the HSTS preload list, EasyPrivacy, a tracker
//! database and the Public Suffix List, fits the trees with LightGBM and never reads the
//! evaluation fixtures), beaconing (RITA-style interval/size
//! regularity as evidence, gated on a period found in the connection starts by `beacon_peak` (the
//! default: a band with an empty floor below it that holds most intervals, or most outside sleep
//! episodes when a runs test shows the on-period beats come in runs, or is denser than a smooth
//! spread with its longer intervals on a comb of multiples), on the interval classes and floor
//! test of `beacon_period` (which keeps the earlier `fold` and `coherence` gates for comparison) —
//! with the period stated in words on the alert, a documented periodic-service
//! allowlist and per-app baselines; `beacon_traffic` holds the evaluation's seeded traffic
//! generators), NXDOMAIN bursts, DNS tunnelling, previously-unseen domains (device-wide and per
//! app, registrable and full name, learning period, persistable state), first contacts after
//! install/update, the explained `Alert` with ATT&CK references, the per-severity `Policy`, and the
//! dedup/rate-limit `AlertGate`; per-app baselines (stage first-run/learning/known, protocols by
//! transport and port class) and the shared-infrastructure table (an address DNS hands out for many
//! registrable domains); evaluation harnesses. `pipeline::Pipeline` wires them: engine events (+
//! `attribute(flow, uid)`), the intel index, the app inventory and `now_us` in; gated,
//! policy-stamped alerts out (IOC on domain / address / DNS answer with feed provenance, DGA,
//! NXDOMAIN burst, tunnelling, first-seen, post-install, beaconing, baseline deviation),
//! `name_action()` / `address_action()` for a relay's DNS and flow hooks, `record_enforcement()`
//! (what the relay did: NXDOMAIN, sinkhole, RST, ICMP unreachable; a bounded list of 64 matched by
//! name or address within 300 s to the next alert about it, which carries it as
//! `Alert::enforcement`, stored in `alerts.enforcement`, schema v5), counters, `memory()` against
//! caps, `save_state`/`load_state` bytes for the store edge.
#![forbid(unsafe_code)]

pub mod alert;
pub mod baseline;
pub mod beacon;
pub mod beacon_eval;
pub mod beacon_peak;
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
