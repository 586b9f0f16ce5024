//! Communication right after an app install or update: a freshly installed or
//! updated app that immediately contacts domains it never used before is how
//! droppers and trojanised updates fetch their payloads.
//!
//! The caller passes the app inventory (from the OS) and, per contact, what the
//! other detectors already know about the domain (unseen? low reputation?
//! DGA-like?); this module adds the timing and the "first contact since the
//! install/update" bookkeeping. Bounded: `max_apps` inventory entries and
//! `max_contacts_per_app` remembered registrable domains per app.

use std::borrow::Cow;

use hashbrown::{HashMap, HashSet};

use crate::alert::Signal;
use crate::dga::fnv1a;
use crate::domain;

/// One installed app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppInfo {
    /// Bundle id / package name.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Install time, µs since the epoch.
    pub installed_us: u64,
    /// Last update time, µs since the epoch (equal to install if never updated).
    pub updated_us: u64,
}

/// Tuning and limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InstallConfig {
    /// Contacts within this long after install/update are considered, µs.
    pub window_us: u64,
    /// Most apps in the inventory.
    pub max_apps: usize,
    /// Registrable domains remembered per app within its window.
    pub max_contacts_per_app: usize,
    /// Score at or above which a contact is reported.
    pub report_score: f32,
}

impl Default for InstallConfig {
    fn default() -> Self {
        Self {
            window_us: 600_000_000,
            max_apps: 2048,
            max_contacts_per_app: 256,
            report_score: 0.5,
        }
    }
}

/// What other detectors know about the contacted domain.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ContactContext {
    /// Never seen on this device before ([`crate::first_seen`]).
    pub unseen: bool,
    /// Low reputation (intel lists, young domain, …).
    pub low_reputation: bool,
    /// DGA probability ([`crate::dga`]), 0 when unknown.
    pub dga_probability: f32,
}

/// Counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InstallCounters {
    /// Inventory entries rejected (inventory full).
    pub apps_dropped: u64,
    /// Contacts not remembered (per-app set full).
    pub contacts_dropped: u64,
    /// Reports made.
    pub reports: u64,
}

/// A post-install contact verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct PostInstallScore {
    /// In `[0, 1]`.
    pub score: f32,
    /// Seconds since the install or update.
    pub seconds_after: u64,
    /// Whether the reference event was an update (else an install).
    pub after_update: bool,
    /// Why.
    pub signals: Vec<Signal>,
}

#[derive(Debug)]
struct AppState {
    info: AppInfo,
    /// Registrable domains contacted since the last install/update event.
    contacted: HashSet<u64>,
    epoch_us: u64,
}

/// Flags first contacts shortly after an install or update.
#[derive(Debug)]
pub struct PostInstallDetector {
    config: InstallConfig,
    apps: HashMap<String, AppState>,
    counters: InstallCounters,
}

impl PostInstallDetector {
    /// An empty detector.
    pub fn new(config: InstallConfig) -> Self {
        Self {
            config,
            apps: HashMap::new(),
            counters: InstallCounters::default(),
        }
    }

    /// Counters.
    pub fn counters(&self) -> InstallCounters {
        self.counters
    }

    /// Adds or refreshes an app. A changed install/update time starts a new
    /// window with an empty first-contact set.
    pub fn upsert_app(&mut self, info: AppInfo) {
        let epoch = info.installed_us.max(info.updated_us);
        if let Some(state) = self.apps.get_mut(&info.id) {
            if state.epoch_us != epoch {
                state.contacted.clear();
                state.epoch_us = epoch;
            }
            state.info = info;
            return;
        }
        if self.apps.len() >= self.config.max_apps.max(1) {
            self.counters.apps_dropped += 1;
            return;
        }
        self.apps.insert(
            info.id.clone(),
            AppState {
                info,
                contacted: HashSet::new(),
                epoch_us: epoch,
            },
        );
    }

    /// Removes an uninstalled app.
    pub fn remove_app(&mut self, id: &str) {
        self.apps.remove(id);
    }

