//! Relay mode through the exported API, on the host without root: the test plays the device
//! (TCP segments built with `nightjar-synth`, replies read with `nightjar-wire`) and a
//! `TcpListener` on 127.0.0.1 plays the network; the relay's real sockets connect to it.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nightjar_synth::packet::{TcpFlags, TcpSegment, ipv4_tcp};
use nightjar_wire::{Transport, parse_ip, parse_transport};

use crate::callbacks::{SocketProtector, TunnelWriter};
use crate::records::*;
use crate::{
    EngineSettings, Mode, NightjarEngine, NightjarError, default_memory_caps,
    default_relay_settings,
};

const DEVICE: Ipv4Addr = Ipv4Addr::new(10, 111, 0, 2);
/// Longest any step waits for the other side (a liveness bound, not a timing assertion).
const PATIENCE: Duration = Duration::from_secs(20);

fn relay_settings(db: Option<&std::path::Path>) -> EngineSettings {
    EngineSettings {
        db_path: db.map(|p| p.display().to_string()),
        intel_index_path: None,
        mode: Mode::Relay,
        caps: default_memory_caps(),
        hash_seed: 0x5eed,
        relay: Some(default_relay_settings()),
        block_at: None,
    }
}

/// A monitor-mode engine on the database a relay-mode engine wrote, to read back what it stored.
fn monitor_reader(db: &std::path::Path) -> Arc<NightjarEngine> {
    NightjarEngine::new(EngineSettings {
        mode: Mode::Monitor,
        ..relay_settings(Some(db))
    })
    .unwrap()
}

/// A TCP segment as the device saw it.
#[derive(Debug, Clone)]
struct Seg {
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    syn: bool,
    ack_set: bool,
    fin: bool,
    rst: bool,
    payload: Vec<u8>,
}

fn seg_of(bytes: &[u8]) -> Option<Seg> {
    let ip = parse_ip(bytes).ok()?;
    let Ok(Transport::Tcp(t)) = parse_transport(ip.protocol, ip.payload) else {
        return None;
    };
    Some(Seg {
        src: SocketAddr::new(ip.src, t.src_port),
        dst: SocketAddr::new(ip.dst, t.dst_port),
        seq: t.seq,
        ack: t.ack,
        syn: t.flags.syn(),
        ack_set: t.flags.ack(),
        fin: t.flags.fin(),
        rst: t.flags.rst(),
        payload: t.payload.to_vec(),
    })
}

/// The device's end of one connection.
struct Device {
    port: u16,
    dst: SocketAddr,
    /// Next sequence number to send.
    seq: u32,
    /// Next sequence number expected from the relay.
    ack: u32,
    /// Bytes the relay sent the device, in order.
    received: Vec<u8>,
}

impl Device {
    fn new(port: u16, dst: SocketAddr) -> Self {
        Device {
            port,
            dst,
            seq: 0x1000_0000,
            ack: 0,
            received: Vec::new(),
        }
    }

    fn packet(&mut self, flags: TcpFlags, payload: &[u8]) -> Packet {
        let SocketAddr::V4(dst) = self.dst else {
            unreachable!("IPv4 only")
        };
        let mut s = TcpSegment::new(self.port, dst.port(), flags, self.seq, self.ack);
        s.payload = payload;
        if flags == TcpFlags::Syn {
            s.mss = Some(1460);
        }
        self.seq = self
            .seq
            .wrapping_add(flags.seq_len())
            .wrapping_add(payload.len() as u32);
        Packet {
            bytes: ipv4_tcp(DEVICE, *dst.ip(), &s).unwrap(),
            outbound: true,
            ts_us: 0,
        }
    }

