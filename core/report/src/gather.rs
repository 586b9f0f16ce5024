//! Reads what the page shows from the store, within [`Limits`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use nightjar_store::{
    ActivityBin, AlertRow, AppRow, DigestLimits, DomainActivity, FirstContact, FlowRow, Severity,
    Store, TimeWindow,
};

use crate::chart::{self, Scale};
use crate::page::{
    AfterInstall, AlertView, AppView, Bar, Count, DomainView, FlowLink, FlowView, Page, Reason,
};
use crate::{ReportError, csp, when, words};

/// How much of each list the page carries. The defaults keep a page from a
/// database of any size under a few megabytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Alerts shown in full.
    pub alerts: usize,
    /// Alerts marked on the timeline.
    pub timeline_alerts: usize,
    /// Rows of the flow table.
    pub flows: usize,
    /// Of those, at most this many are alerted flows.
    pub alerted_flows: usize,
    /// Top domains per app.
    pub domains_per_app: usize,
    /// Apps (timeline rows and app sections).
    pub apps: usize,
    /// Domains listed for the hour after an install.
    pub after_install: usize,
    /// First contacts marked on the timeline, all apps together.
    pub first_contacts: usize,
    /// Time bins per timeline row.
    pub bins: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            alerts: 200,
            timeline_alerts: 1_000,
            flows: 500,
            alerted_flows: 250,
            domains_per_app: 10,
            apps: 200,
            after_install: 25,
            first_contacts: 2_000,
            bins: 240,
        }
    }
}

/// What to report on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportOptions {
    /// Start of the period (µs since the epoch); default: the first flow.
    pub since_us: Option<u64>,
    /// End of the period, exclusive; default: just after the last flow.
    pub until_us: Option<u64>,
    /// Only this app (uid).
    pub app: Option<u32>,
    /// Page title; default "Nightjar report".
    pub title: Option<String>,
    /// List sizes.
    pub limits: Limits,
}

/// Longest name shown; longer ones are cut (a name is at most 253 bytes in
/// DNS, but SNI and Host are whatever the sender wrote).
const MAX_TEXT: usize = 256;
const HOUR_US: u64 = 3_600_000_000;

pub(crate) fn cut(s: &str) -> String {
    if s.chars().count() <= MAX_TEXT {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(MAX_TEXT).collect();
        t.push('…');
        t
    }
}

fn opt(s: Option<&str>) -> String {
    s.map_or_else(|| "—".to_owned(), cut)
}

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        _ => "low",
    }
}

/// App labels: the inventory's, then names seen on flows.
struct AppNames {
    inventory: HashMap<u32, AppRow>,
    seen: HashMap<u32, String>,
}

impl AppNames {
    fn label(&self, uid: Option<u32>) -> String {
        let Some(uid) = uid else {
            return "(no app)".to_owned();
        };
        if let Some(a) = self.inventory.get(&uid) {
            return cut(a.label.as_deref().unwrap_or(&a.package));
        }
        match self.seen.get(&uid) {
            Some(n) => cut(n),
            None => format!("app {uid}"),
        }
    }
}

