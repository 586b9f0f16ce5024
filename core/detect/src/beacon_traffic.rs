//! Seeded generators of connection timelines for the beacon evaluation: the
//! timers malware uses, the ways a phone delays them, and the irregular
//! traffic that must not look like them.
//!
//! The generators model the traffic, not the detector: jitter as implants
//! implement it (each sleep drawn afresh around the period, so intervals are
//! independent), skipped beats as failed attempts, Doze as Android documents
//! it (work deferred to maintenance windows 15 min – 1 h apart, repeating
//! alarms collapsed or queued sends flushed on wake), and user-driven traffic
//! as the textbook processes for it (Poisson arrivals, sessions of calls,
//! heavy-tailed polling). Every case draws its own parameters from ranges.

/// A small seeded generator (xorshift64*): the evaluation must be repeatable
/// and must not need a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [lo, hi).
    pub fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// Log-uniform in [lo, hi).
    pub fn log_between(&mut self, lo: f64, hi: f64) -> f64 {
        self.between(lo.ln(), hi.ln()).exp()
    }
    /// Uniform integer in [lo, hi].
    pub fn int(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi.saturating_sub(lo) as u64 + 1)) as usize
    }
    /// Exponential with mean `mean`.
    pub fn exp(&mut self, mean: f64) -> f64 {
        -(1.0 - self.unit()).ln() * mean
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Seconds, in the µs the tracker counts.
pub const SEC: f64 = 1_000_000.0;
const MIN: f64 = 60.0 * SEC;
const HOUR: f64 = 60.0 * MIN;

/// One connection: start (µs from the case's origin) and size in bytes.
pub type Conn = (f64, u64);

/// How a beacon's timer runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timer {
    /// Period, µs.
    pub period: f64,
    /// Each sleep is `period · (1 ± jitter·u)`, u uniform in [0, 1).
    pub jitter: f64,
    /// Chance that a due beat never reaches the network.
    pub skip: f64,
    /// Beats to produce (connections; a burst after a wake counts once).
    pub connections: usize,
}

/// Draws a timer: period log-uniform in `periods`, jitter uniform in `jitter`,
/// skipped-beat share uniform in `skip`.
pub fn timer(rng: &mut Rng, periods: (f64, f64), jitter: (f64, f64), skip: (f64, f64)) -> Timer {
    Timer {
        period: rng.log_between(periods.0, periods.1),
        jitter: rng.between(jitter.0, jitter.1),
        skip: rng.between(skip.0, skip.1),
        connections: 20,
    }
}

fn beacon_size(rng: &mut Rng) -> impl FnMut(&mut Rng) -> u64 + use<> {
    let base = rng.log_between(200.0, 5000.0);
    let noise = rng.between(0.0, 0.15);
    move |r: &mut Rng| (base * (1.0 + noise * (2.0 * r.unit() - 1.0))) as u64
}

fn sleep(rng: &mut Rng, t: &Timer) -> f64 {
    t.period * (1.0 + t.jitter * (2.0 * rng.unit() - 1.0))
}

/// A beacon on an awake device: a sleep loop with jitter and skipped beats.
pub fn awake_beacon(rng: &mut Rng, t: &Timer) -> Vec<Conn> {
    let mut size = beacon_size(rng);
    let mut at = rng.between(0.0, t.period);
    let mut out = Vec::with_capacity(t.connections);
    while out.len() < t.connections {
        if rng.unit() >= t.skip {
            out.push((at, size(rng)));
        }
        at += sleep(rng, t);
    }
    out
}

/// Device state over time: awake spans and Doze spans with maintenance
/// windows. Returns the time at or after `at` when work due at `at` runs.
struct Doze {
    /// (start, end) of each Doze span, with the window starts inside it.
    spans: Vec<(f64, f64, Vec<f64>)>,
}

