//! What a detector reports ([`Alert`], [`Signal`]), what to do about it
//! ([`Policy`], [`Action`]) and the gate that keeps one noisy detector from
//! flooding the user ([`AlertGate`]).

use std::borrow::Cow;
use std::collections::VecDeque;

use hashbrown::HashMap;

/// One named, explainable contribution to a detector's score: the alert must be
/// able to say *why* it fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// Stable machine name, e.g. `ngram_surprisal`.
    pub name: &'static str,
    /// The measured value in the signal's own unit (bits, count, ratio, …).
    pub value: f32,
    /// Signed contribution of this signal to the detector's score (for the DGA
    /// model: logit units; for rule-style detectors: share of the score).
    pub weight: f32,
    /// Human-readable explanation of the signal and its unit.
    pub detail: Cow<'static, str>,
}

impl From<(&'static str, f32, f32, Cow<'static, str>)> for Signal {
    /// A signal from its parts as rule-style detectors list them: name, value, weight, detail.
    fn from((name, value, weight, detail): (&'static str, f32, f32, Cow<'static, str>)) -> Self {
        Signal {
            name,
            value,
            weight,
            detail,
        }
    }
}

/// Orders `signals` as an alert's reasons: only those whose contribution
/// pushes towards the verdict (weight > 0), largest contribution first. A
/// signal that argued against the alert would read as a reason for it.
pub fn reasons(mut signals: Vec<Signal>) -> Vec<Signal> {
    signals.retain(|s| s.weight > 0.0 && s.weight.is_finite());
    signals.sort_by(|a, b| b.weight.total_cmp(&a.weight));
    signals
}

/// How bad an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// Worth keeping, not worth interrupting anyone.
    Info,
    /// Suspicious.
    Low,
    /// Likely malicious.
    Medium,
    /// Almost certainly malicious.
    High,
}

impl Severity {
    /// Stable name used in logs and the store.
    pub fn name(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    /// Severity for a score in `[0, 1]`: ≥0.9 high, ≥0.7 medium, ≥0.5 low.
    pub fn from_score(score: f32) -> Self {
        if score >= 0.9 {
            Self::High
        } else if score >= 0.7 {
            Self::Medium
        } else if score >= 0.5 {
            Self::Low
        } else {
            Self::Info
        }
    }
}

/// What the engine does with an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Action {
    /// Store it only.
    #[default]
    Record,
    /// Store it and notify the user.
    Alert,
    /// Notify and block the flow/domain.
    Block,
}

impl Action {
    /// Stable name used in logs and the store.
    pub fn name(self) -> &'static str {
        match self {
            Self::Record => "record",
            Self::Alert => "alert",
            Self::Block => "block",
        }
    }
}

/// How a relay enforced a block: what the device saw instead of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Enforcement {
    /// The DNS query was answered NXDOMAIN.
    DnsNxdomain,
    /// The DNS query was answered 0.0.0.0 / `::`.
    DnsSinkhole,
    /// The TCP connection was refused with RST.
    TcpReset,
    /// The UDP flow was refused with ICMP port unreachable.
    IcmpUnreachable,
}

impl Enforcement {
    /// Stable name used in logs and the store.
    pub fn name(self) -> &'static str {
        match self {
            Self::DnsNxdomain => "dns_nxdomain",
            Self::DnsSinkhole => "dns_sinkhole",
            Self::TcpReset => "tcp_reset",
            Self::IcmpUnreachable => "icmp_unreachable",
        }
    }

    /// The inverse of [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::DnsNxdomain,
            Self::DnsSinkhole,
            Self::TcpReset,
            Self::IcmpUnreachable,
        ]
        .into_iter()
        .find(|e| e.name() == name)
    }
}

