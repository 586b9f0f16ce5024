//! One read of a window's flows that yields everything the one-page report
//! needs from them: the totals of [`Summary`](crate::Summary), the counts
//! behind [`CoverageReport`](crate::CoverageReport), activity per app over
//! time, each app's top domains and the largest flows.
//!
//! Why one pass: each of those was its own SQL aggregate, and each read all
//! rows of the window (a million rows took 7 s for five scans, most of it in
//! the sort behind the per-app top domains). Here SQLite only streams the
//! nine columns once and the grouping happens in hash maps.
//!
//! Memory is bounded whatever the database holds: at most
//! [`DigestLimits::groups`] (app, domain) pairs, the same number of distinct
//! domains and [`MAX_ACTIVITY_CELLS`] activity cells are kept; rows beyond
//! those caps still count in the totals, and what could not be grouped is
//! counted in [`FlowDigest::shed`].

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};

use rusqlite::types::{Value, ValueRef};
use rusqlite::{params, params_from_iter};

use crate::codec::{self, FLOW_COLS};
use crate::codes::{self, NAME_SOURCES};
use crate::error::Result;
use crate::overview::{ActivityBin, DomainActivity, MAX_BINS, MAX_ROWS};
use crate::rows::FlowRow;
use crate::store::{Store, TimeWindow};

/// Most (app, bin) cells of activity kept.
pub const MAX_ACTIVITY_CELLS: usize = 200_000;
/// Most distinct text name sources or uncommon protocols kept per domain.
const MAX_EXTRA: usize = 8;

/// What a digest keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestLimits {
    /// Time bins of the activity (at most [`MAX_BINS`]).
    pub bins: u32,
    /// Top domains kept per app.
    pub domains_per_app: usize,
    /// Largest flows kept (at most [`MAX_ROWS`]).
    pub largest: usize,
    /// (app, domain) pairs and distinct domains grouped.
    pub groups: usize,
}

impl Default for DigestLimits {
    fn default() -> Self {
        DigestLimits {
            bins: 240,
            domains_per_app: 10,
            largest: 500,
            groups: 100_000,
        }
    }
}

/// Totals over every flow of the window (no app filter): what
/// [`Store::summary`] reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowTotals {
    /// Flows.
    pub flows: u64,
    /// Distinct apps with flows.
    pub apps: u64,
    /// Distinct flow names.
    pub domains: u64,
    /// IP bytes sent.
    pub bytes_out: u64,
    /// IP bytes received.
    pub bytes_in: u64,
}

/// How many flows of the window are attributed and named: what
/// [`Store::coverage`] starts from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamingCounts {
    /// Flows.
    pub flows: u64,
    /// Flows with an app.
    pub attributed: u64,
    /// Flows with a name.
    pub named: u64,
    /// Named flows per name source.
    pub named_by: BTreeMap<String, u64>,
}

/// What [`Store::flow_digest`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowDigest {
    /// Device-wide totals.
    pub totals: FlowTotals,
    /// Device-wide attribution and naming.
    pub naming: NamingCounts,
    /// Flow starts per (app, bin), non-empty cells, by app then bin.
    pub activity: Vec<ActivityBin>,
    /// Each app's top domains by bytes, by app then bytes.
    pub top_domains: Vec<DomainActivity>,
    /// The largest flows by bytes (then lowest id), largest first.
    pub largest: Vec<FlowRow>,
    /// Flow rows that a cap kept out of the per-domain or activity grouping.
    pub shed: u64,
}

/// Where an app's traffic to one domain stands.
#[derive(Debug, Clone)]
struct Group {
    first_us: u64,
    last_us: u64,
    flows: u64,
    bytes: u64,
    /// TCP, UDP, ICMP, ICMPv6 as bits; anything else in `extra`.
    protos: u8,
    /// Known name-source codes 1..=8 as bits.
    sources: u8,
    extra: Option<Box<Extra>>,
}