    /// Takes the relay's segments for this connection (others are ignored), keeping in-order
    /// data; returns them.
    fn take(&mut self, packets: &[Vec<u8>]) -> Vec<Seg> {
        let mine: Vec<Seg> = packets
            .iter()
            .filter_map(|p| seg_of(p))
            .filter(|s| s.dst.port() == self.port && s.src == self.dst)
            .collect();
        for s in &mine {
            if s.syn && s.ack_set {
                self.ack = s.seq.wrapping_add(1);
            } else if s.seq == self.ack && !s.payload.is_empty() {
                self.received.extend_from_slice(&s.payload);
                self.ack = self.ack.wrapping_add(s.payload.len() as u32);
            }
            if s.fin {
                self.ack = self.ack.wrapping_add(1);
            }
        }
        mine
    }
}

/// Records every protect call: the fd, what /proc says it is, and the calling thread.
struct Protector {
    allow: bool,
    calls: Mutex<Vec<(i32, String, String)>>,
}

impl Protector {
    fn new(allow: bool) -> Arc<Self> {
        Arc::new(Protector {
            allow,
            calls: Mutex::new(Vec::new()),
        })
    }
}

impl SocketProtector for Protector {
    fn protect(&self, fd: i32) -> bool {
        let what = std::fs::read_link(format!("/proc/self/fd/{fd}"))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let thread = std::thread::current().name().unwrap_or("").to_owned();
        self.calls.lock().unwrap().push((fd, what, thread));
        self.allow
    }
}

/// Sends each batch, with the calling thread's name, to the test.
struct Writer(Mutex<Sender<(String, Vec<Vec<u8>>)>>);

impl TunnelWriter for Writer {
    fn write_packets(&self, packets: Vec<Vec<u8>>) {
        let thread = std::thread::current().name().unwrap_or("").to_owned();
        let _ = self.0.lock().unwrap().send((thread, packets));
    }
}

/// A far side that reads `expect` bytes, reports them, answers `reply` once the test says go
/// (so the answer reaches the relay while no `ingest` runs) and waits for EOF.
fn far_side(expect: usize, reply: &'static [u8]) -> (SocketAddr, Receiver<Vec<u8>>, Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = channel();
    let (go_tx, go_rx) = channel();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut got = vec![0; expect];
        s.read_exact(&mut got).unwrap();
        tx.send(got).unwrap();
        if go_rx.recv_timeout(PATIENCE).is_err() {
            return;
        }
        s.write_all(reply).unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        let _ = tx.send(rest);
    });
    (addr, rx, go_tx)
}

/// Ingests `packets` and gives the device what came back in `to_tunnel`.
fn send(e: &NightjarEngine, dev: &mut Device, packets: Vec<Packet>) -> (Vec<Verdict>, Vec<Seg>) {
    let r = e.ingest(packets).unwrap();
    let segs = dev.take(&r.to_tunnel);
    (r.verdicts, segs)
}

