//! Coverage on a constructed dataset, and retroactive matching.

// Test code: a failed expectation should abort loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::net::IpAddr;

use common::*;
use nightjar_store::recheck::RecheckLimits;
use nightjar_store::{
    AlertAction, BlindSpot, MatchInfo, Query, Severity, Store, StoreConfig, TimeWindow,
};

fn open() -> (tempfile::TempDir, Store, nightjar_store::StoreWriter) {
    let dir = tempfile::tempdir().unwrap();
    let (s, w) = Store::open(dir.path().join("c.db"), StoreConfig::default()).unwrap();
    (dir, s, w)
}

#[test]
fn coverage_names_blind_spots() {
    let (_d, store, w) = open();
    // 20 flows: 16 attributed, 15 named (10 sni, 5 dns), one DoT to 1.1.1.1,
    // one DoH to dns.google.
    for i in 0..20u64 {
        let mut f = named(i, T0 + 1_000 + i, "site.example", Some(1), "192.0.2.1");
        if i >= 16 {
            f.app_uid = None;
        }
        if i < 10 {
            f.name_source = Some("sni".into());
        } else if i < 15 {
            f.name_source = Some("dns".into());
        } else {
            f.name = None;
            f.name_source = None;
        }
        if i == 15 {
            f.resp_h = ip("1.1.1.1");
            f.resp_p = 853;
        }
        if i == 3 {
            f.name = Some("dns.google".into());
            f.resp_h = ip("8.8.8.8");
        }
        w.flow(f);
    }
    w.dns(dns(T0 + 1_000, "site.example", Some(1)));
    w.shutdown();

    let win = TimeWindow::new(T0, T0 + 10_000);
    let c = store.coverage(win).unwrap();
    assert_eq!(c.flows, 20);
    assert_eq!(c.attributed, 16);
    assert!((c.attributed_share - 0.8).abs() < 1e-9);
    assert_eq!(c.named, 15);
    assert_eq!(c.named_by.get("sni"), Some(&10));
    assert_eq!(c.named_by.get("dns"), Some(&5));
    assert!((c.dns_named_share - 5.0 / 15.0).abs() < 1e-9);
    assert!(c.dns_visible);
    assert_eq!(c.retained, Some((T0 + 1_000, T0 + 1_019)));
    assert_eq!(c.bypass.len(), 2);
    let dot = c.bypass.iter().find(|b| b.kind == "dot").unwrap();
    assert_eq!((dot.resolver, dot.port, dot.flows), (ip("1.1.1.1"), 853, 1));
    let doh = c.bypass.iter().find(|b| b.kind == "doh").unwrap();
    assert_eq!(doh.resolver, ip("8.8.8.8"));
    assert_eq!(doh.app_uids, vec![1]);

    assert!(c.blind_spots.iter().any(
        |b| matches!(b, BlindSpot::Unattributed { percent } if (*percent - 20.0).abs() < 1e-6)
    ));
    assert!(
        c.blind_spots
            .iter()
            .any(|b| matches!(b, BlindSpot::Unnamed { .. }))
    );
    assert!(!c.blind_spots.contains(&BlindSpot::NoDns));
    assert!(c.blind_spots.iter().any(
        |b| matches!(b, BlindSpot::RetentionShorterThanWindow { retained_since_us, .. } if *retained_since_us == T0 + 1_000)
    ));
    let text = c.to_string();
    assert!(
        text.contains("DoT to 1.1.1.1 bypasses the tunnel resolver"),
        "{text}"
    );
    assert!(text.contains("20.0% of flows unattributed"), "{text}");
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["flows"], 20);

    // A window that starts after the oldest row and has no DNS.
    let late = store
        .coverage(TimeWindow::new(T0 + 1_010, T0 + 1_020))
        .unwrap();
    assert!(late.blind_spots.contains(&BlindSpot::NoDns));
    assert!(!late.dns_visible);
    assert!(
        late.to_string()
            .contains("no DNS seen: names come only from SNI")
    );
    let empty = store.coverage(TimeWindow::new(0, 1)).unwrap();
    assert_eq!(empty.blind_spots.first(), Some(&BlindSpot::NoTraffic));
}

