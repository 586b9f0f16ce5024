//! `parse_request` on raw bytes, and `HttpRequestScanner` over the same stream
//! in fuzzer-chosen segments with requests drained between segments.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightjar_dissect::HttpRequestScanner;
use nightjar_dissect::http::{MAX_SCAN_BUFFER, parse_request};
use nightjar_fuzz::chunking;

fuzz_target!(|data: &[u8]| {
    let chunks = chunking::decode(data);
    let stream = chunks.stream();
    if let Ok(Some(req)) = parse_request(stream) {
        let _ = (req.host(), req.connect_target(), req.authority());
    }
    let mut scanner = HttpRequestScanner::new();
    let mut found = 0usize;
    for seg in chunks {
        scanner.push(seg);
        while let Some(r) = scanner.next_request() {
            found += 1;
            if r.is_err() {
                assert!(scanner.is_stopped());
            }
        }
    }
    // Nothing is shed while the stream fits the buffer.
    if stream.len() <= MAX_SCAN_BUFFER && !scanner.is_stopped() {
        assert_eq!(scanner.shed_bytes(), 0);
    }
    let _ = found;
});
