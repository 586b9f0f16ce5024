//! DNS pairing and the name cache over a script of messages between a few
//! endpoints, with polls, drains and steps back in time, under small caps.
#![no_main]

use core::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use nightjar_dns::{AnswerData, DnsTransactions, NameCache, parse};
use nightjar_fuzz::dns_script::{self, Op};
use nightjar_fuzz::{EPOCH_US, step};

fuzz_target!(|data: &[u8]| {
    let (knobs, steps) = dns_script::decode(data);
    let tx_config = knobs.transactions();
    let cache_config = knobs.name_cache();
    let mut tx = DnsTransactions::new(tx_config);
    let mut cache = NameCache::new(cache_config);
    let mut now = EPOCH_US;
    let mut flow_ref = 0u64;
    let mut records = 0u64;
    for s in steps {
        now = step(now, s.scale, s.count, s.backwards);
        match s.op {
            Op::Message {
                ends,
                from_client,
                app,
                bytes,
            } => match parse(bytes) {
                Ok(msg) => {
                    flow_ref += 1;
                    tx.on_message(now, ends, from_client, &msg, flow_ref);
                    if msg.is_response {
                        cache.on_response(now, app, &msg);
                        for a in &msg.answers {
                            let ip = match a.data {
                                AnswerData::A(v4) => IpAddr::V4(v4),
                                AnswerData::Aaaa(v6) => IpAddr::V6(v6),
                                _ => continue,
                            };
                            let _ = cache.lookup(now, ip, app);
                            let _ = cache.distinct_names(now, ip);
                        }
                    }
                    let _ = cache.lookup(now, ends.server.ip(), app);
                }
                Err(_) => tx.on_parse_error(),
            },
            Op::Poll => {
                for r in tx.poll_expired(now) {
                    records += 1;
                    let _ = r.rcode_name();
                }
                cache.expire(now, 16);
            }
            Op::Drain => {
                records += tx.drain().count() as u64;
                assert_eq!(tx.pending_len(), 0, "drain left queries pending");
            }
        }
        assert!(
            tx.pending_len() <= tx_config.max_pending.max(1),
            "pending over cap"
        );
        assert!(
            cache.len() <= cache_config.max_entries.max(1),
            "name cache over cap"
        );
        while let Some(r) = tx.pop_ready() {
            records += 1;
            let _ = r;
        }
    }
    records += tx.drain().count() as u64;
    let c = tx.counters();
    let _ = (records, c);
});
