//! The relay: tunnel packets in, outbound socket readiness in, tunnel packets
//! out, and a deadline for the next call. See the crate docs.

use core::net::{IpAddr, SocketAddr};
use std::collections::VecDeque;
use std::io::ErrorKind;

use nightjar_engine::{Engine, MemoryUsage, Verdict};
use nightjar_wire::Direction;
use smoltcp::iface::{Config, Interface, PollResult, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{HardwareAddress, IpCidr, IpListenEndpoint};

use crate::budget::{ConfigError, RelayConfig, RelayMemory};
use crate::device::TunQueues;
use crate::dialer::{Dialer, Token};
use crate::dns;
use crate::dns_stream::DnsStreamWork;
use crate::ip::{self, Classified};
use crate::names::Names;
use crate::nat64::Nat64Prefix;
use crate::policy::{DnsDecision, DnsPolicy, FlowDecision, FlowPolicy};
use crate::secure_dns::{Reply, SecureDnsConfig, SecureDnsError, SecureUpstream};
use crate::tcp_relay::{TcpConn, TcpTable};
use crate::udp_relay::{DnsWait, UdpFlow, UdpTable};

#[path = "path_change.rs"]
mod path_change;
pub use path_change::PathChange;

/// How often idle flows are looked for, in microseconds.
const SWEEP_INTERVAL_US: u64 = 1_000_000;
/// Rounds of "smoltcp poll, then move bytes" per [`Relay::poll`].
const MAX_ROUNDS: usize = 16;
/// Datagrams read from one UDP flow per [`Relay::poll`], so one busy flow
/// cannot starve the others.
const UDP_BURST: usize = 64;
/// IP-to-name entries kept for the flow policy.
const NAMES_CAP: usize = 4096;
/// Longest a DNS answer names an address for the flow policy, in seconds.
const NAME_TTL_CAP_S: u64 = 3600;
/// The DNS port.
const DNS_PORT: u16 = 53;

/// The transport of a blocked or refused flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// A flow the [`FlowPolicy`] blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedFlow {
    /// TCP (answered with RST) or UDP (answered with ICMP port unreachable).
    pub transport: Transport,
    /// The device's endpoint.
    pub src: SocketAddr,
    /// Where it wanted to go.
    pub dst: SocketAddr,
    /// The name a relayed DNS answer gave `dst`, if any.
    pub name: Option<String>,
    /// When, in microseconds since the Unix epoch.
    pub at_us: u64,
}

/// Something the caller should log. Drain with [`Relay::next_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelayEvent {
    /// A new flow was blocked.
    FlowBlocked(BlockedFlow),
    /// A DNS query was answered by the policy instead of upstream.
    DnsBlocked {
        /// The device's endpoint.
        src: SocketAddr,
        /// The name asked (lower case, no trailing dot).
        qname: String,
        /// NXDOMAIN or sinkhole.
        decision: DnsDecision,
        /// Whether the query came over UDP or over a TCP stream (answered on
        /// that stream).
        transport: Transport,
        /// When, in microseconds since the Unix epoch.
        at_us: u64,
    },
}

