//! Infection-level DGA verdicts: "app X is running a DGA".
//!
//! One generated name says little: wordlist families (matsnu, suppobox) look
//! like brand names, and benign apps look up random-looking CDN and ad-tech
//! labels. What a DGA cannot hide is its walk: an infected app asks for many
//! *different registrable domains* that no app on the device has reached,
//! in a few minutes, and most of them do not exist (NXDOMAIN). Benign
//! failures look different: a browser's random intranet probes are single
//! labels (no registrable domain), search-domain suffixing keeps failing
//! under one registrable domain (`printer.corp.example`,
//! `wpad.corp.example`), typos are one or two names hours apart, and names a
//! DNS filter refuses are asked for by many apps.
//!
//! So the tracker keeps, per app, a sliding window of the distinct
//! registrable domains it looked up and combines:
//! - one unit of evidence per failed lookup of a domain no app has reached and
//!   no other app asked for;
//! - up to one more for each of those whose name the per-name model calls
//!   generated (so random-character families are caught in a few lookups,
//!   wordlist ones by the walk alone);
//! - a bonus when the failures came close together;
//! - scaled down when most of the app's new domains resolved (an app that
//!   mostly reaches what it asks for is not hunting for a server).
//!
//! At [`InfectionConfig::report_evidence`] it raises one verdict per app per
//! window, with the strongest names as evidence. Bounded: `max_apps` windows
//! of at most `max_domains_per_app` entries, and a device-wide memory of
//! `max_known` registrable domains (answered, or asked for by an app).

use std::borrow::Cow;
use std::collections::VecDeque;

use hashbrown::HashMap;

use crate::alert::{Signal, reasons};
use crate::dga::{DgaModel, fnv1a};
use crate::domain;
use crate::nxdomain::make_room;

/// Tuning and limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InfectionConfig {
    /// Sliding window per app, µs.
    pub window_us: u64,
    /// Evidence (see the module docs) at which an app is reported.
    pub report_evidence: f32,
    /// Per-name logit at which a name counts fully as generated; names
    /// between `generated_logit - 4` and it count in part.
    pub generated_logit: f32,
    /// Failed lookups closer together than this (median gap, µs) earn the
    /// timing bonus in full; it fades out at ten times this.
    pub burst_gap_us: u64,
    /// Distinct registrable domains remembered per app per window.
    pub max_domains_per_app: usize,
    /// Apps tracked (least recently active evicted).
    pub max_apps: usize,
    /// Registrable domains remembered device-wide (oldest forgotten).
    pub max_known: usize,
}

impl InfectionConfig {
    /// How long after an NXDOMAIN for a domain that resolved before the
    /// resolver is distrusted, µs (one window).
    fn distrust_us(&self) -> u64 {
        self.window_us
    }
}

impl Default for InfectionConfig {
    fn default() -> Self {
        Self {
            window_us: 600_000_000,
            report_evidence: 10.0,
            generated_logit: 4.0,
            burst_gap_us: 20_000_000,
            max_domains_per_app: 64,
            max_apps: 1024,
            max_known: 8192,
        }
    }
}

/// Counters of what was seen and shed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InfectionCounters {
    /// Lookups observed.
    pub observed: u64,
    /// Lookups without a registrable domain (single labels), ignored.
    pub unregistrable: u64,
    /// Apps evicted to stay within `max_apps`.
    pub evicted_apps: u64,
    /// Window entries dropped to stay within `max_domains_per_app`.
    pub shed_entries: u64,
    /// Device-wide domains forgotten to stay within `max_known`.
    pub forgotten_known: u64,
    /// NXDOMAIN answers for domains that resolved before: the resolver, not
    /// the name, failed (a captive portal, a DNS filter), and no verdict is
    /// given for a window after one.
    pub contradictions: u64,
    /// Verdicts reported.
    pub reports: u64,
}

/// One DNS lookup as the tracker sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lookup<'a> {
    /// The normalised query name.
    pub name: &'a str,
    /// Its registrable domain; `None` for single labels and bare suffixes.
    pub registrable: Option<&'a str>,
    /// The answer was NXDOMAIN (or no answer at all).
    pub failed: bool,
    /// The per-name DGA logit of the name as a looked-up name
    /// ([`crate::DgaModel::logit`]).
    pub dga_logit: f32,
    /// The registrable domain sits under a Public Suffix List private
    /// suffix (a hosting or CDN zone). When it resolves it does not count as
    /// a new domain the app reached: every CDN shard would.
    pub hosted: bool,
}

