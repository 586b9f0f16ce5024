//! The default beacon gate, [`PeriodGate::Peak`]: a band of intervals with an
//! empty floor that holds the series' timing.
//!
//! Candidates are the groups of sorted intervals whose largest is at most
//! 1.3/0.7 times their smallest; the band `[0.7 P, 1.3 P]` is put at the
//! group's median, moved as little as needed to hold the whole group. The
//! gate then needs at least 6 intervals on the period, at most a tenth of the
//! on + skip + short ones short, and the floor of [`crate::beacon_period`]
//! (an empty floor is significant at 1%). Then one of three:
//!
//! 1. **share**: at least 3/5 of all non-burst intervals, sleep gaps
//!    included, are on the period (an awake beacon, skipped beats and all);
//! 2. **sleep episodes**: at least 3/5 of the intervals shorter than a sleep
//!    gap are on the period, and the on-period intervals come in runs in time
//!    order (Wald–Wolfowitz runs test, 5%). A phone sleeps in episodes, so a
//!    dozing beacon's on-period beats cluster between its sleeps; an
//!    irregular process with independent intervals, whose long ones merely
//!    look like sleep, scatters them;
//! 3. **concentration and comb**: Fisher's combination of (a) the chance
//!    that a smooth spread of intervals (log-normal, log-σ ≥ 0.5) puts as
//!    many in one band and (b) the chance that as many longer intervals sit
//!    on multiples of `P`, within the spread the on-period ones show widened
//!    by √k, as a phase spread evenly over the period would, at most 0.1%.
//!    Beats skipped on a steady timer line up on the comb.
//!
//! Why: [`PeriodGate::Fold`] left sleep gaps out of its share whatever their
//! order, so log-normal polling, whose long tail looks like sleep, passed it
//! 2.3% of the time; route 1 alone then lost dozing beacons, which route 2
//! gets back from their time order. Figures beside each other in
//! `docs/perf.md` (`nightjar eval beacon`).
//!
//! Cost: every candidate costs the binary searches of the floor; the runs
//! test (one walk of the ring in time order, a table of 128 logs) and the comb
//! (one walk of the longer intervals) only run where the share does not
//! already decide.

#[cfg(doc)]
use crate::beacon_period::PeriodGate;
use crate::beacon_period::{
    ALPHA, MIN_ON, PeriodFit, TOLERANCE, below, binomial_cdf, burst_limit, count, median_of,
    missed, spread,
};

/// Largest share of a smooth spread (log-normal, log-σ 0.5) one band of
/// `[0.7 P, 1.3 P]` holds: 2Φ(ln(1.3/0.7) / 2 / 0.5) − 1.
const Q0: f64 = 0.464;
/// Combined chance (Fisher) of concentration and comb under the null.
const ALPHA_PEAK: f64 = 1e-3;
/// Chance, with the intervals in random order, of on-period runs as long.
const ALPHA_RUNS: f64 = 0.05;

/// Longest multiple of the period the comb test looks at.
const COMB_MAX: f64 = 6.0;

/// Whether the gate holds for `fit` (see the module docs).
fn holds(fit: &PeriodFit, sorted: &[f64], ordered: &[f64], floor_us: f64) -> bool {
    let judged = fit.on + fit.skips + fit.short;
    if fit.on < MIN_ON || 10 * fit.short > judged {
        return false;
    }
    if fit.floor_chance(floor_us) > ALPHA {
        return false;
    }
    let p = fit.period_us;
    if 5 * fit.on >= 3 * (judged + fit.gaps) {
        return true;
    }
    if 5 * fit.on >= 3 * judged && runs_clustered(ordered, p, floor_us) <= ALPHA_RUNS {
        return true;
    }
    let p_conc = binomial_sf(fit.on, judged, Q0);
    let p_comb = comb(sorted, p);
    let x = -2.0 * (p_conc.max(1e-300).ln() + p_comb.max(1e-300).ln());
    (-x / 2.0).exp() * (1.0 + x / 2.0) <= ALPHA_PEAK
}

/// Longest series the runs test takes (the tracker's ring is 64 by default).
const RUNS_MAX: usize = 128;

/// ln C(n, k) from a table of ln(i!).
fn ln_choose(lf: &[f64], n: usize, k: usize) -> f64 {
    match (
        lf.get(n),
        lf.get(k),
        n.checked_sub(k).and_then(|m| lf.get(m)),
    ) {
        (Some(a), Some(b), Some(c)) if k <= n => a - b - c,
        _ => f64::NEG_INFINITY,
    }
}

