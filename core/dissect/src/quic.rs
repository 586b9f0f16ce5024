//! QUIC client Initial packets (v1, RFC 9001; v2, RFC 9369) down to the ClientHello.
//!
//! Initial packets are encrypted with keys anyone can derive from the client's
//! Destination Connection ID, so an on-path observer can read the ClientHello.
//! The work is: split a datagram into its coalesced long-header packets, derive
//! the client's Initial keys through rustls's QUIC API, remove header
//! protection and decrypt a *copy* (the input is never modified), walk the
//! frames, and stitch CRYPTO frames (which may be reordered, overlapping or
//! spread over several packets and datagrams) back into one handshake message.

use rustls::quic::{Keys, Version};

use crate::cursor::Cursor;
use crate::hello_assembler::{HelloMessage, MAX_HELLO_LEN};
use crate::tls::{ClientHello, HANDSHAKE_HEADER_LEN, TlsError};

/// QUIC version 1 (RFC 9000).
pub const VERSION_1: u32 = 0x0000_0001;
/// QUIC version 2 (RFC 9369).
pub const VERSION_2: u32 = 0x6b33_43cf;
/// Longest connection ID QUIC v1 and v2 allow.
pub const MAX_CID_LEN: usize = 20;
/// Most CRYPTO bytes buffered for one ClientHello.
pub const MAX_CRYPTO_LEN: usize = MAX_HELLO_LEN;
/// Most disjoint CRYPTO ranges tracked before further gaps are refused.
pub const MAX_CRYPTO_RANGES: usize = 32;

const AEAD_TAG_LEN: usize = 16;
const HP_SAMPLE_LEN: usize = 16;

/// Why a datagram, packet or frame could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuicError {
    /// The bytes end before the structure does.
    #[error("truncated QUIC packet")]
    Truncated,
    /// A short-header (1-RTT) packet: nothing to read without session keys.
    #[error("not a long-header packet")]
    NotLongHeader,
    /// A Version Negotiation packet.
    #[error("version negotiation packet")]
    VersionNegotiation,
    /// A version whose Initial protection is unknown.
    #[error("unsupported QUIC version {0:#010x}")]
    UnsupportedVersion(u32),
    /// A connection ID longer than 20 bytes.
    #[error("connection ID too long")]
    BadConnectionId,
    /// Authentication failed: wrong keys (e.g. a server Initial) or corrupted bytes.
    #[error("Initial packet failed to decrypt")]
    Decrypt,
    /// A frame type that may not appear in an Initial packet, or a malformed frame.
    #[error("unexpected or malformed frame type {0:#x}")]
    BadFrame(u64),
    /// CRYPTO data beyond [`MAX_CRYPTO_LEN`] (shed).
    #[error("CRYPTO data beyond the buffer cap")]
    CryptoTooLarge,
    /// More than [`MAX_CRYPTO_RANGES`] holes in the CRYPTO stream (shed).
    #[error("too many disjoint CRYPTO ranges")]
    TooManyCryptoRanges,
    /// The reassembled handshake message is not a valid ClientHello.
    #[error("ClientHello: {0}")]
    Tls(TlsError),
    /// The datagram holds only part of the ClientHello.
    #[error("ClientHello continues in a later datagram")]
    Incomplete,
    /// Readable long-header packets, none of them an Initial (0-RTT or
    /// Handshake packets of a first flight, sent in datagrams of their own).
    #[error("no Initial packet in the datagram")]
    NoInitial,
}

/// Long-header packet types (their wire bits differ between v1 and v2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PacketType {
    /// Initial.
    Initial,
    /// 0-RTT.
    ZeroRtt,
    /// Handshake.
    Handshake,
    /// Retry.
    Retry,
}

impl PacketType {
    fn from_bits(version: u32, bits: u8) -> Self {
        // RFC 9369 section 3.2 rotates the codes by one.
        let bits = if version == VERSION_2 {
            bits.wrapping_add(3) & 0x03
        } else {
            bits & 0x03
        };
        match bits {
            0 => Self::Initial,
            1 => Self::ZeroRtt,
            2 => Self::Handshake,
            _ => Self::Retry,
        }
    }

