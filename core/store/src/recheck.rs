//! Retroactive matching: when new intel arrives, walk the stored history and
//! raise alerts for what was already seen.
//!
//! The walk is paged (keyset over the time index), so memory is bounded by
//! one page plus the grouped hits, and the hits themselves are capped.
//! Hits are grouped per (indicator, app): one alert lists the flows concerned.
//! Each raised alert carries a match key (`detector|indicator|app`, the v4
//! `alerts.match_key` column), so re-checking the same history again, or
//! against a re-published feed, finds the alert instead of raising it twice.
//!
//! [`Store::recheck_intel`] is the matcher over a compiled
//! [`nightjar_intel::Index`]: the flow's name first (a domain indicator is
//! the more specific evidence), then its responder address; DNS queries by
//! name, then by each answer address. Allowlist entries win, as they do live.
//! Indicators are judged valid as of the re-check time (`now_us`), as a live
//! lookup at that moment would be.

use std::collections::BTreeMap;
use std::net::IpAddr;

use nightjar_intel::{Index, Verdict};
use rusqlite::params;

use crate::codec::insert_alert;
use crate::error::Result;
use crate::rows::{AlertAction, AlertRow, AlertState, MatchInfo, Severity, Signal};
use crate::schema::blob_to_ip;
use crate::store::{Store, TimeWindow};

/// Rows read per page during the walk.
const PAGE: i64 = 1_000;

/// Caps for one re-check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecheckLimits {
    /// Alerts (distinct indicator/app groups) raised at most.
    pub max_alerts: usize,
    /// Flow uids listed per alert.
    pub max_uids_per_alert: usize,
    /// Addresses listed per alert.
    pub max_ips_per_alert: usize,
}

impl Default for RecheckLimits {
    fn default() -> Self {
        Self {
            max_alerts: 10_000,
            max_uids_per_alert: 64,
            max_ips_per_alert: 16,
        }
    }
}

/// Result of [`Store::recheck_with`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecheckOutcome {
    /// Alerts inserted (with their ids).
    pub alerts: Vec<AlertRow>,
    /// Flows examined.
    pub flows_checked: u64,
    /// DNS rows examined.
    pub dns_checked: u64,
    /// Hits that matched but found no room (alert cap reached).
    pub hits_shed: u64,
    /// Groups already raised by an earlier re-check, not inserted again.
    pub duplicates: u64,
}

/// How far a re-check has got: rows examined of the rows in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecheckProgress {
    /// Flows and DNS rows examined so far.
    pub done: u64,
    /// Flows and DNS rows in the window.
    pub total: u64,
}

/// Detector name of alerts raised by [`Store::recheck_intel`].
pub const INTEL_DETECTOR: &str = "intel";

/// The matcher: `(domain, address)`; the domain is empty for an unnamed
/// flow, the address is `None` for a name-only check.
pub type Matcher<'a> = &'a dyn Fn(&str, Option<IpAddr>) -> Option<MatchInfo>;

struct Group {
    info: MatchInfo,
    alert: AlertRow,
    hits: u64,
}

struct Collector {
    groups: BTreeMap<(String, Option<u32>), Group>,
    limits: RecheckLimits,
    shed: u64,
}

impl Collector {
    fn hit(
        &mut self,
        info: MatchInfo,
        ts_us: u64,
        app_uid: Option<u32>,
        domain: &str,
        ip: Option<IpAddr>,
        uid: Option<String>,
    ) {
        let key = (info.indicator.clone(), app_uid);
        if !self.groups.contains_key(&key) && self.groups.len() >= self.limits.max_alerts {
            self.shed += 1;
            return;
        }
        let g = self.groups.entry(key).or_insert_with(|| Group {
            alert: AlertRow {
                id: 0,
                ts_us,
                severity: info.severity,
                score: info.score,
                state: AlertState::New,
                app_uid,
                domain: (!domain.is_empty()).then(|| domain.to_ascii_lowercase()),
                ips: Vec::new(),
                flow_uids: Vec::new(),
                detector: info.detector.clone(),
                attack: info.attack.clone(),
                signals: Vec::new(),
                provenance: info.provenance.clone(),
                retroactive: true,
                action: info.action,
                enforcement: None,
            },
            info,
            hits: 0,
        });
        g.hits += 1;
        g.alert.ts_us = g.alert.ts_us.min(ts_us);
        if let Some(ip) = ip
            && !g.alert.ips.contains(&ip)
            && g.alert.ips.len() < self.limits.max_ips_per_alert
        {
            g.alert.ips.push(ip);
        }
        if let Some(uid) = uid
            && !g.alert.flow_uids.contains(&uid)
            && g.alert.flow_uids.len() < self.limits.max_uids_per_alert
        {
            g.alert.flow_uids.push(uid);
        }
    }
}

