//! Opening an arbitrary (corrupt, truncated, hostile) index file and looking
//! names and addresses up in it: an error or a verdict, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(index) = nightjar_intel::Index::from_bytes(data.to_vec()) else {
        return;
    };
    for name in [
        "example.org",
        "a.b.example.org",
        "xn--e1afmkfd.xn--p1ai",
        "x",
    ] {
        let _ = index.lookup_domain(name, 1_800_000_000_000_000);
    }
    for ip in ["192.0.2.1", "2001:db8::1", "0.0.0.0"] {
        if let Ok(ip) = ip.parse() {
            let _ = index.lookup_ip(ip, 1_800_000_000_000_000);
        }
    }
    let _ = index.stats();
});