    fn to_bits(self, version: u32) -> u8 {
        let v1 = match self {
            Self::Initial => 0,
            Self::ZeroRtt => 1,
            Self::Handshake => 2,
            Self::Retry => 3,
        };
        if version == VERSION_2 {
            (v1 + 1) & 0x03
        } else {
            v1
        }
    }
}

fn rustls_version(version: u32) -> Result<Version, QuicError> {
    match version {
        VERSION_1 => Ok(Version::V1),
        VERSION_2 => Ok(Version::V2),
        // draft-29 to draft-32 share one salt; Chromium still probes with them.
        0xff00_001d..=0xff00_0020 => Ok(Version::V1Draft),
        other => Err(QuicError::UnsupportedVersion(other)),
    }
}

/// A long-header packet inside a datagram (zero-copy, still protected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongHeader<'a> {
    packet: &'a [u8],
    version: u32,
    packet_type: PacketType,
    dcid: &'a [u8],
    scid: &'a [u8],
    token: &'a [u8],
    pn_offset: usize,
}

impl<'a> LongHeader<'a> {
    /// Parse the first packet of `datagram`; returns it and the bytes after it.
    pub fn parse(datagram: &'a [u8]) -> Result<(Self, &'a [u8]), QuicError> {
        let mut c = Cursor::new(datagram);
        let first = c.u8().ok_or(QuicError::Truncated)?;
        if first & 0x80 == 0 {
            return Err(QuicError::NotLongHeader);
        }
        let version = c.u32().ok_or(QuicError::Truncated)?;
        if version == 0 {
            return Err(QuicError::VersionNegotiation);
        }
        let dcid = c.vec8().ok_or(QuicError::Truncated)?;
        let scid = c.vec8().ok_or(QuicError::Truncated)?;
        if dcid.len() > MAX_CID_LEN || scid.len() > MAX_CID_LEN {
            return Err(QuicError::BadConnectionId);
        }
        rustls_version(version)?;
        let packet_type = PacketType::from_bits(version, first >> 4);
        if packet_type == PacketType::Retry {
            // A Retry has no Length field: it runs to the end of the datagram.
            let header = Self {
                packet: datagram,
                version,
                packet_type,
                dcid,
                scid,
                token: c.remaining(),
                pn_offset: datagram.len(),
            };
            return Ok((header, &[]));
        }
        let token = if packet_type == PacketType::Initial {
            let len = c.varint().ok_or(QuicError::Truncated)?;
            let len = usize::try_from(len).map_err(|_| QuicError::Truncated)?;
            c.take(len).ok_or(QuicError::Truncated)?
        } else {
            &[]
        };
        let length = c.varint().ok_or(QuicError::Truncated)?;
        let length = usize::try_from(length).map_err(|_| QuicError::Truncated)?;
        let pn_offset = datagram.len() - c.remaining().len();
        let end = pn_offset.checked_add(length).ok_or(QuicError::Truncated)?;
        let (packet, rest) = datagram.split_at_checked(end).ok_or(QuicError::Truncated)?;
        let header = Self {
            packet,
            version,
            packet_type,
            dcid,
            scid,
            token,
            pn_offset,
        };
        Ok((header, rest))
    }

    /// The whole packet: header, protected packet number and payload.
    pub fn packet(&self) -> &'a [u8] {
        self.packet
    }

    /// QUIC version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Packet type, decoded for this version.
    pub fn packet_type(&self) -> PacketType {
        self.packet_type
    }

    /// Destination Connection ID.
    pub fn dcid(&self) -> &'a [u8] {
        self.dcid
    }

    /// Source Connection ID.
    pub fn scid(&self) -> &'a [u8] {
        self.scid
    }

    /// Initial token (empty for other types).
    pub fn token(&self) -> &'a [u8] {
        self.token
    }

    /// Offset of the (protected) packet number within [`Self::packet`].
    pub fn pn_offset(&self) -> usize {
        self.pn_offset
    }
}

