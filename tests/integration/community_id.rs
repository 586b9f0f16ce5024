//! Community IDs must equal Zeek's baselines for the Community ID test traces.

use nightjar::replay::{Collect, replay_file};
use nightjar_engine::EngineConfig;
use nightjar_tests::{fixtures, parse_community_ids};

#[test]
fn community_ids_match_zeek() {
    let Some(root) = fixtures("community_ids_match_zeek") else {
        return;
    };
    let base = root.join("pcap/zeek/flow/baseline/bifs.community_id.run-pcaps");
    let traces = root.join("pcap/zeek/flow/traces/communityid");
    let mut compared = 0;
    for name in [
        "tcp.pcap",
        "udp.pcap",
        "ipv6.pcap",
        "icmp6.pcap",
        "sctp.pcap",
    ] {
        let expected = parse_community_ids(
            &std::fs::read_to_string(base.join(format!("{name}.out"))).unwrap(),
        );
        let mut sink = Collect::default();
        replay_file(
            &traces.join(name),
            EngineConfig::default(),
            &mut sink,
            false,
            |_, _| {},
        )
        .unwrap();
        for z in &expected {
            let ours = sink
                .flows
                .iter()
                .find(|r| {
                    let same = |a: std::net::SocketAddr, b: std::net::SocketAddr| {
                        if z.protocol == 132 {
                            a.ip() == b.ip()
                        } else {
                            a == b
                        }
                    };
                    r.protocol == z.protocol
                        && ((same(r.orig, z.orig) && same(r.resp, z.resp))
                            || (same(r.orig, z.resp) && same(r.resp, z.orig)))
                })
                .unwrap_or_else(|| panic!("{name}: no flow for {z:?}"));
            if z.protocol == 132 {
                // Zeek has no SCTP analyzer: it keeps SCTP as an unknown
                // transport with ports 0 and hashes it so. Community ID v1
                // hashes SCTP ports, and the engine follows the spec; with the
                // ports zeroed the hash must equal Zeek's.
                let mut zeroed = ours.clone();
                zeroed.orig.set_port(0);
                zeroed.resp.set_port(0);
                assert_eq!(
                    zeroed.community_id(0).as_deref(),
                    Some(z.id.as_str()),
                    "{name}: {z:?}"
                );
                assert!(ours.orig.port() != 0, "SCTP ports are kept");
                assert_eq!((ours.orig.ip(), ours.resp.ip()), (z.orig.ip(), z.resp.ip()));
                compared += 1;
                continue;
            }
            assert_eq!(
                ours.community_id(0).as_deref(),
                Some(z.id.as_str()),
                "{name}: {z:?}"
            );
            assert_eq!(
                (ours.orig, ours.resp),
                (z.orig, z.resp),
                "{name}: originator differs from Zeek"
            );
            compared += 1;
        }
    }
    assert!(compared >= 17, "compared {compared}");
}