/// "This app is running a DGA".
#[derive(Debug, Clone, PartialEq)]
pub struct InfectionVerdict {
    /// In `[0, 1]`: 0.7 at the report threshold, 0.9 at 1.5 times it.
    pub score: f32,
    /// Evidence units (see the module docs).
    pub evidence: f32,
    /// Distinct failed, never-reached registrable domains in the window.
    pub failed_domains: usize,
    /// Distinct new registrable domains the app looked up in the window
    /// (the failed ones and those that resolved for the first time).
    pub domains: usize,
    /// The most generated-looking failed names, strongest first (at most 5).
    pub strongest: Vec<String>,
    /// Reasons, largest contribution first.
    pub signals: Vec<Signal>,
}

#[derive(Debug, Clone)]
struct Entry {
    at_us: u64,
    reg: u64,
    /// Counts as DGA evidence (failed, never reached, no other app asked).
    counts: bool,
    /// Resolved, and no app had reached it before: the denominator of the
    /// failure share (domains the device knew do not dilute it).
    new_resolved: bool,
    /// Share of a unit earned by a generated-looking name, `[0, 1]`.
    generated: f32,
    logit: f32,
    name: String,
}

#[derive(Debug, Default)]
struct AppWindow {
    entries: VecDeque<Entry>,
    last_us: u64,
    reported_until_us: u64,
}

/// What the device knows about a registrable domain.
#[derive(Debug, Clone, Copy)]
struct Known {
    resolved: bool,
    /// Hash of the first app that asked for it.
    app: u64,
    /// Whether a second app asked for it.
    shared: bool,
}

/// Per-app sliding windows plus the device-wide memory. See the module docs.
#[derive(Debug)]
pub struct InfectionTracker {
    config: InfectionConfig,
    apps: HashMap<String, AppWindow>,
    known: HashMap<u64, Known>,
    known_order: VecDeque<u64>,
    /// No verdict before this time (see [`InfectionCounters::contradictions`]).
    distrust_until_us: u64,
    counters: InfectionCounters,
}

impl InfectionTracker {
    /// A tracker with the given limits.
    pub fn new(config: InfectionConfig) -> Self {
        Self {
            config,
            apps: HashMap::new(),
            known: HashMap::new(),
            known_order: VecDeque::new(),
            distrust_until_us: 0,
            counters: InfectionCounters::default(),
        }
    }

    /// Counters.
    pub fn counters(&self) -> InfectionCounters {
        self.counters
    }

    /// Bytes held now and at the caps (estimated from entry counts).
    pub fn memory(&self) -> (usize, usize) {
        const ENTRY: usize = 96;
        const KNOWN: usize = 40;
        const APP: usize = 96;
        let now = self
            .apps
            .values()
            .map(|w| APP + w.entries.len() * ENTRY)
            .sum::<usize>()
            + self.known.len() * KNOWN;
        let cap = self.config.max_apps * (APP + self.config.max_domains_per_app * ENTRY)
            + self.config.max_known * KNOWN;
        (now, cap)
    }

    /// Records a registrable domain that resolved for any app: it exists and
    /// is reachable, so a later failure for it is no DGA evidence.
    pub fn resolved(&mut self, registrable: &str) {
        let h = fnv1a(registrable.as_bytes());
        match self.known.get_mut(&h) {
            Some(k) => k.resolved = true,
            None => self.remember(
                h,
                Known {
                    resolved: true,
                    app: 0,
                    shared: false,
                },
            ),
        }
    }

    fn remember(&mut self, h: u64, k: Known) {
        while self.known.len() >= self.config.max_known.max(1) {
            let Some(old) = self.known_order.pop_front() else {
                break;
            };
            if self.known.remove(&old).is_some() {
                self.counters.forgotten_known += 1;
            }
        }
        self.known.insert(h, k);
        self.known_order.push_back(h);
    }

    /// Records one DNS answer for `app`: `name` normalised, `nxdomain` for
    /// RCODE 3, `resolved` when it was answered with records. Other outcomes
    /// (timeouts, SERVFAIL) are ignored: they come in bursts whenever the
    /// network changes, for every domain an app asks for. The model scores
    /// failed names only.
    pub fn observe_dns(
        &mut self,
        model: &DgaModel,
        now_us: u64,
        app: &str,
        name: &str,
        nxdomain: bool,
        resolved: bool,
    ) -> Option<InfectionVerdict> {
        if !nxdomain && !resolved {
            return None;
        }
        let dga_logit = if nxdomain {
            model.logit(name)
        } else {
            f32::NEG_INFINITY
        };
        self.observe(
            now_us,
            app,
            Lookup {
                name,
                registrable: internet_registrable(name),
                failed: nxdomain,
                dga_logit,
                hosted: is_hosted(name),
            },
        )
    }