#[test]
fn a_tcp_exchange_is_relayed_to_a_local_listener_and_recorded() {
    const UP: &[u8] = b"hello from the device";
    const DOWN: &[u8] = b"reply from the far side";
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let (far, far_rx, go) = far_side(UP.len(), DOWN);
    let e = NightjarEngine::new(relay_settings(Some(&db))).unwrap();
    let protector = Protector::new(true);
    e.set_socket_protector(Some(protector.clone())).unwrap();
    let (wtx, wrx) = channel();
    e.set_tunnel_writer(Some(Arc::new(Writer(Mutex::new(wtx)))))
        .unwrap();
    let mut dev = Device::new(40_001, far);

    // SYN: the relay answers it once its outbound connect completes: usually within the
    // call, on a loaded machine later, through the writer on the relay thread.
    let syn = dev.packet(TcpFlags::Syn, &[]);
    let (verdicts, mut segs) = send(&e, &mut dev, vec![syn]);
    assert_eq!(verdicts.len(), 1);
    assert!(verdicts[0].is_new && verdicts[0].flow_id.is_some());
    assert_eq!(verdicts[0].action, Action::Pass);
    let start = Instant::now();
    while !segs.iter().any(|s| s.syn && s.ack_set) && start.elapsed() < PATIENCE {
        if let Ok((_, packets)) = wrx.recv_timeout(Duration::from_millis(100)) {
            segs.extend(dev.take(&packets));
        }
    }
    let synack = segs.iter().find(|s| s.syn && s.ack_set).expect("SYN-ACK");
    assert_eq!(synack.ack, 0x1000_0001, "acknowledges the device's SYN");
    {
        let calls = protector.calls.lock().unwrap();
        assert_eq!(calls.len(), 1, "one socket, protected once");
        let (fd, what, thread) = &calls[0];
        assert!(*fd > 2, "{fd}");
        assert!(what.starts_with("socket:"), "fd {fd} is {what:?}");
        assert_eq!(
            thread.as_str(),
            std::thread::current().name().unwrap(),
            "on the ingesting thread"
        );
    }

    // ACK and data: the far side gets the bytes.
    let ack = dev.packet(TcpFlags::Ack, &[]);
    let data = dev.packet(TcpFlags::PshAck, UP);
    let (verdicts, _) = send(&e, &mut dev, vec![ack, data]);
    assert!(verdicts.iter().all(|v| !v.is_new && v.flow_id.is_some()));
    assert_eq!(far_rx.recv_timeout(PATIENCE).unwrap(), UP);

    // The reply comes back through the writer, on the relay thread.
    go.send(()).unwrap();
    let start = Instant::now();
    while dev.received.len() < DOWN.len() {
        assert!(
            start.elapsed() < PATIENCE,
            "no reply; got {:?}",
            dev.received
        );
        if let Ok((thread, packets)) = wrx.recv_timeout(Duration::from_millis(200)) {
            assert_eq!(thread, "nightjar-relay");
            dev.take(&packets);
        }
    }
    assert_eq!(dev.received, DOWN);

    // The device acknowledges and closes; the far side sees EOF.
    let ack = dev.packet(TcpFlags::Ack, &[]);
    let fin = dev.packet(TcpFlags::FinAck, &[]);
    send(&e, &mut dev, vec![ack, fin]);
    assert_eq!(
        far_rx.recv_timeout(PATIENCE).unwrap(),
        b"",
        "EOF after the FIN"
    );

    let stats = e.stats().unwrap();
    let relay = stats.relay.expect("relay counters in relay mode");
    assert_eq!(relay.tcp_accepted, 1);
    assert_eq!(relay.tcp_bytes_up, UP.len() as u64);
    assert_eq!(relay.tcp_bytes_down, DOWN.len() as u64);
    assert_eq!(relay.protect_calls, 1);
    assert_eq!(relay.tun_packets_in, 5);
    assert!(relay.writer_packets >= 1);
    assert_eq!(relay.tunnel_queue_dropped, 0);
    // The engine inside the relay saw both directions.
    assert_eq!(stats.packets, relay.tun_packets_in + relay.tun_packets_out);
    let mem = e
        .memory()
        .unwrap()
        .relay
        .expect("relay memory in relay mode");
    assert!(mem.tcp_connections <= mem.tcp_connections_cap);
    assert_eq!(mem.tunnel_queue_cap, crate::TUNNEL_QUEUE as u64);

    // Recorded like a monitored flow once the engine shuts down.
    e.shutdown().unwrap();
    let reader = monitor_reader(&db);
    let flows = reader
        .query_flows(QueryFilter::default(), None, 10)
        .unwrap()
        .items;
    let flow = flows
        .iter()
        .find(|f| f.resp_port == far.port())
        .expect("the relayed flow is stored");
    assert_eq!(flow.proto, 6);
    assert_eq!(flow.orig_ip, DEVICE.to_string());
    assert_eq!(flow.orig_port, 40_001);
    assert_eq!(flow.resp_ip, "127.0.0.1");
    assert!(flow.orig_pkts >= 5 && flow.resp_pkts >= 2, "{flow:?}");
    reader.shutdown().unwrap();
}

