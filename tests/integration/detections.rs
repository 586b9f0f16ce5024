//! Detection scenarios: generated packet timelines (`nightjar_synth::detection`) through the
//! engine and the detection pipeline, one per DC0113 example and per AN1700 case, each
//! producing exactly the expected alerts with the expected reasons, and a benign busy phone
//! producing none.

use std::sync::Arc;

use nightjar_detect::baseline::BaselineConfig;
use nightjar_detect::{
    Alert, Detector, FirstSeenConfig, InventoryApp, Pipeline, PipelineConfig, Severity,
};
use nightjar_engine::{AppId, Engine, EngineConfig};
use nightjar_intel::{FeedOptions, IndexBuilder, parse_feed};
use nightjar_synth::detection::{self as d, Story};

fn config() -> PipelineConfig {
    PipelineConfig {
        first_seen: FirstSeenConfig {
            learning_period_us: d::LEARNING_MICROS,
            ..FirstSeenConfig::default()
        },
        baseline: BaselineConfig {
            first_run_us: d::FIRST_RUN_MICROS,
            learning_us: d::LEARNING_MICROS,
            ..BaselineConfig::default()
        },
        ..PipelineConfig::default()
    }
}

fn intel() -> Arc<nightjar_intel::Index> {
    let mut b = IndexBuilder::new();
    let hosts = parse_feed(
        "bad-hosts.txt",
        d::IOC_HOSTS_FEED,
        &FeedOptions::new("bad-hosts"),
    )
    .unwrap();
    let ips = parse_feed("bad-ips.txt", d::IOC_IP_FEED, &FeedOptions::new("bad-ips")).unwrap();
    b.add_feed(&hosts).unwrap();
    b.add_feed(&ips).unwrap();
    let bytes = b.build(d::START_MICROS).unwrap();
    Arc::new(nightjar_intel::Index::from_bytes(bytes).unwrap())
}

/// Every alert the pipeline raises on `story`'s timeline.
fn run(story: Story) -> Vec<Alert> {
    run_with(story, config(), |_| {})
}

/// [`run`] with a configuration, and `before` called on the pipeline once intel and inventory
/// are set.
fn run_with(
    story: Story,
    config: PipelineConfig,
    before: impl FnOnce(&mut Pipeline),
) -> Vec<Alert> {
    let s = d::detection_timeline(story, 0x5eed).unwrap();
    let mut engine = Engine::new(EngineConfig::default()).unwrap();
    let mut p = Pipeline::new(config).unwrap();
    p.set_intel(Some(intel()));
    let inventory: Vec<InventoryApp> = s
        .apps
        .iter()
        .map(|a| InventoryApp {
            uid: a.uid,
            id: a.package.clone(),
            name: a.label.clone(),
            installed_us: a.installed_micros,
            updated_us: a.updated_micros,
        })
        .collect();
    p.set_inventory(&inventory);
    before(&mut p);
    let mut alerts = Vec::new();
    let mut now = 0;
    for pkt in &s.packets {
        now = pkt.ts_micros;
        let v = engine.on_packet(now, pkt.direction, &pkt.bytes);
        if let (Some(f), Some(uid)) = (v.flow, pkt.app_uid)
            && f.is_new
        {
            engine.attribute(f, AppId(uid));
            p.attribute(f.id.0, uid);
        }
        while let Some(e) = engine.next_event() {
            p.on_event(now, &e);
        }
        alerts.extend(std::iter::from_fn(|| p.next_alert()));
    }
    engine.flush();
    while let Some(e) = engine.next_event() {
        p.on_event(now, &e);
    }
    alerts.extend(std::iter::from_fn(|| p.next_alert()));
    let c = p.counters();
    assert_eq!(c.queue_shed, 0);
    assert_eq!(c.gate.rate_limited, 0);
    let m = p.memory();
    assert!(m.total() <= m.total_cap());
    alerts
}

fn summary(alerts: &[Alert]) -> Vec<(Detector, Option<&str>, Option<&str>)> {
    alerts
        .iter()
        .map(|a| (a.detector, a.app.as_deref(), a.domain.as_deref()))
        .collect()
}

fn signal(a: &Alert, name: &str) -> f32 {
    a.signals
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no signal {name} in {:?}", a.signals))
        .value
}

fn has_ref(a: &Alert, id: &str) -> bool {
    a.attack.iter().any(|r| r.id == id)
}

#[test]
fn benign_busy_phone_raises_nothing() {
    let alerts = run(Story::BenignBusyPhone);
    assert!(alerts.is_empty(), "{:#?}", summary(&alerts));
}

