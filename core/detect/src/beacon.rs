//! Beaconing: periodic callbacks from one app to one destination.
//!
//! Scoring follows RITA's published approach: the intervals between
//! connection starts and the connection sizes are each judged by their Bowley
//! (quartile) skewness and their median absolute deviation about the median
//! (MADM), plus how evenly the connections cover the observed span. A beacon has
//! symmetric, tight intervals whatever its period; jitter widens the MADM, so
//! the MADM is judged relative to the median interval (a 50% uniform jitter
//! still scores 0.75 on that signal, human browsing scores far lower).
//!
//! Those subscores are evidence, not the verdict: a score is produced only
//! when the gate ([`crate::beacon_peak`] by default, see
//! [`crate::beacon_period`]) finds a period in the connection starts (an
//! irregular process with regular sizes and a symmetric interval distribution
//! scores high on RITA's signals alone). With a period, the interval
//! statistics are taken over the intervals it explains, folded to one period,
//! so skipped beats, sleep and wake clusters do not dilute them; the alert
//! states the period in words ([`BeaconScore::explanation`]).
//!
//! Legitimate timers (push, analytics, update checks) are handled by data, not
//! code: [`Allowlist`] (shipped as `data/periodic_allowlist.txt`) and a per-app
//! baseline learnt during a configurable learning period.
//!
//! Bounded: at most `max_keys` tracked (app, destination) pairs with LRU
//! eviction, and a ring of the last `ring` connection starts per pair.

use std::borrow::Cow;
use std::collections::VecDeque;

use hashbrown::{HashMap, HashSet};

use crate::alert::Signal;
use crate::beacon_period::{self, PeriodFit, PeriodGate};
use crate::domain;

const BUILTIN_ALLOWLIST: &str = include_str!("../data/periodic_allowlist.txt");

/// Registrable domains whose periodic traffic is expected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    domains: HashSet<String>,
}

impl Allowlist {
    /// The shipped list (`data/periodic_allowlist.txt`).
    pub fn builtin() -> Self {
        Self::parse(BUILTIN_ALLOWLIST)
    }

    /// Parses `domain  # why` lines; comments and blank lines are skipped.
    pub fn parse(text: &str) -> Self {
        let domains = text
            .lines()
            .filter_map(|l| l.split('#').next())
            .filter_map(|l| l.split_whitespace().next())
            .filter_map(domain::normalize)
            .map(Cow::into_owned)
            .collect();
        Self { domains }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.domains.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    /// Whether `dest` (a name, any case) is covered: its registrable domain or
    /// the name itself is listed. IP destinations are never covered.
    pub fn contains(&self, dest: &str) -> bool {
        let Some(n) = domain::normalize(dest) else {
            return false;
        };
        if self.domains.contains(n.as_ref()) {
            return true;
        }
        domain::registrable(&n).is_some_and(|r| self.domains.contains(r))
    }
}

/// Who talks to whom.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BeaconKey {
    /// App identifier.
    pub app: String,
    /// Destination: registrable domain or IP address in text form.
    pub dest: String,
}

/// Limits and tuning of a [`BeaconTracker`].
#[derive(Debug, Clone, PartialEq)]
pub struct BeaconConfig {
    /// Most tracked keys; the least recently seen is evicted.
    pub max_keys: usize,
    /// Connection starts kept per key.
    pub ring: usize,
    /// Connections needed before a score is produced.
    pub min_connections: usize,
    /// Connection count at which the count factor reaches 1.
    pub full_confidence_connections: usize,
    /// Starts closer than this are one "session" (retries, parallel sockets)
    /// and only the first counts, µs.
    pub merge_within_us: u64,
    /// Until this time (µs), detected beacons are learnt into the per-app
    /// baseline instead of being reported.
    pub learning_until_us: u64,
    /// Most baseline entries kept.
    pub max_baseline: usize,
    /// Score at which a beacon is learnt into the baseline while learning.
    pub baseline_score: f32,
    /// The periodicity test a score needs to pass.
    pub gate: PeriodGate,
}

