//! The built-in demo scenario, replayed through the engine, yields exactly the
//! flows the generator says it made (always runs: no fixtures needed).

use std::collections::BTreeMap;

use nightjar::demo;
use nightjar::replay::Collect;
use nightjar_engine::EngineConfig;

#[test]
fn demo_flows_equal_the_generator_truth() {
    let (scenario, apps) = demo::scenario(7);
    assert!(apps.len() >= 5);
    let mut sink = Collect::default();
    let summary = demo::run(&scenario, EngineConfig::default(), &mut sink).unwrap();
    assert_eq!(
        summary.engine.packets.no_flow_total(),
        0,
        "{:?}",
        summary.engine.packets
    );
    // ICMP flows carry type and code in the port fields; the generator's truth
    // has port 0 there, so key ICMP on addresses alone.
    let key = |proto: u8, a: std::net::SocketAddr, b: std::net::SocketAddr| {
        if proto == 1 || proto == 58 {
            (
                proto,
                std::net::SocketAddr::new(a.ip(), 0),
                std::net::SocketAddr::new(b.ip(), 0),
            )
        } else {
            (proto, a, b)
        }
    };
    let ours: BTreeMap<_, _> = sink
        .flows
        .iter()
        .map(|r| (key(r.protocol, r.orig, r.resp), r))
        .collect();
    assert_eq!(
        ours.len(),
        sink.flows.len(),
        "5-tuples are unique in the scenario"
    );
    assert_eq!(ours.len(), scenario.truth.len());
    let mut named = 0;
    for t in &scenario.truth {
        let r = ours
            .get(&key(t.proto, t.device, t.remote))
            .unwrap_or_else(|| panic!("no flow for {t:?}"));
        assert_eq!(r.app.map(|a| a.0), t.app_uid, "{t:?}");
        assert_eq!(
            (r.orig_pkts, r.resp_pkts),
            (t.packets_out, t.packets_in),
            "{t:?}"
        );
        assert_eq!(
            (r.orig_ip_bytes, r.resp_ip_bytes),
            (t.ip_bytes_out, t.ip_bytes_in),
            "{t:?}"
        );
        assert_eq!(
            (r.first_us, r.last_us),
            (t.first_micros, t.last_micros),
            "{t:?}"
        );
        // Every non-DNS flow is named by what the device revealed: the SNI of
        // its hello, its HTTP Host, or the DNS answer that preceded it.
        if t.remote.port() != 53 {
            assert_eq!(r.name.as_deref(), t.name.as_deref(), "{t:?}");
            named += 1;
        }
    }
    assert!(named > 20);
    // DNS, TLS and HTTP records were all produced.
    assert!(sink.dns.len() >= 30, "{}", sink.dns.len());
    assert!(sink.dns.iter().any(|t| t.rcode_name() == Some("NXDOMAIN")));
    assert!(sink.hellos.len() >= 20);
    assert!(
        sink.http
            .iter()
            .any(|r| r.host.as_deref() == Some("neverssl.com"))
    );
}

/// The demo written to a store leaves a sighting per (app, named domain), so
/// "first contacted after install" and "first contacts" have rows: one for
/// each domain an app's named flows reached, at its first flow.
#[test]
fn demo_store_records_domain_sightings() {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use nightjar::store_sink::StoreSink;
    use nightjar_detect::domain::{normalize, registrable};
    use nightjar_store::{Query, Store, TimeWindow};

    let (scenario, apps) = demo::scenario(7);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let mut sink = StoreSink::open(&db, &apps, 7).unwrap();
    sink.apps(demo::inventory(&scenario));
    demo::run(&scenario, EngineConfig::default(), &mut sink).unwrap();
    let (_, status) = sink.finish();
    assert_eq!(status.dropped_error, 0);

    let store = Store::open_reader(&db, Duration::from_secs(5)).unwrap();
    // First flow start per (app, name) and per (app, registrable domain),
    // recounted from the stored flows.
    let mut by_name: BTreeMap<(u32, String), u64> = BTreeMap::new();
    let mut by_reg: BTreeMap<(u32, String), u64> = BTreeMap::new();
    let mut q = Query::new().limit(1_000);
    loop {
        let page = store.flows(&q).unwrap();
        for f in &page.items {
            let (Some(app), Some(name)) = (f.app_uid, f.name.as_deref()) else {
                continue;
            };
            let Some(n) = normalize(name) else { continue };
            let Some(reg) = registrable(&n).filter(|_| n.parse::<std::net::IpAddr>().is_err())
            else {
                continue;
            };
            for (map, key) in [(&mut by_name, n.to_string()), (&mut by_reg, reg.to_owned())] {
                let t = map.entry((app, key)).or_insert(u64::MAX);
                *t = (*t).min(f.first_us);
            }
        }
        match page.next {
            Some(c) => q = q.after(Some(c)),
            None => break,
        }
    }
    assert!(by_reg.len() >= 10, "{by_reg:?}");
    let got: BTreeMap<(u32, String), u64> = store
        .first_contacts(TimeWindow::all(), None, 5_000)
        .unwrap()
        .into_iter()
        .map(|c| ((c.app_uid, c.registrable), c.first_us))
        .collect();
    assert_eq!(got, by_reg);

    // Every app: the names it first reached in the hour after its install.
    let mut apps_with_rows = 0;
    for a in &scenario.apps {
        let (s, u) = (a.installed_micros, a.installed_micros + 3_600_000_000);
        let seen: BTreeSet<String> = store
            .domains_first_seen(a.uid, TimeWindow::new(s, u), 5_000)
            .unwrap()
            .into_iter()
            .map(|d| d.domain)
            .collect();
        let want: BTreeSet<String> = by_name
            .iter()
            .filter(|((app, _), t)| *app == a.uid && (s..u).contains(*t))
            .map(|((_, n), _)| n.clone())
            .collect();
        assert_eq!(seen, want, "{}", a.package);
        apps_with_rows += usize::from(!seen.is_empty());
    }
    assert!(
        apps_with_rows > 0,
        "no app reached a domain in the hour after its install"
    );
}
