//! Seal a client Initial around fuzzer-chosen frames, then parse and decrypt
//! it: the frames and packet number must come back unchanged. The sealed
//! packet also goes through `QuicHelloAssembler`, which puts fuzzer-chosen
//! plaintext behind real encryption (CRYPTO frame reassembly, TLS parsing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightjar_dissect::quic::{LongHeader, PacketType, decrypt_client_initial};
use nightjar_dissect::{QuicHelloAssembler, QuicProgress, seal_client_initial};
use nightjar_fuzz::roundtrip;

fuzz_target!(|data: &[u8]| {
    let input = roundtrip::decode(data);
    let Ok(sealed) = seal_client_initial(
        input.version,
        input.dcid,
        input.scid,
        input.packet_number,
        input.frames,
    ) else {
        return;
    };
    let (header, rest) = match LongHeader::parse(&sealed) {
        Ok(v) => v,
        Err(e) => panic!("sealed packet does not parse: {e:?}"),
    };
    assert!(
        rest.is_empty(),
        "{} bytes after the sealed packet",
        rest.len()
    );
    assert_eq!(header.version(), input.version);
    assert_eq!(header.dcid(), input.dcid);
    assert_eq!(header.scid(), input.scid);
    assert_eq!(header.packet_type(), PacketType::Initial);
    let plain = match decrypt_client_initial(&header) {
        Ok(p) => p,
        Err(e) => panic!("sealed packet does not decrypt: {e:?}"),
    };
    assert_eq!(plain.payload(), input.frames);
    assert_eq!(plain.packet_number(), u64::from(input.packet_number));
    for frame in plain.frames() {
        let _ = frame;
    }
    let mut assembler = QuicHelloAssembler::new();
    match assembler.push_datagram(&sealed) {
        QuicProgress::Done { version, hello } => {
            assert_eq!(version, input.version);
            assert!(hello.client_hello().is_ok());
        }
        QuicProgress::Skipped(e) => panic!("sealed Initial skipped: {e:?}"),
        _ => {}
    }
});