/// Iterator over the coalesced long-header packets of one datagram.
///
/// Stops after the first error (reported once) or at a short-header packet,
/// whose length cannot be known; trailing zero padding ends it quietly.
#[derive(Debug, Clone)]
pub struct LongPackets<'a> {
    rest: &'a [u8],
    first: bool,
}

/// The long-header packets of `datagram`.
pub fn long_packets(datagram: &[u8]) -> LongPackets<'_> {
    LongPackets {
        rest: datagram,
        first: true,
    }
}

impl<'a> Iterator for LongPackets<'a> {
    type Item = Result<LongHeader<'a>, QuicError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let first = core::mem::replace(&mut self.first, false);
        match LongHeader::parse(self.rest) {
            Ok((header, rest)) => {
                self.rest = rest;
                Some(Ok(header))
            }
            Err(e) => {
                let rest = core::mem::take(&mut self.rest);
                // Some stacks pad datagrams with zeros after the last packet.
                let padding = !first && rest.iter().all(|&b| b == 0);
                (!padding).then_some(Err(e))
            }
        }
    }
}

/// An Initial packet after removing protection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptedInitial {
    packet_number: u64,
    buf: Vec<u8>,
    payload_start: usize,
    payload_len: usize,
}

impl DecryptedInitial {
    /// The (truncated) packet number; exact for a client's first packets.
    pub fn packet_number(&self) -> u64 {
        self.packet_number
    }

    /// The decrypted frames.
    pub fn payload(&self) -> &[u8] {
        self.buf
            .get(self.payload_start..self.payload_start + self.payload_len)
            .unwrap_or_default()
    }

    /// The unprotected header (first byte and packet number restored).
    pub fn header(&self) -> &[u8] {
        self.buf.get(..self.payload_start).unwrap_or_default()
    }

    /// Frames of the payload.
    pub fn frames(&self) -> Frames<'_> {
        frames(self.payload())
    }
}

/// Initial packet protection keys for one direction of one connection.
pub struct InitialKeys {
    version: u32,
    dcid: [u8; MAX_CID_LEN],
    dcid_len: usize,
    keys: Keys,
}

impl core::fmt::Debug for InitialKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InitialKeys")
            .field("version", &self.version)
            .field("dcid", &self.dcid())
            .finish_non_exhaustive()
    }
}

fn aes128_suite() -> Option<rustls::quic::Suite> {
    rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()?
        .quic_suite()
}

impl InitialKeys {
    /// The keys a client uses for its Initials to `dcid` (the original DCID).
    ///
    /// `Side::Server` in rustls terms: the server's *remote* keys are the
    /// client's, which is what an observer of client packets needs.
    pub fn client(version: u32, dcid: &[u8]) -> Result<Self, QuicError> {
        let v = rustls_version(version)?;
        let mut cid = [0u8; MAX_CID_LEN];
        cid.get_mut(..dcid.len())
            .ok_or(QuicError::BadConnectionId)?
            .copy_from_slice(dcid);
        let suite = aes128_suite().ok_or(QuicError::UnsupportedVersion(version))?;
        let keys = Keys::initial(v, suite.suite, suite.quic, dcid, rustls::Side::Server);
        Ok(Self {
            version,
            dcid: cid,
            dcid_len: dcid.len(),
            keys,
        })
    }

    /// QUIC version these keys are for.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The connection ID the keys were derived from.
    pub fn dcid(&self) -> &[u8] {
        self.dcid.get(..self.dcid_len).unwrap_or_default()
    }

