//! Exports for SIEM tools: Zeek JSON logs ([`zeek`]), OCSF 1.3 events
//! ([`ocsf`]) and CSV ([`csv`]), and a raw-IP pcap of the packets saved for
//! alerted flows ([`Store::export_pcap`]). Each writes to any `io::Write`;
//! the `Store::export_*` methods page through the database with bounded
//! memory.

pub mod csv;
pub mod ocsf;
pub mod zeek;

use std::collections::BTreeSet;
use std::io::Write;

use nightjar_capture::PcapWriter;

use crate::codec;
use crate::error::{Result, StoreError};
use crate::query::{MAX_PAGE, Query};
use crate::rows::{AlertRow, DnsRow, FlowRow};
use crate::store::Store;

/// Which table an export reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Table {
    /// Flows.
    Flows,
    /// DNS transactions.
    Dns,
    /// Alerts.
    Alerts,
}

/// Whose packets a pcap export holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PcapSelection {
    /// The flows one alert lists.
    Alert(u64),
    /// The flows every stored alert lists.
    AllAlerts,
}

/// What [`Store::export_pcap`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PcapExport {
    /// Alerts selected.
    pub alerts: u64,
    /// Distinct flows with at least one packet written.
    pub flows: u64,
    /// Packets written.
    pub packets: u64,
}

fn page_size(q: &Query) -> Query {
    q.clone().limit(MAX_PAGE).after(None)
}

impl Store {
    /// Calls `f` on every flow matching `q`, a page at a time.
    pub fn for_each_flow(
        &self,
        q: &Query,
        mut f: impl FnMut(&FlowRow) -> Result<()>,
    ) -> Result<()> {
        let mut q = page_size(q);
        loop {
            let page = self.flows(&q)?;
            for r in &page.items {
                f(r)?;
            }
            match page.next {
                Some(c) => q.after = Some(c),
                None => return Ok(()),
            }
        }
    }

    /// Calls `f` on every DNS transaction matching `q`, a page at a time.
    pub fn for_each_dns(&self, q: &Query, mut f: impl FnMut(&DnsRow) -> Result<()>) -> Result<()> {
        let mut q = page_size(q);
        loop {
            let page = self.dns(&q)?;
            for r in &page.items {
                f(r)?;
            }
            match page.next {
                Some(c) => q.after = Some(c),
                None => return Ok(()),
            }
        }
    }

    /// Calls `f` on every alert matching `q`, a page at a time.
    pub fn for_each_alert(
        &self,
        q: &Query,
        mut f: impl FnMut(&AlertRow) -> Result<()>,
    ) -> Result<()> {
        let mut q = page_size(q);
        loop {
            let page = self.alerts(&q)?;
            for r in &page.items {
                f(r)?;
            }
            match page.next {
                Some(c) => q.after = Some(c),
                None => return Ok(()),
            }
        }
    }

    /// Writes one Zeek log as JSON lines. Returns the lines written.
    pub fn export_zeek<W: Write>(&self, log: zeek::ZeekLog, q: &Query, w: &mut W) -> Result<u64> {
        let mut n = 0;
        match log {
            zeek::ZeekLog::Dns => self.for_each_dns(q, |d| {
                n += zeek::write_line(w, &zeek::dns(d))?;
                Ok(())
            })?,
            zeek::ZeekLog::Alerts => self.for_each_alert(q, |a| {
                n += zeek::write_line(w, &zeek::alert(a))?;
                Ok(())
            })?,
            _ => self.for_each_flow(q, |f| {
                if let Some(v) = zeek::flow_record(log, f) {
                    n += zeek::write_line(w, &v)?;
                }
                Ok(())
            })?,
        }
        Ok(n)
    }

    /// Writes OCSF events (one JSON object per line) for a table: Network
    /// Activity for flows, DNS Activity for DNS, Detection Finding for alerts.
    pub fn export_ocsf<W: Write>(&self, table: Table, q: &Query, w: &mut W) -> Result<u64> {
        let mut n = 0;
        match table {
            Table::Flows => self.for_each_flow(q, |f| {
                n += zeek::write_line(w, &ocsf::network_activity(f))?;
                Ok(())
            })?,
            Table::Dns => self.for_each_dns(q, |d| {
                n += zeek::write_line(w, &ocsf::dns_activity(d))?;
                Ok(())
            })?,
            Table::Alerts => self.for_each_alert(q, |a| {
                n += zeek::write_line(w, &ocsf::detection_finding(a))?;
                Ok(())
            })?,
        }
        Ok(n)
    }

    /// Writes the saved packets of the selected alerts' flows as a raw-IP
    /// pcap (link type 101, microsecond timestamps), oldest first. Flows
    /// whose packets had left the ring before their alert contribute none;
    /// the counts say what was written. An unknown alert id is an error.
    pub fn export_pcap<W: Write>(&self, sel: PcapSelection, w: W) -> Result<PcapExport> {
        let mut uids = BTreeSet::new();
        let mut out = PcapExport::default();
        match sel {
            PcapSelection::Alert(id) => {
                let a = self.alert(id)?.ok_or(StoreError::NoSuchAlert(id))?;
                uids.extend(a.flow_uids);
                out.alerts = 1;
            }
            PcapSelection::AllAlerts => self.for_each_alert(&Query::new(), |a| {
                uids.extend(a.flow_uids.iter().cloned());
                out.alerts += 1;
                Ok(())
            })?,
        }
        let uids: Vec<String> = uids.into_iter().collect();
        let mut pcap = PcapWriter::new(w)?;
        let mut seen = BTreeSet::new();
        codec::read_packets(&self.conn, Some(&uids), |uid, p| {
            pcap.write_packet(p.ts_us, &p.data)?;
            out.packets += 1;
            if !seen.contains(uid) {
                seen.insert(uid.to_string());
            }
            Ok(())
        })?;
        out.flows = u64::try_from(seen.len()).unwrap_or(u64::MAX);
        pcap.into_inner().flush()?;
        Ok(out)
    }

    /// Writes a table as CSV with a header row. Returns the data rows written.
    pub fn export_csv<W: Write>(&self, table: Table, q: &Query, w: W) -> Result<u64> {
        let mut out = ::csv::Writer::from_writer(w);
        let mut n = 0;
        match table {
            Table::Flows => {
                out.write_record(csv::FLOW_HEADER)?;
                self.for_each_flow(q, |f| {
                    csv::write_flow(&mut out, f)?;
                    n += 1;
                    Ok(())
                })?;
            }
            Table::Dns => {
                out.write_record(csv::DNS_HEADER)?;
                self.for_each_dns(q, |d| {
                    csv::write_dns(&mut out, d)?;
                    n += 1;
                    Ok(())
                })?;
            }
            Table::Alerts => {
                out.write_record(csv::ALERT_HEADER)?;
                self.for_each_alert(q, |a| {
                    csv::write_alert(&mut out, a)?;
                    n += 1;
                    Ok(())
                })?;
            }
        }
        out.flush()?;
        Ok(n)
    }
}
