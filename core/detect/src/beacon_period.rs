//! Evidence of a period in connection start times: the gate a beacon verdict
//! rests on.
//!
//! RITA's subscores (interval skew and spread, size regularity) describe a
//! series but cannot tell a periodic process from an irregular one with a
//! symmetric interval distribution: twenty user-driven calls at exponential
//! gaps with similar request sizes score 0.70. So a verdict first needs a
//! period. This module holds what every gate shares and two of them:
//!
//! - intervals around a candidate period `P` are a *burst* (under 10 s and a
//!   quarter period, or under the tracker's merge window: beats held back and
//!   flushed on wake, a request and its follow-ups), *short* (`< 0.7 P`), *on*
//!   the period, a *skip* (up to `max(3 P, 15 min)`: one or two beats missed)
//!   or a *sleep gap* (longer: the device slept or dozed);
//! - **the floor**: if the interval density did not rise towards the period
//!   (Poisson arrivals, sessions, the tail of any polling), the intervals in
//!   `[burst, 1.3 P)` would fall below `0.7 P` in proportion to its length;
//!   the binomial chance of as few short ones as seen must be at most 1%. A
//!   periodic process has a floor: nothing much shorter than its period
//!   except wake clusters.
//!
//! [`PeriodGate::Fold`] (the gate before [`PeriodGate::Peak`], kept for
//! comparison) holds when, at the group of intervals with most on its
//! median, at least 6 intervals are on, they are at least 3/5 of the
//! on + skip + short intervals, at most a tenth are short and the floor
//! holds. Sleep gaps are left out of that share, which lets log-normal
//! polling whose long tail "sleeps" through: 2.3% FPR.
//! [`PeriodGate::Peak`] (the default, in [`crate::beacon_peak`]) keeps the
//! floor and asks the share of *all* intervals, or of the judged ones when
//! the on-period intervals come in runs (sleep episodes), or evidence from
//! concentration and the comb of multiples.
//!
//! [`PeriodGate::Coherence`] was measured beside them (the mean of
//! `cos(2π d / P)` over the intervals, best `P`, at least 0.5: an
//! interval periodogram, which folds multiples of `P` for free). It cannot see
//! intervals much shorter than `P` (their cosine is about 1), so bursts of
//! calls separated by hours pass it; figures in `docs/perf.md`.
//!
//! Everything here works on at most one ring of intervals (64), sorted once;
//! each candidate period costs a few binary searches.

/// Which periodicity test gates a beacon verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PeriodGate {
    /// A band of intervals with an empty floor below it that holds most
    /// intervals, or most outside sleep episodes, or is denser than a smooth
    /// spread and has its multiples on a comb ([`crate::beacon_peak`]). The
    /// default.
    #[default]
    Peak,
    /// Intervals concentrated around a period with a floor below it, sleep
    /// gaps left out of the share (see the module docs). Kept for comparison.
    Fold,
    /// Interval periodogram: mean `cos(2π d / P)` at its best `P` ≥ 0.5.
    /// Kept for comparison; fails on bursts of calls.
    Coherence,
    /// No gate: RITA's score alone (the detector before the gate). Kept for
    /// comparison only.
    Off,
}

impl PeriodGate {
    /// Stable name used by the evaluation.
    pub fn name(self) -> &'static str {
        match self {
            Self::Peak => "peak",
            Self::Fold => "fold",
            Self::Coherence => "coherence",
            Self::Off => "off",
        }
    }
}

/// Jitter tolerated around the period, as a fraction of it.
pub(crate) const TOLERANCE: f64 = 0.3;
/// Intervals on the period a verdict needs.
pub(crate) const MIN_ON: usize = 6;
/// Chance, under the no-floor null, of a floor as empty as the one seen.
pub(crate) const ALPHA: f64 = 1e-2;
/// Below this, a long interval is skipped beats rather than sleep: a multiple
/// of the period, and at least this long (Doze maintenance windows start at
/// 15 minutes).
const SKIP_PERIODS: f64 = 3.0;
const SLEEP_MIN_US: f64 = 15.0 * 60.0 * 1e6;
/// Longest interval inside one burst of connections, µs.
const BURST_MAX_US: f64 = 10.0 * 1e6;

/// A period found in a series, and how the intervals sit around it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeriodFit {
    /// The period, µs: the median interval among those on it.
    pub period_us: f64,
    /// Median absolute deviation of the on-period intervals from the period,
    /// as a fraction of it.
    pub spread: f64,
    /// Intervals within the tolerance of one period.
    pub on: usize,
    /// Intervals of two or three periods (beats skipped).
    pub skips: usize,
    /// Intervals longer than that (the device slept).
    pub gaps: usize,
    /// Intervals inside bursts (shorter than 10 s and a quarter period): beats
    /// held back and sent together after a wake, or a request's follow-ups.
    pub clustered: usize,
    /// Short intervals nothing explains.
    pub short: usize,
    /// Beats that should have come but did not (inside skips and gaps).
    pub missed: u64,
}

