//! Per-flow inspection: follows the first bytes of each flow through the
//! dissectors (TLS ClientHello, QUIC Initial, HTTP request heads, DNS over TCP,
//! DNS over cleartext HTTP/1.1 and HTTP/2) and stops as soon as there is nothing
//! left to learn, so a long download costs nothing after its first packets.
//!
//! The server's bytes are read only for DNS: on DNS ports, and on an HTTP
//! connection once it has shown DNS (a request carrying a DNS message, an
//! `Upgrade: h2c`, or the HTTP/2 preface).

use core::net::SocketAddr;

use nightjar_dissect::doh::ResponseScanner;
use nightjar_dissect::h2c::H2Reader;
use nightjar_dissect::http::HttpVersion;
use nightjar_dissect::{
    HelloAssembler, HelloMessage, HttpRequestScanner, Progress, QuicError, QuicHelloAssembler,
    QuicProgress, ja4,
};
use nightjar_dissect::{dtls, gquic};
use nightjar_dns::TcpDnsFramer;

use crate::app_records::{HelloRecord, HttpRecord};
use crate::names::NameSource;
use crate::record::{AppId, FlowId};
use crate::stream::{Accepted, InOrder};

/// HTTP request heads followed per flow at most.
const MAX_HTTP_REQUESTS: u32 = 32;
/// Client datagrams of a UDP flow looked at for a QUIC Initial at most.
const MAX_QUIC_DATAGRAMS: u32 = 8;
/// Client datagrams holding only 0-RTT or Handshake packets passed over, at most,
/// while waiting for the rest of the ClientHello.
const MAX_QUIC_ZERO_RTT: u32 = 64;
/// Largest buffer any one consumer keeps (ClientHello or request head cap).
const CONSUMER_CAP: usize = 16 * 1024 + 5;

/// Ports whose UDP and TCP traffic is DNS (DNS, mDNS, LLMNR).
pub(crate) fn is_dns_port(p: u16) -> bool {
    matches!(p, 53 | 5353 | 5355)
}

/// What the client side of a TCP stream turned out to be.
#[derive(Debug)]
enum Client {
    Undecided,
    Tls(HelloAssembler),
    Http(HttpRequestScanner, u32),
    /// Cleartext HTTP/2; whether its `:authority` was offered as a name yet.
    H2(Box<H2Reader>, bool),
    Done,
}

/// What the server side of a TCP stream is read with, when it is read.
#[derive(Debug)]
enum Server {
    /// HTTP/1.x responses, for DNS bodies (and an upgrade to h2c).
    Http1(ResponseScanner),
    /// Cleartext HTTP/2 responses.
    H2(H2Reader),
}

/// State for one TCP flow.
#[derive(Debug)]
pub(crate) struct TcpInspector {
    streams: [InOrder; 2],
    client: Client,
    dns: Option<Box<[TcpDnsFramer; 2]>>,
    /// The server's bytes, once the connection has shown DNS over HTTP.
    server: Option<Box<Server>>,
    /// Bytes handed to the client-side consumer so far (capped), charged to the
    /// engine's inspection budget.
    pushed: usize,
}

/// State for one UDP flow that might be QUIC.
#[derive(Debug)]
pub(crate) struct QuicInspector {
    assembler: QuicHelloAssembler,
    datagrams: u32,
    zero_rtt: u32,
}

/// Inspection state of one flow.
#[derive(Debug)]
pub(crate) enum Inspector {
    Tcp(TcpInspector),
    Quic(QuicInspector),
}

/// Who a flow is, for the records an inspector produces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlowCtx {
    pub(crate) now_us: u64,
    pub(crate) flow: FlowId,
    pub(crate) orig: SocketAddr,
    pub(crate) resp: SocketAddr,
    pub(crate) app: Option<AppId>,
}

