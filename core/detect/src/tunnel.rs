//! DNS tunnelling and exfiltration: data encoded into query names shows up as
//! long, high-entropy labels and as many unique subdomains under one
//! registrable domain in a short time.
//!
//! Unique subdomains are counted with a capped set of 64-bit hashes per
//! registrable domain per window (exact up to the cap, "at least cap" above),
//! for at most `max_domains` domains (least recently active evicted, counted).

use std::borrow::Cow;
use std::collections::VecDeque;

use hashbrown::{HashMap, HashSet};

use crate::alert::Signal;
use crate::dga::fnv1a;
use crate::domain;

/// Tuning and limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TunnelConfig {
    /// Counting window for unique subdomains, µs.
    pub window_us: u64,
    /// Unique subdomains per registrable domain per window that are suspicious.
    pub unique_threshold: usize,
    /// Hashes kept per domain (≥ `unique_threshold`).
    pub max_hashes_per_domain: usize,
    /// Registrable domains tracked.
    pub max_domains: usize,
    /// A label this long is suspicious when also high-entropy.
    pub long_label: usize,
    /// Shannon entropy (bits/char) that makes a long label suspicious on its
    /// own (random base32 is ~5, English text ~4).
    pub high_entropy: f32,
    /// Score at which [`TunnelDetector::observe`] reports.
    pub report_score: f32,
}

impl Default for TunnelConfig {
    fn default() -> Self {
        Self {
            window_us: 300_000_000,
            unique_threshold: 100,
            max_hashes_per_domain: 256,
            max_domains: 1024,
            long_label: 32,
            high_entropy: 4.5,
            report_score: 0.5,
        }
    }
}

/// Counters of what was shed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TunnelCounters {
    /// Names observed.
    pub observed: u64,
    /// Domains evicted to stay within `max_domains`.
    pub evicted_domains: u64,
    /// Subdomain hashes not stored because a domain's set was full.
    pub saturated: u64,
    /// Reports made.
    pub reports: u64,
}

/// Shape of one query name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NameShape {
    /// Characters before the registrable domain (without the joining dot).
    pub subdomain_len: usize,
    /// Longest label before the registrable domain.
    pub longest_label: usize,
    /// Shannon entropy of the subdomain part, bits/char.
    pub entropy: f32,
    /// Labels before the registrable domain.
    pub labels: usize,
    /// Share of digits in the subdomain part.
    pub digit_ratio: f32,
}

/// Measures the subdomain part of a normalised name.
pub fn name_shape(normalized: &str) -> NameShape {
    let sub = match domain::registrable(normalized) {
        Some(reg) => normalized
            .strip_suffix(reg)
            .map_or("", |s| s.trim_end_matches('.')),
        None => "",
    };
    let mut counts = [0u32; 256];
    let mut n = 0u32;
    let mut digits = 0u32;
    for b in sub.bytes().filter(|b| *b != b'.') {
        digits += u32::from(b.is_ascii_digit());
        if let Some(c) = counts.get_mut(usize::from(b)) {
            *c += 1;
        }
        n += 1;
    }
    let entropy = if n == 0 {
        0.0
    } else {
        counts
            .iter()
            .filter(|c| **c > 0)
            .map(|&c| {
                let p = c as f32 / n as f32;
                -p * p.log2()
            })
            .sum()
    };
    NameShape {
        subdomain_len: sub.len(),
        longest_label: sub.split('.').map(str::len).max().unwrap_or(0),
        entropy,
        labels: if sub.is_empty() {
            0
        } else {
            sub.split('.').count()
        },
        digit_ratio: if n == 0 {
            0.0
        } else {
            digits as f32 / n as f32
        },
    }
}

/// A tunnelling verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct TunnelScore {
    /// In `[0, 1]`.
    pub score: f32,
    /// The registrable domain concerned.
    pub registrable: String,
    /// Why.
    pub signals: Vec<Signal>,
}

