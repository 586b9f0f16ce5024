//! Input of the QUIC seal/open round trip: a version selector, connection
//! IDs, a packet number and the plaintext frames.
//!
//! Layout: version byte (`% 5`: v1, v2, draft-29, draft-32, an unsupported
//! version), DCID length byte (`% 22`, so 21 is over the limit), SCID length
//! byte (`% 22`), `u32` packet number, the DCID, the SCID, then the frames.

use nightjar_dissect::quic::{VERSION_1, VERSION_2};

use crate::{take_bytes, take_u8};

/// Versions the selector byte picks from; the last is not QUIC.
pub const VERSIONS: [u32; 5] = [VERSION_1, VERSION_2, 0xff00_001d, 0xff00_0020, 0x0a0a_0a0a];

/// A decoded round-trip input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Input<'a> {
    /// QUIC version.
    pub version: u32,
    /// Destination connection ID.
    pub dcid: &'a [u8],
    /// Source connection ID.
    pub scid: &'a [u8],
    /// Packet number.
    pub packet_number: u32,
    /// Plaintext frames.
    pub frames: &'a [u8],
}

/// Decode an input.
pub fn decode(mut data: &[u8]) -> Input<'_> {
    let d = &mut data;
    let version = VERSIONS
        .get(usize::from(take_u8(d).unwrap_or(0) % 5))
        .copied()
        .unwrap_or(VERSION_1);
    let dcid_len = usize::from(take_u8(d).unwrap_or(8) % 22);
    let scid_len = usize::from(take_u8(d).unwrap_or(0) % 22);
    let pn = take_bytes(d, 4);
    let packet_number = pn.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
    let dcid = take_bytes(d, dcid_len);
    let scid = take_bytes(d, scid_len);
    Input {
        version,
        dcid,
        scid,
        packet_number,
        frames: data,
    }
}

/// Encode an input; `version` must be one of [`VERSIONS`] and the IDs at
/// most 21 bytes for it to decode back unchanged.
pub fn encode(input: &Input<'_>) -> Vec<u8> {
    let sel = VERSIONS
        .iter()
        .position(|v| *v == input.version)
        .unwrap_or(0);
    let mut out = vec![sel as u8, input.dcid.len() as u8, input.scid.len() as u8];
    out.extend_from_slice(&input.packet_number.to_be_bytes());
    out.extend_from_slice(input.dcid);
    out.extend_from_slice(input.scid);
    out.extend_from_slice(input.frames);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let input = Input {
            version: VERSION_2,
            dcid: &[1, 2, 3, 4, 5, 6, 7, 8],
            scid: &[9],
            packet_number: 0x0102_0304,
            frames: &[6, 0, 1, 0xaa],
        };
        assert_eq!(decode(&encode(&input)), input);
        let short = decode(&[1]);
        assert_eq!(short.version, VERSION_2);
        assert!(short.dcid.is_empty() && short.frames.is_empty());
    }
}
