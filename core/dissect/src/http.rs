//! HTTP/1.x requests from the start of a client stream.
//!
//! The request line and headers are parsed by `httparse` (zero-copy); this
//! module adds what naming a flow needs: the Host split into name and port
//! (IPv6 literals included), the CONNECT target, the User-Agent, HTTP/0.9
//! request lines (no version), and a bounded scanner for pipelined requests.

use core::str;

/// Most header bytes read for one request before giving up.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
/// Most headers per request.
pub const MAX_HEADERS: usize = 64;
/// Buffer cap of [`HttpRequestScanner`].
pub const MAX_SCAN_BUFFER: usize = 16 * 1024;

/// Why bytes are not (or no longer) a readable HTTP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// Not an HTTP request line.
    #[error("not an HTTP request")]
    NotHttp,
    /// Invalid bytes in a header.
    #[error("malformed header")]
    BadHeader,
    /// More than [`MAX_HEADERS`] headers.
    #[error("too many headers")]
    TooManyHeaders,
    /// No end of headers within [`MAX_HEADER_BYTES`].
    #[error("headers exceed the size cap")]
    HeadersTooLarge,
    /// A body the scanner cannot skip (chunked, or an unreadable Content-Length).
    #[error("request body length unknown")]
    UnknownBodyLength,
}

/// HTTP version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpVersion {
    /// A request line without a version (`GET /path`).
    Http09,
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1.
    Http11,
}

/// A host and optional port, as in a Host header or CONNECT target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authority<'a> {
    /// Name or address; IPv6 literals without their brackets.
    pub host: &'a str,
    /// The explicit port, if any.
    pub port: Option<u16>,
}

impl<'a> Authority<'a> {
    /// Split `host[:port]` or `[v6]:port`; `None` if the port is not a number
    /// or the brackets do not close.
    pub fn parse(s: &'a str) -> Option<Self> {
        let s = s.trim();
        if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest.split_once(']')?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':')?.parse().ok()?),
            };
            return Some(Self { host, port });
        }
        match s.rsplit_once(':') {
            // A bare IPv6 address has several colons and no port.
            Some((host, _)) if host.contains(':') => Some(Self {
                host: s,
                port: None,
            }),
            Some((host, port)) => Some(Self {
                host,
                port: Some(port.parse().ok()?),
            }),
            None => Some(Self {
                host: s,
                port: None,
            }),
        }
        .filter(|a| !a.host.is_empty())
    }
}

/// One parsed request head, borrowing the stream bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest<'a> {
    /// Method, e.g. `GET`.
    pub method: &'a str,
    /// Request target as sent (path, absolute URI, or authority for CONNECT).
    pub target: &'a str,
    /// Version.
    pub version: HttpVersion,
    /// Raw Host header value.
    pub host_header: Option<&'a str>,
    /// User-Agent header value.
    pub user_agent: Option<&'a str>,
    /// Content-Length, if present and numeric.
    pub content_length: Option<u64>,
    /// Whether Transfer-Encoding names `chunked`.
    pub chunked: bool,
    /// Content-Type header value.
    pub content_type: Option<&'a str>,
    /// Upgrade header value (`h2c` asks for cleartext HTTP/2).
    pub upgrade: Option<&'a str>,
    /// Bytes of request line plus headers (where the body starts).
    pub head_len: usize,
}

impl<'a> HttpRequest<'a> {
    /// Host header split into name and port.
    pub fn host(&self) -> Option<Authority<'a>> {
        self.host_header.and_then(Authority::parse)
    }

    /// Target of a CONNECT request (`CONNECT host:port HTTP/1.1`).
    pub fn connect_target(&self) -> Option<Authority<'a>> {
        if self.method.eq_ignore_ascii_case("CONNECT") {
            Authority::parse(self.target)
        } else {
            None
        }
    }

    /// The name this request is for: Host, else the CONNECT target, else an
    /// absolute-URI target's authority.
    pub fn authority(&self) -> Option<Authority<'a>> {
        self.host().or_else(|| self.connect_target()).or_else(|| {
            let rest = self.target.split_once("://")?.1;
            let auth = rest.split(['/', '?', '#']).next()?;
            let auth = auth.rsplit_once('@').map_or(auth, |(_, a)| a);
            Authority::parse(auth)
        })
    }
}

