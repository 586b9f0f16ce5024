//! Google QUIC client packets built from their parts, for generated captures,
//! tests and fuzz seeds: the inverse of what [`super::chlo_from_datagram`] reads.

use super::{GquicError, Q046, seal_q050_initial};

/// A `CHLO` message holding `tags` in the order given (Google QUIC requires
/// ascending tag order; callers pass them so).
pub fn chlo_message(tags: &[([u8; 4], &[u8])]) -> Result<Vec<u8>, GquicError> {
    let count = u16::try_from(tags.len()).map_err(|_| GquicError::BadChlo)?;
    let mut out = b"CHLO".to_vec();
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    let mut end = 0u32;
    for (tag, value) in tags {
        end += u32::try_from(value.len()).map_err(|_| GquicError::BadChlo)?;
        out.extend_from_slice(tag);
        out.extend_from_slice(&end.to_le_bytes());
    }
    for (_, value) in tags {
        out.extend_from_slice(value);
    }
    Ok(out)
}

/// An unencrypted client packet of `version` (Q039–Q045: public header;
/// Q046: long header) carrying `chlo` on stream 1, padded to `pad_to` bytes.
pub fn unencrypted_packet(
    version: u32,
    cid: [u8; 8],
    chlo: &[u8],
    pad_to: usize,
) -> Result<Vec<u8>, GquicError> {
    let mut out = if version == Q046 {
        // Long header, Initial, 4-byte packet number; DCIL nibble 5 (8 bytes), no SCID.
        let mut h = vec![0xc3];
        h.extend_from_slice(&version.to_be_bytes());
        h.push(0x50);
        h.extend_from_slice(&cid);
        h.extend_from_slice(&1u32.to_be_bytes());
        h
    } else {
        // Version flag and 8-byte connection ID; 1-byte packet number.
        let mut h = vec![0x09];
        h.extend_from_slice(&cid);
        h.extend_from_slice(&version.to_be_bytes());
        h.push(1);
        h
    };
    // The message authentication hash (FNV-1a-128, truncated); readers skip it.
    out.extend_from_slice(&[0u8; 12]);
    let len = u16::try_from(chlo.len()).map_err(|_| GquicError::BadChlo)?;
    // STREAM: data length present, no offset, 1-byte stream id 1.
    out.extend_from_slice(&[0xa0, 0x01]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(chlo);
    if out.len() < pad_to {
        out.resize(pad_to, 0);
    }
    Ok(out)
}

/// A protected Q050 Initial to `dcid` carrying `chlo` in a CRYPTO frame (0x08),
/// padded so the datagram is at least `pad_to` bytes.
pub fn q050_packet(dcid: &[u8], chlo: &[u8], pad_to: usize) -> Result<Vec<u8>, GquicError> {
    let mut frames = vec![0x08, 0x00];
    let len = u16::try_from(chlo.len())
        .ok()
        .filter(|&l| l < 1 << 14)
        .ok_or(GquicError::BadChlo)?;
    frames.extend_from_slice(&(0x4000 | len).to_be_bytes());
    frames.extend_from_slice(chlo);
    // Header: 1 + 4 + 1 + dcid + 1 + 1 + 2 + 4, then frames and the 16-byte tag.
    let overhead = 14 + dcid.len() + 16;
    if frames.len() + overhead < pad_to {
        frames.resize(pad_to - overhead, 0);
    }
    seal_q050_initial(dcid, 0, &frames)
}