fn matcher(domain: &str, ip: Option<IpAddr>) -> Option<MatchInfo> {
    let bad_domain = domain == "evil.example" || domain.ends_with(".evil.example");
    let bad_ip = ip == Some("203.0.113.66".parse().unwrap());
    (bad_domain || bad_ip).then(|| MatchInfo {
        indicator: if bad_domain {
            "evil.example".into()
        } else {
            "203.0.113.66".into()
        },
        severity: Severity::High,
        score: 0.9,
        detector: "intel-retro".into(),
        attack: vec!["DC0113".into()],
        provenance: serde_json::json!({"feed": "test", "version": "2"}),
        action: AlertAction::Alert,
    })
}

#[test]
fn recheck_raises_retroactive_alerts_once() {
    let (_d, store, w) = open();
    for i in 0..3_000u64 {
        let name = match i % 100 {
            0 => "a.evil.example",
            1 => "notevil.example",
            _ => "fine.example",
        };
        w.flow(named(i, T0 + i, name, Some((i % 2) as u32), "192.0.2.1"));
    }
    // Unnamed flow to a listed address; DNS answer pointing at it.
    let mut by_ip = flow(5_000, T0 + 10);
    by_ip.name = None;
    by_ip.resp_h = ip("203.0.113.66");
    by_ip.app_uid = Some(9);
    w.flow(by_ip);
    let mut d = dns(T0 + 20, "innocent.example", Some(9));
    d.answers = vec!["203.0.113.66".into()];
    w.dns(d);
    w.dns(dns(T0 + 30, "evil.example", Some(1)));
    // Outside the window.
    w.flow(named(
        9_000,
        T0 + 1_000_000,
        "evil.example",
        Some(1),
        "192.0.2.1",
    ));
    w.shutdown();

    let win = TimeWindow::new(T0, T0 + 100_000);
    let out = store
        .recheck_with(win, &matcher, RecheckLimits::default())
        .unwrap();
    assert_eq!(out.flows_checked, 3_001);
    assert_eq!(out.dns_checked, 2);
    // (evil.example, app 0), (evil.example, app 1), (203.0.113.66, app 9).
    assert_eq!(out.alerts.len(), 3);
    for a in &out.alerts {
        assert!(a.retroactive);
        assert!(a.id > 0);
        assert_eq!(a.detector, "intel-retro");
    }
    let app0 = out
        .alerts
        .iter()
        .find(|a| a.app_uid == Some(0) && a.domain.as_deref() == Some("a.evil.example"))
        .unwrap();
    assert_eq!(app0.flow_uids.len(), 30, "flows 0, 100, ... 2900 are app 0");
    assert_eq!(app0.ts_us, T0);
    let app1 = out.alerts.iter().find(|a| a.app_uid == Some(1)).unwrap();
    // Only app 1's DNS row matched (its flow is outside the window).
    assert_eq!(app1.flow_uids, vec![format!("D{:x}", T0 + 30)]);
    let ipa = out.alerts.iter().find(|a| a.app_uid == Some(9)).unwrap();
    assert_eq!(ipa.ips, vec![ip("203.0.113.66")]);
    assert_eq!(ipa.flow_uids.len(), 2);

    let stored = store.alerts(&Query::new()).unwrap().items;
    assert_eq!(stored.len(), 3);
    assert!(stored.iter().all(|a| a.retroactive));
    // Running it again finds the same groups and does not duplicate them.
    let again = store
        .recheck_with(win, &matcher, RecheckLimits::default())
        .unwrap();
    assert_eq!(again.alerts.len(), 0);
    assert_eq!(again.duplicates, 3);

    // Caps are honoured and counted.
    let capped = store
        .recheck_with(
            TimeWindow::all(),
            &matcher,
            RecheckLimits {
                max_alerts: 1,
                max_uids_per_alert: 2,
                max_ips_per_alert: 1,
            },
        )
        .unwrap();
    assert!(capped.hits_shed > 0);
    assert!(capped.alerts.len() + capped.duplicates as usize <= 1);
}