/// Parse one request head at the start of `buf`.
///
/// `Ok(None)` means more bytes are needed; past [`MAX_HEADER_BYTES`] that
/// becomes [`HttpError::HeadersTooLarge`].
pub fn parse_request(buf: &[u8]) -> Result<Option<HttpRequest<'_>>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let window = buf.get(..MAX_HEADER_BYTES).unwrap_or(buf);
    let status = match req.parse(window) {
        Ok(s) => s,
        // A request line without a version fails in different places inside httparse.
        Err(httparse::Error::Version | httparse::Error::Token | httparse::Error::NewLine) => {
            return parse_http09(buf);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::TooManyHeaders),
        Err(httparse::Error::HeaderName | httparse::Error::HeaderValue) => {
            return Err(HttpError::BadHeader);
        }
        Err(_) => return Err(HttpError::NotHttp),
    };
    let head_len = match status {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial if window.len() >= MAX_HEADER_BYTES => {
            return Err(HttpError::HeadersTooLarge);
        }
        httparse::Status::Partial => return Ok(None),
    };
    let (Some(method), Some(target), Some(v)) = (req.method, req.path, req.version) else {
        return Ok(None);
    };
    let mut out = HttpRequest {
        method,
        target,
        version: if v == 0 {
            HttpVersion::Http10
        } else {
            HttpVersion::Http11
        },
        host_header: None,
        user_agent: None,
        content_length: None,
        chunked: false,
        content_type: None,
        upgrade: None,
        head_len,
    };
    for h in req.headers.iter() {
        let value = str::from_utf8(h.value).ok().map(str::trim);
        if h.name.eq_ignore_ascii_case("host") {
            out.host_header = out.host_header.or(value);
        } else if h.name.eq_ignore_ascii_case("user-agent") {
            out.user_agent = out.user_agent.or(value);
        } else if h.name.eq_ignore_ascii_case("content-length") {
            out.content_length = value.and_then(|v| v.parse().ok());
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            out.chunked |= value.is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        } else if h.name.eq_ignore_ascii_case("content-type") {
            out.content_type = out.content_type.or(value);
        } else if h.name.eq_ignore_ascii_case("upgrade") {
            out.upgrade = out.upgrade.or(value);
        }
    }
    Ok(Some(out))
}

const HTTP09_METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH",
];

/// `METHOD target` with no version and no headers (HTTP/0.9, RFC 1945 "simple request").
fn parse_http09(buf: &[u8]) -> Result<Option<HttpRequest<'_>>, HttpError> {
    // Refuse early what can never become `METHOD target`, instead of waiting for a newline.
    let line_so_far = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    let method_len = line_so_far
        .iter()
        .take_while(|b| b.is_ascii_uppercase())
        .count();
    let plausible = match line_so_far.get(method_len) {
        None => true,
        Some(b' ') => line_so_far
            .iter()
            .skip(method_len)
            .all(|&b| b.is_ascii_graphic() || b == b' ' || b == b'\r'),
        Some(_) => false,
    };
    if method_len == 0 || !plausible {
        return Err(HttpError::NotHttp);
    }
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() >= MAX_HEADER_BYTES {
            Err(HttpError::HeadersTooLarge)
        } else {
            Ok(None)
        };
    };
    let line = buf.get(..nl).ok_or(HttpError::NotHttp)?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = str::from_utf8(line).map_err(|_| HttpError::NotHttp)?;
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let (Some(method), Some(target), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(HttpError::NotHttp);
    };
    // Without a version there is little else to go on: accept only registered
    // methods, as Zeek does, so that stray uppercase text is not taken for HTTP.
    if !HTTP09_METHODS.contains(&method) || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(HttpError::NotHttp);
    }
    Ok(Some(HttpRequest {
        method,
        target,
        version: HttpVersion::Http09,
        host_header: None,
        user_agent: None,
        content_length: None,
        chunked: false,
        content_type: None,
        upgrade: None,
        head_len: nl + 1,
    }))
}

/// A request head copied out of the scanner's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSummary {
    /// Method.
    pub method: String,
    /// Request target.
    pub target: String,
    /// Version.
    pub version: HttpVersion,
    /// Host name (Host header, else CONNECT target, else absolute URI), as
    /// sent: an address literal stays one, IPv6 in brackets.
    pub host: Option<String>,
    /// Explicit port of that authority.
    pub port: Option<u16>,
    /// User-Agent.
    pub user_agent: Option<String>,
    /// The DNS message the request carries (DNS over HTTP, RFC 8484): its
    /// `?dns=` parameter decoded, or its `application/dns-message` body.
    pub dns_message: Option<Vec<u8>>,
    /// The request asks to switch the connection to cleartext HTTP/2 (`Upgrade: h2c`).
    pub upgrade_h2c: bool,
}

impl From<&HttpRequest<'_>> for RequestSummary {
    fn from(r: &HttpRequest<'_>) -> Self {
        let auth = r.authority();
        Self {
            method: r.method.to_owned(),
            target: r.target.to_owned(),
            version: r.version,
            // As sent: an IPv6 literal keeps its brackets (`[::1]`), as in the header.
            host: auth.map(|a| {
                if a.host.contains(':') {
                    format!("[{}]", a.host)
                } else {
                    a.host.to_owned()
                }
            }),
            port: auth.and_then(|a| a.port),
            user_agent: r.user_agent.map(str::to_owned),
            dns_message: crate::doh::query_param(r.target).and_then(Result::ok),
            upgrade_h2c: r
                .upgrade
                .is_some_and(|u| u.split(',').any(|p| p.trim().eq_ignore_ascii_case("h2c"))),
        }
    }
}

