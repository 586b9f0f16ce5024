//! The detection pipeline: engine events in, explained alerts out.
//!
//! [`Pipeline`] is sans-IO like the engine it follows: the caller passes every
//! [`Event`] the engine emits, the time, the host's app inventory and
//! optionally a compiled intel [`Index`]; the pipeline runs every detector,
//! attaches each finding's signals, ATT&CK references and provenance, and
//! queues the alerts that pass the [`AlertGate`] (dedup and rate limit) with
//! the [`Policy`]'s action. No clock, no file, no thread; every table is
//! capped and counts what it sheds.
//!
//! What each event feeds:
//! - `Dns`: DNS tunnelling on every query name; the DGA model on names that
//!   were not answered with addresses; NXDOMAIN bursts; for answered names a
//!   *contact* (below); intel on each answer address and CNAME target (the
//!   AN1700 "via DNS answer" case); the shared-infrastructure table.
//! - `Hello` / `Http`: a contact for the SNI or Host; intel on the server
//!   address.
//! - `FlowCompleted`: beaconing per (app, registrable domain or address), the
//!   app's protocol baseline, intel on the responder address.
//!
//! A contact (an app reaching a name) is checked against intel first; an IOC
//! hit is reported with its provenance and the behavioural detectors stay
//! quiet about that contact (the IOC alert carries their context signals). Then
//! previously-unseen state, the DGA model, and the post-install window: at most
//! one behavioural alert per contact, post-install before first-seen.
//!
//! False-positive controls: the intel allowlist silences behavioural alerts on
//! listed names; an address that serves many registrable domains (a CDN or
//! cloud front end) lowers first-seen scores and is never a beacon
//! destination; an app's first run halves first-seen scores; the beacon
//! allowlist data file and the per-app beacon baseline come from
//! [`crate::beacon`].

use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::{HashMap, HashSet};
use nightjar_engine::{DnsTransaction, Event, FlowRecord, HelloRecord, HttpRecord};
use nightjar_intel::{Index, Verdict};

use crate::alert::{
    Action, Alert, AlertGate, Detector, Enforcement, GateConfig, GateCounters, GateVerdict, Policy,
    Provenance, Severity, Signal,
};
use crate::baseline::{BaselineConfig, BaselineCounters, Baselines, Protocol, Stage};
use crate::beacon::{Allowlist, BeaconConfig, BeaconCounters, BeaconKey, BeaconTracker};
use crate::dga::{DgaModel, ModelError};
use crate::domain;
use crate::first_seen::{FirstSeen, FirstSeenConfig, FirstSeenCounters, Novelty, StateError};
use crate::infection::{InfectionConfig, InfectionCounters, InfectionTracker};
use crate::install::{
    AppInfo, ContactContext, InstallConfig, InstallCounters, PostInstallDetector,
};
use crate::nxdomain::{NxdomainConfig, NxdomainCounters, NxdomainTracker};
use crate::shared_infra::{SharedInfra, SharedInfraConfig, SharedInfraCounters};
use crate::tunnel::{TunnelConfig, TunnelCounters, TunnelDetector};

/// NXDOMAIN's RCODE.
const NXDOMAIN: u16 = 3;

/// Every knob of the pipeline. The default is monitor-only with the detectors'
/// own defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// Action per severity (default: record everything, block nothing).
    pub policy: Policy,
    /// Dedup window and rate limit.
    pub gate: GateConfig,
    /// Previously-unseen domains (learning period, cap).
    pub first_seen: FirstSeenConfig,
    /// Score at which a previously-unseen domain is reported.
    pub first_seen_report_score: f32,
    /// Beaconing. A `learning_until_us` of 0 means "the first-seen learning
    /// period after the first flow": beacons found in it are learnt into the
    /// per-app baseline instead of reported.
    pub beacon: BeaconConfig,
    /// Score at which a beacon is reported.
    pub beacon_report_score: f32,
    /// Periodic services whose timers are expected (default: the shipped
    /// `data/periodic_allowlist.txt`).
    pub beacon_allowlist: Allowlist,
    /// Post-install/update window.
    pub install: InstallConfig,
    /// NXDOMAIN bursts.
    pub nxdomain: NxdomainConfig,
    /// Per-app DGA infection verdicts.
    pub infection: InfectionConfig,
    /// DNS tunnelling.
    pub tunnel: TunnelConfig,
    /// Per-app baselines and first-run window.
    pub baseline: BaselineConfig,
    /// Shared CDN/cloud addresses.
    pub shared_infra: SharedInfraConfig,
    /// Alerts waiting for [`Pipeline::next_alert`]; above it new alerts are
    /// shed and counted.
    pub max_queued_alerts: usize,
    /// Flow-to-app attributions remembered for DNS transactions.
    pub max_flow_apps: usize,
    /// Names remembered as blocked by an alert whose action was `Block`.
    pub max_blocked_names: usize,
    /// Most apps in the inventory.
    pub max_inventory: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            gate: GateConfig::default(),
            first_seen: FirstSeenConfig::default(),
            first_seen_report_score: 0.5,
            beacon: BeaconConfig::default(),
            beacon_report_score: 0.7,
            beacon_allowlist: Allowlist::builtin(),
            install: InstallConfig::default(),
            // Five distinct NXDOMAINs a minute from one app is already far
            // from what apps do (no search-domain suffixing on phones).
            nxdomain: NxdomainConfig {
                threshold: 5,
                ..NxdomainConfig::default()
            },
            infection: InfectionConfig::default(),
            tunnel: TunnelConfig::default(),
            baseline: BaselineConfig::default(),
            shared_infra: SharedInfraConfig::default(),
            max_queued_alerts: 1024,
            max_flow_apps: 16_384,
            max_blocked_names: 4096,
            max_inventory: 4096,
        }
    }
}

