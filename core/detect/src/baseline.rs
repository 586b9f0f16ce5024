//! Per-app baselines: when each app was first active, which stage it is in
//! (first run, learning, known) and which protocols it uses. The expected
//! *domains* of an app are the per-app scopes of [`crate::first_seen`]; this
//! module adds the protocols and the stage, which the pipeline uses both to
//! score deviations (a known app speaking a protocol it never used) and as a
//! false-positive control (an app's first run contacts many new domains
//! legitimately).
//!
//! Protocols are transport plus a port class (`tcp/443`, `udp/443`, `udp/53`,
//! `tcp/high`, …): exact ports for the well-known range and a few mobile
//! services, one bucket for the rest, so ephemeral peer ports do not inflate
//! the baseline. Bounded: `max_apps` apps (the least recently active is
//! evicted, counted) and `max_protocols_per_app` protocols per app.

use std::borrow::Cow;

use hashbrown::HashMap;

use crate::alert::Signal;

/// Tuning and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaselineConfig {
    /// An app is in its first run for this long after its first activity
    /// (or its install, if later), µs.
    pub first_run_us: u64,
    /// Protocols are learnt for this long after an app's first activity; after
    /// it the app is known and deviations are scored, µs.
    pub learning_us: u64,
    /// Most apps tracked.
    pub max_apps: usize,
    /// Most protocols remembered per app.
    pub max_protocols_per_app: usize,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        Self {
            first_run_us: 3_600_000_000,
            learning_us: 7 * 24 * 3_600_000_000,
            max_apps: 2048,
            max_protocols_per_app: 32,
        }
    }
}

/// Where an app is in its life on this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// Just installed or first seen: new domains are expected.
    FirstRun,
    /// Its baseline is still being learnt.
    Learning,
    /// Its baseline is established: deviations count.
    Known,
}

impl Stage {
    /// Stable name for explanations.
    pub fn name(self) -> &'static str {
        match self {
            Self::FirstRun => "first_run",
            Self::Learning => "learning",
            Self::Known => "known",
        }
    }
}

/// A protocol: IP protocol number and port class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Protocol {
    /// IP protocol number (6 TCP, 17 UDP, …).
    pub transport: u8,
    /// The responder port for well-known and listed service ports, else 0
    /// ("high").
    pub port_class: u16,
}

/// Ports above 1023 that mobile apps use as services, kept exact.
const SERVICE_PORTS: [u16; 6] = [5223, 5228, 8080, 8443, 3478, 19302];

impl Protocol {
    /// Classes a responder port.
    pub fn new(transport: u8, resp_port: u16) -> Self {
        let port_class = match transport {
            6 | 17 | 132 if resp_port < 1024 || SERVICE_PORTS.contains(&resp_port) => resp_port,
            _ => 0,
        };
        Self {
            transport,
            port_class,
        }
    }

    /// `tcp/443`, `udp/high`, `icmp`, `proto/47`.
    pub fn label(&self) -> String {
        let t = match self.transport {
            1 => return "icmp".into(),
            58 => return "icmpv6".into(),
            6 => "tcp",
            17 => "udp",
            132 => "sctp",
            p => return format!("proto/{p}"),
        };
        if self.port_class == 0 {
            format!("{t}/high")
        } else {
            format!("{t}/{}", self.port_class)
        }
    }

    /// Unencrypted web traffic, which a known app moving to is worth more.
    fn cleartext_web(&self) -> bool {
        self.transport == 6 && matches!(self.port_class, 80 | 8080)
    }
}

/// A known app used a protocol outside its baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolDeviation {
    /// The new protocol.
    pub protocol: Protocol,
    /// In `[0, 1]`.
    pub score: f32,
    /// Why.
    pub signals: Vec<Signal>,
}

/// Counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BaselineCounters {
    /// Apps evicted to stay within `max_apps`.
    pub evicted_apps: u64,
    /// Protocols not learnt (an app's set was full).
    pub protocols_dropped: u64,
    /// Deviations reported.
    pub deviations: u64,
}

