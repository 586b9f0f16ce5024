//! NXDOMAIN bursts per app: a DGA-infected app walks its candidate list and
//! most candidates do not exist, so it collects many NXDOMAIN answers for
//! distinct names in a short time.
//!
//! Bounded: at most `max_apps` apps (the least recently active is evicted) and
//! at most `threshold · 2` timestamps per app (older ones cannot matter once the
//! count is above the threshold).

use std::borrow::Cow;
use std::collections::VecDeque;

use hashbrown::HashMap;

use crate::alert::Signal;
use crate::dga::fnv1a;

/// Tuning and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NxdomainConfig {
    /// Sliding window, µs.
    pub window_us: u64,
    /// Distinct NXDOMAIN names in the window that make a burst.
    pub threshold: usize,
    /// Most apps tracked.
    pub max_apps: usize,
}

impl Default for NxdomainConfig {
    fn default() -> Self {
        Self {
            window_us: 60_000_000,
            threshold: 10,
            max_apps: 1024,
        }
    }
}

/// Counters of what was shed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NxdomainCounters {
    /// NXDOMAIN answers seen.
    pub observed: u64,
    /// Repeats of a name already in the window (not counted twice).
    pub repeats: u64,
    /// Apps evicted to stay within `max_apps`.
    pub evicted_apps: u64,
    /// Bursts reported.
    pub bursts: u64,
}

/// A burst.
#[derive(Debug, Clone, PartialEq)]
pub struct NxBurst {
    /// Distinct NXDOMAIN names in the window.
    pub count: usize,
    /// Score in `[0.5, 1)`: `1 - 0.5 · threshold / count` (0.5 at the
    /// threshold, 0.75 at twice it).
    pub score: f32,
    /// Why.
    pub signals: Vec<Signal>,
}

#[derive(Debug, Default)]
struct AppWindow {
    /// (time, name hash), oldest first.
    events: VecDeque<(u64, u64)>,
    last_us: u64,
    reported_until_us: u64,
}

/// Before `key` is added to `map`, which holds at most `cap` keys, evicts
/// the entry `last` calls least recently active; true when one was evicted.
/// New apps are rare next to queries: a scan is cheaper than an LRU list
/// touched on every query.
pub(crate) fn make_room<V>(
    map: &mut HashMap<String, V>,
    key: &str,
    cap: usize,
    last: impl Fn(&V) -> u64,
) -> bool {
    if map.contains_key(key) || map.len() < cap.max(1) {
        return false;
    }
    let Some(oldest) = map
        .iter()
        .min_by_key(|(_, v)| last(v))
        .map(|(k, _)| k.clone())
    else {
        return false;
    };
    map.remove(&oldest).is_some()
}

/// Sliding-window NXDOMAIN counter per app.
#[derive(Debug)]
pub struct NxdomainTracker {
    config: NxdomainConfig,
    apps: HashMap<String, AppWindow>,
    counters: NxdomainCounters,
}

impl NxdomainTracker {
    /// A tracker with the given limits.
    pub fn new(config: NxdomainConfig) -> Self {
        Self {
            config,
            apps: HashMap::new(),
            counters: NxdomainCounters::default(),
        }
    }

    /// Counters.
    pub fn counters(&self) -> NxdomainCounters {
        self.counters
    }

    /// Records an NXDOMAIN answer for `name` queried by `app`. Returns a burst
    /// at most once per window per app, when the distinct-name count reaches
    /// the threshold.
    pub fn observe(&mut self, now_us: u64, app: &str, name: &str) -> Option<NxBurst> {
        self.counters.observed += 1;
        let cap = self.config.threshold.max(1) * 2;
        let window = self.config.window_us;
        if make_room(&mut self.apps, app, self.config.max_apps, |w| w.last_us) {
            self.counters.evicted_apps += 1;
        }
        let w = self.apps.entry_ref(app).or_default();
        w.last_us = now_us;
        while w
            .events
            .front()
            .is_some_and(|(t, _)| now_us.saturating_sub(*t) > window)
        {
            w.events.pop_front();
        }
        let h = fnv1a(name.trim_end_matches('.').to_ascii_lowercase().as_bytes());
        if w.events.iter().any(|(_, e)| *e == h) {
            self.counters.repeats += 1;
        } else {
            if w.events.len() >= cap {
                w.events.pop_front();
            }
            w.events.push_back((now_us, h));
        }
        let count = w.events.len();
        if count < self.config.threshold.max(1) || now_us < w.reported_until_us {
            return None;
        }
        w.reported_until_us = now_us.saturating_add(window);
        self.counters.bursts += 1;
        let ratio = count as f32 / self.config.threshold.max(1) as f32;
        let score = 1.0 - 0.5 / ratio.max(1.0);
        Some(NxBurst {
            count,
            score: score.clamp(0.0, 1.0),
            signals: vec![Signal {
                name: "nxdomain_distinct",
                value: count as f32,
                weight: 1.0,
                detail: Cow::Owned(format!(
                    "{count} distinct NXDOMAIN names within {} s (threshold {})",
                    window / 1_000_000,
                    self.config.threshold
                )),
            }],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_fires_once_per_window() {
        let mut t = NxdomainTracker::new(NxdomainConfig::default());
        let mut bursts = Vec::new();
        for i in 0..30u64 {
            if let Some(b) = t.observe(i * 1_000_000, "app", &format!("x{i}.example")) {
                bursts.push((i, b));
            }
        }
        assert_eq!(bursts.len(), 1);
        assert_eq!(bursts[0].0, 9);
        assert_eq!(bursts[0].1.count, 10);
        assert!(bursts[0].1.score >= 0.5 && bursts[0].1.score <= 1.0);
        // After the window, a continuing burst is reported again.
        assert!(t.observe(75_000_000, "app", "late.example").is_some());
    }

    #[test]
    fn repeats_and_slow_drips_do_not_fire() {
        let mut t = NxdomainTracker::new(NxdomainConfig::default());
        for i in 0..100u64 {
            assert!(t.observe(i * 1_000_000, "app", "typo.example").is_none());
            // One distinct failure every 10 s: at most 7 in any 60 s window.
            assert!(
                t.observe(i * 10_000_000, "other", &format!("n{i}.example"))
                    .is_none()
            );
        }
        // 99 repeats, less one: at 61 s the first sighting slid out of the
        // window and the name counted as new again.
        assert_eq!(t.counters().repeats, 98);
    }

    #[test]
    fn bounded_apps_and_events() {
        let cfg = NxdomainConfig {
            max_apps: 4,
            ..NxdomainConfig::default()
        };
        let mut t = NxdomainTracker::new(cfg);
        for i in 0..100u64 {
            t.observe(i, &format!("app{i}"), "a.example");
        }
        assert_eq!(t.apps.len(), 4);
        assert_eq!(t.counters().evicted_apps, 96);
        for i in 0..1000u64 {
            t.observe(i, "busy", &format!("n{i}"));
        }
        assert!(t.apps.get("busy").unwrap().events.len() <= 20);
    }
}
