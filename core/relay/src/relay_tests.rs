//! Relay behaviour, driven by a smoltcp client standing in for the device and
//! an in-memory dialer standing in for the network.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::sync::{Arc, Mutex, MutexGuard};

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{
    HardwareAddress, Icmpv4Message, Icmpv4Packet, IpCidr, IpProtocol, Ipv4Address, Ipv4Packet,
    Ipv4Repr, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber,
};

use crate::device::TunQueues;
use crate::dns::tests::{answer_bytes, query_bytes};
use crate::ip::{self, Classified};
use crate::*;

const T0: u64 = 1_700_000_000_000_000;
const RELAY_IP: Ipv4Addr = Ipv4Addr::new(10, 111, 0, 1);
const DEVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 111, 0, 2);
const DNS_IP: Ipv4Addr = Ipv4Addr::new(10, 111, 0, 53);
const UPSTREAM: &str = "192.0.2.53:53";

#[derive(Debug, Default)]
struct Far {
    to_far: Vec<u8>,
    from_far: VecDeque<u8>,
    eof: bool,
    write_blocked: bool,
    fail: Option<ErrorKind>,
    shut: bool,
    local: Option<SocketAddr>,
}

#[derive(Debug, Default)]
struct FarUdp {
    sent: Vec<Vec<u8>>,
    inbox: VecDeque<Vec<u8>>,
    local: Option<SocketAddr>,
}

/// Shared state of the fake network. A mutex rather than a `RefCell` because
/// the relay's dialer and sockets must be `Send`; `borrow`/`borrow_mut` keep
/// the call sites of a single-threaded test.
#[derive(Debug)]
struct Shared<T>(Arc<Mutex<T>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

impl<T: Default> Default for Shared<T> {
    fn default() -> Self {
        Shared(Arc::new(Mutex::new(T::default())))
    }
}

impl<T> Shared<T> {
    fn borrow(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap()
    }
    fn borrow_mut(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap()
    }
}

#[derive(Debug, Default)]
struct Dials {
    /// The local address new sockets get (the path they leave by).
    local: Option<SocketAddr>,
    tcp: Vec<(Token, SocketAddr, Shared<Far>)>,
    udp: Vec<(Token, SocketAddr, Shared<FarUdp>)>,
}

#[derive(Debug, Clone, Default)]
struct MemDialer(Shared<Dials>);

#[derive(Debug)]
struct MemTcp(Shared<Far>);
#[derive(Debug)]
struct MemUdp(Shared<FarUdp>);

impl Outbound for MemTcp {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut far = self.0.borrow_mut();
        if let Some(kind) = far.fail {
            return Err(kind.into());
        }
        if far.from_far.is_empty() {
            return if far.eof {
                Ok(0)
            } else {
                Err(ErrorKind::WouldBlock.into())
            };
        }
        let n = buf.len().min(far.from_far.len());
        for (dst, src) in buf.iter_mut().zip(far.from_far.drain(..n)) {
            *dst = src;
        }
        Ok(n)
    }
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut far = self.0.borrow_mut();
        if let Some(kind) = far.fail {
            return Err(kind.into());
        }
        if far.write_blocked {
            return Err(ErrorKind::WouldBlock.into());
        }
        far.to_far.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.0.borrow_mut().shut = true;
        Ok(())
    }
    fn local_addr(&self) -> Option<SocketAddr> {
        self.0.borrow().local
    }
}

impl OutboundDatagram for MemUdp {
    fn send(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().sent.push(buf.to_vec());
        Ok(buf.len())
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.borrow_mut().inbox.pop_front() {
            Some(d) => {
                buf[..d.len()].copy_from_slice(&d);
                Ok(d.len())
            }
            None => Err(ErrorKind::WouldBlock.into()),
        }
    }
    fn local_addr(&self) -> Option<SocketAddr> {
        self.0.borrow().local
    }
}

impl Dialer for MemDialer {
    fn dial_tcp(&mut self, token: Token, dst: SocketAddr) -> Result<Box<dyn Outbound>, DialError> {
        let far: Shared<Far> = Shared::default();
        far.borrow_mut().local = self.0.borrow().local;
        self.0.borrow_mut().tcp.push((token, dst, far.clone()));
        Ok(Box::new(MemTcp(far)))
    }
    fn dial_udp(
        &mut self,
        token: Token,
        dst: SocketAddr,
    ) -> Result<Box<dyn OutboundDatagram>, DialError> {
        let far: Shared<FarUdp> = Shared::default();
        far.borrow_mut().local = self.0.borrow().local;
        self.0.borrow_mut().udp.push((token, dst, far.clone()));
        Ok(Box::new(MemUdp(far)))
    }
}

/// Blocks flows to one port.
#[derive(Debug)]
struct BlockPort(u16);
impl FlowPolicy for BlockPort {
    fn decide(&self, dst: SocketAddr, _name: Option<&str>, _app: Option<u32>) -> FlowDecision {
        if dst.port() == self.0 {
            FlowDecision::Block
        } else {
            FlowDecision::Allow
        }
    }
}

fn config() -> RelayConfig {
    RelayConfig {
        ipv4: RELAY_IP,
        dns: Some(DnsConfig {
            addr: IpAddr::V4(DNS_IP),
            upstream: UPSTREAM.parse().unwrap(),
            max_inflight: 8,
            timeout_us: 2_000_000,
        }),
        tcp_rx_buffer: 64 * 1024,
        tcp_tx_buffer: 64 * 1024,
        ..RelayConfig::default()
    }
}

fn relay_with(
    config: RelayConfig,
    dns: Box<dyn DnsPolicy>,
    flows: Box<dyn FlowPolicy>,
) -> (Relay, MemDialer) {
    let dialer = MemDialer::default();
    let relay = Relay::new(config, Box::new(dialer.clone()), dns, flows, T0).unwrap();
    (relay, dialer)
}

fn relay() -> (Relay, MemDialer) {
    relay_with(config(), Box::new(AllowAll), Box::new(AllowAll))
}

/// The device: a smoltcp stack routing everything to the relay.
struct Client {
    iface: Interface,
    dev: TunQueues,
    sockets: SocketSet<'static>,
}

