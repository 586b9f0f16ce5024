//! Encrypted DNS upstreams: DNS-over-TLS (RFC 7858) and DNS-over-HTTPS
//! (RFC 8484, HTTP/1.1 POST of `application/dns-message`).
//!
//! One reused TLS connection, opened through the host's [`Dialer`] on the
//! first query and reopened when the server closes it. The framing (DoT's
//! two-byte length prefix, DoH's request and response) is pure functions over
//! bytes; the connection is driven by readiness like every relayed socket.
//! Every query has a deadline; a failed connection or a missed deadline
//! answers SERVFAIL to the device, so a client never hangs on us.

use core::net::SocketAddr;
use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection};

use crate::dialer::{Dialer, Outbound, Token};

/// Bytes of a DNS message at most (the DoT length prefix is 16 bits).
const MAX_MESSAGE: usize = u16::MAX as usize;
/// Response bytes buffered at most before the connection is dropped.
const MAX_BUFFERED: usize = 2 * MAX_MESSAGE + 8192;
/// Longest DoH response head accepted.
const MAX_HEAD: usize = 8192;
/// Header lines read from a DoH response at most.
const MAX_HEADERS: usize = 32;

/// Which encrypted protocol the upstream speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecureTransport {
    /// DNS-over-TLS: length-prefixed messages, pipelined.
    Tls,
    /// DNS-over-HTTPS: one POST to `path` at a time on a kept-alive connection
    /// (HTTP/1.1 pipelining is not reliably supported by servers).
    Https {
        /// The request path, e.g. `/dns-query`.
        path: String,
    },
}

/// An encrypted upstream for the tunnel's DNS. The address is
/// [`crate::DnsConfig::upstream`]; install with [`crate::Relay::set_secure_dns`].
#[derive(Debug, Clone)]
pub struct SecureDnsConfig {
    /// DoT or DoH.
    pub transport: SecureTransport,
    /// The name the server's certificate must carry (also DoH's `Host`).
    pub server_name: ServerName<'static>,
    /// The TLS client; [`client_config`] builds one with the platform's verifier.
    pub tls: Arc<ClientConfig>,
}

/// Why a TLS client configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecureDnsError {
    /// rustls refused the configuration (protocol versions, provider).
    #[error("tls configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The extra roots could not make a verifier.
    #[error("trust roots: {0}")]
    Roots(#[from] rustls::client::VerifierBuilderError),
    /// Extra roots given in PEM could not be read.
    #[error("trust roots in PEM: {0}")]
    Pem(#[from] rustls::pki_types::pem::Error),
    /// The relay has no DNS service ([`crate::RelayConfig::dns`] is None).
    #[error("the relay has no DNS service to give an upstream")]
    NoDnsService,
}

/// A TLS client using the ring provider and the platform's certificate
/// verifier. `extra_roots` are trusted besides the platform's: the test
/// harness passes its throwaway CA here; production passes none.
pub fn client_config(
    extra_roots: Vec<CertificateDer<'static>>,
) -> Result<Arc<ClientConfig>, SecureDnsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = verifier(extra_roots, provider.clone())?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(not(target_os = "android"))]
fn verifier(
    extra_roots: Vec<CertificateDer<'static>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::client::danger::ServerCertVerifier>, SecureDnsError> {
    Ok(Arc::new(if extra_roots.is_empty() {
        rustls_platform_verifier::Verifier::new(provider)?
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots, provider)?
    }))
}

/// The Android verifier cannot add roots: extra roots (tests only) are then
/// the only ones trusted, through rustls's own WebPKI verifier.
#[cfg(target_os = "android")]
fn verifier(
    extra_roots: Vec<CertificateDer<'static>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::client::danger::ServerCertVerifier>, SecureDnsError> {
    if extra_roots.is_empty() {
        return Ok(Arc::new(rustls_platform_verifier::Verifier::new(provider)?));
    }
    let mut roots = rustls::RootCertStore::empty();
    for root in extra_roots {
        roots.add(root)?;
    }
    Ok(
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()?,
    )
}

