//! DNS over cleartext HTTP readers (`nightjar_dissect::h2c`, `doh`, and the DoH
//! part of `HttpRequestScanner`) on one fuzzer-chosen stream, whole and in
//! fuzzer-chosen segments. The first byte picks the reader (HTTP/2 client or
//! server, HTTP/1 responses, HTTP/1 requests); the rest is a `chunking` script.
//!
//! Asserts: the messages found, the stop reason and the counters do not depend
//! on segmentation; buffers stay within their caps; messages are non-empty and
//! no longer than the caps allow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightjar_dissect::HttpRequestScanner;
use nightjar_dissect::doh::{self, ResponseScanner};
use nightjar_dissect::h2c::{self, H2Reader};
use nightjar_fuzz::chunking;

/// Largest bytes a reader may hold: a frame, a header block and every stream's body.
const H2_CAP: usize =
    h2c::MAX_TABLE + h2c::MAX_FRAME + h2c::MAX_HEADER_BLOCK + h2c::MAX_STREAMS * h2c::MAX_BODY;

#[derive(Debug, PartialEq)]
struct Outcome {
    messages: Vec<Vec<u8>>,
    stop: String,
    extra: u64,
}

fn h2<'a>(client: bool, parts: impl Iterator<Item = &'a [u8]>) -> Outcome {
    let mut r = if client {
        H2Reader::client()
    } else {
        H2Reader::server()
    };
    let mut messages = Vec::new();
    for p in parts {
        r.push(p, &mut messages);
        assert!(r.buffered_len() <= H2_CAP, "{r:?}");
    }
    for m in &messages {
        assert!(!m.is_empty() && m.len() <= 65_535);
    }
    let c = r.counters();
    assert_eq!(c.messages, messages.len() as u64);
    Outcome {
        messages,
        stop: format!("{:?}", r.stopped()),
        extra: c.header_blocks + c.bodies_shed * 1_000_000 + c.bad_params * 1_000_000_000,
    }
}

fn responses<'a>(parts: impl Iterator<Item = &'a [u8]>) -> Outcome {
    let mut s = ResponseScanner::new();
    let mut messages = Vec::new();
    // After a 101: the bytes the scanner handed back, then the rest, in order.
    let mut upgraded: Option<Vec<u8>> = None;
    for p in parts {
        if let Some(after) = &mut upgraded {
            after.extend_from_slice(p);
            continue;
        }
        let r = s.push(p);
        assert!(s.buffered_len() <= doh::MAX_HEAD.max(doh::MAX_BODY));
        for m in &r.messages {
            assert!(m.len() <= doh::MAX_BODY);
        }
        messages.extend(r.messages);
        if let Some(rest) = r.upgraded {
            assert!(s.is_stopped());
            upgraded = Some(rest);
        }
    }
    Outcome {
        messages,
        stop: format!("{} {:?}", s.is_stopped(), upgraded),
        extra: s.shed(),
    }
}

fn requests<'a>(parts: impl Iterator<Item = &'a [u8]>) -> Outcome {
    let mut s = HttpRequestScanner::new();
    let mut messages = Vec::new();
    let mut upgrades = 0;
    for p in parts {
        s.push(p);
        while let Some(Ok(r)) = s.next_request() {
            if let Some(m) = r.dns_message {
                messages.push(m);
            }
            upgrades += u64::from(r.upgrade_h2c);
        }
    }
    Outcome {
        messages,
        stop: format!("{}", s.is_stopped()),
        extra: upgrades,
    }
}

fn run(kind: u8, data: &[u8], whole: bool) -> Outcome {
    let chunks = chunking::decode(data);
    let stream = chunks.stream();
    let parts: Box<dyn Iterator<Item = &[u8]> + '_> = if whole {
        Box::new(std::iter::once(stream))
    } else {
        Box::new(chunks)
    };
    match kind % 4 {
        0 => h2(true, parts),
        1 => h2(false, parts),
        2 => responses(parts),
        _ => requests(parts),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let whole = run(kind, rest, true);
    let split = run(kind, rest, false);
    if kind % 4 == 3 {
        // The request scanner sheds what overflows its buffer, which depends on
        // segment sizes; its messages before any shedding must agree.
        let n = whole.messages.len().min(split.messages.len());
        assert_eq!(whole.messages[..n], split.messages[..n]);
    } else {
        assert_eq!(whole, split);
    }
});