impl Store {
    /// Re-checks flows and DNS that started in `window` with `matcher`,
    /// inserts one alert per (indicator, app) marked `retroactive`, and
    /// returns them. Default caps ([`RecheckLimits::default`]).
    pub fn recheck(&self, window: TimeWindow, matcher: Matcher<'_>) -> Result<Vec<AlertRow>> {
        Ok(self
            .recheck_with(window, matcher, RecheckLimits::default())?
            .alerts)
    }

    /// [`Store::recheck`] with explicit caps and the walk's counters.
    pub fn recheck_with(
        &self,
        window: TimeWindow,
        matcher: Matcher<'_>,
        limits: RecheckLimits,
    ) -> Result<RecheckOutcome> {
        self.recheck_progress(window, matcher, limits, &mut |_| {})
    }

    /// Re-checks flows and DNS that started in `window` against a compiled
    /// intel index (see the module docs for the order of checks), raising
    /// one `retroactive` alert per (indicator, app) with the indicator's
    /// provenance. `progress` is called after every page of rows.
    pub fn recheck_intel(
        &self,
        index: &Index,
        window: TimeWindow,
        now_us: u64,
        limits: RecheckLimits,
        progress: &mut dyn FnMut(RecheckProgress),
    ) -> Result<RecheckOutcome> {
        let matcher = |domain: &str, ip: Option<IpAddr>| intel_match(index, now_us, domain, ip);
        self.recheck_progress(window, &matcher, limits, progress)
    }

    /// Flows plus DNS rows that started in `window` (the re-check's total).
    pub fn count_in_window(&self, window: TimeWindow) -> Result<u64> {
        let (since, until) = window.bounds();
        let n: u64 = self.conn.query_row(
            "SELECT (SELECT count(*) FROM flows WHERE first_us >= ?1 AND first_us < ?2) + \
             (SELECT count(*) FROM dns WHERE ts_us >= ?1 AND ts_us < ?2)",
            params![since, until],
            |r| r.get(0),
        )?;
        Ok(n)
    }