pub fn gather(store: &Store, o: &ReportOptions) -> Result<Page, ReportError> {
    let lim = o.limits;
    let asked = TimeWindow::new(
        o.since_us.unwrap_or(0),
        o.until_us.unwrap_or(i64::MAX as u64),
    );
    if asked.since_us >= asked.until_us {
        return Err(ReportError::EmptyPeriod {
            since_us: asked.since_us,
            until_us: asked.until_us,
        });
    }
    let span = store.flow_span(asked)?;
    let all_alerts = store.alerts_by_severity(asked, o.app, lim.timeline_alerts)?;
    // The period drawn: what was asked for, else what the data covers.
    let alert_lo = all_alerts.iter().map(|a| a.ts_us).min();
    let alert_hi = all_alerts.iter().map(|a| a.ts_us).max();
    let lo = [span.map(|s| s.0), alert_lo].into_iter().flatten().min();
    let hi = [span.map(|s| s.1), alert_hi].into_iter().flatten().max();
    let start = o.since_us.or(lo).unwrap_or(0);
    let end = o
        .until_us
        .or(hi.map(|h| h.saturating_add(1)))
        .unwrap_or(start.saturating_add(1))
        .max(start.saturating_add(1));
    let window = TimeWindow::new(start, end);
    let scale = Scale::new(start, end);

    // One read of the window's flows for the totals, the naming counts, the
    // activity, the top domains and the largest flows.
    let digest = store.flow_digest(
        window,
        o.app,
        DigestLimits {
            bins: lim.bins,
            domains_per_app: lim.domains_per_app,
            largest: lim.flows,
            ..DigestLimits::default()
        },
    )?;
    let summary = store.summary_from(window, digest.totals)?;
    let coverage = store.coverage_from(window, digest.naming)?;
    let inventory: HashMap<u32, AppRow> = store.apps()?.into_iter().map(|a| (a.uid, a)).collect();

    // Flows: the alerted ones first, then the largest.
    let shown: Vec<&AlertRow> = all_alerts.iter().take(lim.alerts).collect();
    let mut alerted_uids: Vec<String> = Vec::new();
    let mut seen_uid = BTreeSet::new();
    for a in &shown {
        for u in &a.flow_uids {
            if alerted_uids.len() < lim.alerted_flows && seen_uid.insert(u.clone()) {
                alerted_uids.push(u.clone());
            }
        }
    }
    let mut alerted = store.flows_by_uid(&alerted_uids)?;
    alerted.retain(|f| o.app.is_none() || f.app_uid == o.app);
    alerted.sort_by_key(|f| std::cmp::Reverse(f.orig_ip_bytes + f.resp_ip_bytes));
    let alerted_set: BTreeSet<String> = alerted.iter().map(|f| f.uid.clone()).collect();
    let largest = digest.largest;
    let mut table: Vec<(bool, FlowRow)> = alerted.into_iter().map(|f| (true, f)).collect();
    for f in largest {
        if table.len() >= lim.flows {
            break;
        }
        if !alerted_set.contains(&f.uid) {
            table.push((false, f));
        }
    }
    let in_table: BTreeSet<&str> = table.iter().map(|(_, f)| f.uid.as_str()).collect();

    let mut seen_names = HashMap::new();
    for (_, f) in &table {
        if let (Some(u), Some(n)) = (f.app_uid, &f.app_name) {
            seen_names.entry(u).or_insert_with(|| n.clone());
        }
    }
    let names = AppNames {
        inventory,
        seen: seen_names,
    };

    let activity: Vec<ActivityBin> = digest.activity;
    let firsts: Vec<FirstContact> = store.first_contacts(window, o.app, lim.first_contacts)?;
    let domains: Vec<DomainActivity> = digest.top_domains;

    // Timeline rows: every app with flows or alerts in the period.
    let mut keys: BTreeSet<Option<u32>> = activity.iter().map(|b| b.app_uid).collect();
    keys.extend(all_alerts.iter().map(|a| a.app_uid));
    if let Some(a) = o.app {
        keys.retain(|k| *k == Some(a));
    }
    let mut keys: Vec<Option<u32>> = keys.into_iter().collect();
    keys.sort_by_key(|k| (k.is_none(), names.label(*k).to_lowercase(), *k));
    keys.truncate(lim.apps);
    let shown_ids: BTreeSet<u64> = shown.iter().map(|a| a.id).collect();
    let timeline = chart::timeline(
        &scale,
        lim.bins,
        &keys,
        |k| names.label(k),
        &activity,
        &firsts,
        &all_alerts,
        &shown_ids,
        &names.inventory,
    );

    let attack = words::attack_names();
    let alerts = shown
        .iter()
        .map(|a| alert_view(a, &names, &attack, &in_table))
        .collect();
    let alerts_total = if o.app.is_some() {
        all_alerts.len() as u64
    } else {
        summary.alerts.max(all_alerts.len() as u64)
    };

    let mut by_app: BTreeMap<Option<u32>, Vec<&DomainActivity>> = BTreeMap::new();
    for d in &domains {
        by_app.entry(d.app_uid).or_default().push(d);
    }
    let mut apps = Vec::new();
    for k in &keys {
        apps.push(app_view(store, *k, &names, by_app.get(k), lim)?);
    }

    let flows: Vec<FlowView> = table
        .iter()
        .map(|(alerted, f)| flow_view(f, *alerted, &names))
        .collect();
    let flows_note = format!(
        "{} flows: the alerted flows first ({}), then the largest by bytes. The period has {} flows in all; \
         `nightjar query flows` and `nightjar export` give every row.",
        flows.len(),
        alerted_set.len(),
        summary.flows
    );

    let sev = |s: &str| summary.alerts_by_severity.get(s).copied().unwrap_or(0);
    let counts = vec![
        count("apps", summary.apps.to_string()),
        count("flows", summary.flows.to_string()),
        count("DNS transactions", summary.dns.to_string()),
        count("domains", summary.domains.to_string()),
        count("sent", when::bytes(summary.bytes_out)),
        count("received", when::bytes(summary.bytes_in)),
        count("alerts", summary.alerts.to_string()),
    ];
    let severities = ["critical", "high", "medium", "low"]
        .into_iter()
        .map(|s| Count {
            label: s.to_owned(),
            value: sev(s).to_string(),
            class: match s {
                "critical" => "sev-critical",
                "high" => "sev-high",
                "medium" => "sev-medium",
                _ => "sev-low",
            },
        })
        .collect();

    let mut cov = vec![
        bar("attributed to an app", coverage.attributed_share, "cov"),
        bar("named", coverage.named_share, "cov"),
    ];
    for (source, n) in &coverage.named_by {
        let share = if coverage.flows == 0 {
            0.0
        } else {
            *n as f64 / coverage.flows as f64
        };
        cov.push(bar(&format!("named by {}", cut(source)), share, "cov-src"));
    }
    cov.push(bar(
        "DNS-named (name seen in a DNS answer)",
        coverage.dns_named_share,
        "cov-dns",
    ));
    let dns_note = if coverage.dns_visible {
        format!("{} DNS transactions seen by the tunnel.", coverage.dns_rows)
    } else {
        "No DNS seen: names come from SNI and HTTP Host only.".to_owned()
    };

    let app_filter = o.app.map(|a| format!("{} (uid {a})", names.label(Some(a))));
    Ok(Page {
        csp: csp::policy(crate::page::STYLE, crate::page::SCRIPT),
        style: crate::page::STYLE,
        script: crate::page::SCRIPT,
        title: cut(o.title.as_deref().unwrap_or("Nightjar report")),
        period: format!("{} – {}", when::datetime(start), when::datetime(end)),
        period_length: when::span(end - start),
        app_filter,
        counts,
        severities,
        coverage: cov,
        dns_note,
        blind_spots: coverage
            .blind_spots
            .iter()
            .map(|b| cut(&b.to_string()))
            .collect(),
        alerts_left_out: alerts_total.saturating_sub(shown.len() as u64),
        alerts,
        timeline,
        apps,
        flows,
        flows_note,
    })
}