/// Finds successive (pipelined) requests in an in-order client stream.
///
/// Skips bodies announced by Content-Length; stops at a chunked body, a
/// CONNECT (the tunnel that follows is not HTTP) or anything unparsable.
/// Buffers at most [`MAX_SCAN_BUFFER`] bytes and counts what it sheds.
#[derive(Debug, Clone, Default)]
pub struct HttpRequestScanner {
    buf: Vec<u8>,
    skip: u64,
    stopped: bool,
    shed_bytes: u64,
}

impl HttpRequestScanner {
    /// An empty scanner.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes dropped because the buffer was full or the scanner had stopped.
    pub fn shed_bytes(&self) -> u64 {
        self.shed_bytes
    }

    /// Whether the scanner has given up on this stream.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Add in-order stream bytes.
    pub fn push(&mut self, mut data: &[u8]) {
        if self.stopped {
            self.shed_bytes += data.len() as u64;
            return;
        }
        let skip = usize::try_from(self.skip)
            .unwrap_or(usize::MAX)
            .min(data.len());
        data = data.get(skip..).unwrap_or_default();
        self.skip -= skip as u64;
        let room = MAX_SCAN_BUFFER.saturating_sub(self.buf.len());
        let (keep, shed) = data.split_at_checked(room).unwrap_or((data, &[]));
        self.buf.extend_from_slice(keep);
        self.shed_bytes += shed.len() as u64;
    }

    /// The next complete request, `None` until one is buffered.
    pub fn next_request(&mut self) -> Option<Result<RequestSummary, HttpError>> {
        if self.stopped || self.buf.is_empty() {
            return None;
        }
        let (summary, head_len, body) = match parse_request(&self.buf) {
            Ok(None) => return None,
            Err(e) => {
                self.stop();
                return Some(Err(e));
            }
            Ok(Some(req)) => {
                let mut summary = RequestSummary::from(&req);
                // A DNS message body is kept whole: wait for it (it fits the buffer).
                if let Some(len) = req
                    .content_length
                    .filter(|_| !req.chunked && req.content_type.is_some_and(is_dns_type))
                    && let Ok(len) = usize::try_from(len)
                    && (1..=crate::doh::MAX_BODY).contains(&len)
                {
                    let end = req.head_len + len;
                    match self.buf.get(req.head_len..end) {
                        Some(body) => summary.dns_message = Some(body.to_vec()),
                        None => return None,
                    }
                }
                let body = if req.chunked {
                    None
                } else if req.connect_target().is_some() || req.version == HttpVersion::Http09 {
                    Some(u64::MAX)
                } else {
                    Some(req.content_length.unwrap_or(0))
                };
                (summary, req.head_len, body)
            }
        };
        match body {
            None | Some(u64::MAX) => self.stop(),
            Some(len) => {
                let consumed = head_len.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
                let now = consumed.min(self.buf.len());
                self.buf.drain(..now);
                self.skip = (consumed - now) as u64;
            }
        }
        Some(Ok(summary))
    }

    fn stop(&mut self) {
        self.stopped = true;
        self.shed_bytes += self.buf.len() as u64;
        self.buf = Vec::new();
    }

    /// Ends the scanner, handing back the bytes it held after the last request
    /// it returned (for the protocol an upgrade switched to).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        self.stopped = true;
        core::mem::take(&mut self.buf)
    }
}

