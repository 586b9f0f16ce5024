//! Whole conversations (one transport flow each) as timestamped, directed packets.
//!
//! Timing follows a plausible phone on Wi-Fi: the peer's answer arrives one round-trip time
//! after the packet it answers, segments of one burst are a few tens of microseconds apart, and
//! the device acknowledges every second inbound segment. Every session's packets are in strictly
//! increasing time order.

use core::net::SocketAddr;

use nightjar_wire::Direction;

use crate::BuildError;
use crate::packet::{EchoKind, IpPair, TcpFlags, TcpSegment, ip_echo, ip_tcp, ip_udp};
use crate::payload::{
    ClientHelloSpec, DnsAnswer, QueryType, dns_nxdomain, dns_over_tcp, dns_query, dns_response,
    html_filler, http_get, http_response, tls_application_data, tls_client_hello,
    tls_server_flight,
};
use crate::rng::SplitMix64;

/// One packet as the tunnel saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthPacket {
    /// When it crossed the tunnel, in microseconds since the Unix epoch.
    pub ts_micros: u64,
    /// Which way it went.
    pub direction: Direction,
    /// The app the platform attributes the flow to, if any.
    pub app_uid: Option<u32>,
    /// The full IP packet.
    pub bytes: Vec<u8>,
}

/// Who talks to whom, when, and how far apart they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowSpec {
    /// The app that owns the flow.
    pub app_uid: Option<u32>,
    /// The device's end (ICMP ignores the port).
    pub device: SocketAddr,
    /// The network's end (ICMP ignores the port).
    pub remote: SocketAddr,
    /// Time of the first packet.
    pub start_micros: u64,
    /// Round-trip time to the remote end.
    pub rtt_micros: u64,
    /// Seeds the TCP initial sequence numbers and any random payload bytes.
    pub seed: u64,
}

/// One request/response round on a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round<'a> {
    /// Idle time before the round starts (after the handshake or the previous round).
    pub gap_micros: u64,
    /// Bytes the device sends; empty for a server push.
    pub request: &'a [u8],
    /// Bytes the remote end answers with; empty for no answer beyond an ACK.
    pub response: &'a [u8],
}

/// Sizes of one application-data exchange on a TLS connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppExchange {
    /// Idle time before the exchange.
    pub gap_micros: u64,
    /// Application-data bytes the device sends (before record headers).
    pub request_len: usize,
    /// Application-data bytes the remote end answers with (before record headers).
    pub response_len: usize,
}

/// A TLS 1.3 connection's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsPlan<'a> {
    /// The ClientHello.
    pub hello: ClientHelloSpec<'a>,
    /// Bytes of encrypted handshake (certificates, Finished) after the ServerHello.
    pub server_flight_len: usize,
    /// Exchanges after the handshake.
    pub exchanges: &'a [AppExchange],
    /// Whether the device closes the connection (FIN) at the end.
    pub close: bool,
}

/// How a DNS query ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsOutcome<'a> {
    /// NOERROR with these records.
    Answer(DnsAnswer<'a>),
    /// NXDOMAIN.
    NxDomain,
    /// No response ever comes.
    Unanswered,
}

/// Segment payload size for a family on a 1500-byte MTU.
const fn mss(ips: IpPair) -> u16 {
    match ips {
        IpPair::V4 { .. } => 1460,
        IpPair::V6 { .. } => 1440,
    }
}

/// Gap between back-to-back segments of one burst.
const BURST_GAP_MICROS: u64 = 40;
/// How long a stack takes to answer with a bare ACK or the next handshake step.
const STACK_DELAY_MICROS: u64 = 150;
/// Idle time between the last exchange and the device's FIN.
const CLOSE_DELAY_MICROS: u64 = 60_000;

/// Collects one flow's packets, tagging each with direction and app.
struct Recorder {
    ips: IpPair,
    app_uid: Option<u32>,
    packets: Vec<SynthPacket>,
    /// Time of the latest packet; every new packet is later than this.
    now: u64,
}

