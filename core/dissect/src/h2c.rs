//! DNS messages carried over cleartext HTTP/2 (h2c, RFC 9113), as DNS over
//! HTTPS (RFC 8484) does without its TLS: one reader per direction of a TCP
//! connection, fed in-order bytes, handing out each DNS message it finds.
//!
//! - A client's request names its message in the `:path` (`GET ...?dns=`,
//!   base64url) or sends it as the body of a request whose `content-type` is
//!   `application/dns-message`; a server's response carries its answer as such a
//!   body.
//! - Header blocks (HEADERS + CONTINUATION) are decompressed by `loona-hpack`,
//!   one decoder per direction as the protocol keeps one dynamic table per
//!   direction. A block that does not decode ends the reading of that direction:
//!   the table is then out of step with the sender's.
//! - Frames that cannot hold a DNS message (SETTINGS, PING, WINDOW_UPDATE, DATA
//!   of other streams...) are skipped without being buffered.
//!
//! Bounded: a frame is buffered only when it matters and only up to
//! [`MAX_FRAME`]; a header block up to [`MAX_HEADER_BLOCK`]; bodies of at most
//! [`MAX_STREAMS`] streams, each up to [`MAX_BODY`]. A connection whose first
//! [`MAX_BLOCKS_WITHOUT_DNS`] header blocks carry no DNS is not DoH and is left.

use std::borrow::Cow;

use crate::doh;

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Largest frame payload buffered: the protocol's default `SETTINGS_MAX_FRAME_SIZE`.
pub const MAX_FRAME: usize = 16_384;
/// Largest header block (HEADERS and its CONTINUATIONs) decoded.
pub const MAX_HEADER_BLOCK: usize = 16 * 1024;
/// Streams whose DNS bodies are collected at once.
pub const MAX_STREAMS: usize = 8;
/// Largest DNS message body collected per stream.
pub const MAX_BODY: usize = 8 * 1024;
/// Header blocks read before a connection with no DNS in them is left.
pub const MAX_BLOCKS_WITHOUT_DNS: u32 = 8;
/// The HPACK dynamic table's size at most: the protocol's default
/// `SETTINGS_HEADER_TABLE_SIZE`. A size update above it fails the block, so the
/// table cannot grow with what a peer sends.
pub const MAX_TABLE: usize = 4096;
/// DNS messages handed out per direction at most.
pub const MAX_MESSAGES: u32 = 1024;

const FRAME_HEADER: usize = 9;
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// Which end of the connection a reader follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client: requests.
    Client,
    /// The server: responses.
    Server,
}

/// Why a reader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum H2Stop {
    /// The client's bytes do not start with the connection preface.
    #[error("no HTTP/2 connection preface")]
    NoPreface,
    /// A header block did not decompress (or broke the frame rules around it).
    #[error("header block does not decode")]
    BadHeaders,
    /// A header frame or block over its cap.
    #[error("header block over the cap")]
    TooLarge,
    /// The first header blocks carried no DNS.
    #[error("not DNS over HTTP/2")]
    NotDoh,
    /// [`MAX_MESSAGES`] were handed out.
    #[error("message cap reached")]
    Enough,
}

/// What the reader counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct H2Counters {
    /// Frames read (buffered or skipped).
    pub frames: u64,
    /// Header blocks decoded.
    pub header_blocks: u64,
    /// DNS messages handed out.
    pub messages: u64,
    /// DNS bodies dropped: over [`MAX_BODY`], or more than [`MAX_STREAMS`] at once.
    pub bodies_shed: u64,
    /// `?dns=` parameters that were not base64url.
    pub bad_params: u64,
}

#[derive(Debug)]
struct Stream {
    id: u32,
    body: Vec<u8>,
    overflow: bool,
}

/// Where the reader is in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Matching the preface; this many bytes of it already matched.
    Preface(usize),
    /// Collecting a frame header.
    Header,
    /// Collecting the payload of the frame whose header is in `head`.
    Payload,
    /// Skipping this many bytes of an uninteresting frame.
    Skip(usize),
    Stopped(H2Stop),
}