#[test]
fn a_refused_protect_resets_the_flow() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let far = listener.local_addr().unwrap();
    let e = NightjarEngine::new(relay_settings(None)).unwrap();
    let protector = Protector::new(false);
    e.set_socket_protector(Some(protector.clone())).unwrap();
    let mut dev = Device::new(40_002, far);
    let syn = dev.packet(TcpFlags::Syn, &[]);
    let (_, segs) = send(&e, &mut dev, vec![syn]);
    let rst = segs
        .iter()
        .find(|s| s.rst)
        .expect("RST for the refused flow");
    assert_eq!(rst.ack, 0x1000_0001);
    assert!(!segs.iter().any(|s| s.syn), "no SYN-ACK");
    assert_eq!(protector.calls.lock().unwrap().len(), 1);
    let relay = e.stats().unwrap().relay.unwrap();
    assert_eq!(relay.protect_refused, 1);
    assert_eq!(relay.tcp_dial_failed, 1);
    assert_eq!(relay.tcp_accepted, 0);
    assert!(
        matches!(listener.accept(), Err(err) if err.kind() == std::io::ErrorKind::WouldBlock),
        "the refused socket never connected"
    );
    e.shutdown().unwrap();
}

/// A protector that throws (here: panics) refuses the socket without poisoning the engine.
struct Throws;
impl SocketProtector for Throws {
    fn protect(&self, _: i32) -> bool {
        panic!("protector bug")
    }
}

#[test]
fn without_a_writer_packets_wait_for_poll_and_a_failed_protector_refuses() {
    const UP: &[u8] = b"ping";
    const DOWN: &[u8] = b"pong, queued";
    let (far, far_rx, go) = far_side(UP.len(), DOWN);
    let e = NightjarEngine::new(relay_settings(None)).unwrap();
    let mut dev = Device::new(40_003, far);
    let syn = dev.packet(TcpFlags::Syn, &[]);
    let (_, segs) = send(&e, &mut dev, vec![syn]);
    assert!(segs.iter().any(|s| s.syn && s.ack_set));
    let ack = dev.packet(TcpFlags::Ack, &[]);
    let data = dev.packet(TcpFlags::PshAck, UP);
    send(&e, &mut dev, vec![ack, data]);
    assert_eq!(far_rx.recv_timeout(PATIENCE).unwrap(), UP);
    go.send(()).unwrap();
    let start = Instant::now();
    while dev.received.len() < DOWN.len() {
        assert!(
            start.elapsed() < PATIENCE,
            "no reply; got {:?}",
            dev.received
        );
        std::thread::sleep(Duration::from_millis(20));
        let out = e.poll(0).unwrap();
        dev.take(&out);
    }
    assert_eq!(dev.received, DOWN);
    let relay = e.stats().unwrap().relay.unwrap();
    assert_eq!(relay.writer_packets, 0);
    assert_eq!(relay.tunnel_queue_dropped, 0);

    // A protector that throws refuses the next socket; the engine stays usable.
    e.set_socket_protector(Some(Arc::new(Throws))).unwrap();
    let mut dev2 = Device::new(40_004, far);
    let syn = dev2.packet(TcpFlags::Syn, &[]);
    let (_, segs) = send(&e, &mut dev2, vec![syn]);
    assert!(segs.iter().any(|s| s.rst));
    assert!(e.is_usable());
    assert_eq!(e.stats().unwrap().relay.unwrap().protect_failures, 1);
    // Dropped without shutdown: the relay thread is stopped by the handle's drop.
    drop(e);
}

