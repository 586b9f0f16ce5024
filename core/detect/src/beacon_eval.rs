//! Beacon detector evaluation on generated traffic (`nightjar eval beacon`).
//!
//! Each case is one (app, destination) timeline from [`crate::beacon_traffic`]
//! fed to a fresh [`BeaconTracker`]; a case is flagged when any connection
//! of it scores at or above the pipeline's report score (0.7), as an alert
//! would be raised. Positive families run to 20 beats that reached the
//! network (skipped and held-back beats add time, not evidence; the burst a
//! wake flushes counts as one beat).
//! Negative families run to their 20–200 connections, so long irregular
//! series get every chance to look periodic. TPR is printed per positive
//! family and FPR per negative family, for the production gate and, beside it,
//! the gates it was chosen over.

use std::fmt;

use crate::beacon::{Allowlist, BeaconConfig, BeaconKey, BeaconTracker};
use crate::beacon_period::PeriodGate;
use crate::beacon_traffic::{self as traffic, Conn, DozeStyle, Rng, SEC};

/// Shape of a generated data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeaconEvalConfig {
    /// Cases per family.
    pub cases: usize,
    /// Score at which a case is flagged.
    pub threshold: f32,
    /// The gate evaluated.
    pub gate: PeriodGate,
}

impl Default for BeaconEvalConfig {
    fn default() -> Self {
        Self {
            cases: 1000,
            threshold: 0.7,
            gate: PeriodGate::Peak,
        }
    }
}

/// The families of cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Family {
    /// 10 s – 1 h, jitter ≤ 30%, every beat sent.
    Periodic,
    /// 10 s – 1 h, jitter ≤ 30%, 30% of beats skipped.
    Skipped,
    /// 10 s – 1 h, jitter ≤ 30%, 0–30% skipped, on a phone that dozes
    /// (frozen sleep loop).
    DozeThaw,
    /// The same with alarms whose held-back beats are flushed on wake.
    DozeFlush,
    /// 10 s – 1 h, jitter 30–50%, 0–30% skipped (beyond the acceptance).
    WideJitter,
    /// 1 – 24 h, jitter ≤ 30%, 0–30% skipped, dozing or not.
    LongPeriod,
    /// Exponential gaps (negative).
    Exponential,
    /// Sessions of calls (negative).
    Bursty,
    /// Log-normal polling of regular size (negative).
    Polling,
    /// Allowlisted push, NTP and connectivity timers (negative).
    Services,
}

impl Family {
    /// Every family, positives first.
    pub const ALL: [Family; 10] = [
        Self::Periodic,
        Self::Skipped,
        Self::DozeThaw,
        Self::DozeFlush,
        Self::WideJitter,
        Self::LongPeriod,
        Self::Exponential,
        Self::Bursty,
        Self::Polling,
        Self::Services,
    ];

    /// Whether the family is beaconing.
    pub fn positive(self) -> bool {
        matches!(
            self,
            Self::Periodic
                | Self::Skipped
                | Self::DozeThaw
                | Self::DozeFlush
                | Self::WideJitter
                | Self::LongPeriod
        )
    }

    /// Whether the acceptance criteria cover it.
    pub fn in_acceptance(self) -> bool {
        !matches!(self, Self::WideJitter | Self::LongPeriod)
    }

    /// What it is, for the report.
    pub fn label(self) -> &'static str {
        match self {
            Self::Periodic => "periodic 10s-1h, jitter<=30%",
            Self::Skipped => "  + 30% beats skipped",
            Self::DozeThaw => "  + Doze, frozen loop, 0-30% skipped",
            Self::DozeFlush => "  + Doze, flushed on wake, 0-30% skipped",
            Self::WideJitter => "jitter 30-50%, 0-30% skipped",
            Self::LongPeriod => "periods 1h-24h, 0-30% skipped, Doze",
            Self::Exponential => "exponential gaps 10s-1h",
            Self::Bursty => "bursty sessions",
            Self::Polling => "irregular polling, regular size",
            Self::Services => "allowlisted push/NTP/connectivity",
        }
    }

    fn generate(self, rng: &mut Rng) -> Vec<Conn> {
        let short = (10.0 * SEC, 3600.0 * SEC);
        let long = (3600.0 * SEC, 86_400.0 * SEC);
        let (jitter, skip) = ((0.0, 0.3), (0.0, 0.3));
        match self {
            Self::Periodic => {
                let t = traffic::timer(rng, short, jitter, (0.0, 0.0));
                traffic::awake_beacon(rng, &t)
            }
            Self::Skipped => {
                let t = traffic::timer(rng, short, jitter, (0.3, 0.3));
                traffic::awake_beacon(rng, &t)
            }
            Self::DozeThaw => {
                let t = traffic::timer(rng, short, jitter, skip);
                traffic::dozing_beacon(rng, &t, DozeStyle::Thaw)
            }
            Self::DozeFlush => {
                let t = traffic::timer(rng, short, jitter, skip);
                traffic::dozing_beacon(rng, &t, DozeStyle::Flush)
            }
            Self::WideJitter => {
                let t = traffic::timer(rng, short, (0.3, 0.5), skip);
                traffic::awake_beacon(rng, &t)
            }
            Self::LongPeriod => {
                let t = traffic::timer(rng, long, jitter, skip);
                if rng.unit() < 0.5 {
                    traffic::awake_beacon(rng, &t)
                } else {
                    traffic::dozing_beacon(rng, &t, DozeStyle::Thaw)
                }
            }
            Self::Exponential => traffic::exponential_gaps(rng),
            Self::Bursty => traffic::bursty_sessions(rng),
            Self::Polling => traffic::irregular_polling(rng),
            Self::Services => traffic::service_timer(rng),
        }
    }
}