impl Default for BeaconConfig {
    fn default() -> Self {
        Self {
            max_keys: 4096,
            ring: 64,
            min_connections: 8,
            full_confidence_connections: 20,
            merge_within_us: 2_000_000,
            learning_until_us: 0,
            max_baseline: 4096,
            baseline_score: 0.8,
            gate: PeriodGate::Peak,
        }
    }
}

/// What the tracker has shed and suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BeaconCounters {
    /// Keys evicted to stay within `max_keys`.
    pub evicted_keys: u64,
    /// Connection starts merged into the previous one.
    pub merged: u64,
    /// Scores suppressed by the allowlist.
    pub allowlisted: u64,
    /// Scores suppressed by the per-app baseline.
    pub baselined: u64,
    /// Baseline entries dropped (baseline full).
    pub baseline_dropped: u64,
}

/// A beaconing verdict for one key.
#[derive(Debug, Clone, PartialEq)]
pub struct BeaconScore {
    /// In `[0, 1]`; 1 is a perfect metronome with constant sizes.
    pub score: f32,
    /// Connections the score rests on.
    pub connections: usize,
    /// Median interval, µs.
    pub median_interval_us: u64,
    /// The period found (`None` only with [`PeriodGate::Off`]).
    pub period: Option<PeriodFit>,
    /// 10th and 90th percentile of connection sizes, bytes.
    pub sizes: (u64, u64),
    /// Why.
    pub signals: Vec<Signal>,
}

#[derive(Debug)]
struct Entry {
    starts: VecDeque<(u64, u64)>,
    touched: u64,
}

/// Tracks connection starts per (app, destination) and scores periodicity.
#[derive(Debug)]
pub struct BeaconTracker {
    config: BeaconConfig,
    allowlist: Allowlist,
    keys: HashMap<BeaconKey, Entry>,
    lru: VecDeque<(BeaconKey, u64)>,
    seq: u64,
    baseline: HashSet<BeaconKey>,
    counters: BeaconCounters,
    scratch: Scratch,
}

impl BeaconTracker {
    /// A tracker with the given limits and allowlist.
    pub fn new(config: BeaconConfig, allowlist: Allowlist) -> Self {
        Self {
            config,
            allowlist,
            keys: HashMap::new(),
            lru: VecDeque::new(),
            seq: 0,
            baseline: HashSet::new(),
            counters: BeaconCounters::default(),
            scratch: Scratch::default(),
        }
    }

    /// Counters of what was shed or suppressed.
    pub fn counters(&self) -> BeaconCounters {
        self.counters
    }

    /// Keys currently tracked.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Records a connection start of `bytes` total size and, once enough
    /// connections are known, returns the key's beacon score. Allowlisted and
    /// baselined keys return `None` (and are counted).
    pub fn observe(&mut self, now_us: u64, key: &BeaconKey, bytes: u64) -> Option<BeaconScore> {
        self.seq += 1;
        let seq = self.seq;
        let ring = self.config.ring.max(2);
        let merge = self.config.merge_within_us;
        let entry = match self.keys.get_mut(key) {
            Some(e) => e,
            None => {
                self.keys.insert(
                    key.clone(),
                    Entry {
                        starts: VecDeque::with_capacity(ring.min(16)),
                        touched: seq,
                    },
                );
                self.evict();
                self.keys.get_mut(key)?
            }
        };
        entry.touched = seq;
        match entry.starts.back_mut() {
            Some(last) if now_us.saturating_sub(last.0) < merge && now_us >= last.0 => {
                last.1 = last.1.saturating_add(bytes);
                self.counters.merged += 1;
            }
            _ => {
                if entry.starts.len() >= ring {
                    entry.starts.pop_front();
                }
                entry.starts.push_back((now_us, bytes));
            }
        }
        let score = if entry.starts.len() >= self.config.min_connections.max(3) {
            score_series(&entry.starts, &self.config, &mut self.scratch)
        } else {
            None
        };
        self.lru.push_back((key.clone(), seq));
        self.compact_lru();
        let score = score?;
        if self.allowlist.contains(&key.dest) {
            self.counters.allowlisted += 1;
            return None;
        }
        if self.baseline.contains(key) {
            self.counters.baselined += 1;
            return None;
        }
        if now_us < self.config.learning_until_us {
            if score.score >= self.config.baseline_score {
                if self.baseline.len() < self.config.max_baseline {
                    self.baseline.insert(key.clone());
                } else {
                    self.counters.baseline_dropped += 1;
                }
            }
            return None;
        }
        Some(score)
    }

