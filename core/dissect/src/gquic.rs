//! Google QUIC (Q043–Q050) client hellos: the CHLO's tag/value map, where the
//! SNI and user agent sit in the clear.
//!
//! - Q039–Q045 use the public header (flags, 8-byte connection ID, version,
//!   packet number) and leave the first packets unencrypted behind a 12-byte
//!   message authentication hash.
//! - Q046 moves to a long header (first byte `11TT PPPP`, a DCIL/SCIL nibble
//!   byte) with the same unencrypted payload.
//! - Q050 uses the IETF long header and protects Initials as draft-29 does
//!   (RFC 9001 §5), with its own salt; its CRYPTO frame has type 0x08.
//!
//! In every version the handshake message is `CHLO`, a little-endian tag count,
//! two bytes of padding, then (tag, end offset) pairs and the values they bound.
//! The CHLO travels on stream 1 (STREAM frames before Q050).

use ring::aead::quic::{AES_128, HeaderProtectionKey};
use ring::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf;

use crate::cursor::Cursor;

pub mod build;

/// Q043 (the last public-header version in wide use).
pub const Q043: u32 = u32::from_be_bytes(*b"Q043");
/// Q046 (long header, unencrypted CHLO).
pub const Q046: u32 = u32::from_be_bytes(*b"Q046");
/// Q050 (IETF long header, Initial protection).
pub const Q050: u32 = u32::from_be_bytes(*b"Q050");

/// The Q050 Initial salt (Chromium's `kQ050Salt`).
const Q050_SALT: [u8; 20] = [
    0x50, 0x45, 0x74, 0xef, 0xd0, 0x66, 0xfe, 0x2f, 0x9d, 0x94, 0x5c, 0xfc, 0xdb, 0xd3, 0xa7, 0xf0,
    0xd3, 0xb5, 0x6b, 0x45,
];
const HASH_LEN: usize = 12;
const TAG_LEN: usize = 16;
const MAX_CID_LEN: usize = 20;
/// Tags read from one CHLO at most (Chromium sends about 25).
pub const MAX_TAGS: usize = 128;
/// The crypto stream's id before version 47.
const CRYPTO_STREAM: u64 = 1;

/// Why a datagram yields no CHLO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GquicError {
    /// Not a Google QUIC client packet with a version (IETF QUIC, other UDP, a
    /// packet without the version flag).
    #[error("not a Google QUIC packet with a version")]
    NotGquic,
    /// A Google QUIC version this module does not read (before Q039, T05x, Q047–Q049).
    #[error("Google QUIC version {0:#010x} not supported")]
    UnsupportedVersion(u32),
    /// Not the Initial packet type (Q046, Q050).
    #[error("not an Initial packet")]
    NotInitial,
    /// The bytes end before a header or frame does.
    #[error("truncated Google QUIC packet")]
    Truncated,
    /// A Q050 Initial that does not authenticate with the client's keys.
    #[error("Q050 Initial failed to decrypt")]
    Decrypt,
    /// No stream-1 (or CRYPTO) data before a frame this module cannot skip.
    #[error("no CHLO frame")]
    NoCryptoFrame,
    /// The crypto data is not a CHLO, or its tag table is inconsistent.
    #[error("malformed CHLO")]
    BadChlo,
}

/// What a CHLO says about the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chlo {
    /// The Google QUIC version of the packet.
    pub version: u32,
    /// `SNI` tag, if present and printable ASCII.
    pub server_name: Option<String>,
    /// `UAID` tag (the client's user agent), if printable ASCII.
    pub user_agent: Option<String>,
    /// Tags read.
    pub tags: usize,
}

/// Whether `version` is a Google QUIC version tag (`Q0xx` or `T0xx`).
pub fn is_gquic_version(version: u32) -> bool {
    let [a, b, c, d] = version.to_be_bytes();
    matches!(a, b'Q' | b'T') && b == b'0' && c.is_ascii_digit() && d.is_ascii_digit()
}