#[derive(Debug)]
struct AppBaseline {
    first_us: u64,
    last_us: u64,
    protocols: Vec<Protocol>,
}

/// Baselines of every app.
#[derive(Debug)]
pub struct Baselines {
    config: BaselineConfig,
    apps: HashMap<String, AppBaseline>,
    counters: BaselineCounters,
}

impl Baselines {
    /// Empty.
    pub fn new(config: BaselineConfig) -> Self {
        Self {
            config,
            apps: HashMap::new(),
            counters: BaselineCounters::default(),
        }
    }

    /// Counters.
    pub fn counters(&self) -> BaselineCounters {
        self.counters
    }

    /// Apps tracked.
    pub fn len(&self) -> usize {
        self.apps.len()
    }

    /// Whether no app is tracked.
    pub fn is_empty(&self) -> bool {
        self.apps.is_empty()
    }

    /// Bytes held, estimated from entry counts.
    pub fn memory(&self) -> usize {
        self.apps
            .iter()
            .map(|(k, a)| 64 + k.len() + a.protocols.capacity() * 4)
            .sum()
    }

    /// The cap of [`Baselines::memory`] (app ids counted at 64 bytes).
    pub fn memory_cap(&self) -> usize {
        self.config.max_apps * (128 + self.config.max_protocols_per_app * 4)
    }

    fn entry(&mut self, now_us: u64, app: &str) -> Option<&mut AppBaseline> {
        if !self.apps.contains_key(app) {
            if self.apps.len() >= self.config.max_apps.max(1) {
                // New apps are rare next to events: a scan beats an LRU list.
                if let Some(oldest) = self
                    .apps
                    .iter()
                    .min_by_key(|(_, a)| a.last_us)
                    .map(|(k, _)| k.clone())
                {
                    self.apps.remove(&oldest);
                    self.counters.evicted_apps += 1;
                }
            }
            self.apps.insert(
                app.to_owned(),
                AppBaseline {
                    first_us: now_us,
                    last_us: now_us,
                    protocols: Vec::new(),
                },
            );
        }
        let a = self.apps.get_mut(app)?;
        a.last_us = a.last_us.max(now_us);
        a.first_us = a.first_us.min(now_us);
        Some(a)
    }

    /// Records activity of `app` and returns its stage. `epoch_us` is the
    /// app's install or update time when the host knows it.
    pub fn stage(&mut self, now_us: u64, app: &str, epoch_us: Option<u64>) -> Stage {
        let cfg = self.config;
        let Some(a) = self.entry(now_us, app) else {
            return Stage::FirstRun;
        };
        stage_of(cfg, a.first_us, now_us, epoch_us)
    }

    /// Records that `app` used `protocol`; reports when the app is known and
    /// the protocol is new to it. While the app is not known the protocol is
    /// learnt.
    pub fn observe_protocol(
        &mut self,
        now_us: u64,
        app: &str,
        epoch_us: Option<u64>,
        protocol: Protocol,
    ) -> Option<ProtocolDeviation> {
        let cfg = self.config;
        let a = self.entry(now_us, app)?;
        if a.protocols.contains(&protocol) {
            return None;
        }
        let stage = stage_of(cfg, a.first_us, now_us, epoch_us);
        let known = a.protocols.len();
        if a.protocols.len() < cfg.max_protocols_per_app {
            a.protocols.push(protocol);
        } else {
            self.counters.protocols_dropped += 1;
        }
        if stage != Stage::Known {
            return None;
        }
        self.counters.deviations += 1;
        let cleartext = protocol.cleartext_web();
        let unusual = protocol.port_class == 0;
        let parts = [
            (
                "new_protocol_for_app",
                1.0,
                0.55,
                Cow::Owned(format!(
                    "{} is not among the {known} protocols this app used while its baseline was learnt",
                    protocol.label()
                )),
            ),
            (
                "cleartext_web",
                f32::from(u8::from(cleartext)),
                if cleartext { 0.1 } else { 0.0 },
                Cow::Borrowed("unencrypted HTTP from an app that used none"),
            ),
            (
                "unlisted_port",
                f32::from(u8::from(unusual)),
                if unusual { 0.15 } else { 0.0 },
                Cow::Borrowed(
                    "responder port outside the well-known range and listed mobile services",
                ),
            ),
        ];
        let score = parts.iter().map(|p| p.2).sum::<f32>().min(1.0);
        Some(ProtocolDeviation {
            protocol,
            score,
            signals: parts.into_iter().map(Signal::from).collect(),
        })
    }
}