fn is_dns_type(t: &str) -> bool {
    crate::doh::is_dns_message_type(t.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_with_host_port_and_user_agent() {
        let req = b"GET /index.html?q=1 HTTP/1.1\r\nHost: www.example.org:8080\r\n\
                    User-Agent: curl/8.0\r\nAccept: */*\r\n\r\nleftover";
        let r = parse_request(req).unwrap().unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.target, "/index.html?q=1");
        assert_eq!(r.version, HttpVersion::Http11);
        assert_eq!(
            r.host(),
            Some(Authority {
                host: "www.example.org",
                port: Some(8080)
            })
        );
        assert_eq!(r.user_agent, Some("curl/8.0"));
        assert_eq!(&req[r.head_len..], b"leftover");
    }

    #[test]
    fn authorities() {
        let a = |s| Authority::parse(s).map(|a| (a.host, a.port));
        assert_eq!(a("[::1]:8080"), Some(("::1", Some(8080))));
        assert_eq!(a("[2001:db8::1]"), Some(("2001:db8::1", None)));
        assert_eq!(a("2001:db8::1"), Some(("2001:db8::1", None)));
        assert_eq!(a("15.35.226.136:443"), Some(("15.35.226.136", Some(443))));
        assert_eq!(a("example.com"), Some(("example.com", None)));
        assert_eq!(a("example.com:http"), None);
        assert_eq!(a("[::1"), None);
        assert_eq!(a(":80"), None);
        assert_eq!(a("host:99999"), None);
    }

    #[test]
    fn connect_and_absolute_uri() {
        let r = parse_request(b"CONNECT 15.35.226.136:443 HTTP/1.1\r\n\r\n")
            .unwrap()
            .unwrap();
        let t = r.connect_target().unwrap();
        assert_eq!((t.host, t.port), ("15.35.226.136", Some(443)));
        assert_eq!(r.authority(), Some(t));

        let r = parse_request(b"GET http://user@proxy.example:3128/x HTTP/1.0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.version, HttpVersion::Http10);
        let a = r.authority().unwrap();
        assert_eq!((a.host, a.port), ("proxy.example", Some(3128)));
    }

    #[test]
    fn http09_and_partial_and_errors() {
        let r = parse_request(b"GET /old\r\n").unwrap().unwrap();
        assert_eq!(
            (r.method, r.target, r.version),
            ("GET", "/old", HttpVersion::Http09)
        );
        assert_eq!(r.head_len, 10);
        assert_eq!(parse_request(b"GET /old"), Ok(None));
        assert_eq!(parse_request(b"T /zeek.html\n"), Err(HttpError::NotHttp));
        assert_eq!(parse_request(b"GET \n"), Err(HttpError::NotHttp));
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\nHost: a"), Ok(None));
        assert_eq!(
            parse_request(b"\x16\x03\x01\x02\x00"),
            Err(HttpError::NotHttp)
        );
        assert_eq!(
            parse_request(b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"),
            Err(HttpError::BadHeader)
        );
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend(format!("X-{i}: v\r\n").bytes());
        }
        many.extend(b"\r\n");
        assert_eq!(parse_request(&many), Err(HttpError::TooManyHeaders));
        let mut huge = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
        huge.resize(MAX_HEADER_BYTES + 10, b'a');
        assert_eq!(parse_request(&huge), Err(HttpError::HeadersTooLarge));
    }

    #[test]
    fn scanner_pipelined_with_bodies_across_pushes() {
        let stream = b"GET /a HTTP/1.1\r\nHost: one.example\r\n\r\n\
            POST /b HTTP/1.1\r\nHost: two.example\r\nContent-Length: 11\r\n\r\nhello world\
            GET /c HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n\
            CONNECT tunnel.example:443 HTTP/1.1\r\n\r\n\x16\x03\x01";
        for chunk in [1, 7, 50, stream.len()] {
            let mut s = HttpRequestScanner::new();
            let mut got = Vec::new();
            for part in stream.chunks(chunk) {
                s.push(part);
                while let Some(r) = s.next_request() {
                    let r = r.unwrap();
                    got.push((r.method, r.target, r.host, r.port));
                }
            }
            let want = vec![
                ("GET".into(), "/a".into(), Some("one.example".into()), None),
                ("POST".into(), "/b".into(), Some("two.example".into()), None),
                ("GET".into(), "/c".into(), Some("[::1]".into()), Some(8080)),
                (
                    "CONNECT".into(),
                    "tunnel.example:443".into(),
                    Some("tunnel.example".into()),
                    Some(443),
                ),
            ];
            assert_eq!(got, want, "chunk {chunk}");
            assert!(s.is_stopped());
        }
    }

    #[test]
    fn scanner_bounds_and_garbage() {
        let mut s = HttpRequestScanner::new();
        s.push(&vec![b'A'; MAX_SCAN_BUFFER + 100]);
        assert_eq!(s.shed_bytes(), 100);
        assert_eq!(s.next_request(), Some(Err(HttpError::HeadersTooLarge)));
        assert_eq!(s.next_request(), None);
        let mut s = HttpRequestScanner::new();
        s.push(b"\x00\x01binary");
        assert_eq!(s.next_request(), Some(Err(HttpError::NotHttp)));
        let mut s = HttpRequestScanner::new();
        s.push(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
        assert!(matches!(s.next_request(), Some(Ok(_))));
        assert!(s.is_stopped());
    }

    #[test]
    fn never_panics_on_prefixes() {
        let req =
            b"GET http://[::1]:80/ HTTP/1.1\r\nHost: [::1]:80\r\nContent-Length: 3\r\n\r\nabc";
        for end in 0..req.len() {
            if let Ok(Some(r)) = parse_request(&req[..end]) {
                let _ = r.authority();
            }
        }
    }
}