/// Which detector produced an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Detector {
    /// Algorithmically generated domain ([`crate::dga`]): one name, at
    /// most [`Severity::Low`].
    Dga,
    /// An app running a DGA: many failed lookups of never-reached domains
    /// ([`crate::infection`]).
    DgaInfection,
    /// Periodic callbacks ([`crate::beacon`]).
    Beacon,
    /// Burst of NXDOMAIN answers ([`crate::nxdomain`]).
    NxdomainBurst,
    /// DNS tunnelling/exfiltration ([`crate::tunnel`]).
    DnsTunnel,
    /// First contact with a never-seen domain ([`crate::first_seen`]).
    FirstSeen,
    /// Contact right after an install/update ([`crate::install`]).
    PostInstall,
    /// A domain, address or DNS answer listed by a threat-intelligence feed.
    Ioc,
    /// An app used a protocol its learnt baseline does not have ([`crate::baseline`]).
    BaselineDeviation,
}

impl Detector {
    /// Stable name used in logs and the store.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dga => "dga",
            Self::DgaInfection => "dga_infection",
            Self::Beacon => "beacon",
            Self::NxdomainBurst => "nxdomain_burst",
            Self::DnsTunnel => "dns_tunnel",
            Self::FirstSeen => "first_seen",
            Self::PostInstall => "post_install",
            Self::Ioc => "ioc",
            Self::BaselineDeviation => "baseline_deviation",
        }
    }

    /// The MITRE ATT&CK / D3FEND references that describe what this detector
    /// looks for.
    pub fn attack(self) -> Vec<AttackRef> {
        // DC0113 (Network Communication) is the data component every detector
        // reads; AN1700 (an app communicating with malicious infrastructure) is
        // the analytic the intel, DGA and beaconing detectors implement.
        const DC0113: (&str, &str) = ("DC0113", "Network Communication");
        const AN1700: (&str, &str) = (
            "AN1700",
            "Application communicating with malicious domains or infrastructure",
        );
        let refs: &[(&str, &str)] = match self {
            Self::Dga | Self::DgaInfection => &[
                DC0113,
                AN1700,
                (
                    "T1637.001",
                    "Dynamic Resolution: Domain Generation Algorithms (Mobile)",
                ),
                (
                    "T1568.002",
                    "Dynamic Resolution: Domain Generation Algorithms",
                ),
            ],
            Self::Beacon => &[
                DC0113,
                AN1700,
                ("T1437", "Application Layer Protocol (Mobile)"),
                ("T1071", "Application Layer Protocol"),
            ],
            Self::NxdomainBurst => &[
                DC0113,
                (
                    "T1637.001",
                    "Dynamic Resolution: Domain Generation Algorithms (Mobile)",
                ),
            ],
            Self::DnsTunnel => &[
                DC0113,
                ("T1437", "Application Layer Protocol (Mobile)"),
                ("T1071.004", "Application Layer Protocol: DNS"),
                ("T1639", "Exfiltration Over Alternative Protocol (Mobile)"),
            ],
            Self::FirstSeen => &[DC0113, ("T1437", "Application Layer Protocol (Mobile)")],
            Self::PostInstall => &[
                DC0113,
                ("T1437", "Application Layer Protocol (Mobile)"),
                ("T1474", "Supply Chain Compromise (Mobile)"),
            ],
            Self::Ioc => &[
                DC0113,
                AN1700,
                ("T1437", "Application Layer Protocol (Mobile)"),
            ],
            Self::BaselineDeviation => &[DC0113, ("T1437", "Application Layer Protocol (Mobile)")],
        };
        refs.iter()
            .map(|(id, name)| AttackRef { id, name })
            .collect()
    }
}

/// A reference into MITRE ATT&CK or D3FEND.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttackRef {
    /// Technique/analytic id, e.g. `T1637.001`.
    pub id: &'static str,
    /// Its title.
    pub name: &'static str,
}