/// Relay counters. Everything refused or dropped is counted here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Packets read from the tunnel.
    pub tun_packets_in: u64,
    /// Bytes read from the tunnel.
    pub tun_bytes_in: u64,
    /// Packets written to the tunnel.
    pub tun_packets_out: u64,
    /// Bytes written to the tunnel.
    pub tun_bytes_out: u64,
    /// Tunnel packets dropped because the input queue was full.
    pub rx_queue_dropped: u64,
    /// Tunnel packets that were not IP.
    pub malformed: u64,
    /// TCP connections admitted.
    pub tcp_accepted: u64,
    /// TCP connections refused with RST at the socket cap.
    pub tcp_refused_cap: u64,
    /// TCP connections refused with RST because the dialer failed.
    pub tcp_dial_failed: u64,
    /// TCP connections reset because the outbound side failed.
    pub tcp_outbound_failed: u64,
    /// TCP connections blocked by policy.
    pub tcp_blocked: u64,
    /// TCP connections aborted for idleness (or evicted at the cap).
    pub tcp_evicted: u64,
    /// TCP connections over and removed.
    pub tcp_closed: u64,
    /// Bytes relayed device to network over TCP.
    pub tcp_bytes_up: u64,
    /// Bytes relayed network to device over TCP.
    pub tcp_bytes_down: u64,
    /// UDP flows opened.
    pub udp_opened: u64,
    /// UDP datagrams dropped at the flow cap.
    pub udp_refused_cap: u64,
    /// UDP flows blocked by policy.
    pub udp_blocked: u64,
    /// UDP flows whose socket could not be opened.
    pub udp_dial_failed: u64,
    /// UDP flows closed for idleness.
    pub udp_expired: u64,
    /// UDP datagrams the outbound socket would not take.
    pub udp_send_dropped: u64,
    /// UDP datagrams relayed device to network.
    pub udp_datagrams_up: u64,
    /// UDP datagrams relayed network to device.
    pub udp_datagrams_down: u64,
    /// DNS queries forwarded upstream.
    pub dns_forwarded: u64,
    /// DNS answers relayed back.
    pub dns_answered: u64,
    /// DNS queries answered NXDOMAIN by policy.
    pub dns_nxdomain: u64,
    /// DNS queries sinkholed by policy.
    pub dns_sinkholed: u64,
    /// DNS queries dropped at the in-flight cap.
    pub dns_refused_cap: u64,
    /// DNS queries that got no upstream answer in time.
    pub dns_timeouts: u64,
    /// DNS payloads to the tunnel resolver that were not queries.
    pub dns_malformed: u64,
    /// DNS queries answered SERVFAIL because the encrypted upstream failed
    /// or timed out (the timeouts are also in `dns_timeouts`).
    pub dns_servfail: u64,
    /// Encrypted upstream connections opened.
    pub dns_upstream_connects: u64,
    /// Encrypted upstream connections given up (dial, TLS, framing or I/O
    /// error, or closed by the server).
    pub dns_upstream_failed: u64,
    /// ICMP echo requests answered locally.
    pub icmp_echo_answered: u64,
    /// ICMP echo requests dropped (answering is off).
    pub icmp_dropped: u64,
    /// Other IP packets (left to smoltcp, which answers or ignores them).
    pub other_ip: u64,
    /// Events shed because the caller did not drain them.
    pub events_shed: u64,
    /// smoltcp interface polls.
    pub iface_polls: u64,
    /// Network changes reported ([`Relay::network_changed`]).
    pub path_changes: u64,
    /// TCP connections reset because their outbound socket was on the old path.
    pub path_tcp_reset: u64,
    /// UDP flows dropped because their socket was on the old path.
    pub path_udp_dropped: u64,
    /// Encrypted DNS upstream connections dropped on a network change to be dialled again.
    pub dns_upstream_redials: u64,
}

/// The relay. See the crate docs for how the edge drives it.
///
/// `Send`: it can move to an I/O thread or sit behind a mutex shared with
/// one (the bindings do); every hook it holds is `Send` for that reason.
pub struct Relay {
    config: RelayConfig,
    tcp_cap: usize,
    iface: Interface,
    device: TunQueues,
    sockets: SocketSet<'static>,
    tcp: TcpTable,
    udp: UdpTable,
    dialer: Box<dyn Dialer>,
    dns_policy: Box<dyn DnsPolicy>,
    flow_policy: Box<dyn FlowPolicy>,
    secure_dns: Option<SecureUpstream>,
    /// Set while the uplink has no IPv4 route: IPv4 destinations are dialled
    /// at their NAT64 address.
    nat64: Option<Nat64Prefix>,
    engine: Engine,
    names: Names,
    events: VecDeque<RelayEvent>,
    stats: RelayStats,
    next_token: u64,
    next_sweep_us: u64,
    work_left: bool,
    scratch: Vec<u8>,
    /// Packets on their way out of [`Relay::poll_with`], kept for reuse.
    out: Vec<Vec<u8>>,
}