/// A cheap look at the first bytes: a Google QUIC client packet carrying its version.
pub fn looks_like_gquic(datagram: &[u8]) -> bool {
    match datagram {
        // Public header: version flag, 8-byte connection ID, no reset, no multipath.
        [flags, _, _, _, _, _, _, _, _, v0, v1, v2, v3, ..] if flags & 0xcb == 0x09 => {
            is_gquic_version(u32::from_be_bytes([*v0, *v1, *v2, *v3]))
        }
        [first, v0, v1, v2, v3, ..] if first & 0x80 != 0 => {
            is_gquic_version(u32::from_be_bytes([*v0, *v1, *v2, *v3]))
        }
        _ => false,
    }
}

/// The CHLO in a client's first datagram.
pub fn chlo_from_datagram(datagram: &[u8]) -> Result<Chlo, GquicError> {
    let first = *datagram.first().ok_or(GquicError::Truncated)?;
    if first & 0x80 == 0 {
        return public_header_packet(datagram);
    }
    let version = be32(datagram, 1)?;
    match version {
        Q046 => q046_packet(datagram),
        Q050 => q050_packet(datagram),
        v if is_gquic_version(v) => Err(GquicError::UnsupportedVersion(v)),
        _ => Err(GquicError::NotGquic),
    }
}

fn be32(b: &[u8], at: usize) -> Result<u32, GquicError> {
    match b.get(at..at + 4) {
        Some([a, b, c, d]) => Ok(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => Err(GquicError::Truncated),
    }
}

fn unencrypted_version(version: u32) -> bool {
    // Q039 made every multi-byte field big-endian; earlier versions are not read.
    is_gquic_version(version)
        && version.to_be_bytes()[0] == b'Q'
        && (u32::from_be_bytes(*b"Q039")..=Q046).contains(&version)
}

/// Q039–Q045: flags, 8-byte connection ID, version, packet number, hash, frames.
fn public_header_packet(datagram: &[u8]) -> Result<Chlo, GquicError> {
    let flags = *datagram.first().ok_or(GquicError::Truncated)?;
    // Version present, 8-byte CID, no reset, no diversification nonce (server only).
    if flags & 0xcf != 0x09 {
        return Err(GquicError::NotGquic);
    }
    let version = be32(datagram, 9)?;
    if !is_gquic_version(version) {
        return Err(GquicError::NotGquic);
    }
    if !unencrypted_version(version) || version == Q046 {
        return Err(GquicError::UnsupportedVersion(version));
    }
    let pn_len = match (flags >> 4) & 0x03 {
        0 => 1,
        1 => 2,
        2 => 4,
        _ => 6,
    };
    let payload = datagram
        .get(13 + pn_len + HASH_LEN..)
        .ok_or(GquicError::Truncated)?;
    chlo(version, stream_one(payload)?)
}

/// Q046: `11TT PPPP`, version, DCIL/SCIL nibbles, CIDs, packet number, hash, frames.
fn q046_packet(datagram: &[u8]) -> Result<Chlo, GquicError> {
    let first = *datagram.first().ok_or(GquicError::Truncated)?;
    if (first >> 4) & 0x03 != 0 {
        return Err(GquicError::NotInitial);
    }
    let lens = *datagram.get(5).ok_or(GquicError::Truncated)?;
    let cid = |n: u8| if n == 0 { 0 } else { usize::from(n) + 3 };
    let pn_len = usize::from(first & 0x03) + 1;
    let start = 6 + cid(lens >> 4) + cid(lens & 0x0f) + pn_len + HASH_LEN;
    let payload = datagram.get(start..).ok_or(GquicError::Truncated)?;
    chlo(Q046, stream_one(payload)?)
}

/// STREAM frames (type `1fdooossb`) on stream 1 until the first other frame;
/// the first one at offset 0 holds the CHLO in a client's first packet.
fn stream_one(payload: &[u8]) -> Result<&[u8], GquicError> {
    let mut c = Cursor::new(payload);
    loop {
        let t = c.u8().ok_or(GquicError::NoCryptoFrame)?;
        match t {
            t if t & 0x80 != 0 => {
                let has_len = t & 0x20 != 0;
                let offset_len = match (t >> 2) & 0x07 {
                    0 => 0,
                    n => usize::from(n) + 1,
                };
                let id_len = usize::from(t & 0x03) + 1;
                let id = c.take(id_len).ok_or(GquicError::Truncated)?;
                let offset = c.take(offset_len).ok_or(GquicError::Truncated)?;
                let data = if has_len {
                    let len = c.u16().ok_or(GquicError::Truncated)?;
                    c.take(usize::from(len)).ok_or(GquicError::Truncated)?
                } else {
                    c.remaining()
                };
                if be_uint(id) == CRYPTO_STREAM && be_uint(offset) == 0 {
                    return Ok(data);
                }
                if !has_len {
                    return Err(GquicError::NoCryptoFrame);
                }
            }
            // PING.
            0x07 => {}
            // PADDING runs to the end; anything else (ACK, STOP_WAITING…) ends the search.
            _ => return Err(GquicError::NoCryptoFrame),
        }
    }
}

fn be_uint(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |v, &x| (v << 8) | u64::from(x))
}