/// What an inspector learned from one packet.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub(crate) names: Vec<(String, NameSource)>,
    pub(crate) ech: bool,
    pub(crate) hello: Option<HelloRecord>,
    pub(crate) http: Vec<HttpRecord>,
    /// DNS messages carried over TCP, with whether the originator sent each.
    pub(crate) dns_messages: Vec<(Vec<u8>, bool)>,
    pub(crate) malformed_hellos: u64,
    pub(crate) broken_streams: u64,
}

impl Inspector {
    /// Inspection for a new TCP flow.
    pub(crate) fn tcp(dns: bool) -> Self {
        Inspector::Tcp(TcpInspector {
            streams: [InOrder::default(), InOrder::default()],
            client: if dns { Client::Done } else { Client::Undecided },
            dns: dns.then(|| Box::new([TcpDnsFramer::new(), TcpDnsFramer::new()])),
            server: None,
            pushed: 0,
        })
    }

    /// Inspection for a UDP flow whose first client datagram looks like a
    /// QUIC long-header packet.
    pub(crate) fn quic() -> Self {
        Inspector::Quic(QuicInspector {
            assembler: QuicHelloAssembler::new(),
            datagrams: 0,
            zero_rtt: 0,
        })
    }

    /// Start the TCP streams at the SYNs seen before inspection began, so a
    /// first payload that arrives out of order is held, not taken as the start.
    pub(crate) fn seed_syns(&mut self, tcp: crate::TcpHistory, isn: [u32; 2]) {
        if let Inspector::Tcp(t) = self {
            for ((stream, from_orig), isn) in t.streams.iter_mut().zip([true, false]).zip(isn) {
                if tcp.syn_seen(from_orig) {
                    stream.syn(isn);
                }
            }
        }
    }

    /// Bytes this inspector holds that count against the engine's budget.
    pub(crate) fn charged_bytes(&self) -> usize {
        match self {
            Inspector::Tcp(t) => {
                let dns = t
                    .dns
                    .as_ref()
                    .map_or(0, |f| f.iter().map(TcpDnsFramer::buffered_len).sum());
                let h2 = match &t.client {
                    Client::H2(r, _) => r.buffered_len(),
                    _ => 0,
                };
                let server = t.server.as_deref().map_or(0, |s| match s {
                    Server::Http1(r) => r.buffered_len(),
                    Server::H2(r) => r.buffered_len(),
                });
                t.pushed
                    + dns
                    + h2
                    + server
                    + t.streams.iter().map(InOrder::held_bytes).sum::<usize>()
            }
            // Initial CRYPTO data is capped at one hello.
            Inspector::Quic(q) => q.datagrams.min(MAX_QUIC_DATAGRAMS) as usize * 1_500,
        }
    }

    /// Whether there is nothing left to learn from this flow.
    pub(crate) fn finished(&self) -> bool {
        match self {
            Inspector::Tcp(t) => {
                matches!(t.client, Client::Done) && t.dns.is_none() && t.server.is_none()
            }
            Inspector::Quic(q) => q.datagrams >= MAX_QUIC_DATAGRAMS,
        }
    }

    /// Whether the responder's bytes are read (beyond SYNs), so the packet path
    /// must not skip them.
    pub(crate) fn reads_responder(&self) -> bool {
        matches!(self, Inspector::Tcp(t) if t.dns.is_some() || t.server.is_some())
    }