#[derive(Debug, Default)]
struct DomainWindow {
    started_us: u64,
    touched: u64,
    hashes: HashSet<u64>,
    /// Queries in the window.
    queries: u32,
    /// … of them with a long, encoded-looking label.
    encoded: u32,
    /// … of them for a record type tunnels carry data in.
    data_types: u32,
    /// Highest severity band reported in this window (0: none, 1: low,
    /// 2: medium, 3: high).
    reported_band: u8,
}

/// Record types tunnels carry data in: NULL (iodine's default), TXT, CNAME,
/// MX, SRV, PRIVATE (65399, iodine) and ANY.
fn is_data_type(qtype: u16) -> bool {
    matches!(qtype, 5 | 10 | 15 | 16 | 33 | 255 | 65399)
}

/// The severity band of a score, as [`crate::alert::Severity::from_score`]
/// draws it.
fn band(score: f32) -> u8 {
    if score >= 0.9 {
        3
    } else if score >= 0.7 {
        2
    } else if score >= 0.5 {
        1
    } else {
        0
    }
}

/// Tracks query names per registrable domain.
#[derive(Debug)]
pub struct TunnelDetector {
    config: TunnelConfig,
    /// Keyed by the FNV-1a hash of the registrable domain.
    domains: HashMap<u64, DomainWindow>,
    /// (domain hash, touch sequence), oldest first; stale pairs are skipped.
    lru: VecDeque<(u64, u64)>,
    seq: u64,
    counters: TunnelCounters,
}

impl TunnelDetector {
    /// A detector with the given limits.
    pub fn new(config: TunnelConfig) -> Self {
        Self {
            config,
            domains: HashMap::new(),
            lru: VecDeque::new(),
            seq: 0,
            counters: TunnelCounters::default(),
        }
    }

    /// Counters.
    pub fn counters(&self) -> TunnelCounters {
        self.counters
    }

    /// Records a query name of unknown record type; see
    /// [`TunnelDetector::observe_query`].
    pub fn observe(&mut self, now_us: u64, name: &str) -> Option<TunnelScore> {
        self.observe_query(now_us, name, None)
    }

