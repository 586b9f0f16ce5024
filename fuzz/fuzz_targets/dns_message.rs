//! `nightjar_dns::parse` (and with tight limits) on raw bytes, then the name
//! cache fed with the result and asked about every address it answered.
#![no_main]

use core::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use nightjar_dns::{AnswerData, NameCache, NameCacheConfig, ParseLimits, parse, parse_with_limits};
use nightjar_fuzz::EPOCH_US;

fuzz_target!(|data: &[u8]| {
    let full = parse(data);
    let tight = parse_with_limits(
        data,
        ParseLimits {
            max_questions: 1,
            max_records: 2,
        },
    );
    let Ok(msg) = full else {
        return;
    };
    if let Ok(t) = &tight {
        assert!(t.answers.len() <= 2);
        assert_eq!((t.id, t.is_response), (msg.id, msg.is_response));
    }
    for q in &msg.questions {
        assert_eq!(q.name.to_ascii_lowercase(), q.name);
        assert!(q.name.eq_ignore_ascii_case(&q.original_name));
    }
    let _ = msg.question();
    let mut cache = NameCache::new(NameCacheConfig {
        max_entries: 8,
        max_names_per_ip: 2,
        ..NameCacheConfig::default()
    });
    cache.on_response(EPOCH_US, Some(10_123), &msg);
    assert!(cache.len() <= 8);
    let mut ips: Vec<IpAddr> = Vec::new();
    for a in &msg.answers {
        match &a.data {
            AnswerData::A(v4) => ips.push(IpAddr::V4(*v4)),
            AnswerData::Aaaa(v6) => ips.push(IpAddr::V6(*v6)),
            AnswerData::ServiceBinding(sb) => {
                ips.extend(sb.ipv4_hints.iter().map(|a| IpAddr::V4(*a)));
                ips.extend(sb.ipv6_hints.iter().map(|a| IpAddr::V6(*a)));
            }
            _ => {}
        }
    }
    for ip in ips {
        for app in [None, Some(10_123), Some(1)] {
            if let Some(hit) = cache.lookup(EPOCH_US + 1, ip, app) {
                assert!(!hit.name.is_empty());
            }
        }
        let _ = cache.distinct_names(EPOCH_US + 1, ip);
    }
    cache.expire(EPOCH_US + 400_000_000_000, usize::MAX);
});