fn stage_of(cfg: BaselineConfig, first_us: u64, now_us: u64, epoch_us: Option<u64>) -> Stage {
    let start = epoch_us.map_or(first_us, |e| e.max(first_us));
    if now_us < start.saturating_add(cfg.first_run_us) {
        Stage::FirstRun
    } else if now_us < first_us.saturating_add(cfg.learning_us) {
        Stage::Learning
    } else {
        Stage::Known
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;

    fn cfg() -> BaselineConfig {
        BaselineConfig {
            first_run_us: 60 * S,
            learning_us: 600 * S,
            max_apps: 4,
            max_protocols_per_app: 8,
        }
    }

    #[test]
    fn stages_follow_first_activity_and_install() {
        let mut b = Baselines::new(cfg());
        assert_eq!(b.stage(0, "a", None), Stage::FirstRun);
        assert_eq!(b.stage(61 * S, "a", None), Stage::Learning);
        assert_eq!(b.stage(600 * S, "a", None), Stage::Known);
        // An update restarts the first run, not the learning.
        assert_eq!(b.stage(700 * S, "a", Some(690 * S)), Stage::FirstRun);
        assert_eq!(b.stage(800 * S, "a", Some(690 * S)), Stage::Known);
    }

    #[test]
    fn protocols_are_learnt_then_deviations_scored() {
        let mut b = Baselines::new(cfg());
        let tls = Protocol::new(6, 443);
        assert!(b.observe_protocol(0, "a", None, tls).is_none());
        assert!(
            b.observe_protocol(10 * S, "a", None, Protocol::new(17, 53))
                .is_none()
        );
        assert!(b.observe_protocol(700 * S, "a", None, tls).is_none());
        let d = b
            .observe_protocol(701 * S, "a", None, Protocol::new(6, 31337))
            .unwrap();
        assert_eq!(d.protocol.label(), "tcp/high");
        assert!((d.score - 0.7).abs() < 1e-6);
        assert_eq!(d.signals.len(), 3);
        // Reported once, then part of the baseline.
        assert!(
            b.observe_protocol(702 * S, "a", None, Protocol::new(6, 40000))
                .is_none()
        );
        let http = b
            .observe_protocol(703 * S, "a", None, Protocol::new(6, 80))
            .unwrap();
        assert!((http.score - 0.65).abs() < 1e-6);
        assert_eq!(b.counters().deviations, 2);
    }

    #[test]
    fn port_classes() {
        assert_eq!(Protocol::new(17, 443).label(), "udp/443");
        assert_eq!(Protocol::new(6, 5228).label(), "tcp/5228");
        assert_eq!(Protocol::new(6, 50000).label(), "tcp/high");
        assert_eq!(Protocol::new(1, 8).label(), "icmp");
        assert_eq!(Protocol::new(47, 0).label(), "proto/47");
    }

    #[test]
    fn bounded_by_max_apps() {
        let mut b = Baselines::new(cfg());
        for i in 0..20u64 {
            b.stage(i * S, &format!("app{i}"), None);
        }
        assert_eq!(b.len(), 4);
        assert_eq!(b.counters().evicted_apps, 16);
        assert!(b.memory() <= b.memory_cap());
    }
}
