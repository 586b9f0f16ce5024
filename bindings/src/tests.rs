//! The bindings' Rust-side tests: the exported API driven as the host would drive it, with
//! packets from `nightjar-synth` (no fixtures needed).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use nightjar_synth::phone_session;
use nightjar_wire::Direction;

use crate::callbacks::{AlertListener, AppResolver};
use crate::records::*;
use crate::{
    EngineSettings, Mode, NightjarEngine, NightjarError, compile_feeds, default_memory_caps,
};

fn settings(db: Option<&std::path::Path>) -> EngineSettings {
    EngineSettings {
        db_path: db.map(|p| p.display().to_string()),
        intel_index_path: None,
        mode: Mode::Monitor,
        caps: default_memory_caps(),
        hash_seed: 0x1234_5678,
        relay: None,
        block_at: None,
    }
}

fn packets(s: &nightjar_synth::Scenario) -> Vec<Packet> {
    s.packets
        .iter()
        .map(|p| Packet {
            bytes: p.bytes.clone(),
            outbound: p.direction == Direction::Outbound,
            ts_us: p.ts_micros,
        })
        .collect()
}

/// Answers from the scenario's ground truth, keyed by (device, remote) socket.
struct TruthResolver {
    owners: HashMap<(u8, SocketAddr, SocketAddr), u32>,
    calls: Mutex<Vec<String>>,
}

impl TruthResolver {
    fn for_scenario(s: &nightjar_synth::Scenario) -> Self {
        TruthResolver {
            owners: s
                .truth
                .iter()
                .filter_map(|t| Some(((t.proto, t.device, t.remote), t.app_uid?)))
                .collect(),
            calls: Mutex::new(Vec::new()),
        }
    }
}

impl AppResolver for TruthResolver {
    fn owner(&self, f: FlowKey5) -> Option<u32> {
        self.calls
            .lock()
            .unwrap()
            .push(std::thread::current().name().unwrap_or("").to_owned());
        let local = SocketAddr::new(f.local_ip.parse().ok()?, f.local_port);
        let remote = SocketAddr::new(f.remote_ip.parse().ok()?, f.remote_port);
        self.owners.get(&(f.protocol, local, remote)).copied()
    }
}

/// The scenario's apps as a host would list them.
fn inventory(s: &nightjar_synth::Scenario) -> Vec<AppInfo> {
    s.apps
        .iter()
        .map(|a| AppInfo {
            uid: a.uid,
            package: a.package.clone(),
            label: Some(a.label.clone()),
            installed_us: Some(a.installed_micros),
            updated_us: Some(a.updated_micros),
        })
        .collect()
}

fn all_flows(e: &NightjarEngine) -> Vec<FlowItem> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = e.query_flows(QueryFilter::default(), cursor, 25).unwrap();
        assert!(page.items.len() <= 25);
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

#[test]
fn handle_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<NightjarEngine>();
}