    /// Remove header protection from a copy of `header`'s packet and decrypt it.
    pub fn open(&self, header: &LongHeader<'_>) -> Result<DecryptedInitial, QuicError> {
        if header.version != self.version {
            return Err(QuicError::Decrypt);
        }
        let keys = &self.keys.remote;
        let pn_offset = header.pn_offset;
        let mut buf = header.packet.to_vec();
        let (head, rest) = buf
            .split_at_mut_checked(pn_offset)
            .ok_or(QuicError::Truncated)?;
        let (first, _) = head.split_first_mut().ok_or(QuicError::Truncated)?;
        let (pn, after) = rest.split_at_mut_checked(4).ok_or(QuicError::Truncated)?;
        let sample = after.get(..HP_SAMPLE_LEN).ok_or(QuicError::Truncated)?;
        keys.header
            .decrypt_in_place(sample, first, pn)
            .map_err(|_| QuicError::Decrypt)?;
        let pn_len = usize::from(*first & 0x03) + 1;
        let packet_number = pn
            .iter()
            .take(pn_len)
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        let payload_start = pn_offset + pn_len;
        let (aad, payload) = buf
            .split_at_mut_checked(payload_start)
            .ok_or(QuicError::Truncated)?;
        let payload_len = keys
            .packet
            .decrypt_in_place(packet_number, aad, payload)
            .map_err(|_| QuicError::Decrypt)?
            .len();
        Ok(DecryptedInitial {
            packet_number,
            buf,
            payload_start,
            payload_len,
        })
    }
}

/// Decrypt a client Initial with keys derived from its own DCID.
pub fn decrypt_client_initial(header: &LongHeader<'_>) -> Result<DecryptedInitial, QuicError> {
    if header.packet_type != PacketType::Initial {
        return Err(QuicError::Decrypt);
    }
    InitialKeys::client(header.version, header.dcid)?.open(header)
}

/// Build a protected client Initial packet carrying `frames` (already padded as wanted).
///
/// Uses a 4-byte packet number and a 2-byte Length where it fits, like RFC 9001
/// appendix A.2, so that vector can be reproduced byte for byte. The inverse of
/// [`decrypt_client_initial`]; for test generators and fuzz round trips.
pub fn seal_client_initial(
    version: u32,
    dcid: &[u8],
    scid: &[u8],
    packet_number: u32,
    frames: &[u8],
) -> Result<Vec<u8>, QuicError> {
    let v = rustls_version(version)?;
    if dcid.len() > MAX_CID_LEN || scid.len() > MAX_CID_LEN {
        return Err(QuicError::BadConnectionId);
    }
    let suite = aes128_suite().ok_or(QuicError::UnsupportedVersion(version))?;
    let keys = Keys::initial(v, suite.suite, suite.quic, dcid, rustls::Side::Client).local;

    let pn_len = 4;
    let length = pn_len + frames.len() + AEAD_TAG_LEN;
    let mut out = Vec::with_capacity(32 + dcid.len() + scid.len() + length);
    out.push(0xc0 | (PacketType::Initial.to_bits(version) << 4) | (pn_len as u8 - 1));
    out.extend_from_slice(&version.to_be_bytes());
    for cid in [dcid, scid] {
        out.push(cid.len() as u8);
        out.extend_from_slice(cid);
    }
    out.push(0); // empty token
    push_varint(&mut out, length as u64).ok_or(QuicError::CryptoTooLarge)?;
    let pn_offset = out.len();
    out.extend_from_slice(&packet_number.to_be_bytes());
    let header_len = out.len();
    out.extend_from_slice(frames);

    let (header, payload) = out
        .split_at_mut_checked(header_len)
        .ok_or(QuicError::Truncated)?;
    let tag = keys
        .packet
        .encrypt_in_place(u64::from(packet_number), header, payload)
        .map_err(|_| QuicError::Decrypt)?;
    out.extend_from_slice(tag.as_ref());

    let (head, rest) = out
        .split_at_mut_checked(pn_offset)
        .ok_or(QuicError::Truncated)?;
    let (first, _) = head.split_first_mut().ok_or(QuicError::Truncated)?;
    let (pn, after) = rest.split_at_mut_checked(4).ok_or(QuicError::Truncated)?;
    let sample = after.get(..HP_SAMPLE_LEN).ok_or(QuicError::Truncated)?;
    keys.header
        .encrypt_in_place(sample, first, pn)
        .map_err(|_| QuicError::Decrypt)?;
    Ok(out)
}