/// Wald–Wolfowitz runs test in time order: the chance, were the intervals in
/// random order, of as few runs of on-period / other intervals as seen.
/// Bursts are left out. Sleep comes in episodes, so a beacon on a phone that
/// dozes shows its on-period intervals in runs; an irregular process whose
/// long intervals merely look like sleep scatters them.
fn runs_clustered(ordered: &[f64], period: f64, floor_us: f64) -> f64 {
    let (lo, hi) = (period * (1.0 - TOLERANCE), period * (1.0 + TOLERANCE));
    let burst = burst_limit(period).max(floor_us);
    let (mut n1, mut n2, mut runs, mut last) = (0usize, 0usize, 0usize, None);
    for d in ordered.iter().filter(|d| **d >= burst) {
        let on = *d >= lo && *d <= hi;
        if on {
            n1 += 1;
        } else {
            n2 += 1;
        }
        if last != Some(on) {
            runs += 1;
        }
        last = Some(on);
    }
    if n1 == 0 || n2 == 0 || n1 + n2 > RUNS_MAX {
        return 1.0;
    }
    // ln(i!) for i ≤ n1 + n2: no gamma function in std.
    let mut lf = [0.0f64; RUNS_MAX + 1];
    for i in 2..=n1 + n2 {
        if let (Some(prev), Some(cur)) = (lf.get(i - 1).copied(), lf.get_mut(i)) {
            *cur = prev + (i as f64).ln();
        }
    }
    let lf = &lf[..];
    let total = ln_choose(lf, n1 + n2, n1);
    let mut p = 0.0;
    for r in 2..=runs {
        let k = r / 2;
        let ways = if r % 2 == 0 {
            std::f64::consts::LN_2 + ln_choose(lf, n1 - 1, k - 1) + ln_choose(lf, n2 - 1, k - 1)
        } else {
            let a = ln_choose(lf, n1 - 1, k) + ln_choose(lf, n2 - 1, k - 1);
            let b = ln_choose(lf, n1 - 1, k - 1) + ln_choose(lf, n2 - 1, k);
            (a.exp() + b.exp()).ln()
        };
        p += (ways - total).exp();
    }
    p.min(1.0)
}

/// P(X ≥ k) for X ~ Binomial(n, p).
fn binomial_sf(k: usize, n: usize, p: f64) -> f64 {
    if k == 0 {
        1.0
    } else {
        (1.0 - binomial_cdf(k - 1, n, p)).clamp(0.0, 1.0)
    }
}

/// The comb: how many intervals longer than one period sit on a multiple of
/// it, within the spread the on-period intervals show (widened by √k: k
/// sleeps' jitter adds up), against the chance a phase spread evenly over
/// the period has of landing there.
fn comb(sorted: &[f64], period: f64) -> f64 {
    let lo = below(sorted, period * (1.0 - TOLERANCE));
    let hi = below(sorted, (period * (1.0 + TOLERANCE)).next_up());
    let on = sorted.get(lo..hi).unwrap_or_default();
    let w = on
        .iter()
        .map(|d| (d / period - 1.0).abs())
        .fold(0.0, f64::max)
        .max(0.02);
    let (mut hits, mut n, mut chance) = (0usize, 0usize, 0.0);
    for d in sorted.get(hi..).unwrap_or_default() {
        let k = (d / period).round();
        if k > COMB_MAX {
            break;
        }
        let tol = (w * k.sqrt()).min(0.5);
        n += 1;
        chance += 2.0 * tol;
        if (d / period - k).abs() <= tol {
            hits += 1;
        }
    }
    if n == 0 {
        return 1.0;
    }
    binomial_sf(hits, n, (chance / n as f64).min(1.0))
}