    fn evict(&mut self) {
        while self.keys.len() > self.config.max_keys.max(1) {
            let Some((k, seq)) = self.lru.pop_front() else {
                break;
            };
            if self.keys.get(&k).is_some_and(|e| e.touched == seq) {
                self.keys.remove(&k);
                self.counters.evicted_keys += 1;
            }
        }
    }

    fn compact_lru(&mut self) {
        if self.lru.len() > self.config.max_keys.max(16) * 4 {
            let keys = &self.keys;
            self.lru
                .retain(|(k, seq)| keys.get(k).is_some_and(|e| e.touched == *seq));
        }
    }
}

fn median_sorted(v: &[f64]) -> f64 {
    quantile_sorted(v, 0.5)
}

fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let (a, b) = (
        v.get(lo).copied().unwrap_or(0.0),
        v.get(hi).copied().unwrap_or(0.0),
    );
    a + (b - a) * (pos - lo as f64)
}

/// Bowley skewness in `[-1, 1]` (0 when the quartiles coincide).
fn bowley(sorted: &[f64]) -> f64 {
    let (q1, q2, q3) = (
        quantile_sorted(sorted, 0.25),
        quantile_sorted(sorted, 0.5),
        quantile_sorted(sorted, 0.75),
    );
    if q3 - q1 <= f64::EPSILON || q2 == q1 || q2 == q3 {
        0.0
    } else {
        ((q1 + q3 - 2.0 * q2) / (q3 - q1)).clamp(-1.0, 1.0)
    }
}

/// Median absolute deviation about the median (`dev` is scratch space).
fn madm(sorted: &[f64], dev: &mut Vec<f64>) -> f64 {
    let m = median_sorted(sorted);
    dev.clear();
    dev.extend(sorted.iter().map(|x| (x - m).abs()));
    dev.sort_unstable_by(f64::total_cmp);
    median_sorted(dev)
}

/// Buffers reused by every score, so scoring a flow does not allocate them.
#[derive(Debug, Default)]
struct Scratch {
    sorted: Vec<f64>,
    ordered: Vec<f64>,
    folded: Vec<f64>,
    sizes: Vec<f64>,
    dev: Vec<f64>,
}