#[test]
fn a_session_goes_through_to_the_store_with_apps_and_names() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nj.db");
    let s = phone_session(7);
    let resolver = Arc::new(TruthResolver::for_scenario(&s));
    let e = NightjarEngine::new(settings(Some(&db))).unwrap();
    e.set_app_resolver(Some(resolver.clone())).unwrap();
    e.set_app_inventory(inventory(&s)).unwrap();
    let pkts = packets(&s);
    let mut verdicts = 0;
    for batch in pkts.chunks(32) {
        let r = e.ingest(batch.to_vec()).unwrap();
        assert_eq!(r.verdicts.len(), batch.len());
        assert!(r.to_tunnel.is_empty(), "monitor mode writes nothing back");
        assert!(r.verdicts.iter().all(|v| v.action == Action::Pass));
        verdicts += r.verdicts.iter().filter(|v| v.is_new).count();
    }
    assert_eq!(verdicts, s.truth.len(), "one new flow per truth flow");
    // The resolver ran on the calling thread, once per new flow.
    let calls = resolver.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), s.truth.len());
    let me = std::thread::current().name().unwrap_or("").to_owned();
    assert!(calls.iter().all(|t| *t == me));

    let stats = e.stats().unwrap();
    assert_eq!(stats.packets, pkts.len() as u64);
    let no_flow: u64 = stats.no_flow.iter().map(|n| n.packets).sum();
    assert_eq!(stats.packets, stats.packets_in_flows + no_flow);
    let attributed = s.truth.iter().filter(|t| t.app_uid.is_some()).count() as u64;
    assert_eq!(stats.flows_attributed, attributed);
    let mem = e.memory().unwrap();
    assert!(mem.flow_table <= mem.flow_table_cap && mem.total <= mem.total_cap + mem.name_cache);

    let report = e.shutdown().unwrap();
    assert!(report.flows_flushed > 0);
    let w = report.writer.unwrap();
    assert_eq!(w.dropped_full + w.dropped_error + w.write_errors, 0);
    assert!(!e.is_usable());
    assert_eq!(e.stats(), Err(NightjarError::EngineUnusable));

    // A second engine on the same database reads what the first wrote.
    let e2 = NightjarEngine::new(settings(Some(&db))).unwrap();
    e2.set_app_inventory(vec![AppInfo {
        uid: s.apps[0].uid,
        package: s.apps[0].package.clone(),
        label: Some("Relabelled".into()),
        installed_us: None,
        updated_us: None,
    }])
    .unwrap();
    let flows = all_flows(&e2);
    assert_eq!(flows.len(), s.truth.len());
    for t in &s.truth {
        let f = flows
            .iter()
            .find(|f| {
                // ICMP flows carry type/code as ports; the truth has 0.
                let icmp = matches!(t.proto, 1 | 58);
                f.proto == t.proto
                    && f.orig_ip == t.device.ip().to_string()
                    && (icmp || f.orig_port == t.device.port())
                    && f.resp_ip == t.remote.ip().to_string()
                    && (icmp || f.resp_port == t.remote.port())
            })
            .unwrap_or_else(|| panic!("no row for {t:?}"));
        assert_eq!(f.app_uid, t.app_uid, "{t:?}");
        assert_eq!(f.orig_pkts, t.packets_out, "{t:?}");
        assert_eq!(f.resp_pkts, t.packets_in, "{t:?}");
        if t.app_uid.is_some() {
            let pkg = s.apps.iter().find(|a| Some(a.uid) == t.app_uid).unwrap();
            assert_eq!(f.app_name.as_deref(), Some(pkg.package.as_str()));
        }
    }
    // Hello details joined the flow rows.
    assert!(flows.iter().any(|f| f.sni.is_some() && f.ja4.is_some()));
    let dns = e2.query_dns(QueryFilter::default(), None, 1000).unwrap();
    assert!(!dns.items.is_empty());
    let named = e2
        .query_flows(
            QueryFilter {
                domain: Some("wikipedia.org".into()),
                ..QueryFilter::default()
            },
            None,
            100,
        )
        .unwrap();
    assert!(!named.items.is_empty());
    assert!(
        named
            .items
            .iter()
            .all(|f| f.name.as_deref().unwrap_or("").ends_with("wikipedia.org"))
    );

    let domains = e2.query_domains(QueryFilter::default(), None, 3).unwrap();
    assert_eq!(domains.items.len(), 3);
    let next = e2
        .query_domains(QueryFilter::default(), domains.next_cursor.clone(), 3)
        .unwrap();
    assert!(!next.items.is_empty());
    assert!(domains.items.iter().all(|d| !next.items.contains(d)));
    let apps = e2.query_apps(QueryFilter::default(), None, 100).unwrap();
    let first = apps
        .items
        .iter()
        .find(|a| a.uid == Some(s.apps[0].uid))
        .unwrap();
    assert_eq!(first.label.as_deref(), Some("Relabelled"));
    let cov = e2.coverage(0, u64::MAX / 2).unwrap();
    assert_eq!(cov.flows, s.truth.len() as u64);
    assert_eq!(cov.attributed, attributed);

    for (format, table) in [
        (ExportFormat::Csv, ExportTable::Flows),
        (ExportFormat::Ocsf, ExportTable::Dns),
        (ExportFormat::Zeek, ExportTable::Flows),
        (ExportFormat::Zeek, ExportTable::Tls),
    ] {
        let out = dir.path().join(format!("{format:?}-{table:?}.out"));
        let n = e2
            .export(
                format,
                table,
                QueryFilter::default(),
                out.display().to_string(),
            )
            .unwrap();
        assert!(n > 0, "{format:?} {table:?}");
        let text = std::fs::read_to_string(&out).unwrap();
        let lines = text.lines().count() as u64;
        let header = u64::from(format == ExportFormat::Csv);
        assert_eq!(lines, n + header, "{format:?} {table:?}");
    }

    // Flow ids continue past the stored ones after a restart.
    let max_before = flows.iter().map(|f| f.id).max().unwrap();
    e2.ingest(packets(&phone_session(8))[..40].to_vec())
        .unwrap();
    e2.shutdown().unwrap();
    let e3 = NightjarEngine::new(settings(Some(&db))).unwrap();
    let after = all_flows(&e3);
    assert!(after.len() > flows.len());
    assert!(after.iter().filter(|f| f.id > max_before).count() == after.len() - flows.len());
}