impl Doze {
    fn new(rng: &mut Rng, horizon: f64) -> Self {
        let spacing = rng.between(15.0 * MIN, HOUR);
        let mut spans = Vec::new();
        // Starts at a random point of an awake span or a Doze span.
        let mut t = -rng.between(0.0, 4.0 * HOUR);
        while t < horizon {
            t += rng.log_between(10.0 * MIN, 4.0 * HOUR);
            let len = rng.log_between(30.0 * MIN, 8.0 * HOUR);
            let mut windows = Vec::new();
            let mut w = t + spacing * rng.between(0.9, 1.1);
            while w < t + len {
                windows.push(w);
                w += spacing * rng.between(0.9, 1.1);
            }
            spans.push((t, t + len, windows));
            t += len;
        }
        Self { spans }
    }

    /// When work due at `at` can run: `at` if awake, else the next maintenance
    /// window (or the wake at the end of the span).
    fn release(&self, at: f64) -> f64 {
        for (start, end, windows) in &self.spans {
            if at >= *start && at < *end {
                return windows.iter().copied().find(|w| *w >= at).unwrap_or(*end);
            }
        }
        at
    }
}

/// How a dozing implant's held-back beats come out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DozeStyle {
    /// A sleep loop frozen with the process: one beat when it thaws, and the
    /// next sleep starts from there.
    Thaw,
    /// Alarms on a fixed schedule: every beat due while dozing is sent in a
    /// burst at the window (at most five, 0.2–3 s apart).
    Flush,
}

