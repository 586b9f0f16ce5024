//! DNS over cleartext HTTP byte streams (RFC 8484 messages without TLS): what a
//! client and a server send on one TCP connection, for tests and generated
//! captures. HTTP/1.1 GET (`?dns=` base64url) and POST requests and their
//! responses; HTTP/2 with prior knowledge (RFC 9113 §3.3) or after an
//! `Upgrade: h2c` (RFC 7540 §3.2), header blocks HPACK-encoded by `loona-hpack`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The media type of a DNS message.
pub const DNS_MESSAGE: &str = "application/dns-message";
/// The HTTP/2 client connection preface.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How a query is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET /dns-query?dns=...`.
    Get,
    /// `POST /dns-query` with the message as the body.
    Post,
}

/// An HTTP/1.1 request carrying `query`.
pub fn http1_request(host: &str, method: Method, query: &[u8]) -> Vec<u8> {
    match method {
        Method::Get => format!(
            "GET /dns-query?dns={} HTTP/1.1\r\nHost: {host}\r\nAccept: {DNS_MESSAGE}\r\n\r\n",
            URL_SAFE_NO_PAD.encode(query)
        )
        .into_bytes(),
        Method::Post => {
            let mut r = format!(
                "POST /dns-query HTTP/1.1\r\nHost: {host}\r\nAccept: {DNS_MESSAGE}\r\n\
                 Content-Type: {DNS_MESSAGE}\r\nContent-Length: {}\r\n\r\n",
                query.len()
            )
            .into_bytes();
            r.extend_from_slice(query);
            r
        }
    }
}

/// An HTTP/1.1 `200` response whose body is `answer`.
pub fn http1_response(answer: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {DNS_MESSAGE}\r\nContent-Length: {}\r\n\
         Cache-Control: max-age=60\r\n\r\n",
        answer.len()
    )
    .into_bytes();
    r.extend_from_slice(answer);
    r
}

/// An HTTP/1.1 request asking to switch to h2c, itself a DoH GET for `query`
/// (it becomes stream 1 of the HTTP/2 connection).
pub fn http1_upgrade_request(host: &str, query: &[u8]) -> Vec<u8> {
    format!(
        "GET /dns-query?dns={} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade, HTTP2-Settings\r\n\
         Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
        URL_SAFE_NO_PAD.encode(query)
    )
    .into_bytes()
}

/// The server's `101 Switching Protocols` head.
pub fn http1_switching() -> Vec<u8> {
    b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".to_vec()
}

/// One HTTP/2 frame.
pub fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len())
        .unwrap_or(u32::MAX)
        .min(0xff_ffff);
    let [_, a, b, c] = len.to_be_bytes();
    let mut f = vec![a, b, c, kind, flags];
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// One direction of an HTTP/2 connection, with its HPACK encoder (its dynamic
/// table carries over from one header block to the next, as on the wire).
pub struct H2Writer {
    hpack: loona_hpack::Encoder<'static>,
}

impl core::fmt::Debug for H2Writer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("H2Writer").finish_non_exhaustive()
    }
}

impl Default for H2Writer {
    fn default() -> Self {
        Self::new()
    }
}

impl H2Writer {
    /// A fresh direction.
    pub fn new() -> Self {
        Self {
            hpack: loona_hpack::Encoder::new(),
        }
    }

    /// The client's first bytes: the preface and an empty SETTINGS frame.
    pub fn client_start() -> Vec<u8> {
        let mut out = PREFACE.to_vec();
        out.extend(h2_frame(SETTINGS, 0, 0, &[]));
        out
    }

    /// The server's first frame: an empty SETTINGS.
    pub fn server_start() -> Vec<u8> {
        h2_frame(SETTINGS, 0, 0, &[])
    }

    fn headers(&mut self, stream: u32, fields: &[(&str, &str)], end_stream: bool) -> Vec<u8> {
        let block = self
            .hpack
            .encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
        let flags = END_HEADERS | if end_stream { END_STREAM } else { 0 };
        h2_frame(HEADERS, flags, stream, &block)
    }

    /// A request for `query` on `stream` (odd, increasing).
    pub fn request(
        &mut self,
        stream: u32,
        authority: &str,
        method: Method,
        query: &[u8],
    ) -> Vec<u8> {
        match method {
            Method::Get => {
                let path = format!("/dns-query?dns={}", URL_SAFE_NO_PAD.encode(query));
                self.headers(
                    stream,
                    &[
                        (":method", "GET"),
                        (":scheme", "http"),
                        (":authority", authority),
                        (":path", &path),
                        ("accept", DNS_MESSAGE),
                    ],
                    true,
                )
            }
            Method::Post => {
                let len = query.len().to_string();
                let mut out = self.headers(
                    stream,
                    &[
                        (":method", "POST"),
                        (":scheme", "http"),
                        (":authority", authority),
                        (":path", "/dns-query"),
                        ("accept", DNS_MESSAGE),
                        ("content-type", DNS_MESSAGE),
                        ("content-length", &len),
                    ],
                    false,
                );
                out.extend(h2_frame(DATA, END_STREAM, stream, query));
                out
            }
        }
    }

    /// The response carrying `answer` on `stream`.
    pub fn response(&mut self, stream: u32, answer: &[u8]) -> Vec<u8> {
        let len = answer.len().to_string();
        let mut out = self.headers(
            stream,
            &[
                (":status", "200"),
                ("content-type", DNS_MESSAGE),
                ("content-length", &len),
            ],
            false,
        );
        out.extend(h2_frame(DATA, END_STREAM, stream, answer));
        out
    }
}