#[derive(Debug, Clone, Default)]
struct Extra {
    protos: BTreeSet<u8>,
    sources: BTreeSet<String>,
}

const PROTO_BITS: [u8; 4] = [6, 17, 1, 58];

impl Group {
    fn new(t: u64) -> Self {
        Group {
            first_us: t,
            last_us: t,
            flows: 0,
            bytes: 0,
            protos: 0,
            sources: 0,
            extra: None,
        }
    }

    fn add(&mut self, t: u64, bytes: u64, proto: u8, source: ValueRef<'_>) {
        self.first_us = self.first_us.min(t);
        self.last_us = self.last_us.max(t);
        self.flows += 1;
        self.bytes = self.bytes.saturating_add(bytes);
        match PROTO_BITS.iter().position(|p| *p == proto) {
            Some(i) => self.protos |= 1 << i,
            None => {
                let e = self.extra.get_or_insert_with(Box::default);
                if e.protos.len() < MAX_EXTRA {
                    e.protos.insert(proto);
                }
            }
        }
        match source {
            ValueRef::Integer(c @ 1..=8) => self.sources |= 1 << (c - 1),
            ValueRef::Null => {}
            other => {
                if let Some(s) = codes::decode(NAME_SOURCES, other) {
                    let e = self.extra.get_or_insert_with(Box::default);
                    if e.sources.len() < MAX_EXTRA {
                        e.sources.insert(s);
                    }
                }
            }
        }
    }

    fn protos(&self) -> Vec<u8> {
        let mut set: BTreeSet<u8> = PROTO_BITS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.protos & (1 << i) != 0)
            .map(|(_, p)| *p)
            .collect();
        if let Some(e) = &self.extra {
            set.extend(e.protos.iter().copied());
        }
        set.into_iter().collect()
    }

    fn sources(&self) -> Vec<String> {
        let mut set: BTreeSet<String> = (0..8i64)
            .filter(|i| self.sources & (1 << i) != 0)
            .filter_map(|i| codes::decode(NAME_SOURCES, ValueRef::Integer(i + 1)))
            .collect();
        if let Some(e) = &self.extra {
            set.extend(e.sources.iter().cloned());
        }
        set.into_iter().collect()
    }
}

/// Distinct domains by reversed name, each with the name first written.
#[derive(Default)]
struct Domains {
    index: HashMap<Box<[u8]>, u32>,
    names: Vec<(String, String)>,
}

impl Domains {
    fn get_or_add(&mut self, rev: &[u8], name: ValueRef<'_>, cap: usize) -> Option<u32> {
        if let Some(i) = self.index.get(rev) {
            return Some(*i);
        }
        if self.names.len() >= cap {
            return None;
        }
        let i = u32::try_from(self.names.len()).ok()?;
        let name = match name {
            ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
            _ => String::new(),
        };
        self.index.insert(rev.into(), i);
        self.names
            .push((name, String::from_utf8_lossy(rev).into_owned()));
        Some(i)
    }
}

fn u64_of(v: ValueRef<'_>) -> u64 {
    match v {
        ValueRef::Integer(i) => i.max(0).unsigned_abs(),
        _ => 0,
    }
}

fn app_of(v: ValueRef<'_>) -> Option<u32> {
    match v {
        ValueRef::Integer(i) => u32::try_from(i).ok(),
        _ => None,
    }
}

