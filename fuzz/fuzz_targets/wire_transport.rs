//! `parse_transport` and `parse_transport_snapped` for every protocol number,
//! TCP option iteration and the MSS lookup.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightjar_wire::{Transport, parse_transport, parse_transport_snapped};

fuzz_target!(|data: &[u8]| {
    let Some((&protocol, payload)) = data.split_first() else {
        return;
    };
    let whole = parse_transport(protocol, payload);
    let snapped = parse_transport_snapped(protocol, payload);
    // The snapped parse only adds answers; it never changes one.
    if let Ok(t) = &whole {
        assert_eq!(snapped.as_ref().ok(), Some(t));
    }
    for t in [whole.ok(), snapped.ok()].into_iter().flatten() {
        match t {
            Transport::Tcp(seg) => {
                let mut n = 0usize;
                for option in seg.options() {
                    n += 1;
                    let _ = option;
                }
                // Every option takes at least one byte.
                assert!(n <= seg.options.len());
                let _ = seg.mss();
                let _ = (
                    seg.flags.syn(),
                    seg.flags.ack(),
                    seg.flags.fin(),
                    seg.flags.rst(),
                );
            }
            Transport::Udp { payload: p, .. } => assert!(p.len() <= payload.len()),
            _ => {}
        }
    }
});