    /// A TCP segment.
    pub(crate) fn on_tcp(
        &mut self,
        ctx: &FlowCtx,
        from_orig: bool,
        syn: bool,
        seq: u32,
        payload: &[u8],
        out: &mut Findings,
    ) {
        let Inspector::Tcp(t) = self else { return };
        let dir = usize::from(!from_orig);
        let Some(stream) = t.streams.get_mut(dir) else {
            return;
        };
        if syn {
            stream.syn(seq);
            return;
        }
        // Only the client side carries hellos and requests; the server side
        // matters only for DNS responses.
        let wanted = t.dns.is_some()
            || if from_orig {
                !matches!(t.client, Client::Done)
            } else {
                t.server.is_some()
            };
        if !wanted {
            return;
        }
        let client = &mut t.client;
        let dns = &mut t.dns;
        let server = &mut t.server;
        let pushed = &mut t.pushed;
        let mut server_started = false;
        let result = stream.accept(seq, payload, |bytes| {
            if let Some(framer) = dns.as_mut().and_then(|f| f.get_mut(dir)) {
                for m in framer.push(bytes).flatten() {
                    out.dns_messages.push((m.into_owned(), from_orig));
                }
            }
            if from_orig {
                *pushed = (*pushed + bytes.len()).min(CONSUMER_CAP);
                let had_server = server.is_some();
                on_client_bytes(client, server, ctx, bytes, out);
                server_started |= !had_server && server.is_some();
            } else {
                on_server_bytes(server, bytes, out);
            }
        });
        if server_started
            && matches!(t.server.as_deref(), Some(Server::Http1(_)))
            && let Some(s) = t.streams.get_mut(1)
        {
            // Responses before the first DNS request were never read: the
            // server's stream is picked up at its next segment, not its SYN.
            *s = InOrder::default();
        }
        if result == Accepted::Broken {
            out.broken_streams += 1;
            if from_orig {
                t.client = Client::Done;
            } else {
                t.server = None;
            }
            t.dns = None;
        }
    }

    /// A UDP datagram from the client of a QUIC-looking flow.
    pub(crate) fn on_quic(&mut self, ctx: &FlowCtx, payload: &[u8], out: &mut Findings) {
        let Inspector::Quic(q) = self else { return };
        q.datagrams += 1;
        match q.assembler.push_datagram(payload) {
            // A first flight's 0-RTT datagrams may come between its Initials; they
            // cost one header parse each, so they spend their own, larger allowance.
            QuicProgress::Skipped(QuicError::NoInitial) if q.zero_rtt < MAX_QUIC_ZERO_RTT => {
                q.datagrams -= 1;
                q.zero_rtt += 1;
            }
            QuicProgress::Done { version, hello } => {
                q.datagrams = MAX_QUIC_DATAGRAMS;
                hello_found(ctx, &hello, Some(version), false, out);
            }
            QuicProgress::Failed(_) => {
                q.datagrams = MAX_QUIC_DATAGRAMS;
                out.malformed_hellos += 1;
            }
            // A DTLS ClientHello (WebRTC, some VPNs and games) names the flow as SNI does.
            QuicProgress::Skipped(_) if dtls::looks_like_client_hello(payload) => {
                q.datagrams = MAX_QUIC_DATAGRAMS;
                match dtls::client_hello(payload) {
                    Ok(hello) => hello_found(ctx, &hello, None, true, out),
                    Err(dtls::DtlsError::Tls(_)) => out.malformed_hellos += 1,
                    Err(_) => {}
                }
            }
            // Not IETF QUIC: Google QUIC's CHLO is in the clear (or Q050's Initial).
            QuicProgress::Skipped(_) if gquic::looks_like_gquic(payload) => {
                match gquic::chlo_from_datagram(payload) {
                    Ok(chlo) => {
                        q.datagrams = MAX_QUIC_DATAGRAMS;
                        chlo_found(ctx, chlo, out);
                    }
                    Err(gquic::GquicError::BadChlo) => {
                        q.datagrams = MAX_QUIC_DATAGRAMS;
                        out.malformed_hellos += 1;
                    }
                    Err(_) => {}
                }
            }
            _ => {}
        }
    }
}