    /// Records one lookup by `app`; returns a verdict at most once per window
    /// per app, when the evidence reaches the report threshold.
    pub fn observe(
        &mut self,
        now_us: u64,
        app: &str,
        lookup: Lookup<'_>,
    ) -> Option<InfectionVerdict> {
        self.counters.observed += 1;
        let Some(reg) = lookup.registrable else {
            self.counters.unregistrable += 1;
            return None;
        };
        let reg_hash = fnv1a(reg.as_bytes());
        let app_hash = fnv1a(app.as_bytes()) | 1;
        // Device-wide: a domain another app asked for is no one app's DGA
        // walk (DNS filters, shared SDKs, typos in a shared link).
        let (was_resolved, shared) = match self.known.get_mut(&reg_hash) {
            Some(k) => {
                if k.app != app_hash && k.app != 0 {
                    k.shared = true;
                }
                if k.app == 0 {
                    k.app = app_hash;
                }
                (k.resolved, k.shared)
            }
            None => {
                self.remember(
                    reg_hash,
                    Known {
                        resolved: false,
                        app: app_hash,
                        shared: false,
                    },
                );
                (false, false)
            }
        };
        if !lookup.failed {
            self.resolved(reg);
        } else if was_resolved {
            // Real domains do not vanish between two lookups; resolvers that
            // answer NXDOMAIN for everything (captive portals before login,
            // filters) do make them.
            self.counters.contradictions += 1;
            self.distrust_until_us = now_us.saturating_add(self.config.distrust_us());
        }
        let distrusted = now_us < self.distrust_until_us;
        let cfg = self.config;
        if make_room(&mut self.apps, app, cfg.max_apps, |w| w.last_us) {
            self.counters.evicted_apps += 1;
        }
        let w = self.apps.entry_ref(app).or_default();
        w.last_us = now_us;
        // (`self.known` is read below while `w` borrows `self.apps`.)
        while w
            .entries
            .front()
            .is_some_and(|e| now_us.saturating_sub(e.at_us) > cfg.window_us)
        {
            w.entries.pop_front();
        }
        let counts = lookup.failed && !was_resolved && !shared;
        let lo = cfg.generated_logit - 4.0;
        let generated = if lookup.dga_logit.is_finite() {
            ((lookup.dga_logit - lo) / 4.0).clamp(0.0, 1.0)
        } else {
            0.0
        };
        match w.entries.iter_mut().find(|e| e.reg == reg_hash) {
            Some(e) => {
                // A domain that resolved after all, or that another app also
                // asked for, stops counting.
                if !counts {
                    e.counts = false;
                }
            }
            None => {
                if w.entries.len() >= cfg.max_domains_per_app.max(1) {
                    w.entries.pop_front();
                    self.counters.shed_entries += 1;
                }
                w.entries.push_back(Entry {
                    at_us: now_us,
                    reg: reg_hash,
                    counts,
                    new_resolved: !lookup.failed && !was_resolved && !lookup.hosted,
                    generated,
                    logit: lookup.dga_logit,
                    name: lookup.name.to_owned(),
                });
            }
        }
        if !counts || distrusted || now_us < w.reported_until_us {
            return None;
        }
        let v = evaluate(&cfg, w, &self.known)?;
        w.reported_until_us = now_us.saturating_add(cfg.window_us);
        self.counters.reports += 1;
        Some(v)
    }
}