/// Why an upstream connection was given up (logged, and counted as
/// `dns_upstream_failed`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum UpstreamError {
    #[error("dial: {0}")]
    Dial(#[from] crate::dialer::DialError),
    #[error("socket: {0}")]
    Io(#[from] io::Error),
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
    #[error("the server closed the connection")]
    Closed,
    #[error("malformed response: {0}")]
    Framing(#[from] FrameError),
}

/// A malformed upstream response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum FrameError {
    #[error("bad HTTP response head")]
    HttpHead,
    #[error("HTTP status {0}")]
    HttpStatus(u16),
    #[error("no or bad Content-Length")]
    ContentLength,
    #[error("response too large")]
    TooLarge,
}

/// DoT: the query with its two-byte length prefix. None if it cannot be framed.
pub(crate) fn dot_frame(query: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(query.len()).ok()?;
    let mut out = Vec::with_capacity(query.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(query);
    Some(out)
}

/// DoT: the first complete message in `buf` and the bytes it took.
pub(crate) fn dot_unframe(buf: &[u8]) -> Option<(&[u8], usize)> {
    let len = usize::from(u16::from_be_bytes([*buf.first()?, *buf.get(1)?]));
    let msg = buf.get(2..2 + len)?;
    Some((msg, 2 + len))
}

/// DoH: the HTTP/1.1 POST carrying `query`.
pub(crate) fn doh_request(host: &str, path: &str, query: &[u8]) -> Vec<u8> {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/dns-message\r\n\
         Accept: application/dns-message\r\nContent-Length: {}\r\n\r\n",
        query.len()
    );
    let mut out = head.into_bytes();
    out.extend_from_slice(query);
    out
}

/// DoH: the first complete response in `buf`: its body and the bytes it
/// took. `Ok(None)` while incomplete. A non-200 status or a body without a
/// Content-Length is an error (the connection is then dropped).
pub(crate) fn doh_response(buf: &[u8]) -> Result<Option<(&[u8], usize)>, FrameError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Err(FrameError::HttpHead),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(FrameError::HttpHead),
    };
    let status = resp.code.unwrap_or(0);
    if status != 200 {
        return Err(FrameError::HttpStatus(status));
    }
    let len = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| core::str::from_utf8(h.value).ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
        .ok_or(FrameError::ContentLength)?;
    if len > MAX_MESSAGE {
        return Err(FrameError::TooLarge);
    }
    let end = head_len + len;
    Ok(buf.get(head_len..end).map(|body| (body, end)))
}

/// A query waiting for its answer.
#[derive(Debug)]
pub(crate) struct Pending {
    /// The device's endpoint and the address it asked (the answer's source).
    pub(crate) src: SocketAddr,
    pub(crate) dst: SocketAddr,
    /// The query as the device sent it.
    pub(crate) query: Vec<u8>,
    /// The ID it carries on the upstream connection (DoT rewrites it so
    /// pipelined answers from different devices cannot collide).
    wire_id: u16,
    pub(crate) deadline_us: u64,
    /// Already resent once after a lost connection.
    retried: bool,
}

/// What the upstream gave back for one query.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) src: SocketAddr,
    pub(crate) dst: SocketAddr,
    pub(crate) query: Vec<u8>,
    /// The answer (ID restored), or None: answer SERVFAIL.
    pub(crate) answer: Option<Vec<u8>>,
}

#[derive(Debug)]
struct Conn {
    token: Token,
    out: Box<dyn Outbound>,
    tls: ClientConnection,
    readable: bool,
    writable: bool,
    rbuf: Vec<u8>,
}

/// rustls reads and writes through this.
struct Io<'a>(&'a mut dyn Outbound);