impl PeriodFit {
    fn holds(&self, floor_us: f64) -> bool {
        let judged = self.on + self.skips + self.short;
        if self.on < MIN_ON || 5 * self.on < 3 * judged || 10 * self.short > judged {
            return false;
        }
        self.floor_chance(floor_us) <= ALPHA
    }

    /// The floor: below the period, a process whose interval density does
    /// not rise (Poisson, sessions, the tail of any polling) puts at least as
    /// many intervals per second as on the period. The chance of so empty a
    /// floor under that null.
    pub(crate) fn floor_chance(&self, floor_us: f64) -> f64 {
        let p = self.period_us;
        let c = burst_limit(p).max(floor_us);
        let (lo, hi) = (p * (1.0 - TOLERANCE), p * (1.0 + TOLERANCE));
        let null_short = ((lo - c) / (hi - c)).clamp(0.0, 1.0);
        binomial_cdf(self.short, self.short + self.on, null_short)
    }
}

/// P(X ≤ k) for X ~ Binomial(n, p).
pub(crate) fn binomial_cdf(k: usize, n: usize, p: f64) -> f64 {
    let q = 1.0 - p;
    // term_i = C(n, i) p^i q^(n-i), built up from term_0 = q^n.
    let mut term = q.powi(i32::try_from(n).unwrap_or(i32::MAX));
    let mut sum = term;
    for i in 0..k.min(n) {
        term *= (n - i) as f64 / (i + 1) as f64 * p / q.max(f64::MIN_POSITIVE);
        sum += term;
    }
    sum.min(1.0)
}

/// Counts of sorted `intervals` below `x`.
pub(crate) fn below(sorted: &[f64], x: f64) -> usize {
    sorted.partition_point(|d| *d < x)
}

pub(crate) fn skip_limit(period: f64) -> f64 {
    (SKIP_PERIODS * period).max(SLEEP_MIN_US)
}

/// Intervals shorter than this are one burst of connections (a wake flushing
/// held-back beats, a request and its follow-ups), µs: at most 10 s and a
/// quarter of the period.
pub(crate) fn burst_limit(period: f64) -> f64 {
    (0.25 * period).min(BURST_MAX_US)
}

/// Counts the intervals around `period` from their sorted values (a few
/// binary searches).
pub(crate) fn count(sorted: &[f64], period: f64, floor_us: f64) -> PeriodFit {
    let lo = period * (1.0 - TOLERANCE);
    let hi = period * (1.0 + TOLERANCE);
    let clustered = below(sorted, burst_limit(period).max(floor_us));
    let short = below(sorted, lo) - clustered;
    let on = below(sorted, hi.next_up()) - short - clustered;
    let skips = below(sorted, skip_limit(period)) - short - on - clustered;
    PeriodFit {
        period_us: period,
        spread: 0.0,
        on,
        skips,
        gaps: sorted.len() - clustered - short - on - skips,
        clustered,
        short,
        missed: 0,
    }
}

/// Beats that should have come inside the long intervals.
pub(crate) fn missed(sorted: &[f64], period: f64) -> u64 {
    let hi = period * (1.0 + TOLERANCE);
    let from = below(sorted, hi.next_up());
    sorted
        .get(from..)
        .unwrap_or_default()
        .iter()
        .map(|d| ((d / period).round() as u64).saturating_sub(1))
        .sum()
}

/// The full picture of the intervals around `period`.
fn classify(sorted: &[f64], period: f64) -> PeriodFit {
    let mut fit = count(sorted, period, 0.0);
    fit.missed = missed(sorted, period);
    fit
}

/// The median of `sorted[a..b]`.
pub(crate) fn median_of(sorted: &[f64], a: usize, b: usize) -> f64 {
    let len = b.saturating_sub(a);
    if len == 0 {
        return 0.0;
    }
    let lo = sorted.get(a + (len - 1) / 2).copied().unwrap_or(0.0);
    let hi = sorted.get(a + len / 2).copied().unwrap_or(0.0);
    (lo + hi) / 2.0
}

/// The [`PeriodGate::Fold`] test on the intervals, `sorted`. Periods whose lower tolerance is within twice `floor_us`
/// are not tried: the tracker merges starts closer than `floor_us`, which
/// gives any burst of calls an artificial floor there. Returns the fit when
/// the gate holds.
pub fn fold(sorted: &[f64], floor_us: f64, dev: &mut Vec<f64>) -> Option<PeriodFit> {
    let ratio = (1.0 + TOLERANCE) / (1.0 - TOLERANCE);
    // Candidate groups: every window of sorted intervals whose largest is at
    // most `ratio` times its smallest, largest groups first.
    let mut best: Option<PeriodFit> = None;
    let mut j = 0;
    for i in 0..sorted.len() {
        let Some(&first) = sorted.get(i) else { break };
        if first * ratio * (1.0 - TOLERANCE) <= 2.0 * floor_us {
            continue;
        }
        j = j.max(i);
        while sorted.get(j).is_some_and(|d| *d <= first * ratio) {
            j += 1;
        }
        if j - i < MIN_ON {
            continue;
        }
        let period = median_of(sorted, i, j);
        if period * (1.0 - TOLERANCE) <= 2.0 * floor_us {
            continue;
        }
        let fit = count(sorted, period, floor_us);
        if fit.holds(floor_us) && best.as_ref().is_none_or(|b| fit.on > b.on) {
            best = Some(fit);
        }
    }
    let mut fit = best?;
    fit.missed = missed(sorted, fit.period_us);
    fit.spread = spread(sorted, fit.period_us, dev);
    Some(fit)
}