fn on_client_bytes(
    client: &mut Client,
    server: &mut Option<Box<Server>>,
    ctx: &FlowCtx,
    bytes: &[u8],
    out: &mut Findings,
) {
    if matches!(client, Client::Undecided) {
        *client = match bytes.first() {
            Some(0x16) => Client::Tls(HelloAssembler::new()),
            // HTTP/2 with prior knowledge: both sides are HTTP/2 from the start.
            Some(b'P') if H2Reader::starts_preface(bytes) => {
                *server = Some(Box::new(Server::H2(H2Reader::server())));
                Client::H2(Box::new(H2Reader::client()), false)
            }
            Some(b) if b.is_ascii_uppercase() => Client::Http(HttpRequestScanner::new(), 0),
            _ => Client::Done,
        };
    }
    match client {
        Client::Tls(asm) => match asm.push(bytes) {
            Progress::NeedMore => {}
            Progress::Done(hello) => {
                hello_found(ctx, &hello, None, false, out);
                *client = Client::Done;
            }
            Progress::Malformed(_) | Progress::TooLarge => {
                out.malformed_hellos += 1;
                *client = Client::Done;
            }
            _ => *client = Client::Done,
        },
        Client::Http(scanner, seen) => {
            scanner.push(bytes);
            let mut last_connect = false;
            let mut upgrade = false;
            while let Some(next) = scanner.next_request() {
                let Ok(mut req) = next else { break };
                // DNS over HTTP/1.1 keeps one connection for many queries: only
                // other requests count towards the cap.
                if req.dns_message.is_none() {
                    *seen += 1;
                }
                last_connect = req.method.eq_ignore_ascii_case("CONNECT");
                upgrade = req.upgrade_h2c;
                if let Some(m) = req.dns_message.take() {
                    out.dns_messages.push((m, true));
                    start_http1_server(server);
                }
                if upgrade {
                    // The answer (and the rest of the connection) may be HTTP/2.
                    start_http1_server(server);
                    http_found(ctx, req, out);
                    break;
                }
                http_found(ctx, req, out);
            }
            if upgrade {
                // The client speaks HTTP/2 once the server has said 101; until
                // then nothing else may be sent (RFC 9113 §3.2).
                let rest = scanner.take_buffered();
                let mut h2 = Box::new(H2Reader::client());
                let mut found = Vec::new();
                h2.push(&rest, &mut found);
                out.dns_messages
                    .extend(found.into_iter().map(|m| (m, true)));
                *client = Client::H2(h2, false);
            } else if last_connect {
                // What follows a CONNECT is the tunnelled protocol (usually a
                // TLS ClientHello, once the proxy has answered).
                *client = Client::Undecided;
            } else if scanner.is_stopped() || *seen >= MAX_HTTP_REQUESTS {
                *client = Client::Done;
            }
        }
        Client::H2(reader, named) => {
            let mut found = Vec::new();
            reader.push(bytes, &mut found);
            out.dns_messages
                .extend(found.into_iter().map(|m| (m, true)));
            if !*named && let Some(a) = reader.authority() {
                *named = true;
                if let Some(host) = nightjar_dissect::http::Authority::parse(a)
                    && host.host.parse::<core::net::IpAddr>().is_err()
                {
                    out.names.push((host.host.to_owned(), NameSource::HttpHost));
                }
            }
            if reader.stopped().is_some() {
                *client = Client::Done;
            }
        }
        Client::Undecided | Client::Done => {}
    }
}

fn start_http1_server(server: &mut Option<Box<Server>>) {
    if server.is_none() {
        *server = Some(Box::new(Server::Http1(ResponseScanner::new())));
    }
}

/// In-order bytes from the server of a connection that carries DNS over HTTP.
fn on_server_bytes(server: &mut Option<Box<Server>>, bytes: &[u8], out: &mut Findings) {
    let Some(s) = server.as_deref_mut() else {
        return;
    };
    let mut found = Vec::new();
    let done = match s {
        Server::Http1(scanner) => {
            let r = scanner.push(bytes);
            found = r.messages;
            match r.upgraded {
                Some(rest) => {
                    let mut h2 = H2Reader::server();
                    h2.push(&rest, &mut found);
                    let stopped = h2.stopped().is_some();
                    *s = Server::H2(h2);
                    stopped
                }
                None => scanner.is_stopped(),
            }
        }
        Server::H2(reader) => {
            reader.push(bytes, &mut found);
            reader.stopped().is_some()
        }
    };
    out.dns_messages
        .extend(found.into_iter().map(|m| (m, false)));
    if done {
        *server = None;
    }
}