/// Encode a varint, 2 bytes when possible (as the RFC vectors do), else 4 or 8.
fn push_varint(out: &mut Vec<u8>, v: u64) -> Option<()> {
    if v < 1 << 14 {
        out.extend_from_slice(&(0x4000 | v as u16).to_be_bytes());
    } else if v < 1 << 30 {
        out.extend_from_slice(&(0x8000_0000 | v as u32).to_be_bytes());
    } else if v < 1 << 62 {
        out.extend_from_slice(&(0xc000_0000_0000_0000 | v).to_be_bytes());
    } else {
        return None;
    }
    Some(())
}

/// A frame that may appear in an Initial packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame<'a> {
    /// A run of PADDING bytes.
    Padding(usize),
    /// PING.
    Ping,
    /// ACK or ACK_ECN (contents skipped).
    Ack,
    /// CRYPTO data at a stream offset.
    Crypto {
        /// Offset in the Initial CRYPTO stream.
        offset: u64,
        /// The bytes.
        data: &'a [u8],
    },
    /// CONNECTION_CLOSE (transport).
    ConnectionClose,
}

/// Iterator over frames; yields one error and stops at anything unexpected.
#[derive(Debug, Clone)]
pub struct Frames<'a>(Cursor<'a>);

/// The frames of a decrypted Initial payload.
pub fn frames(payload: &[u8]) -> Frames<'_> {
    Frames(Cursor::new(payload))
}

impl<'a> Frames<'a> {
    fn read(&mut self) -> Result<Frame<'a>, QuicError> {
        let c = &mut self.0;
        let ty = c.varint().ok_or(QuicError::Truncated)?;
        let bad = QuicError::BadFrame(ty);
        match ty {
            0x00 => {
                let zeros = c.remaining().iter().take_while(|&&b| b == 0).count();
                c.take(zeros);
                Ok(Frame::Padding(zeros + 1))
            }
            0x01 => Ok(Frame::Ping),
            0x02 | 0x03 => {
                let _largest = c.varint().ok_or(bad)?;
                let _delay = c.varint().ok_or(bad)?;
                let ranges = c.varint().ok_or(bad)?;
                let _first = c.varint().ok_or(bad)?;
                // Each range is two varints of at least one byte, so the loop is
                // bounded by the payload even for a huge claimed count.
                for _ in 0..ranges {
                    c.varint().ok_or(bad)?;
                    c.varint().ok_or(bad)?;
                }
                if ty == 0x03 {
                    for _ in 0..3 {
                        c.varint().ok_or(bad)?;
                    }
                }
                Ok(Frame::Ack)
            }
            0x06 => {
                let offset = c.varint().ok_or(bad)?;
                let len = c.varint().ok_or(bad)?;
                let data = usize::try_from(len)
                    .ok()
                    .and_then(|l| c.take(l))
                    .ok_or(bad)?;
                Ok(Frame::Crypto { offset, data })
            }
            0x1c => {
                let _code = c.varint().ok_or(bad)?;
                let _frame_type = c.varint().ok_or(bad)?;
                let len = c.varint().ok_or(bad)?;
                usize::try_from(len)
                    .ok()
                    .and_then(|l| c.take(l))
                    .ok_or(bad)?;
                Ok(Frame::ConnectionClose)
            }
            _ => Err(bad),
        }
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, QuicError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let item = self.read();
        if item.is_err() {
            self.0 = Cursor::new(&[]);
        }
        Some(item)
    }
}

