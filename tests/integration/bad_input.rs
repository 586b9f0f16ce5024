//! Malformed, unsupported, fragmented and checksum-broken captures replay
//! without a panic, and the counters explain every frame that made no flow.

use nightjar::replay::{Collect, ReplaySummary, replay_file};
use nightjar_engine::{EngineConfig, NoFlowReason};
use nightjar_tests::fixtures;

fn replay(path: &std::path::Path) -> (ReplaySummary, Collect) {
    let mut sink = Collect::default();
    let s = replay_file(path, EngineConfig::default(), &mut sink, false, |_, _| {}).unwrap();
    (s, sink)
}

fn assert_explained(name: &str, s: &ReplaySummary) {
    let p = &s.engine.packets;
    let link =
        s.link.not_ip + s.link.truncated_link_header + s.link.unsupported_link_type + s.link.other;
    // `packets` also counts the inner packets read out of tunnels.
    assert_eq!(
        s.frames,
        p.packets - s.engine.decap.decapsulated + link,
        "{name}: every frame is an engine packet or a link error"
    );
    assert_eq!(
        p.packets,
        p.in_flows + p.no_flow_total(),
        "{name}: every packet is in a flow or explained"
    );
    assert_eq!(
        p.no_flow(NoFlowReason::FragmentHeld),
        0,
        "{name}: nothing left held after the flush"
    );
}

#[test]
fn invalid_or_unsupported_survives_and_is_explained() {
    let Some(root) = fixtures("invalid_or_unsupported_survives_and_is_explained") else {
        return;
    };
    let (s, _) = replay(&root.join("pcap/pcapdroid/pcap/invalid_or_unsupported.pcap"));
    assert_explained("invalid_or_unsupported", &s);
    let p = &s.engine.packets;
    // EXPECTED.md lists: invalid lengths, shorter than the IP header, UDP
    // shorter than its header, IP version 0, a non-TCP/UDP/ICMP protocol,
    // ESP, and a non-first fragment without its first fragment.
    for reason in [
        NoFlowReason::BadVersion,
        NoFlowReason::UnsupportedProtocol,
        NoFlowReason::FragmentOrphaned,
        NoFlowReason::Encrypted,
    ] {
        assert!(
            p.no_flow(reason) > 0,
            "expected some {reason:?}: {:?}",
            s.engine.packets
        );
    }
    assert!(
        p.no_flow(NoFlowReason::TruncatedIp) + p.no_flow(NoFlowReason::BadIpLength) > 0,
        "expected IP length problems: {:?}",
        s.engine.packets
    );
    // Its short UDP packet also lies in its IP length field, which is caught first.
    assert_eq!(
        p.in_flows, 3,
        "only the well-formed packets make flows: {:?}",
        s.engine.packets
    );
}

#[test]
fn checksum_and_fragment_captures_replay() {
    let Some(root) = fixtures("checksum_and_fragment_captures_replay") else {
        return;
    };
    for rel in [
        "pcap/zeek/ip/traces/chksums/ip4-bad-chksum.pcap",
        "pcap/zeek/ip/traces/chksums/ip4-tcp-bad-chksum.pcap",
        "pcap/zeek/ip/traces/chksums/ip4-udp-bad-chksum.pcap",
        "pcap/zeek/ip/traces/chksums/ip6-udp-bad-chksum.pcap",
        "pcap/zeek/ip/traces/ipv4/fragmented-4.pcap",
        "pcap/zeek/ip/traces/ipv6-hbh-routing0.pcap",
        "pcap/zeek/ip/traces/ipv6-http-atomic-frag.pcap",
        "pcap/zeek/dns/traces/ipv6-fragmented-dns.pcap",
    ] {
        let (s, flows) = replay(&root.join(rel));
        assert_explained(rel, &s);
        // Checksums are not verified on the hot path, so a bad one still
        // makes a flow (as in tshark, and unlike Zeek without -C).
        assert!(!flows.flows.is_empty(), "{rel}: no flows");
    }
    // Overlapping fragments drop their datagram (RFC 5722; Linux does the same
    // for IPv4), and the drop is counted.
    let (s, _) = replay(&root.join("pcap/zeek/ip/traces/ipv4/fragmented-1.pcap"));
    assert_explained("fragmented-1", &s);
    assert_eq!(s.engine.reassembly.datagrams_overlapping, 1);
    assert_eq!(s.engine.packets.in_flows, 0);
    // A datagram with a gap (fragmented-2) or with no last fragment
    // (fragmented-3) never completes: its fragments are orphans, and tshark has
    // no conversation for either.
    for (name, orphans) in [("fragmented-2", 3), ("fragmented-3", 5)] {
        let (s, flows) = replay(&root.join(format!("pcap/zeek/ip/traces/ipv4/{name}.pcap")));
        assert_explained(name, &s);
        assert!(flows.flows.is_empty(), "{name}");
        assert_eq!(
            s.engine.packets.no_flow(NoFlowReason::FragmentOrphaned),
            orphans,
            "{name}"
        );
    }
}

#[test]
fn every_fixture_capture_replays_and_is_explained() {
    let Some(root) = fixtures("every_fixture_capture_replays_and_is_explained") else {
        return;
    };
    let mut n = 0;
    for (rel, path) in nightjar_tests::captures(&root, "pcap") {
        let (s, _) = replay(&path);
        assert_explained(&rel, &s);
        n += 1;
    }
    assert!(n >= 50, "{n} captures");
}