    /// Records a query name and its record type. Reports when the evidence
    /// for its registrable domain first reaches `report_score`, and again
    /// each time it climbs into a higher severity band within the window: a
    /// tunnel's first query is only a long label, its volume, rate and
    /// record types show within seconds.
    pub fn observe_query(
        &mut self,
        now_us: u64,
        name: &str,
        qtype: Option<u16>,
    ) -> Option<TunnelScore> {
        self.counters.observed += 1;
        let normalized = domain::normalize(name)?;
        let reg = domain::registrable(&normalized)?;
        let reg_hash = fnv1a(reg.as_bytes());
        let shape = name_shape(&normalized);
        let cfg = self.config;
        self.seq += 1;
        let seq = self.seq;
        if !self.domains.contains_key(&reg_hash) {
            while self.domains.len() >= cfg.max_domains.max(1) {
                let Some((h, at)) = self.lru.pop_front() else {
                    break;
                };
                if self.domains.get(&h).is_some_and(|w| w.touched == at) {
                    self.domains.remove(&h);
                    self.counters.evicted_domains += 1;
                }
            }
        }
        self.lru.push_back((reg_hash, seq));
        if self.lru.len() > cfg.max_domains.max(16) * 4 {
            let live = &self.domains;
            self.lru
                .retain(|(h, at)| live.get(h).is_some_and(|w| w.touched == *at));
        }
        let w = self.domains.entry(reg_hash).or_default();
        if now_us.saturating_sub(w.started_us) > cfg.window_us || w.queries == 0 {
            *w = DomainWindow {
                started_us: now_us,
                ..DomainWindow::default()
            };
        }
        w.touched = seq;
        if shape.subdomain_len > 0 {
            let sub = normalized.get(..shape.subdomain_len).unwrap_or("");
            if w.hashes.len() < cfg.max_hashes_per_domain.max(cfg.unique_threshold) {
                w.hashes.insert(fnv1a(sub.as_bytes()));
            } else {
                self.counters.saturated += 1;
            }
        }
        let unique = w.hashes.len();

        // English text already has ~4 bits/char of character entropy, so
        // entropy alone does not separate a long readable label from encoded
        // data; hex/base32/base64 encodings also mix in digits, words rarely do.
        let encoded_like =
            shape.entropy >= cfg.high_entropy || (shape.digit_ratio >= 0.1 && shape.entropy >= 3.0);
        let long = shape.longest_label >= cfg.long_label.max(1);
        let label_score = if long && encoded_like {
            let extra =
                (shape.longest_label - cfg.long_label.max(1)) as f32 / cfg.long_label.max(1) as f32;
            (0.6 + 0.4 * extra).min(1.0)
        } else {
            0.0
        };
        w.queries = w.queries.saturating_add(1);
        w.encoded = w.encoded.saturating_add(u32::from(label_score > 0.0));
        w.data_types = w
            .data_types
            .saturating_add(u32::from(qtype.is_some_and(is_data_type)));
        let volume = unique as f32 / cfg.unique_threshold.max(1) as f32;
        let volume_score = if volume >= 1.0 {
            (1.0 - 0.5 / volume).min(1.0)
        } else {
            volume * 0.5
        };
        // Rate and record types only speak for a tunnel when the names carry
        // data: a busy API host is queried often, with short names.
        let queries = w.queries as f32;
        let encoded_share = w.encoded as f32 / queries;
        let minutes = (now_us.saturating_sub(w.started_us) as f32 / 60e6).max(1.0);
        let per_minute = queries / minutes;
        let rate_score = (per_minute / 200.0).min(1.0) * encoded_share;
        let type_share = w.data_types as f32 / queries;
        let type_score = type_share * encoded_share;
        let parts = [
            0.9 * label_score,
            volume_score,
            0.6 * rate_score,
            0.5 * type_score,
        ];
        let score = 1.0 - parts.iter().map(|c| 1.0 - c).product::<f32>();
        let b = band(score);
        if score < cfg.report_score || b <= w.reported_band {
            return None;
        }
        w.reported_band = b;
        self.counters.reports += 1;
        // Each part's share of the score, in proportion to its log-odds
        // weight in the noisy-or above: the shares sum to the score.
        let logs = parts.map(|c| -(1.0 - c.min(0.999)).ln());
        let total: f32 = logs.iter().sum::<f32>().max(f32::EPSILON);
        let share = |i: usize| score * logs.get(i).copied().unwrap_or(0.0) / total;
        let signals = vec![
            Signal {
                name: "encoded_label",
                value: shape.longest_label as f32,
                weight: share(0),
                detail: Cow::Owned(format!(
                    "a {}-character label that looks like encoded data ({:.1} bits of entropy per character, {}% digits)",
                    shape.longest_label,
                    shape.entropy,
                    (shape.digit_ratio * 100.0).round()
                )),
            },
            Signal {
                name: "unique_subdomains",
                value: unique as f32,
                weight: share(1),
                detail: Cow::Owned(format!(
                    "{unique}{} different subdomains under this domain within {} s",
                    if unique >= cfg.max_hashes_per_domain.max(cfg.unique_threshold) {
                        " or more"
                    } else {
                        ""
                    },
                    cfg.window_us / 1_000_000
                )),
            },
            Signal {
                name: "query_rate",
                value: per_minute,
                weight: share(2),
                detail: Cow::Owned(format!(
                    "{per_minute:.0} queries a minute to this domain, {}% of them carrying encoded-looking labels",
                    (encoded_share * 100.0).round()
                )),
            },
            Signal {
                name: "data_record_types",
                value: type_share,
                weight: share(3),
                detail: Cow::Owned(format!(
                    "{}% of its queries ask for NULL, TXT, CNAME or other record types tunnels carry data in",
                    (type_share * 100.0).round()
                )),
            },
        ];
        Some(TunnelScore {
            score,
            registrable: reg.to_owned(),
            signals: crate::alert::reasons(signals),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(i: u64, len: usize) -> String {
        // Base32-ish chunk of a pseudo-random stream: what iodine/dnscat emit.
        let alphabet = b"abcdefghijklmnopqrstuvwxyz234567";
        let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(alphabet[(x % 32) as usize])
            })
            .collect()
    }

    #[test]
    fn shape_of_names() {
        let s = name_shape("abc.def.example.co.uk");
        assert_eq!(s.subdomain_len, 7);
        assert_eq!(s.longest_label, 3);
        assert_eq!(s.labels, 2);
        assert!((s.entropy - 6f32.log2()).abs() < 1e-5);
        assert_eq!(name_shape("example.com").subdomain_len, 0);
    }

    #[test]
    fn long_high_entropy_label_fires_readable_does_not() {
        let mut t = TunnelDetector::new(TunnelConfig::default());
        let name = format!("{}.{}.t.example.com", encoded(1, 60), encoded(2, 50));
        let r = t.observe(0, &name).unwrap();
        assert_eq!(r.registrable, "example.com");
        assert!(r.score >= 0.5);
        assert!(
            t.observe(
                1,
                "this-is-a-very-long-but-readable-hostname-label.cdn.example.org"
            )
            .is_none()
        );
        assert!(t.observe(2, "www.example.net").is_none());
        // Hex-encoded exfiltration: entropy ≤ 4 bits but digits give it away.
        let hex: String = (0..48)
            .map(|i| char::from(b"0123456789abcdef"[(i * 7 + i / 3) % 16]))
            .collect();
        assert!(t.observe(3, &format!("{hex}.x.example.io")).is_some());
    }

    #[test]
    fn many_unique_short_subdomains_fire_once_per_window() {
        let mut t = TunnelDetector::new(TunnelConfig::default());
        let mut reports = 0;
        for i in 0..500u64 {
            if t.observe(i * 100_000, &format!("{}.exfil.example", encoded(i, 12)))
                .is_some()
            {
                reports += 1;
            }
        }
        // Once at 100 unique subdomains (low), once more at 200 (medium).
        assert_eq!(reports, 2);
        assert_eq!(t.counters().saturated, 500 - 256);
        // A popular domain queried under a handful of names never fires.
        for i in 0..500u64 {
            let host = ["www", "api", "img", "static"][(i % 4) as usize];
            assert!(t.observe(i, &format!("{host}.popular.example")).is_none());
        }
    }

    #[test]
    fn iodine_style_tunnel_escalates_to_high_with_ordered_reasons() {
        let mut t = TunnelDetector::new(TunnelConfig::default());
        let mut reports = Vec::new();
        // 300 queries a minute for two minutes: NULL records, 57-character
        // base32 labels, one domain.
        for i in 0..600u64 {
            let name = format!("{}.{}.t.example.com", encoded(i, 57), encoded(i + 7, 40));
            if let Some(r) = t.observe_query(i * 200_000, &name, Some(10)) {
                reports.push(r);
            }
        }
        let last = reports.last().unwrap();
        assert!(last.score >= 0.9, "{reports:?}");
        assert!(reports.len() <= 3, "one report per severity band");
        for r in &reports {
            assert!(r.signals.iter().all(|s| s.weight > 0.0));
            assert!(r.signals.windows(2).all(|w| w[0].weight >= w[1].weight));
            let sum: f32 = r.signals.iter().map(|s| s.weight).sum();
            assert!((sum - r.score).abs() < 1e-3, "{r:?}");
        }
        assert!(last.signals.iter().any(|s| s.name == "data_record_types"));
        // A busy API host (short names, A records) is no tunnel.
        for i in 0..600u64 {
            assert!(
                t.observe_query(i * 200_000, "api.busy.example", Some(1))
                    .is_none()
            );
        }
    }

    #[test]
    fn bounded_domains() {
        let cfg = TunnelConfig {
            max_domains: 8,
            ..TunnelConfig::default()
        };
        let mut t = TunnelDetector::new(cfg);
        for i in 0..100u64 {
            t.observe(i, &format!("a.d{i}.example"));
        }
        assert_eq!(t.domains.len(), 8);
        assert_eq!(t.counters().evicted_domains, 92);
        for s in ["", ".", "..", "com", "\u{0}"] {
            assert!(t.observe(0, s).is_none());
        }
    }
}