/// One direction of an h2c connection. See the module documentation.
pub struct H2Reader {
    side: Side,
    state: State,
    head: [u8; FRAME_HEADER],
    head_len: usize,
    buf: Vec<u8>,
    hpack: loona_hpack::Decoder<'static>,
    /// The header block being gathered: its stream, whether its HEADERS frame
    /// ended the stream, and its bytes.
    block: Option<(u32, bool)>,
    block_buf: Vec<u8>,
    streams: Vec<Stream>,
    dns_seen: bool,
    authority: Option<String>,
    counters: H2Counters,
}

impl core::fmt::Debug for H2Reader {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("H2Reader")
            .field("side", &self.side)
            .field("state", &self.state)
            .field("buffered", &self.buffered_len())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl H2Reader {
    /// A reader of a client's bytes, which start with the connection preface
    /// (prior knowledge, or after an `Upgrade: h2c` request was accepted).
    pub fn client() -> Self {
        Self::new(Side::Client, State::Preface(0))
    }

    /// A reader of a server's bytes (its first frame is SETTINGS; after an
    /// upgrade, what follows the `101` response head).
    pub fn server() -> Self {
        Self::new(Side::Server, State::Header)
    }

    fn new(side: Side, state: State) -> Self {
        let mut hpack = loona_hpack::Decoder::new();
        hpack.set_max_allowed_table_size(MAX_TABLE);
        Self {
            side,
            state,
            head: [0; FRAME_HEADER],
            head_len: 0,
            buf: Vec::new(),
            hpack,
            block: None,
            block_buf: Vec::new(),
            streams: Vec::new(),
            dns_seen: false,
            authority: None,
            counters: H2Counters::default(),
        }
    }

    /// Whether `bytes` (a client stream's first bytes) begin the preface.
    pub fn starts_preface(bytes: &[u8]) -> bool {
        bytes.len() >= 4 && bytes.iter().zip(PREFACE).all(|(a, b)| a == b)
    }

    /// Why the reader stopped, once it has.
    pub fn stopped(&self) -> Option<H2Stop> {
        match self.state {
            State::Stopped(why) => Some(why),
            _ => None,
        }
    }

    /// Bytes held (partial frame, header block, bodies), with the HPACK table
    /// counted at its cap while the reader is live.
    pub fn buffered_len(&self) -> usize {
        let table = if self.stopped().is_some() {
            0
        } else {
            MAX_TABLE
        };
        table
            + self.buf.len()
            + self.block_buf.len()
            + self.streams.iter().map(|s| s.body.len()).sum::<usize>()
    }

    /// Counters.
    pub fn counters(&self) -> H2Counters {
        self.counters
    }

    /// The first request's `:authority` (client side), as sent.
    pub fn authority(&self) -> Option<&str> {
        self.authority.as_deref()
    }

    /// Reads in-order bytes; each DNS message found is appended to `out`.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<Vec<u8>>) {
        while !bytes.is_empty() {
            match self.state {
                State::Stopped(_) => return,
                State::Preface(matched) => {
                    let want = PREFACE.get(matched..).unwrap_or_default();
                    let n = want.len().min(bytes.len());
                    let (now, rest) = bytes.split_at(n);
                    if want.get(..n) != Some(now) {
                        self.stop(H2Stop::NoPreface);
                        return;
                    }
                    bytes = rest;
                    self.state = if matched + n == PREFACE.len() {
                        State::Header
                    } else {
                        State::Preface(matched + n)
                    };
                }
                State::Skip(left) => {
                    let n = left.min(bytes.len());
                    bytes = bytes.get(n..).unwrap_or_default();
                    self.state = if left > n {
                        State::Skip(left - n)
                    } else {
                        State::Header
                    };
                }
                State::Header => {
                    let n = (FRAME_HEADER - self.head_len).min(bytes.len());
                    let (now, rest) = bytes.split_at(n);
                    if let Some(dst) = self.head.get_mut(self.head_len..self.head_len + n) {
                        dst.copy_from_slice(now);
                    }
                    self.head_len += n;
                    bytes = rest;
                    if self.head_len == FRAME_HEADER {
                        self.head_len = 0;
                        self.frame_start(out);
                    }
                }
                State::Payload => {
                    let len = self.frame_len();
                    let n = (len - self.buf.len()).min(bytes.len());
                    let (now, rest) = bytes.split_at(n);
                    self.buf.extend_from_slice(now);
                    bytes = rest;
                    if self.buf.len() == len {
                        self.state = State::Header;
                        let payload = core::mem::take(&mut self.buf);
                        self.frame(&payload, out);
                        // Keep the allocation for the next frame.
                        self.buf = payload;
                        self.buf.clear();
                    }
                }
            }
        }
    }

