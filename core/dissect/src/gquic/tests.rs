use super::build::{chlo_message, q050_packet, unencrypted_packet};
use super::*;

const CID: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

fn sample_chlo(sni: &[u8]) -> Vec<u8> {
    // Tags in ascending order as Chromium sends them (little-endian tag values).
    chlo_message(&[
        (*b"PAD\0", &[0x2d; 40]),
        (*b"SNI\0", sni),
        (*b"VER\0", b"Q043"),
        (*b"UAID", b"Chrome/86.0.4240.198 Linux x86_64"),
    ])
    .unwrap()
}

#[test]
fn q043_public_header_chlo() {
    let d = unencrypted_packet(Q043, CID, &sample_chlo(b"www.Example.com"), 1350).unwrap();
    assert_eq!(d.len(), 1350);
    assert!(looks_like_gquic(&d));
    let c = chlo_from_datagram(&d).unwrap();
    assert_eq!(c.version, Q043);
    assert_eq!(c.server_name.as_deref(), Some("www.example.com"));
    assert_eq!(
        c.user_agent.as_deref(),
        Some("Chrome/86.0.4240.198 Linux x86_64")
    );
    assert_eq!(c.tags, 4);
}

#[test]
fn q046_long_header_chlo() {
    let d = unencrypted_packet(Q046, CID, &sample_chlo(b"q46.example"), 1350).unwrap();
    assert_eq!(d[0], 0xc3);
    assert!(looks_like_gquic(&d));
    let c = chlo_from_datagram(&d).unwrap();
    assert_eq!(
        (c.version, c.server_name.as_deref()),
        (Q046, Some("q46.example"))
    );
}

#[test]
fn q050_initial_protection_round_trips() {
    let d = q050_packet(&CID, &sample_chlo(b"q50.example"), 1350).unwrap();
    assert!(d.len() >= 1350);
    assert!(looks_like_gquic(&d));
    let c = chlo_from_datagram(&d).unwrap();
    assert_eq!(
        (c.version, c.server_name.as_deref()),
        (Q050, Some("q50.example"))
    );
    // Any flipped bit past the header fails authentication instead of misleading.
    let mut bad = d.clone();
    bad[200] ^= 0x10;
    assert_eq!(chlo_from_datagram(&bad), Err(GquicError::Decrypt));
}

#[test]
fn q050_keys_follow_the_draft_29_schedule_with_their_own_salt() {
    // The same derivation with draft-29's salt must give RFC draft-29's client
    // keys for the appendix A DCID: checks expand_label against published values.
    let dcid = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];
    let draft29_salt = [
        0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11,
        0xe0, 0x43, 0x90, 0xa8, 0x99,
    ];
    let initial = hkdf::Salt::new(hkdf::HKDF_SHA256, &draft29_salt).extract(&dcid);
    let mut client = [0u8; 32];
    expand_label(&initial, b"client in", &mut client).unwrap();
    let client = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, &client);
    let mut key = [0u8; 16];
    expand_label(&client, b"quic key", &mut key).unwrap();
    // draft-ietf-quic-tls-29 appendix A.1: key = 175257a31eb09dea9366d8bb79ad80ba.
    assert_eq!(
        key,
        [
            0x17, 0x52, 0x57, 0xa3, 0x1e, 0xb0, 0x9d, 0xea, 0x93, 0x66, 0xd8, 0xbb, 0x79, 0xad,
            0x80, 0xba
        ]
    );
}

#[test]
fn not_gquic_and_unsupported_versions() {
    assert_eq!(chlo_from_datagram(&[]), Err(GquicError::Truncated));
    // IETF QUIC v1 long header.
    assert_eq!(
        chlo_from_datagram(&[0xc3, 0, 0, 0, 1, 8]),
        Err(GquicError::NotGquic)
    );
    let mut q035 = unencrypted_packet(Q043, CID, &sample_chlo(b"a.b"), 0).unwrap();
    q035[9..13].copy_from_slice(b"Q035");
    assert_eq!(
        chlo_from_datagram(&q035),
        Err(GquicError::UnsupportedVersion(u32::from_be_bytes(*b"Q035")))
    );
    let mut handshake = unencrypted_packet(Q046, CID, &sample_chlo(b"a.b"), 0).unwrap();
    handshake[0] = 0xe3;
    assert_eq!(chlo_from_datagram(&handshake), Err(GquicError::NotInitial));
    assert!(!looks_like_gquic(&[0x40; 20]));
}

#[test]
fn tag_table_is_checked() {
    assert_eq!(tags(b"SHLO\0\0\0\0"), Err(GquicError::BadChlo));
    // Offsets must not go backwards.
    let mut m = chlo_message(&[(*b"AAAA", b"xx"), (*b"BBBB", b"yy")]).unwrap();
    m[20..24].copy_from_slice(&1u32.to_le_bytes());
    assert_eq!(tags(&m), Err(GquicError::BadChlo));
    // A value past the data ends the list (CHLO continued elsewhere).
    let m = chlo_message(&[(*b"AAAA", b"xx"), (*b"SNI\0", b"cut.example")]).unwrap();
    let got = tags(&m[..m.len() - 3]).unwrap();
    assert_eq!(got, vec![(*b"AAAA", &b"xx"[..])]);
    // Unprintable SNI is not a name.
    let d = unencrypted_packet(Q043, CID, &sample_chlo(b"bad\x01name"), 0).unwrap();
    assert_eq!(chlo_from_datagram(&d).unwrap().server_name, None);
}

#[test]
fn every_prefix_and_bit_flip_is_an_answer_not_a_panic() {
    for d in [
        unencrypted_packet(Q043, CID, &sample_chlo(b"x.example"), 200).unwrap(),
        unencrypted_packet(Q046, CID, &sample_chlo(b"x.example"), 200).unwrap(),
        q050_packet(&CID, &sample_chlo(b"x.example"), 200).unwrap(),
    ] {
        for n in 0..=d.len() {
            let _ = chlo_from_datagram(&d[..n]);
            let _ = looks_like_gquic(&d[..n]);
        }
        for i in 0..d.len().min(120) * 8 {
            let mut b = d.clone();
            b[i / 8] ^= 1 << (i % 8);
            let _ = chlo_from_datagram(&b);
        }
    }
}
