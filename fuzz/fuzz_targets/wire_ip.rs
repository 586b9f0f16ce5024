//! `parse_ip`, `parse_ip_snapped`, IPv6 extension skipping, checksums and the
//! transport parse of whatever the IP layer hands on, on raw bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightjar_wire::{checksum, parse_ip, parse_ip_snapped, parse_transport, skip_ipv6_extensions};

/// Whether `inner` lies within `outer` (a view must borrow, never invent, bytes).
fn within(outer: &[u8], inner: &[u8]) -> bool {
    let o = outer.as_ptr_range();
    let i = inner.as_ptr_range();
    inner.is_empty() || (o.start <= i.start && i.end <= o.end)
}

fuzz_target!(|data: &[u8]| {
    let _ = checksum::ip_header_ok(data);
    if let Ok(ip) = parse_ip(data) {
        assert!(within(data, ip.payload));
        assert!(!ip.snapped);
        assert!(ip.header_len as usize + ip.payload.len() <= data.len());
        let _ = checksum::transport_ok(&ip);
        if ip.fragment.is_none_or(|f| f.is_first())
            && let Ok(nightjar_wire::Transport::Tcp(seg)) = parse_transport(ip.protocol, ip.payload)
        {
            assert!(within(ip.payload, seg.payload));
            for _ in seg.options() {}
            let _ = seg.mss();
        }
        // A packet that parses whole parses the same when not cut.
        assert_eq!(parse_ip_snapped(data, data.len()).ok(), Some(ip));
    }
    for extra in [1usize, 40, 65_535] {
        if let Ok(ip) = parse_ip_snapped(data, data.len() + extra) {
            assert!(within(data, ip.payload));
        }
    }
    if let Some((&next, rest)) = data.split_first()
        && let Ok((_, payload, skipped)) = skip_ipv6_extensions(next, rest)
    {
        assert!(within(rest, payload));
        assert!(skipped <= rest.len());
    }
});
