//! Tests against the third-party fixtures (`$NIGHTJAR_FIXTURES`); skipped visibly when absent.
// Test helpers outside `#[test]` fns: clippy.toml only relaxes these lints inside tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use nightjar_intel::{
    Feed, FeedOptions, Index, IndexBuilder, Indicator, IndicatorId, IntelError, ListKind, Matched,
    Severity, Target, Verdict, load_feed,
};
use rand::{RngExt, SeedableRng};

fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var_os("NIGHTJAR_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"));
    if dir.join("intel").is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: fixtures not found at {}", dir.display());
        None
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn stix_feeds(root: &Path) -> Vec<Feed> {
    files(&root.join("intel/stix"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "stix2"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            load_feed(&p, &FeedOptions::new(&name)).unwrap()
        })
        .collect()
}

#[test]
fn stix_indicators_match_themselves_and_subdomains() {
    let Some(root) = fixtures() else { return };
    let feeds = stix_feeds(&root);
    assert_eq!(feeds.len(), 7);
    let mut b = IndexBuilder::new();
    for f in &feeds {
        // The MVT bundles are all simple `=` comparisons: nothing should be skipped.
        assert_eq!(
            f.report.skipped_total, 0,
            "{}: {:?}",
            f.file, f.report.skipped
        );
        b.add_feed(f).unwrap();
    }
    let idx = Index::from_bytes(b.build(0).unwrap()).unwrap();
    let now = 1_800_000_000_000_000; // 2027: MVT indicators have valid_from only.
    let mut rng = rand::rngs::StdRng::seed_from_u64(1700);
    let (mut domains, mut ips, mut others) = (0, 0, 0);
    for f in &feeds {
        for ind in &f.indicators {
            let IndicatorId::Stix(id) = &ind.id else {
                panic!("STIX id expected")
            };
            match &ind.target {
                Target::Domain { name, .. } => {
                    domains += 1;
                    let Verdict::Blocked(m) = idx.lookup_domain(name, now) else {
                        panic!("{name} not blocked")
                    };
                    assert_eq!(
                        m.indicator,
                        Matched::Domain {
                            suffix: name.clone(),
                            subdomains_only: false
                        }
                    );
                    assert_eq!(m.provenance.feed, f.name);
                    assert!(
                        m.provenance.family.is_some(),
                        "{name}: family from the malware object"
                    );
                    let label: String = (0..rng.random_range(1..12))
                        .map(|_| rng.random_range(b'a'..=b'z') as char)
                        .collect();
                    let sub = format!("{label}.{}", name.to_uppercase());
                    assert!(idx.lookup_domain(&sub, now).is_blocked(), "{sub}");
                    // Some names are listed by several bundles; the id must be one of them.
                    let _ = id;
                }
                Target::Net(n) => {
                    ips += 1;
                    assert!(idx.lookup_ip(n.addr(), now).is_blocked(), "{n}");
                }
                _ => others += 1,
            }
        }
    }
    eprintln!("STIX: {domains} domain, {ips} IP, {others} non-network indicators");
    assert!(
        domains > 300 && ips > 20 && others > 100,
        "{domains} {ips} {others}"
    );
    assert_eq!(idx.other_indicators().count(), others);
    // Quirks: IPv4 inside domain-name, and a domain with a path.
    assert!(
        idx.lookup_ip("176.223.111.131".parse().unwrap(), now)
            .is_blocked()
    );
    assert!(idx.lookup_domain("fgr1w2gnsdvsb.xyz", now).is_blocked());
    // Before the indicators were published, nothing matches.
    assert_eq!(idx.lookup_domain("fgr1w2gnsdvsb.xyz", 0), Verdict::Clean);
}

fn benign_domains(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("benign/npm-top-sites/top-sites.json")).unwrap(),
    )
    .unwrap();
    for site in json.as_array().unwrap() {
        out.push(site["rootDomain"].as_str().unwrap().to_owned());
    }
    let csv =
        std::fs::read_to_string(root.join("benign/popular-50k-odd-ranks/domains.csv")).unwrap();
    for line in csv.lines() {
        if let Some((_, d)) = line.split_once(',') {
            out.push(d.trim().to_owned());
        }
    }
    out
}