/// Where the evidence came from, when the alert rests on third-party data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Provenance {
    /// Source name: the intel feed, or a model file / allowlist.
    pub source: String,
    /// Version or checksum of the source (empty when the feed has none).
    pub version: String,
    /// The feed's id for the indicator (STIX id, or `file:line`).
    pub indicator_id: Option<String>,
    /// The listed value that matched (a domain suffix, `*.suffix`, an address or network).
    pub indicator: Option<String>,
    /// The feed's category or label.
    pub category: Option<String>,
    /// Malware family or report the indicator belongs to.
    pub family: Option<String>,
    /// The feed's severity for the indicator (`info` … `critical`).
    pub severity: Option<String>,
}

/// A detector's finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Caller-assigned id (unique per store).
    pub id: u64,
    /// When it was raised, µs since the Unix epoch.
    pub ts_us: u64,
    /// How bad it is.
    pub severity: Severity,
    /// Detector score in `[0, 1]`.
    pub score: f32,
    /// Why it fired.
    pub signals: Vec<Signal>,
    /// ATT&CK/D3FEND references.
    pub attack: Vec<AttackRef>,
    /// App identifier (bundle id / package name), if attributed.
    pub app: Option<String>,
    /// The platform's user id for that app (Android uid), if attributed: what the
    /// store and the host key apps by.
    pub app_uid: Option<u32>,
    /// Domain concerned, if any.
    pub domain: Option<String>,
    /// Addresses concerned.
    pub ips: Vec<std::net::IpAddr>,
    /// Engine flow ids concerned.
    pub flow_ids: Vec<u64>,
    /// Who raised it.
    pub detector: Detector,
    /// Data the finding rests on.
    pub provenance: Option<Provenance>,
    /// What the policy decided.
    pub action: Action,
    /// What a relay actually did about it, when it blocked the name or a flow
    /// this alert concerns (see [`crate::Pipeline::record_enforcement`]).
    pub enforcement: Option<Enforcement>,
}

/// Maps severities to actions. The default is monitor-only: everything is
/// recorded, nothing is blocked and nobody is interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// Action for [`Severity::Info`].
    pub info: Action,
    /// Action for [`Severity::Low`].
    pub low: Action,
    /// Action for [`Severity::Medium`].
    pub medium: Action,
    /// Action for [`Severity::High`].
    pub high: Action,
}

impl Policy {
    /// The action for a severity.
    pub fn action(&self, severity: Severity) -> Action {
        match severity {
            Severity::Info => self.info,
            Severity::Low => self.low,
            Severity::Medium => self.medium,
            Severity::High => self.high,
        }
    }
}

/// Limits of an [`AlertGate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateConfig {
    /// The same (detector, app, domain) is suppressed for this long after it
    /// passed, µs.
    pub dedup_window_us: u64,
    /// Most remembered (detector, app, domain) keys; the oldest is forgotten.
    pub max_keys: usize,
    /// Token bucket size (burst of alerts let through at once).
    pub burst: u32,
    /// One token is added every this many µs.
    pub refill_every_us: u64,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            dedup_window_us: 3_600_000_000,
            max_keys: 4096,
            burst: 20,
            refill_every_us: 30_000_000,
        }
    }
}

/// What the gate has shed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GateCounters {
    /// Alerts let through.
    pub passed: u64,
    /// Suppressed as duplicates within the window.
    pub duplicates: u64,
    /// Suppressed by the global rate limit.
    pub rate_limited: u64,
    /// Keys forgotten to stay within `max_keys`.
    pub evicted_keys: u64,
}

/// Why an alert did not pass the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GateVerdict {
    /// Let it through.
    Pass,
    /// Same key seen within the dedup window.
    Duplicate,
    /// Global token bucket empty.
    RateLimited,
}

/// (detector, app, domain — or the first address when there is no domain).
type GateKey = (Detector, Option<String>, Option<String>);

/// Dedup plus global token-bucket rate limiter. Bounded by `max_keys`.
#[derive(Debug)]
pub struct AlertGate {
    config: GateConfig,
    /// When each key last passed, and at what severity.
    last_pass: HashMap<GateKey, (u64, Severity)>,
    order: VecDeque<(GateKey, u64)>,
    tokens: u32,
    last_refill_us: Option<u64>,
    counters: GateCounters,
}

