//! Reads for the host's UI: paged flows, DNS and alerts, ranked domains and apps, triage state,
//! coverage, and exports to a file. All of them use the read connection (`db`), never the
//! engine lock, except `query_apps`, which takes it briefly for the inventory names.

use std::net::IpAddr;
use std::str::FromStr;

use nightjar_store::export::Table;
use nightjar_store::export::zeek::ZeekLog;
use nightjar_store::{Cursor, Query, TalkerGroup, TimeWindow};

use crate::error::{NightjarError, Result};
use crate::records::{
    Alert, AlertPage, AlertState, AppItem, AppPage, CoverageReport, DnsItem, DnsPage, DomainItem,
    DomainPage, ExportFormat, ExportTable, FlowItem, FlowPage, QueryFilter,
};

use super::NightjarEngine;

/// Rows a talker page (domains, apps) can reach: the store ranks at most this many.
const MAX_RANKED: usize = 10_000;

impl NightjarEngine {
    fn store_query(
        &self,
        filter: &QueryFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<Query> {
        let mut q = Query::new().limit(usize::try_from(limit).unwrap_or(usize::MAX));
        if let Some(d) = &filter.domain {
            q = q.domain(d.clone());
        }
        if let Some(a) = filter.app_uid {
            q = q.app(a);
        }
        if let Some(ip) = &filter.ip {
            let ip = IpAddr::from_str(ip.trim())
                .map_err(|_| NightjarError::arg("ip is not an IPv4 or IPv6 address"))?;
            q = q.ip(ip);
        }
        q.since_us = filter.since_us;
        q.until_us = filter.until_us;
        q.proto = filter.proto;
        q.severity = filter.severity.map(Into::into);
        q.state = filter.state.map(Into::into);
        if let Some(c) = cursor {
            q = q.after(Some(Cursor::from_str(&c)?));
        }
        Ok(q)
    }
}

fn window(filter: &QueryFilter) -> TimeWindow {
    TimeWindow::new(
        filter.since_us.unwrap_or(0),
        filter.until_us.unwrap_or(TimeWindow::all().until_us),
    )
}

/// Offset cursors for ranked lists (top talkers), which have no natural key.
fn offset_of(cursor: Option<&str>) -> Result<usize> {
    match cursor {
        None => Ok(0),
        Some(c) => c
            .strip_prefix("rank.")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| NightjarError::arg("cursor was not produced by this query")),
    }
}

/// The slice `[offset, offset + limit)` of a ranking and the cursor after it.
fn rank_page<T>(mut ranked: Vec<T>, offset: usize, limit: usize) -> (Vec<T>, Option<String>) {
    let more = ranked.len() > offset + limit;
    ranked.truncate(offset + limit);
    let items = ranked.into_iter().skip(offset).collect();
    (items, more.then(|| format!("rank.{}", offset + limit)))
}

fn page_limit(limit: u32) -> usize {
    usize::try_from(limit)
        .unwrap_or(MAX_RANKED)
        .clamp(1, MAX_RANKED)
}