#[test]
fn benign_domains_only_match_when_they_or_a_parent_are_listed() {
    let Some(root) = fixtures() else { return };
    let mut b = IndexBuilder::new();
    let mut loaded = Vec::new();
    for dir in files(&root.join("intel/lists")) {
        for p in files(&dir) {
            let fname = p.file_name().unwrap().to_string_lossy().into_owned();
            if fname.starts_with("LICENSE") || fname.ends_with(".md") {
                continue;
            }
            let name = format!(
                "{}/{}",
                dir.file_name().unwrap().to_string_lossy(),
                p.file_stem().unwrap().to_string_lossy()
            );
            match load_feed(&p, &FeedOptions::new(&name)) {
                Ok(f) => {
                    eprintln!(
                        "{name}: {:?}, {} accepted, {} skipped, version {:?}",
                        f.format, f.report.accepted, f.report.skipped_total, f.version
                    );
                    b.add_feed(&f).unwrap();
                    loaded.push((name, p.clone()));
                }
                Err(e) => {
                    // The stalkerware CSV is not a supported format and must be refused cleanly.
                    assert!(fname.ends_with(".csv"), "{name}: {e}");
                    assert!(matches!(
                        e,
                        IntelError::MostlyGarbage { .. } | IntelError::UnrecognisedFormat { .. }
                    ));
                }
            }
        }
    }
    assert!(loaded.len() >= 20, "{}", loaded.len());
    let idx = Index::from_bytes(b.build(0).unwrap()).unwrap();
    let benign = benign_domains(&root);
    assert!(benign.len() > 25_000);
    let mut hits = 0;
    for d in &benign {
        let Verdict::Blocked(m) = idx.lookup_domain(d, 1) else {
            continue;
        };
        hits += 1;
        let Matched::Domain { suffix, .. } = &m.indicator else {
            panic!("{d}: domain query matched {:?}", m.indicator)
        };
        let d = d.to_ascii_lowercase();
        assert!(
            d == *suffix || d.ends_with(&format!(".{suffix}")),
            "{d} matched unrelated {suffix}"
        );
        // The feed's own line must list exactly that suffix.
        let (file_part, line) = m.provenance.indicator_id.rsplit_once(':').unwrap();
        let path = &loaded
            .iter()
            .find(|(n, _)| *n == m.provenance.feed)
            .unwrap()
            .1;
        assert_eq!(path.file_name().unwrap().to_string_lossy(), file_part);
        let text = std::fs::read_to_string(path).unwrap();
        let listed = text
            .lines()
            .nth(line.parse::<usize>().unwrap() - 1)
            .unwrap()
            .to_ascii_lowercase();
        let tokens: Vec<&str> = listed
            .split(|c: char| {
                c.is_whitespace() || matches!(c, '/' | '^' | '|' | '$' | ':' | '*' | '#')
            })
            .map(|t| t.trim_matches('.'))
            .collect();
        assert!(
            tokens.contains(&suffix.as_str()),
            "{d}: line {line} of {file_part} is {listed:?}, not {suffix}"
        );
    }
    eprintln!(
        "benign: {hits} of {} domains are listed (verified against the feed lines)",
        benign.len()
    );
}

#[test]
fn pcapdroid_blocklist_semantics() {
    let Some(root) = fixtures() else { return };
    // The facts come from pcap/pcapdroid/EXPECTED.md; the fixture is only required to exist.
    assert!(root.join("pcap/pcapdroid/EXPECTED.md").is_file());
    let mut b = IndexBuilder::new();
    let block = b
        .begin_feed(
            "pcapdroid-block",
            None,
            "block",
            ListKind::Block,
            Severity::High,
        )
        .unwrap();
    let allow = b
        .begin_feed(
            "pcapdroid-allow",
            None,
            "allow",
            ListKind::Allow,
            Severity::Info,
        )
        .unwrap();
    let net = |s: &str| Target::Net(s.parse::<IpAddr>().unwrap().into());
    let dom = |s: &str| Target::Domain {
        name: s.into(),
        subdomains_only: false,
    };
    let mut line = 0;
    let mut add = |b: &mut IndexBuilder, h, t| {
        line += 1;
        b.push(h, &Indicator::new(t, IndicatorId::Line(line)))
            .unwrap();
    };
    for ip in [
        "1.1.1.1",
        "216.58.208.164",
        "2c9b:a9b9:83dd:d9d1::2003",
        "149.202.95.241",
    ] {
        add(&mut b, block, net(ip));
    }
    for d in ["google.it", "www.internetbadguys.com", "example.org"] {
        add(&mut b, block, dom(d));
    }
    add(&mut b, allow, net("149.202.95.241"));
    add(&mut b, allow, dom("example.org"));
    let idx = Index::from_bytes(b.build(0).unwrap()).unwrap();
    let ip = |s: &str| idx.lookup_ip(s.parse().unwrap(), 1);
    let name = |s: &str| idx.lookup_domain(s, 1);

    // IP-blocklisted connections.
    assert!(ip("1.1.1.1").is_blocked());
    assert!(ip("216.58.208.164").is_blocked());
    assert!(ip("2c9b:a9b9:83dd:d9d1::2003").is_blocked());
    // DNS query for www.google.it: domain-blocklisted (subdomain of google.it), resolver not.
    assert!(name("www.google.it").is_blocked());
    assert_eq!(ip("8.8.8.8"), Verdict::Clean);
    assert!(name("google.it").is_blocked());
    assert!(name("www.internetbadguys.com").is_blocked());
    assert_eq!(ip("146.112.255.155"), Verdict::Clean);
    assert!(ip("3a5d:15fe:e3cb:9c5f::2003").eq(&Verdict::Clean));
    // Allowlist wins: f-droid.org's server and example.org are not flagged.
    assert!(ip("149.202.95.241").is_allowed());
    assert_eq!(name("f-droid.org"), Verdict::Clean);
    assert!(name("example.org").is_allowed());
    assert!(name("www.example.org").is_allowed());
    assert_eq!(ip("2ed5:9050:81e9:4b68:248:1893:25c8:1946"), Verdict::Clean);
    // blacklist.c: suffix matching on label boundaries, exact IPs.
    let mut b = IndexBuilder::new();
    let h = b
        .begin_feed("b", None, "b", ListKind::Block, Severity::High)
        .unwrap();
    b.push(h, &Indicator::new(dom("example.org"), IndicatorId::Line(1)))
        .unwrap();
    b.push(h, &Indicator::new(net("1.2.3.4"), IndicatorId::Line(2)))
        .unwrap();
    b.push(h, &Indicator::new(net("::2"), IndicatorId::Line(3)))
        .unwrap();
    let idx = Index::from_bytes(b.build(0).unwrap()).unwrap();
    for d in [
        "www.example.org",
        "some.example.org",
        "evil.some.example.org",
    ] {
        assert!(idx.lookup_domain(d, 1).is_blocked(), "{d}");
    }
    assert_eq!(idx.lookup_ip("1.2.3.0".parse().unwrap(), 1), Verdict::Clean);
    assert_eq!(idx.lookup_ip("::1".parse().unwrap(), 1), Verdict::Clean);
    assert!(idx.lookup_ip("::2".parse().unwrap(), 1).is_blocked());
}
