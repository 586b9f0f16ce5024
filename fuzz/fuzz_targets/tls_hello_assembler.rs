//! `HelloAssembler` fed one client stream in fuzzer-chosen segments; the
//! result must match the stream pushed whole, and a delivered hello parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightjar_dissect::{HelloAssembler, Progress, Transport, ja4};
use nightjar_fuzz::chunking;

/// Push segments until the assembler has an answer.
fn run<'a>(a: &mut HelloAssembler, segments: impl Iterator<Item = &'a [u8]>) -> Progress {
    let mut last = Progress::NeedMore;
    for seg in segments {
        last = a.push(seg);
        if last != Progress::NeedMore {
            break;
        }
    }
    last
}

fuzz_target!(|data: &[u8]| {
    let chunks = chunking::decode(data);
    let stream = chunks.stream();
    let mut chunked = HelloAssembler::new();
    let a = run(&mut chunked, chunks);
    let mut whole = HelloAssembler::new();
    let b = run(&mut whole, core::iter::once(stream));
    assert_eq!(a, b, "segmentation changed the outcome");
    if let Progress::Done(msg) = &a {
        let hello = msg.client_hello();
        assert!(
            hello.is_ok(),
            "assembler delivered an unparsable hello: {hello:?}"
        );
        if let Ok(h) = hello {
            let _ = ja4(&h, Transport::Tcp);
        }
        assert!(stream.len() >= msg.as_bytes().len());
    }
    // Once answered, later bytes are ignored.
    if a != Progress::NeedMore {
        assert_eq!(chunked.push(b"\x16\x03\x01"), Progress::Finished);
    }
    chunked.reset();
    let _ = chunked.counters();
});
