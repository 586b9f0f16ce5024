//! Google QUIC client hellos (`nightjar_dissect::gquic`). The first byte picks:
//! - raw bytes as a client datagram: `looks_like_gquic`, `chlo_from_datagram`,
//!   `open_q050_initial` and the CHLO tag reader must answer without a panic;
//! - a CHLO built from fuzzer-chosen tag values (SNI, UAID, then fuzzer tags),
//!   carried in a Q043, Q046 or Q050 packet the module's own builders make:
//!   the reader must find exactly the CHLO that went in.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightjar_dissect::gquic::{self, GquicError, Q043, Q046, Q050, build};

/// Checks what any CHLO read from `data` promises.
fn check_chlo(chlo: &gquic::Chlo) {
    assert!(chlo.tags <= gquic::MAX_TAGS);
    if let Some(sni) = &chlo.server_name {
        assert!(!sni.is_empty());
        assert!(
            sni.bytes()
                .all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase())
        );
    }
    assert!(gquic::is_gquic_version(chlo.version));
}

fn raw(data: &[u8]) {
    let looks = gquic::looks_like_gquic(data);
    match gquic::chlo_from_datagram(data) {
        Ok(chlo) => {
            assert!(
                looks,
                "a CHLO came out of a datagram looks_like_gquic refused"
            );
            check_chlo(&chlo);
        }
        Err(_) => {}
    }
    if let Ok(frames) = gquic::open_q050_initial(data) {
        assert!(
            frames.len() + 16 < data.len(),
            "plaintext longer than the packet"
        );
    }
    if let Ok(tags) = gquic::tags(data) {
        assert!(tags.len() <= gquic::MAX_TAGS);
        let range = data.as_ptr_range();
        for (_, value) in &tags {
            let v = value.as_ptr_range();
            assert!(value.is_empty() || (range.start <= v.start && v.end <= range.end));
        }
    }
}

/// Splits off a length-prefixed (one byte) field.
fn field(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return (&[], &[]);
    };
    rest.split_at(usize::from(n).min(rest.len()))
}

fn built(selector: u8, data: &[u8]) {
    let (sni, rest) = field(data);
    let (uaid, rest) = field(rest);
    // Further tags: 4-byte tag names (kept above `UAID` so the order stays
    // ascending as Google QUIC requires), each with a short value.
    let mut tags: Vec<([u8; 4], &[u8])> = vec![(*b"SNI\0", sni), (*b"UAID", uaid)];
    let mut rest = rest;
    while tags.len() < gquic::MAX_TAGS {
        let Some((name, after)) = rest.split_first_chunk::<3>() else {
            break;
        };
        let (value, after) = field(after);
        tags.push(([b'Z', name[0] | 0x80, name[1], name[2]], value));
        rest = after;
    }
    let Ok(message) = build::chlo_message(&tags) else {
        return;
    };
    let cid = [selector, 1, 2, 3, 4, 5, 6, 7];
    let (version, packet) = match selector % 3 {
        0 => (Q043, build::unencrypted_packet(Q043, cid, &message, 1350)),
        1 => (Q046, build::unencrypted_packet(Q046, cid, &message, 1350)),
        _ => (Q050, build::q050_packet(&cid, &message, 1350)),
    };
    let Ok(packet) = packet else { return };
    assert!(gquic::looks_like_gquic(&packet));
    match gquic::chlo_from_datagram(&packet) {
        Ok(chlo) => {
            check_chlo(&chlo);
            assert_eq!(chlo.version, version);
            assert_eq!(chlo.tags, tags.len());
            let printable = !sni.is_empty() && sni.iter().all(u8::is_ascii_graphic);
            let want = printable.then(|| String::from_utf8_lossy(sni).to_ascii_lowercase());
            assert_eq!(chlo.server_name, want);
        }
        // The only refusal a well-built packet may meet: a CHLO too long for
        // the packet's 2-byte lengths (the builders refuse those first).
        Err(e) => assert!(
            matches!(e, GquicError::Truncated | GquicError::BadChlo),
            "built {version:#x} packet refused: {e:?}"
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector & 0x80 == 0 {
        raw(rest);
    } else {
        built(selector & 0x7f, rest);
    }
});
