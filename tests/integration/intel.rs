//! PCAPdroid's blocklist semantics, reproduced on metadata.pcap through the
//! replay path and `--intel` marks (EXPECTED.md restates blacklist.c's facts).

use std::collections::BTreeMap;

use nightjar::replay::{Collect, replay_file};
use nightjar::zeek_log::IntelMarks;
use nightjar_engine::EngineConfig;
use nightjar_tests::fixtures;

#[test]
fn pcapdroid_blocklist_semantics_on_metadata_pcap() {
    let Some(root) = fixtures("pcapdroid_blocklist_semantics_on_metadata_pcap") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p
    };
    let block_ips = write(
        "block_ips.txt",
        "1.1.1.1\n216.58.208.164\n2c9b:a9b9:83dd:d9d1::2003\n149.202.95.241\n",
    );
    let block_domains = write(
        "block_domains.txt",
        "google.it\nwww.internetbadguys.com\nexample.org\n",
    );
    let allow = write("allow.txt", "149.202.95.241\nexample.org\n");
    let index_path = dir.path().join("index.nji");
    nightjar_intel::compile_feeds(&[block_ips, block_domains], &[allow], &index_path, 1).unwrap();
    let index = nightjar_intel::Index::open(&index_path).unwrap();
    let marks = IntelMarks {
        index: Some(&index),
    };

    let mut got = Collect::default();
    replay_file(
        &root.join("pcap/pcapdroid/pcap/metadata.pcap"),
        EngineConfig::default(),
        &mut got,
        false,
        |_, _| {},
    )
    .unwrap();
    // Verdict per responder address (every flow to it must agree).
    let mut verdicts: BTreeMap<String, Vec<Option<(&'static str, String)>>> = BTreeMap::new();
    for f in &got.flows {
        let m = marks.flow(f).map(|m| (m.verdict, m.indicator));
        verdicts.entry(f.resp.ip().to_string()).or_default().push(m);
    }
    let only = |ip: &str| -> Option<(&'static str, String)> {
        let v = &verdicts[ip];
        assert!(v.windows(2).all(|w| w[0] == w[1]), "{ip}: {v:?}");
        v[0].clone()
    };
    let blocked = |ip: &str, indicator: &str| {
        assert_eq!(only(ip), Some(("blocked", indicator.to_string())), "{ip}");
    };
    // IP-blocklisted: ICMP to 1.1.1.1, TCP to 216.58.208.164:80, TCP to [2c9b:…::2003]:443.
    blocked("1.1.1.1", "1.1.1.1");
    blocked("216.58.208.164", "216.58.208.164");
    blocked("2c9b:a9b9:83dd:d9d1::2003", "2c9b:a9b9:83dd:d9d1::2003");
    // Domain-blocklisted: www.internetbadguys.com, and www.google.it as a subdomain of google.it.
    blocked("146.112.255.155", "www.internetbadguys.com");
    blocked("3a5d:15fe:e3cb:9c5f::2003", "google.it");
    // The allowlist wins: f-droid.org on an allowed address, example.org by name.
    assert_eq!(only("149.202.95.241").map(|m| m.0), Some("allowed"));
    assert_eq!(
        only("2ed5:9050:81e9:4b68:248:1893:25c8:1946").map(|m| m.0),
        Some("allowed")
    );
    // The DNS query for www.google.it is domain-blocklisted, its resolver is not.
    let q = got
        .dns
        .iter()
        .find(|t| t.query.as_deref() == Some("www.google.it"))
        .unwrap();
    let m = marks.dns(q).unwrap();
    assert_eq!(
        (m.verdict, m.indicator.as_str(), m.value.as_str()),
        ("blocked", "google.it", "www.google.it")
    );
    assert_eq!(
        index.lookup_ip("8.8.8.8".parse().unwrap(), 1),
        nightjar_intel::Verdict::Clean
    );
}