impl NightjarEngine {
    pub(super) fn query_flows_inner(
        &self,
        filter: QueryFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<FlowPage> {
        let q = self.store_query(&filter, cursor, limit)?;
        let page = self.with_db(|s| Ok(s.flows(&q)?))?;
        Ok(FlowPage {
            items: page.items.iter().map(FlowItem::from).collect(),
            next_cursor: page.next.map(|c| c.to_string()),
        })
    }

    pub(super) fn query_dns_inner(
        &self,
        filter: QueryFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<DnsPage> {
        let q = self.store_query(&filter, cursor, limit)?;
        let page = self.with_db(|s| Ok(s.dns(&q)?))?;
        Ok(DnsPage {
            items: page.items.iter().map(DnsItem::from).collect(),
            next_cursor: page.next.map(|c| c.to_string()),
        })
    }

    pub(super) fn query_alerts_inner(
        &self,
        filter: QueryFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<AlertPage> {
        let q = self.store_query(&filter, cursor, limit)?;
        let page = self.with_db(|s| Ok(s.alerts(&q)?))?;
        Ok(AlertPage {
            items: page.items.iter().map(Alert::from).collect(),
            next_cursor: page.next.map(|c| c.to_string()),
        })
    }

    pub(super) fn set_alert_state_inner(&self, alert_id: u64, state: AlertState) -> Result<bool> {
        self.with_db(|s| Ok(s.set_alert_state(alert_id, state.into())?))
    }

    pub(super) fn query_domains_inner(
        &self,
        filter: QueryFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<DomainPage> {
        let offset = offset_of(cursor.as_deref())?;
        let limit = page_limit(limit);
        let ranked = self.with_db(|s| {
            Ok(s.top_talkers(
                TalkerGroup::Domain,
                window(&filter),
                (offset + limit + 1).min(MAX_RANKED),
            )?)
        })?;
        let (items, next_cursor) = rank_page(ranked, offset, limit);
        Ok(DomainPage {
            items: items.iter().map(DomainItem::from).collect(),
            next_cursor,
        })
    }

    pub(super) fn query_apps_inner(
        &self,
        filter: QueryFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<AppPage> {
        let offset = offset_of(cursor.as_deref())?;
        let limit = page_limit(limit);
        let ranked = self.with_db(|s| {
            Ok(s.top_talkers(
                TalkerGroup::App,
                window(&filter),
                (offset + limit + 1).min(MAX_RANKED),
            )?)
        })?;
        let (talkers, next_cursor) = rank_page(ranked, offset, limit);
        let items = self.with_inner(|inner| {
            Ok(talkers
                .iter()
                .map(|t| {
                    let app = t.app_uid.and_then(|u| inner.apps.get(&u));
                    AppItem {
                        uid: t.app_uid,
                        package: app.map(|a| a.package.clone()).or(t.app_name.clone()),
                        label: app.and_then(|a| a.label.clone()),
                        flows: t.flows,
                        bytes_out: t.bytes_out,
                        bytes_in: t.bytes_in,
                    }
                })
                .collect())
        })?;
        Ok(AppPage { items, next_cursor })
    }

    pub(super) fn coverage_inner(&self, since_us: u64, until_us: u64) -> Result<CoverageReport> {
        self.with_db(|s| {
            Ok(CoverageReport::from(
                &s.coverage(TimeWindow::new(since_us, until_us))?,
            ))
        })
    }

    pub(super) fn export_inner(
        &self,
        format: ExportFormat,
        table: ExportTable,
        filter: QueryFilter,
        path: String,
    ) -> Result<u64> {
        let q = self.store_query(&filter, None, 0)?;
        let zeek_only =
            || NightjarError::arg("the tls, quic and http tables exist only as Zeek logs");
        let plain = match table {
            ExportTable::Flows => Some(Table::Flows),
            ExportTable::Dns => Some(Table::Dns),
            ExportTable::Alerts => Some(Table::Alerts),
            ExportTable::Tls | ExportTable::Quic | ExportTable::Http => None,
        };
        if format != ExportFormat::Zeek && plain.is_none() {
            return Err(zeek_only());
        }
        self.with_db(|s| {
            let file = std::fs::File::create(&path).map_err(|e| NightjarError::io(&path, &e))?;
            let mut w = std::io::BufWriter::new(file);
            let n = match (format, plain) {
                (ExportFormat::Zeek, _) => {
                    let log = match table {
                        ExportTable::Flows => ZeekLog::Conn,
                        ExportTable::Dns => ZeekLog::Dns,
                        ExportTable::Alerts => ZeekLog::Alerts,
                        ExportTable::Tls => ZeekLog::Ssl,
                        ExportTable::Quic => ZeekLog::Quic,
                        ExportTable::Http => ZeekLog::Http,
                    };
                    s.export_zeek(log, &q, &mut w)?
                }
                (ExportFormat::Ocsf, Some(t)) => s.export_ocsf(t, &q, &mut w)?,
                (ExportFormat::Csv, Some(t)) => s.export_csv(t, &q, &mut w)?,
                (_, None) => return Err(zeek_only()),
            };
            std::io::Write::flush(&mut w).map_err(|e| NightjarError::io(&path, &e))?;
            Ok(n)
        })
    }
}