/// The [`PeriodGate::Peak`] test on the intervals, `sorted` and in time
/// order (`ordered`); `floor_us` is the tracker's merge window. Returns the
/// fit, at the period with most intervals on it, when the gate holds.
pub fn peak(
    sorted: &[f64],
    ordered: &[f64],
    floor_us: f64,
    dev: &mut Vec<f64>,
) -> Option<PeriodFit> {
    let ratio = (1.0 + TOLERANCE) / (1.0 - TOLERANCE);
    let mut best: Option<PeriodFit> = None;
    let mut j = 0;
    for i in 0..sorted.len() {
        let Some(&first) = sorted.get(i) else { break };
        j = j.max(i);
        while sorted.get(j).is_some_and(|d| *d <= first * ratio) {
            j += 1;
        }
        if j - i < MIN_ON {
            continue;
        }
        let last = sorted.get(j - 1).copied().unwrap_or(first);
        // The band's median, moved as little as needed for the band to hold
        // the whole group (with 30% jitter the median is off centre and the
        // extremes would fall out). `max`/`min`, not `clamp`: rounding may
        // cross the bounds, and clamp panics then.
        let period = median_of(sorted, i, j)
            .max(last / (1.0 + TOLERANCE))
            .min(first / (1.0 - TOLERANCE));
        if period * (1.0 - TOLERANCE) <= 2.0 * floor_us {
            continue;
        }
        let fit = count(sorted, period, floor_us);
        if holds(&fit, sorted, ordered, floor_us) && best.as_ref().is_none_or(|b| fit.on > b.on) {
            best = Some(fit);
        }
    }
    let mut fit = best?;
    let lo = below(sorted, fit.period_us * (1.0 - TOLERANCE));
    let hi = below(sorted, (fit.period_us * (1.0 + TOLERANCE)).next_up());
    fit.period_us = median_of(sorted, lo, hi);
    fit.missed = missed(sorted, fit.period_us);
    fit.spread = spread(sorted, fit.period_us, dev);
    Some(fit)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: f64 = 60e6;

    fn run(iv: &[f64]) -> Option<PeriodFit> {
        let mut s = iv.to_vec();
        s.sort_by(f64::total_cmp);
        peak(&s, iv, 2e6, &mut Vec::new())
    }

    #[test]
    fn metronome_with_skips_and_sleep_holds() {
        let mut iv = vec![5.0 * MIN; 12];
        iv.extend([10.0 * MIN, 5.1 * MIN, 4.9 * MIN, 240.0 * MIN, 5.0 * MIN]);
        let f = run(&iv).unwrap();
        assert!((f.period_us - 5.0 * MIN).abs() < 0.2 * MIN, "{f:?}");
        assert_eq!((f.on, f.skips, f.gaps, f.short), (15, 1, 1, 0));
        assert_eq!(f.missed, 1 + 47);
    }

    #[test]
    fn wide_jitter_keeps_the_extremes_on_the_period() {
        // ±30% around 60 s, the median off centre: every beat is on.
        let iv = [42e6, 43e6, 45e6, 50e6, 52e6, 55e6, 58e6, 60e6, 77e6, 78e6];
        let f = run(&iv).unwrap();
        assert_eq!((f.on, f.short, f.skips), (10, 0, 0), "{f:?}");
    }

    #[test]
    fn skipped_beats_on_a_steady_timer_line_up_on_the_comb() {
        // Half the beats skipped: 9 on, 9 on two or three periods (±2%).
        let mut iv = Vec::new();
        for i in 0..9 {
            let w = 1.0 + 0.02 * ((i % 3) as f64 - 1.0);
            iv.extend([MIN * w, 2.0 * MIN * w]);
        }
        iv.push(3.0 * MIN);
        let f = run(&iv).unwrap();
        assert_eq!(f.on, 9, "{f:?}");
        // The same shares with the long intervals off the comb do not hold.
        let mut iv = Vec::new();
        for i in 0..9 {
            iv.extend([MIN, MIN * (2.15 + 0.19 * i as f64)]);
        }
        iv.push(3.86 * MIN);
        assert!(run(&iv).is_none());
    }

    #[test]
    fn sleep_counts_only_when_it_comes_in_episodes() {
        // Every minute while awake, then 30 min dozes: on-period intervals in
        // runs between the sleeps.
        let mut iv = Vec::new();
        for _ in 0..2 {
            iv.extend([MIN; 4]);
            iv.extend([30.0 * MIN, 41.0 * MIN, 35.0 * MIN]);
        }
        assert!(runs_clustered(&iv, MIN, 2e6) <= ALPHA_RUNS);
        assert!(run(&iv).is_some());
        // The same intervals alternating: long ones are a tail, not sleep.
        let mut iv = Vec::new();
        for _ in 0..2 {
            iv.extend([MIN, 30.0 * MIN, MIN, 41.0 * MIN, MIN, 35.0 * MIN, MIN]);
        }
        assert!(runs_clustered(&iv, MIN, 2e6) > ALPHA_RUNS);
        assert!(run(&iv).is_none());
    }

    #[test]
    fn irregular_and_degenerate_series_fail() {
        // Quantiles of an exponential with a 2 min mean.
        let iv: Vec<f64> = (1..40)
            .map(|i| -(1.0 - i as f64 / 40.0).ln() * 2.0 * MIN)
            .collect();
        assert!(run(&iv).is_none());
        // Quantiles of a log-normal, log-σ 0.7.
        let iv: Vec<f64> = (1..60)
            .map(|i| {
                let u = i as f64 / 60.0;
                // A logistic stand-in for the normal quantile is enough here.
                (0.7 * 0.55 * (u / (1.0 - u)).ln()).exp() * 5.0 * MIN
            })
            .collect();
        assert!(run(&iv).is_none());
        assert!(run(&[]).is_none());
        assert!(run(&[0.0; 10]).is_none());
        assert!(run(&[f64::MAX; 70]).is_none() || run(&[f64::MAX; 70]).is_some());
        assert_eq!(runs_clustered(&[1.0; 200], 1.0, 0.0), 1.0);
    }
}
