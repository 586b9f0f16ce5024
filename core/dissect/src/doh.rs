//! DNS over HTTP without TLS (RFC 8484's messages in cleartext HTTP/1.1; HTTP/2
//! is [`crate::h2c`]): the query in a GET's `dns` parameter or a POST body, the
//! answer in a response body, each typed `application/dns-message`.
//!
//! Requests are read by [`crate::HttpRequestScanner`], which hands out the DNS
//! message a request carries ([`crate::http::RequestSummary::dns_message`]).
//! Responses are read here by [`ResponseScanner`], started once a request on
//! the connection was DNS (or asked to upgrade to h2c).

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// The media type of a DNS message (RFC 8484 §6).
pub const DNS_MESSAGE: &str = "application/dns-message";
/// Largest DNS message body taken from an HTTP/1 response.
pub const MAX_BODY: usize = 8 * 1024;
/// Most response head bytes read before giving up.
pub const MAX_HEAD: usize = 8 * 1024;
/// Responses read per connection at most.
pub const MAX_RESPONSES: u32 = 1024;

/// base64url (RFC 4648 §5); RFC 8484 sends it unpadded, padding is tolerated.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Whether a `content-type` value names a DNS message (parameters ignored).
pub fn is_dns_message_type(value: &[u8]) -> bool {
    let media = value.split(|&b| b == b';').next().unwrap_or_default();
    media
        .trim_ascii()
        .eq_ignore_ascii_case(DNS_MESSAGE.as_bytes())
}

/// A `?dns=` parameter was not base64url.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("dns parameter is not base64url")]
pub struct BadParam;

/// The DNS message in a request target's `dns` query parameter (RFC 8484 §4.1):
/// `None` without one.
pub fn query_param(target: &str) -> Option<Result<Vec<u8>, BadParam>> {
    let (_, query) = target.split_once('?')?;
    let query = query.split('#').next().unwrap_or_default();
    let value = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("dns="))?;
    // A DNS message is at most 65,535 bytes: refuse longer text before decoding.
    if value.len() > 87_384 {
        return Some(Err(BadParam));
    }
    // An empty parameter is no message (a DNS message has a 12-byte header).
    Some(
        BASE64URL
            .decode(value)
            .ok()
            .filter(|m| !m.is_empty())
            .ok_or(BadParam),
    )
}

/// What a [`ResponseScanner`] found in one push.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Responses {
    /// DNS messages in response bodies, in order.
    pub messages: Vec<Vec<u8>>,
    /// The server accepted an upgrade (`101`): the bytes after its head, which
    /// belong to HTTP/2 ([`crate::h2c::H2Reader::server`]). The scanner is done.
    pub upgraded: Option<Vec<u8>>,
}

/// Reads HTTP/1.x response heads from an in-order server stream, keeping the
/// bodies typed `application/dns-message` and skipping the rest by their
/// Content-Length. Stops at a body it cannot delimit (chunked, or read to the
/// end of the connection), at a head it cannot parse, after [`MAX_RESPONSES`],
/// or at an upgrade.
#[derive(Debug, Default)]
pub struct ResponseScanner {
    buf: Vec<u8>,
    /// Body bytes still to skip.
    skip: u64,
    /// Body bytes still to collect into `buf` after a head (a DNS body).
    body: Option<usize>,
    responses: u32,
    stopped: bool,
    shed: u64,
}

impl ResponseScanner {
    /// An empty scanner.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether it has given up (or handed over to HTTP/2).
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Bytes held.
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    /// DNS bodies dropped for their size.
    pub fn shed(&self) -> u64 {
        self.shed
    }

    /// Reads in-order server bytes.
    pub fn push(&mut self, data: &[u8]) -> Responses {
        let mut out = Responses::default();
        let mut input = std::borrow::Cow::Borrowed(data);
        // Each completed head hands back the bytes after it, read again in turn.
        while let Some(after) = self.consume(&input, &mut out) {
            if out.upgraded.is_some() {
                out.upgraded = Some(after);
                self.stop();
                break;
            }
            input = std::borrow::Cow::Owned(after);
        }
        out
    }

    /// Reads `data` until a response head completes; then returns the bytes
    /// after that head (buffered and unread).
    fn consume(&mut self, mut data: &[u8], out: &mut Responses) -> Option<Vec<u8>> {
        while !self.stopped && !data.is_empty() {
            if self.skip > 0 {
                let n = usize::try_from(self.skip)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                data = data.get(n..).unwrap_or_default();
                self.skip -= n as u64;
                continue;
            }
            if let Some(len) = self.body {
                let n = (len - self.buf.len()).min(data.len());
                let (now, rest) = data.split_at(n);
                self.buf.extend_from_slice(now);
                data = rest;
                if self.buf.len() == len {
                    self.body = None;
                    out.messages.push(core::mem::take(&mut self.buf));
                }
                continue;
            }
            let room = MAX_HEAD.saturating_sub(self.buf.len());
            let n = room.min(data.len());
            let (now, rest) = data.split_at(n);
            self.buf.extend_from_slice(now);
            data = rest;
            match self.head(out) {
                Some(mut after) => {
                    after.extend_from_slice(data);
                    return Some(after);
                }
                None if self.buf.len() >= MAX_HEAD => self.stop(),
                None => {}
            }
        }
        None
    }

    /// Parses a response head at the start of the buffer. `Some(rest)` when one
    /// was complete (the buffer emptied, `rest` the bytes after the head).
    fn head(&mut self, out: &mut Responses) -> Option<Vec<u8>> {
        let mut headers = [httparse::EMPTY_HEADER; crate::http::MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let head_len = match resp.parse(&self.buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return None,
            Err(_) => {
                self.stop();
                return None;
            }
        };
        let code = resp.code.unwrap_or(0);
        let mut dns = false;
        let mut length: Option<u64> = None;
        let mut chunked = false;
        for h in resp.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-type") {
                dns |= is_dns_message_type(h.value);
            } else if h.name.eq_ignore_ascii_case("content-length") {
                length = core::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok());
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked |= h
                    .value
                    .to_ascii_lowercase()
                    .windows(7)
                    .any(|w| w == b"chunked");
            }
        }
        let rest = self.buf.get(head_len..).unwrap_or_default().to_vec();
        self.buf.clear();
        self.responses += 1;
        if self.responses >= MAX_RESPONSES {
            self.stop();
            return Some(Vec::new());
        }
        match code {
            101 => out.upgraded = Some(Vec::new()),
            // No body (RFC 9112 §6.3).
            100..=199 | 204 | 304 => {}
            _ if chunked => self.stop(),
            _ => match length {
                None => self.stop(),
                Some(len) if dns && usize::try_from(len).is_ok_and(|l| l <= MAX_BODY) => {
                    if len > 0 {
                        self.body = usize::try_from(len).ok();
                    }
                }
                Some(len) => {
                    if dns {
                        self.shed += 1;
                    }
                    self.skip = len;
                }
            },
        }
        Some(rest)
    }

    fn stop(&mut self) {
        self.stopped = true;
        self.buf = Vec::new();
        self.body = None;
    }
}

#[cfg(test)]
#[path = "doh_tests.rs"]
mod tests;
