//! `CaptureReader` over arbitrary bytes (pcap, pcapng, gzip of either), read
//! to the end, and `decap` of the same bytes under every link type it knows.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use nightjar_capture::{CaptureReader, LinkType, decap};

/// Link types `decap` understands, plus one it does not.
const LINKS: [LinkType; 14] = [
    LinkType::NULL,
    LinkType::ETHERNET,
    LinkType::PPP,
    LinkType::RAW_BSD,
    LinkType::RAW_OPENBSD,
    LinkType::PPP_HDLC,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
    LinkType(147),
    LinkType(u32::MAX),
];

fn within(outer: &[u8], inner: &[u8]) -> bool {
    let o = outer.as_ptr_range();
    let i = inner.as_ptr_range();
    inner.is_empty() || (o.start <= i.start && i.end <= o.end)
}

fuzz_target!(|data: &[u8]| {
    for link in LINKS {
        if let Ok(ip) = decap(link, data) {
            assert!(within(data, ip));
        }
        let _ = link.name();
    }
    let Ok(mut reader) =
        CaptureReader::from_reader(Cursor::new(data.to_vec()), Some(data.len() as u64))
    else {
        return;
    };
    let _ = (reader.format(), reader.is_gzip(), reader.total_bytes());
    let mut frames = 0u64;
    while let Some(frame) = reader.next_frame() {
        match frame {
            Ok(f) => {
                frames += 1;
                if let Ok(ip) = f.ip {
                    assert!(within(f.captured, ip));
                }
                let _ = (f.ts_micros, f.orig_len, f.link_type);
            }
            // An error ends the capture.
            Err(_) => break,
        }
    }
    assert_eq!(reader.frames_read(), frames);
});