/// The evidence in one app's window; a verdict when it reaches the threshold.
fn evaluate(
    cfg: &InfectionConfig,
    w: &AppWindow,
    known: &HashMap<u64, Known>,
) -> Option<InfectionVerdict> {
    // What the device learnt since (the domain resolved, or another app
    // asked for it too) takes an entry back out.
    let still = |e: &&Entry| known.get(&e.reg).is_none_or(|k| !k.resolved && !k.shared);
    let failed: Vec<&Entry> = w
        .entries
        .iter()
        .filter(|e| e.counts)
        .filter(still)
        .collect();
    let n_failed = failed.len();
    let new_resolved = w.entries.iter().filter(|e| e.new_resolved).count();
    let domains = n_failed + new_resolved;
    if n_failed < 3 {
        return None;
    }
    let walk = n_failed as f32;
    let generated: f32 = failed.iter().map(|e| e.generated).sum();
    let mut times: Vec<u64> = failed.iter().map(|e| e.at_us).collect();
    times.sort_unstable();
    let mut gaps: Vec<u64> = times
        .iter()
        .zip(times.iter().skip(1))
        .map(|(a, b)| b - a)
        .collect();
    gaps.sort_unstable();
    let median_gap = gaps.get(gaps.len() / 2).copied().unwrap_or(u64::MAX);
    let burst = cfg.burst_gap_us.max(1) as f32;
    // 1 at or below `burst_gap_us`, fading linearly to 0 at ten times it.
    let closeness = (1.0 - (median_gap as f32 - burst) / (9.0 * burst)).clamp(0.0, 1.0);
    let timing = 0.5 * walk * closeness;
    let raw = walk + generated + timing;
    // Share of the app's new domains in the window that failed: below one
    // half the evidence shrinks in proportion (the app mostly reaches the
    // new domains it asks for, as a browser does).
    let share = n_failed as f32 / domains.max(1) as f32;
    let scale = (share / 0.5).min(1.0);
    let evidence = raw * scale;
    if evidence < cfg.report_evidence {
        return None;
    }
    let t = cfg.report_evidence.max(f32::EPSILON);
    let score = (0.7 + 0.2 * (evidence - t) / (0.5 * t)).clamp(0.7, 0.99);
    let span_s = times.last().zip(times.first()).map_or(0, |(l, f)| l - f) / 1_000_000;
    let mut strongest: Vec<&Entry> = failed.clone();
    strongest.sort_by(|a, b| b.logit.total_cmp(&a.logit));
    let strongest: Vec<String> = strongest.iter().take(5).map(|e| e.name.clone()).collect();
    let n_generated = failed.iter().filter(|e| e.generated >= 0.5).count();
    let signals = vec![
        Signal {
            name: "failed_unseen_domains",
            value: walk,
            weight: walk * scale,
            detail: Cow::Owned(format!(
                "{n_failed} of {domains} new domains looked up in {span_s} s returned NXDOMAIN, each a different domain no app on this device had reached"
            )),
        },
        Signal {
            name: "generated_names",
            value: n_generated as f32,
            weight: generated * scale,
            detail: Cow::Owned(format!(
                "{n_generated} of those names look machine-generated; strongest: {}",
                strongest
                    .iter()
                    .map(|n| escape(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        },
        Signal {
            name: "failure_timing",
            value: median_gap as f32 / 1e6,
            weight: timing * scale,
            detail: Cow::Owned(format!(
                "the failed lookups came in a burst, a median {:.1} s apart",
                median_gap as f64 / 1e6
            )),
        },
    ];
    Some(InfectionVerdict {
        score,
        evidence,
        failed_domains: n_failed,
        domains,
        strongest,
        signals: reasons(signals),
    })
}

/// The registrable domain of a normalised name under a suffix the Public
/// Suffix List knows. Names under a TLD nobody can register in (`.lan`,
/// `.home`, `.localdomain`: search-domain suffixing of intranet names and of
/// a browser's random probes) are no DGA's: a DGA must register its names.
pub fn internet_registrable(name: &str) -> Option<&str> {
    use psl::Psl;
    if name.split('.').any(str::is_empty) {
        return None;
    }
    psl::List.suffix(name.as_bytes()).filter(|s| s.is_known())?;
    domain::registrable(name)
}

/// Whether a normalised name's public suffix is from the Public Suffix
/// List's private section (`cloudfront.net`, `ddns.net`, `appspot.com`).
pub fn is_hosted(name: &str) -> bool {
    use psl::Psl;
    psl::List
        .suffix(name.as_bytes())
        .is_some_and(|s| s.typ() == Some(psl::Type::Private))
}

/// A name as text a person reads: anything but letters, digits, `.`, `-`
/// and `_` becomes `?` (names are attacker-controlled).
fn escape(name: &str) -> String {
    name.chars()
        .take(80)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(name: &'a str, reg: Option<&'a str>, failed: bool, logit: f32) -> Lookup<'a> {
        Lookup {
            name,
            registrable: reg,
            failed,
            dga_logit: logit,
            hosted: false,
        }
    }

    #[test]
    fn a_wordlist_walk_is_reported_once_with_reasons() {
        let mut t = InfectionTracker::new(InfectionConfig::default());
        let mut verdicts = Vec::new();
        for i in 0..20u64 {
            let name = format!("table-river{i}.com");
            // Brand-like names: the per-name model calls them benign.
            if let Some(v) = t.observe(i * 8_000_000, "app", lookup(&name, Some(&name), true, -6.0))
            {
                verdicts.push((i, v));
            }
        }
        assert_eq!(verdicts.len(), 1, "{verdicts:?}");
        let (at, v) = &verdicts[0];
        assert!(*at < 10, "reported after {at} lookups");
        assert!(v.score >= 0.7);
        assert_eq!(v.signals[0].name, "failed_unseen_domains");
        assert!(v.signals.iter().all(|s| s.weight > 0.0));
        assert!(v.signals.windows(2).all(|p| p[0].weight >= p[1].weight));
        // The brand-like names earned nothing as "generated": not a reason.
        assert!(v.signals.iter().all(|s| s.name != "generated_names"));
    }

    #[test]
    fn generated_names_need_fewer_lookups() {
        let mut t = InfectionTracker::new(InfectionConfig::default());
        let mut at = None;
        for i in 0..20u64 {
            let name = format!("xq{i}zkwvbtrp.net");
            if t.observe(i * 5_000_000, "app", lookup(&name, Some(&name), true, 12.0))
                .is_some()
            {
                at = Some(i);
                break;
            }
        }
        assert!(at.is_some_and(|i| i < 5), "{at:?}");
    }

    #[test]
    fn benign_failures_stay_quiet() {
        let mut t = InfectionTracker::new(InfectionConfig::default());
        for i in 0..200u64 {
            let now = i * 3_000_000;
            // Browser probes: single labels.
            assert!(
                t.observe(now, "browser", lookup("qwxkzjvb", None, true, 0.0))
                    .is_none()
            );
            // Search-domain suffixing: one registrable domain.
            let n = format!("host{i}.corp.example");
            assert!(
                t.observe(now, "browser", lookup(&n, Some("corp.example"), true, 0.0))
                    .is_none()
            );
            // A filtered tracker many apps ask for.
            let ad = format!("ads{}.example", i % 30);
            for app in ["news", "game"] {
                t.observe(now, app, lookup(&ad, Some(&ad), true, 0.0));
            }
        }
        // The tracker names were each first asked for by one app; only the
        // first few could count before the second app asked, too few.
        assert_eq!(t.counters().reports, 0);
        // An app that mostly reaches its domains.
        for i in 0..40u64 {
            let n = format!("site{i}.example");
            let failed = i % 4 == 0;
            assert!(
                t.observe(i * 1_000_000, "reader", lookup(&n, Some(&n), failed, 0.0))
                    .is_none()
            );
        }
    }

    #[test]
    fn only_registrable_internet_names_count() {
        assert_eq!(internet_registrable("a.b.example.com"), Some("example.com"));
        assert_eq!(internet_registrable("xkqjzvbw.lan"), None);
        assert_eq!(internet_registrable("printer.localdomain"), None);
        assert_eq!(internet_registrable("qwxkzjvb"), None);
        assert_eq!(internet_registrable("x.ddns.net"), Some("x.ddns.net"));
        assert_eq!(internet_registrable("a..com"), None);
    }

    #[test]
    fn a_resolver_that_fails_everything_is_not_an_infection() {
        let m = DgaModel::builtin().unwrap();
        let mut t = InfectionTracker::new(InfectionConfig::default());
        t.resolved("example.com");
        // Captive portal: a known domain fails, then many new CDN labels.
        assert!(
            t.observe_dns(&m, 0, "app", "www.example.com", true, false)
                .is_none()
        );
        for i in 0..30u64 {
            let n = format!("d{:x}kq7zt9w.cloudfront.net", i * 7919 + 1_000_003);
            assert!(
                t.observe_dns(&m, i * 1_000_000, "app", &n, true, false)
                    .is_none()
            );
        }
        assert_eq!(t.counters().contradictions, 1);
        // After the window the same walk is an infection.
        let later = 700_000_000;
        let hit = (0..30u64).find_map(|i| {
            let n = format!("q{:x}zkwvbtrp.net", i * 7919 + 1_000_003);
            t.observe_dns(&m, later + i * 5_000_000, "app", &n, true, false)
        });
        assert!(hit.is_some());
    }

    #[test]
    fn bounded() {
        let cfg = InfectionConfig {
            max_apps: 4,
            max_domains_per_app: 8,
            max_known: 16,
            ..InfectionConfig::default()
        };
        let mut t = InfectionTracker::new(cfg);
        for i in 0..100u64 {
            let n = format!("d{i}.example");
            t.observe(
                i,
                &format!("app{}", i % 10),
                lookup(&n, Some(&n), false, 0.0),
            );
        }
        assert!(t.apps.len() <= 4);
        assert!(t.apps.values().all(|w| w.entries.len() <= 8));
        assert!(t.known.len() <= 16);
        assert!(t.counters().evicted_apps > 0);
        assert!(t.counters().forgotten_known > 0);
        let (now, cap) = t.memory();
        assert!(now <= cap);
        assert_eq!(escape("a b\u{7}.com"), "a?b?.com");
    }
}