impl Recorder {
    fn new(flow: &FlowSpec) -> Result<Self, BuildError> {
        Ok(Self {
            ips: IpPair::new(flow.device.ip(), flow.remote.ip())?,
            app_uid: flow.app_uid,
            packets: Vec::new(),
            now: flow.start_micros,
        })
    }

    /// Records `bytes` at `at`, nudged to stay strictly after the previous packet.
    fn push(&mut self, at: u64, direction: Direction, bytes: Vec<u8>) {
        let ts = if self.packets.is_empty() {
            at
        } else {
            at.max(self.now + 1)
        };
        self.now = ts;
        self.packets.push(SynthPacket {
            ts_micros: ts,
            direction,
            app_uid: self.app_uid,
            bytes,
        });
    }
}

/// The sequence state of a TCP connection as both ends see it.
struct Tcp {
    rec: Recorder,
    device_port: u16,
    remote_port: u16,
    /// Next sequence number the device sends.
    dev_seq: u32,
    /// Next sequence number the remote end sends.
    rem_seq: u32,
    rtt: u64,
}

impl Tcp {
    fn send_out(&mut self, at: u64, flags: TcpFlags, payload: &[u8]) -> Result<(), BuildError> {
        let seg = TcpSegment::new(
            self.device_port,
            self.remote_port,
            flags,
            self.dev_seq,
            self.rem_seq,
        )
        .with_payload(payload);
        let seg = if flags == TcpFlags::Syn {
            seg.with_mss(mss(self.rec.ips))
        } else {
            seg
        };
        self.dev_seq = seg.next_seq();
        let bytes = ip_tcp(self.rec.ips, &seg)?;
        self.rec.push(at, Direction::Outbound, bytes);
        Ok(())
    }

    fn send_in(&mut self, at: u64, flags: TcpFlags, payload: &[u8]) -> Result<(), BuildError> {
        let seg = TcpSegment::new(
            self.remote_port,
            self.device_port,
            flags,
            self.rem_seq,
            self.dev_seq,
        )
        .with_payload(payload);
        let seg = if flags == TcpFlags::SynAck {
            seg.with_mss(mss(self.rec.ips))
        } else {
            seg
        };
        self.rem_seq = seg.next_seq();
        let bytes = ip_tcp(self.rec.ips.reversed(), &seg)?;
        self.rec.push(at, Direction::Inbound, bytes);
        Ok(())
    }

    /// Sends `data` from the device in MSS-sized segments, PSH on the last one.
    fn write_out(&mut self, data: &[u8]) -> Result<(), BuildError> {
        let mut chunks = data.chunks(usize::from(mss(self.rec.ips))).peekable();
        while let Some(chunk) = chunks.next() {
            let flags = if chunks.peek().is_some() {
                TcpFlags::Ack
            } else {
                TcpFlags::PshAck
            };
            self.send_out(self.rec.now + BURST_GAP_MICROS, flags, chunk)?;
        }
        Ok(())
    }

    /// Sends `data` from the remote end starting at `at`, the device ACKing every second
    /// segment and the last one.
    fn write_in(&mut self, at: u64, data: &[u8]) -> Result<(), BuildError> {
        let mut chunks = data.chunks(usize::from(mss(self.rec.ips))).peekable();
        let mut t = at;
        let mut unacked = 0u32;
        while let Some(chunk) = chunks.next() {
            let last = chunks.peek().is_none();
            let flags = if last {
                TcpFlags::PshAck
            } else {
                TcpFlags::Ack
            };
            self.send_in(t, flags, chunk)?;
            unacked += 1;
            if unacked == 2 || last {
                self.send_out(self.rec.now + BURST_GAP_MICROS, TcpFlags::Ack, &[])?;
                unacked = 0;
            }
            t = self.rec.now + BURST_GAP_MICROS;
        }
        Ok(())
    }
}