    /// [`Store::recheck_with`] reporting progress after every page.
    pub fn recheck_progress(
        &self,
        window: TimeWindow,
        matcher: Matcher<'_>,
        limits: RecheckLimits,
        progress: &mut dyn FnMut(RecheckProgress),
    ) -> Result<RecheckOutcome> {
        let (since, until) = window.bounds();
        let mut out = RecheckOutcome::default();
        let mut prog = RecheckProgress {
            done: 0,
            total: self.count_in_window(window)?,
        };
        progress(prog);
        let mut col = Collector {
            groups: BTreeMap::new(),
            limits,
            shed: 0,
        };

        let mut st = self.conn.prepare_cached(
            "SELECT id, first_us, uid, app_uid, name, resp_h FROM flows \
             WHERE first_us >= ?1 AND first_us < ?2 AND (first_us, id) > (?3, ?4) \
             ORDER BY first_us, id LIMIT ?5",
        )?;
        let mut key = (since - 1, i64::MIN);
        loop {
            type FlowHit = (i64, u64, String, Option<u32>, Option<String>, Vec<u8>);
            let page = st
                .query_map(params![since, until, key.0, key.1, PAGE], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<FlowHit>>>()?;
            let Some(last) = page.last() else { break };
            key = (i64::try_from(last.1).unwrap_or(i64::MAX), last.0);
            progress(prog);
            prog.done += u64::try_from(page.len()).unwrap_or(0);
            for (_, ts, uid, app, name, resp) in page {
                out.flows_checked += 1;
                let ip = blob_to_ip(&resp);
                let domain = name.unwrap_or_default();
                if let Some(info) = matcher(&domain, ip) {
                    col.hit(info, ts, app, &domain, ip, Some(uid));
                }
            }
        }

        let mut st = self.conn.prepare_cached(
            "SELECT seq, ts_us, flow_uid, app_uid, query, answers FROM dns \
             WHERE ts_us >= ?1 AND ts_us < ?2 AND (ts_us, seq) > (?3, ?4) \
             ORDER BY ts_us, seq LIMIT ?5",
        )?;
        let mut key = (since - 1, i64::MIN);
        loop {
            type DnsHit = (i64, u64, Option<String>, Option<u32>, String, String);
            let page = st
                .query_map(params![since, until, key.0, key.1, PAGE], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<DnsHit>>>()?;
            let Some(last) = page.last() else { break };
            key = (i64::try_from(last.1).unwrap_or(i64::MAX), last.0);
            progress(prog);
            prog.done += u64::try_from(page.len()).unwrap_or(0);
            for (_, ts, flow_uid, app, query, answers) in page {
                out.dns_checked += 1;
                if let Some(info) = matcher(&query, None) {
                    col.hit(info, ts, app, &query, None, flow_uid);
                    continue;
                }
                // A name unknown to intel can still resolve to a listed address.
                let answers: Vec<String> = serde_json::from_str(&answers).unwrap_or_default();
                for ip in answers.iter().filter_map(|a| a.parse::<IpAddr>().ok()) {
                    if let Some(info) = matcher(&query, Some(ip)) {
                        col.hit(info, ts, app, &query, Some(ip), flow_uid.clone());
                        break;
                    }
                }
            }
        }

        out.hits_shed = col.shed;
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        {
            let mut dup = tx.prepare_cached("SELECT count(*) FROM alerts WHERE match_key = ?1")?;
            let mut mark = tx.prepare_cached("UPDATE alerts SET match_key = ?1 WHERE id = ?2")?;
            for ((indicator, app), mut g) in col.groups {
                let key = match_key(&g.alert.detector, &indicator, app);
                let exists: i64 = dup.query_row(params![key], |r| r.get(0))?;
                if exists > 0 {
                    out.duplicates += 1;
                    continue;
                }
                #[allow(clippy::cast_precision_loss)]
                g.alert.signals.push(Signal {
                    name: format!("retroactive:{}", g.info.indicator),
                    value: g.hits as f64,
                    weight: 1.0,
                });
                g.alert.id = insert_alert(&tx, &g.alert)?;
                mark.execute(params![key, g.alert.id])?;
                out.alerts.push(g.alert);
            }
        }
        tx.commit()?;
        progress(prog);
        Ok(out)
    }
}

fn match_key(detector: &str, indicator: &str, app: Option<u32>) -> String {
    match app {
        Some(a) => format!("{detector}|{indicator}|{a}"),
        None => format!("{detector}|{indicator}|-"),
    }
}

fn severity_of(s: nightjar_intel::Severity) -> Severity {
    use nightjar_intel::Severity as S;
    match s {
        S::Critical => Severity::Critical,
        S::High => Severity::High,
        S::Medium => Severity::Medium,
        _ => Severity::Low,
    }
}

/// A block verdict as a hit; clean and allowed answers are none.
fn blocked(v: Verdict) -> Option<MatchInfo> {
    let Verdict::Blocked(m) = v else { return None };
    let p = &m.provenance;
    let severity = severity_of(p.severity);
    let score = match severity {
        Severity::Critical => 1.0,
        Severity::High => 0.9,
        Severity::Medium => 0.7,
        Severity::Low => 0.4,
    };
    Some(MatchInfo {
        indicator: m.indicator.to_string(),
        severity,
        score,
        detector: INTEL_DETECTOR.to_string(),
        // DC0113 Network Communication, AN1700 communication with malicious domains.
        attack: vec!["DC0113".into(), "AN1700".into()],
        provenance: serde_json::json!({
            "feed": p.feed,
            "feed_version": p.feed_version,
            "indicator": m.indicator.to_string(),
            "indicator_id": p.indicator_id,
            "name": p.name,
            "category": p.category,
            "family": p.family,
            "severity": p.severity.to_string(),
            "kind": format!("{:?}", p.kind),
            "valid_from_us": p.valid_from_us,
            "valid_until_us": p.valid_until_us,
        }),
        action: AlertAction::Alert,
    })
}

/// The intel matcher: the name (when there is one) decides if it is listed
/// or allowed; otherwise the address.
fn intel_match(index: &Index, now_us: u64, domain: &str, ip: Option<IpAddr>) -> Option<MatchInfo> {
    if !domain.is_empty() {
        match index.lookup_domain(domain, now_us) {
            Verdict::Clean => {}
            v => return blocked(v),
        }
    }
    ip.and_then(|ip| blocked(index.lookup_ip(ip, now_us)))
}