/// Why a pipeline could not be built or its state loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The DGA model did not load.
    #[error("DGA model: {0}")]
    Model(#[from] ModelError),
    /// Persisted state was rejected.
    #[error("persisted detector state: {0}")]
    State(#[from] StateError),
}

/// One installed app, as the host's package manager reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryApp {
    /// The platform's app id on flows (Android uid; the iOS harness's index).
    pub uid: u32,
    /// Bundle id / package name: what alerts name the app by.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Install time, µs since the epoch.
    pub installed_us: u64,
    /// Last update time, µs since the epoch (equal to install if never updated).
    pub updated_us: u64,
}

/// What the pipeline saw, raised and shed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PipelineCounters {
    /// Events passed in.
    pub events: u64,
    /// Contacts (an app reaching a name) evaluated.
    pub contacts: u64,
    /// Intel lookups made.
    pub intel_lookups: u64,
    /// Alerts the detectors raised (before the gate).
    pub raised: u64,
    /// Alerts that passed the gate and were queued.
    pub queued: u64,
    /// Alerts shed because the queue was full.
    pub queue_shed: u64,
    /// Flow attributions forgotten to stay within `max_flow_apps`.
    pub flow_apps_evicted: u64,
    /// Blocked names forgotten to stay within `max_blocked_names`.
    pub blocked_names_evicted: u64,
    /// Inventory entries refused (inventory full).
    pub inventory_dropped: u64,
    /// Enforcements a relay reported ([`Pipeline::record_enforcement`]).
    pub enforcements: u64,
    /// Alerts stamped with one of them.
    pub enforcements_matched: u64,
    /// The gate's own counters (duplicates, rate limited).
    pub gate: GateCounters,
    /// Previously-unseen state.
    pub first_seen: FirstSeenCounters,
    /// Beaconing.
    pub beacon: BeaconCounters,
    /// Post-install.
    pub install: InstallCounters,
    /// NXDOMAIN bursts.
    pub nxdomain: NxdomainCounters,
    /// DGA infection verdicts.
    pub infection: InfectionCounters,
    /// Tunnelling.
    pub tunnel: TunnelCounters,
    /// Baselines.
    pub baseline: BaselineCounters,
    /// Shared infrastructure.
    pub shared_infra: SharedInfraCounters,
}

/// Memory held by the pipeline's tables against their caps, in bytes
/// (estimated from entry counts and entry sizes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PipelineMemory {
    /// Previously-unseen hashes now.
    pub first_seen: usize,
    /// … at their cap.
    pub first_seen_cap: usize,
    /// Beacon series now.
    pub beacon: usize,
    /// … at their cap.
    pub beacon_cap: usize,
    /// Baselines now.
    pub baseline: usize,
    /// … at their cap.
    pub baseline_cap: usize,
    /// Shared-infrastructure table now.
    pub shared_infra: usize,
    /// … at its cap.
    pub shared_infra_cap: usize,
    /// Flow attributions, blocked names and queued alerts now.
    pub bookkeeping: usize,
    /// … at their caps.
    pub bookkeeping_cap: usize,
}

impl PipelineMemory {
    /// Sum of everything now.
    pub fn total(&self) -> usize {
        self.first_seen + self.beacon + self.baseline + self.shared_infra + self.bookkeeping
    }

    /// Sum of the caps.
    pub fn total_cap(&self) -> usize {
        self.first_seen_cap
            + self.beacon_cap
            + self.baseline_cap
            + self.shared_infra_cap
            + self.bookkeeping_cap
    }
}

/// Rough size of one queued alert (signals, strings) for the memory estimate.
const ALERT_BYTES: usize = 1024;
/// Rough size of one blocked name.
const BLOCKED_NAME_BYTES: usize = 96;
/// Recent enforcements kept to stamp the alerts they belong to. A relay
/// reports one per blocked query or flow, just before the engine's event for
/// it, so a short list suffices.
const MAX_ENFORCEMENTS: usize = 64;
/// Rough size of one remembered enforcement.
const ENFORCEMENT_BYTES: usize = 128;
/// How long an enforcement can wait for its alert, µs. A blocked TCP flow's
/// record completes after the engine's closed-flow timeout.
const ENFORCEMENT_WINDOW_US: u64 = 300 * 1_000_000;

/// One thing a relay did, waiting to be matched to its alert.
#[derive(Debug, Clone)]
struct EnforcementNote {
    at_us: u64,
    what: Enforcement,
    app: Option<u32>,
    name: Option<String>,
    ip: Option<IpAddr>,
}

/// How a contact was made, for the IOC signal's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Dns,
    Sni,
    HttpHost,
}

impl Via {
    fn name(self) -> &'static str {
        match self {
            Via::Dns => "dns_query",
            Via::Sni => "tls_sni",
            Via::HttpHost => "http_host",
        }
    }
}

/// The app behind an event: the key detectors use and the id alerts show.
#[derive(Debug, Clone)]
struct AppRef {
    uid: Option<u32>,
    key: String,
    label: Option<String>,
    epoch_us: Option<u64>,
}