impl core::fmt::Debug for Relay {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Relay")
            .field("config", &self.config)
            .field("tcp", &self.tcp.len())
            .field("udp", &self.udp.flows.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn instant(now_us: u64) -> Instant {
    Instant::from_micros(i64::try_from(now_us).unwrap_or(i64::MAX))
}

impl Relay {
    /// A relay with `config`, opening outbound sockets with `dialer` and
    /// asking the two policies about new queries and flows.
    pub fn new(
        config: RelayConfig,
        dialer: Box<dyn Dialer>,
        dns_policy: Box<dyn DnsPolicy>,
        flow_policy: Box<dyn FlowPolicy>,
        now_us: u64,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let engine = Engine::new(config.engine)?;
        let mut device = TunQueues::new(config.mtu, config.max_rx_queue);
        let mut iface_config = Config::new(HardwareAddress::Ip);
        iface_config.random_seed = config.seed;
        let mut iface = Interface::new(iface_config, &mut device, instant(now_us));
        // Any-IP: accept packets to every address, answering from it. The
        // default routes via our own addresses are what smoltcp checks.
        iface.set_any_ip(true);
        let ipv6 = config.ipv6;
        iface.update_ip_addrs(|addrs| {
            let _ = addrs.push(IpCidr::new(config.ipv4.into(), 32));
            if let Some(v6) = ipv6 {
                let _ = addrs.push(IpCidr::new(v6.into(), 128));
            }
        });
        let _ = iface.routes_mut().add_default_ipv4_route(config.ipv4);
        if let Some(v6) = ipv6 {
            let _ = iface.routes_mut().add_default_ipv6_route(v6);
        }
        Ok(Relay {
            tcp_cap: config.tcp_cap(),
            config,
            iface,
            device,
            sockets: SocketSet::new(Vec::new()),
            tcp: TcpTable::default(),
            udp: UdpTable::default(),
            dialer,
            dns_policy,
            flow_policy,
            secure_dns: None,
            nat64: None,
            engine,
            names: Names::new(NAMES_CAP),
            events: VecDeque::new(),
            stats: RelayStats::default(),
            next_token: 1,
            next_sweep_us: now_us.saturating_add(SWEEP_INTERVAL_US),
            work_left: false,
            scratch: vec![0; usize::from(u16::MAX)],
            out: Vec::new(),
        })
    }

    /// Forward the tunnel's UDP DNS queries over DNS-over-TLS or
    /// DNS-over-HTTPS to [`crate::DnsConfig::upstream`] instead of plain UDP.
    /// TCP queries from the device are then refused with RST rather than
    /// sent upstream in clear. (With a plain upstream, TCP queries are
    /// relayed one message at a time through the DNS policy.)
    pub fn set_secure_dns(&mut self, secure: SecureDnsConfig) -> Result<(), SecureDnsError> {
        let dns = self.config.dns.ok_or(SecureDnsError::NoDnsService)?;
        self.secure_dns = Some(SecureUpstream::new(secure, dns.upstream));
        Ok(())
    }

    /// The uplink has no IPv4 route and `prefix` is its NAT64 (configured, or
    /// learnt with [`Nat64Prefix::from_ipv4only_answers`]): new flows to IPv4
    /// destinations are dialled at the synthesized IPv6 address. None when
    /// the uplink has IPv4 again. Flows already open keep their sockets.
    pub fn set_nat64(&mut self, prefix: Option<Nat64Prefix>) {
        self.nat64 = prefix;
    }

    /// Where to dial `dst`: its NAT64 address on an IPv6-only uplink.
    fn outbound_dst(&self, dst: SocketAddr) -> SocketAddr {
        match (self.nat64, dst.ip()) {
            (Some(p), IpAddr::V4(v4)) => SocketAddr::new(IpAddr::V6(p.synthesize(v4)), dst.port()),
            _ => dst,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// The engine watching the relayed packets (drain its events here).
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// The engine, read-only.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The next relay event, if any.
    pub fn next_event(&mut self) -> Option<RelayEvent> {
        self.events.pop_front()
    }

    /// Counters.
    pub fn stats(&self) -> RelayStats {
        self.stats
    }

    /// TCP connections and UDP flows (DNS included) live now.
    pub fn live(&self) -> (usize, usize) {
        (self.tcp.len(), self.udp.flows.len())
    }

    /// Memory held against the caps.
    pub fn memory(&self) -> RelayMemory {
        let per = self.config.tcp_socket_bytes();
        RelayMemory {
            tcp_sockets: self.tcp.len(),
            tcp_sockets_cap: self.tcp_cap,
            tcp_buffers: self.tcp.len() * per,
            tcp_buffers_cap: self.tcp_cap * per,
            udp_flows: self.udp.plain_flows(),
            udp_flows_cap: self.config.max_udp,
            dns_inflight: self.udp.dns_flows
                + self.secure_dns.as_ref().map_or(0, SecureUpstream::inflight),
            dns_inflight_cap: self.config.dns.map_or(0, |d| d.max_inflight),
            queued_packets: self.device.queued_bytes(),
            names: self.names.len(),
            engine: self.engine_memory(),
        }
    }

    fn engine_memory(&self) -> MemoryUsage {
        self.engine.memory()
    }

    /// Take one packet the device sent into the tunnel at `now_us`.
    pub fn on_tun_packet(&mut self, now_us: u64, packet: &[u8]) {
        self.on_tun_packet_verdict(now_us, packet);
    }

    /// [`Relay::on_tun_packet`], returning the engine's verdict on the packet
    /// (the flow it was counted in, whether it opened it) for an edge that
    /// reports per-packet results, as the bindings do.
    pub fn on_tun_packet_verdict(&mut self, now_us: u64, packet: &[u8]) -> Verdict {
        self.stats.tun_packets_in += 1;
        self.stats.tun_bytes_in += packet.len() as u64;
        let verdict = self.engine.on_packet(now_us, Direction::Outbound, packet);
        match ip::classify(packet) {
            Classified::Malformed => self.stats.malformed += 1,
            Classified::Tcp { src, dst, syn } => {
                if syn {
                    // Refused SYNs are fed too: with no socket listening,
                    // smoltcp answers them with RST.
                    self.on_syn(now_us, src, dst);
                }
                self.feed(packet);
            }
            Classified::Udp { src, dst, payload } => {
                if !self.on_udp(now_us, src, dst, payload) {
                    // Refused: smoltcp has no UDP socket there and answers
                    // ICMP port unreachable.
                    self.feed(packet);
                }
            }
            Classified::EchoRequest if self.config.answer_icmp_echo => {
                self.stats.icmp_echo_answered += 1;
                self.feed(packet);
            }
            Classified::EchoRequest => self.stats.icmp_dropped += 1,
            Classified::Other => {
                self.stats.other_ip += 1;
                self.feed(packet);
            }
        }
        verdict
    }

    fn feed(&mut self, packet: &[u8]) {
        if !self.device.push_rx(packet) {
            self.stats.rx_queue_dropped += 1;
        }
    }

    fn token(&mut self) -> Token {
        let t = Token(self.next_token);
        self.next_token += 1;
        t
    }

    fn push_event(&mut self, event: RelayEvent) {
        if self.events.len() >= self.config.max_events {
            self.stats.events_shed += 1;
        } else {
            self.events.push_back(event);
        }
    }

    fn dns_endpoint(&self) -> Option<SocketAddr> {
        self.config.dns.map(|d| SocketAddr::new(d.addr, DNS_PORT))
    }

    /// A SYN from the device: make a socket listen for it, or refuse it.
    /// Returns whether a socket now waits for it.
    fn on_syn(&mut self, now_us: u64, src: SocketAddr, dst: SocketAddr) -> bool {
        if self.device.rx_full() {
            // The SYN itself will be dropped; a socket for it would go stale.
            return false;
        }
        if let Some(&token) = self.tcp.by_tuple.get(&(src, dst)) {
            let reusable = self.tcp.conns.get(&token).is_some_and(|c| {
                matches!(
                    self.sockets.get::<tcp::Socket>(c.handle).state(),
                    tcp::State::Closed | tcp::State::TimeWait
                )
            });
            if !reusable {
                // A retransmitted SYN: the existing socket answers it.
                return true;
            }
            self.drop_tcp(token);
        }
        let dns = self.config.dns.filter(|_| Some(dst) == self.dns_endpoint());
        let dial_dst = match dns {
            Some(_) if self.secure_dns.is_some() => {
                self.stats.tcp_dial_failed += 1;
                return false;
            }
            Some(d) => d.upstream,
            None => {
                let name = self.names.get(dst.ip(), now_us).map(str::to_owned);
                if self.flow_policy.decide(dst, name.as_deref(), None) == FlowDecision::Block {
                    self.stats.tcp_blocked += 1;
                    self.push_event(RelayEvent::FlowBlocked(BlockedFlow {
                        transport: Transport::Tcp,
                        src,
                        dst,
                        name,
                        at_us: now_us,
                    }));
                    return false;
                }
                self.outbound_dst(dst)
            }
        };
        if self.tcp.len() >= self.tcp_cap {
            match self.tcp.stalest(now_us, self.config.tcp_evict_min_idle_us) {
                Some(victim) => {
                    self.stats.tcp_evicted += 1;
                    self.abort_tcp(victim);
                    self.drop_tcp(victim);
                }
                None => {
                    self.stats.tcp_refused_cap += 1;
                    return false;
                }
            }
        }
        let token = self.token();
        let out = match self.dialer.dial_tcp(token, dial_dst) {
            Ok(out) => out,
            Err(e) => {
                log::debug!("dial tcp {dial_dst}: {e}");
                self.stats.tcp_dial_failed += 1;
                return false;
            }
        };
        let mut sock = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; self.config.tcp_rx_buffer]),
            tcp::SocketBuffer::new(vec![0; self.config.tcp_tx_buffer]),
        );
        // The relay forwards what it gets at once; coalescing is the app's call.
        sock.set_nagle_enabled(false);
        sock.set_ack_delay(Some(Duration::from_millis(5)));
        let endpoint = IpListenEndpoint {
            addr: Some(dst.ip().into()),
            port: dst.port(),
        };
        if sock.listen(endpoint).is_err() {
            self.stats.tcp_dial_failed += 1;
            return false;
        }
        let handle = self.sockets.add(sock);
        self.tcp.insert(
            token,
            TcpConn::new(handle, out, src, dst, now_us, dns.is_some()),
        );
        self.stats.tcp_accepted += 1;
        true
    }

    fn abort_tcp(&mut self, token: Token) {
        if let Some(conn) = self.tcp.conns.get(&token) {
            self.sockets.get_mut::<tcp::Socket>(conn.handle).abort();
        }
    }

    fn drop_tcp(&mut self, token: Token) {
        if let Some(conn) = self.tcp.remove(token) {
            self.sockets.remove(conn.handle);
            self.stats.tcp_closed += 1;
        }
    }

    /// A UDP datagram from the device. Returns false if it was refused.
    fn on_udp(&mut self, now_us: u64, src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> bool {
        if Some(dst) == self.dns_endpoint() {
            return self.on_dns_query(now_us, src, dst, payload);
        }
        let token = match self.udp.by_tuple.get(&(src, dst)) {
            Some(&t) => t,
            None => {
                let name = self.names.get(dst.ip(), now_us).map(str::to_owned);
                if self.flow_policy.decide(dst, name.as_deref(), None) == FlowDecision::Block {
                    self.stats.udp_blocked += 1;
                    self.push_event(RelayEvent::FlowBlocked(BlockedFlow {
                        transport: Transport::Udp,
                        src,
                        dst,
                        name,
                        at_us: now_us,
                    }));
                    return false;
                }
                if self.udp.plain_flows() >= self.config.max_udp {
                    self.stats.udp_refused_cap += 1;
                    // Dropped, not refused: UDP clients retry and the cap
                    // frees as flows idle out.
                    return true;
                }
                let dial_dst = self.outbound_dst(dst);
                match self.open_udp(now_us, src, dst, dial_dst, None) {
                    Some(t) => t,
                    None => return false,
                }
            }
        };
        self.send_udp(now_us, token, payload);
        true
    }

    fn open_udp(
        &mut self,
        now_us: u64,
        src: SocketAddr,
        dst: SocketAddr,
        dial_dst: SocketAddr,
        dns: Option<DnsWait>,
    ) -> Option<Token> {
        let token = self.token();
        match self.dialer.dial_udp(token, dial_dst) {
            Ok(out) => {
                self.udp.insert(
                    token,
                    UdpFlow {
                        out,
                        src,
                        dst,
                        readable: true,
                        last_active_us: now_us,
                        dns,
                    },
                );
                self.stats.udp_opened += 1;
                Some(token)
            }
            Err(e) => {
                log::debug!("dial udp {dial_dst}: {e}");
                self.stats.udp_dial_failed += 1;
                None
            }
        }
    }

    fn send_udp(&mut self, now_us: u64, token: Token, payload: &[u8]) {
        let Some(flow) = self.udp.flows.get_mut(&token) else {
            return;
        };
        flow.last_active_us = now_us;
        match flow.out.send(payload) {
            Ok(_) => self.stats.udp_datagrams_up += 1,
            Err(_) => self.stats.udp_send_dropped += 1,
        }
    }

    fn on_dns_query(
        &mut self,
        now_us: u64,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
    ) -> bool {
        let Some(cfg) = self.config.dns else {
            return false;
        };
        let Some(query) = dns::parse_query(payload) else {
            self.stats.dns_malformed += 1;
            return true;
        };
        let decision = self.dns_policy.decide(&query.qname, None);
        if let Some(answer) = dns::refusal(&query, decision) {
            match decision {
                DnsDecision::NxDomain => self.stats.dns_nxdomain += 1,
                _ => self.stats.dns_sinkholed += 1,
            }
            if let Some(packet) = ip::udp_packet(dst, src, &answer) {
                self.device.push_tx(packet);
            }
            self.push_event(RelayEvent::DnsBlocked {
                src,
                qname: query.qname,
                decision,
                transport: Transport::Udp,
                at_us: now_us,
            });
            return true;
        }
        let deadline_us = now_us.saturating_add(cfg.timeout_us);
        if let Some(secure) = self.secure_dns.as_mut() {
            if secure.inflight() >= cfg.max_inflight {
                self.stats.dns_refused_cap += 1;
                return true;
            }
            secure.push(src, dst, payload, deadline_us);
            self.stats.dns_forwarded += 1;
            self.work_left = true;
            return true;
        }
        let token = match self.udp.by_tuple.get(&(src, dst)) {
            Some(&t) => {
                if let Some(w) = self.udp.flows.get_mut(&t).and_then(|f| f.dns.as_mut()) {
                    w.pending = w.pending.saturating_add(1);
                    w.deadline_us = deadline_us;
                }
                t
            }
            None => {
                if self.udp.dns_flows >= cfg.max_inflight {
                    self.stats.dns_refused_cap += 1;
                    return true;
                }
                let wait = DnsWait {
                    pending: 1,
                    deadline_us,
                };
                match self.open_udp(now_us, src, dst, cfg.upstream, Some(wait)) {
                    Some(t) => t,
                    None => return true,
                }
            }
        };
        self.stats.dns_forwarded += 1;
        self.send_udp(now_us, token, payload);
        true
    }

    /// The outbound socket under `token` has data (or an error, or EOF) to read.
    pub fn on_outbound_readable(&mut self, token: Token) {
        if let Some(s) = self
            .secure_dns
            .as_mut()
            .filter(|s| s.token() == Some(token))
        {
            s.set_readable();
        } else if let Some(c) = self.tcp.conns.get_mut(&token) {
            c.set_readable();
        } else if let Some(f) = self.udp.flows.get_mut(&token) {
            f.readable = true;
        }
    }

    /// The outbound socket under `token` can take more (or finished connecting).
    pub fn on_outbound_writable(&mut self, token: Token) {
        if let Some(s) = self
            .secure_dns
            .as_mut()
            .filter(|s| s.token() == Some(token))
        {
            s.set_writable();
        } else if let Some(c) = self.tcp.conns.get_mut(&token) {
            c.set_writable();
        }
    }

    /// Do everything due at `now_us` and return the packets to write to the
    /// tunnel, in order. [`Relay::poll_with`] does the same without
    /// allocating per packet.
    pub fn poll(&mut self, now_us: u64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.poll_with(now_us, |p| out.push(p.to_vec()));
        out
    }

    /// Do everything due at `now_us`, handing each packet to write to the
    /// tunnel to `emit`, in order. The packet buffers are reused.
    pub fn poll_with(&mut self, now_us: u64, mut emit: impl FnMut(&[u8])) {
        if now_us >= self.next_sweep_us {
            self.sweep(now_us);
        }
        let ts = instant(now_us);
        self.work_left = false;
        let mut rounds = 0;
        loop {
            self.stats.iface_polls += 1;
            // Whether it did anything matters less than whether bytes moved
            // afterwards: new data for a socket needs another poll to leave.
            let _: PollResult = self.iface.poll(ts, &mut self.device, &mut self.sockets);
            self.device.reclaim();
            let moved = self.service_tcp(now_us);
            // The interface stopped at the tunnel queue's cap: hand the
            // packets out each round, so the queue stays bounded however
            // much the sockets have to send.
            let stalled = self.device.tx_full();
            self.flush_tx(now_us, &mut emit);
            rounds += 1;
            if rounds >= MAX_ROUNDS {
                self.work_left = true;
                break;
            }
            if stalled {
                continue;
            }
            // Nothing moved between the sockets and the outbound side, so
            // another interface poll would find what this one found.
            if !moved {
                break;
            }
        }
        self.service_udp(now_us);
        self.service_secure_dns(now_us);
        self.flush_tx(now_us, &mut emit);
    }

    /// Hands every queued tunnel packet to `emit` (the engine sees each one
    /// first) and returns the buffers to the pool.
    fn flush_tx(&mut self, now_us: u64, emit: &mut impl FnMut(&[u8])) {
        let mut out = core::mem::take(&mut self.out);
        self.device.swap_tx(&mut out);
        for packet in out.drain(..) {
            self.stats.tun_packets_out += 1;
            self.stats.tun_bytes_out += packet.len() as u64;
            self.engine.on_packet(now_us, Direction::Inbound, &packet);
            emit(&packet);
            self.device.recycle(packet);
        }
        self.out = out;
    }

    /// Move bytes for every connection; true if anything changed.
    fn service_tcp(&mut self, now_us: u64) -> bool {
        let mut changed = false;
        let mut finished = Vec::new();
        let mut refused = Vec::new();
        let policy = self.dns_policy.as_ref();
        for (token, conn) in self.tcp.conns.iter_mut() {
            let sock = self.sockets.get_mut::<tcp::Socket>(conn.handle);
            let mut work = DnsStreamWork::default();
            let done = conn.service(sock, now_us, policy, &mut work);
            self.stats.dns_forwarded += work.forwarded;
            self.stats.dns_answered += work.answered;
            self.stats.dns_malformed += work.malformed;
            let cap_us = NAME_TTL_CAP_S * 1_000_000;
            for (addr, name, ttl) in work.names {
                let life = (u64::from(ttl) * 1_000_000).min(cap_us);
                self.names.insert(addr, &name, now_us.saturating_add(life));
            }
            for (qname, decision) in work.refused {
                match decision {
                    DnsDecision::NxDomain => self.stats.dns_nxdomain += 1,
                    _ => self.stats.dns_sinkholed += 1,
                }
                refused.push(RelayEvent::DnsBlocked {
                    src: conn.src,
                    qname,
                    decision,
                    transport: Transport::Tcp,
                    at_us: now_us,
                });
            }
            self.stats.tcp_bytes_up += done.up;
            self.stats.tcp_bytes_down += done.down;
            if done.out_failed {
                self.stats.tcp_outbound_failed += 1;
            }
            changed |= done.changed;
            if done.remove {
                finished.push(*token);
            }
        }
        for token in finished {
            self.drop_tcp(token);
        }
        for event in refused {
            self.push_event(event);
        }
        changed
    }

    /// Read what the UDP flows have, up to a burst each.
    fn service_udp(&mut self, now_us: u64) {
        let mut answered = Vec::new();
        for (token, flow) in self.udp.flows.iter_mut() {
            let mut burst = 0;
            while flow.readable {
                if burst >= UDP_BURST {
                    self.work_left = true;
                    break;
                }
                burst += 1;
                let n = match flow.out.recv(&mut self.scratch) {
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        flow.readable = false;
                        break;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    // ICMP errors from the far side surface here; the flow
                    // stays until it idles out.
                    Err(_) => continue,
                };
                let Some(payload) = self.scratch.get(..n) else {
                    continue;
                };
                flow.last_active_us = now_us;
                self.stats.udp_datagrams_down += 1;
                if let Some(wait) = flow.dns.as_mut() {
                    self.stats.dns_answered += 1;
                    let cap_us = NAME_TTL_CAP_S * 1_000_000;
                    for (addr, name, ttl) in dns::answers(payload) {
                        let life = (u64::from(ttl) * 1_000_000).min(cap_us);
                        self.names.insert(addr, &name, now_us.saturating_add(life));
                    }
                    wait.pending = wait.pending.saturating_sub(1);
                    if wait.pending == 0 {
                        answered.push(*token);
                    }
                }
                if let Some(packet) = ip::udp_packet(flow.dst, flow.src, payload) {
                    self.device.push_tx(packet);
                }
            }
        }
        for token in answered {
            self.udp.remove(token);
        }
    }

    /// Drive the encrypted upstream and answer the device from what it gave.
    fn service_secure_dns(&mut self, now_us: u64) {
        let Some(secure) = self.secure_dns.as_mut() else {
            return;
        };
        let (connects, failures) = (secure.connects, secure.failures);
        let next_token = &mut self.next_token;
        let mut token = || {
            let t = Token(*next_token);
            *next_token += 1;
            t
        };
        let replies = secure.service(self.dialer.as_mut(), &mut token);
        self.stats.dns_upstream_connects += secure.connects - connects;
        self.stats.dns_upstream_failed += secure.failures - failures;
        self.answer_secure(now_us, replies);
    }

    fn answer_secure(&mut self, now_us: u64, replies: Vec<Reply>) {
        for reply in replies {
            let payload = match reply.answer {
                Some(answer) => {
                    self.stats.dns_answered += 1;
                    let cap_us = NAME_TTL_CAP_S * 1_000_000;
                    for (addr, name, ttl) in dns::answers(&answer) {
                        let life = (u64::from(ttl) * 1_000_000).min(cap_us);
                        self.names.insert(addr, &name, now_us.saturating_add(life));
                    }
                    answer
                }
                None => {
                    self.stats.dns_servfail += 1;
                    match dns::servfail(&reply.query) {
                        Some(s) => s,
                        None => continue,
                    }
                }
            };
            if let Some(packet) = ip::udp_packet(reply.dst, reply.src, &payload) {
                self.device.push_tx(packet);
            }
        }
    }

    fn sweep(&mut self, now_us: u64) {
        self.next_sweep_us = now_us.saturating_add(SWEEP_INTERVAL_US);
        let idle_us = self.config.tcp_idle_us;
        let idle: Vec<Token> = self
            .tcp
            .conns
            .iter()
            .filter(|(_, c)| now_us.saturating_sub(c.last_active_us) >= idle_us)
            .map(|(t, _)| *t)
            .collect();
        for token in idle {
            self.stats.tcp_evicted += 1;
            // Aborted here, removed by the next service once the RST is out.
            self.abort_tcp(token);
        }
        if let Some(secure) = self.secure_dns.as_mut() {
            let late = secure.expired(now_us);
            self.stats.dns_timeouts += late.len() as u64;
            self.answer_secure(now_us, late);
        }
        for token in self.udp.expired(now_us, self.config.udp_idle_us) {
            if let Some(flow) = self.udp.remove(token) {
                if flow.dns.is_some() {
                    self.stats.dns_timeouts += 1;
                } else {
                    self.stats.udp_expired += 1;
                }
            }
        }
    }

    /// When [`Relay::poll`] should next be called if nothing else happens, in
    /// microseconds since the Unix epoch; None if only a packet or a
    /// readiness report can give it work (the relay is idle).
    pub fn next_deadline(&mut self, now_us: u64) -> Option<u64> {
        if self.work_left || self.device.rx_pending() {
            return Some(now_us);
        }
        let mut deadline = self
            .iface
            .poll_at(instant(now_us), &self.sockets)
            .map(|at| u64::try_from(at.total_micros()).unwrap_or(0));
        let secure_waiting = self.secure_dns.as_ref().is_some_and(|s| s.inflight() > 0);
        if !self.tcp.conns.is_empty() || !self.udp.flows.is_empty() || secure_waiting {
            deadline = Some(deadline.map_or(self.next_sweep_us, |d| d.min(self.next_sweep_us)));
        }
        deadline
    }

    /// Which IP addresses the relay answers as its own (for the edge's routes).
    pub fn addresses(&self) -> Vec<IpAddr> {
        let mut v = vec![IpAddr::V4(self.config.ipv4)];
        if let Some(v6) = self.config.ipv6 {
            v.push(IpAddr::V6(v6));
        }
        v
    }
}

/// A relay must stay `Send` (see [`Relay`]); this fails to compile otherwise.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<Relay>();
};