impl AlertGate {
    /// A gate with the given limits (a full bucket).
    pub fn new(config: GateConfig) -> Self {
        Self {
            tokens: config.burst,
            config,
            last_pass: HashMap::new(),
            order: VecDeque::new(),
            last_refill_us: None,
            counters: GateCounters::default(),
        }
    }

    /// Counters of what passed and what was shed.
    pub fn counters(&self) -> GateCounters {
        self.counters
    }

    /// Decides whether `alert` should reach the user now.
    pub fn check(&mut self, now_us: u64, alert: &Alert) -> GateVerdict {
        self.refill(now_us);
        let subject = alert
            .domain
            .clone()
            .or_else(|| alert.ips.first().map(ToString::to_string));
        let key: GateKey = (alert.detector, alert.app.clone(), subject);
        // A tunnel that grew worse (its volume showed after its first long
        // label) is news, not a duplicate. Other detectors' repeats stay
        // duplicates whatever their severity.
        let escalates =
            |severity: Severity| alert.detector == Detector::DnsTunnel && alert.severity > severity;
        if let Some(&(at, severity)) = self.last_pass.get(&key)
            && now_us.saturating_sub(at) < self.config.dedup_window_us
            && !escalates(severity)
        {
            self.counters.duplicates += 1;
            return GateVerdict::Duplicate;
        }
        if self.tokens == 0 {
            self.counters.rate_limited += 1;
            return GateVerdict::RateLimited;
        }
        self.tokens -= 1;
        self.counters.passed += 1;
        self.last_pass.insert(key.clone(), (now_us, alert.severity));
        self.order.push_back((key, now_us));
        self.evict();
        GateVerdict::Pass
    }

    fn refill(&mut self, now_us: u64) {
        let every = self.config.refill_every_us.max(1);
        match self.last_refill_us {
            None => self.last_refill_us = Some(now_us),
            Some(last) => {
                let elapsed = now_us.saturating_sub(last);
                let add = elapsed / every;
                if add > 0 {
                    let add = u32::try_from(add).unwrap_or(u32::MAX);
                    self.tokens = self.tokens.saturating_add(add).min(self.config.burst);
                    self.last_refill_us = Some(last + u64::from(add) * every);
                    if self.tokens == self.config.burst {
                        self.last_refill_us = Some(now_us);
                    }
                }
            }
        }
    }