    fn frame_len(&self) -> usize {
        let [a, b, c, ..] = self.head;
        usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c)
    }

    fn frame_kind(&self) -> (u8, u8, u32) {
        let [_, _, _, kind, flags, s0, s1, s2, s3] = self.head;
        (
            kind,
            flags,
            u32::from_be_bytes([s0, s1, s2, s3]) & 0x7fff_ffff,
        )
    }

    /// A frame header is complete: decide whether its payload is read.
    fn frame_start(&mut self, out: &mut Vec<Vec<u8>>) {
        self.counters.frames += 1;
        let len = self.frame_len();
        let (kind, _, stream) = self.frame_kind();
        // A header block must continue on its stream before anything else (§6.10).
        if self.block.is_some() && kind != CONTINUATION {
            self.stop(H2Stop::BadHeaders);
            return;
        }
        let wanted = match kind {
            HEADERS | CONTINUATION => {
                if len > MAX_FRAME {
                    self.stop(H2Stop::TooLarge);
                    return;
                }
                true
            }
            DATA => self.streams.iter().any(|s| s.id == stream),
            RST_STREAM => {
                self.streams.retain(|s| s.id != stream);
                false
            }
            _ => false,
        };
        if wanted && len <= MAX_FRAME {
            if len == 0 {
                self.frame(&[], out);
            } else {
                self.state = State::Payload;
            }
        } else {
            if wanted {
                // A DATA frame too large to buffer: its stream's body is lost.
                self.shed_stream(stream);
            }
            self.state = if len == 0 {
                State::Header
            } else {
                State::Skip(len)
            };
        }
    }

    fn shed_stream(&mut self, stream: u32) {
        if let Some(s) = self.streams.iter_mut().find(|s| s.id == stream) {
            s.overflow = true;
            s.body = Vec::new();
        }
    }

    /// A whole frame payload that matters.
    fn frame(&mut self, payload: &[u8], out: &mut Vec<Vec<u8>>) {
        let (kind, flags, stream) = self.frame_kind();
        match kind {
            HEADERS => {
                let Some(fragment) = unpad(payload, flags, flags & PRIORITY != 0) else {
                    self.stop(H2Stop::BadHeaders);
                    return;
                };
                self.block = Some((stream, flags & END_STREAM != 0));
                self.block_buf.clear();
                self.block_buf.extend_from_slice(fragment);
                if flags & END_HEADERS != 0 {
                    self.end_block(out);
                }
            }
            CONTINUATION => {
                if self.block.map(|(s, _)| s) != Some(stream) {
                    self.stop(H2Stop::BadHeaders);
                    return;
                }
                if self.block_buf.len() + payload.len() > MAX_HEADER_BLOCK {
                    self.stop(H2Stop::TooLarge);
                    return;
                }
                self.block_buf.extend_from_slice(payload);
                if flags & END_HEADERS != 0 {
                    self.end_block(out);
                }
            }
            DATA => {
                let Some(data) = unpad(payload, flags, false) else {
                    self.streams.retain(|s| s.id != stream);
                    return;
                };
                let Some(i) = self.streams.iter().position(|s| s.id == stream) else {
                    return;
                };
                let shed = match self.streams.get_mut(i) {
                    Some(s) if !s.overflow && s.body.len() + data.len() <= MAX_BODY => {
                        s.body.extend_from_slice(data);
                        false
                    }
                    Some(s) if !s.overflow => {
                        s.overflow = true;
                        s.body = Vec::new();
                        true
                    }
                    _ => false,
                };
                if shed {
                    self.counters.bodies_shed += 1;
                }
                if flags & END_STREAM != 0 {
                    let s = self.streams.swap_remove(i);
                    if !s.overflow && !s.body.is_empty() {
                        self.emit(s.body, out);
                    }
                }
            }
            _ => {}
        }
    }

    /// A header block is complete: decompress it and act on what it says.
    fn end_block(&mut self, out: &mut Vec<Vec<u8>>) {
        let Some((stream, ends_stream)) = self.block.take() else {
            return;
        };
        let block = core::mem::take(&mut self.block_buf);
        let mut fields = Fields::default();
        let decoded = self
            .hpack
            .decode_with_cb(&block, |name, value| fields.take(name.as_ref(), value));
        self.block_buf = block;
        self.block_buf.clear();
        if decoded.is_err() {
            self.stop(H2Stop::BadHeaders);
            return;
        }
        self.counters.header_blocks += 1;
        if self.side == Side::Client && self.authority.is_none() {
            self.authority = fields.authority.take();
        }
        let get_message = match (self.side, &fields.path) {
            (Side::Client, Some(path)) => doh::query_param(path),
            _ => None,
        };
        match get_message {
            Some(Ok(message)) => {
                self.dns_seen = true;
                self.emit(message, out);
            }
            Some(Err(_)) => {
                self.dns_seen = true;
                self.counters.bad_params += 1;
            }
            None if fields.dns_body && !ends_stream => {
                self.dns_seen = true;
                if self.streams.len() < MAX_STREAMS {
                    self.streams.push(Stream {
                        id: stream,
                        body: Vec::new(),
                        overflow: false,
                    });
                } else {
                    self.counters.bodies_shed += 1;
                }
            }
            None => {}
        }
        if !self.dns_seen && self.counters.header_blocks >= u64::from(MAX_BLOCKS_WITHOUT_DNS) {
            self.stop(H2Stop::NotDoh);
        }
    }

    fn emit(&mut self, message: Vec<u8>, out: &mut Vec<Vec<u8>>) {
        out.push(message);
        self.counters.messages += 1;
        if self.counters.messages >= u64::from(MAX_MESSAGES) {
            self.stop(H2Stop::Enough);
        }
    }

    fn stop(&mut self, why: H2Stop) {
        self.state = State::Stopped(why);
        // Frees the dynamic table.
        self.hpack = loona_hpack::Decoder::new();
        self.buf = Vec::new();
        self.block = None;
        self.block_buf = Vec::new();
        self.streams = Vec::new();
    }
}

