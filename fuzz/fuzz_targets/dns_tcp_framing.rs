//! DNS over TCP: one direction's byte stream cut into fuzzer-chosen segments,
//! framed by `TcpDnsFramer`, every frame parsed. The same stream pushed whole
//! must give the same messages.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightjar_dns::{TcpDnsFramer, parse};
use nightjar_fuzz::chunking;

/// Frames (or frame errors) as owned values, to compare two framings.
fn frame_all<'a>(
    framer: &mut TcpDnsFramer,
    segments: impl Iterator<Item = &'a [u8]>,
) -> Vec<Result<Vec<u8>, String>> {
    let mut out = Vec::new();
    for seg in segments {
        for frame in framer.push(seg) {
            match frame {
                Ok(msg) => {
                    assert!(msg.len() >= 12 && msg.len() <= 65_535);
                    let _ = parse(&msg);
                    out.push(Ok(msg.to_vec()));
                }
                Err(e) => out.push(Err(format!("{e:?}"))),
            }
        }
        // At most one partial frame (2-byte prefix plus body) is held.
        assert!(framer.buffered_len() <= 2 + 65_535);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let chunks = chunking::decode(data);
    let stream = chunks.stream();
    let max = stream.len().min(512) as u16;
    let mut chunked = TcpDnsFramer::with_max_message_len(max.max(12));
    let a = frame_all(&mut chunked, chunks);
    let mut whole = TcpDnsFramer::with_max_message_len(max.max(12));
    let b = frame_all(&mut whole, core::iter::once(stream));
    assert_eq!(a, b, "segmentation changed the framing");
    let (ca, cb) = (chunked.counters(), whole.counters());
    assert_eq!(
        (ca.messages, ca.runt_frames, ca.oversize_frames),
        (cb.messages, cb.runt_frames, cb.oversize_frames)
    );
    assert_eq!(chunked.buffered_len(), whole.buffered_len());
    chunked.reset();
    assert_eq!(chunked.buffered_len(), 0);
});
