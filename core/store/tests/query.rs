//! Queries: every filter, subdomain matching on label boundaries, keyset
//! paging that returns every row exactly once, timelines, top talkers.

// Test code: a failed expectation should abort loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::collections::HashSet;

use common::*;
use nightjar_store::{
    AlertState, Cursor, Query, Severity, Store, StoreConfig, StoreError, TalkerGroup, TimeWindow,
    TimelineItem,
};

fn store_with(f: impl FnOnce(&nightjar_store::StoreWriter)) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let (store, writer) = Store::open(dir.path().join("q.db"), StoreConfig::default()).unwrap();
    f(&writer);
    let s = writer.shutdown();
    assert_eq!(s.committed_rows, s.accepted);
    (dir, store)
}

fn ids(p: &[nightjar_store::FlowRow]) -> Vec<u64> {
    let mut v: Vec<u64> = p.iter().map(|f| f.id).collect();
    v.sort_unstable();
    v
}

#[test]
fn flow_filters() {
    let (_d, store) = store_with(|w| {
        w.flow(named(1, T0 + 1, "example.com", Some(1), "192.0.2.1"));
        w.flow(named(2, T0 + 2, "A.Example.com", Some(1), "192.0.2.2"));
        w.flow(named(3, T0 + 3, "x.y.example.com.", Some(2), "192.0.2.3"));
        w.flow(named(4, T0 + 4, "badexample.com", Some(2), "192.0.2.1"));
        w.flow(named(
            5,
            T0 + 5,
            "example.com.evil.net",
            None,
            "2001:db8::5",
        ));
        let mut udp = named(6, T0 + 6, "quic.example.org", Some(3), "192.0.2.6");
        udp.proto = 17;
        udp.orig_h = ip("10.9.9.9");
        w.flow(udp);
    });
    let q = |q: Query| ids(&store.flows(&q).unwrap().items);
    assert_eq!(q(Query::new().domain("example.com")), [1, 2, 3]);
    assert_eq!(q(Query::new().domain("EXAMPLE.com.")), [1, 2, 3]);
    assert_eq!(q(Query::new().domain("y.example.com")), [3]);
    assert_eq!(q(Query::new().domain("com")), [1, 2, 3, 4]);
    assert_eq!(q(Query::new().domain("ample.com")), Vec::<u64>::new());
    assert_eq!(q(Query::new().app(1)), [1, 2]);
    assert_eq!(q(Query::new().app(2).domain("example.com")), [3]);
    assert_eq!(q(Query::new().ip(ip("192.0.2.1"))), [1, 4]);
    assert_eq!(q(Query::new().ip(ip("2001:db8::5"))), [5]);
    assert_eq!(
        q(Query::new().ip(ip("10.9.9.9"))),
        [6],
        "originator side matches too"
    );
    assert_eq!(q(Query::new().proto(17)), [6]);
    assert_eq!(
        q(Query::new().window(TimeWindow::new(T0 + 2, T0 + 5))),
        [2, 3, 4]
    );
    let page = store.flows(&Query::new()).unwrap();
    let order: Vec<u64> = page.items.iter().map(|f| f.id).collect();
    assert_eq!(order, [6, 5, 4, 3, 2, 1], "newest first");
    assert!(page.next.is_none());
}

#[test]
fn paging_returns_every_row_once_even_with_tied_timestamps() {
    let (_d, store) = store_with(|w| {
        for i in 0..1_000 {
            // Ten rows share each timestamp.
            w.flow(flow(i, T0 + i / 10));
        }
    });
    let mut q = Query::new().limit(7);
    let mut seen = HashSet::new();
    let mut last_key = (u64::MAX, u64::MAX);
    let mut pages = 0;
    loop {
        let page = store.flows(&q).unwrap();
        pages += 1;
        assert!(page.items.len() <= 7);
        for f in &page.items {
            assert!(seen.insert(f.id), "id {} twice", f.id);
            let key = (f.first_us, f.id);
            assert!(key < last_key, "order broken");
            last_key = key;
        }
        match page.next {
            // Cursors survive a round trip through their string form.
            Some(c) => q = q.after(Some(c.to_string().parse::<Cursor>().unwrap())),
            None => break,
        }
    }
    assert_eq!(seen.len(), 1_000);
    assert_eq!(pages, 143);
    assert!(matches!("zz".parse::<Cursor>(), Err(StoreError::BadCursor)));
    assert!(matches!(
        "1.2".parse::<Cursor>(),
        Err(StoreError::BadCursor)
    ));
}