/// Engine events in, explained alerts out. See the module docs.
#[derive(Debug)]
pub struct Pipeline {
    config: PipelineConfig,
    dga: DgaModel,
    intel: Option<Arc<Index>>,
    inventory: HashMap<u32, InventoryApp>,
    first_seen: FirstSeen,
    /// Built at the first flow, so a learning period relative to the first
    /// event can be turned into the tracker's absolute learning end.
    beacon: Option<BeaconTracker>,
    install: PostInstallDetector,
    nxdomain: NxdomainTracker,
    infection: InfectionTracker,
    tunnel: TunnelDetector,
    baselines: Baselines,
    shared: SharedInfra,
    gate: AlertGate,
    queue: VecDeque<Alert>,
    next_id: u64,
    flow_apps: HashMap<u64, u32>,
    flow_order: VecDeque<u64>,
    blocked: HashSet<String>,
    blocked_order: VecDeque<String>,
    enforcements: VecDeque<EnforcementNote>,
    counters: PipelineCounters,
}

impl Pipeline {
    /// A pipeline with the shipped DGA model.
    pub fn new(config: PipelineConfig) -> Result<Self, PipelineError> {
        Ok(Self::with_model(config, DgaModel::builtin()?))
    }

    /// A pipeline with a given DGA model.
    pub fn with_model(config: PipelineConfig, dga: DgaModel) -> Self {
        Self {
            dga,
            intel: None,
            inventory: HashMap::new(),
            first_seen: FirstSeen::new(config.first_seen),
            beacon: None,
            install: PostInstallDetector::new(config.install),
            nxdomain: NxdomainTracker::new(config.nxdomain),
            infection: InfectionTracker::new(config.infection),
            tunnel: TunnelDetector::new(config.tunnel),
            baselines: Baselines::new(config.baseline),
            shared: SharedInfra::new(config.shared_infra),
            gate: AlertGate::new(config.gate),
            queue: VecDeque::new(),
            next_id: 1,
            flow_apps: HashMap::new(),
            flow_order: VecDeque::new(),
            blocked: HashSet::new(),
            blocked_order: VecDeque::new(),
            enforcements: VecDeque::new(),
            counters: PipelineCounters::default(),
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// Uses `index` for IOC lookups from now on (`None` turns intel off). The
    /// index is shared, not copied.
    pub fn set_intel(&mut self, index: Option<Arc<Index>>) {
        self.intel = index;
    }

    /// Replaces the app inventory. Changed install/update times start a new
    /// post-install window; apps no longer listed are forgotten.
    pub fn set_inventory(&mut self, apps: &[InventoryApp]) {
        let keep: HashSet<&str> = apps.iter().map(|a| a.id.as_str()).collect();
        for old in self.inventory.values() {
            if !keep.contains(old.id.as_str()) {
                self.install.remove_app(&old.id);
            }
        }
        self.inventory.clear();
        for a in apps {
            if self.inventory.len() >= self.config.max_inventory.max(1) {
                self.counters.inventory_dropped += 1;
                continue;
            }
            self.install.upsert_app(AppInfo {
                id: a.id.clone(),
                name: a.name.clone(),
                installed_us: a.installed_us,
                updated_us: a.updated_us,
            });
            self.inventory.insert(a.uid, a.clone());
        }
    }

    /// Tells the pipeline which app owns a flow, as the edge tells the engine
    /// (`Engine::attribute`). DNS transactions carry only their flow id, so
    /// this is how a lookup is tied to its app.
    pub fn attribute(&mut self, flow_id: u64, uid: u32) {
        if self.flow_apps.insert(flow_id, uid).is_none() {
            self.flow_order.push_back(flow_id);
            while self.flow_apps.len() > self.config.max_flow_apps.max(1) {
                let Some(old) = self.flow_order.pop_front() else {
                    break;
                };
                if self.flow_apps.remove(&old).is_some() {
                    self.counters.flow_apps_evicted += 1;
                }
            }
        }
    }

    /// One engine event. `now_us` stamps the alerts it raises and drives the
    /// gate; detectors use the times inside the records.
    pub fn on_event(&mut self, now_us: u64, event: &Event) {
        match event {
            Event::FlowCompleted(r) => self.on_flow(now_us, r),
            Event::Dns(tx) => self.on_dns(now_us, tx),
            Event::Hello(h) => self.on_hello(now_us, h),
            Event::Http(r) => self.on_http(now_us, r),
            // Kinds added to the engine later carry nothing the detectors read.
            _ => self.counters.events += 1,
        }
    }

    /// The next alert that passed the gate, oldest first.
    pub fn next_alert(&mut self) -> Option<Alert> {
        self.queue.pop_front()
    }

    /// Alerts waiting.
    pub fn pending_alerts(&self) -> usize {
        self.queue.len()
    }

    /// Counters of everything seen, raised and shed.
    pub fn counters(&self) -> PipelineCounters {
        PipelineCounters {
            gate: self.gate.counters(),
            first_seen: self.first_seen.counters(),
            beacon: self
                .beacon
                .as_ref()
                .map(BeaconTracker::counters)
                .unwrap_or_default(),
            install: self.install.counters(),
            nxdomain: self.nxdomain.counters(),
            infection: self.infection.counters(),
            tunnel: self.tunnel.counters(),
            baseline: self.baselines.counters(),
            shared_infra: self.shared.counters(),
            ..self.counters
        }
    }

    /// Memory held against the caps.
    pub fn memory(&self) -> PipelineMemory {
        // FirstSeen: a hash in the set (8 + ~1 control byte, load ⅞) and in
        // the queue (8).
        const SEEN: usize = 18;
        let beacon_entry = 96 + self.config.beacon.ring * 16;
        PipelineMemory {
            first_seen: self.first_seen.len() * SEEN,
            first_seen_cap: self.config.first_seen.max_entries * SEEN,
            beacon: self.beacon.as_ref().map_or(0, BeaconTracker::len) * beacon_entry,
            beacon_cap: self.config.beacon.max_keys * beacon_entry,
            baseline: self.baselines.memory(),
            baseline_cap: self.baselines.memory_cap(),
            shared_infra: self.shared.memory(),
            shared_infra_cap: self.shared.memory_cap(),
            bookkeeping: self.flow_apps.len() * 32
                + self.infection.memory().0
                + self.blocked.len() * BLOCKED_NAME_BYTES
                + self.queue.len() * ALERT_BYTES
                + self.enforcements.len() * ENFORCEMENT_BYTES,
            bookkeeping_cap: self.config.max_flow_apps * 32
                + self.infection.memory().1
                + self.config.max_blocked_names * BLOCKED_NAME_BYTES
                + self.config.max_queued_alerts * ALERT_BYTES
                + MAX_ENFORCEMENTS * ENFORCEMENT_BYTES,
        }
    }

    /// The state worth keeping across restarts (previously-seen domains and
    /// the learning-period start), for the store edge to persist.
    pub fn save_state(&self) -> Vec<u8> {
        self.first_seen.to_bytes()
    }

    /// Restores [`Pipeline::save_state`] output. On error the current state
    /// is kept.
    pub fn load_state(&mut self, bytes: &[u8]) -> Result<(), PipelineError> {
        self.first_seen = FirstSeen::from_bytes(self.config.first_seen, bytes)?;
        Ok(())
    }

    /// What a relay's DNS policy hook should do with `name` looked up by
    /// `app`: [`Action::Block`] means sinkhole it. Cheap: one intel lookup and
    /// one set probe, no allocation for a clean name.
    pub fn name_action(&self, now_us: u64, app: Option<u32>, name: &str) -> Action {
        let _ = app;
        let Some(n) = domain::normalize(name) else {
            return Action::Record;
        };
        if self.blocked.contains(n.as_ref())
            || domain::registrable(&n).is_some_and(|r| r != n.as_ref() && self.blocked.contains(r))
        {
            return Action::Block;
        }
        match self
            .intel
            .as_deref()
            .map(|i| i.lookup_domain_ref(&n, now_us))
        {
            Some(v) if v.is_blocked() => match v.to_verdict() {
                Verdict::Blocked(m) => self.config.policy.action(intel_severity(&m.provenance).0),
                _ => Action::Record,
            },
            _ => Action::Record,
        }
    }

    /// What a relay's flow policy hook should do with a new flow to `ip`:
    /// [`Action::Block`] means refuse it. The address's own intel verdict
    /// through the same severity policy alerts get.
    pub fn address_action(&self, now_us: u64, app: Option<u32>, ip: IpAddr) -> Action {
        let _ = app;
        match self.intel.as_deref().map(|i| i.lookup_ip_ref(ip, now_us)) {
            Some(v) if v.is_blocked() => match v.to_verdict() {
                Verdict::Blocked(m) => self.config.policy.action(intel_severity(&m.provenance).0),
                _ => Action::Record,
            },
            _ => Action::Record,
        }
    }

    /// Tells the pipeline what a relay did to a query for `name` or a flow to
    /// `ip` (usually because [`name_action`](Self::name_action) or
    /// [`address_action`](Self::address_action) said block). The next alert
    /// about that name (or a parent it lists) or address, for the same app,
    /// carries it as [`Alert::enforcement`], so the record says not only
    /// that the policy asked for a block but how the device was refused.
    /// Call it before feeding the engine events of the same poll: the relay
    /// decides on the request, the engine reports on the answer. Bounded:
    /// the oldest of more than 64 unmatched notes is forgotten.
    pub fn record_enforcement(
        &mut self,
        now_us: u64,
        what: Enforcement,
        app: Option<u32>,
        name: Option<&str>,
        ip: Option<IpAddr>,
    ) {
        self.counters.enforcements += 1;
        let name = name.and_then(domain::normalize).map(|n| n.into_owned());
        if self.enforcements.len() >= MAX_ENFORCEMENTS {
            self.enforcements.pop_front();
        }
        self.enforcements.push_back(EnforcementNote {
            at_us: now_us,
            what,
            app,
            name,
            ip,
        });
    }

    /// The newest unexpired enforcement `alert` is about, taken off the list.
    fn take_enforcement(&mut self, now_us: u64, alert: &Alert) -> Option<Enforcement> {
        let cutoff = now_us.saturating_sub(ENFORCEMENT_WINDOW_US);
        while self.enforcements.front().is_some_and(|n| n.at_us < cutoff) {
            self.enforcements.pop_front();
        }
        let about = |n: &EnforcementNote| {
            let same_app = n.app.is_none() || alert.app_uid.is_none() || n.app == alert.app_uid;
            let by_name = match (&n.name, &alert.domain) {
                (Some(name), Some(d)) => domain::is_within(name, d),
                _ => false,
            };
            let by_ip = n.ip.is_some_and(|ip| alert.ips.contains(&ip));
            same_app && (by_name || by_ip)
        };
        let at = self.enforcements.iter().rposition(about)?;
        let note = self.enforcements.remove(at)?;
        self.counters.enforcements_matched += 1;
        Some(note.what)
    }

    fn app_ref(&self, uid: Option<u32>) -> AppRef {
        match uid {
            Some(u) => match self.inventory.get(&u) {
                Some(a) => AppRef {
                    uid: Some(u),
                    key: a.id.clone(),
                    label: Some(a.id.clone()),
                    epoch_us: Some(a.installed_us.max(a.updated_us)),
                },
                None => AppRef {
                    uid: Some(u),
                    key: format!("uid:{u}"),
                    label: Some(format!("uid:{u}")),
                    epoch_us: None,
                },
            },
            None => AppRef {
                uid: None,
                key: String::new(),
                label: None,
                epoch_us: None,
            },
        }
    }

    /// A completed flow.
    pub fn on_flow(&mut self, now_us: u64, r: &FlowRecord) {
        self.counters.events += 1;
        let uid = r
            .app
            .map(|a| a.0)
            .or_else(|| self.flow_apps.get(&r.id.0).copied());
        let app = self.app_ref(uid);
        let resp = r.resp.ip();
        let port = r.resp.port();
        if app.label.is_some()
            && let Some(d) = self.baselines.observe_protocol(
                r.first_us,
                &app.key,
                app.epoch_us,
                Protocol::new(r.protocol, port),
            )
        {
            let mut a = self.alert(now_us, Detector::BaselineDeviation, d.score, &app);
            a.signals = d.signals;
            a.domain = r.name.as_deref().map(str::to_owned);
            a.ips = vec![resp];
            a.flow_ids = vec![r.id.0];
            self.raise(now_us, a);
        }
        // Intel on the responder: AN1700 via address.
        if let Some(m) = self.lookup_ip(resp, now_us) {
            let domain = r.name.as_deref().map(str::to_owned);
            self.ioc_alert(
                now_us,
                &app,
                domain,
                vec![resp],
                Some(r.id.0),
                "ioc_ip",
                &resp.to_string(),
                m,
            );
        }
        // DNS itself is not a beacon: an app that beacons looks its name up each
        // time, and the resolver would look like its destination.
        let dns_port = matches!(port, 53 | 853 | 5353);
        // A CDN edge serves many sites: regular fetches through it are content, not a
        // callback to one operator's infrastructure.
        if dns_port
            || !matches!(r.protocol, 6 | 17)
            || r.orig_pkts == 0
            || self.shared.is_shared(resp)
        {
            return;
        }
        let named = r
            .name
            .as_deref()
            .and_then(domain::normalize)
            .map(|n| domain::registrable(&n).unwrap_or(&n).to_owned());
        let dest = match &named {
            Some(d) => d.clone(),
            None if self.shared.is_shared(resp) => return,
            None => resp.to_string(),
        };
        if named.is_some() && self.intel_allowed(&dest, now_us) {
            return;
        }
        let key = BeaconKey {
            app: app.key.clone(),
            dest,
        };
        let bytes = r.orig_ip_bytes.saturating_add(r.resp_ip_bytes);
        let config = &self.config;
        let tracker = self.beacon.get_or_insert_with(|| {
            let mut c = config.beacon.clone();
            if c.learning_until_us == 0 {
                c.learning_until_us = r
                    .first_us
                    .saturating_add(config.first_seen.learning_period_us);
            }
            // What is learnt must cover everything that would be reported.
            c.baseline_score = c.baseline_score.min(config.beacon_report_score);
            BeaconTracker::new(c, config.beacon_allowlist.clone())
        });
        let Some(s) = tracker.observe(r.first_us, &key, bytes) else {
            return;
        };
        if s.score < self.config.beacon_report_score {
            return;
        }
        let mut a = self.alert(now_us, Detector::Beacon, s.score, &app);
        // The period in words leads: it is the finding, the subscores its evidence.
        a.signals = Vec::with_capacity(s.signals.len() + 1);
        a.signals.push(Signal {
            name: "period_s",
            value: s
                .period
                .map_or(s.median_interval_us as f64, |p| p.period_us) as f32
                / 1e6,
            weight: 0.0,
            detail: Cow::Owned(s.explanation()),
        });
        a.signals.extend(s.signals);
        a.domain = named;
        a.ips = vec![resp];
        a.flow_ids = vec![r.id.0];
        self.raise(now_us, a);
    }

    /// A DNS transaction.
    pub fn on_dns(&mut self, now_us: u64, tx: &DnsTransaction) {
        self.counters.events += 1;
        let Some(q) = tx.query.as_deref().and_then(domain::normalize) else {
            return;
        };
        let q = q.into_owned();
        let uid = self.flow_apps.get(&tx.flow_ref).copied();
        let app = self.app_ref(uid);
        let t = tx.ts_us;
        if let Some(s) = self.tunnel.observe_query(t, &q, tx.qtype) {
            let mut a = self.alert(now_us, Detector::DnsTunnel, s.score, &app);
            a.signals = s.signals;
            a.domain = Some(s.registrable);
            a.flow_ids = vec![tx.flow_ref];
            self.raise(now_us, a);
        }
        let ips: Vec<IpAddr> = tx.answers.iter().filter_map(|s| s.parse().ok()).collect();
        let answered = tx.answered && tx.rcode == Some(0) && !ips.is_empty();
        if tx.rcode == Some(NXDOMAIN)
            && let Some(b) = self.nxdomain.observe(t, &app.key, &q)
        {
            let mut a = self.alert(now_us, Detector::NxdomainBurst, b.score, &app);
            a.signals = b.signals;
            a.domain = Some(q.clone());
            a.flow_ids = vec![tx.flow_ref];
            self.raise(now_us, a);
        }
        self.infection_check(now_us, &app, &q, tx);
        if !answered {
            // Asking for a listed name is AN1700 evidence even when no answer
            // came (a relay that sinkholed it, or a server already taken down).
            if let Some(m) = self.lookup_domain(&q, now_us) {
                let mut a =
                    self.ioc_match_alert(now_us, &app, m, "ioc_domain", "unanswered dns_query", &q);
                a.domain = Some(q.clone());
                a.flow_ids = vec![tx.flow_ref];
                self.raise(now_us, a);
                return;
            }
            // A name nobody could reach is no contact, but a generated one
            // still says the app is hunting for its server.
            if tx.qtype.is_none_or(|t| matches!(t, 1 | 28 | 65)) {
                self.dga_check(now_us, &app, &q, &[], Some(tx.flow_ref), None);
            }
            return;
        }
        let reg = domain::registrable(&q).unwrap_or(&q).to_owned();
        for ip in &ips {
            self.shared.observe(*ip, &reg);
        }
        // AN1700 via the answer: an address or CNAME target the feeds list.
        let mut answer_hit = false;
        for ans in &tx.answers {
            let hit = match ans.parse::<IpAddr>() {
                Ok(ip) => self.lookup_ip(ip, now_us),
                Err(_) => match domain::normalize(ans) {
                    Some(n) if n.as_ref() != q && !n.contains(' ') => {
                        let n = n.into_owned();
                        self.lookup_domain(&n, now_us)
                    }
                    _ => None,
                },
            };
            if let Some(m) = hit {
                answer_hit = true;
                self.ioc_alert(
                    now_us,
                    &app,
                    Some(q.clone()),
                    ips.clone(),
                    Some(tx.flow_ref),
                    "ioc_dns_answer",
                    ans,
                    m,
                );
            }
        }
        self.contact(
            now_us,
            &app,
            &q,
            ips,
            Some(tx.flow_ref),
            Via::Dns,
            answer_hit,
        );
    }

    /// A TLS or QUIC ClientHello.
    pub fn on_hello(&mut self, now_us: u64, h: &HelloRecord) {
        let sni = h.server_name.as_deref();
        self.on_named(now_us, h.app, h.flow.0, h.resp.ip(), sni, Via::Sni);
    }

    /// An HTTP request head.
    pub fn on_http(&mut self, now_us: u64, r: &HttpRecord) {
        let host = r.host.as_deref();
        self.on_named(now_us, r.app, r.flow.0, r.resp.ip(), host, Via::HttpHost);
    }

    /// A flow whose own bytes named its server (SNI or Host): intel on the server's
    /// address, then the contact. A name that is an address literal names nothing.
    fn on_named(
        &mut self,
        now_us: u64,
        app: Option<nightjar_engine::AppId>,
        flow: u64,
        resp: IpAddr,
        name: Option<&str>,
        via: Via,
    ) {
        self.counters.events += 1;
        let uid = app
            .map(|a| a.0)
            .or_else(|| self.flow_apps.get(&flow).copied());
        let app = self.app_ref(uid);
        let name = name
            .and_then(domain::normalize)
            .map(|n| n.into_owned())
            .filter(|n| n.parse::<IpAddr>().is_err());
        let hit = self.lookup_ip(resp, now_us);
        let ip_reported = hit.is_some();
        if let Some(m) = hit {
            self.ioc_alert(
                now_us,
                &app,
                name.clone(),
                vec![resp],
                Some(flow),
                "ioc_ip",
                &resp.to_string(),
                m,
            );
        }
        if let Some(n) = name {
            self.contact(now_us, &app, &n, vec![resp], Some(flow), via, ip_reported);
        }
    }

    /// An app reached `name` (normalised).
    #[allow(clippy::too_many_arguments)]
    fn contact(
        &mut self,
        now_us: u64,
        app: &AppRef,
        name: &str,
        ips: Vec<IpAddr>,
        flow: Option<u64>,
        via: Via,
        ioc_reported: bool,
    ) {
        self.counters.contacts += 1;
        let novelty = self.first_seen.observe(now_us, &app.key, name);
        let stage = self.baselines.stage(now_us, &app.key, app.epoch_us);
        let new_for_app = novelty.new_name_app;
        // The model runs once per (app, name): later contacts add nothing.
        let dga_p = if new_for_app {
            self.dga.answered_probability(name)
        } else {
            0.0
        };
        if let Some(m) = self.lookup_domain(name, now_us) {
            let mut a = self.ioc_match_alert(now_us, app, m, "ioc_domain", via.name(), name);
            a.domain = Some(name.to_owned());
            a.ips = ips;
            a.flow_ids = flow.into_iter().collect();
            push_context(&mut a.signals, novelty, dga_p);
            self.raise(now_us, a);
            return;
        }
        if ioc_reported || self.intel_allowed(name, now_us) {
            return;
        }
        if new_for_app && dga_p >= self.dga.threshold() {
            self.dga_check(now_us, app, name, &ips, flow, Some(dga_p));
        }
        let shared = ips.iter().filter(|ip| self.shared.is_shared(**ip)).count();
        // A new name on a CDN front end is how most new apps fetch their
        // content: it does not make a post-install contact suspicious.
        let unseen = novelty.new_registrable_device && !novelty.learning && shared == 0;
        if let Some(p) = self.install.observe(
            now_us,
            &app.key,
            name,
            ContactContext {
                unseen,
                low_reputation: false,
                dga_probability: dga_p,
            },
        ) {
            let mut a = self.alert(now_us, Detector::PostInstall, p.score, app);
            a.signals = p.signals;
            a.signals.push(Signal {
                name: if p.after_update {
                    "seconds_after_update"
                } else {
                    "seconds_after_install"
                },
                value: p.seconds_after as f32,
                weight: 0.0,
                detail: Cow::Borrowed("time from the install/update to this contact"),
            });
            a.domain = Some(name.to_owned());
            a.ips = ips;
            a.flow_ids = flow.into_iter().collect();
            self.raise(now_us, a);
            return;
        }
        if !novelty.is_reportable() || !novelty.new_registrable_device {
            return;
        }
        let known = stage == Stage::Known;
        let first_run = stage == Stage::FirstRun;
        let b = |x: bool| f32::from(u8::from(x));
        let mut parts: Vec<(&'static str, f32, f32, Cow<'static, str>)> = vec![
            (
                "new_registrable_device",
                1.0,
                0.35,
                Cow::Borrowed("no app on this device contacted this registrable domain before"),
            ),
            (
                "new_name_device",
                b(novelty.new_name_device),
                0.05 * b(novelty.new_name_device),
                Cow::Borrowed("no app used this exact name before"),
            ),
            (
                "app_baseline_known",
                b(known),
                0.15 * b(known),
                Cow::Borrowed("the app's baseline is established, and this domain is not in it"),
            ),
            (
                "dga_probability",
                dga_p,
                0.3 * dga_p,
                Cow::Borrowed("DGA model probability of the owner label"),
            ),
        ];
        if shared > 0 {
            parts.push((
                "shared_infrastructure",
                shared as f32,
                -0.2,
                Cow::Borrowed("its addresses serve many registrable domains (CDN/cloud front end)"),
            ));
        }
        let mut score: f32 = parts.iter().map(|p| p.2).sum();
        if first_run {
            parts.push((
                "app_first_run",
                1.0,
                -score * 0.5,
                Cow::Borrowed("the app is in its first run, when new domains are expected"),
            ));
            score *= 0.5;
        }
        let score = score.clamp(0.0, 1.0);
        if score < self.config.first_seen_report_score {
            return;
        }
        let mut a = self.alert(now_us, Detector::FirstSeen, score, app);
        a.signals = parts.into_iter().map(Signal::from).collect();
        a.domain = Some(name.to_owned());
        a.ips = ips;
        a.flow_ids = flow.into_iter().collect();
        self.raise(now_us, a);
    }

    /// Feeds the per-app DGA infection window
    /// ([`InfectionTracker::observe_dns`]).
    fn infection_check(&mut self, now_us: u64, app: &AppRef, q: &str, tx: &DnsTransaction) {
        if app.label.is_none() {
            return;
        }
        let nxdomain = tx.rcode == Some(NXDOMAIN);
        let resolved = tx.answered && tx.rcode == Some(0) && !tx.answers.is_empty();
        let Some(v) = self
            .infection
            .observe_dns(&self.dga, tx.ts_us, &app.key, q, nxdomain, resolved)
        else {
            return;
        };
        let mut a = self.alert(now_us, Detector::DgaInfection, v.score, app);
        a.signals = v.signals;
        a.domain = v.strongest.first().cloned();
        a.flow_ids = vec![tx.flow_ref];
        self.raise(now_us, a);
    }

    fn dga_check(
        &mut self,
        now_us: u64,
        app: &AppRef,
        name: &str,
        ips: &[IpAddr],
        flow: Option<u64>,
        probability: Option<f32>,
    ) {
        // An answered name is scored on its registrant's label (private
        // suffixes looked through), a failed lookup on its generated label
        // (see `dga::candidate_labels`).
        let answered = probability.is_some();
        let p = probability.unwrap_or_else(|| self.dga.probability(name));
        if p < self.dga.threshold() || self.intel_allowed(name, now_us) {
            return;
        }
        let s = if answered {
            self.dga.score_answered(name)
        } else {
            self.dga.score(name)
        };
        let mut a = self.alert(now_us, Detector::Dga, s.probability, app);
        // One name is a hint; "this app is running a DGA" is the infection
        // verdict's to say (`infection_check`).
        a.severity = a.severity.min(Severity::Low);
        a.signals = s.signals;
        a.domain = Some(name.to_owned());
        a.ips = ips.to_vec();
        a.flow_ids = flow.into_iter().collect();
        self.raise(now_us, a);
    }

    fn lookup_domain(&mut self, name: &str, now_us: u64) -> Option<nightjar_intel::Match> {
        let index = self.intel.as_deref()?;
        self.counters.intel_lookups += 1;
        let v = index.lookup_domain_ref(name, now_us);
        if !v.is_blocked() {
            return None;
        }
        match v.to_verdict() {
            Verdict::Blocked(m) => Some(m),
            _ => None,
        }
    }

    fn lookup_ip(&mut self, ip: IpAddr, now_us: u64) -> Option<nightjar_intel::Match> {
        let index = self.intel.as_deref()?;
        self.counters.intel_lookups += 1;
        let v = index.lookup_ip_ref(ip, now_us);
        if !v.is_blocked() {
            return None;
        }
        match v.to_verdict() {
            Verdict::Blocked(m) => Some(m),
            _ => None,
        }
    }

    fn intel_allowed(&self, name: &str, now_us: u64) -> bool {
        self.intel
            .as_deref()
            .is_some_and(|i| i.lookup_domain_ref(name, now_us).is_allowed())
    }

    fn ioc_match_alert(
        &self,
        now_us: u64,
        app: &AppRef,
        m: nightjar_intel::Match,
        signal: &'static str,
        via: &str,
        value: &str,
    ) -> Alert {
        let (severity, score) = intel_severity(&m.provenance);
        let p = m.provenance;
        let indicator = m.indicator.to_string();
        let mut a = self.alert(now_us, Detector::Ioc, score, app);
        a.severity = severity;
        a.signals = vec![Signal {
            name: signal,
            value: score_of(p.severity),
            weight: score,
            detail: Cow::Owned(format!(
                "{value} ({via}) matches {indicator} listed by feed {} as {} (indicator {})",
                p.feed, p.severity, p.indicator_id
            )),
        }];
        a.provenance = Some(Provenance {
            source: p.feed,
            version: p.feed_version.unwrap_or_default(),
            indicator_id: Some(p.indicator_id),
            indicator: Some(indicator),
            category: p.category.or(p.name),
            family: p.family,
            severity: Some(p.severity.to_string()),
        });
        a
    }

    #[allow(clippy::too_many_arguments)]
    fn ioc_alert(
        &mut self,
        now_us: u64,
        app: &AppRef,
        domain: Option<String>,
        ips: Vec<IpAddr>,
        flow: Option<u64>,
        signal: &'static str,
        value: &str,
        m: nightjar_intel::Match,
    ) {
        let via = if signal == "ioc_ip" {
            "server address"
        } else {
            "DNS answer"
        };
        let mut a = self.ioc_match_alert(now_us, app, m, signal, via, value);
        a.domain = domain;
        a.ips = ips;
        a.flow_ids = flow.into_iter().collect();
        self.raise(now_us, a);
    }

    fn alert(&self, now_us: u64, detector: Detector, score: f32, app: &AppRef) -> Alert {
        let score = if score.is_finite() {
            score.clamp(0.0, 1.0)
        } else {
            0.0
        };
        Alert {
            id: 0,
            ts_us: now_us,
            severity: Severity::from_score(score),
            score,
            signals: Vec::new(),
            attack: detector.attack(),
            app: app.label.clone(),
            app_uid: app.uid,
            domain: None,
            ips: Vec::new(),
            flow_ids: Vec::new(),
            detector,
            provenance: None,
            action: Action::Record,
            enforcement: None,
        }
    }

    fn raise(&mut self, now_us: u64, mut alert: Alert) {
        self.counters.raised += 1;
        alert.action = self.config.policy.action(alert.severity);
        if self.gate.check(now_us, &alert) != GateVerdict::Pass {
            return;
        }
        if !self.enforcements.is_empty() {
            alert.enforcement = self.take_enforcement(now_us, &alert);
        }
        if alert.action == Action::Block
            && let Some(d) = &alert.domain
            && !self.blocked.contains(d.as_str())
        {
            self.blocked.insert(d.clone());
            self.blocked_order.push_back(d.clone());
            while self.blocked.len() > self.config.max_blocked_names.max(1) {
                let Some(old) = self.blocked_order.pop_front() else {
                    break;
                };
                if self.blocked.remove(&old) {
                    self.counters.blocked_names_evicted += 1;
                }
            }
        }
        if self.queue.len() >= self.config.max_queued_alerts.max(1) {
            self.counters.queue_shed += 1;
            return;
        }
        alert.id = self.next_id;
        self.next_id += 1;
        self.counters.queued += 1;
        self.queue.push_back(alert);
    }
}

/// Context the behavioural detectors would have added, kept on an IOC alert
/// with zero weight so it still explains the whole picture.
fn push_context(signals: &mut Vec<Signal>, novelty: Novelty, dga_p: f32) {
    signals.push(Signal {
        name: "unseen_domain",
        value: f32::from(u8::from(
            novelty.new_registrable_device && !novelty.learning,
        )),
        weight: 0.0,
        detail: Cow::Borrowed("no app on this device contacted this registrable domain before"),
    });
    signals.push(Signal {
        name: "dga_probability",
        value: dga_p,
        weight: 0.0,
        detail: Cow::Borrowed("DGA model probability of the owner label"),
    });
}

/// The feed's severity as a number (info 0 … critical 4), for the signal value.
fn score_of(s: nightjar_intel::Severity) -> f32 {
    use nightjar_intel::Severity as S;
    match s {
        S::Info => 0.0,
        S::Low => 1.0,
        S::Medium => 2.0,
        S::High => 3.0,
        _ => 4.0,
    }
}

/// The alert severity and score for an indicator's feed severity.
fn intel_severity(p: &nightjar_intel::Provenance) -> (Severity, f32) {
    use nightjar_intel::Severity as S;
    match p.severity {
        S::Critical => (Severity::High, 1.0),
        S::High => (Severity::High, 0.95),
        S::Medium => (Severity::Medium, 0.8),
        S::Low => (Severity::Low, 0.6),
        _ => (Severity::Info, 0.3),
    }
}