impl Client {
    fn new() -> Self {
        let mut dev = TunQueues::new(1500, 1 << 20);
        let mut iface = Interface::new(
            Config::new(HardwareAddress::Ip),
            &mut dev,
            Instant::from_micros(T0 as i64),
        );
        iface.update_ip_addrs(|a| a.push(IpCidr::new(DEVICE_IP.into(), 24)).unwrap());
        iface.routes_mut().add_default_ipv4_route(RELAY_IP).unwrap();
        Client {
            iface,
            dev,
            sockets: SocketSet::new(Vec::new()),
        }
    }

    fn connect(&mut self, dst: SocketAddr, port: u16) -> SocketHandle {
        let mut sock = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 256 * 1024]),
            tcp::SocketBuffer::new(vec![0; 256 * 1024]),
        );
        sock.connect(self.iface.context(), dst, port).unwrap();
        self.sockets.add(sock)
    }

    fn sock(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }
}

/// Shuttle packets both ways until both sides are quiet for a few rounds.
fn run(relay: &mut Relay, c: &mut Client, now: &mut u64) -> Vec<Vec<u8>> {
    let mut seen = Vec::new();
    let mut quiet = 0;
    for _ in 0..10_000 {
        c.iface.poll(
            Instant::from_micros(*now as i64),
            &mut c.dev,
            &mut c.sockets,
        );
        let up = c.dev.take_tx();
        for p in &up {
            relay.on_tun_packet(*now, p);
        }
        let down = relay.poll(*now);
        for p in &down {
            assert!(c.dev.push_rx(p));
        }
        if up.is_empty() && down.is_empty() {
            quiet += 1;
            if quiet > 30 {
                break;
            }
        } else {
            quiet = 0;
        }
        seen.extend(down);
        *now += 1_000;
    }
    seen
}

fn raw_syn(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip(), dst.ip()) else {
        unreachable!()
    };
    let tcp = TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        control: TcpControl::Syn,
        seq_number: TcpSeqNumber(1000),
        ack_number: None,
        window_len: 64240,
        window_scale: Some(7),
        max_seg_size: Some(1460),
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload: &[],
    };
    let ip = Ipv4Repr {
        src_addr: s,
        dst_addr: d,
        next_header: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        hop_limit: 64,
    };
    let mut buf = vec![0; ip.buffer_len() + tcp.buffer_len()];
    let caps = ChecksumCapabilities::default();
    let mut packet = Ipv4Packet::new_unchecked(&mut buf);
    ip.emit(&mut packet, &caps);
    let mut seg = TcpPacket::new_unchecked(packet.payload_mut());
    tcp.emit(&mut seg, &s.into(), &d.into(), &caps);
    buf
}