/// A beacon on a phone that dozes.
pub fn dozing_beacon(rng: &mut Rng, t: &Timer, style: DozeStyle) -> Vec<Conn> {
    let mut size = beacon_size(rng);
    // Long enough for the connections even if most beats are held back.
    let horizon = t.period * t.connections as f64 * 4.0 + 40.0 * HOUR;
    let doze = Doze::new(rng, horizon);
    let mut out: Vec<Conn> = Vec::with_capacity(t.connections);
    let mut due = rng.between(0.0, t.period);
    let mut pending_at: Option<(f64, usize)> = None;
    // A wake's burst is one beat: it is the period's one release.
    let mut beats = 0;
    while beats < t.connections && due < horizon * 4.0 {
        let run = doze.release(due);
        let skipped = rng.unit() < t.skip;
        match style {
            DozeStyle::Thaw => {
                if !skipped {
                    out.push((run, size(rng)));
                    beats += 1;
                }
                due = run + sleep(rng, t);
            }
            DozeStyle::Flush => {
                match pending_at {
                    Some((w, k)) if (w - run).abs() < 1.0 => {
                        if !skipped && k < 5 {
                            let last = out.last().map_or(w, |c| c.0);
                            out.push((last + rng.between(0.2, 3.0) * SEC, size(rng)));
                            pending_at = Some((w, k + 1));
                        }
                    }
                    _ => {
                        if !skipped {
                            out.push((run + rng.between(0.0, 5.0) * SEC, size(rng)));
                            pending_at = Some((run, 1));
                            beats += 1;
                        }
                    }
                }
                due += sleep(rng, t);
            }
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

fn api_size(rng: &mut Rng, spread: f64) -> impl FnMut(&mut Rng) -> u64 + use<> {
    let base = rng.log_between(300.0, 8000.0);
    move |r: &mut Rng| (base * (1.0 + spread * (2.0 * r.unit() - 1.0))) as u64
}

/// User-driven calls to an app's API at exponential gaps (a Poisson process):
/// 20–200 connections, mean gap log-uniform in 10 s – 1 h, sizes within ±5%.
pub fn exponential_gaps(rng: &mut Rng) -> Vec<Conn> {
    let n = rng.int(20, 200);
    let mean = rng.log_between(10.0 * SEC, HOUR);
    let mut size = api_size(rng, 0.05);
    let mut at = 0.0;
    (0..n)
        .map(|_| {
            at += rng.exp(mean);
            (at, size(rng))
        })
        .collect()
}

/// The user opens the app: 5–30 calls within a minute, then nothing for
/// 20 min – 8 h; 20–200 connections in all, sizes within ±20%.
pub fn bursty_sessions(rng: &mut Rng) -> Vec<Conn> {
    let n = rng.int(20, 200);
    let mut size = api_size(rng, 0.2);
    let mut out = Vec::with_capacity(n);
    let mut at = 0.0;
    while out.len() < n {
        let calls = rng.int(5, 30);
        let len = rng.between(20.0, 60.0) * SEC;
        let mut starts: Vec<f64> = (0..calls).map(|_| at + rng.between(0.0, len)).collect();
        starts.sort_by(f64::total_cmp);
        for s in starts.into_iter().take(n - out.len()) {
            out.push((s, size(rng)));
        }
        at += len + rng.log_between(20.0 * MIN, 8.0 * HOUR);
    }
    out
}

/// An app polling its API on events (foreground, pushes, retries with
/// back-off): log-normal gaps with median 10 s – 1 h and σ 0.7–1.5, request
/// sizes within ±3%; 20–200 connections.
pub fn irregular_polling(rng: &mut Rng) -> Vec<Conn> {
    let n = rng.int(20, 200);
    let median = rng.log_between(10.0 * SEC, HOUR);
    let sigma = rng.between(0.7, 1.5);
    let mut size = api_size(rng, 0.03);
    let mut at = 0.0;
    (0..n)
        .map(|_| {
            at += median * (sigma * rng.normal()).exp();
            (at, size(rng))
        })
        .collect()
}

/// Push keep-alives, NTP and connectivity checks: a steady timer (30 s –
/// 30 min, ±2%) to a service on the documented allowlist.
pub fn service_timer(rng: &mut Rng) -> Vec<Conn> {
    let period = rng.between(30.0, 1800.0) * SEC;
    let size = rng.between(100.0, 600.0) as u64;
    let mut at = 0.0;
    (0..rng.int(20, 100))
        .map(|_| {
            at += period * rng.between(0.98, 1.02);
            (at, size)
        })
        .collect()
}

/// Hosts of [`service_timer`]: push channels, NTP, connectivity checks.
pub const SERVICE_HOSTS: [&str; 8] = [
    "courier.push.apple.com",
    "mtalk.google.com",
    "connectivitycheck.gstatic.com",
    "connectivitycheck.android.com",
    "time.apple.com",
    "time.android.com",
    "pool.ntp.org",
    "captive.apple.com",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_are_seeded_sorted_and_sized() {
        let t = Timer {
            period: 300.0 * SEC,
            jitter: 0.3,
            skip: 0.3,
            connections: 20,
        };
        for g in [
            |r: &mut Rng| {
                awake_beacon(
                    r,
                    &Timer {
                        period: 300.0 * SEC,
                        jitter: 0.3,
                        skip: 0.3,
                        connections: 20,
                    },
                )
            },
            |r: &mut Rng| {
                dozing_beacon(
                    r,
                    &Timer {
                        period: 300.0 * SEC,
                        jitter: 0.3,
                        skip: 0.3,
                        connections: 20,
                    },
                    DozeStyle::Thaw,
                )
            },
            |r: &mut Rng| {
                dozing_beacon(
                    r,
                    &Timer {
                        period: 300.0 * SEC,
                        jitter: 0.3,
                        skip: 0.3,
                        connections: 20,
                    },
                    DozeStyle::Flush,
                )
            },
            exponential_gaps,
            bursty_sessions,
            irregular_polling,
            service_timer,
        ] {
            let a = g(&mut Rng::new(5));
            assert_eq!(a, g(&mut Rng::new(5)));
            assert_ne!(a, g(&mut Rng::new(6)));
            assert!(a.len() >= 20, "{}", a.len());
            assert!(a.windows(2).all(|w| w[0].0 <= w[1].0));
        }
        // A dozing phone delays beats: some intervals are far longer than the
        // period (sleep), and with Flush some far shorter (held-back beats).
        let mut r = Rng::new(9);
        let mut long = 0;
        for _ in 0..50 {
            let c = dozing_beacon(&mut r, &t, DozeStyle::Flush);
            long += c
                .windows(2)
                .filter(|w| w[1].0 - w[0].0 > 3.0 * t.period)
                .count();
        }
        assert!(long > 0);
    }
}