impl Store {
    /// One pass over the flows that started in `window`. Totals and naming
    /// counts cover every app; activity, top domains and largest flows only
    /// `app` when one is given.
    pub fn flow_digest(
        &self,
        window: TimeWindow,
        app: Option<u32>,
        limits: DigestLimits,
    ) -> Result<FlowDigest> {
        let (s, u) = window.bounds();
        let bins = limits.bins.clamp(1, MAX_BINS);
        let width = (u.saturating_sub(s) / i64::from(bins)).max(1);
        let last_bin = i64::from(bins - 1);
        let largest_n = limits.largest.min(MAX_ROWS);

        let mut totals = FlowTotals::default();
        let mut naming = NamingCounts::default();
        let mut named_by_code = [0u64; 8];
        let mut apps: HashSet<u32> = HashSet::new();
        let mut domains = Domains::default();
        let mut domains_shed = false;
        let mut groups: HashMap<(Option<u32>, u32), Group> = HashMap::new();
        let mut cells: HashMap<(Option<u32>, u32), u64> = HashMap::new();
        // Min-heap of the largest flows: the top is the one to drop next
        // (fewest bytes, then highest id).
        let mut heap: BinaryHeap<Reverse<(u64, Reverse<i64>)>> = BinaryHeap::new();
        let mut shed = 0u64;

        let mut st = self.conn.prepare_cached(
            "SELECT id, app_uid, first_us, rev_name, name, proto, name_source, \
             orig_ip_bytes, resp_ip_bytes FROM flows WHERE first_us >= ?1 AND first_us < ?2",
        )?;
        let mut rows = st.query(params![s, u])?;
        while let Some(r) = rows.next()? {
            let app_uid = app_of(r.get_ref(1)?);
            let t: i64 = r.get(2)?;
            let first_us = t.max(0).unsigned_abs();
            let rev = r.get_ref(3)?;
            let name = r.get_ref(4)?;
            let proto = u8::try_from(u64_of(r.get_ref(5)?)).unwrap_or(u8::MAX);
            let source = r.get_ref(6)?;
            let out = u64_of(r.get_ref(7)?);
            let inb = u64_of(r.get_ref(8)?);

            totals.flows += 1;
            totals.bytes_out = totals.bytes_out.saturating_add(out);
            totals.bytes_in = totals.bytes_in.saturating_add(inb);
            if let Some(a) = app_uid {
                naming.attributed += 1;
                apps.insert(a);
            }
            let domain = match rev {
                ValueRef::Text(rev) => {
                    let d = domains.get_or_add(rev, name, limits.groups);
                    domains_shed |= d.is_none();
                    d
                }
                _ => None,
            };
            if !matches!(name, ValueRef::Null) {
                naming.named += 1;
                match source {
                    ValueRef::Integer(c @ 1..=8) => {
                        if let Some(n) = usize::try_from(c - 1)
                            .ok()
                            .and_then(|i| named_by_code.get_mut(i))
                        {
                            *n += 1;
                        }
                    }
                    other => {
                        let k = codes::decode(NAME_SOURCES, other)
                            .unwrap_or_else(|| "unknown".to_owned());
                        *naming.named_by.entry(k).or_insert(0) += 1;
                    }
                }
            }

            if app.is_some() && app_uid != app {
                continue;
            }
            let bytes = out.saturating_add(inb);
            let bin = ((t - s) / width).min(last_bin);
            let bin = u32::try_from(bin).unwrap_or(0);
            let cells_full = cells.len() >= MAX_ACTIVITY_CELLS;
            match cells.get_mut(&(app_uid, bin)) {
                Some(n) => *n += 1,
                None if !cells_full => {
                    cells.insert((app_uid, bin), 1);
                }
                None => shed += 1,
            }
            if let Some(d) = domain {
                let full = groups.len() >= limits.groups;
                match groups.get_mut(&(app_uid, d)) {
                    Some(g) => g.add(first_us, bytes, proto, source),
                    None if !full => groups
                        .entry((app_uid, d))
                        .or_insert_with(|| Group::new(first_us))
                        .add(first_us, bytes, proto, source),
                    None => shed += 1,
                }
            } else if matches!(rev, ValueRef::Text(_)) {
                shed += 1;
            }
            if largest_n > 0 {
                let id: i64 = r.get(0)?;
                let key = Reverse((bytes, Reverse(id)));
                if heap.len() < largest_n {
                    heap.push(key);
                } else if heap.peek().is_some_and(|top| key < *top) {
                    heap.pop();
                    heap.push(key);
                }
            }
        }
        drop(rows);

        totals.apps = apps.len() as u64;
        totals.domains = if domains_shed {
            // Past the cap the distinct count needs SQLite's own set.
            self.conn.query_row(
                "SELECT count(DISTINCT rev_name) FROM flows WHERE first_us >= ?1 AND first_us < ?2",
                params![s, u],
                |r| r.get(0),
            )?
        } else {
            domains.names.len() as u64
        };
        naming.flows = totals.flows;
        for (i, n) in named_by_code.iter().enumerate() {
            if *n > 0 {
                let code = i64::try_from(i).unwrap_or(0) + 1;
                let k = codes::decode(NAME_SOURCES, ValueRef::Integer(code))
                    .unwrap_or_else(|| "unknown".to_owned());
                *naming.named_by.entry(k).or_insert(0) += n;
            }
        }

        let mut activity: Vec<ActivityBin> = cells
            .into_iter()
            .map(|((app_uid, bin), flows)| ActivityBin {
                app_uid,
                bin,
                flows,
            })
            .collect();
        activity.sort_by_key(|b| (b.app_uid, b.bin));

        let top_domains = top_per_app(groups, &domains, limits.domains_per_app);
        let largest = self.largest_by_id(heap)?;
        Ok(FlowDigest {
            totals,
            naming,
            activity,
            top_domains,
            largest,
            shed,
        })
    }