/// Flagged cases of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyResult {
    /// The family.
    pub family: Family,
    /// Cases flagged.
    pub flagged: usize,
    /// Cases run.
    pub cases: usize,
}

impl FamilyResult {
    /// Share of cases flagged: TPR for a positive family, FPR for a negative.
    pub fn rate(&self) -> f64 {
        if self.cases == 0 {
            0.0
        } else {
            self.flagged as f64 / self.cases as f64
        }
    }
}

/// Result of [`eval_beacon`].
#[derive(Debug, Clone, PartialEq)]
pub struct BeaconEval {
    /// The gate evaluated.
    pub gate: PeriodGate,
    /// The seed.
    pub seed: u64,
    /// The report score.
    pub threshold: f32,
    /// Per family, in [`Family::ALL`] order.
    pub families: Vec<FamilyResult>,
}

impl BeaconEval {
    /// The result for `family`.
    pub fn get(&self, family: Family) -> Option<&FamilyResult> {
        self.families.iter().find(|f| f.family == family)
    }
}

impl fmt::Display for BeaconEval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "beacon eval: gate {}, seed {:#x}, flagged at score >= {:.2}",
            self.gate.name(),
            self.seed,
            self.threshold
        )?;
        for r in &self.families {
            writeln!(
                f,
                "  {} {:<42} {:>7.2}% ({} of {}){}",
                if r.family.positive() { "TPR" } else { "FPR" },
                r.family.label(),
                r.rate() * 100.0,
                r.flagged,
                r.cases,
                if r.family.in_acceptance() {
                    ""
                } else {
                    "  [measured, not in acceptance]"
                }
            )?;
        }
        Ok(())
    }
}

/// Runs every family for `cfg.cases` cases from `seed`.
pub fn eval_beacon(seed: u64, cfg: &BeaconEvalConfig) -> BeaconEval {
    let allow = Allowlist::builtin();
    let config = BeaconConfig {
        gate: cfg.gate,
        ..BeaconConfig::default()
    };
    let origin = 1_700_000_000_000_000u64;
    let mut families = Vec::with_capacity(Family::ALL.len());
    for (fi, family) in Family::ALL.into_iter().enumerate() {
        let mut rng = Rng::new(seed.wrapping_mul(0x100).wrapping_add(fi as u64));
        let mut flagged = 0;
        for i in 0..cfg.cases {
            let conns = family.generate(&mut rng);
            let dest = if family == Family::Services {
                traffic::SERVICE_HOSTS
                    .get(i % traffic::SERVICE_HOSTS.len())
                    .copied()
                    .unwrap_or("push.apple.com")
                    .to_owned()
            } else {
                format!("c{i}.case.example")
            };
            let key = BeaconKey {
                app: "app".into(),
                dest,
            };
            let mut tracker = BeaconTracker::new(config.clone(), allow.clone());
            let hit = conns.iter().any(|&(t, bytes)| {
                tracker
                    .observe(origin + t.max(0.0) as u64, &key, bytes)
                    .is_some_and(|s| s.score >= cfg.threshold)
            });
            flagged += usize::from(hit);
        }
        families.push(FamilyResult {
            family,
            flagged,
            cases: cfg.cases,
        });
    }
    BeaconEval {
        gate: cfg.gate,
        seed,
        threshold: cfg.threshold,
        families,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic() {
        let cfg = BeaconEvalConfig {
            cases: 30,
            ..BeaconEvalConfig::default()
        };
        assert_eq!(eval_beacon(7, &cfg), eval_beacon(7, &cfg));
    }

    /// Guards the figures measured when the gate was chosen (see docs/perf.md):
    /// where the acceptance is met the test holds it (periodic TPR
    /// ≥ 99%, exponential and bursty FPR ≤ 1%, allowlisted services never);
    /// where it is not yet met (skipped beats, Doze, polling FPR: 1.5% at this
    /// seed) the test holds the measured level so it cannot silently get worse.
    #[test]
    fn holds_the_measured_figures_on_every_family() {
        let eval = eval_beacon(0x7e57, &BeaconEvalConfig::default());
        eprintln!("{eval}");
        let rate = |f| eval.get(f).map_or(f64::NAN, FamilyResult::rate);
        assert_eq!(eval.gate, PeriodGate::Peak);
        assert!(eval.families.iter().all(|r| r.cases >= 1000), "{eval}");
        assert!(rate(Family::Periodic) >= 0.99, "{eval}");
        assert!(rate(Family::Skipped) >= 0.91, "{eval}");
        assert!(rate(Family::DozeThaw) >= 0.82, "{eval}");
        assert!(rate(Family::DozeFlush) >= 0.70, "{eval}");
        assert!(rate(Family::LongPeriod) >= 0.97, "{eval}");
        assert!(rate(Family::Exponential) <= 0.01, "{eval}");
        assert!(rate(Family::Bursty) <= 0.01, "{eval}");
        assert!(rate(Family::Polling) <= 0.02, "{eval}");
        assert_eq!(
            eval.get(Family::Services).map(|r| r.flagged),
            Some(0),
            "{eval}"
        );
    }

    #[test]
    fn the_gate_is_what_keeps_irregular_traffic_quiet() {
        // Without the gate, RITA's subscores alone flag irregular traffic: this
        // evaluation can fail.
        let cfg = BeaconEvalConfig {
            cases: 200,
            gate: PeriodGate::Off,
            ..BeaconEvalConfig::default()
        };
        let eval = eval_beacon(0x7e57, &cfg);
        assert!(
            eval.get(Family::Polling).is_some_and(|r| r.rate() > 0.01)
                || eval
                    .get(Family::Exponential)
                    .is_some_and(|r| r.rate() > 0.01),
            "{eval}"
        );
    }
}
