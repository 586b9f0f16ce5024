//! The rows the store keeps. These are the store's own types: the engine's
//! records are still evolving, so the glue layer converts into these.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

/// One finished (or periodically re-emitted) flow, conn.log-like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowRow {
    /// Engine flow id; the primary key. A re-emitted flow with the same id
    /// replaces the earlier row, so ids must be unique across restarts.
    pub id: u64,
    /// Zeek-style unique id string.
    pub uid: String,
    /// OS user id of the owning app, if attributed.
    pub app_uid: Option<u32>,
    /// Package / bundle name of the owning app, if known.
    pub app_name: Option<String>,
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
    pub proto: u8,
    /// Originator address.
    pub orig_h: IpAddr,
    /// Originator port.
    pub orig_p: u16,
    /// Responder address.
    pub resp_h: IpAddr,
    /// Responder port.
    pub resp_p: u16,
    /// First packet, microseconds since the Unix epoch.
    pub first_us: u64,
    /// Last packet, microseconds since the Unix epoch.
    pub last_us: u64,
    /// Packets from the originator.
    pub orig_pkts: u64,
    /// Packets from the responder.
    pub resp_pkts: u64,
    /// IP-level bytes from the originator.
    pub orig_ip_bytes: u64,
    /// IP-level bytes from the responder.
    pub resp_ip_bytes: u64,
    /// Zeek conn_state (S0, SF, REJ, ...).
    pub conn_state: String,
    /// Community ID flow hash (`1:...`).
    pub community_id: Option<String>,
    /// Best name for the responder.
    pub name: Option<String>,
    /// Where `name` came from: `sni`, `quic_sni`, `http_host` or `dns`.
    pub name_source: Option<String>,
    /// TLS/QUIC server name.
    pub sni: Option<String>,
    /// First offered ALPN.
    pub alpn: Option<String>,
    /// JA4 fingerprint of the ClientHello.
    pub ja4: Option<String>,
    /// HTTP Host header.
    pub http_host: Option<String>,
    /// The ClientHello carried Encrypted Client Hello.
    pub ech: bool,
    /// Why the engine ended the flow (fin, rst, idle, evicted, shutdown).
    pub end_reason: String,
    /// The tunnel the flow's packets arrived in; `None` outside any tunnel.
    pub tunnel: Option<FlowTunnel>,
}

/// The outer packet that carried a tunnelled flow (conn.log's `tunnel` and
/// `tunnel_parents`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowTunnel {
    /// `ip` (IPv4 inside), `ip6` (IPv6 inside), `gre` or `gtpv1`; no spaces.
    pub kind: String,
    /// The outer packet's IP protocol (4, 41, 47, or 17 for GTP-U).
    pub outer_proto: u8,
    /// The outer packet's source address.
    pub outer_src: IpAddr,
    /// The outer packet's destination address.
    pub outer_dst: IpAddr,
    /// uid of the outer flow, when the outer packets make one (GTP-U's UDP).
    pub parent_uid: Option<String>,
}

/// One DNS transaction, dns.log-like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsRow {
    /// Time of the query (or the response when the query was not seen).
    pub ts_us: u64,
    /// uid of the flow that carried it.
    pub flow_uid: Option<String>,
    /// Owning app.
    pub app_uid: Option<u32>,
    /// Client socket.
    pub client: SocketAddr,
    /// Server socket.
    pub server: SocketAddr,
    /// `udp` or `tcp`.
    pub transport: String,
    /// DNS message id.
    pub id: u16,
    /// Query name.
    pub query: String,
    /// Query type number.
    pub qtype: u16,
    /// Query class number.
    pub qclass: u16,
    /// Response code, if answered.
    pub rcode: Option<u16>,
    /// Response code name, if answered.
    pub rcode_name: Option<String>,
    /// Answer rdata as text.
    pub answers: Vec<String>,
    /// TTL of each answer.
    pub ttls: Vec<u32>,
    /// Query-to-response time.
    pub rtt_us: Option<u64>,
    /// A response was seen.
    pub answered: bool,
    /// The question name was longer than DNS allows (255 bytes) and kept anyway.
    pub query_too_long: bool,
}

/// Alert severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Severity {
    /// Worth recording.
    Low,
    /// Worth a look.
    Medium,
    /// Likely malicious.
    High,
    /// Known-bad with high confidence.
    Critical,
}

/// Triage state of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AlertState {
    /// Not looked at yet.
    New,
    /// Seen by the user.
    Acknowledged,
    /// Dealt with.
    Resolved,
    /// Judged benign.
    FalsePositive,
}

/// What the detector asked the tunnel to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AlertAction {
    /// Record only.
    Record,
    /// Notify the user.
    Alert,
    /// Block the destination.
    Block,
}

/// One weighted signal that contributed to an alert score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Signal name (e.g. `dga_entropy`).
    pub name: String,
    /// Measured value.
    pub value: f64,
    /// Weight in the score.
    pub weight: f64,
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRow {
    /// Alert id; primary key. 0 asks the store to allocate one.
    pub id: u64,
    /// When it was raised.
    pub ts_us: u64,
    /// Severity.
    pub severity: Severity,
    /// Detector score.
    pub score: f32,
    /// Triage state.
    pub state: AlertState,
    /// Owning app.
    pub app_uid: Option<u32>,
    /// Domain concerned.
    pub domain: Option<String>,
    /// Addresses concerned.
    pub ips: Vec<IpAddr>,
    /// uids of the flows concerned.
    pub flow_uids: Vec<String>,
    /// Detector name.
    pub detector: String,
    /// ATT&CK / D3FEND ids (e.g. `DC0113`, `AN1700`, `T1637.001`).
    pub attack: Vec<String>,
    /// Scoring signals.
    pub signals: Vec<Signal>,
    /// Where the indicator came from (feed, version, STIX id...).
    pub provenance: serde_json::Value,
    /// Raised by re-checking stored history against new intel.
    pub retroactive: bool,
    /// Requested action.
    pub action: AlertAction,
    /// What a relay did to enforce a block, by its stable name
    /// (`dns_nxdomain`, `dns_sinkhole`, `tcp_reset`, `icmp_unreachable`);
    /// `None` when nothing was enforced.
    pub enforcement: Option<String>,
}