#[test]
fn relay_mode_ignores_network_side_packets_and_monitor_mode_has_no_relay_calls() {
    let e = NightjarEngine::new(relay_settings(None)).unwrap();
    let mut dev = Device::new(40_005, "192.0.2.9:443".parse().unwrap());
    let mut p = dev.packet(TcpFlags::Syn, &[]);
    p.outbound = false;
    let r = e.ingest(vec![p]).unwrap();
    assert_eq!(r.verdicts.len(), 1);
    assert_eq!(r.verdicts[0].flow_id, None);
    assert!(r.to_tunnel.is_empty());
    let s = e.stats().unwrap();
    assert_eq!(s.relay.unwrap().inbound_ignored, 1);
    assert_eq!(s.packets, 0, "not observed either");
    e.shutdown().unwrap();

    let m = NightjarEngine::new(EngineSettings {
        mode: Mode::Monitor,
        ..relay_settings(None)
    })
    .unwrap();
    assert!(matches!(
        m.set_socket_protector(Some(Protector::new(true))),
        Err(NightjarError::InvalidArgument { .. })
    ));
    assert!(m.stats().unwrap().relay.is_none());
    assert!(m.memory().unwrap().relay.is_none());
    assert!(m.poll(1).unwrap().is_empty());
}

#[test]
fn bad_relay_settings_are_refused_by_new() {
    let mut s = relay_settings(None);
    let mut r = default_relay_settings();
    r.mtu = 100;
    s.relay = Some(r);
    assert!(matches!(
        NightjarEngine::new(s),
        Err(NightjarError::InvalidConfig { .. })
    ));
    let mut s = relay_settings(None);
    let mut r = default_relay_settings();
    r.dns_address = Some("10.111.0.53".into());
    r.dns_upstream = Some("https://192.0.2.1/dns-query".into());
    s.relay = Some(r);
    assert!(matches!(
        NightjarEngine::new(s),
        Err(NightjarError::InvalidConfig { .. })
    ));
}