/// Median of |d − P| / P over the intervals on the period.
pub(crate) fn spread(sorted: &[f64], period: f64, dev: &mut Vec<f64>) -> f64 {
    let lo = below(sorted, period * (1.0 - TOLERANCE));
    let hi = below(sorted, (period * (1.0 + TOLERANCE)).next_up());
    dev.clear();
    dev.extend(
        sorted
            .get(lo..hi)
            .unwrap_or_default()
            .iter()
            .map(|d| (d - period).abs() / period),
    );
    dev.sort_unstable_by(f64::total_cmp);
    median_of(dev, 0, dev.len())
}

/// The [`PeriodGate::Coherence`] test: the best mean `cos(2π d / P)` over the
/// intervals shorter than `max(3 P, 15 min)`, with `P` tried at every interval.
/// Returns the fit at that `P` when it reaches 0.5.
pub fn coherence(sorted: &[f64], dev: &mut Vec<f64>) -> Option<PeriodFit> {
    let mut best: Option<(f64, f64)> = None;
    for &p in sorted {
        if p <= 0.0 {
            continue;
        }
        let limit = skip_limit(p);
        let (mut sum, mut n) = (0.0, 0usize);
        for &d in sorted.iter().take_while(|d| **d < limit) {
            sum += (std::f64::consts::TAU * d / p).cos();
            n += 1;
        }
        if n < MIN_ON {
            continue;
        }
        let c = sum / n as f64;
        if best.is_none_or(|(_, b)| c > b) {
            best = Some((p, c));
        }
    }
    let (period, c) = best?;
    if c < 0.5 {
        return None;
    }
    let mut fit = classify(sorted, period);
    fit.spread = spread(sorted, period, dev);
    Some(fit)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Gate = fn(&[f64], &mut Vec<f64>) -> Option<PeriodFit>;

    fn run(gate: Gate, iv: &[f64]) -> Option<PeriodFit> {
        let mut s = iv.to_vec();
        s.sort_by(f64::total_cmp);
        gate(&s, &mut Vec::new())
    }

    fn fold2(s: &[f64], dev: &mut Vec<f64>) -> Option<PeriodFit> {
        fold(s, 2e6, dev)
    }

    const MIN: f64 = 60e6;

    #[test]
    fn metronome_with_skips_and_sleep_holds() {
        let mut iv = vec![5.0 * MIN; 12];
        iv.extend([10.0 * MIN, 5.1 * MIN, 4.9 * MIN, 240.0 * MIN, 5.0 * MIN]);
        let f = run(fold2, &iv).unwrap();
        assert!((f.period_us - 5.0 * MIN).abs() < 0.2 * MIN, "{f:?}");
        assert_eq!((f.on, f.skips, f.gaps, f.short), (15, 1, 1, 0));
        assert_eq!(f.missed, 1 + 47);
    }

    #[test]
    fn wake_cluster_is_explained_but_a_burst_is_not() {
        let mut iv = vec![60e6; 8];
        // Woke after an hour and sent three held-back beats 2–3 s apart.
        iv.extend([3600e6, 2.5e6, 3e6, 60e6, 60e6]);
        let f = run(fold2, &iv).unwrap();
        assert_eq!((f.clustered, f.short), (2, 0), "{f:?}");
        // Sessions of calls seconds apart, hours between: no period, although
        // merging starts within 2 s leaves no interval under 2 s.
        let burst = [3e6, 4e6, 2.5e6, 8e6, 3e6, 5e6, 2.2e6, 9e6];
        let mut iv = Vec::new();
        for _ in 0..4 {
            iv.extend(burst);
            iv.push(3.0 * 3600e6);
        }
        assert!(run(fold2, &iv).is_none());
    }

    #[test]
    fn exponential_gaps_fail_fold_and_size_of_input_is_bounded() {
        // Quantiles of an exponential with a 2 min mean.
        let iv: Vec<f64> = (1..40)
            .map(|i| -(1.0 - i as f64 / 40.0).ln() * 2.0 * MIN)
            .collect();
        assert!(run(fold2, &iv).is_none());
        assert!(run(fold2, &[]).is_none());
        assert!(run(fold2, &[0.0; 10]).is_none());
        assert!(run(coherence, &[0.0; 10]).is_none());
    }

    #[test]
    fn coherence_folds_multiples_but_misses_short_intervals() {
        let mut iv = vec![60e6; 10];
        iv.extend([120e6, 180e6]);
        assert!(run(coherence, &iv).is_some());
        let mut iv = Vec::new();
        for _ in 0..4 {
            iv.extend([3e6, 4e6, 2.5e6, 8e6]);
            iv.push(3.0 * 3600e6);
        }
        // Seconds-apart calls look "in phase" with a period of hours.
        assert!(run(coherence, &iv).is_some());
    }
}
