//! Relay mode's DNS through the exported API against the project's test server
//! (`nightjar-testserver serve --any-ports` on 127.0.0.1, built on first use): encrypted
//! upstreams (DoT, DoH) with the platform verifier plus the server's throwaway CA, SERVFAIL
//! when the upstream fails, and a blocked name asked over TCP answered by the policy with the
//! alert saying how.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use nightjar_synth::packet::{TcpFlags, TcpSegment, ipv4_tcp, ipv4_udp};
use nightjar_wire::{Transport, parse_ip, parse_transport};

use crate::records::*;
use crate::{EngineSettings, Mode, NightjarEngine, default_memory_caps, default_relay_settings};

const DEVICE: Ipv4Addr = Ipv4Addr::new(10, 111, 0, 2);
const DNS: Ipv4Addr = Ipv4Addr::new(10, 111, 0, 53);
/// The test server's DoT and DoH answers for names it was not told (see its docs).
const DOT_ANSWER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 85);
const DOH_ANSWER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 43);
/// Longest any step waits (a liveness bound, not a timing assertion).
const PATIENCE: Duration = Duration::from_secs(20);

/// A running test server; killed on drop.
struct TestServer {
    child: Child,
    ports: Vec<(String, u16)>,
    ca_pem: String,
    _dir: tempfile::TempDir,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestServer {
    fn port(&self, name: &str) -> u16 {
        self.ports
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| *p)
            .unwrap()
    }
}

/// The test server binary next to this test's profile directory, built if missing.
fn testserver_binary() -> PathBuf {
    static BUILT: Mutex<()> = Mutex::new(());
    let _once = BUILT.lock().unwrap();
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> -> target/<profile>
    let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf();
    let bin = profile_dir.join("nightjar-testserver");
    if !bin.exists() {
        let target = profile_dir.parent().unwrap();
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "-p",
                "nightjar-relay",
                "--bin",
                "nightjar-testserver",
            ])
            .env("CARGO_TARGET_DIR", target)
            .status()
            .unwrap();
        assert!(status.success(), "building nightjar-testserver");
    }
    bin
}

fn start_testserver() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let mut child = Command::new(testserver_binary())
        .args(["serve", "--bind", "127.0.0.1", "--any-ports"])
        .args(["--tls-name", "dns.test", "--name", "named.test=192.0.2.77"])
        .arg("--ca-out")
        .arg(&ca)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ports = line
        .split_whitespace()
        .skip(1)
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.parse().unwrap()))
        .collect();
    assert!(line.starts_with("ready "), "{line:?}");
    TestServer {
        child,
        ports,
        ca_pem: std::fs::read_to_string(&ca).unwrap(),
        _dir: dir,
    }
}

fn engine(
    upstream: String,
    ca_pem: Option<String>,
    db: Option<&std::path::Path>,
) -> Arc<NightjarEngine> {
    let mut r = default_relay_settings();
    r.dns_address = Some(DNS.to_string());
    r.dns_upstream = Some(upstream);
    r.dns_extra_roots_pem = ca_pem;
    NightjarEngine::new(EngineSettings {
        db_path: db.map(|p| p.display().to_string()),
        intel_index_path: None,
        mode: Mode::Relay,
        caps: default_memory_caps(),
        hash_seed: 7,
        relay: Some(r),
        block_at: None,
    })
    .unwrap()
}

fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Message::new(id, MessageType::Query, OpCode::Query);
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    q.to_vec().unwrap()
}

/// Sends a UDP query from the device and waits for the relay's answer to it.
fn ask_udp(e: &NightjarEngine, port: u16, name: &str) -> Message {
    let q = query(port, name);
    let bytes = ipv4_udp(DEVICE, DNS, port, 53, &q).unwrap();
    let mut out = e
        .ingest(vec![Packet {
            bytes,
            outbound: true,
            ts_us: 0,
        }])
        .unwrap()
        .to_tunnel;
    let start = Instant::now();
    loop {
        for p in &out {
            let ip = parse_ip(p).unwrap();
            if let Ok(Transport::Udp {
                dst_port, payload, ..
            }) = parse_transport(ip.protocol, ip.payload)
                && dst_port == port
                && ip.src == IpAddr::V4(DNS)
            {
                return Message::from_vec(payload).unwrap();
            }
        }
        assert!(start.elapsed() < PATIENCE, "no answer for {name}");
        std::thread::sleep(Duration::from_millis(10));
        out = e.poll(0).unwrap();
    }
}

fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

#[test]
fn dot_and_doh_upstreams_resolve_through_the_platform_verifier() {
    let server = start_testserver();
    for (upstream, want) in [
        (
            format!("tls://127.0.0.1:{}#dns.test", server.port("dot")),
            DOT_ANSWER,
        ),
        (
            format!(
                "https://127.0.0.1:{}/dns-query#dns.test",
                server.port("doh")
            ),
            DOH_ANSWER,
        ),
    ] {
        let e = engine(upstream.clone(), Some(server.ca_pem.clone()), None);
        let m = ask_udp(&e, 33_001, "www.example.");
        assert_eq!(m.metadata.id, 33_001);
        assert_eq!(
            m.metadata.response_code,
            ResponseCode::NoError,
            "{upstream}"
        );
        assert_eq!(a_records(&m), vec![want], "{upstream} answered");
        let m = ask_udp(&e, 33_002, "named.test.");
        assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 77)]);
        let relay = e.stats().unwrap().relay.unwrap();
        assert_eq!(
            relay.dns_upstream_connects, 1,
            "{upstream}: one kept connection"
        );
        assert_eq!(relay.dns_servfail, 0);
        e.shutdown().unwrap();
    }
}

#[test]
fn a_failed_upstream_answers_servfail() {
    let server = start_testserver();
    // Nobody listening; a certificate for another name; a CA the platform does not trust.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for (upstream, ca) in [
        (
            format!("tls://127.0.0.1:{closed}#dns.test"),
            Some(server.ca_pem.clone()),
        ),
        (
            format!("tls://127.0.0.1:{}#other.test", server.port("dot")),
            Some(server.ca_pem.clone()),
        ),
        (
            format!("https://127.0.0.1:{}#dns.test", server.port("doh")),
            None,
        ),
    ] {
        let e = engine(upstream.clone(), ca, None);
        let m = ask_udp(&e, 33_010, "www.example.");
        assert_eq!(m.metadata.id, 33_010);
        assert_eq!(
            m.metadata.response_code,
            ResponseCode::ServFail,
            "{upstream}"
        );
        assert!(a_records(&m).is_empty());
        let relay = e.stats().unwrap().relay.unwrap();
        assert_eq!(relay.dns_servfail, 1, "{upstream}");
        assert!(relay.dns_upstream_failed >= 1, "{upstream}");
        e.shutdown().unwrap();
    }
}

/// The device's end of one TCP connection to the tunnel's resolver.
struct TcpDevice {
    port: u16,
    seq: u32,
    ack: u32,
    received: Vec<u8>,
}

impl TcpDevice {
    fn packet(&mut self, flags: TcpFlags, payload: &[u8]) -> Packet {
        let mut s = TcpSegment::new(self.port, 53, flags, self.seq, self.ack);
        s.payload = payload;
        if flags == TcpFlags::Syn {
            s.mss = Some(1460);
        }
        self.seq = self
            .seq
            .wrapping_add(flags.seq_len())
            .wrapping_add(payload.len() as u32);
        Packet {
            bytes: ipv4_tcp(DEVICE, DNS, &s).unwrap(),
            outbound: true,
            ts_us: 0,
        }
    }

    /// Takes the relay's segments for this connection; true once a SYN-ACK was seen.
    fn take(&mut self, packets: &[Vec<u8>]) -> bool {
        let mut synack = false;
        for p in packets {
            let ip = parse_ip(p).unwrap();
            let Ok(Transport::Tcp(t)) = parse_transport(ip.protocol, ip.payload) else {
                continue;
            };
            if t.dst_port != self.port {
                continue;
            }
            if t.flags.syn() && t.flags.ack() {
                self.ack = t.seq.wrapping_add(1);
                synack = true;
            } else if t.seq == self.ack && !t.payload.is_empty() {
                self.received.extend_from_slice(t.payload);
                self.ack = self.ack.wrapping_add(t.payload.len() as u32);
            }
        }
        synack
    }
}