struct Collect(Mutex<Sender<(Alert, String)>>);
impl AlertListener for Collect {
    fn on_alert(&self, a: Alert) {
        let t = std::thread::current().name().unwrap_or("").to_owned();
        let _ = self.0.lock().unwrap().send((a, t));
    }
}

fn synthetic_alert() -> Alert {
    Alert {
        id: 0,
        ts_us: 1_800_000_000_000_000,
        severity: AlertSeverity::High,
        score: 0.75,
        state: AlertState::New,
        app_uid: Some(10_200),
        domain: Some("synthetic.test".into()),
        ips: vec!["192.0.2.7".into()],
        flow_uids: vec!["Cabc".into()],
        detector: "synthetic".into(),
        attack: vec!["T1637.001".into()],
        signals: vec![AlertSignal {
            name: "test".into(),
            value: 1.5,
            weight: 0.5,
        }],
        provenance_json: r#"{"feed":"test"}"#.into(),
        retroactive: false,
        action: AlertAction::Notify,
        enforcement: None,
    }
}

#[test]
fn alerts_reach_the_listener_thread_and_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nj.db");
    let e = NightjarEngine::new(settings(Some(&db))).unwrap();
    let (tx, rx) = channel();
    e.set_alert_listener(Some(Arc::new(Collect(Mutex::new(tx)))))
        .unwrap();
    e.raise_alert_for_test(synthetic_alert()).unwrap();
    let (got, thread) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(got, synthetic_alert());
    assert_eq!(thread, "nightjar-alerts");
    assert!(e.commit(5_000).unwrap());
    let page = e.query_alerts(QueryFilter::default(), None, 10).unwrap();
    assert_eq!(page.items.len(), 1);
    let stored = &page.items[0];
    assert_eq!(stored.domain.as_deref(), Some("synthetic.test"));
    assert_eq!(stored.ips, vec!["192.0.2.7".to_owned()]);
    assert_eq!(stored.severity, AlertSeverity::High);
    assert!(
        e.set_alert_state(stored.id, AlertState::Acknowledged)
            .unwrap()
    );
    assert!(
        !e.set_alert_state(stored.id + 100, AlertState::Resolved)
            .unwrap()
    );
    let acked = e
        .query_alerts(
            QueryFilter {
                state: Some(AlertState::Acknowledged),
                ..QueryFilter::default()
            },
            None,
            10,
        )
        .unwrap();
    assert_eq!(acked.items.len(), 1);
    assert_eq!(e.stats().unwrap().alerts_delivered, 1);
    e.shutdown().unwrap();
}