/// Q050: an IETF long-header Initial with Q050's salt; CRYPTO frames are type 0x08.
fn q050_packet(datagram: &[u8]) -> Result<Chlo, GquicError> {
    let plain = open_q050_initial(datagram)?;
    let mut c = Cursor::new(&plain);
    loop {
        match c.u8().ok_or(GquicError::NoCryptoFrame)? {
            0x00 | 0x01 => {}
            0x08 => {
                let offset = c.varint().ok_or(GquicError::Truncated)?;
                let len = c.varint().ok_or(GquicError::Truncated)?;
                let len = usize::try_from(len).map_err(|_| GquicError::Truncated)?;
                let data = c.take(len).ok_or(GquicError::Truncated)?;
                if offset == 0 {
                    return chlo(Q050, data);
                }
            }
            _ => return Err(GquicError::NoCryptoFrame),
        }
    }
}

/// Where a Q050 Initial's fields are.
struct Q050Header<'a> {
    dcid: &'a [u8],
    pn_offset: usize,
    end: usize,
}

fn q050_header(datagram: &[u8]) -> Result<Q050Header<'_>, GquicError> {
    let mut c = Cursor::new(datagram);
    let first = c.u8().ok_or(GquicError::Truncated)?;
    if (first >> 4) & 0x03 != 0 {
        return Err(GquicError::NotInitial);
    }
    c.u32().ok_or(GquicError::Truncated)?;
    let dcid = c.vec8().ok_or(GquicError::Truncated)?;
    let scid = c.vec8().ok_or(GquicError::Truncated)?;
    if dcid.len() > MAX_CID_LEN || scid.len() > MAX_CID_LEN {
        return Err(GquicError::NotGquic);
    }
    let token_len = c.varint().ok_or(GquicError::Truncated)?;
    c.take(usize::try_from(token_len).map_err(|_| GquicError::Truncated)?)
        .ok_or(GquicError::Truncated)?;
    let length = c.varint().ok_or(GquicError::Truncated)?;
    let pn_offset = datagram.len() - c.remaining().len();
    let end = usize::try_from(length)
        .ok()
        .and_then(|l| pn_offset.checked_add(l))
        .filter(|&e| e <= datagram.len())
        .ok_or(GquicError::Truncated)?;
    Ok(Q050Header {
        dcid,
        pn_offset,
        end,
    })
}

/// The client's Q050 Initial keys for `dcid`: key, iv, header protection.
/// A client's Initial secrets: packet key, IV, header protection key.
type InitialSecrets = ([u8; 16], [u8; 12], [u8; 16]);

