//! Retroactive matching: when new intel arrives, walk the stored history and
//! raise alerts for what was already seen.
//!
//! The walk is paged (keyset over the time index), so memory is bounded by
//! one page plus the grouped hits, and the hits themselves are capped.
//! Hits are grouped per (indicator, app): one alert lists the flows concerned.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rusqlite::params;

use crate::codec::insert_alert;
use crate::error::Result;
use crate::rows::{AlertRow, AlertState, MatchInfo, Signal};
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
        let (since, until) = window.bounds();
        let mut out = RecheckOutcome::default();
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
            let mut dup = tx.prepare_cached(
                "SELECT count(*) FROM alerts WHERE retroactive = 1 AND detector = ?1 \
                 AND coalesce(domain, '') = ?2 AND coalesce(app_uid, -1) = ?3 AND ts_us = ?4",
            )?;
            for (_, mut g) in col.groups {
                let exists: i64 = dup.query_row(
                    params![
                        g.alert.detector,
                        g.alert.domain.clone().unwrap_or_default(),
                        g.alert.app_uid.map_or(-1, i64::from),
                        g.alert.ts_us
                    ],
                    |r| r.get(0),
                )?;
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
                out.alerts.push(g.alert);
            }
        }
        tx.commit()?;
        Ok(out)
    }
}