/// Reassembles the Initial CRYPTO stream up to one complete ClientHello.
///
/// Offset-keyed: frames may arrive in any order, repeat, or overlap (later
/// bytes win, as retransmissions carry the same data). Holds at most
/// [`MAX_CRYPTO_LEN`] bytes and [`MAX_CRYPTO_RANGES`] holes.
#[derive(Debug, Clone, Default)]
pub struct CryptoAssembler {
    buf: Vec<u8>,
    /// Sorted, disjoint, non-adjacent `[start, end)` ranges received.
    ranges: Vec<(usize, usize)>,
    shed: u64,
}

impl CryptoAssembler {
    /// An empty assembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Frames refused for size or fragmentation so far.
    pub fn shed(&self) -> u64 {
        self.shed
    }

    /// Add the data of one CRYPTO frame.
    pub fn insert(&mut self, offset: u64, data: &[u8]) -> Result<(), QuicError> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = start.saturating_add(data.len());
        if end > MAX_CRYPTO_LEN {
            self.shed += 1;
            return Err(QuicError::CryptoTooLarge);
        }
        if data.is_empty() {
            return Ok(());
        }
        // Ranges this one touches (overlapping or adjacent) merge into it.
        let lo = self.ranges.partition_point(|&(_, e)| e < start);
        let hi = self.ranges.partition_point(|&(s, _)| s <= end);
        if lo == hi && self.ranges.len() >= MAX_CRYPTO_RANGES {
            self.shed += 1;
            return Err(QuicError::TooManyCryptoRanges);
        }
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        if let Some(dst) = self.buf.get_mut(start..end) {
            dst.copy_from_slice(data);
        }
        let merged_start = self.ranges.get(lo).map_or(start, |&(s, _)| s.min(start));
        let merged_end = hi
            .checked_sub(1)
            .and_then(|i| self.ranges.get(i))
            .map_or(end, |&(_, e)| e.max(end));
        self.ranges
            .splice(lo..hi, [(merged_start, merged_end.max(end))]);
        Ok(())
    }

    /// Bytes received without a gap from offset 0.
    pub fn contiguous(&self) -> &[u8] {
        match self.ranges.first() {
            Some(&(0, end)) => self.buf.get(..end).unwrap_or_default(),
            _ => &[],
        }
    }

    /// The complete ClientHello handshake message, once all of it has arrived.
    pub fn hello_message(&self) -> Option<Result<&[u8], QuicError>> {
        let have = self.contiguous();
        let [_, a, b, c] = *have.first_chunk::<HANDSHAKE_HEADER_LEN>()?;
        let total = HANDSHAKE_HEADER_LEN + u32::from_be_bytes([0, a, b, c]) as usize;
        if total > MAX_CRYPTO_LEN {
            return Some(Err(QuicError::CryptoTooLarge));
        }
        have.get(..total).map(Ok)
    }

    /// Forget everything but the shed counter.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.ranges.clear();
    }
}

/// What one [`QuicHelloAssembler::push_datagram`] achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum QuicProgress {
    /// Part of the hello (or nothing usable yet); feed later client datagrams.
    NeedMore,
    /// The datagram held nothing for us (not QUIC, not an Initial, not decryptable).
    Skipped(QuicError),
    /// The complete ClientHello.
    Done {
        /// QUIC version of the Initial that completed it.
        version: u32,
        /// The handshake message.
        hello: HelloMessage,
    },
    /// The CRYPTO stream cannot yield a ClientHello (too large, malformed).
    Failed(QuicError),
    /// A result was already returned; later datagrams are ignored.
    Finished,
}

/// Counters a flow table can export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuicCounters {
    /// Initial packets decrypted.
    pub decrypted: u64,
    /// Initial packets that failed authentication.
    pub decrypt_failed: u64,
    /// Packets skipped (other types, unsupported versions, malformed headers).
    pub skipped: u64,
    /// CRYPTO frames refused (size or fragmentation caps).
    pub crypto_shed: u64,
}