/// Scores a series of (start µs, bytes), oldest first.
fn score_series(
    starts: &VecDeque<(u64, u64)>,
    config: &BeaconConfig,
    sc: &mut Scratch,
) -> Option<BeaconScore> {
    let n = starts.len();
    sc.sorted.clear();
    sc.sorted.extend(
        starts
            .iter()
            .zip(starts.iter().skip(1))
            .map(|(a, b)| b.0.saturating_sub(a.0) as f64),
    );
    if sc.sorted.len() < 2 {
        return None;
    }
    sc.ordered.clear();
    sc.ordered.extend_from_slice(&sc.sorted);
    sc.sorted.sort_unstable_by(f64::total_cmp);
    let med = median_sorted(&sc.sorted);
    if med <= 0.0 {
        return None;
    }
    let period = match config.gate {
        PeriodGate::Fold => Some(beacon_period::fold(
            &sc.sorted,
            config.merge_within_us as f64,
            &mut sc.dev,
        )?),
        PeriodGate::Peak => Some(crate::beacon_peak::peak(
            &sc.sorted,
            &sc.ordered,
            config.merge_within_us as f64,
            &mut sc.dev,
        )?),
        PeriodGate::Coherence => Some(beacon_period::coherence(&sc.sorted, &mut sc.dev)?),
        PeriodGate::Off => None,
    };
    // With a period, RITA's interval statistics are taken over the intervals
    // it explains, each folded to one period (skipped beats divided by their
    // count); sleep gaps and wake clusters say nothing about the timer.
    let coverage = match &period {
        Some(p) => {
            let lo = p.period_us * 0.7;
            sc.folded.clear();
            sc.folded.extend(
                sc.sorted
                    .iter()
                    .filter(|d| **d >= lo && **d < beacon_period::skip_limit(p.period_us))
                    .map(|d| d / (d / p.period_us).round().max(1.0)),
            );
            sc.folded.sort_unstable_by(f64::total_cmp);
            let judged = p.on + p.skips + p.short;
            p.on as f64 / judged.max(1) as f64
        }
        None => {
            // A beacon's connections fill their span evenly: (n-1)·median ≈ span.
            // Bursts separated by long silences (human sessions) do not.
            sc.folded.clear();
            sc.folded.extend_from_slice(&sc.sorted);
            let span = starts
                .back()
                .zip(starts.front())
                .map_or(0.0, |(b, f)| b.0.saturating_sub(f.0) as f64);
            if span > 0.0 {
                ((sc.sorted.len() as f64 * med) / span).min(1.0)
            } else {
                0.0
            }
        }
    };
    let fmed = median_sorted(&sc.folded);
    let ts_skew = 1.0 - bowley(&sc.folded).abs();
    let ts_madm = if fmed > 0.0 {
        (1.0 - madm(&sc.folded, &mut sc.dev) / fmed).max(0.0)
    } else {
        0.0
    };
    sc.sizes.clear();
    sc.sizes.extend(starts.iter().map(|s| s.1 as f64));
    sc.sizes.sort_unstable_by(f64::total_cmp);
    let size_med = median_sorted(&sc.sizes);
    let ds_skew = 1.0 - bowley(&sc.sizes).abs();
    let ds_madm = if size_med > 0.0 {
        (1.0 - madm(&sc.sizes, &mut sc.dev) / size_med).max(0.0)
    } else {
        1.0
    };
    let ts = (ts_skew + ts_madm + coverage) / 3.0;
    let ds = (ds_skew + ds_madm) / 2.0;
    let count = (n as f64 / config.full_confidence_connections.max(1) as f64).min(1.0);
    let score = (0.75 * ts + 0.25 * ds) * (0.5 + 0.5 * count);
    let sizes = (
        quantile_sorted(&sc.sizes, 0.1) as u64,
        quantile_sorted(&sc.sizes, 0.9) as u64,
    );
    let sig = |name, value: f64, weight: f64, detail: &'static str| Signal {
        name,
        value: value as f32,
        weight: weight as f32,
        detail: Cow::Borrowed(detail),
    };
    Some(BeaconScore {
        score: score as f32,
        connections: n,
        median_interval_us: med as u64,
        period,
        sizes,
        signals: vec![
            sig(
                "interval_skew",
                ts_skew,
                0.25,
                "1 - |Bowley skewness| of intervals (folded to one period)",
            ),
            sig(
                "interval_madm",
                ts_madm,
                0.25,
                "1 - MADM/median of intervals (folded to one period: jitter)",
            ),
            sig(
                "interval_coverage",
                coverage,
                0.25,
                "share of intervals one period long (sleep gaps and wake clusters aside)",
            ),
            sig(
                "size_skew",
                ds_skew,
                0.125,
                "1 - |Bowley skewness| of sizes",
            ),
            sig("size_madm", ds_madm, 0.125, "1 - MADM/median of sizes"),
            sig(
                "connections",
                n as f64,
                count,
                "connections scored; the weight is the count factor",
            ),
        ],
    })
}

