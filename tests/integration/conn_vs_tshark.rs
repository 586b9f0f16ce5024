//! Flows must match tshark's conversation tables on every fixture capture:
//! packets and link-layer bytes each way, per 5-tuple.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use nightjar::replay::{Collect, replay_file};
use nightjar_engine::{EngineConfig, FlowId};
use nightjar_tests::{Bytes, captures, fixtures, parse_conversations, tshark_file};

/// Differences from tshark that are right, with the reason. Keyed by capture
/// path; the test fails if a listed capture stops differing, so the list stays
/// true.
const ACCEPTED: &[(&str, &str)] = &[
    (
        "pcap/pcapdroid/pcap/invalid_or_unsupported.pcap",
        "the DNS packets here are first fragments (MF set) whose IP total length (1500) is far \
         more than the frame holds; the engine counts them as truncated_ip, while tshark \
         dissects the UDP header of the partial fragment anyway",
    ),
    (
        "pcap/zeek/ip/traces/ipv4/fragmented-1.pcap",
        "the fragments overlap (two different fragments at offset 0, one reaching past the \
         last fragment's end); overlapping fragments drop the datagram, as Linux and RFC 5722 \
         do, while tshark reassembles them",
    ),
    (
        "pcap/zeek/ip/traces/ipv4/fragmented-4.pcap",
        "overlapping TCP fragments (24..72 over 48..72) drop that datagram, as Linux does; \
         tshark reassembles it and counts one more frame",
    ),
];

type Tuple = (u8, SocketAddr, SocketAddr);

fn tuple(protocol: u8, x: SocketAddr, y: SocketAddr) -> (Tuple, bool) {
    if x <= y {
        ((protocol, x, y), true)
    } else {
        ((protocol, y, x), false)
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Side {
    frames: u64,
    bytes: u64,
}

/// Compare one capture; returns the differences found.
fn compare(path: &std::path::Path, conv_text: &str) -> Vec<String> {
    let mut wire: BTreeMap<FlowId, [Side; 2]> = BTreeMap::new();
    let mut sink = Collect::default();
    let summary = replay_file(path, EngineConfig::default(), &mut sink, false, |len, v| {
        if let Some(f) = v.flow {
            let s = &mut wire.entry(f.id).or_default()[usize::from(!f.from_orig)];
            s.frames += 1;
            s.bytes += u64::from(len);
        }
    })
    .unwrap();
    assert!(
        summary.stopped_early.is_none(),
        "{}: {:?}",
        path.display(),
        summary.stopped_early
    );

    // Ours, summed per tuple: (lo -> hi, hi -> lo).
    let mut ours: BTreeMap<Tuple, [Side; 2]> = BTreeMap::new();
    for r in &sink.flows {
        if r.protocol != 6 && r.protocol != 17 {
            continue;
        }
        let (t, orig_is_lo) = tuple(r.protocol, r.orig, r.resp);
        let w = wire.get(&r.id).copied().unwrap_or_default();
        let e = ours.entry(t).or_default();
        let (lo_hi, hi_lo) = if orig_is_lo {
            (w[0], w[1])
        } else {
            (w[1], w[0])
        };
        e[0].frames += lo_hi.frames;
        e[0].bytes += lo_hi.bytes;
        e[1].frames += hi_lo.frames;
        e[1].bytes += hi_lo.bytes;
    }
    // tshark's, summed the same way.
    let mut theirs: BTreeMap<Tuple, [(u64, Bytes); 2]> = BTreeMap::new();
    for c in parse_conversations(conv_text) {
        let (t, a_is_lo) = tuple(c.protocol, c.a, c.b);
        let (lo_hi, hi_lo) = if a_is_lo {
            (c.a_to_b, c.b_to_a)
        } else {
            (c.b_to_a, c.a_to_b)
        };
        let e = theirs
            .entry(t)
            .or_insert([(0, Bytes::Exact(0)), (0, Bytes::Exact(0))]);
        e[0] = (e[0].0 + lo_hi.0, e[0].1.plus(lo_hi.1));
        e[1] = (e[1].0 + hi_lo.0, e[1].1.plus(hi_lo.1));
    }

    let mut diffs = Vec::new();
    for (t, exp) in &theirs {
        match ours.get(t) {
            None => diffs.push(format!("missing flow {t:?}")),
            Some(got) => {
                for (d, name) in [(0, "lo->hi"), (1, "hi->lo")] {
                    if got[d].frames != exp[d].0 || !exp[d].1.matches(got[d].bytes) {
                        diffs.push(format!(
                            "{t:?} {name}: ours {} frames/{} bytes, tshark {} frames/{:?}",
                            got[d].frames, got[d].bytes, exp[d].0, exp[d].1
                        ));
                    }
                }
            }
        }
    }
    for t in ours.keys() {
        if !theirs.contains_key(t) {
            diffs.push(format!("extra flow {t:?}"));
        }
    }
    diffs
}

#[test]
fn flows_match_tshark_conversations() {
    let Some(root) = fixtures("flows_match_tshark_conversations") else {
        return;
    };
    let mut checked = 0;
    let mut failures = Vec::new();
    for (rel, path) in captures(&root, "pcap") {
        let conv = tshark_file(&root, &rel, ".conv.txt");
        let Ok(text) = std::fs::read_to_string(&conv) else {
            continue;
        };
        checked += 1;
        let diffs = compare(&path, &text);
        let accepted = ACCEPTED.iter().find(|(c, _)| *c == rel);
        match (diffs.is_empty(), accepted) {
            (true, None) => {}
            (false, Some((_, why))) => eprintln!(
                "accepted difference in {rel}: {why}\n  {}",
                diffs.join("\n  ")
            ),
            (true, Some(_)) => failures.push(format!("{rel}: listed in ACCEPTED but now matches")),
            (false, None) => failures.push(format!("{rel}:\n  {}", diffs.join("\n  "))),
        }
    }
    assert!(checked >= 40, "only {checked} captures had tshark tables");
    assert!(
        failures.is_empty(),
        "{} captures differ from tshark:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