/// A TCP connection: handshake, each round's request and response, then (if `close`) a
/// FIN/ACK teardown started by the device.
pub fn tcp_connection(
    flow: &FlowSpec,
    rounds: &[Round<'_>],
    close: bool,
) -> Result<Vec<SynthPacket>, BuildError> {
    let mut rng = SplitMix64::new(flow.seed);
    let mut tcp = Tcp {
        rec: Recorder::new(flow)?,
        device_port: flow.device.port(),
        remote_port: flow.remote.port(),
        dev_seq: rng.next_u32(),
        rem_seq: rng.next_u32(),
        rtt: flow.rtt_micros,
    };
    tcp.send_out(flow.start_micros, TcpFlags::Syn, &[])?;
    tcp.send_in(tcp.rec.now + tcp.rtt, TcpFlags::SynAck, &[])?;
    tcp.send_out(tcp.rec.now + STACK_DELAY_MICROS, TcpFlags::Ack, &[])?;
    for round in rounds {
        let start = tcp.rec.now + round.gap_micros;
        if round.request.is_empty() {
            tcp.write_in(start, round.response)?;
            continue;
        }
        tcp.rec.now = start.max(tcp.rec.now);
        tcp.write_out(round.request)?;
        let answer_at = tcp.rec.now + tcp.rtt;
        if round.response.is_empty() {
            tcp.send_in(answer_at, TcpFlags::Ack, &[])?;
        } else {
            tcp.write_in(answer_at, round.response)?;
        }
    }
    if close {
        tcp.send_out(tcp.rec.now + CLOSE_DELAY_MICROS, TcpFlags::FinAck, &[])?;
        tcp.send_in(tcp.rec.now + tcp.rtt, TcpFlags::FinAck, &[])?;
        tcp.send_out(tcp.rec.now + STACK_DELAY_MICROS, TcpFlags::Ack, &[])?;
    }
    Ok(tcp.rec.packets)
}

/// A TLS 1.3 connection over TCP: ClientHello, the server's flight, the client's
/// ChangeCipherSpec and Finished, then the application-data exchanges.
pub fn tls_connection(flow: &FlowSpec, plan: &TlsPlan<'_>) -> Result<Vec<SynthPacket>, BuildError> {
    let mut rng = SplitMix64::new(flow.seed ^ 0x7715);
    let hello = tls_client_hello(&plan.hello)?;
    let flight = tls_server_flight(plan.server_flight_len, rng.next_u64())?;
    // ChangeCipherSpec, then the encrypted Finished (32-byte verify data + 17 bytes of
    // content type and AEAD tag).
    let mut finished = vec![0x14, 0x03, 0x03, 0x00, 0x01, 0x01];
    finished.extend_from_slice(&tls_application_data(49, rng.next_u64()));
    let mut owned: Vec<(u64, Vec<u8>, Vec<u8>)> = Vec::with_capacity(plan.exchanges.len() + 1);
    match plan.exchanges.split_first() {
        Some((first, rest)) => {
            let mut request = finished;
            request.extend_from_slice(&tls_application_data(first.request_len, rng.next_u64()));
            let response = tls_application_data(first.response_len, rng.next_u64());
            owned.push((first.gap_micros, request, response));
            for ex in rest {
                owned.push((
                    ex.gap_micros,
                    tls_application_data(ex.request_len, rng.next_u64()),
                    tls_application_data(ex.response_len, rng.next_u64()),
                ));
            }
        }
        None => owned.push((STACK_DELAY_MICROS, finished, Vec::new())),
    }
    let mut rounds = vec![Round {
        gap_micros: STACK_DELAY_MICROS,
        request: &hello,
        response: &flight,
    }];
    rounds.extend(owned.iter().map(|(gap, request, response)| Round {
        gap_micros: *gap,
        request,
        response,
    }));
    tcp_connection(flow, &rounds, plan.close)
}

/// A plain HTTP/1.1 GET on its own connection, answered with a `body_len`-byte HTML page.
pub fn http_connection(
    flow: &FlowSpec,
    host: &str,
    path: &str,
    user_agent: &str,
    body_len: usize,
) -> Result<Vec<SynthPacket>, BuildError> {
    let request = http_get(host, path, user_agent);
    let response = http_response(
        200,
        "OK",
        "text/html; charset=utf-8",
        &html_filler(body_len),
    );
    let rounds = [Round {
        gap_micros: STACK_DELAY_MICROS,
        request: &request,
        response: &response,
    }];
    tcp_connection(flow, &rounds, true)
}

/// One UDP datagram from the device and, if given, one answer a round-trip later.
pub fn udp_exchange(
    flow: &FlowSpec,
    request: &[u8],
    response: Option<&[u8]>,
) -> Result<Vec<SynthPacket>, BuildError> {
    let mut rec = Recorder::new(flow)?;
    let (dport, rport) = (flow.device.port(), flow.remote.port());
    rec.push(
        flow.start_micros,
        Direction::Outbound,
        ip_udp(rec.ips, dport, rport, request)?,
    );
    if let Some(response) = response {
        let bytes = ip_udp(rec.ips.reversed(), rport, dport, response)?;
        rec.push(rec.now + flow.rtt_micros, Direction::Inbound, bytes);
    }
    Ok(rec.packets)
}

fn dns_messages(
    id: u16,
    name: &str,
    qtype: QueryType,
    outcome: &DnsOutcome<'_>,
) -> Result<(Vec<u8>, Option<Vec<u8>>), BuildError> {
    let query = dns_query(id, name, qtype)?;
    let response = match outcome {
        DnsOutcome::Answer(answer) => Some(dns_response(id, name, qtype, answer)?),
        DnsOutcome::NxDomain => Some(dns_nxdomain(id, name, qtype)?),
        DnsOutcome::Unanswered => None,
    };
    Ok((query, response))
}

/// A DNS lookup over UDP: the query, then the response one resolver round-trip later.
pub fn dns_udp(
    flow: &FlowSpec,
    id: u16,
    name: &str,
    qtype: QueryType,
    outcome: &DnsOutcome<'_>,
) -> Result<Vec<SynthPacket>, BuildError> {
    let (query, response) = dns_messages(id, name, qtype, outcome)?;
    udp_exchange(flow, &query, response.as_deref())
}

/// A DNS lookup over TCP (length-prefixed messages) on its own connection. An unanswered
/// query leaves the server to ACK it and the device to close.
pub fn dns_tcp(
    flow: &FlowSpec,
    id: u16,
    name: &str,
    qtype: QueryType,
    outcome: &DnsOutcome<'_>,
) -> Result<Vec<SynthPacket>, BuildError> {
    let (query, response) = dns_messages(id, name, qtype, outcome)?;
    let query = dns_over_tcp(&query)?;
    let response = response.map(|r| dns_over_tcp(&r)).transpose()?;
    let rounds = [Round {
        gap_micros: STACK_DELAY_MICROS,
        request: &query,
        response: response.as_deref().unwrap_or_default(),
    }];
    tcp_connection(flow, &rounds, true)
}

/// `count` ICMP echo requests one second apart, each answered a round-trip later.
pub fn icmp_ping(
    flow: &FlowSpec,
    ident: u16,
    count: u16,
    data: &[u8],
) -> Result<Vec<SynthPacket>, BuildError> {
    let mut rec = Recorder::new(flow)?;
    for seq_no in 0..count {
        let at = flow.start_micros + u64::from(seq_no) * 1_000_000;
        let request = ip_echo(rec.ips, EchoKind::Request, ident, seq_no, data)?;
        rec.push(at, Direction::Outbound, request);
        let reply = ip_echo(rec.ips.reversed(), EchoKind::Reply, ident, seq_no, data)?;
        rec.push(rec.now + flow.rtt_micros, Direction::Inbound, reply);
    }
    Ok(rec.packets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::tests::{Parsed, parse};
    use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use smoltcp::wire::TcpControl;

    fn flow(device: &str, remote: &str) -> FlowSpec {
        FlowSpec {
            app_uid: Some(10_001),
            device: device.parse().unwrap(),
            remote: remote.parse().unwrap(),
            start_micros: 1_000_000,
            rtt_micros: 30_000,
            seed: 42,
        }
    }

    fn v4() -> FlowSpec {
        flow("10.0.0.2:40000", "192.0.2.1:443")
    }

    fn v6() -> FlowSpec {
        flow("[fd00::2]:40000", "[2001:db8::1]:443")
    }

    /// Replays a TCP conversation and checks it the way a receiver would: every segment's
    /// sequence number is the next expected one and every ACK acknowledges exactly what the
    /// other side has sent so far. Returns the bytes each side delivered.
    fn check_tcp(packets: &[SynthPacket], flow: &FlowSpec) -> (Vec<u8>, Vec<u8>) {
        let mut next: [Option<u32>; 2] = [None, None];
        let mut data: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
        let mut fins = 0;
        for (i, p) in packets.iter().enumerate() {
            assert_eq!(p.app_uid, flow.app_uid);
            if i > 0 {
                assert!(p.ts_micros > packets[i - 1].ts_micros, "time goes forward");
            }
            let Parsed::Tcp {
                ips,
                src_port,
                control,
                seq,
                ack,
                payload,
                ..
            } = parse(&p.bytes)
            else {
                panic!("not TCP")
            };
            let (me, them) = match p.direction {
                Direction::Outbound => {
                    assert_eq!(ips.src(), flow.device.ip());
                    assert_eq!(src_port, flow.device.port());
                    (0, 1)
                }
                Direction::Inbound => {
                    assert_eq!(ips.src(), flow.remote.ip());
                    assert_eq!(src_port, flow.remote.port());
                    (1, 0)
                }
                Direction::Unknown => panic!("sessions know their direction"),
            };
            if let Some(expected) = next[me] {
                assert_eq!(seq, expected, "packet {i} sequence");
            } else {
                assert_eq!(control, TcpControl::Syn, "first packet of a side is a SYN");
            }
            if i > 0 {
                assert_eq!(ack, next[them], "packet {i} acknowledges all it received");
            } else {
                assert_eq!(ack, None);
            }
            let flag_len = u32::from(matches!(control, TcpControl::Syn | TcpControl::Fin));
            if control == TcpControl::Fin {
                fins += 1;
            }
            assert!(payload.len() <= 1460);
            next[me] = Some(seq.wrapping_add(payload.len() as u32 + flag_len));
            data[me].extend_from_slice(&payload);
        }
        assert!(fins == 0 || fins == 2);
        let [out, inb] = data;
        (out, inb)
    }

    #[test]
    fn tcp_connection_delivers_both_byte_streams_in_order() {
        for f in [v4(), v6()] {
            let request: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
            let response: Vec<u8> = (0..9000u32).map(|i| (i * 7) as u8).collect();
            let rounds = [
                Round {
                    gap_micros: 100,
                    request: &request,
                    response: &response,
                },
                Round {
                    gap_micros: 2_000_000,
                    request: b"ping",
                    response: &[],
                },
                Round {
                    gap_micros: 1_000_000,
                    request: &[],
                    response: b"push",
                },
            ];
            let packets = tcp_connection(&f, &rounds, true).unwrap();
            let (out, inb) = check_tcp(&packets, &f);
            assert_eq!(out, [&request[..], b"ping"].concat());
            assert_eq!(inb, [&response[..], b"push"].concat());
            assert_eq!(packets[0].ts_micros, f.start_micros);
            // SYN, SYN-ACK, ACK, 4 request segments, 7 (v4) response segments with 4 ACKs,
            // ping + ACK, push + ACK, 3 teardown.
            let mss = if f.device.is_ipv4() { 1460 } else { 1440 };
            let segs_in = 9000usize.div_ceil(mss);
            let expected = 3 + 5000usize.div_ceil(mss) + segs_in + segs_in.div_ceil(2) + 2 + 2 + 3;
            assert_eq!(packets.len(), expected);
            let syn_ack = parse(&packets[1].bytes);
            assert!(matches!(syn_ack, Parsed::Tcp { mss: Some(m), .. } if usize::from(m) == mss));
            assert_eq!(packets[1].ts_micros - packets[0].ts_micros, f.rtt_micros);
        }
    }

    #[test]
    fn tls_connection_starts_with_a_client_hello_rustls_accepts() {
        let f = v6();
        let plan = TlsPlan {
            hello: ClientHelloSpec {
                server_name: "www.example.org",
                alpn: &["h2", "http/1.1"],
                post_quantum: true,
                seed: 9,
            },
            server_flight_len: 4000,
            exchanges: &[AppExchange {
                gap_micros: 1000,
                request_len: 300,
                response_len: 20_000,
            }],
            close: true,
        };
        let packets = tls_connection(&f, &plan).unwrap();
        let (out, inb) = check_tcp(&packets, &f);
        let hello = tls_client_hello(&plan.hello).unwrap();
        assert!(out.starts_with(&hello));
        // The post-quantum hello spans two segments.
        let first_data: Vec<usize> = packets
            .iter()
            .take(6)
            .map(|p| match parse(&p.bytes) {
                Parsed::Tcp { payload, .. } => payload.len(),
                _ => 0,
            })
            .collect();
        assert_eq!(first_data[3..5], [1440, hello.len() - 1440]);
        let mut acceptor = rustls::server::Acceptor::default();
        let mut rd = &out[..];
        while !rd.is_empty() {
            if acceptor.read_tls(&mut rd).is_err() {
                break;
            }
        }
        let accepted = acceptor.accept().ok().flatten().unwrap();
        assert_eq!(
            accepted.client_hello().server_name(),
            Some("www.example.org")
        );
        // Server flight: ServerHello record, CCS, 4000 bytes in one record, then the response.
        assert_eq!(inb[0], 0x16);
        assert_eq!(
            inb.len(),
            tls_server_flight(4000, 0).unwrap().len() + 20_000 + 2 * 5
        );
        assert_eq!(out.len(), hello.len() + 6 + 49 + 5 + 300 + 5);
    }

    #[test]
    fn http_connection_carries_the_get_and_the_page() {
        let f = flow("10.0.0.2:40001", "203.0.113.80:80");
        let packets = http_connection(&f, "neverssl.com", "/", "Demo/1.0", 3000).unwrap();
        let (out, inb) = check_tcp(&packets, &f);
        assert_eq!(out, http_get("neverssl.com", "/", "Demo/1.0"));
        assert!(inb.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert!(inb.ends_with(&html_filler(3000)));
    }

    fn udp_payloads(packets: &[SynthPacket], flow: &FlowSpec) -> Vec<(Direction, Vec<u8>)> {
        packets
            .iter()
            .map(|p| {
                let Parsed::Udp {
                    ips,
                    src_port,
                    dst_port,
                    payload,
                } = parse(&p.bytes)
                else {
                    panic!("not UDP")
                };
                let (src, sport, dport) = match p.direction {
                    Direction::Outbound => {
                        (flow.device.ip(), flow.device.port(), flow.remote.port())
                    }
                    _ => (flow.remote.ip(), flow.remote.port(), flow.device.port()),
                };
                assert_eq!((ips.src(), src_port, dst_port), (src, sport, dport));
                (p.direction, payload)
            })
            .collect()
    }

    #[test]
    fn dns_over_udp_answers_after_one_round_trip() {
        let f = flow("10.0.0.2:51000", "10.0.0.1:53");
        let addrs = [IpAddr::V4(Ipv4Addr::new(192, 0, 2, 5))];
        let answer = DnsAnswer {
            cnames: &["edge.example.net"],
            addrs: &addrs,
            ttl: 60,
        };
        let packets = dns_udp(
            &f,
            77,
            "example.org",
            QueryType::A,
            &DnsOutcome::Answer(answer),
        )
        .unwrap();
        assert_eq!(packets[1].ts_micros - packets[0].ts_micros, f.rtt_micros);
        let payloads = udp_payloads(&packets, &f);
        assert_eq!(
            payloads,
            vec![
                (
                    Direction::Outbound,
                    dns_query(77, "example.org", QueryType::A).unwrap()
                ),
                (
                    Direction::Inbound,
                    dns_response(77, "example.org", QueryType::A, &answer).unwrap()
                ),
            ]
        );
        let nx = dns_udp(
            &f,
            78,
            "nx.example.org",
            QueryType::A,
            &DnsOutcome::NxDomain,
        )
        .unwrap();
        let m = hickory_proto::op::Message::from_vec(&udp_payloads(&nx, &f)[1].1).unwrap();
        assert_eq!(
            m.metadata.response_code,
            hickory_proto::op::ResponseCode::NXDomain
        );
        let lost = dns_udp(
            &f,
            79,
            "lost.example.org",
            QueryType::A,
            &DnsOutcome::Unanswered,
        )
        .unwrap();
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].direction, Direction::Outbound);
    }

    #[test]
    fn dns_over_tcp_frames_query_and_answer() {
        let f = flow("[fd00::2]:51001", "[fd00::1]:53");
        let addrs = [IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 5))];
        let answer = DnsAnswer {
            cnames: &[],
            addrs: &addrs,
            ttl: 60,
        };
        let packets = dns_tcp(
            &f,
            5,
            "example.org",
            QueryType::Aaaa,
            &DnsOutcome::Answer(answer),
        )
        .unwrap();
        let (out, inb) = check_tcp(&packets, &f);
        assert_eq!(
            out,
            dns_over_tcp(&dns_query(5, "example.org", QueryType::Aaaa).unwrap()).unwrap()
        );
        let m = hickory_proto::op::Message::from_vec(&inb[2..]).unwrap();
        assert_eq!(m.answers.len(), 1);
        assert_eq!(
            usize::from(u16::from_be_bytes([inb[0], inb[1]])),
            inb.len() - 2
        );
    }

    #[test]
    fn udp_exchange_and_ping_on_both_families() {
        for f in [
            flow("10.0.0.2:40123", "192.0.2.123:123"),
            flow("[fd00::2]:40123", "[2001:db8::123]:123"),
        ] {
            let packets = udp_exchange(&f, b"question", Some(b"answer")).unwrap();
            assert_eq!(
                udp_payloads(&packets, &f),
                vec![
                    (Direction::Outbound, b"question".to_vec()),
                    (Direction::Inbound, b"answer".to_vec())
                ]
            );
            let pings = icmp_ping(&f, 0x77, 3, b"abcdefgh").unwrap();
            assert_eq!(pings.len(), 6);
            for (i, p) in pings.iter().enumerate() {
                let Parsed::Echo {
                    kind,
                    ident,
                    seq_no,
                    ..
                } = parse(&p.bytes)
                else {
                    panic!("not an echo")
                };
                let want = if i % 2 == 0 {
                    (Direction::Outbound, EchoKind::Request)
                } else {
                    (Direction::Inbound, EchoKind::Reply)
                };
                assert_eq!((p.direction, kind), want);
                assert_eq!((ident, seq_no), (0x77, (i / 2) as u16));
            }
        }
    }

    #[test]
    fn mixed_families_are_refused() {
        let f = flow("10.0.0.2:1", "[2001:db8::1]:2");
        assert_eq!(
            udp_exchange(&f, b"x", None),
            Err(BuildError::FamilyMismatch)
        );
        assert_eq!(
            tcp_connection(&f, &[], true),
            Err(BuildError::FamilyMismatch)
        );
    }
}
