//! Coverage: how much of the device's traffic the record actually explains,
//! and where it is blind. An investigator reads this before trusting an
//! absence ("the app never contacted X") in the data.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use rusqlite::params_from_iter;
use rusqlite::types::Value;
use serde::Serialize;

use crate::digest::NamingCounts;
use crate::error::Result;
use crate::schema::{blob_to_ip, ip_to_blob};
use crate::store::{Store, TimeWindow};

/// Public DNS-over-HTTPS/TLS resolver addresses (Google, Cloudflare, Quad9).
/// Traffic to them on 443 is most likely DoH, which hides names from the
/// tunnel's resolver; the list is short on purpose and only drives a hint.
pub const DOH_RESOLVER_IPS: &[&str] = &[
    "8.8.8.8",
    "8.8.4.4",
    "2001:4860:4860::8888",
    "1.1.1.1",
    "1.0.0.1",
    "2606:4700:4700::1111",
    "9.9.9.9",
    "149.112.112.112",
];

/// Public DoH endpoint names.
pub const DOH_RESOLVER_NAMES: &[&str] = &[
    "dns.google",
    "cloudflare-dns.com",
    "mozilla.cloudflare-dns.com",
    "dns.quad9.net",
    "doh.opendns.com",
];

/// Port of DNS over TLS (RFC 7858) and DNS over QUIC (RFC 9250); Android's
/// Private DNS shows up here.
pub const DOT_PORT: u16 = 853;

/// Encrypted DNS that bypassed the tunnel's resolver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsBypass {
    /// `dot` (port 853) or `doh` (443 to a known resolver).
    pub kind: String,
    /// Resolver address.
    pub resolver: IpAddr,
    /// Resolver name, if the flow was named.
    pub name: Option<String>,
    /// Destination port.
    pub port: u16,
    /// Flows.
    pub flows: u64,
    /// Apps that did it.
    pub app_uids: Vec<u32>,
}

/// A named gap in what the store saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BlindSpot {
    /// No flows at all in the window.
    NoTraffic,
    /// Flows but no DNS rows: names come only from SNI/HTTP Host.
    NoDns,
    /// Part of the flows has no app.
    Unattributed {
        /// Share of flows without an app, in percent.
        percent: f64,
    },
    /// Part of the flows has no name.
    Unnamed {
        /// Share of flows without a name, in percent.
        percent: f64,
    },
    /// Encrypted DNS went around the tunnel's resolver.
    EncryptedDns {
        /// `dot` or `doh`.
        via: String,
        /// Resolver.
        resolver: IpAddr,
        /// Flows.
        flows: u64,
    },
    /// The oldest retained row is younger than the window start.
    RetentionShorterThanWindow {
        /// Oldest retained time.
        retained_since_us: u64,
        /// Requested window start.
        window_since_us: u64,
    },
}

impl fmt::Display for BlindSpot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlindSpot::NoTraffic => write!(f, "no flows recorded in the window"),
            BlindSpot::NoDns => write!(f, "no DNS seen: names come only from SNI/HTTP Host"),
            BlindSpot::Unattributed { percent } => {
                write!(f, "{percent:.1}% of flows unattributed to an app")
            }
            BlindSpot::Unnamed { percent } => write!(f, "{percent:.1}% of flows have no name"),
            BlindSpot::EncryptedDns {
                via,
                resolver,
                flows,
            } => {
                let what = if via == "dot" { "DoT" } else { "DoH" };
                write!(
                    f,
                    "{what} to {resolver} bypasses the tunnel resolver ({flows} flows)"
                )
            }
            BlindSpot::RetentionShorterThanWindow {
                retained_since_us,
                window_since_us,
            } => write!(
                f,
                "retention shorter than window: oldest row at {retained_since_us} µs, \
                 window starts at {window_since_us} µs"
            ),
        }
    }
}