#[test]
fn dc0113_unseen_domain() {
    let alerts = run(Story::UnseenDomain);
    assert_eq!(
        summary(&alerts),
        [(
            Detector::FirstSeen,
            Some("com.example.news"),
            Some(d::UNSEEN_NAME)
        )]
    );
    let a = &alerts[0];
    assert_eq!(signal(a, "new_registrable_device"), 1.0);
    assert_eq!(signal(a, "app_baseline_known"), 1.0);
    assert!(a.score >= 0.5 && a.severity >= Severity::Low);
    assert!(has_ref(a, "DC0113"));
    assert_eq!(a.ips, ["203.0.113.10".parse::<std::net::IpAddr>().unwrap()]);
    assert_eq!(a.flow_ids.len(), 1);
}

#[test]
fn dc0113_repeated_communication_with_suspicious_infrastructure() {
    let alerts = run(Story::Beaconing);
    assert_eq!(
        summary(&alerts),
        [
            (
                Detector::FirstSeen,
                Some("com.example.weather"),
                Some(d::BEACON_NAME)
            ),
            (
                Detector::Beacon,
                Some("com.example.weather"),
                Some("weatherwidget-stats.com")
            ),
        ]
    );
    let b = &alerts[1];
    assert!(b.score >= 0.7, "{}", b.score);
    assert!(signal(b, "interval_madm") > 0.9);
    assert!((signal(b, "period_s") - 60.0).abs() < 3.0);
    let words = &b.signals[0].detail;
    assert!(
        words.contains("connections, about every 60 s (±"),
        "the alert states its period in words: {words}"
    );
    assert!(has_ref(b, "AN1700") && has_ref(b, "DC0113"));
}

#[test]
fn dc0113_communication_right_after_install() {
    let alerts = run(Story::PostInstall);
    assert_eq!(
        summary(&alerts),
        [(
            Detector::PostInstall,
            Some("com.flashy.wallpapers"),
            Some(d::POST_INSTALL_NAME)
        )]
    );
    let a = &alerts[0];
    assert_eq!(signal(a, "first_contact_after_install"), 1.0);
    assert_eq!(signal(a, "unseen_domain"), 1.0);
    assert!(signal(a, "seconds_after_install") < 60.0);
    assert!(has_ref(a, "T1474"));
}

fn assert_ioc(a: &Alert, signal_name: &str, feed: &str, indicator: &str) {
    assert_eq!(a.detector, Detector::Ioc);
    assert!(
        a.signals.iter().any(|s| s.name == signal_name),
        "{:?}",
        a.signals
    );
    let p = a.provenance.as_ref().unwrap();
    assert_eq!(p.source, feed);
    assert_eq!(p.version, "2026-11-01");
    assert_eq!(p.indicator.as_deref(), Some(indicator));
    assert!(p.indicator_id.as_deref().unwrap().contains(':'), "{p:?}");
    assert!(p.severity.is_some());
    assert!(has_ref(a, "AN1700") && has_ref(a, "DC0113"));
    assert_eq!(a.flow_ids.len(), 1);
}

#[test]
fn an1700_ioc_via_domain() {
    let alerts = run(Story::IocDomain);
    assert_eq!(
        summary(&alerts),
        [(
            Detector::Ioc,
            Some("com.example.browser"),
            Some(d::IOC_NAME)
        )]
    );
    assert_ioc(&alerts[0], "ioc_domain", "bad-hosts", d::IOC_NAME);
}

#[test]
fn an1700_ioc_via_ip() {
    let alerts = run(Story::IocIp);
    assert_eq!(
        summary(&alerts),
        [(Detector::Ioc, Some("com.example.chat"), None)]
    );
    assert_ioc(&alerts[0], "ioc_ip", "bad-ips", "203.0.113.99");
    assert_eq!(alerts[0].ips, [std::net::IpAddr::from(d::IOC_IP)]);
}

#[test]
fn an1700_ioc_via_dns_answer() {
    let alerts = run(Story::IocDnsAnswer);
    assert_eq!(
        summary(&alerts),
        [(
            Detector::Ioc,
            Some("com.example.news"),
            Some(d::IOC_ANSWER_NAME)
        )]
    );
    assert_ioc(&alerts[0], "ioc_dns_answer", "bad-ips", "203.0.113.77");
}