impl Read for Io<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Io<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The upstream's state: queued and sent queries and the connection.
#[derive(Debug)]
pub(crate) struct SecureUpstream {
    config: SecureDnsConfig,
    upstream: SocketAddr,
    conn: Option<Conn>,
    queued: VecDeque<Pending>,
    sent: VecDeque<Pending>,
    next_id: u16,
    /// Connections opened and given up (for the stats).
    pub(crate) connects: u64,
    pub(crate) failures: u64,
}

impl SecureUpstream {
    pub(crate) fn new(config: SecureDnsConfig, upstream: SocketAddr) -> Self {
        SecureUpstream {
            config,
            upstream,
            conn: None,
            queued: VecDeque::new(),
            sent: VecDeque::new(),
            next_id: 1,
            connects: 0,
            failures: 0,
        }
    }

    /// Queries waiting (queued or sent).
    pub(crate) fn inflight(&self) -> usize {
        self.queued.len() + self.sent.len()
    }

    pub(crate) fn token(&self) -> Option<Token> {
        self.conn.as_ref().map(|c| c.token)
    }

    /// The local address of the upstream connection, if one is open.
    pub(crate) fn local_addr(&self) -> Option<Option<SocketAddr>> {
        self.conn.as_ref().map(|c| c.out.local_addr())
    }

    /// Drops the connection (its path is gone); queries sent on it are
    /// queued again, so the next service dials anew and resends them.
    pub(crate) fn redial(&mut self) {
        self.conn = None;
        let mut requeue: VecDeque<Pending> = self.sent.drain(..).collect();
        requeue.append(&mut self.queued);
        self.queued = requeue;
    }

    pub(crate) fn set_readable(&mut self) {
        if let Some(c) = self.conn.as_mut() {
            c.readable = true;
        }
    }

    pub(crate) fn set_writable(&mut self) {
        if let Some(c) = self.conn.as_mut() {
            c.writable = true;
        }
    }

    /// Queue a query (the caller enforces the in-flight cap).
    pub(crate) fn push(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        query: &[u8],
        deadline_us: u64,
    ) {
        let wire_id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.queued.push_back(Pending {
            src,
            dst,
            query: query.to_vec(),
            wire_id,
            deadline_us,
            retried: false,
        });
    }

    /// Queries past their deadline, to be answered SERVFAIL.
    pub(crate) fn expired(&mut self, now_us: u64) -> Vec<Reply> {
        let mut out = Vec::new();
        for q in [&mut self.queued, &mut self.sent] {
            let mut i = 0;
            while let Some(p) = q.get(i) {
                if now_us >= p.deadline_us {
                    if let Some(p) = q.remove(i) {
                        out.push(fail(p));
                    }
                } else {
                    i += 1;
                }
            }
        }
        out
    }

    /// Move bytes: connect if queries wait, send, receive, match answers.
    pub(crate) fn service(
        &mut self,
        dialer: &mut dyn Dialer,
        next_token: &mut dyn FnMut() -> Token,
    ) -> Vec<Reply> {
        let mut replies = Vec::new();
        if self.conn.is_none()
            && !self.queued.is_empty()
            && let Err(e) = self.connect(dialer, next_token())
        {
            log::debug!("dns upstream {}: {e}", self.upstream);
            self.failures += 1;
            replies.extend(self.queued.drain(..).map(fail));
            return replies;
        }
        if let Err(e) = self.pump(&mut replies) {
            log::debug!("dns upstream {}: {e}", self.upstream);
            // A server closing an idle connection is no failure.
            let idle = self.sent.is_empty() && self.queued.is_empty();
            if !(idle && matches!(e, UpstreamError::Closed)) {
                self.failures += 1;
            }
            self.conn = None;
            // Sent once on a lost connection: resend on a new one; a second
            // loss answers SERVFAIL.
            let mut requeue = VecDeque::new();
            for mut p in self.sent.drain(..) {
                if p.retried {
                    replies.push(fail(p));
                } else {
                    p.retried = true;
                    requeue.push_back(p);
                }
            }
            requeue.append(&mut self.queued);
            self.queued = requeue;
            if !self.queued.is_empty() {
                replies.extend(self.service(dialer, next_token));
            }
        }
        replies
    }