    /// Records a contact from `app` to `name` and scores it when it is the
    /// app's first contact with that registrable domain inside the window.
    pub fn observe(
        &mut self,
        now_us: u64,
        app: &str,
        name: &str,
        ctx: ContactContext,
    ) -> Option<PostInstallScore> {
        let cfg = self.config;
        let state = self.apps.get_mut(app)?;
        let since = now_us.checked_sub(state.epoch_us)?;
        if since > cfg.window_us {
            // Outside the window the set is useless: free it.
            if !state.contacted.is_empty() {
                state.contacted = HashSet::new();
            }
            return None;
        }
        let n = domain::normalize(name)?;
        let reg = domain::registrable(&n).unwrap_or(&n);
        let h = fnv1a(reg.as_bytes());
        if state.contacted.contains(&h) {
            return None;
        }
        if state.contacted.len() >= cfg.max_contacts_per_app {
            self.counters.contacts_dropped += 1;
        } else {
            state.contacted.insert(h);
        }
        let after_update = state.info.updated_us > state.info.installed_us;
        // Earlier is more suspicious: 1 right after the event, 0.5 at the end.
        let recency = 1.0 - 0.5 * (since as f32 / cfg.window_us.max(1) as f32);
        let parts = [
            ("first_contact_after_install", 1.0, 0.3 * recency),
            (
                "unseen_domain",
                f32::from(u8::from(ctx.unseen)),
                0.3 * f32::from(u8::from(ctx.unseen)),
            ),
            (
                "low_reputation",
                f32::from(u8::from(ctx.low_reputation)),
                0.25 * f32::from(u8::from(ctx.low_reputation)),
            ),
            (
                "dga_probability",
                ctx.dga_probability,
                0.25 * ctx.dga_probability.clamp(0.0, 1.0),
            ),
        ];
        let score: f32 = parts.iter().map(|p| p.2).sum::<f32>().min(1.0);
        if score < cfg.report_score {
            return None;
        }
        self.counters.reports += 1;
        let details = [
            "first contact with this registrable domain since the install/update; weight decays over the window",
            "no app on the device contacted this domain before",
            "domain has low reputation",
            "DGA model probability",
        ];
        Some(PostInstallScore {
            score,
            seconds_after: since / 1_000_000,
            after_update,
            signals: parts
                .iter()
                .zip(details)
                .map(|((name, value, weight), detail)| Signal {
                    name,
                    value: *value,
                    weight: *weight,
                    detail: Cow::Borrowed(detail),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;

    fn app(id: &str, installed: u64, updated: u64) -> AppInfo {
        AppInfo {
            id: id.into(),
            name: id.to_uppercase(),
            installed_us: installed,
            updated_us: updated,
        }
    }

    #[test]
    fn weights_context_and_reports_first_contact_only() {
        let mut d = PostInstallDetector::new(InstallConfig::default());
        d.upsert_app(app("flashlight", 1000 * S, 1000 * S));
        let known = ContactContext::default();
        // A known, reputable domain right after install: not enough alone.
        assert!(
            d.observe(1001 * S, "flashlight", "cdn.vendor.example", known)
                .is_none()
        );
        let bad = ContactContext {
            unseen: true,
            low_reputation: false,
            dga_probability: 0.99,
        };
        let r = d
            .observe(1010 * S, "flashlight", "payload.qxkzvbt.example", bad)
            .unwrap();
        assert!(r.score > 0.75, "{r:?}");
        assert_eq!(r.seconds_after, 10);
        assert!(!r.after_update);
        assert_eq!(r.signals.len(), 4);
        // Second contact with the same registrable domain: not a first contact.
        assert!(
            d.observe(1011 * S, "flashlight", "x.qxkzvbt.example", bad)
                .is_none()
        );
        // Outside the window nothing is reported.
        assert!(
            d.observe(2000 * S, "flashlight", "new.example", bad)
                .is_none()
        );
        // Unknown app: nothing.
        assert!(d.observe(1010 * S, "other", "new.example", bad).is_none());
    }

    #[test]
    fn update_starts_a_new_window() {
        let mut d = PostInstallDetector::new(InstallConfig::default());
        d.upsert_app(app("a", 0, 0));
        let ctx = ContactContext {
            unseen: true,
            low_reputation: true,
            dga_probability: 0.0,
        };
        assert!(d.observe(S, "a", "z.example", ctx).is_some());
        d.upsert_app(app("a", 0, 5000 * S));
        let r = d.observe(5001 * S, "a", "z.example", ctx).unwrap();
        assert!(r.after_update);
        d.remove_app("a");
        assert!(d.observe(5002 * S, "a", "y.example", ctx).is_none());
    }

    #[test]
    fn bounded() {
        let cfg = InstallConfig {
            max_apps: 2,
            max_contacts_per_app: 3,
            ..InstallConfig::default()
        };
        let mut d = PostInstallDetector::new(cfg);
        for i in 0..5 {
            d.upsert_app(app(&format!("a{i}"), 0, 0));
        }
        assert_eq!(d.counters().apps_dropped, 3);
        let ctx = ContactContext {
            unseen: true,
            low_reputation: true,
            dga_probability: 1.0,
        };
        for i in 0..10 {
            d.observe(S, "a0", &format!("d{i}.example"), ctx);
        }
        assert_eq!(d.counters().contacts_dropped, 7);
        assert!(d.apps.get("a0").unwrap().contacted.len() <= 3);
    }
}