/// A relay that blocked what the policy told it to block reports how; the alert about that name
/// or address carries it, and nothing else does.
#[test]
fn an1700_block_enforcement_is_recorded_with_the_alert() {
    use nightjar_detect::{Action, Enforcement, Policy};
    let blocking = PipelineConfig {
        policy: Policy {
            high: Action::Block,
            medium: Action::Block,
            ..Policy::default()
        },
        ..config()
    };
    let t0 = d::STORY_AT;
    let alerts = run_with(Story::IocDomain, blocking.clone(), |p| {
        // What a relay's hooks ask before answering.
        assert_eq!(p.name_action(t0, None, d::IOC_NAME), Action::Block);
        assert_eq!(p.name_action(t0, None, "example.com"), Action::Record);
        p.record_enforcement(
            t0,
            Enforcement::TcpReset,
            None,
            Some("unrelated.example"),
            None,
        );
        p.record_enforcement(t0, Enforcement::DnsNxdomain, None, Some(d::IOC_NAME), None);
    });
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].action, Action::Block);
    assert_eq!(alerts[0].enforcement, Some(Enforcement::DnsNxdomain));

    let alerts = run_with(Story::IocIp, blocking, |p| {
        let ip = std::net::IpAddr::from(d::IOC_IP);
        assert_eq!(p.address_action(t0, None, ip), Action::Block);
        p.record_enforcement(t0, Enforcement::TcpReset, None, None, Some(ip));
    });
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].enforcement, Some(Enforcement::TcpReset));

    // Without a report, the alert asks for a block but claims nothing was done.
    let alerts = run(Story::IocDomain);
    assert_eq!(alerts[0].enforcement, None);
}

/// Every capture file under the fixtures' `pcap/`, sorted.
fn fixture_captures(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![root.join("pcap")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p
                .extension()
                .is_some_and(|x| x == "pcap" || x == "pcapng" || x == "trace")
            {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(!files.is_empty(), "no captures under {}", root.display());
    files
}

/// Every capture under the fixtures (ordinary phone and test traffic, none of it an implant)
/// through the pipeline as the CLI runs it: no beacon alert. A capture with no history is
/// judged on its own (no learning period), the strictest setting for false beacons.
#[test]
fn no_fixture_capture_raises_a_beacon() {
    let Some(root) = nightjar_tests::fixtures("no_fixture_capture_raises_a_beacon") else {
        return;
    };
    let files = fixture_captures(&root);
    let (mut replayed, mut flows) = (0, 0);
    for f in &files {
        let mut got = nightjar::replay::Collect::default();
        // Captures the engine rejects are other tests' business.
        if nightjar::replay::replay_file(f, EngineConfig::default(), &mut got, false, |_, _| {})
            .is_err()
        {
            continue;
        }
        replayed += 1;
        let mut config = PipelineConfig::default();
        config.first_seen.learning_period_us = 0;
        let mut p = Pipeline::new(config).unwrap();
        got.flows.sort_by_key(|r| r.last_us);
        for r in &got.flows {
            flows += 1;
            p.on_flow(r.last_us, r);
            while let Some(a) = p.next_alert() {
                assert_ne!(a.detector, Detector::Beacon, "{}: {a:?}", f.display());
            }
        }
    }
    eprintln!(
        "{replayed} of {} captures, {flows} flows, no beacon",
        files.len()
    );
    assert!(replayed > 0);
}

/// Every capture under the fixtures (ordinary phone and test traffic, none of it infected)
/// through the pipeline, DNS and flows in time order: no per-name DGA alert and no per-app
/// infection verdict. The Zeek DNS traces include odd and random-looking names (test
/// zones, reverse lookups, NXDOMAIN probes); none may look generated to the shipped model.
#[test]
fn no_fixture_capture_raises_a_dga_or_infection_alert() {
    let Some(root) = nightjar_tests::fixtures("no_fixture_capture_raises_a_dga_or_infection_alert")
    else {
        return;
    };
    let files = fixture_captures(&root);
    let (mut replayed, mut lookups) = (0, 0);
    for f in &files {
        let mut got = nightjar::replay::Collect::default();
        if nightjar::replay::replay_file(f, EngineConfig::default(), &mut got, false, |_, _| {})
            .is_err()
        {
            continue;
        }
        replayed += 1;
        let mut p = Pipeline::new(PipelineConfig::default()).unwrap();
        got.dns.sort_by_key(|t| t.ts_us);
        got.flows.sort_by_key(|r| r.last_us);
        let (mut d, mut fl) = (got.dns.iter().peekable(), got.flows.iter().peekable());
        loop {
            let dns_first = match (d.peek(), fl.peek()) {
                (Some(t), Some(r)) => t.ts_us <= r.last_us,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if dns_first {
                let t = d.next().unwrap();
                lookups += 1;
                p.on_dns(t.ts_us, t);
            } else {
                let r = fl.next().unwrap();
                p.on_flow(r.last_us, r);
            }
            while let Some(a) = p.next_alert() {
                assert!(
                    !matches!(a.detector, Detector::Dga | Detector::DgaInfection),
                    "{}: {a:?}",
                    f.display()
                );
            }
        }
    }
    eprintln!(
        "{replayed} of {} captures, {lookups} DNS transactions, no DGA or infection alert",
        files.len()
    );
    assert!(replayed > 0 && lookups > 0);
}