/// The TCP header of an IPv4 packet: (src, dst, control, mss).
fn tcp_of(packet: &[u8]) -> Option<(SocketAddr, SocketAddr, TcpControl, Option<u16>, bool)> {
    let ip = Ipv4Packet::new_checked(packet).ok()?;
    if ip.next_header() != IpProtocol::Tcp {
        return None;
    }
    let seg = TcpPacket::new_checked(ip.payload()).ok()?;
    let (s, d): (Ipv4Address, Ipv4Address) = (ip.src_addr(), ip.dst_addr());
    assert!(seg.verify_checksum(&s.into(), &d.into()), "bad checksum");
    let repr = TcpRepr::parse(&seg, &s.into(), &d.into(), &ChecksumCapabilities::default()).ok()?;
    Some((
        SocketAddr::new(s.into(), seg.src_port()),
        SocketAddr::new(d.into(), seg.dst_port()),
        repr.control,
        repr.max_seg_size,
        seg.ack(),
    ))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn syn_ack_advertises_mtu_minus_40() {
    for mtu in [1500usize, 1280, 9000] {
        let cfg = RelayConfig {
            mtu,
            tcp_rx_buffer: 64 * 1024,
            tcp_tx_buffer: 64 * 1024,
            ..config()
        };
        let (mut relay, dialer) = relay_with(cfg, Box::new(AllowAll), Box::new(AllowAll));
        let (src, dst) = (addr("10.111.0.2:40000"), addr("198.51.100.7:443"));
        relay.on_tun_packet(T0, &raw_syn(src, dst));
        let out = relay.poll(T0);
        let synack = out.iter().find_map(|p| tcp_of(p)).expect("a TCP answer");
        assert_eq!(
            synack.0, dst,
            "answered from the address the device dialled"
        );
        assert_eq!(synack.1, src);
        assert_eq!(synack.2, TcpControl::Syn);
        assert!(synack.4, "SYN-ACK");
        assert_eq!(synack.3, Some((mtu - 40) as u16), "mss for mtu {mtu}");
        assert_eq!(
            dialer.0.borrow().tcp[0].1,
            dst,
            "dialled the real destination"
        );
    }
}

#[test]
fn tcp_relays_both_ways_and_closes() {
    let (mut relay, dialer) = relay();
    let mut c = Client::new();
    let mut now = T0;
    let dst = addr("198.51.100.7:80");
    let h = c.connect(dst, 40000);
    run(&mut relay, &mut c, &mut now);
    assert_eq!(c.sock(h).state(), tcp::State::Established);

    let up: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut sent = 0;
    let far = dialer.0.borrow().tcp[0].2.clone();
    let token = dialer.0.borrow().tcp[0].0;
    let down: Vec<u8> = (0..500_000u32).map(|i| (i * 13 + i / 509) as u8).collect();
    far.borrow_mut().from_far.extend(down.iter().copied());
    relay.on_outbound_readable(token);
    let mut got = Vec::new();
    for _ in 0..200 {
        if sent < up.len() {
            sent += c.sock(h).send_slice(&up[sent..]).unwrap();
        }
        run(&mut relay, &mut c, &mut now);
        while c.sock(h).can_recv() {
            c.sock(h)
                .recv(|b| {
                    got.extend_from_slice(b);
                    (b.len(), ())
                })
                .unwrap();
        }
        if got.len() == down.len() && far.borrow().to_far.len() == up.len() {
            break;
        }
    }
    assert_eq!(far.borrow().to_far, up, "device to network intact");
    assert_eq!(got, down, "network to device intact");
    let stats = relay.stats();
    assert_eq!(stats.tcp_bytes_up, up.len() as u64);
    assert_eq!(stats.tcp_bytes_down, down.len() as u64);

    // Far side closes, then the device does: both FINs pass, the socket goes.
    far.borrow_mut().eof = true;
    relay.on_outbound_readable(token);
    run(&mut relay, &mut c, &mut now);
    assert!(!c.sock(h).may_recv(), "device saw the far side's FIN");
    c.sock(h).close();
    run(&mut relay, &mut c, &mut now);
    assert!(far.borrow().shut, "device FIN passed on");
    assert_eq!(relay.live().0, 0, "connection removed");
    assert_eq!(relay.stats().tcp_closed, 1);
    // The engine saw both directions.
    let engine = relay.engine().stats();
    assert!(engine.packets.packets >= relay.stats().tun_packets_in + relay.stats().tun_packets_out);
}

#[test]
fn blocked_flow_gets_rst_and_an_event() {
    let (mut relay, dialer) = relay_with(config(), Box::new(AllowAll), Box::new(BlockPort(25)));
    let (src, dst) = (addr("10.111.0.2:40001"), addr("198.51.100.9:25"));
    relay.on_tun_packet(T0, &raw_syn(src, dst));
    let out = relay.poll(T0);
    let rst = out.iter().find_map(|p| tcp_of(p)).expect("an answer");
    assert_eq!((rst.0, rst.1, rst.2), (dst, src, TcpControl::Rst));
    assert!(dialer.0.borrow().tcp.is_empty(), "never dialled");
    assert_eq!(relay.stats().tcp_blocked, 1);
    match relay.next_event() {
        Some(RelayEvent::FlowBlocked(b)) => {
            assert_eq!(
                (b.transport, b.src, b.dst, b.name),
                (Transport::Tcp, src, dst, None)
            );
        }
        other => panic!("expected FlowBlocked, got {other:?}"),
    }

    // UDP to a blocked port gets ICMP port unreachable.
    let udp = ip::udp_packet(src, dst, b"x").unwrap();
    relay.on_tun_packet(T0, &udp);
    let out = relay.poll(T0);
    let icmp = out
        .iter()
        .find_map(|p| {
            let ip = Ipv4Packet::new_checked(&p[..]).ok()?;
            (ip.next_header() == IpProtocol::Icmp).then(|| ip.payload().to_vec())
        })
        .expect("an ICMP answer");
    let icmp = Icmpv4Packet::new_checked(&icmp[..]).unwrap();
    assert_eq!(icmp.msg_type(), Icmpv4Message::DstUnreachable);
    assert_eq!(icmp.msg_code(), 3, "port unreachable");
    assert!(dialer.0.borrow().udp.is_empty());
    assert!(
        matches!(relay.next_event(), Some(RelayEvent::FlowBlocked(b)) if b.transport == Transport::Udp)
    );
}

#[test]
fn socket_cap_refuses_with_rst_and_memory_stays_under_cap() {
    let cfg = RelayConfig {
        max_tcp: 4,
        ..config()
    };
    let (mut relay, dialer) = relay_with(cfg, Box::new(AllowAll), Box::new(AllowAll));
    let mut rsts = 0;
    let mut synacks = 0;
    for i in 0..20u16 {
        let src = SocketAddr::new(DEVICE_IP.into(), 50_000 + i);
        relay.on_tun_packet(T0, &raw_syn(src, addr("198.51.100.7:443")));
        for p in relay.poll(T0) {
            match tcp_of(&p) {
                Some((_, _, TcpControl::Rst, _, _)) => rsts += 1,
                Some((_, _, TcpControl::Syn, _, true)) => synacks += 1,
                _ => {}
            }
        }
        let mem = relay.memory();
        assert!(mem.tcp_sockets <= mem.tcp_sockets_cap);
        assert!(mem.tcp_buffers <= mem.tcp_buffers_cap);
    }
    assert_eq!((synacks, rsts), (4, 16));
    assert_eq!(relay.stats().tcp_refused_cap, 16);
    assert_eq!(dialer.0.borrow().tcp.len(), 4);

    // Once those four have idled long enough, a new SYN evicts one.
    let later = T0 + config().tcp_evict_min_idle_us + 1;
    relay.on_tun_packet(
        later,
        &raw_syn(addr("10.111.0.2:60000"), addr("198.51.100.7:443")),
    );
    let out = relay.poll(later);
    assert!(
        out.iter()
            .any(|p| matches!(tcp_of(p), Some((_, _, TcpControl::Syn, _, true))))
    );
    assert_eq!(relay.stats().tcp_evicted, 1);
    assert_eq!(relay.live().0, 4);
}

#[test]
fn buffer_pool_limits_sockets() {
    let cfg = RelayConfig {
        max_tcp: 1000,
        tcp_rx_buffer: 64 * 1024,
        tcp_tx_buffer: 64 * 1024,
        buffer_pool_bytes: 3 * 128 * 1024,
        ..config()
    };
    assert_eq!(cfg.tcp_cap(), 3);
    let (relay, _) = relay_with(cfg, Box::new(AllowAll), Box::new(AllowAll));
    assert_eq!(relay.memory().tcp_buffers_cap, 3 * 128 * 1024);
    let bad = RelayConfig {
        buffer_pool_bytes: 1024,
        ..config()
    };
    assert!(
        Relay::new(
            bad,
            Box::new(MemDialer::default()),
            Box::new(AllowAll),
            Box::new(AllowAll),
            T0
        )
        .is_err()
    );
}

#[test]
fn slow_network_closes_the_device_window() {
    let (mut relay, dialer) = relay();
    let mut c = Client::new();
    let mut now = T0;
    let h = c.connect(addr("198.51.100.7:80"), 40002);
    run(&mut relay, &mut c, &mut now);
    let (token, far) = {
        let d = dialer.0.borrow();
        (d.tcp[0].0, d.tcp[0].2.clone())
    };
    far.borrow_mut().write_blocked = true;
    // Make the relay try a write, hit WouldBlock, and stop reading.
    let data = vec![0x5a; 200_000];
    let mut sent = c.sock(h).send_slice(&data).unwrap();
    for _ in 0..5 {
        run(&mut relay, &mut c, &mut now);
        sent += c.sock(h).send_slice(&data[sent..]).unwrap();
    }
    assert!(far.borrow().to_far.is_empty());
    // The relay holds at most its receive buffer; the rest waits on the device.
    let held = sent - c.sock(h).send_queue();
    assert!(held <= 64 * 1024, "relay took {held} bytes past its buffer");
    assert!(c.sock(h).send_queue() > 0, "device is back-pressured");
    assert_eq!(c.sock(h).state(), tcp::State::Established);

    far.borrow_mut().write_blocked = false;
    relay.on_outbound_writable(token);
    for _ in 0..50 {
        run(&mut relay, &mut c, &mut now);
        if sent < data.len() {
            sent += c.sock(h).send_slice(&data[sent..]).unwrap();
        }
        if far.borrow().to_far.len() == data.len() {
            break;
        }
    }
    assert_eq!(far.borrow().to_far.len(), data.len());
}

#[test]
fn outbound_failure_resets_the_device() {
    let (mut relay, dialer) = relay();
    let mut c = Client::new();
    let mut now = T0;
    let h = c.connect(addr("198.51.100.7:80"), 40003);
    run(&mut relay, &mut c, &mut now);
    let (token, far) = {
        let d = dialer.0.borrow();
        (d.tcp[0].0, d.tcp[0].2.clone())
    };
    far.borrow_mut().fail = Some(ErrorKind::ConnectionRefused);
    relay.on_outbound_readable(token);
    run(&mut relay, &mut c, &mut now);
    assert_eq!(c.sock(h).state(), tcp::State::Closed, "device got RST");
    assert_eq!(relay.stats().tcp_outbound_failed, 1);
    assert_eq!(relay.live().0, 0);
}

#[test]
fn udp_is_relayed_and_idles_out() {
    let (mut relay, dialer) = relay();
    let (src, dst) = (addr("10.111.0.2:5000"), addr("198.51.100.3:7"));
    relay.on_tun_packet(T0, &ip::udp_packet(src, dst, b"ping").unwrap());
    relay.on_tun_packet(T0, &ip::udp_packet(src, dst, b"ping2").unwrap());
    assert!(relay.poll(T0).is_empty());
    let (token, to, far) = {
        let d = dialer.0.borrow();
        (d.udp[0].0, d.udp[0].1, d.udp[0].2.clone())
    };
    assert_eq!(dialer.0.borrow().udp.len(), 1, "one socket per flow");
    assert_eq!(to, dst);
    assert_eq!(far.borrow().sent, vec![b"ping".to_vec(), b"ping2".to_vec()]);
    far.borrow_mut().inbox.push_back(b"pong".to_vec());
    relay.on_outbound_readable(token);
    let out = relay.poll(T0 + 10);
    assert_eq!(out.len(), 1);
    match ip::classify(&out[0]) {
        Classified::Udp {
            src: s,
            dst: d,
            payload,
        } => {
            assert_eq!((s, d, payload), (dst, src, &b"pong"[..]));
        }
        other => panic!("not udp: {other:?}"),
    }
    assert!(
        relay.next_deadline(T0 + 10).is_some(),
        "a live flow needs sweeping"
    );
    let late = T0 + config().udp_idle_us + 2_000_000;
    relay.poll(late);
    assert_eq!(relay.live().1, 0);
    assert_eq!(relay.stats().udp_expired, 1);
    assert_eq!(relay.next_deadline(late), None, "idle relay sleeps");
}

#[test]
fn udp_flow_cap_drops_and_counts() {
    let cfg = RelayConfig {
        max_udp: 3,
        ..config()
    };
    let (mut relay, dialer) = relay_with(cfg, Box::new(AllowAll), Box::new(AllowAll));
    for port in 0..10u16 {
        let src = SocketAddr::new(DEVICE_IP.into(), 6000 + port);
        relay.on_tun_packet(
            T0,
            &ip::udp_packet(src, addr("198.51.100.3:9"), b"x").unwrap(),
        );
    }
    relay.poll(T0);
    assert_eq!(dialer.0.borrow().udp.len(), 3);
    assert_eq!(relay.stats().udp_refused_cap, 7);
    assert_eq!(relay.memory().udp_flows, 3);
}

#[test]
fn dns_is_forwarded_and_names_feed_the_flow_policy() {
    let blocked = NameList::new(["tracker.example"], DnsDecision::Forward);
    let (mut relay, dialer) = relay_with(config(), Box::new(AllowAll), Box::new(blocked));
    let client = addr("10.111.0.2:33333");
    let dns = SocketAddr::new(DNS_IP.into(), 53);
    let query = query_bytes(0x1234, "tracker.example.", hickory_proto::rr::RecordType::A);
    relay.on_tun_packet(T0, &ip::udp_packet(client, dns, &query).unwrap());
    relay.poll(T0);
    let (token, to, far) = {
        let d = dialer.0.borrow();
        (d.udp[0].0, d.udp[0].1, d.udp[0].2.clone())
    };
    assert_eq!(to, addr(UPSTREAM), "forwarded upstream");
    assert_eq!(far.borrow().sent, vec![query]);
    assert_eq!(relay.memory().dns_inflight, 1);
    let tracker_ip = Ipv4Addr::new(203, 0, 113, 66);
    let answer = answer_bytes(0x1234, "tracker.example.", tracker_ip);
    far.borrow_mut().inbox.push_back(answer.clone());
    relay.on_outbound_readable(token);
    let out = relay.poll(T0 + 100);
    match ip::classify(&out[0]) {
        Classified::Udp { src, dst, payload } => {
            assert_eq!(
                (src, dst, payload),
                (dns, client, &answer[..]),
                "answer from the tunnel resolver"
            );
        }
        other => panic!("not udp: {other:?}"),
    }
    assert_eq!(relay.memory().dns_inflight, 0, "answered query closed");
    // The engine saw the exchange and paired it.
    let mut saw_dns = false;
    relay.engine_mut().flush();
    while let Some(ev) = relay.engine_mut().next_event() {
        saw_dns |= matches!(ev, nightjar_engine::Event::Dns(_));
    }
    assert!(saw_dns, "engine recorded the DNS transaction");

    // A connection to the answered address is judged by its name.
    let dst = SocketAddr::new(tracker_ip.into(), 443);
    relay.on_tun_packet(T0 + 200, &raw_syn(addr("10.111.0.2:41000"), dst));
    let out = relay.poll(T0 + 200);
    assert!(
        out.iter()
            .any(|p| matches!(tcp_of(p), Some((_, _, TcpControl::Rst, _, _))))
    );
    match relay.next_event() {
        Some(RelayEvent::FlowBlocked(b)) => assert_eq!(b.name.as_deref(), Some("tracker.example")),
        other => panic!("expected FlowBlocked, got {other:?}"),
    }
    // Other addresses pass.
    relay.on_tun_packet(
        T0 + 300,
        &raw_syn(addr("10.111.0.2:41001"), addr("203.0.113.67:443")),
    );
    let out = relay.poll(T0 + 300);
    assert!(
        out.iter()
            .any(|p| matches!(tcp_of(p), Some((_, _, TcpControl::Syn, _, true))))
    );
}

#[test]
fn dns_policy_answers_nxdomain_and_sinkhole_locally() {
    for (decision, rcode) in [
        (
            DnsDecision::NxDomain,
            hickory_proto::op::ResponseCode::NXDomain,
        ),
        (
            DnsDecision::Sinkhole,
            hickory_proto::op::ResponseCode::NoError,
        ),
    ] {
        let list = NameList::new(["ads.example"], decision);
        let (mut relay, dialer) = relay_with(config(), Box::new(list), Box::new(AllowAll));
        let client = addr("10.111.0.2:33334");
        let dns = SocketAddr::new(DNS_IP.into(), 53);
        let query = query_bytes(77, "x.ads.example.", hickory_proto::rr::RecordType::A);
        relay.on_tun_packet(T0, &ip::udp_packet(client, dns, &query).unwrap());
        let out = relay.poll(T0);
        assert!(dialer.0.borrow().udp.is_empty(), "not forwarded");
        let Classified::Udp { src, dst, payload } = ip::classify(&out[0]) else {
            panic!("not udp")
        };
        assert_eq!((src, dst), (dns, client));
        let msg = hickory_proto::op::Message::from_vec(payload).unwrap();
        assert_eq!(msg.metadata.id, 77);
        assert_eq!(msg.metadata.response_code, rcode);
        assert_eq!(
            msg.answers.len(),
            usize::from(decision == DnsDecision::Sinkhole)
        );
        assert!(matches!(
            relay.next_event(),
            Some(RelayEvent::DnsBlocked { qname, decision: d, .. }) if qname == "x.ads.example" && d == decision
        ));
    }
}

#[test]
fn dns_inflight_cap_and_timeout() {
    let (mut relay, dialer) = relay();
    let dns = SocketAddr::new(DNS_IP.into(), 53);
    for port in 0..20u16 {
        let client = SocketAddr::new(DEVICE_IP.into(), 20_000 + port);
        let q = query_bytes(port, "a.example.", hickory_proto::rr::RecordType::A);
        relay.on_tun_packet(T0, &ip::udp_packet(client, dns, &q).unwrap());
    }
    relay.poll(T0);
    assert_eq!(dialer.0.borrow().udp.len(), 8);
    assert_eq!(relay.stats().dns_refused_cap, 12);
    assert_eq!(relay.memory().dns_inflight, 8);
    relay.poll(T0 + 3_000_000);
    assert_eq!(relay.memory().dns_inflight, 0);
    assert_eq!(relay.stats().dns_timeouts, 8);
}

fn framed(message: &[u8]) -> Vec<u8> {
    let mut v = (message.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(message);
    v
}

#[test]
fn tcp_dns_meets_the_policy_and_the_rest_goes_upstream() {
    use hickory_proto::op::{Message, ResponseCode};
    use hickory_proto::rr::RecordType;
    let list = NameList::new(["ads.example"], DnsDecision::NxDomain);
    let (mut relay, dialer) = relay_with(config(), Box::new(list.clone()), Box::new(list));
    let mut c = Client::new();
    let mut now = T0;
    let h = c.connect(SocketAddr::new(DNS_IP.into(), 53), 40_500);
    run(&mut relay, &mut c, &mut now);
    assert_eq!(c.sock(h).state(), tcp::State::Established);
    let (token, dialled, far) = dialer.0.borrow().tcp[0].clone();
    assert_eq!(dialled, addr(UPSTREAM));

    // Two queries in one write: the blocked one is answered here, the other
    // goes upstream alone.
    let blocked = query_bytes(1, "x.ads.example.", RecordType::A);
    let allowed = query_bytes(2, "www.example.", RecordType::A);
    let mut bytes = framed(&blocked);
    bytes.extend(framed(&allowed));
    c.sock(h).send_slice(&bytes).unwrap();
    run(&mut relay, &mut c, &mut now);
    assert_eq!(
        far.borrow().to_far,
        framed(&allowed),
        "only the allowed query left"
    );
    let mut got = vec![0; 4096];
    let n = c.sock(h).recv_slice(&mut got).unwrap();
    let answer = Message::from_vec(&got[2..n]).unwrap();
    assert_eq!(usize::from(u16::from_be_bytes([got[0], got[1]])), n - 2);
    assert_eq!(answer.metadata.id, 1);
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
    assert!(matches!(
        relay.next_event(),
        Some(RelayEvent::DnsBlocked { qname, decision: DnsDecision::NxDomain, transport: Transport::Tcp, src, .. })
            if qname == "x.ads.example" && src == addr("10.111.0.2:40500")
    ));

    // The upstream's answer, in two pieces, reaches the device whole, and
    // names the address for the flow policy.
    let up_answer = framed(&answer_bytes(
        2,
        "www.example.",
        Ipv4Addr::new(192, 0, 2, 44),
    ));
    far.borrow_mut()
        .from_far
        .extend(up_answer[..7].iter().copied());
    relay.on_outbound_readable(token);
    run(&mut relay, &mut c, &mut now);
    assert!(!c.sock(h).can_recv(), "half an answer is held back");
    far.borrow_mut()
        .from_far
        .extend(up_answer[7..].iter().copied());
    relay.on_outbound_readable(token);
    run(&mut relay, &mut c, &mut now);
    let n = c.sock(h).recv_slice(&mut got).unwrap();
    assert_eq!(&got[..n], &up_answer[..]);
    let stats = relay.stats();
    assert_eq!(
        (stats.dns_nxdomain, stats.dns_forwarded, stats.dns_answered),
        (1, 1, 1)
    );

    // The device closes; the FIN passes once the queries are out.
    c.sock(h).close();
    run(&mut relay, &mut c, &mut now);
    assert!(far.borrow().shut);
    far.borrow_mut().eof = true;
    relay.on_outbound_readable(token);
    run(&mut relay, &mut c, &mut now);
    assert_eq!(relay.live().0, 0, "connection removed");
}

#[test]
fn tcp_dns_answers_name_addresses_for_the_flow_policy() {
    // A name answered by the upstream over TCP names the address, so a flow
    // to it is judged by name as after a UDP answer.
    use hickory_proto::rr::RecordType;
    let list = NameList::new(["tracker.example"], DnsDecision::Forward);
    let (mut relay, dialer) = relay_with(config(), Box::new(AllowAll), Box::new(list));
    let mut c = Client::new();
    let mut now = T0;
    let h = c.connect(SocketAddr::new(DNS_IP.into(), 53), 40_501);
    run(&mut relay, &mut c, &mut now);
    let (token, _, far) = dialer.0.borrow().tcp[0].clone();
    c.sock(h)
        .send_slice(&framed(&query_bytes(5, "tracker.example.", RecordType::A)))
        .unwrap();
    run(&mut relay, &mut c, &mut now);
    let ip = Ipv4Addr::new(198, 51, 100, 66);
    far.borrow_mut()
        .from_far
        .extend(framed(&answer_bytes(5, "tracker.example.", ip)));
    relay.on_outbound_readable(token);
    run(&mut relay, &mut c, &mut now);
    let src = addr("10.111.0.2:40600");
    relay.on_tun_packet(now, &raw_syn(src, SocketAddr::new(ip.into(), 443)));
    relay.poll(now);
    assert_eq!(relay.stats().tcp_blocked, 1);
}

#[test]
fn network_change_resets_what_was_on_the_old_path() {
    let (mut relay, dialer) = relay();
    let mut c = Client::new();
    let mut now = T0;
    let old = addr("192.168.1.20:50000");
    let new = addr("100.64.0.9:50000");
    dialer.0.borrow_mut().local = Some(old);
    let h_old = c.connect(addr("198.51.100.7:443"), 40_700);
    run(&mut relay, &mut c, &mut now);
    let dns = SocketAddr::new(DNS_IP.into(), 53);
    let q = query_bytes(1, "a.example.", hickory_proto::rr::RecordType::A);
    relay.on_tun_packet(
        now,
        &ip::udp_packet(addr("10.111.0.2:33000"), dns, &q).unwrap(),
    );
    relay.on_tun_packet(
        now,
        &ip::udp_packet(addr("10.111.0.2:33001"), addr("198.51.100.8:443"), b"quic").unwrap(),
    );
    // A connection already on the new path survives the change.
    dialer.0.borrow_mut().local = Some(new);
    let h_new = c.connect(addr("198.51.100.7:443"), 40_701);
    run(&mut relay, &mut c, &mut now);
    assert_eq!(relay.live(), (2, 2));
    assert_eq!(c.sock(h_old).state(), tcp::State::Established);

    let change = relay.network_changed(&[new.ip()]);
    assert_eq!(
        change,
        PathChange {
            tcp_reset: 1,
            udp_dropped: 2,
            dns_redialled: false
        }
    );
    let seen = run(&mut relay, &mut c, &mut now);
    assert!(
        seen.iter()
            .filter_map(|p| tcp_of(p))
            .any(|t| t.1.port() == 40_700 && t.2 == TcpControl::Rst),
        "RST to the connection on the old path"
    );
    assert_eq!(c.sock(h_old).state(), tcp::State::Closed);
    assert_eq!(c.sock(h_new).state(), tcp::State::Established);
    assert_eq!(relay.live(), (1, 0), "only the new-path connection is left");
    let mem = relay.memory();
    assert_eq!(mem.tcp_sockets, 1);
    assert_eq!(mem.dns_inflight, 0);
    let stats = relay.stats();
    assert_eq!(
        (
            stats.path_changes,
            stats.path_tcp_reset,
            stats.path_udp_dropped
        ),
        (1, 1, 2)
    );

    // A new connection after the change is relayed; an empty address list
    // (nothing known about the new path) resets everything.
    let h3 = c.connect(addr("198.51.100.7:443"), 40_702);
    run(&mut relay, &mut c, &mut now);
    assert_eq!(c.sock(h3).state(), tcp::State::Established);
    assert_eq!(relay.network_changed(&[]).tcp_reset, 2);
    run(&mut relay, &mut c, &mut now);
    assert_eq!(relay.live(), (0, 0));
    assert_eq!(relay.memory().tcp_buffers, 0);
}

#[test]
fn nat64_dials_ipv4_destinations_at_their_synthesized_address() {
    let (mut relay, dialer) = relay();
    relay.set_nat64(Some(Nat64Prefix::well_known()));
    let (src, dst) = (addr("10.111.0.2:40800"), addr("198.51.100.7:443"));
    relay.on_tun_packet(T0, &raw_syn(src, dst));
    let out = relay.poll(T0);
    let synack = out.iter().find_map(|p| tcp_of(p)).expect("a TCP answer");
    assert_eq!(
        (synack.0, synack.1),
        (dst, src),
        "the device keeps its IPv4 tuple"
    );
    assert_eq!(dialer.0.borrow().tcp[0].1, addr("[64:ff9b::c633:6407]:443"));
    relay.on_tun_packet(
        T0,
        &ip::udp_packet(addr("10.111.0.2:40801"), addr("198.51.100.8:443"), b"q").unwrap(),
    );
    relay.poll(T0);
    assert_eq!(dialer.0.borrow().udp[0].1, addr("[64:ff9b::c633:6408]:443"));
    // With IPv4 back, new flows dial IPv4 again.
    relay.set_nat64(None);
    relay.on_tun_packet(T0, &raw_syn(addr("10.111.0.2:40802"), dst));
    relay.poll(T0);
    assert_eq!(dialer.0.borrow().tcp[1].1, dst);
}

#[test]
fn icmp_echo_is_answered_locally() {
    let (mut relay, _) = relay();
    // Build an echo request by hand: type 8, code 0, id 1, seq 1, payload.
    let body = [8u8, 0, 0, 0, 0, 1, 0, 1, b'h', b'i'];
    let mut icmp = body.to_vec();
    let mut pkt = Icmpv4Packet::new_unchecked(&mut icmp);
    pkt.fill_checksum();
    let ip = Ipv4Repr {
        src_addr: DEVICE_IP,
        dst_addr: Ipv4Addr::new(198, 51, 100, 1),
        next_header: IpProtocol::Icmp,
        payload_len: icmp.len(),
        hop_limit: 64,
    };
    let mut buf = vec![0; ip.buffer_len() + icmp.len()];
    let mut p = Ipv4Packet::new_unchecked(&mut buf);
    ip.emit(&mut p, &ChecksumCapabilities::default());
    p.payload_mut().copy_from_slice(&icmp);
    relay.on_tun_packet(T0, &buf);
    let out = relay.poll(T0);
    assert_eq!(out.len(), 1);
    let reply = Ipv4Packet::new_checked(&out[0][..]).unwrap();
    assert_eq!(reply.src_addr(), Ipv4Addr::new(198, 51, 100, 1));
    assert_eq!(reply.dst_addr(), DEVICE_IP);
    let echo = Icmpv4Packet::new_checked(reply.payload()).unwrap();
    assert_eq!(echo.msg_type(), Icmpv4Message::EchoReply);
    assert_eq!(relay.stats().icmp_echo_answered, 1);
}

#[test]
fn idle_relay_has_no_deadline_and_garbage_is_counted() {
    let (mut relay, _) = relay();
    assert_eq!(relay.next_deadline(T0), None);
    let mut state = 0x9e37_79b9_u32;
    for len in 0..400usize {
        let bytes: Vec<u8> = (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                match i {
                    0 => 0x45,
                    9 => [6u8, 17, 1][(state % 3) as usize],
                    _ => state as u8,
                }
            })
            .collect();
        relay.on_tun_packet(T0, &bytes);
        relay.poll(T0);
    }
    assert!(relay.stats().malformed > 0);
    assert_eq!(
        relay.live().0,
        0,
        "garbage opened no connection that lingers"
    );
}

/// A DoT/DoH server in memory: rustls on the far end of a [`MemTcp`].
#[cfg(target_os = "linux")]
mod secure {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::Arc;

    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

    /// A server config for `name` and the CA it chains to.
    fn pki(name: &str) -> (Arc<rustls::ServerConfig>, CertificateDer<'static>) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &ca, &ca_key)
            .unwrap();
        let key = PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
        .unwrap();
        (Arc::new(config), ca.der().clone())
    }

    fn secure_relay(transport: SecureTransport) -> (Relay, MemDialer, Arc<rustls::ServerConfig>) {
        let (server, ca) = pki("dns.test");
        let (mut relay, dialer) = relay();
        relay
            .set_secure_dns(SecureDnsConfig {
                transport,
                server_name: ServerName::try_from("dns.test").unwrap(),
                tls: client_config(vec![ca]).unwrap(),
            })
            .unwrap();
        (relay, dialer, server)
    }

    /// Move TLS bytes between the relay's outbound and `server`, answering
    /// each request with `respond`, until the relay emits a packet.
    fn serve_until_answer(
        relay: &mut Relay,
        dialer: &MemDialer,
        server: &mut rustls::ServerConnection,
        respond: &mut dyn FnMut(&mut Vec<u8>) -> Option<Vec<u8>>,
    ) -> Vec<Vec<u8>> {
        let (token, far) = {
            let d = dialer.0.borrow();
            (d.tcp[0].0, d.tcp[0].2.clone())
        };
        let mut plain = Vec::new();
        for round in 0..50u64 {
            let to_far = core::mem::take(&mut far.borrow_mut().to_far);
            let mut rd = &to_far[..];
            while !rd.is_empty() {
                server.read_tls(&mut rd).unwrap();
                server.process_new_packets().unwrap();
            }
            let mut chunk = [0u8; 4096];
            while let Ok(n) = server.reader().read(&mut chunk) {
                if n == 0 {
                    break;
                }
                plain.extend_from_slice(&chunk[..n]);
            }
            while let Some(reply) = respond(&mut plain) {
                server.writer().write_all(&reply).unwrap();
            }
            let mut from = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut from).unwrap();
            }
            far.borrow_mut().from_far.extend(from);
            relay.on_outbound_readable(token);
            relay.on_outbound_writable(token);
            let out = relay.poll(T0 + 1_000 * (round + 1));
            if !out.is_empty() {
                return out;
            }
        }
        panic!("no answer through the secure upstream");
    }

    #[test]
    fn network_change_redials_the_upstream_and_resends() {
        let (mut relay, dialer, _server) = secure_relay(SecureTransport::Tls);
        dialer.0.borrow_mut().local = Some(addr("192.168.1.20:40000"));
        let dns = SocketAddr::new(DNS_IP.into(), 53);
        let q = query_bytes(9, "a.example.", hickory_proto::rr::RecordType::A);
        relay.on_tun_packet(
            T0,
            &ip::udp_packet(addr("10.111.0.2:33000"), dns, &q).unwrap(),
        );
        relay.poll(T0);
        assert_eq!(dialer.0.borrow().tcp.len(), 1, "dialled on the old path");
        // The same path keeps the connection; a new one drops it.
        assert!(
            !relay
                .network_changed(&[addr("192.168.1.20:0").ip()])
                .dns_redialled
        );
        dialer.0.borrow_mut().local = Some(addr("100.64.0.9:40000"));
        assert!(
            relay
                .network_changed(&[addr("100.64.0.9:0").ip()])
                .dns_redialled
        );
        relay.poll(T0 + 1_000);
        assert_eq!(
            dialer.0.borrow().tcp.len(),
            2,
            "the query is sent again on a new connection"
        );
        assert_eq!(relay.memory().dns_inflight, 1);
        let stats = relay.stats();
        assert_eq!(
            (stats.dns_upstream_redials, stats.dns_upstream_connects),
            (1, 2)
        );
        assert_eq!(stats.dns_servfail, 0);
    }

    fn udp_answer(packet: &[u8]) -> (SocketAddr, SocketAddr, hickory_proto::op::Message) {
        let Classified::Udp { src, dst, payload } = ip::classify(packet) else {
            panic!("not udp")
        };
        (
            src,
            dst,
            hickory_proto::op::Message::from_vec(payload).unwrap(),
        )
    }

    #[test]
    fn dot_upstream_answers_with_the_device_id_and_feeds_names() {
        let (mut relay, dialer, server_config) = secure_relay(SecureTransport::Tls);
        let mut server = rustls::ServerConnection::new(server_config).unwrap();
        let client = addr("10.111.0.2:33335");
        let dns = SocketAddr::new(DNS_IP.into(), 53);
        let query = query_bytes(0x4321, "tracker.example.", hickory_proto::rr::RecordType::A);
        relay.on_tun_packet(T0, &ip::udp_packet(client, dns, &query).unwrap());
        relay.poll(T0);
        assert!(
            dialer.0.borrow().udp.is_empty(),
            "nothing in clear over UDP"
        );
        assert_eq!(dialer.0.borrow().tcp[0].1, addr(UPSTREAM));
        assert_eq!(relay.memory().dns_inflight, 1);
        let ip66 = Ipv4Addr::new(203, 0, 113, 66);
        let mut seen_ids = Vec::new();
        let out = serve_until_answer(&mut relay, &dialer, &mut server, &mut |buf| {
            let (msg, used) = crate::secure_dns::dot_unframe(buf).map(|(m, u)| (m.to_vec(), u))?;
            buf.drain(..used);
            let id = u16::from_be_bytes([msg[0], msg[1]]);
            seen_ids.push(id);
            crate::secure_dns::dot_frame(&answer_bytes(id, "tracker.example.", ip66))
        });
        assert_eq!(seen_ids.len(), 1);
        let (src, dst, msg) = udp_answer(&out[0]);
        assert_eq!((src, dst), (dns, client));
        assert_eq!(msg.metadata.id, 0x4321, "the device's ID restored");
        assert_eq!(msg.answers.len(), 1);
        let s = relay.stats();
        assert_eq!(
            (s.dns_answered, s.dns_upstream_connects, s.dns_servfail),
            (1, 1, 0)
        );
        assert_eq!(relay.memory().dns_inflight, 0);
        assert_eq!(
            relay.memory().names,
            1,
            "the answer feeds the IP-to-name cache"
        );
    }

    #[test]
    fn doh_upstream_posts_and_reads_the_body() {
        let path = "/dns-query".to_owned();
        let (mut relay, dialer, server_config) =
            secure_relay(SecureTransport::Https { path: path.clone() });
        let mut server = rustls::ServerConnection::new(server_config).unwrap();
        let client = addr("10.111.0.2:33336");
        let dns = SocketAddr::new(DNS_IP.into(), 53);
        let query = query_bytes(0x0777, "www.example.", hickory_proto::rr::RecordType::A);
        relay.on_tun_packet(T0, &ip::udp_packet(client, dns, &query).unwrap());
        relay.poll(T0);
        let mut heads = Vec::new();
        let out = serve_until_answer(&mut relay, &dialer, &mut server, &mut |buf| {
            let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
            let head = String::from_utf8(buf[..end].to_vec()).unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .unwrap()
                .parse()
                .unwrap();
            let body: Vec<u8> = buf.get(end..end + len)?.to_vec();
            buf.drain(..end + len);
            heads.push(head);
            assert_eq!(&body[..2], [0, 0], "RFC 8484 ID 0");
            let answer = answer_bytes(0, "www.example.", Ipv4Addr::new(192, 0, 2, 80));
            let mut resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/dns-message\r\nContent-Length: {}\r\n\r\n",
                answer.len()
            )
            .into_bytes();
            resp.extend_from_slice(&answer);
            Some(resp)
        });
        assert!(heads[0].starts_with("POST /dns-query HTTP/1.1\r\nHost: dns.test\r\n"));
        let (_, dst, msg) = udp_answer(&out[0]);
        assert_eq!(dst, client);
        assert_eq!(msg.metadata.id, 0x0777);
        assert_eq!(relay.stats().dns_answered, 1);
    }

    #[test]
    fn lost_upstream_and_timeouts_answer_servfail() {
        let (mut relay, dialer, _) = secure_relay(SecureTransport::Tls);
        let dns = SocketAddr::new(DNS_IP.into(), 53);
        let client = addr("10.111.0.2:33337");
        let q = query_bytes(9, "a.example.", hickory_proto::rr::RecordType::A);
        relay.on_tun_packet(T0, &ip::udp_packet(client, dns, &q).unwrap());
        relay.poll(T0);
        // The connection dies: one reconnect, which dies too, then SERVFAIL.
        let far = dialer.0.borrow().tcp[0].2.clone();
        far.borrow_mut().fail = Some(ErrorKind::ConnectionReset);
        let token = dialer.0.borrow().tcp[0].0;
        // The retry dials a new connection; make it fail at once as well.
        relay.on_outbound_readable(token);
        let out = relay.poll(T0 + 1_000);
        let out = if out.is_empty() {
            let far2 = dialer.0.borrow().tcp[1].2.clone();
            far2.borrow_mut().fail = Some(ErrorKind::ConnectionReset);
            let t2 = dialer.0.borrow().tcp[1].0;
            relay.on_outbound_readable(t2);
            relay.poll(T0 + 2_000)
        } else {
            out
        };
        let (_, dst, msg) = udp_answer(&out[0]);
        assert_eq!(dst, client);
        assert_eq!(msg.metadata.id, 9);
        assert_eq!(
            msg.metadata.response_code,
            hickory_proto::op::ResponseCode::ServFail
        );
        assert_eq!(relay.stats().dns_servfail, 1);
        assert_eq!(relay.stats().dns_upstream_failed, 2);
        assert_eq!(relay.memory().dns_inflight, 0);

        // A silent upstream: SERVFAIL at the deadline, and the cap holds.
        for port in 0..12u16 {
            let c = SocketAddr::new(DEVICE_IP.into(), 21_000 + port);
            let q = query_bytes(port, "b.example.", hickory_proto::rr::RecordType::A);
            relay.on_tun_packet(T0 + 3_000, &ip::udp_packet(c, dns, &q).unwrap());
        }
        assert!(relay.poll(T0 + 3_000).is_empty());
        assert_eq!(relay.memory().dns_inflight, 8);
        assert_eq!(relay.stats().dns_refused_cap, 4);
        assert!(
            relay.next_deadline(T0 + 3_000).is_some(),
            "a timer for the deadline"
        );
        let out = relay.poll(T0 + 3_000_000);
        assert_eq!(out.len(), 8);
        assert!(
            out.iter().all(|p| udp_answer(p).2.metadata.response_code
                == hickory_proto::op::ResponseCode::ServFail)
        );
        assert_eq!(relay.stats().dns_timeouts, 8);
        assert_eq!(relay.memory().dns_inflight, 0);
    }

    #[test]
    fn tcp_dns_is_refused_not_sent_in_clear() {
        let (mut relay, dialer, _) = secure_relay(SecureTransport::Tls);
        relay.on_tun_packet(
            T0,
            &raw_syn(addr("10.111.0.2:40501"), SocketAddr::new(DNS_IP.into(), 53)),
        );
        let out = relay.poll(T0);
        assert!(dialer.0.borrow().tcp.is_empty());
        assert!(
            out.iter()
                .any(|p| matches!(tcp_of(p), Some((_, _, TcpControl::Rst, _, _))))
        );
    }
}
