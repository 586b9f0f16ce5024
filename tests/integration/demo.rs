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