fn count(label: &str, value: String) -> Count {
    Count {
        label: label.to_owned(),
        value,
        class: "",
    }
}

fn bar(label: &str, share: f64, class: &'static str) -> Bar {
    let share = if share.is_finite() {
        share.clamp(0.0, 1.0)
    } else {
        0.0
    };
    Bar {
        label: label.to_owned(),
        value: format!("{:.1}%", share * 100.0),
        width: (share * 200.0).round() as u32,
        class,
    }
}

fn number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

fn alert_view(
    a: &AlertRow,
    names: &AppNames,
    attack: &BTreeMap<&str, &str>,
    in_table: &BTreeSet<&str>,
) -> AlertView {
    let mut signals: Vec<&nightjar_store::Signal> = a.signals.iter().collect();
    signals.sort_by(|x, y| y.weight.abs().total_cmp(&x.weight.abs()));
    let top = signals
        .first()
        .map(|s| s.weight.abs())
        .filter(|w| *w > 0.0 && w.is_finite());
    let reasons = signals
        .iter()
        .map(|s| Reason {
            name: cut(&s.name),
            words: cut(words::signal(&s.name)),
            value: number(s.value),
            contribution: if s.weight == 0.0 {
                "context".to_owned()
            } else {
                format!("{:+.3}", s.weight)
            },
            width: top.map_or(0, |t| ((s.weight.abs() / t) * 100.0).round() as u32),
            negative: s.weight < 0.0,
        })
        .collect();
    let target = match (&a.domain, a.ips.is_empty()) {
        (Some(d), _) => cut(d),
        (None, false) => cut(&a
            .ips
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")),
        (None, true) => "—".to_owned(),
    };
    AlertView {
        anchor: format!("alert-{}", a.id),
        severity: severity_name(a.severity),
        score: format!("{:.2}", a.score),
        detector: cut(&a.detector),
        detector_words: cut(words::detector(&a.detector)),
        app: names.label(a.app_uid),
        target,
        time: when::datetime(a.ts_us),
        state: format!("{:?}", a.state).to_lowercase(),
        action: format!("{:?}", a.action).to_lowercase(),
        enforcement: a.enforcement.as_deref().map(|e| cut(words::enforcement(e))),
        retroactive: a.retroactive,
        reasons,
        provenance: provenance(&a.provenance),
        attack: a
            .attack
            .iter()
            .take(20)
            .map(|id| {
                (
                    cut(id),
                    attack.get(id.as_str()).map_or("", |n| n).to_owned(),
                )
            })
            .collect(),
        flows: a
            .flow_uids
            .iter()
            .take(50)
            .map(|u| FlowLink {
                anchor: format!("flow-{}", cut(u)),
                label: cut(u),
                in_table: in_table.contains(u.as_str()),
            })
            .collect(),
    }
}

/// Provenance as `key: value` lines, nested objects flattened (`a.b`).
fn provenance(v: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        if out.len() >= 30 {
            return;
        }
        match v {
            serde_json::Value::Null => {}
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            serde_json::Value::String(s) => out.push((cut(prefix), cut(s))),
            other => out.push((cut(prefix), cut(&other.to_string()))),
        }
    }
    let mut out = Vec::new();
    walk("", v, &mut out);
    out
}

