//! `Store::flow_digest` against a plain in-memory recount of the same rows,
//! and against the per-query paths (`summary`, `coverage`) it replaces in
//! the report.

// Test code: a failed expectation should abort loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use nightjar_store::{DigestLimits, FlowRow, Store, StoreConfig, TimeWindow};

const NAMES: [&str; 9] = [
    "api.example.com",
    "API.Example.com.",
    "cdn.example.net",
    "tracker.ads.example",
    "x9fnzrtl4x8p.example.org",
    "mail.example.com",
    "push.example.net",
    "a.b.c.example.io",
    "img.example.net",
];

/// A deterministic spread of flows over four apps (one of them
/// unattributed), names with case and trailing-dot variants, unnamed flows,
/// four protocols and every name source.
fn rows(n: u64) -> Vec<FlowRow> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|id| {
            let r = next();
            let app = match r % 4 {
                0 => None,
                k => Some(10_000 + u32::try_from(k).unwrap()),
            };
            let name = (r >> 8) % 11;
            let mut f = flow(id, T0 + (r >> 16) % 3_600_000_000);
            f.app_uid = app;
            f.app_name = app.map(|a| format!("app{a}"));
            f.orig_ip_bytes = (r >> 20) % 50_000;
            f.resp_ip_bytes = (r >> 36) % 900_000;
            f.proto = [6, 17, 1, 58, 132][usize::try_from((r >> 40) % 5).unwrap()];
            f.name = NAMES
                .get(usize::try_from(name).unwrap())
                .map(|s| (*s).into());
            f.name_source = f.name.as_ref().map(|_| {
                ["sni", "quic_sni", "http_host", "dns"][usize::try_from((r >> 44) % 4).unwrap()]
                    .into()
            });
            f
        })
        .collect()
}

fn open(rows: &[FlowRow]) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let (s, w) = Store::open(dir.path().join("d.db"), StoreConfig::default()).unwrap();
    for f in rows {
        w.flow(f.clone());
    }
    w.shutdown();
    (dir, s)
}

/// first, last, flows, bytes, protocols, name sources.
type Recount = (u64, u64, u64, u64, BTreeSet<u8>, BTreeSet<String>);

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn bytes(f: &FlowRow) -> u64 {
    f.orig_ip_bytes + f.resp_ip_bytes
}

#[test]
fn digest_matches_a_recount_and_the_per_query_paths() {
    let all = rows(3_000);
    let (_d, store) = open(&all);
    // A window that leaves some rows out on both sides.
    let win = TimeWindow::new(T0 + 100_000_000, T0 + 3_400_000_000);
    let inside: Vec<&FlowRow> = all
        .iter()
        .filter(|f| f.first_us >= T0 + 100_000_000 && f.first_us < T0 + 3_400_000_000)
        .collect();
    let limits = DigestLimits {
        bins: 24,
        domains_per_app: 3,
        largest: 7,
        ..DigestLimits::default()
    };
    let d = store.flow_digest(win, None, limits).unwrap();
    assert_eq!(d.shed, 0);

    // Totals and naming equal the SQL aggregates they replace.
    let summary = store.summary(win).unwrap();
    assert_eq!(d.totals.flows, summary.flows);
    assert_eq!(d.totals.apps, summary.apps);
    assert_eq!(d.totals.domains, summary.domains);
    assert_eq!(d.totals.bytes_out, summary.bytes_out);
    assert_eq!(d.totals.bytes_in, summary.bytes_in);
    assert_eq!(store.summary_from(win, d.totals.clone()).unwrap(), summary);
    assert_eq!(
        store.coverage_from(win, d.naming.clone()).unwrap(),
        store.coverage(win).unwrap()
    );
    assert_eq!(d.totals.flows, inside.len() as u64);
    // "api.example.com" and "API.Example.com." are one domain.
    assert_eq!(d.totals.domains, 8);
    assert_eq!(
        d.naming.named,
        inside.iter().filter(|f| f.name.is_some()).count() as u64
    );

    // Activity: flow starts per (app, bin).
    let width = 3_300_000_000u64 / 24;
    let mut cells: BTreeMap<(Option<u32>, u32), u64> = BTreeMap::new();
    for f in &inside {
        let bin = ((f.first_us - T0 - 100_000_000) / width).min(23);
        *cells
            .entry((f.app_uid, u32::try_from(bin).unwrap()))
            .or_default() += 1;
    }
    let got: BTreeMap<(Option<u32>, u32), u64> = d
        .activity
        .iter()
        .map(|b| ((b.app_uid, b.bin), b.flows))
        .collect();
    assert_eq!(got, cells);

    // Top domains: per app, bytes descending, ties by name.
    let mut groups: BTreeMap<(Option<u32>, String), Recount> = BTreeMap::new();
    for f in inside.iter().filter(|f| f.name.is_some()) {
        let g = groups
            .entry((f.app_uid, key(f.name.as_deref().unwrap())))
            .or_insert((u64::MAX, 0, 0, 0, BTreeSet::new(), BTreeSet::new()));
        g.0 = g.0.min(f.first_us);
        g.1 = g.1.max(f.first_us);
        g.2 += 1;
        g.3 += bytes(f);
        g.4.insert(f.proto);
        g.5.insert(f.name_source.clone().unwrap());
    }
    let mut by_app: BTreeMap<Option<u32>, Vec<(String, u64)>> = BTreeMap::new();
    for ((app, name), g) in &groups {
        by_app.entry(*app).or_default().push((name.clone(), g.3));
    }
    let mut want = Vec::new();
    for (app, mut list) in by_app {
        list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        for (name, _) in list.into_iter().take(3) {
            want.push((app, name));
        }
    }
    let got: Vec<(Option<u32>, String)> = d
        .top_domains
        .iter()
        .map(|t| (t.app_uid, key(&t.domain)))
        .collect();
    assert_eq!(got, want);
    for t in &d.top_domains {
        let g = &groups[&(t.app_uid, key(&t.domain))];
        assert_eq!(
            (t.first_us, t.last_us, t.flows, t.bytes),
            (g.0, g.1, g.2, g.3)
        );
        assert_eq!(t.protos, g.4.iter().copied().collect::<Vec<_>>());
        assert_eq!(t.sources, g.5.iter().cloned().collect::<Vec<_>>());
    }

    // Largest flows: bytes descending, then lowest id.
    let mut sorted = inside.clone();
    sorted.sort_by(|a, b| bytes(b).cmp(&bytes(a)).then_with(|| a.id.cmp(&b.id)));
    let want: Vec<u64> = sorted.iter().take(7).map(|f| f.id).collect();
    let got: Vec<u64> = d.largest.iter().map(|f| f.id).collect();
    assert_eq!(got, want);
    assert_eq!(d.largest[0], *sorted[0]);
}