/// A resolver that calls back into the engine: proves `owner` runs without the engine lock.
struct Reentrant(Mutex<Weak<NightjarEngine>>);
impl AppResolver for Reentrant {
    fn owner(&self, _: FlowKey5) -> Option<u32> {
        let e = self.0.lock().unwrap().upgrade()?;
        e.stats()
            .ok()
            .map(|s| u32::try_from(s.live_flows).unwrap_or(0) + 10_000)
    }
}

struct Panicky;
impl AppResolver for Panicky {
    fn owner(&self, _: FlowKey5) -> Option<u32> {
        panic!("resolver bug");
    }
}

#[test]
fn callbacks_may_reenter_and_may_fail_without_poisoning() {
    let e = NightjarEngine::new(settings(None)).unwrap();
    let r = Arc::new(Reentrant(Mutex::new(Weak::new())));
    *r.0.lock().unwrap() = Arc::downgrade(&e);
    e.set_app_resolver(Some(r)).unwrap();
    let pkts = packets(&phone_session(3));
    e.ingest(pkts[..200].to_vec()).unwrap();
    assert!(e.stats().unwrap().flows_attributed > 0);
    e.set_app_resolver(Some(Arc::new(Panicky))).unwrap();
    e.ingest(pkts[200..].to_vec()).unwrap();
    let s = e.stats().unwrap();
    assert!(s.resolver_failures > 0);
    assert!(e.is_usable());
}

#[test]
fn caps_hold_under_a_syn_flood_and_shed_is_counted() {
    let mut st = settings(None);
    st.caps.max_flows = 100;
    let e = NightjarEngine::new(st).unwrap();
    let flood: Vec<Packet> = nightjar_synth::syn_flood(1)
        .take(5_000)
        .map(|p| Packet {
            bytes: p.bytes,
            outbound: true,
            ts_us: p.ts_micros,
        })
        .collect();
    for batch in flood.chunks(256) {
        e.ingest(batch.to_vec()).unwrap();
        let m = e.memory().unwrap();
        assert!(m.flow_table <= m.flow_table_cap);
    }
    let s = e.stats().unwrap();
    assert!(s.live_flows <= 100);
    assert!(s.flows_evicted >= 4_900 - 100, "{}", s.flows_evicted);
}

#[test]
fn ingest_from_two_threads_counts_every_packet() {
    let e = NightjarEngine::new(settings(None)).unwrap();
    let pkts = packets(&phone_session(5));
    let n = pkts.len();
    let (a, b) = pkts.split_at(n / 2);
    std::thread::scope(|s| {
        for half in [a, b] {
            let e = &e;
            s.spawn(move || {
                for batch in half.chunks(16) {
                    e.ingest(batch.to_vec()).unwrap();
                }
            });
        }
    });
    assert_eq!(e.stats().unwrap().packets, n as u64);
}