fn app_view(
    store: &Store,
    key: Option<u32>,
    names: &AppNames,
    domains: Option<&Vec<&DomainActivity>>,
    lim: Limits,
) -> Result<AppView, ReportError> {
    let inv = key.and_then(|k| names.inventory.get(&k));
    let mut after_install = Vec::new();
    let after_install_note = match (key, inv.and_then(|a| a.installed_us)) {
        (None, _) => "Flows without an app have no install time.".to_owned(),
        (Some(_), None) => "Install time unknown.".to_owned(),
        (Some(uid), Some(t)) => {
            let hour = TimeWindow::new(t, t.saturating_add(HOUR_US));
            for d in store.domains_first_seen(uid, hour, lim.after_install)? {
                after_install.push(AfterInstall {
                    after: when::span(d.first_us.saturating_sub(t)),
                    domain: cut(&d.domain),
                    count: d.count,
                });
            }
            if after_install.is_empty() {
                format!(
                    "No domain first contacted in the hour after install ({}).",
                    when::datetime(t)
                )
            } else {
                format!(
                    "Domains first contacted in the hour after install ({}), earliest first:",
                    when::datetime(t)
                )
            }
        }
    };
    Ok(AppView {
        anchor: match key {
            Some(k) => format!("app-{k}"),
            None => "app-none".to_owned(),
        },
        label: names.label(key),
        package: opt(inv.map(|a| a.package.as_str())),
        uid: key.map_or_else(|| "—".to_owned(), |k| k.to_string()),
        installed: inv
            .and_then(|a| a.installed_us)
            .map_or_else(|| "—".to_owned(), when::datetime),
        updated: inv
            .and_then(|a| a.updated_us)
            .map_or_else(|| "—".to_owned(), when::datetime),
        domains: domains
            .map(|ds| {
                ds.iter()
                    .map(|d| DomainView {
                        domain: cut(&d.domain),
                        first: when::datetime(d.first_us),
                        last: when::datetime(d.last_us),
                        flows: d.flows,
                        bytes: when::bytes(d.bytes),
                        protos: d
                            .protos
                            .iter()
                            .map(|p| words::proto(*p))
                            .collect::<Vec<_>>()
                            .join(", "),
                        sources: cut(&d.sources.join(", ")),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        after_install,
        after_install_note,
    })
}

fn flow_view(f: &FlowRow, alerted: bool, names: &AppNames) -> FlowView {
    FlowView {
        anchor: format!("flow-{}", cut(&f.uid)),
        alerted,
        time: when::datetime(f.first_us),
        app: names.label(f.app_uid),
        proto: words::proto(f.proto),
        dst: match f.resp_h {
            std::net::IpAddr::V6(a) => format!("[{a}]:{}", f.resp_p),
            a => format!("{a}:{}", f.resp_p),
        },
        name: opt(f.name.as_deref()),
        source: opt(f.name_source.as_deref()),
        sni: opt(f.sni.as_deref()),
        http_host: opt(f.http_host.as_deref()),
        bytes_out: when::bytes(f.orig_ip_bytes),
        bytes_in: when::bytes(f.resp_ip_bytes),
        duration: when::span(f.last_us.saturating_sub(f.first_us)),
        state: cut(&f.conn_state),
    }
}