/// The fields of one header block that matter here.
#[derive(Debug, Default)]
struct Fields {
    path: Option<String>,
    authority: Option<String>,
    dns_body: bool,
}

impl Fields {
    fn take(&mut self, name: &[u8], value: Cow<'_, [u8]>) {
        match name {
            b":path" if self.path.is_none() => {
                self.path = core::str::from_utf8(&value).ok().map(str::to_owned);
            }
            b":authority" if self.authority.is_none() => {
                self.authority = core::str::from_utf8(&value)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned);
            }
            b"content-type" => self.dns_body |= doh::is_dns_message_type(&value),
            _ => {}
        }
    }
}

/// A HEADERS or DATA payload without its padding (and, for HEADERS with the
/// PRIORITY flag, the 5 priority bytes); `None` when the padding overruns it.
fn unpad(payload: &[u8], flags: u8, priority: bool) -> Option<&[u8]> {
    let (pad, rest) = if flags & PADDED != 0 {
        let (&pad, rest) = payload.split_first()?;
        (usize::from(pad), rest)
    } else {
        (0, payload)
    };
    let rest = if priority { rest.get(5..)? } else { rest };
    rest.get(..rest.len().checked_sub(pad)?)
}

#[cfg(test)]
#[path = "h2c_tests.rs"]
pub(crate) mod tests;