#[test]
fn every_error_variant_is_reachable_and_typed() {
    // Relay mode is built, an encrypted DNS upstream included; one without the certificate's
    // name is refused.
    let mut st = settings(None);
    st.mode = Mode::Relay;
    st.relay = Some(crate::RelaySettings {
        dns_address: Some("10.111.0.53".into()),
        dns_upstream: Some("tls://192.0.2.1:853".into()),
        ..crate::default_relay_settings()
    });
    assert!(matches!(
        NightjarEngine::new(st.clone()),
        Err(NightjarError::InvalidConfig { .. })
    ));
    st.relay = Some(crate::RelaySettings {
        dns_upstream: Some("tls://192.0.2.1:853#dns.example".into()),
        ..st.relay.unwrap()
    });
    assert!(NightjarEngine::new(st).unwrap().is_usable());
    let mut st = settings(None);
    st.mode = Mode::Relay;
    assert!(NightjarEngine::new(st).unwrap().is_usable());
    let mut st = settings(None);
    st.caps.max_flows = 0;
    assert!(matches!(
        NightjarEngine::new(st),
        Err(NightjarError::InvalidConfig { .. })
    ));
    let mut st = settings(None);
    st.caps.max_events = 0;
    assert!(matches!(
        NightjarEngine::new(st),
        Err(NightjarError::InvalidConfig { .. })
    ));
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.idx");
    std::fs::write(&garbage, b"not an index at all, just some bytes").unwrap();
    // Fail open: a damaged index or an unopenable database does not stop the engine; the
    // calls that need them fail with Intel and Store (see fault_tests).
    let mut st = settings(None);
    st.intel_index_path = Some(garbage.display().to_string());
    let e = NightjarEngine::new(st).unwrap();
    assert!(matches!(
        e.reload_intel(garbage.display().to_string()),
        Err(NightjarError::Intel { .. })
    ));
    let mut st = settings(None);
    st.db_path = Some(dir.path().join("no/such/dir/x.db").display().to_string());
    let e = NightjarEngine::new(st).unwrap();
    assert!(matches!(
        e.query_flows(QueryFilter::default(), None, 10),
        Err(NightjarError::Store { .. })
    ));

    let e = NightjarEngine::new(settings(None)).unwrap();
    let q = QueryFilter::default();
    assert_eq!(
        e.query_flows(q.clone(), None, 10),
        Err(NightjarError::NoDatabase)
    );
    assert!(matches!(
        e.check_domain("example.org".into(), 0),
        Err(NightjarError::Intel { .. })
    ));
    assert!(matches!(
        e.reload_intel(dir.path().join("missing.idx").display().to_string()),
        Err(NightjarError::Io { .. })
    ));

    let db = dir.path().join("nj.db");
    let e = NightjarEngine::new(settings(Some(&db))).unwrap();
    assert!(matches!(
        e.query_flows(q.clone(), Some("nonsense".into()), 10),
        Err(NightjarError::InvalidArgument { .. })
    ));
    assert!(matches!(
        e.query_domains(q.clone(), Some("nonsense".into()), 10),
        Err(NightjarError::InvalidArgument { .. })
    ));
    let bad_ip = QueryFilter {
        ip: Some("999.1.1.1".into()),
        ..QueryFilter::default()
    };
    assert!(matches!(
        e.query_dns(bad_ip, None, 10),
        Err(NightjarError::InvalidArgument { .. })
    ));
    assert!(matches!(
        e.export(
            ExportFormat::Csv,
            ExportTable::Tls,
            q.clone(),
            dir.path().join("x").display().to_string()
        ),
        Err(NightjarError::InvalidArgument { .. })
    ));
    assert!(matches!(
        e.export(
            ExportFormat::Csv,
            ExportTable::Flows,
            q.clone(),
            dir.path().join("no/dir/x.csv").display().to_string()
        ),
        Err(NightjarError::Io { .. })
    ));

    // A panic inside is caught, reported as Internal, and poisons the handle.
    let r: crate::Result<()> = e.run(|| panic!("inside"));
    assert!(matches!(r, Err(NightjarError::Internal { detail }) if detail.contains("inside")));
    assert!(!e.is_usable());
    assert_eq!(e.ingest(vec![]), Err(NightjarError::EngineUnusable));
    assert_eq!(e.shutdown(), Err(NightjarError::EngineUnusable));
}