#[test]
fn dns_filters_and_paging() {
    let (_d, store) = store_with(|w| {
        for i in 0..50 {
            w.dns(dns(T0 + i, "api.tracker.example", Some(1)));
            w.dns(dns(T0 + i, "tracker.example", Some(2)));
            w.dns(dns(T0 + i, "notatracker.example", Some(2)));
        }
        let mut tcp = dns(T0 + 100, "tcp.example", None);
        tcp.transport = "tcp".into();
        tcp.server = "[2001:db8::53]:53".parse().unwrap();
        w.dns(tcp);
    });
    let all = |q: Query| {
        let mut q = q.limit(9);
        let mut out = Vec::new();
        loop {
            let p = store.dns(&q).unwrap();
            out.extend(p.items);
            match p.next {
                Some(c) => q = q.after(Some(c)),
                None => return out,
            }
        }
    };
    assert_eq!(all(Query::new().domain("tracker.example")).len(), 100);
    assert_eq!(all(Query::new()).len(), 151);
    assert_eq!(all(Query::new().app(2)).len(), 100);
    assert_eq!(all(Query::new().app(2).domain("tracker.example")).len(), 50);
    assert_eq!(all(Query::new().proto(6)).len(), 1);
    let v6 = all(Query::new().ip(ip("2001:db8::53")));
    assert_eq!(v6.len(), 1);
    assert_eq!(v6[0], {
        let mut t = dns(T0 + 100, "tcp.example", None);
        t.transport = "tcp".into();
        t.server = "[2001:db8::53]:53".parse().unwrap();
        t
    });
    assert_eq!(
        all(Query::new().window(TimeWindow::new(T0 + 10, T0 + 20))).len(),
        30
    );
}

#[test]
fn alert_filters() {
    let (_d, store) = store_with(|w| {
        let sev = [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ];
        let st = [
            AlertState::New,
            AlertState::Acknowledged,
            AlertState::Resolved,
        ];
        for i in 0..24u64 {
            w.alert(alert(
                i + 1,
                T0 + i,
                sev[(i % 4) as usize],
                st[(i % 3) as usize],
                Some((i % 2) as u32),
            ));
        }
    });
    let n = |q: Query| store.alerts(&q.limit(1_000)).unwrap().items.len();
    assert_eq!(n(Query::new()), 24);
    assert_eq!(n(Query::new().severity(Severity::Critical)), 6);
    assert_eq!(n(Query::new().state(AlertState::Resolved)), 8);
    assert_eq!(n(Query::new().app(1)), 12);
    assert_eq!(n(Query::new().app(1).severity(Severity::Critical)), 6);
    assert_eq!(n(Query::new().app(1).severity(Severity::High)), 0);
    assert_eq!(
        n(Query::new().severity(Severity::Low).state(AlertState::New)),
        2
    );
    assert_eq!(n(Query::new().domain("example.net")), 24);
    let a = &store.alerts(&Query::new().limit(1)).unwrap().items[0];
    assert_eq!(
        *a,
        alert(
            24,
            T0 + 23,
            Severity::Critical,
            AlertState::Resolved,
            Some(1)
        )
    );
    assert!(
        store
            .set_alert_state(24, AlertState::FalsePositive)
            .unwrap()
    );
    assert_eq!(n(Query::new().state(AlertState::FalsePositive)), 1);
}