/// Coverage over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageReport {
    /// The window.
    pub window: TimeWindow,
    /// Flows that started in the window.
    pub flows: u64,
    /// Flows with an app.
    pub attributed: u64,
    /// `attributed / flows` (0 when no flows).
    pub attributed_share: f64,
    /// Flows with a name.
    pub named: u64,
    /// `named / flows`.
    pub named_share: f64,
    /// Named flows per name source (`sni`, `quic_sni`, `http_host`, `dns`).
    pub named_by: BTreeMap<String, u64>,
    /// DNS rows in the window.
    pub dns_rows: u64,
    /// DNS rows exist.
    pub dns_visible: bool,
    /// Share of named flows whose name came from DNS.
    pub dns_named_share: f64,
    /// Encrypted DNS around the tunnel resolver.
    pub bypass: Vec<DnsBypass>,
    /// Oldest and newest time retained in the whole store (flows and DNS).
    pub retained: Option<(u64, u64)>,
    /// The gaps, named.
    pub blind_spots: Vec<BlindSpot>,
}

#[allow(clippy::cast_precision_loss)]
fn share(n: u64, d: u64) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

/// Below this attributed share (and above this unnamed share) a gap is named.
const ATTRIBUTION_GOAL: f64 = 0.95;

impl Store {
    /// Coverage over `window`.
    pub fn coverage(&self, window: TimeWindow) -> Result<CoverageReport> {
        let (s, u) = window.bounds();
        let (flows, attributed, named): (u64, u64, u64) = self.conn.query_row(
            "SELECT count(*), count(app_uid), count(name) FROM flows \
             WHERE first_us >= ?1 AND first_us < ?2",
            [s, u],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let mut named_by = BTreeMap::new();
        {
            let mut st = self.conn.prepare_cached(
                "SELECT name_source, count(*) FROM flows \
                 WHERE first_us >= ?1 AND first_us < ?2 AND name IS NOT NULL \
                 GROUP BY name_source",
            )?;
            // name_source holds a code or a text (`crate::codes`).
            let rows = st.query_map([s, u], |r| {
                let source = crate::codes::decode(crate::codes::NAME_SOURCES, r.get_ref(0)?);
                Ok((source, r.get::<_, u64>(1)?))
            })?;
            for row in rows {
                let (k, n) = row?;
                let k = k.unwrap_or_else(|| "unknown".to_string());
                *named_by.entry(k).or_insert(0) += n;
            }
        }
        self.coverage_from(
            window,
            NamingCounts {
                flows,
                attributed,
                named,
                named_by,
            },
        )
    }

    /// [`Store::coverage`] with the flows' naming already counted (by
    /// [`Store::flow_digest`]).
    pub fn coverage_from(
        &self,
        window: TimeWindow,
        naming: NamingCounts,
    ) -> Result<CoverageReport> {
        let (s, u) = window.bounds();
        let NamingCounts {
            flows,
            attributed,
            named,
            named_by,
        } = naming;
        let dns_rows: u64 = self.conn.query_row(
            "SELECT count(*) FROM dns WHERE ts_us >= ?1 AND ts_us < ?2",
            [s, u],
            |r| r.get(0),
        )?;
        let bypass = self.dns_bypass(s, u)?;
        let dns_span: (Option<u64>, Option<u64>) =
            self.conn
                .query_row("SELECT min(ts_us), max(ts_us) FROM dns", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
        // Per partition, each from its time index: min() over the flows view
        // would read every row.
        let mut retained = dns_span.0.zip(dns_span.1);
        for p in crate::flow_parts::list(&self.conn)? {
            if let Some((a, b)) = crate::flow_parts::time_range(&self.conn, p.part)? {
                retained = Some(retained.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
            }
        }

        let mut blind = Vec::new();
        if flows == 0 {
            blind.push(BlindSpot::NoTraffic);
        } else {
            if dns_rows == 0 {
                blind.push(BlindSpot::NoDns);
            }
            let a = share(attributed, flows);
            if a < ATTRIBUTION_GOAL {
                blind.push(BlindSpot::Unattributed {
                    percent: (1.0 - a) * 100.0,
                });
            }
            let n = share(named, flows);
            if n < ATTRIBUTION_GOAL {
                blind.push(BlindSpot::Unnamed {
                    percent: (1.0 - n) * 100.0,
                });
            }
        }
        for b in &bypass {
            blind.push(BlindSpot::EncryptedDns {
                via: b.kind.clone(),
                resolver: b.resolver,
                flows: b.flows,
            });
        }
        if let Some((oldest, _)) = retained
            && oldest > window.since_us
        {
            blind.push(BlindSpot::RetentionShorterThanWindow {
                retained_since_us: oldest,
                window_since_us: window.since_us,
            });
        }
        Ok(CoverageReport {
            window,
            flows,
            attributed,
            attributed_share: share(attributed, flows),
            named,
            named_share: share(named, flows),
            dns_named_share: share(named_by.get("dns").copied().unwrap_or(0), named),
            named_by,
            dns_rows,
            dns_visible: dns_rows > 0,
            bypass,
            retained,
            blind_spots: blind,
        })
    }

    fn dns_bypass(&self, s: i64, u: i64) -> Result<Vec<DnsBypass>> {
        let ips: Vec<Value> = DOH_RESOLVER_IPS
            .iter()
            .filter_map(|a| a.parse::<IpAddr>().ok())
            .map(|ip| Value::Blob(ip_to_blob(ip)))
            .collect();
        let names: Vec<Value> = DOH_RESOLVER_NAMES
            .iter()
            .map(|n| Value::Text((*n).to_string()))
            .collect();
        let ip_marks = vec!["?"; ips.len()].join(",");
        let name_marks = vec!["?"; names.len()].join(",");
        let sql = format!(
            "SELECT resp_h, resp_p, lower(name), count(*), group_concat(DISTINCT app_uid) \
             FROM flows WHERE first_us >= ? AND first_us < ? AND \
             (resp_p = {DOT_PORT} OR (resp_p = 443 AND \
              (resp_h IN ({ip_marks}) OR lower(name) IN ({name_marks})))) \
             GROUP BY resp_h, resp_p, lower(name) ORDER BY count(*) DESC LIMIT 100"
        );
        let mut args = vec![Value::Integer(s), Value::Integer(u)];
        args.extend(ips);
        args.extend(names);
        let mut st = self.conn.prepare_cached(&sql)?;
        let rows = st.query_map(params_from_iter(args.iter()), |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, u16>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, u64>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (h, port, name, flows, apps) = row?;
            let Some(resolver) = blob_to_ip(&h) else {
                continue;
            };
            let mut app_uids: Vec<u32> = apps
                .unwrap_or_default()
                .split(',')
                .filter_map(|a| a.parse().ok())
                .collect();
            app_uids.sort_unstable();
            out.push(DnsBypass {
                kind: if port == DOT_PORT { "dot" } else { "doh" }.to_string(),
                resolver,
                name,
                port,
                flows,
                app_uids,
            });
        }
        Ok(out)
    }
}

impl fmt::Display for CoverageReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "coverage {}..{} µs: {} flows, {:.1}% attributed, {:.1}% named",
            self.window.since_us,
            self.window.until_us,
            self.flows,
            self.attributed_share * 100.0,
            self.named_share * 100.0
        )?;
        for (src, n) in &self.named_by {
            writeln!(f, "  named by {src}: {n}")?;
        }
        writeln!(
            f,
            "  dns: {} rows ({}), {:.1}% of named flows named by DNS",
            self.dns_rows,
            if self.dns_visible {
                "visible"
            } else {
                "not visible"
            },
            self.dns_named_share * 100.0
        )?;
        match self.retained {
            Some((a, b)) => writeln!(f, "  retained: {a}..{b} µs")?,
            None => writeln!(f, "  retained: nothing")?,
        }
        for b in &self.blind_spots {
            writeln!(f, "  blind spot: {b}")?;
        }
        Ok(())
    }
}