#[test]
fn a_blocked_name_asked_over_tcp_gets_nxdomain_and_the_alert_says_how() {
    let server = start_testserver();
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("domains.txt");
    std::fs::write(&feed, "0.0.0.0 blocked.example\n").unwrap();
    let index = dir.path().join("intel.idx");
    crate::compile_feeds(
        vec![format!("lab={}", feed.display())],
        vec![],
        index.display().to_string(),
    )
    .unwrap();
    let db = dir.path().join("relay.db");
    let mut r = default_relay_settings();
    r.dns_address = Some(DNS.to_string());
    r.dns_upstream = Some(format!("127.0.0.1:{}", server.port("dns")));
    let e = NightjarEngine::new(EngineSettings {
        db_path: Some(db.display().to_string()),
        intel_index_path: Some(index.display().to_string()),
        mode: Mode::Relay,
        caps: default_memory_caps(),
        hash_seed: 7,
        relay: Some(r),
        block_at: Some(AlertSeverity::Low),
    })
    .unwrap();
    let mut dev = TcpDevice {
        port: 41_000,
        seq: 0x2000_0000,
        ack: 0,
        received: Vec::new(),
    };
    let syn = dev.packet(TcpFlags::Syn, &[]);
    let mut got_synack = dev.take(&e.ingest(vec![syn]).unwrap().to_tunnel);
    let start = Instant::now();
    while !got_synack {
        assert!(start.elapsed() < PATIENCE, "no SYN-ACK");
        std::thread::sleep(Duration::from_millis(10));
        got_synack = dev.take(&e.poll(0).unwrap());
    }
    // One allowed and one blocked query in one segment.
    let mut stream = Vec::new();
    for q in [query(1, "named.test."), query(2, "ads.blocked.example.")] {
        stream.extend_from_slice(&(q.len() as u16).to_be_bytes());
        stream.extend_from_slice(&q);
    }
    let ack = dev.packet(TcpFlags::Ack, &[]);
    let data = dev.packet(TcpFlags::PshAck, &stream);
    dev.take(&e.ingest(vec![ack, data]).unwrap().to_tunnel);
    let mut answers = Vec::new();
    let start = Instant::now();
    while answers.len() < 2 {
        assert!(start.elapsed() < PATIENCE, "answers so far: {answers:?}");
        // Whole frames off the front of what arrived.
        while let Some(&[hi, lo]) = dev.received.get(..2) {
            let len = usize::from(u16::from_be_bytes([hi, lo]));
            let Some(m) = dev.received.get(2..2 + len) else {
                break;
            };
            answers.push(Message::from_vec(m).unwrap());
            dev.received.drain(..2 + len);
        }
        if answers.len() < 2 {
            std::thread::sleep(Duration::from_millis(10));
            let out = e.poll(0).unwrap();
            dev.take(&out);
            let ack = dev.packet(TcpFlags::Ack, &[]);
            dev.take(&e.ingest(vec![ack]).unwrap().to_tunnel);
        }
    }
    let by_id = |id: u16| answers.iter().find(|m| m.metadata.id == id).unwrap();
    assert_eq!(by_id(1).metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(by_id(1)), vec![Ipv4Addr::new(192, 0, 2, 77)]);
    assert_eq!(by_id(2).metadata.response_code, ResponseCode::NXDomain);
    let relay = e.stats().unwrap().relay.unwrap();
    assert_eq!(relay.dns_nxdomain, 1);
    assert_eq!(relay.dns_forwarded, 1);
    e.shutdown().unwrap();

    let reader = NightjarEngine::new(EngineSettings {
        db_path: Some(db.display().to_string()),
        intel_index_path: None,
        mode: Mode::Monitor,
        caps: default_memory_caps(),
        hash_seed: 7,
        relay: None,
        block_at: None,
    })
    .unwrap();
    let alerts = reader
        .query_alerts(QueryFilter::default(), None, 10)
        .unwrap()
        .items;
    reader.shutdown().unwrap();
    let alert = alerts
        .iter()
        .find(|a| a.domain.iter().any(|d| d.contains("blocked.example")))
        .unwrap_or_else(|| panic!("an alert about the blocked name in {alerts:?}"));
    assert_eq!(alert.action, AlertAction::Block);
    assert_eq!(alert.enforcement, Some(AlertEnforcement::DnsNxdomain));
}
