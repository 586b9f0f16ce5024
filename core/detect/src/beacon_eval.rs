//! Beacon detector evaluation on generated traffic (`nightjar eval beacon`).
//!
//! Positives: callbacks with periods log-uniform in 10 s – 1 h, uniform jitter
//! of 0–50% of the period, 5% missed beats and ±10% size noise. Negatives:
//! allowlisted push/analytics timers (periodic, must be suppressed) and
//! human-driven traffic (bursts of requests separated by long, irregular
//! pauses, with varied sizes). Everything comes from a deterministic seed; the
//! threshold is set on a calibration seed and measured on a separate test seed.

use std::fmt;

use crate::beacon::{Allowlist, BeaconConfig, BeaconKey, BeaconTracker};
use crate::eval::{Confusion, threshold_at_fpr};

/// Shape of a generated data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeaconEvalConfig {
    /// Beaconing (app, destination) pairs.
    pub beacons: usize,
    /// Allowlisted periodic decoys.
    pub push_decoys: usize,
    /// Human-driven (app, destination) pairs.
    pub human: usize,
    /// Connections per pair; the score after the last one is used.
    pub connections: usize,
    /// FPR the calibration threshold is set for.
    pub target_fpr: f64,
}

impl Default for BeaconEvalConfig {
    fn default() -> Self {
        Self {
            beacons: 1000,
            push_decoys: 300,
            human: 2000,
            connections: 20,
            target_fpr: 0.005,
        }
    }
}

/// Result of [`eval_beacon`].
#[derive(Debug, Clone, PartialEq)]
pub struct BeaconEval {
    /// Threshold chosen on the calibration seed.
    pub threshold: f32,
    /// Confusion on the test seed at that threshold.
    pub test: Confusion,
    /// False positives among allowlisted decoys on the test seed.
    pub push_decoy_fp: usize,
    /// Seeds used.
    pub seeds: (u64, u64),
}

impl fmt::Display for BeaconEval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "beacon eval: calibration seed {:#x}, test seed {:#x}, threshold {:.4}",
            self.seeds.0, self.seeds.1, self.threshold
        )?;
        writeln!(
            f,
            "TPR {:.2}% ({} of {}), FPR {:.2}% ({} of {}), allowlisted decoys flagged: {}",
            self.test.recall() * 100.0,
            self.test.tp,
            self.test.tp + self.test.fn_,
            self.test.fpr() * 100.0,
            self.test.fp,
            self.test.fp + self.test.tn,
            self.push_decoy_fp
        )
    }
}

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

const SEC: f64 = 1_000_000.0;

/// Scores of generated positives and negatives, plus how many negatives were
/// allowlisted decoys (listed first in the negatives).
pub fn generate_scores(seed: u64, cfg: &BeaconEvalConfig) -> (Vec<f32>, Vec<f32>, usize) {
    let mut rng = Rng::new(seed);
    let mut tracker = BeaconTracker::new(
        BeaconConfig {
            max_keys: (cfg.beacons + cfg.push_decoys + cfg.human).max(1),
            ..BeaconConfig::default()
        },
        Allowlist::builtin(),
    );
    let base_us = 1_700_000_000_000_000u64;
    let run = |tracker: &mut BeaconTracker, key: BeaconKey, times: &[(f64, u64)]| -> f32 {
        let mut last = 0.0f32;
        for &(t, bytes) in times {
            let now = base_us + t as u64;
            last = tracker.observe(now, &key, bytes).map_or(0.0, |s| s.score);
        }
        last
    };
    let n = cfg.connections.max(3);
    let mut positives = Vec::with_capacity(cfg.beacons);
    for i in 0..cfg.beacons {
        let period = (10f64.ln() + rng.unit() * (3600f64.ln() - 10f64.ln())).exp() * SEC;
        let jitter = rng.between(0.0, 0.5);
        let size = rng.between(200.0, 5000.0);
        let mut t = rng.between(0.0, period);
        let mut times = Vec::with_capacity(n);
        while times.len() < n {
            times.push((t, (size * rng.between(0.9, 1.1)) as u64));
            let beats = if rng.unit() < 0.05 { 2.0 } else { 1.0 };
            t += beats * period * (1.0 + jitter * (2.0 * rng.unit() - 1.0));
        }
        let key = BeaconKey {
            app: format!("app{}", i % 50),
            dest: format!("c{i}.implant.example"),
        };
        positives.push(run(&mut tracker, key, &times));
    }
    let mut negatives = Vec::with_capacity(cfg.push_decoys + cfg.human);
    let push_hosts = [
        "courier.push.apple.com",
        "mtalk.google.com",
        "app-measurement.com",
        "api.mixpanel.com",
        "settings.crashlytics.com",
    ];
    for i in 0..cfg.push_decoys {
        let period = rng.between(30.0, 1800.0) * SEC;
        let mut t = 0.0;
        let mut times = Vec::with_capacity(n);
        while times.len() < n {
            times.push((t, 300));
            t += period * rng.between(0.98, 1.02);
        }
        let dest = push_hosts
            .get(i % push_hosts.len())
            .copied()
            .unwrap_or("push.apple.com");
        let key = BeaconKey {
            app: format!("app{i}"),
            dest: dest.into(),
        };
        negatives.push(run(&mut tracker, key, &times));
    }
    for i in 0..cfg.human {
        let mut t = 0.0;
        let mut times = Vec::with_capacity(n);
        while times.len() < n {
            // A session of a few requests seconds apart, then a long pause.
            let burst = 1 + (rng.next() % 6) as usize;
            for _ in 0..burst {
                if times.len() >= n {
                    break;
                }
                times.push((t, (rng.between(5.0, 13.0)).exp() as u64));
                t += rng.between(3.0, 90.0) * SEC;
            }
            t += (rng.between(300f64.ln(), 28_800f64.ln())).exp() * SEC;
        }
        let key = BeaconKey {
            app: format!("human{}", i % 50),
            dest: format!("site{i}.example"),
        };
        negatives.push(run(&mut tracker, key, &times));
    }
    (positives, negatives, cfg.push_decoys)
}

/// Sets the threshold on `calibration_seed` for `cfg.target_fpr` and measures
/// TPR/FPR on `test_seed`.
pub fn eval_beacon(calibration_seed: u64, test_seed: u64, cfg: &BeaconEvalConfig) -> BeaconEval {
    let (_, cal_neg, _) = generate_scores(calibration_seed, cfg);
    let threshold = threshold_at_fpr(&cal_neg, cfg.target_fpr);
    let (pos, neg, decoys) = generate_scores(test_seed, cfg);
    let push_decoy_fp = neg.iter().take(decoys).filter(|s| **s >= threshold).count();
    BeaconEval {
        threshold,
        test: Confusion::at(&pos, &neg, threshold),
        push_decoy_fp,
        seeds: (calibration_seed, test_seed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic() {
        let cfg = BeaconEvalConfig {
            beacons: 20,
            push_decoys: 5,
            human: 20,
            ..BeaconEvalConfig::default()
        };
        assert_eq!(generate_scores(7, &cfg), generate_scores(7, &cfg));
        assert_ne!(generate_scores(7, &cfg).0, generate_scores(8, &cfg).0);
    }

    #[test]
    fn meets_tpr_and_fpr_targets_on_held_out_seed() {
        let eval = eval_beacon(0xca1b, 0x7e57, &BeaconEvalConfig::default());
        eprintln!("{eval}");
        assert!(eval.test.recall() >= 0.95, "{eval}");
        assert!(eval.test.fpr() <= 0.01, "{eval}");
        assert_eq!(eval.push_decoy_fp, 0, "{eval}");
    }
}