fn q050_keys(dcid: &[u8]) -> Result<InitialSecrets, GquicError> {
    let initial = hkdf::Salt::new(hkdf::HKDF_SHA256, &Q050_SALT).extract(dcid);
    let mut client = [0u8; 32];
    expand_label(&initial, b"client in", &mut client)?;
    let client = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, &client);
    let (mut key, mut iv, mut hp) = ([0u8; 16], [0u8; 12], [0u8; 16]);
    expand_label(&client, b"quic key", &mut key)?;
    expand_label(&client, b"quic iv", &mut iv)?;
    expand_label(&client, b"quic hp", &mut hp)?;
    Ok((key, iv, hp))
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// RFC 8446 §7.1 HKDF-Expand-Label with an empty context.
fn expand_label(prk: &hkdf::Prk, label: &[u8], out: &mut [u8]) -> Result<(), GquicError> {
    let len = u16::try_from(out.len()).map_err(|_| GquicError::Decrypt)?;
    let full_len = u8::try_from(6 + label.len()).map_err(|_| GquicError::Decrypt)?;
    let len_bytes = len.to_be_bytes();
    let info: [&[u8]; 5] = [&len_bytes, &[full_len], b"tls13 ", label, &[0]];
    prk.expand(&info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| GquicError::Decrypt)
}

fn header_mask(hp: &[u8; 16], sample: &[u8]) -> Result<[u8; 5], GquicError> {
    HeaderProtectionKey::new(&AES_128, hp)
        .and_then(|k| k.new_mask(sample))
        .map_err(|_| GquicError::Decrypt)
}

fn nonce(iv: &[u8; 12], pn: u64) -> Nonce {
    let mut n = *iv;
    for (b, p) in n.iter_mut().rev().zip(pn.to_le_bytes()) {
        *b ^= p;
    }
    Nonce::assume_unique_for_key(n)
}

/// Removes header and packet protection from a Q050 client Initial (a copy);
/// returns its frames.
pub fn open_q050_initial(datagram: &[u8]) -> Result<Vec<u8>, GquicError> {
    let h = q050_header(datagram)?;
    let (key, iv, hp) = q050_keys(h.dcid)?;
    let sample = datagram
        .get(h.pn_offset + 4..h.pn_offset + 4 + 16)
        .ok_or(GquicError::Truncated)?;
    let mask = header_mask(&hp, sample)?;
    let mut packet = datagram.get(..h.end).ok_or(GquicError::Truncated)?.to_vec();
    let [m0, pn_mask @ ..] = mask;
    let first = packet.first_mut().ok_or(GquicError::Truncated)?;
    *first ^= m0 & 0x0f;
    let pn_len = usize::from(*first & 0x03) + 1;
    let mut pn = 0u64;
    for (i, m) in pn_mask.iter().take(pn_len).enumerate() {
        let b = packet
            .get_mut(h.pn_offset + i)
            .ok_or(GquicError::Truncated)?;
        *b ^= m;
        pn = (pn << 8) | u64::from(*b);
    }
    let payload_at = h.pn_offset + pn_len;
    if packet.len() < payload_at + TAG_LEN {
        return Err(GquicError::Truncated);
    }
    let (header, body) = packet.split_at_mut(payload_at);
    let aead =
        LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &key).map_err(|_| GquicError::Decrypt)?);
    let plain = aead
        .open_in_place(nonce(&iv, pn), Aad::from(&*header), body)
        .map_err(|_| GquicError::Decrypt)?;
    Ok(plain.to_vec())
}