    fn evict(&mut self) {
        // `order` holds one entry per pass; stale entries (the key passed again
        // later) are skipped when popped.
        while self.last_pass.len() > self.config.max_keys.max(1) {
            let Some((key, at)) = self.order.pop_front() else {
                break;
            };
            if self.last_pass.get(&key).map(|v| v.0) == Some(at) {
                self.last_pass.remove(&key);
                self.counters.evicted_keys += 1;
            }
        }
        // Keep the queue from growing without bound when keys repeat.
        if self.order.len() > self.config.max_keys.max(1) * 4 {
            let live = &self.last_pass;
            self.order
                .retain(|(k, at)| live.get(k).map(|v| v.0) == Some(*at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(app: &str, domain: &str) -> Alert {
        Alert {
            id: 1,
            ts_us: 0,
            severity: Severity::High,
            score: 0.95,
            signals: vec![],
            attack: Detector::Dga.attack(),
            app: Some(app.into()),
            app_uid: None,
            domain: Some(domain.into()),
            ips: vec![],
            flow_ids: vec![],
            detector: Detector::Dga,
            provenance: None,
            action: Action::Record,
            enforcement: None,
        }
    }

    #[test]
    fn enforcement_names_round_trip() {
        for e in [
            Enforcement::DnsNxdomain,
            Enforcement::DnsSinkhole,
            Enforcement::TcpReset,
            Enforcement::IcmpUnreachable,
        ] {
            assert_eq!(Enforcement::from_name(e.name()), Some(e));
        }
        assert_eq!(Enforcement::from_name("block"), None);
    }

    #[test]
    fn default_policy_is_monitor_only() {
        let p = Policy::default();
        for s in [
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
        ] {
            assert_eq!(p.action(s), Action::Record);
        }
        assert_eq!(Severity::from_score(0.95), Severity::High);
        assert_eq!(Severity::from_score(0.1), Severity::Info);
    }

    #[test]
    fn dga_alerts_carry_attack_refs() {
        let ids: Vec<_> = Detector::Dga.attack().iter().map(|a| a.id).collect();
        assert!(ids.contains(&"T1637.001"));
        assert!(ids.contains(&"DC0113"));
        assert!(ids.contains(&"AN1700"));
    }

    #[test]
    fn duplicates_suppressed_within_window_then_pass_again() {
        let cfg = GateConfig {
            dedup_window_us: 1_000,
            ..GateConfig::default()
        };
        let mut g = AlertGate::new(cfg);
        assert_eq!(g.check(0, &alert("a", "x.com")), GateVerdict::Pass);
        assert_eq!(g.check(500, &alert("a", "x.com")), GateVerdict::Duplicate);
        let mut low = alert("c", "y.com");
        low.detector = Detector::DnsTunnel;
        low.severity = Severity::Low;
        assert_eq!(g.check(500, &low), GateVerdict::Pass);
        assert_eq!(g.check(501, &low), GateVerdict::Duplicate);
        // A tunnel's escalation passes; the same severity again does not.
        let mut high = low.clone();
        high.severity = Severity::High;
        assert_eq!(g.check(502, &high), GateVerdict::Pass);
        assert_eq!(g.check(503, &high), GateVerdict::Duplicate);
        assert_eq!(g.check(500, &alert("b", "x.com")), GateVerdict::Pass);
        assert_eq!(g.check(1_000, &alert("a", "x.com")), GateVerdict::Pass);
        assert_eq!(g.counters().duplicates, 3);
        assert_eq!(g.counters().passed, 5);
    }

    #[test]
    fn token_bucket_limits_and_refills() {
        let cfg = GateConfig {
            dedup_window_us: 0,
            max_keys: 100,
            burst: 3,
            refill_every_us: 1_000,
        };
        let mut g = AlertGate::new(cfg);
        let verdicts: Vec<_> = (0..5)
            .map(|i| g.check(0, &alert("a", &format!("d{i}.com"))))
            .collect();
        assert_eq!(
            verdicts.iter().filter(|v| **v == GateVerdict::Pass).count(),
            3
        );
        assert_eq!(g.counters().rate_limited, 2);
        assert_eq!(g.check(2_000, &alert("a", "e1.com")), GateVerdict::Pass);
        assert_eq!(g.check(2_000, &alert("a", "e2.com")), GateVerdict::Pass);
        assert_eq!(
            g.check(2_000, &alert("a", "e3.com")),
            GateVerdict::RateLimited
        );
    }

    #[test]
    fn key_table_is_bounded_and_counts_evictions() {
        let cfg = GateConfig {
            dedup_window_us: u64::MAX,
            max_keys: 8,
            burst: u32::MAX,
            refill_every_us: 1,
        };
        let mut g = AlertGate::new(cfg);
        for i in 0..100u64 {
            assert_eq!(
                g.check(i, &alert("a", &format!("d{i}.com"))),
                GateVerdict::Pass
            );
        }
        assert!(g.last_pass.len() <= 8);
        assert_eq!(g.counters().evicted_keys, 92);
        // The oldest key was forgotten, so it passes again.
        assert_eq!(g.check(200, &alert("a", "d0.com")), GateVerdict::Pass);
        assert_eq!(g.check(201, &alert("a", "d99.com")), GateVerdict::Duplicate);
    }
}
