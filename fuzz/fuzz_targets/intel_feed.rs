//! Every feed reader on arbitrary text (the first byte picks the format, or
//! detection), then a round trip: a feed that parses compiles into an index in
//! which each of its block domains and networks matches.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightjar_intel::{FeedFormat, FeedOptions, IndexBuilder, ListKind, Target, parse_feed};

const FORMATS: [Option<FeedFormat>; 7] = [
    None,
    Some(FeedFormat::Stix),
    Some(FeedFormat::Hosts),
    Some(FeedFormat::Abp),
    Some(FeedFormat::Dnsmasq),
    Some(FeedFormat::Maltrail),
    Some(FeedFormat::IpList),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut opts = FeedOptions::new("fuzz");
    opts.format = FORMATS[usize::from(pick) % FORMATS.len()];
    let Ok(feed) = parse_feed("fuzz.txt", &text, &opts) else {
        return;
    };
    let mut b = IndexBuilder::new();
    if b.add_feed(&feed).is_err() {
        return;
    }
    let Ok(bytes) = b.build(0) else { return };
    let index = nightjar_intel::Index::from_bytes(bytes).expect("a built index opens");
    // Allow entries win and validity windows exclude: check only what must match.
    if feed.indicators.iter().any(|i| i.list == ListKind::Allow) {
        return;
    }
    let now = 1_800_000_000_000_000;
    for ind in feed.indicators.iter().take(64) {
        let live = ind.valid_from_us.is_none_or(|f| f <= now)
            && ind.valid_until_us.is_none_or(|u| u > now);
        if !live {
            continue;
        }
        match &ind.target {
            Target::Domain {
                name,
                subdomains_only: false,
            } => assert!(
                index.lookup_domain(name, now).is_blocked(),
                "listed {name:?} does not match"
            ),
            Target::Domain {
                name,
                subdomains_only: true,
            } => {
                let sub = format!("a.{name}");
                assert!(index.lookup_domain(&sub, now).is_blocked(), "{sub:?}");
            }
            Target::Net(net) => assert!(
                index.lookup_ip(net.network(), now).is_blocked(),
                "listed {net} does not match"
            ),
            _ => {}
        }
    }
});