/// Follows one QUIC flow's client datagrams until its ClientHello is whole.
#[derive(Debug, Default)]
pub struct QuicHelloAssembler {
    keys: Option<InitialKeys>,
    crypto: CryptoAssembler,
    finished: bool,
    counters: QuicCounters,
}

impl QuicHelloAssembler {
    /// A fresh assembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counters so far.
    pub fn counters(&self) -> QuicCounters {
        self.counters
    }

    /// Feed one client-to-server UDP payload.
    pub fn push_datagram(&mut self, datagram: &[u8]) -> QuicProgress {
        if self.finished {
            return QuicProgress::Finished;
        }
        let mut last_error = None;
        let mut used = false;
        for packet in long_packets(datagram) {
            let header = match packet {
                Ok(h) if h.packet_type() == PacketType::Initial => h,
                Ok(_) => {
                    self.counters.skipped += 1;
                    last_error.get_or_insert(QuicError::NoInitial);
                    continue;
                }
                Err(e) => {
                    self.counters.skipped += 1;
                    last_error = Some(e);
                    break;
                }
            };
            let plain = match self.open(&header) {
                Ok(p) => p,
                Err(e) => {
                    self.counters.decrypt_failed += 1;
                    last_error = Some(e);
                    continue;
                }
            };
            self.counters.decrypted += 1;
            used = true;
            for frame in plain.frames() {
                match frame {
                    Ok(Frame::Crypto { offset, data }) => {
                        if let Err(e) = self.crypto.insert(offset, data) {
                            self.counters.crypto_shed += 1;
                            return self.finish(QuicProgress::Failed(e));
                        }
                    }
                    Ok(_) => {}
                    // Frames after an unknown one are unreadable; CRYPTO before it still counts.
                    Err(_) => break,
                }
            }
            match self.crypto.hello_message() {
                None => {}
                Some(Err(e)) => return self.finish(QuicProgress::Failed(e)),
                Some(Ok(msg)) => {
                    let progress = match ClientHello::parse_handshake(msg) {
                        Ok(_) => QuicProgress::Done {
                            version: header.version(),
                            hello: HelloMessage::from_validated(msg.to_vec()),
                        },
                        Err(e) => QuicProgress::Failed(QuicError::Tls(e)),
                    };
                    return self.finish(progress);
                }
            }
        }
        match (used, last_error) {
            (false, Some(e)) => QuicProgress::Skipped(e),
            (false, None) => QuicProgress::Skipped(QuicError::NotLongHeader),
            (true, _) => QuicProgress::NeedMore,
        }
    }

    fn finish(&mut self, progress: QuicProgress) -> QuicProgress {
        self.finished = true;
        self.keys = None;
        self.crypto = CryptoAssembler {
            shed: self.crypto.shed,
            ..CryptoAssembler::default()
        };
        progress
    }

    /// Decrypt with the cached keys, re-deriving when the DCID changed (Retry)
    /// but only adopting the new keys if they authenticate.
    fn open(&mut self, header: &LongHeader<'_>) -> Result<DecryptedInitial, QuicError> {
        if let Some(keys) = &self.keys {
            if let Ok(plain) = keys.open(header) {
                return Ok(plain);
            }
            if keys.dcid() == header.dcid() && keys.version() == header.version() {
                return Err(QuicError::Decrypt);
            }
        }
        let keys = InitialKeys::client(header.version(), header.dcid())?;
        let plain = keys.open(header)?;
        self.keys = Some(keys);
        Ok(plain)
    }
}

/// The ClientHello of a single datagram (the common, one-packet case).
pub fn client_hello_from_datagram(datagram: &[u8]) -> Result<HelloMessage, QuicError> {
    match QuicHelloAssembler::new().push_datagram(datagram) {
        QuicProgress::Done { hello, .. } => Ok(hello),
        QuicProgress::Skipped(e) | QuicProgress::Failed(e) => Err(e),
        _ => Err(QuicError::Incomplete),
    }
}

#[cfg(test)]
mod tests;