/// An installed app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRow {
    /// OS user id.
    pub uid: u32,
    /// Package / bundle name.
    pub package: String,
    /// Display label.
    pub label: Option<String>,
    /// Install time.
    pub installed_us: Option<u64>,
    /// Last update time.
    pub updated_us: Option<u64>,
}

/// An intel feed that was loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedRow {
    /// Feed name.
    pub name: String,
    /// Feed version string.
    pub version: String,
    /// When it was loaded.
    pub loaded_us: u64,
    /// Number of indicators in it.
    pub indicators: u64,
}

/// First/last sighting of a domain, per app or device-wide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainSeen {
    /// Full name.
    pub domain: String,
    /// Registrable part (eTLD+1).
    pub registrable: String,
    /// App, or `None` for the device-wide row.
    pub app_uid: Option<u32>,
    /// First sighting.
    pub first_us: u64,
    /// Last sighting.
    pub last_us: u64,
    /// Sightings.
    pub count: u64,
}

/// Persisted engine state (baselines, previously-seen sets), opaque bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateBlob {
    /// Key.
    pub key: String,
    /// Value.
    pub bytes: Vec<u8>,
    /// When it was written.
    pub updated_us: u64,
}

/// One packet kept for an alerted flow: what the edge's packet ring still
/// held for the flow when the alert was raised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketRow {
    /// Capture time, microseconds since the Unix epoch.
    pub ts_us: u64,
    /// Length on the wire; `data` may be shorter when the ring cut it.
    pub orig_len: u32,
    /// The raw IP packet (no link-layer header).
    pub data: Vec<u8>,
}

/// The packets of one flow, saved because an alert was raised for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowPackets {
    /// uid of the flow (the value alerts list in `flow_uids`).
    pub flow_uid: String,
    /// Its packets, oldest first.
    pub packets: Vec<PacketRow>,
}

impl FlowPackets {
    /// The packets a [`nightjar_capture::PacketRing`] handed out for an
    /// alerted flow, under the uid its alert lists.
    pub fn from_ring(flow_uid: String, packets: Vec<nightjar_capture::RingPacket>) -> Self {
        FlowPackets {
            flow_uid,
            packets: packets
                .into_iter()
                .map(|p| PacketRow {
                    ts_us: p.ts_us,
                    orig_len: p.orig_len,
                    data: p.data,
                })
                .collect(),
        }
    }
}

/// One record handed to the writer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Record {
    /// A flow.
    Flow(Box<FlowRow>),
    /// A DNS transaction.
    Dns(Box<DnsRow>),
    /// An alert.
    Alert(Box<AlertRow>),
    /// An app.
    App(AppRow),
    /// A feed.
    Feed(FeedRow),
    /// A domain sighting (merged into the stored first/last/count).
    Domain(DomainSeen),
    /// Engine state.
    State(StateBlob),
    /// Packets of an alerted flow (kept within `StoreConfig::max_packet_bytes`).
    Packets(Box<FlowPackets>),
}

/// What a retroactive matcher reports for a hit.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchInfo {
    /// Indicator that matched (domain, suffix or IP), used to group hits.
    pub indicator: String,
    /// Severity of the resulting alert.
    pub severity: Severity,
    /// Score of the resulting alert.
    pub score: f32,
    /// Detector name to record.
    pub detector: String,
    /// ATT&CK ids.
    pub attack: Vec<String>,
    /// Indicator provenance.
    pub provenance: serde_json::Value,
    /// Requested action.
    pub action: AlertAction,
}

impl Severity {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
    pub(crate) fn code(self) -> i64 {
        match self {
            Severity::Low => 1,
            Severity::Medium => 2,
            Severity::High => 3,
            Severity::Critical => 4,
        }
    }
    pub(crate) fn from_code(c: i64) -> Option<Self> {
        Some(match c {
            1 => Severity::Low,
            2 => Severity::Medium,
            3 => Severity::High,
            4 => Severity::Critical,
            _ => return None,
        })
    }
}

impl AlertState {
    pub(crate) fn code(self) -> i64 {
        match self {
            AlertState::New => 0,
            AlertState::Acknowledged => 1,
            AlertState::Resolved => 2,
            AlertState::FalsePositive => 3,
        }
    }
    pub(crate) fn from_code(c: i64) -> Option<Self> {
        Some(match c {
            0 => AlertState::New,
            1 => AlertState::Acknowledged,
            2 => AlertState::Resolved,
            3 => AlertState::FalsePositive,
            _ => return None,
        })
    }
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AlertState::New => "new",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
            AlertState::FalsePositive => "false_positive",
        }
    }
}

impl AlertAction {
    pub(crate) fn code(self) -> i64 {
        match self {
            AlertAction::Record => 0,
            AlertAction::Alert => 1,
            AlertAction::Block => 2,
        }
    }
    pub(crate) fn from_code(c: i64) -> Option<Self> {
        Some(match c {
            0 => AlertAction::Record,
            1 => AlertAction::Alert,
            2 => AlertAction::Block,
            _ => return None,
        })
    }
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AlertAction::Record => "record",
            AlertAction::Alert => "alert",
            AlertAction::Block => "block",
        }
    }
}