    /// The rows behind the heap's ids, largest first.
    fn largest_by_id(
        &self,
        heap: BinaryHeap<Reverse<(u64, Reverse<i64>)>>,
    ) -> Result<Vec<FlowRow>> {
        let order: Vec<i64> = heap
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse((_, Reverse(id)))| id)
            .collect();
        if order.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Value> = order.iter().map(|i| Value::Integer(*i)).collect();
        let marks = vec!["?"; ids.len()].join(",");
        let mut st = self.conn.prepare(&format!(
            "SELECT {FLOW_COLS} FROM flows WHERE id IN ({marks})"
        ))?;
        let mut by_id: HashMap<u64, FlowRow> = st
            .query_map(params_from_iter(ids.iter()), codec::read_flow)?
            .map(|r| r.map(|f| (f.id, f)))
            .collect::<rusqlite::Result<_>>()?;
        Ok(order
            .iter()
            .filter_map(|id| by_id.remove(&id.unsigned_abs()))
            .collect())
    }
}

/// Each app's `per_app` groups with the most bytes (ties: reversed name),
/// apps in order (unattributed first), at most [`MAX_ROWS`] in all.
fn top_per_app(
    groups: HashMap<(Option<u32>, u32), Group>,
    domains: &Domains,
    per_app: usize,
) -> Vec<DomainActivity> {
    let mut by_app: BTreeMap<Option<u32>, Vec<(u32, Group)>> = BTreeMap::new();
    for ((app, d), g) in groups {
        by_app.entry(app).or_default().push((d, g));
    }
    let rev = |d: u32| {
        domains
            .names
            .get(d as usize)
            .map_or("", |(_, r)| r.as_str())
    };
    let mut out = Vec::new();
    for (app, mut list) in by_app {
        list.sort_by(|(da, a), (db, b)| b.bytes.cmp(&a.bytes).then_with(|| rev(*da).cmp(rev(*db))));
        for (d, g) in list.into_iter().take(per_app) {
            if out.len() >= MAX_ROWS {
                return out;
            }
            out.push(DomainActivity {
                app_uid: app,
                domain: domains
                    .names
                    .get(d as usize)
                    .map(|(n, _)| n.clone())
                    .unwrap_or_default(),
                first_us: g.first_us,
                last_us: g.last_us,
                flows: g.flows,
                bytes: g.bytes,
                protos: g.protos(),
                sources: g.sources(),
            });
        }
    }
    out
}