    fn connect(&mut self, dialer: &mut dyn Dialer, token: Token) -> Result<(), UpstreamError> {
        let tls = ClientConnection::new(self.config.tls.clone(), self.config.server_name.clone())?;
        let out = dialer.dial_tcp(token, self.upstream)?;
        self.connects += 1;
        self.conn = Some(Conn {
            token,
            out,
            tls,
            readable: true,
            writable: true,
            rbuf: Vec::new(),
        });
        Ok(())
    }

    fn pump(&mut self, replies: &mut Vec<Reply>) -> Result<(), UpstreamError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        // Hand queued queries to rustls (it holds them until the handshake
        // is done). DoH sends one at a time.
        let one_at_a_time = matches!(self.config.transport, SecureTransport::Https { .. });
        while !one_at_a_time || self.sent.is_empty() {
            let Some(mut p) = self.queued.pop_front() else {
                break;
            };
            let bytes = match &self.config.transport {
                SecureTransport::Tls => {
                    let mut q = p.query.clone();
                    if let Some(id) = q.get_mut(..2) {
                        id.copy_from_slice(&p.wire_id.to_be_bytes());
                    }
                    dot_frame(&q)
                }
                SecureTransport::Https { path } => {
                    let host = server_host(&self.config.server_name);
                    // RFC 8484 §4.1: ID 0 for HTTP cache friendliness.
                    let mut q = p.query.clone();
                    if let Some(id) = q.get_mut(..2) {
                        id.copy_from_slice(&[0, 0]);
                    }
                    p.wire_id = 0;
                    Some(doh_request(&host, path, &q))
                }
            };
            match bytes {
                Some(b) => {
                    conn.tls.writer().write_all(&b)?;
                    self.sent.push_back(p);
                }
                None => replies.push(fail(p)),
            }
        }
        loop {
            let mut progress = false;
            while conn.writable && conn.tls.wants_write() {
                match conn.tls.write_tls(&mut Io(conn.out.as_mut())) {
                    Ok(_) => progress = true,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => conn.writable = false,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
            }
            while conn.readable && conn.tls.wants_read() {
                match conn.tls.read_tls(&mut Io(conn.out.as_mut())) {
                    Ok(0) => return Err(UpstreamError::Closed),
                    Ok(_) => {
                        conn.tls.process_new_packets()?;
                        progress = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => conn.readable = false,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let mut chunk = [0u8; 4096];
            loop {
                match conn.tls.reader().read(&mut chunk) {
                    Ok(0) => return Err(UpstreamError::Closed),
                    Ok(n) => {
                        conn.rbuf
                            .extend_from_slice(chunk.get(..n).unwrap_or_default());
                        if conn.rbuf.len() > MAX_BUFFERED {
                            return Err(FrameError::TooLarge.into());
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e.into()),
                }
            }
            // Match what arrived.
            let mut answered_doh = false;
            loop {
                let (answer, used) = match &self.config.transport {
                    SecureTransport::Tls => match dot_unframe(&conn.rbuf) {
                        Some((m, used)) => (m.to_vec(), used),
                        None => break,
                    },
                    SecureTransport::Https { .. } => match doh_response(&conn.rbuf)? {
                        Some((m, used)) => (m.to_vec(), used),
                        None => break,
                    },
                };
                conn.rbuf.drain(..used);
                let id = match answer.get(..2) {
                    Some(&[a, b]) => u16::from_be_bytes([a, b]),
                    _ => continue,
                };
                let pos = if one_at_a_time {
                    answered_doh = true;
                    Some(0).filter(|_| !self.sent.is_empty())
                } else {
                    self.sent.iter().position(|p| p.wire_id == id)
                };
                // An answer to a query already timed out is dropped.
                if let Some(p) = pos.and_then(|i| self.sent.remove(i)) {
                    let mut answer = answer;
                    if let (Some(dst), Some(src)) = (answer.get_mut(..2), p.query.get(..2)) {
                        dst.copy_from_slice(src);
                    }
                    replies.push(Reply {
                        src: p.src,
                        dst: p.dst,
                        query: p.query,
                        answer: Some(answer),
                    });
                }
            }
            if answered_doh && self.sent.is_empty() {
                // The next DoH request can go now.
                return self.pump(replies);
            }
            if !progress {
                return Ok(());
            }
        }
    }
}

fn fail(p: Pending) -> Reply {
    Reply {
        src: p.src,
        dst: p.dst,
        query: p.query,
        answer: None,
    }
}

fn server_host(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(n) => n.as_ref().to_owned(),
        ServerName::IpAddress(ip) => match core::net::IpAddr::from(*ip) {
            core::net::IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        },
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_framing_round_trips_and_waits_for_whole_frames() {
        let framed = dot_frame(&[0xab, 0xcd, 1, 2, 3]).unwrap();
        assert_eq!(framed, [0, 5, 0xab, 0xcd, 1, 2, 3]);
        assert_eq!(dot_unframe(&framed), Some((&framed[2..], 7)));
        // Two frames back to back: the first is taken, the rest stays.
        let mut two = framed.clone();
        two.extend_from_slice(&[0, 1, 9]);
        assert_eq!(dot_unframe(&two), Some((&[0xab, 0xcd, 1, 2, 3][..], 7)));
        assert_eq!(dot_unframe(&two[7..]), Some((&[9][..], 3)));
        // Incomplete: no prefix, half a prefix, a short body.
        assert_eq!(dot_unframe(&[]), None);
        assert_eq!(dot_unframe(&[0]), None);
        assert_eq!(dot_unframe(&[0, 5, 1, 2]), None);
        assert_eq!(dot_unframe(&[0, 0]), Some((&[][..], 2)));
        assert!(dot_frame(&vec![0; 65_536]).is_none());
    }

    #[test]
    fn doh_request_is_a_post_of_the_message() {
        let req = doh_request("dns.example", "/dns-query", &[0, 0, 1, 0]);
        let expected: &[u8] = b"POST /dns-query HTTP/1.1\r\nHost: dns.example\r\n\
            Content-Type: application/dns-message\r\nAccept: application/dns-message\r\n\
            Content-Length: 4\r\n\r\n\x00\x00\x01\x00";
        assert_eq!(req, expected);
    }

    #[test]
    fn doh_response_reads_body_by_length() {
        let resp: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/dns-message\r\n\
            Content-Length: 3\r\n\r\n\x01\x02\x03HTTP/1.1";
        let (body, used) = doh_response(resp).unwrap().unwrap();
        assert_eq!(body, [1, 2, 3]);
        assert_eq!(&resp[used..], b"HTTP/1.1");
        // Partial head, partial body.
        assert_eq!(doh_response(&resp[..20]), Ok(None));
        assert_eq!(doh_response(&resp[..used - 1]), Ok(None));
    }

    #[test]
    fn doh_response_errors_are_typed() {
        assert_eq!(
            doh_response(b"HTTP/1.1 415 Unsupported\r\nContent-Length: 0\r\n\r\n"),
            Err(FrameError::HttpStatus(415))
        );
        assert_eq!(
            doh_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(FrameError::ContentLength)
        );
        assert_eq!(
            doh_response(b"HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n"),
            Err(FrameError::TooLarge)
        );
        assert_eq!(
            doh_response(b"\x00\x01 nonsense\r\n\r\n"),
            Err(FrameError::HttpHead)
        );
        assert_eq!(
            doh_response(&[b'H'; MAX_HEAD + 1]),
            Err(FrameError::HttpHead)
        );
    }
}
