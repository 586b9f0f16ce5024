//! QUIC client datagrams of one flow (length-prefixed records): long-header
//! parsing, Initial decryption, frame iteration, the single-datagram helper
//! and `QuicHelloAssembler` across datagrams.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightjar_dissect::quic::{PacketType, decrypt_client_initial, long_packets};
use nightjar_dissect::{
    QuicHelloAssembler, QuicProgress, Transport, client_hello_from_datagram, ja4,
};
use nightjar_fuzz::records;

fuzz_target!(|data: &[u8]| {
    let mut assembler = QuicHelloAssembler::new();
    let mut finished = false;
    for datagram in records::decode(data) {
        for packet in long_packets(datagram).flatten() {
            let _ = (
                packet.version(),
                packet.dcid(),
                packet.scid(),
                packet.token(),
            );
            assert!(packet.pn_offset() <= packet.packet().len());
            if packet.packet_type() == PacketType::Initial
                && let Ok(plain) = decrypt_client_initial(&packet)
            {
                for frame in plain.frames() {
                    let _ = frame;
                }
                let _ = (plain.packet_number(), plain.header());
            }
        }
        if let Ok(hello) = client_hello_from_datagram(datagram) {
            let h = hello.client_hello();
            assert!(h.is_ok(), "helper delivered an unparsable hello");
        }
        match assembler.push_datagram(datagram) {
            QuicProgress::Done { hello, .. } => {
                assert!(!finished);
                finished = true;
                match hello.client_hello() {
                    Ok(h) => {
                        let _ = ja4(&h, Transport::Quic);
                    }
                    Err(e) => panic!("assembler delivered an unparsable hello: {e:?}"),
                }
            }
            QuicProgress::Failed(_) => {
                assert!(!finished);
                finished = true;
            }
            QuicProgress::Finished => assert!(finished, "Finished before any result"),
            _ => assert!(!finished, "kept going after a result"),
        }
    }
    let _ = assembler.counters();
});