/// Relay mode with an intel feed listing `127.0.0.1`; a SYN from the device to a local listener.
/// Returns what came back to the device, whether the listener saw a connection, and the alert
/// about the address as stored.
fn syn_to_a_listed_address(block_at: Option<AlertSeverity>) -> (Vec<Seg>, bool, Alert) {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("ips.txt");
    std::fs::write(&feed, "127.0.0.1\n").unwrap();
    let index = dir.path().join("intel.idx");
    crate::compile_feeds(
        vec![format!("lab={}", feed.display())],
        vec![],
        index.display().to_string(),
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let far = listener.local_addr().unwrap();
    let db = dir.path().join("relay.db");
    let e = NightjarEngine::new(EngineSettings {
        intel_index_path: Some(index.display().to_string()),
        block_at,
        ..relay_settings(Some(&db))
    })
    .unwrap();
    e.set_socket_protector(Some(Protector::new(true))).unwrap();
    let mut dev = Device::new(40_010, far);
    let syn = dev.packet(TcpFlags::Syn, &[]);
    let (_, mut segs) = send(&e, &mut dev, vec![syn]);
    // The answer (SYN-ACK once the outbound connect completes, or RST) may come after the call.
    let start = Instant::now();
    while !segs.iter().any(|s| s.rst || s.syn) && start.elapsed() < PATIENCE {
        std::thread::sleep(Duration::from_millis(10));
        segs.extend(dev.take(&e.poll(0).unwrap()));
    }
    // A dialled connection reaches the listener's backlog within the liveness bound.
    let start = Instant::now();
    let connected = loop {
        match listener.accept() {
            Ok(_) => break true,
            Err(_) if block_at.is_some() || start.elapsed() > PATIENCE => break false,
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    e.shutdown().unwrap();
    let reader = monitor_reader(&db);
    let alerts = reader
        .query_alerts(QueryFilter::default(), None, 10)
        .unwrap()
        .items;
    reader.shutdown().unwrap();
    let alert = alerts
        .into_iter()
        .find(|a| a.ips.iter().any(|ip| ip == "127.0.0.1"))
        .expect("an intel alert about the listed address");
    (segs, connected, alert)
}

#[test]
fn block_at_refuses_a_listed_address_and_the_alert_says_how() {
    let (segs, connected, alert) = syn_to_a_listed_address(Some(AlertSeverity::Low));
    assert!(segs.iter().any(|s| s.rst), "RST for the blocked flow");
    assert!(!segs.iter().any(|s| s.syn), "no SYN-ACK");
    assert!(!connected, "a blocked flow is never dialled");
    assert_eq!(alert.action, AlertAction::Block);
    assert_eq!(alert.enforcement, Some(AlertEnforcement::TcpReset));
    assert!(
        alert.provenance_json.contains("lab"),
        "{}",
        alert.provenance_json
    );
}

#[test]
fn without_block_at_a_listed_address_is_relayed_and_only_alerted() {
    let (segs, connected, alert) = syn_to_a_listed_address(None);
    assert!(segs.iter().any(|s| s.syn && s.ack_set), "SYN-ACK: relayed");
    assert!(connected, "the far side saw the connection");
    assert_ne!(alert.action, AlertAction::Block);
    assert_eq!(alert.enforcement, None);
}

#[test]
fn network_changed_resets_connections_on_the_old_path() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let far = listener.local_addr().unwrap();
    let e = NightjarEngine::new(relay_settings(None)).unwrap();
    let mut dev = Device::new(40_020, far);
    let syn = dev.packet(TcpFlags::Syn, &[]);
    let (_, mut segs) = send(&e, &mut dev, vec![syn]);
    let start = Instant::now();
    while !segs.iter().any(|s| s.syn && s.ack_set) && start.elapsed() < PATIENCE {
        std::thread::sleep(Duration::from_millis(10));
        segs.extend(dev.take(&e.poll(0).unwrap()));
    }
    let ack = dev.packet(TcpFlags::Ack, &[]);
    send(&e, &mut dev, vec![ack]);
    // The relay's socket is bound to 127.0.0.1: a path with that address keeps it.
    let kept = e.network_changed(vec!["127.0.0.1".into()]).unwrap();
    assert_eq!(kept.tcp_reset, 0);
    let moved = e
        .network_changed(vec!["192.0.2.99".into(), "2001:db8::99".into()])
        .unwrap();
    assert_eq!(moved.tcp_reset, 1);
    let mut segs = Vec::new();
    let start = Instant::now();
    while !segs.iter().any(|s: &Seg| s.rst) && start.elapsed() < PATIENCE {
        segs.extend(dev.take(&e.poll(0).unwrap()));
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(segs.iter().any(|s| s.rst), "RST to the device");
    let relay = e.stats().unwrap().relay.unwrap();
    assert_eq!((relay.path_changes, relay.path_tcp_reset), (2, 1));
    let start = Instant::now();
    while e.memory().unwrap().relay.unwrap().tcp_connections > 0 {
        assert!(
            start.elapsed() < PATIENCE,
            "the reset connection is removed"
        );
        e.poll(0).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(matches!(
        e.network_changed(vec!["not an address".into()]),
        Err(NightjarError::InvalidArgument { .. })
    ));
    e.set_nat64_prefix(Some("64:ff9b::/96".into())).unwrap();
    e.set_nat64_prefix(None).unwrap();
    assert!(matches!(
        e.set_nat64_prefix(Some("64:ff9b::/80".into())),
        Err(NightjarError::InvalidArgument { .. })
    ));
    e.shutdown().unwrap();
    let m = NightjarEngine::new(EngineSettings {
        mode: Mode::Monitor,
        ..relay_settings(None)
    })
    .unwrap();
    assert!(matches!(
        m.network_changed(vec![]),
        Err(NightjarError::InvalidArgument { .. })
    ));
    assert!(matches!(
        m.set_nat64_prefix(None),
        Err(NightjarError::InvalidArgument { .. })
    ));
}