/// SSDP's port: HTTP requests in single UDP datagrams (UPnP Device Architecture §1.3).
pub(crate) const SSDP_PORT: u16 = 1900;

/// Whether a UDP datagram between these ports is SSDP.
pub(crate) fn is_ssdp(src_port: u16, dst_port: u16) -> bool {
    src_port == SSDP_PORT || dst_port == SSDP_PORT
}

/// An SSDP datagram (`M-SEARCH * HTTP/1.1`, `NOTIFY * HTTP/1.1`): each is one
/// whole request head, sent by either side; responses and other bytes are skipped.
pub(crate) fn on_udp_http(ctx: &FlowCtx, payload: &[u8]) -> Findings {
    let mut out = Findings::default();
    if let Ok(Some(req)) = nightjar_dissect::http::parse_request(payload) {
        http_found(ctx, (&req).into(), &mut out);
    }
    out
}

fn http_found(ctx: &FlowCtx, req: nightjar_dissect::http::RequestSummary, out: &mut Findings) {
    if let Some(host) = req.host.as_deref() {
        // An address literal (`239.255.255.250`, `[::1]`) names nothing; leave
        // room for DNS. http.log still records it as sent.
        let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
        if bare.unwrap_or(host).parse::<core::net::IpAddr>().is_err() {
            out.names.push((host.to_owned(), NameSource::HttpHost));
        }
    }
    out.http.push(HttpRecord {
        ts_us: ctx.now_us,
        flow: ctx.flow,
        orig: ctx.orig,
        resp: ctx.resp,
        app: ctx.app,
        method: req.method,
        host: req.host,
        host_port: req.port,
        uri: req.target,
        version: match req.version {
            HttpVersion::Http09 => "0.9",
            HttpVersion::Http10 => "1.0",
            _ => "1.1",
        },
        user_agent: req.user_agent,
    });
}

/// A Google QUIC CHLO: its SNI names the flow as a QUIC SNI does; there is no
/// TLS ClientHello, so no ALPN, TLS version or JA4.
fn chlo_found(ctx: &FlowCtx, chlo: gquic::Chlo, out: &mut Findings) {
    if let Some(name) = &chlo.server_name {
        out.names.push((name.clone(), NameSource::QuicSni));
    }
    out.hello = Some(HelloRecord {
        ts_us: ctx.now_us,
        flow: ctx.flow,
        orig: ctx.orig,
        resp: ctx.resp,
        app: ctx.app,
        server_name: chlo.server_name,
        alpn: Vec::new(),
        max_version: 0,
        ja4: String::new(),
        ech: false,
        quic_version: Some(chlo.version),
    });
}

fn hello_found(
    ctx: &FlowCtx,
    hello: &HelloMessage,
    quic: Option<u32>,
    dtls: bool,
    out: &mut Findings,
) {
    let Ok(ch) = hello.client_hello() else {
        out.malformed_hellos += 1;
        return;
    };
    let server_name = ch.server_name().map(str::to_ascii_lowercase);
    let ech = ch.has_ech();
    if let Some(name) = &server_name {
        let source = if quic.is_some() {
            NameSource::QuicSni
        } else {
            NameSource::Sni
        };
        out.names.push((name.clone(), source));
    }
    out.ech |= ech;
    let transport = match (quic, dtls) {
        (Some(_), _) => nightjar_dissect::Transport::Quic,
        (None, true) => nightjar_dissect::Transport::Dtls,
        (None, false) => nightjar_dissect::Transport::Tcp,
    };
    out.hello = Some(HelloRecord {
        ts_us: ctx.now_us,
        flow: ctx.flow,
        orig: ctx.orig,
        resp: ctx.resp,
        app: ctx.app,
        server_name,
        alpn: ch
            .alpn()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect(),
        max_version: ch.max_version(),
        ja4: ja4(&ch, transport),
        ech,
        quic_version: quic,
    });
}