#[test]
fn app_filter_narrows_the_lists_not_the_totals() {
    let all = rows(1_000);
    let (_d, store) = open(&all);
    let win = TimeWindow::new(T0, T0 + 3_600_000_000);
    let every = store
        .flow_digest(win, None, DigestLimits::default())
        .unwrap();
    let one = store
        .flow_digest(win, Some(10_002), DigestLimits::default())
        .unwrap();
    assert_eq!(one.totals, every.totals);
    assert_eq!(one.naming, every.naming);
    assert!(one.activity.iter().all(|b| b.app_uid == Some(10_002)));
    assert!(one.top_domains.iter().all(|t| t.app_uid == Some(10_002)));
    assert!(one.largest.iter().all(|f| f.app_uid == Some(10_002)));
    let flows: u64 = one.activity.iter().map(|b| b.flows).sum();
    assert_eq!(
        flows,
        all.iter().filter(|f| f.app_uid == Some(10_002)).count() as u64
    );
    let theirs: Vec<_> = every
        .top_domains
        .iter()
        .filter(|t| t.app_uid == Some(10_002))
        .collect();
    assert_eq!(one.top_domains.iter().collect::<Vec<_>>(), theirs);
}

#[test]
fn caps_shed_and_count_but_totals_stay_exact() {
    let all = rows(2_000);
    let (_d, store) = open(&all);
    let win = TimeWindow::new(T0, T0 + 3_600_000_000);
    let full = store
        .flow_digest(win, None, DigestLimits::default())
        .unwrap();
    let tight = store
        .flow_digest(
            win,
            None,
            DigestLimits {
                groups: 3,
                ..DigestLimits::default()
            },
        )
        .unwrap();
    assert_eq!(full.shed, 0);
    assert!(tight.shed > 0, "rows beyond three groups are shed");
    // Past the domain cap the distinct count comes from SQLite.
    assert_eq!(tight.totals, full.totals);
    assert_eq!(tight.naming, full.naming);
    assert!(tight.top_domains.len() <= 3);
    assert_eq!(tight.activity, full.activity);
    assert_eq!(tight.largest, full.largest);
}

#[test]
fn empty_window_is_empty() {
    let (_d, store) = open(&rows(50));
    let d = store
        .flow_digest(
            TimeWindow::new(T0 + 7_200_000_000, T0 + 7_300_000_000),
            None,
            DigestLimits::default(),
        )
        .unwrap();
    assert_eq!(d.totals.flows, 0);
    assert!(d.activity.is_empty() && d.top_domains.is_empty() && d.largest.is_empty());
}
