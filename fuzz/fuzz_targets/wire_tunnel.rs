//! Tunnel decapsulation (IP in IP, GRE, GTP-U) on raw bytes: the first byte picks
//! the outer protocol, the rest is its payload; an inner packet found is parsed
//! as IP, and as a tunnel again, as the engine does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightjar_wire::{parse_ip, proto, tunnel};

/// Whether `inner` lies within `outer` (a view must borrow, never invent, bytes).
fn within(outer: &[u8], inner: &[u8]) -> bool {
    let o = outer.as_ptr_range();
    let i = inner.as_ptr_range();
    inner.is_empty() || (o.start <= i.start && i.end <= o.end)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    let protocol = match selector % 4 {
        0 => tunnel::IPIP,
        1 => tunnel::IPV6_IN_IP,
        2 => tunnel::GRE,
        _ => proto::UDP,
    };
    let mut bytes = payload;
    let mut protocol = protocol;
    // Bounded as the engine bounds it; each level must borrow from the last.
    for _ in 0..3 {
        let carries = tunnel::may_carry(protocol, bytes);
        match tunnel::open(protocol, bytes) {
            Ok(Some(e)) => {
                assert!(carries, "opened a packet may_carry refused");
                assert!(within(bytes, e.inner));
                let Ok(ip) = parse_ip(e.inner) else { return };
                assert!(within(e.inner, ip.payload));
                bytes = ip.payload;
                protocol = ip.protocol;
            }
            Ok(None) => {
                assert!(!carries, "may_carry promised a tunnel open did not find");
                return;
            }
            Err(_) => return,
        }
    }
});