#[test]
fn feeds_compile_and_reload_swaps_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let block = dir.path().join("block.txt");
    std::fs::write(
        &block,
        "# test hosts\n0.0.0.0 tracker.invalid-example.com\n0.0.0.0 ads.example.net\n0.0.0.0 c2.example.org\n",
    )
    .unwrap();
    let allow = dir.path().join("allow.txt");
    std::fs::write(
        &allow,
        "0.0.0.0 ok.c2.example.org\n0.0.0.0 fine.example.net\n",
    )
    .unwrap();
    let out = dir.path().join("intel.idx");
    let report = compile_feeds(
        vec![format!("test={}", block.display())],
        vec![allow.display().to_string()],
        out.display().to_string(),
    )
    .unwrap();
    assert_eq!(report.feeds.len(), 2);
    assert_eq!(report.feeds[0].name, "test");
    assert!(!report.feeds[0].allow && report.feeds[1].allow);
    assert_eq!(report.feeds[0].accepted, 3);
    assert!(report.domain_entries >= 5);

    let e = NightjarEngine::new(settings(None)).unwrap();
    e.reload_intel(out.display().to_string()).unwrap();
    let v = e.check_domain("x.c2.example.org".into(), 0).unwrap();
    assert_eq!(v.outcome, IntelOutcome::Blocked);
    assert_eq!(v.indicator.as_deref(), Some("c2.example.org"));
    assert_eq!(v.feed.as_deref(), Some("test"));
    assert_eq!(
        e.check_domain("ok.c2.example.org".into(), 0)
            .unwrap()
            .outcome,
        IntelOutcome::Allowed
    );
    assert_eq!(
        e.check_domain("example.com".into(), 0).unwrap().outcome,
        IntelOutcome::Clean
    );
    assert_eq!(
        e.check_ip("192.0.2.1".into(), 0).unwrap().outcome,
        IntelOutcome::Clean
    );

    // Recompile without c2 and reload: the running engine sees the new index.
    std::fs::write(
        &block,
        "0.0.0.0 tracker.invalid-example.com\n0.0.0.0 ads.example.net\n",
    )
    .unwrap();
    compile_feeds(
        vec![block.display().to_string()],
        vec![],
        out.display().to_string(),
    )
    .unwrap();
    e.reload_intel(out.display().to_string()).unwrap();
    assert_eq!(
        e.check_domain("x.c2.example.org".into(), 0)
            .unwrap()
            .outcome,
        IntelOutcome::Clean
    );
    // A failed reload keeps the old index.
    std::fs::write(dir.path().join("bad.idx"), b"junk").unwrap();
    assert!(
        e.reload_intel(dir.path().join("bad.idx").display().to_string())
            .is_err()
    );
    assert_eq!(
        e.check_domain("ads.example.net".into(), 0).unwrap().outcome,
        IntelOutcome::Blocked
    );
    assert!(matches!(
        compile_feeds(
            vec![dir.path().join("nope.txt").display().to_string()],
            vec![],
            out.display().to_string()
        ),
        Err(NightjarError::Io { .. })
    ));
}

#[test]
fn detector_alerts_reach_the_listener_and_the_store_with_their_app_and_flows() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nj.db");
    let s = phone_session(7);
    let flashlight = s
        .apps
        .iter()
        .find(|a| a.package.contains("flashlight"))
        .unwrap()
        .uid;
    let e = NightjarEngine::new(settings(Some(&db))).unwrap();
    e.set_app_resolver(Some(Arc::new(TruthResolver::for_scenario(&s))))
        .unwrap();
    e.set_app_inventory(inventory(&s)).unwrap();
    let (tx, rx) = channel();
    e.set_alert_listener(Some(Arc::new(Collect(Mutex::new(tx)))))
        .unwrap();
    for batch in packets(&s).chunks(64) {
        e.ingest(batch.to_vec()).unwrap();
    }
    e.shutdown().unwrap();
    let got: Vec<Alert> = rx.try_iter().map(|(a, _)| a).collect();
    assert!(
        got.iter().any(|a| a.detector == "dga"),
        "the flashlight app's random-looking lookups are flagged: {got:?}"
    );
    for a in &got {
        assert_eq!(a.app_uid, Some(flashlight), "{a:?}");
        assert!(!a.signals.is_empty(), "{a:?}");
        assert!(a.attack.iter().any(|t| t == "DC0113"), "{a:?}");
        assert!(!a.flow_uids.is_empty(), "{a:?}");
    }
    // A fresh engine on the same database reads back what the first one stored.
    let e2 = NightjarEngine::new(settings(Some(&db))).unwrap();
    let stored = e2.query_alerts(QueryFilter::default(), None, 100).unwrap();
    assert_eq!(stored.items.len(), got.len());
    let uids: std::collections::BTreeSet<String> =
        all_flows(&e2).into_iter().map(|f| f.uid).collect();
    for a in &stored.items {
        for u in &a.flow_uids {
            assert!(uids.contains(u), "alert names a stored flow: {u}");
        }
    }
    e2.shutdown().unwrap();
}