#[test]
fn timeline_merges_kinds_by_time_and_pages_exactly() {
    let (_d, store) = store_with(|w| {
        for i in 0..30u64 {
            let mut f = flow(i, T0 + i / 2);
            f.app_uid = Some(7);
            w.flow(f);
            w.dns(dns(T0 + i / 3, "x.example", Some(7)));
            if i % 5 == 0 {
                w.alert(alert(
                    i + 1,
                    T0 + i / 2,
                    Severity::High,
                    AlertState::New,
                    Some(7),
                ));
            }
            // Another app's rows must not leak in.
            w.dns(dns(T0 + i, "other.example", Some(8)));
        }
    });
    let mut q = Query::new().limit(4);
    let mut items = Vec::new();
    loop {
        let p = store.timeline(7, &q).unwrap();
        items.extend(p.items);
        match p.next {
            Some(c) => q = q.after(Some(c)),
            None => break,
        }
    }
    let flows = items
        .iter()
        .filter(|i| matches!(i, TimelineItem::Flow(_)))
        .count();
    let dns = items
        .iter()
        .filter(|i| matches!(i, TimelineItem::Dns(_)))
        .count();
    let alerts = items
        .iter()
        .filter(|i| matches!(i, TimelineItem::Alert(_)))
        .count();
    assert_eq!((flows, dns, alerts), (30, 30, 6));
    assert!(items.windows(2).all(|w| w[0].ts_us() >= w[1].ts_us()));
    let mut flow_ids: Vec<u64> = items
        .iter()
        .filter_map(|i| match i {
            TimelineItem::Flow(f) => Some(f.id),
            _ => None,
        })
        .collect();
    flow_ids.sort_unstable();
    flow_ids.dedup();
    assert_eq!(flow_ids.len(), 30);
}

#[test]
fn top_talkers_and_summary() {
    let (_d, store) = store_with(|w| {
        let mut id = 0;
        for (app, name, bytes, n) in [
            (1, "video.example", 1_000_000, 3),
            (2, "chat.example", 10_000, 5),
            (1, "chat.example", 50_000, 2),
            (3, "video.example", 5_000, 1),
        ] {
            for _ in 0..n {
                id += 1;
                let mut f = named(id, T0 + id, name, Some(app), "192.0.2.1");
                f.orig_ip_bytes = 100;
                f.resp_ip_bytes = bytes;
                w.flow(f);
            }
        }
        let mut late = named(100, T0 + 1_000_000, "late.example", Some(9), "192.0.2.9");
        late.resp_ip_bytes = u32::MAX as u64;
        w.flow(late);
        w.dns(dns(T0 + 5, "video.example", Some(1)));
        w.alert(alert(1, T0 + 5, Severity::High, AlertState::New, Some(1)));
    });
    let win = TimeWindow::new(T0, T0 + 1_000);
    let apps = store.top_talkers(TalkerGroup::App, win, 10).unwrap();
    let got: Vec<(Option<u32>, u64, u64)> = apps
        .iter()
        .map(|t| (t.app_uid, t.flows, t.bytes()))
        .collect();
    assert_eq!(
        got,
        [
            (Some(1), 5, 3_100_500),
            (Some(2), 5, 50_500),
            (Some(3), 1, 5_100)
        ]
    );
    assert_eq!(apps[0].app_name.as_deref(), Some("app1"));
    let doms = store.top_talkers(TalkerGroup::Domain, win, 1).unwrap();
    assert_eq!(doms.len(), 1);
    assert_eq!(doms[0].domain.as_deref(), Some("video.example"));
    assert_eq!(doms[0].bytes(), 3_005_400);
    let pairs = store.top_talkers(TalkerGroup::AppDomain, win, 10).unwrap();
    assert_eq!(pairs.len(), 4);
    assert_eq!(
        (pairs[1].app_uid, pairs[1].domain.as_deref()),
        (Some(1), Some("chat.example"))
    );

    let s = store.summary(win).unwrap();
    assert_eq!(
        (s.flows, s.dns, s.alerts, s.apps, s.domains),
        (11, 1, 1, 3, 2)
    );
    assert_eq!(s.alerts_by_severity.get("high"), Some(&1));
    assert_eq!(s.bytes_out, 1_100);
    let all = store.summary(TimeWindow::all()).unwrap();
    assert_eq!(all.flows, 12);
}