/// Builds a protected Q050 client Initial carrying `frames` (4-byte packet
/// number, 2-byte Length): the inverse of [`open_q050_initial`], for generators
/// and fuzz round trips.
pub fn seal_q050_initial(dcid: &[u8], pn: u32, frames: &[u8]) -> Result<Vec<u8>, GquicError> {
    if dcid.len() > MAX_CID_LEN {
        return Err(GquicError::NotGquic);
    }
    let (key, iv, hp) = q050_keys(dcid)?;
    let length = u16::try_from(4 + frames.len() + TAG_LEN)
        .ok()
        .filter(|&l| l < 1 << 14)
        .ok_or(GquicError::Truncated)?;
    let mut out = vec![0xc3];
    out.extend_from_slice(&Q050.to_be_bytes());
    out.push(u8::try_from(dcid.len()).map_err(|_| GquicError::NotGquic)?);
    out.extend_from_slice(dcid);
    out.push(0); // no SCID
    out.push(0); // no token
    out.extend_from_slice(&(0x4000 | length).to_be_bytes());
    let pn_offset = out.len();
    out.extend_from_slice(&pn.to_be_bytes());
    let mut body = frames.to_vec();
    let aead =
        LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &key).map_err(|_| GquicError::Decrypt)?);
    aead.seal_in_place_append_tag(nonce(&iv, u64::from(pn)), Aad::from(&out[..]), &mut body)
        .map_err(|_| GquicError::Decrypt)?;
    out.extend_from_slice(&body);
    let sample = out
        .get(pn_offset + 4..pn_offset + 20)
        .ok_or(GquicError::Truncated)?;
    let [m0, pn_mask @ ..] = header_mask(&hp, sample)?;
    if let Some(first) = out.first_mut() {
        *first ^= m0 & 0x0f;
    }
    for (i, m) in pn_mask.iter().enumerate() {
        if let Some(b) = out.get_mut(pn_offset + i) {
            *b ^= m;
        }
    }
    Ok(out)
}

/// Reads a CHLO message's tag/value map.
fn chlo(version: u32, data: &[u8]) -> Result<Chlo, GquicError> {
    let mut out = Chlo {
        version,
        server_name: None,
        user_agent: None,
        tags: 0,
    };
    for (tag, value) in tags(data)? {
        out.tags += 1;
        let text = || {
            core::str::from_utf8(value)
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic()))
                .map(str::to_owned)
        };
        match &tag {
            b"SNI\0" => out.server_name = text().map(|s| s.to_ascii_lowercase()),
            b"UAID" => {
                out.user_agent = core::str::from_utf8(value)
                    .ok()
                    .filter(|s| s.bytes().all(|b| b == b' ' || b.is_ascii_graphic()))
                    .map(str::to_owned)
            }
            _ => {}
        }
    }
    Ok(out)
}

/// One CHLO entry: the 4-byte tag and its value.
pub type Tag<'a> = ([u8; 4], &'a [u8]);

/// The (tag, value) pairs of a `CHLO` message, up to [`MAX_TAGS`]; values that
/// the data does not hold (a CHLO continued in a later packet) end the list.
pub fn tags(data: &[u8]) -> Result<Vec<Tag<'_>>, GquicError> {
    let mut c = Cursor::new(data);
    if c.take(4) != Some(b"CHLO".as_slice()) {
        return Err(GquicError::BadChlo);
    }
    let count = usize::from(u16::from_le_bytes(
        c.take(2)
            .and_then(|b| b.try_into().ok())
            .ok_or(GquicError::Truncated)?,
    ));
    c.take(2).ok_or(GquicError::Truncated)?;
    if count > MAX_TAGS {
        return Err(GquicError::BadChlo);
    }
    let values_at = 8 + 8 * count;
    let mut out = Vec::with_capacity(count);
    let mut prev = 0usize;
    for _ in 0..count {
        let Some(entry) = c.take(8) else { break };
        let (tag, end) = entry.split_at(4);
        let tag: [u8; 4] = tag.try_into().map_err(|_| GquicError::Truncated)?;
        let end: [u8; 4] = end.try_into().map_err(|_| GquicError::Truncated)?;
        let end = usize::try_from(u32::from_le_bytes(end)).map_err(|_| GquicError::BadChlo)?;
        if end < prev {
            return Err(GquicError::BadChlo);
        }
        let Some(value) = data.get(values_at + prev..values_at + end) else {
            break;
        };
        out.push((tag, value));
        prev = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