/// A duration in the unit a person would use ("45 s", "5 min", "1.5 h").
fn human_duration(us: f64) -> String {
    let s = us / 1e6;
    let (v, unit) = if s < 90.0 {
        (s, "s")
    } else if s < 90.0 * 60.0 {
        (s / 60.0, "min")
    } else {
        (s / 3600.0, "h")
    };
    if v < 10.0 && (v - v.round()).abs() >= 0.05 {
        format!("{v:.1} {unit}")
    } else {
        format!("{v:.0} {unit}")
    }
}

impl BeaconScore {
    /// The verdict in words, e.g. "27 connections, about every 5 min (±8%),
    /// 8 beats missed while the device slept; connections of 180–190 bytes".
    pub fn explanation(&self) -> String {
        let mut out = format!("{} connections", self.connections);
        match &self.period {
            Some(p) => {
                out.push_str(&format!(
                    ", about every {} (±{:.0}%)",
                    human_duration(p.period_us),
                    p.spread * 100.0
                ));
                if p.missed > 0 {
                    let s = if p.missed == 1 { "" } else { "s" };
                    out.push_str(&format!(
                        ", {} beat{s} missed while the device slept",
                        p.missed
                    ));
                }
                if p.clustered > 0 {
                    out.push_str(&format!(", {} sent together after a wake", p.clustered));
                }
            }
            None => out.push_str(&format!(
                ", median {} apart",
                human_duration(self.median_interval_us as f64)
            )),
        }
        let (lo, hi) = self.sizes;
        if lo == hi {
            out.push_str(&format!("; connections of {lo} bytes"));
        } else {
            out.push_str(&format!("; connections of {lo}–{hi} bytes"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(app: &str, dest: &str) -> BeaconKey {
        BeaconKey {
            app: app.into(),
            dest: dest.into(),
        }
    }

    #[test]
    fn robust_statistics() {
        let v = [1.0, 2.0, 3.0, 4.0, 100.0];
        assert_eq!(median_sorted(&v), 3.0);
        assert_eq!(madm(&v, &mut Vec::new()), 1.0);
        assert_eq!(bowley(&[5.0, 5.0, 5.0]), 0.0);
        // Right-skewed: long upper tail.
        assert!(bowley(&[1.0, 1.1, 1.2, 5.0, 9.0]) > 0.5);
    }

    #[test]
    fn metronome_scores_high_and_random_scores_low() {
        let mut t = BeaconTracker::new(BeaconConfig::default(), Allowlist::default());
        let k = key("app", "c2.example");
        let mut last = None;
        for i in 0..30u64 {
            last = t.observe(i * 60_000_000, &k, 512).or(last);
        }
        let s = last.unwrap();
        assert!(s.score > 0.95, "{s:?}");
        assert_eq!(s.median_interval_us, 60_000_000);
        assert_eq!(s.signals.len(), 6);

        let human = key("app", "news.example");
        let mut x: u64 = 12345;
        let mut now = 0u64;
        let mut last = None;
        for _ in 0..30 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Bursts of clicks with occasional long pauses.
            now += if x.is_multiple_of(5) {
                3_600_000_000
            } else {
                (x % 120 + 3) * 1_000_000
            };
            last = t.observe(now, &human, x % 100_000).or(last);
        }
        // No period, so no verdict at all.
        assert_eq!(last, None);
        // Ungated, RITA's subscores still give it a (low) score.
        let mut t = BeaconTracker::new(
            BeaconConfig {
                gate: PeriodGate::Off,
                ..BeaconConfig::default()
            },
            Allowlist::default(),
        );
        let mut x: u64 = 12345;
        let mut now = 0u64;
        let mut last = None;
        for _ in 0..30 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            now += if x.is_multiple_of(5) {
                3_600_000_000
            } else {
                (x % 120 + 3) * 1_000_000
            };
            last = t.observe(now, &human, x % 100_000).or(last);
        }
        let h = last.unwrap();
        assert!(h.score < 0.6, "{h:?}");
        assert_eq!(h.period, None);
    }

    #[test]
    fn explanation_states_the_period_in_words() {
        let mut t = BeaconTracker::new(BeaconConfig::default(), Allowlist::default());
        let k = key("app", "c2.example");
        let mut last = None;
        let mut now = 0u64;
        for i in 0..27u64 {
            // Every 5 min with a few seconds' jitter; a 45 min nap after the 10th beat.
            now += if i == 10 {
                45 * 60_000_000
            } else {
                300_000_000
            };
            now = now - 24_000_000 + (i * 7_919 % 48) * 1_000_000;
            last = t.observe(now, &k, 180 + i % 11).or(last);
        }
        let s = last.unwrap();
        let words = s.explanation();
        assert!(
            words.starts_with("27 connections, about every 5.2 min (±2%)"),
            "{words}"
        );
        assert!(
            words.contains("8 beats missed while the device slept"),
            "{words}"
        );
        assert!(words.ends_with("; connections of 180–189 bytes"), "{words}");
        assert_eq!(human_duration(45e6), "45 s");
        assert_eq!(human_duration(90e6 * 60.0), "1.5 h");
    }

    #[test]
    fn no_score_before_min_connections_and_retries_merge() {
        // Ungated: seven intervals are too few for the period gate's floor test.
        let cfg = BeaconConfig {
            gate: PeriodGate::Off,
            ..BeaconConfig::default()
        };
        let mut t = BeaconTracker::new(cfg, Allowlist::default());
        let k = key("a", "x.example");
        for i in 0..7u64 {
            assert!(t.observe(i * 10_000_000, &k, 1).is_none());
            // A retry 1 ms later is merged, not a new interval.
            assert!(t.observe(i * 10_000_000 + 1_000, &k, 1).is_none());
        }
        assert_eq!(t.counters().merged, 7);
        assert!(t.observe(70_000_000, &k, 1).is_some());
    }

    #[test]
    fn allowlist_and_baseline_suppress() {
        let allow = Allowlist::builtin();
        assert!(allow.contains("api.push.apple.com"));
        assert!(allow.contains("connectivitycheck.gstatic.com"));
        assert!(!allow.contains("evil.example"));
        let cfg = BeaconConfig {
            learning_until_us: 1_000_000_000,
            ..BeaconConfig::default()
        };
        let mut t = BeaconTracker::new(cfg, allow);
        let push = key("a", "courier.push.apple.com");
        let sdk = key("a", "telemetry.vendor.example");
        let mut got = Vec::new();
        for i in 0..40u64 {
            let now = i * 30_000_000;
            got.push(t.observe(now, &push, 300));
            got.push(t.observe(now + 5_000_000, &sdk, 800));
        }
        assert!(got.iter().all(Option::is_none));
        assert!(t.counters().allowlisted > 0);
        // Learnt during the learning period, then suppressed by the baseline.
        assert!(t.counters().baselined > 0);
        // Another app to the same destination is not covered by the baseline.
        let other = key("b", "telemetry.vendor.example");
        let mut last = None;
        for i in 40..70u64 {
            last = t.observe(i * 30_000_000, &other, 800).or(last);
        }
        assert!(last.unwrap().score > 0.9);
    }

    #[test]
    fn bounded_keys_and_ring() {
        let cfg = BeaconConfig {
            max_keys: 16,
            ring: 8,
            ..BeaconConfig::default()
        };
        let mut t = BeaconTracker::new(cfg, Allowlist::default());
        for i in 0..1000u64 {
            t.observe(i * 1_000_000_000, &key("a", &format!("d{}", i % 100)), 1);
        }
        assert!(t.len() <= 16);
        assert!(t.counters().evicted_keys >= 84);
        assert!(t.lru.len() <= 16 * 4 + 1);
        for e in t.keys.values() {
            assert!(e.starts.len() <= 8);
        }
        // Time going backwards never panics.
        let k = key("a", "back.example");
        for i in (0..20u64).rev() {
            t.observe(i * 1_000_000_000, &k, 1);
        }
    }
}
