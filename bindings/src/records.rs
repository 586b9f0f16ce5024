//! The records and enums the host app sees. Core types never derive uniffi traits (the FFI
//! lives in this crate only), so each has a twin here and a conversion from the core type.
//! Addresses cross as strings (`InetAddress.getByName`, `IPv4Address(_:)` parse them).

use std::collections::HashMap;

use nightjar_engine::{EngineStats, MemoryUsage};
use nightjar_store::{
    AlertAction as StoreAction, AlertRow, AlertState as StoreState, BlindSpot as StoreBlindSpot,
    CoverageReport as StoreCoverage, DnsRow, FlowRow, Severity as StoreSeverity, Signal, Talker,
    WriterStatus,
};

/// One packet that crossed the tunnel.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Packet {
    /// The raw IP packet (no link-layer header).
    pub bytes: Vec<u8>,
    /// True when the device sent it (read from the tunnel), false when it came from the network.
    /// Relay mode takes only device packets (everything read from the tunnel is); the others
    /// are neither relayed nor observed, and are counted (`RelayCounters::inbound_ignored`).
    pub outbound: bool,
    /// When it crossed, in microseconds since the Unix epoch. Relay mode runs on its own clock
    /// (the wall clock, never going back) and ignores it.
    pub ts_us: u64,
}

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Action {
    /// Forward it (always, in monitor mode).
    Pass,
    /// Drop it (only once a blocking policy exists).
    Drop,
}

/// The answer for one packet of a batch, in the batch's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct Verdict {
    /// Pass or drop.
    pub action: Action,
    /// The flow the packet was counted in; `None` for packets that make no flow (malformed,
    /// fragments held for reassembly, ...), which the stats count by reason.
    pub flow_id: Option<u64>,
    /// This packet opened the flow.
    pub is_new: bool,
}

/// The result of [`crate::NightjarEngine::ingest`].
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct IngestResult {
    /// One verdict per packet, in order.
    pub verdicts: Vec<Verdict>,
    /// Raw IP packets to write back to the tunnel, in order: always empty in monitor mode; in
    /// relay mode what the relay produced during this call (SYN-ACKs, ACKs, answers already
    /// there), after any it produced earlier while no `TunnelWriter` was set.
    pub to_tunnel: Vec<Vec<u8>>,
}

/// A new flow's 5-tuple from the device's side, as the OS's ownership lookups take it
/// (Android `ConnectivityManager.getConnectionOwnerUid(protocol, local, remote)`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FlowKey5 {
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
    pub protocol: u8,
    /// The device's address.
    pub local_ip: String,
    /// The device's port (0 for ICMP).
    pub local_port: u16,
    /// The peer's address.
    pub remote_ip: String,
    /// The peer's port (0 for ICMP).
    pub remote_port: u16,
}

/// An installed app, as the host's package manager reports it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AppInfo {
    /// OS user id (Android uid; on iOS an id the host assigns per bundle).
    pub uid: u32,
    /// Package / bundle name.
    pub package: String,
    /// Display label.
    pub label: Option<String>,
    /// Install time, µs since the epoch.
    pub installed_us: Option<u64>,
    /// Last update time, µs since the epoch.
    pub updated_us: Option<u64>,
}

/// How bad an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AlertSeverity {
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
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

/// What the detector asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AlertAction {
    /// Record only.
    Record,
    /// Notify the user.
    Notify,
    /// Block the destination.
    Block,
}

/// One weighted signal behind an alert's score.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AlertSignal {
    /// Machine name, e.g. `dga_entropy`.
    pub name: String,
    /// Measured value.
    pub value: f64,
    /// Weight in the score.
    pub weight: f64,
}

/// An alert, as delivered to the [`crate::AlertListener`] and returned by alert queries.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Alert {
    /// Store id (0 until the store has written it).
    pub id: u64,
    /// When it was raised, µs since the epoch.
    pub ts_us: u64,
    /// Severity.
    pub severity: AlertSeverity,
    /// Detector score in `[0, 1]`.
    pub score: f32,
    /// Triage state.
    pub state: AlertState,
    /// Owning app.
    pub app_uid: Option<u32>,
    /// Domain concerned.
    pub domain: Option<String>,
    /// Addresses concerned.
    pub ips: Vec<String>,
    /// uids of the flows concerned.
    pub flow_uids: Vec<String>,
    /// Detector name.
    pub detector: String,
    /// ATT&CK / D3FEND technique ids.
    pub attack: Vec<String>,
    /// Scoring signals: why it fired.
    pub signals: Vec<AlertSignal>,
    /// Indicator provenance (feed, version, STIX id) as a JSON object.
    pub provenance_json: String,
    /// Raised by re-checking history against new intel.
    pub retroactive: bool,
    /// Requested action.
    pub action: AlertAction,
    /// How the device was refused, when relay mode blocked what the alert is about
    /// ([`EngineSettings::block_at`](crate::EngineSettings)); `None` when nothing was refused
    /// (monitor mode, monitor-only policy, or a block the relay never had to apply).
    pub enforcement: Option<AlertEnforcement>,
}

/// What relay mode did to the device's traffic for a blocked alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AlertEnforcement {
    /// The query for the name was answered NXDOMAIN.
    DnsNxdomain,
    /// The query for the name was answered with a sinkhole address.
    DnsSinkhole,
    /// The TCP connection was refused with a reset.
    TcpReset,
    /// The UDP flow was refused with ICMP port unreachable.
    IcmpUnreachable,
}

impl AlertEnforcement {
    /// From the store's name for it; a name a newer core writes and this one does not know
    /// reads as `None`.
    fn from_name(name: &str) -> Option<Self> {
        use nightjar_detect::Enforcement as E;
        Some(match E::from_name(name)? {
            E::DnsNxdomain => AlertEnforcement::DnsNxdomain,
            E::DnsSinkhole => AlertEnforcement::DnsSinkhole,
            E::TcpReset => AlertEnforcement::TcpReset,
            E::IcmpUnreachable => AlertEnforcement::IcmpUnreachable,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        use nightjar_detect::Enforcement as E;
        match self {
            AlertEnforcement::DnsNxdomain => E::DnsNxdomain,
            AlertEnforcement::DnsSinkhole => E::DnsSinkhole,
            AlertEnforcement::TcpReset => E::TcpReset,
            AlertEnforcement::IcmpUnreachable => E::IcmpUnreachable,
        }
        .name()
    }
}

/// A stored flow.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FlowItem {
    /// Flow id (unique across restarts of the same database).
    pub id: u64,
    /// Zeek-style uid.
    pub uid: String,
    /// Owning app.
    pub app_uid: Option<u32>,
    /// Owning app's package.
    pub app_name: Option<String>,
    /// IP protocol number.
    pub proto: u8,
    /// Originator address.
    pub orig_ip: String,
    /// Originator port.
    pub orig_port: u16,
    /// Responder address.
    pub resp_ip: String,
    /// Responder port.
    pub resp_port: u16,
    /// First packet, µs since the epoch.
    pub first_us: u64,
    /// Last packet.
    pub last_us: u64,
    /// Packets from the originator.
    pub orig_pkts: u64,
    /// Packets from the responder.
    pub resp_pkts: u64,
    /// IP bytes from the originator.
    pub orig_ip_bytes: u64,
    /// IP bytes from the responder.
    pub resp_ip_bytes: u64,
    /// Zeek conn_state.
    pub conn_state: String,
    /// Community ID.
    pub community_id: Option<String>,
    /// Best name of the responder.
    pub name: Option<String>,
    /// `sni`, `quic_sni`, `http_host` or `dns`.
    pub name_source: Option<String>,
    /// TLS/QUIC server name.
    pub sni: Option<String>,
    /// First offered ALPN.
    pub alpn: Option<String>,
    /// JA4 fingerprint.
    pub ja4: Option<String>,
    /// HTTP Host.
    pub http_host: Option<String>,
    /// Encrypted Client Hello was offered.
    pub ech: bool,
    /// Why the flow ended.
    pub end_reason: String,
}

/// A stored DNS transaction.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DnsItem {
    /// Query time, µs since the epoch.
    pub ts_us: u64,
    /// uid of the carrying flow.
    pub flow_uid: Option<String>,
    /// Owning app.
    pub app_uid: Option<u32>,
    /// Client address.
    pub client_ip: String,
    /// Client port.
    pub client_port: u16,
    /// Server address.
    pub server_ip: String,
    /// Server port.
    pub server_port: u16,
    /// `udp` or `tcp`.
    pub transport: String,
    /// Query name.
    pub query: String,
    /// Query type number.
    pub qtype: u16,
    /// Response code, if answered.
    pub rcode: Option<u16>,
    /// Response code name.
    pub rcode_name: Option<String>,
    /// Answers as text.
    pub answers: Vec<String>,
    /// TTL per answer.
    pub ttls: Vec<u32>,
    /// Query-to-response time.
    pub rtt_us: Option<u64>,
    /// A response was seen.
    pub answered: bool,
}

/// A page of flows.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FlowPage {
    /// Newest first.
    pub items: Vec<FlowItem>,
    /// Pass back for the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// A page of DNS transactions.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DnsPage {
    /// Newest first.
    pub items: Vec<DnsItem>,
    /// Pass back for the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// A page of alerts.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AlertPage {
    /// Newest first.
    pub items: Vec<Alert>,
    /// Pass back for the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// Traffic to one domain (top talkers by domain).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DomainItem {
    /// The flows' name (lowercased); `None` groups unnamed flows.
    pub domain: Option<String>,
    /// Flows.
    pub flows: u64,
    /// IP bytes sent by the device.
    pub bytes_out: u64,
    /// IP bytes received.
    pub bytes_in: u64,
}

/// A page of domains, most bytes first.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DomainPage {
    /// Most bytes first.
    pub items: Vec<DomainItem>,
    /// Pass back for the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// Traffic of one app, joined with the inventory.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AppItem {
    /// OS uid; `None` groups unattributed flows.
    pub uid: Option<u32>,
    /// Package, from the inventory (or the flows).
    pub package: Option<String>,
    /// Display label, from the inventory.
    pub label: Option<String>,
    /// Flows.
    pub flows: u64,
    /// IP bytes sent.
    pub bytes_out: u64,
    /// IP bytes received.
    pub bytes_in: u64,
}

/// A page of apps, most bytes first.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AppPage {
    /// Most bytes first.
    pub items: Vec<AppItem>,
    /// Pass back for the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// Filters for the paged queries; unset fields match everything (and default to unset in
/// Kotlin and Swift, so `QueryFilter()` is "everything").
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct QueryFilter {
    /// A domain and its subdomains.
    #[uniffi(default)]
    pub domain: Option<String>,
    /// One app.
    #[uniffi(default)]
    pub app_uid: Option<u32>,
    /// One address (either end).
    #[uniffi(default)]
    pub ip: Option<String>,
    /// From (inclusive), µs since the epoch.
    #[uniffi(default)]
    pub since_us: Option<u64>,
    /// Until (exclusive).
    #[uniffi(default)]
    pub until_us: Option<u64>,
    /// IP protocol number.
    #[uniffi(default)]
    pub proto: Option<u8>,
    /// Alerts of this severity only.
    #[uniffi(default)]
    pub severity: Option<AlertSeverity>,
    /// Alerts in this state only.
    #[uniffi(default)]
    pub state: Option<AlertState>,
}

/// Encrypted DNS that went around the tunnel's resolver.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DnsBypassItem {
    /// `dot` or `doh`.
    pub kind: String,
    /// Resolver address.
    pub resolver: String,
    /// Resolver name, if known.
    pub name: Option<String>,
    /// Port.
    pub port: u16,
    /// Flows.
    pub flows: u64,
    /// Apps that used it.
    pub app_uids: Vec<u32>,
}

/// A named gap in what Nightjar saw.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum BlindSpot {
    /// No flows at all in the window.
    NoTraffic,
    /// Flows but no DNS: names come only from SNI/HTTP Host.
    NoDns,
    /// Part of the flows has no app.
    Unattributed {
        /// Percent of flows without an app.
        percent: f64,
    },
    /// Part of the flows has no name.
    Unnamed {
        /// Percent of flows without a name.
        percent: f64,
    },
    /// Encrypted DNS bypassed the tunnel's resolver.
    EncryptedDns {
        /// `dot` or `doh`.
        via: String,
        /// Resolver address.
        resolver: String,
        /// Flows.
        flows: u64,
    },
    /// The oldest retained row is younger than the window start.
    RetentionShorterThanWindow {
        /// Oldest retained time.
        retained_since_us: u64,
        /// Requested window start.
        window_since_us: u64,
    },
    /// A gap this version of the bindings does not name yet.
    Other {
        /// Human-readable description.
        description: String,
    },
}

/// What Nightjar could and could not see over a window.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CoverageReport {
    /// Window start.
    pub since_us: u64,
    /// Window end.
    pub until_us: u64,
    /// Flows that started in the window.
    pub flows: u64,
    /// Flows with an app.
    pub attributed: u64,
    /// `attributed / flows`.
    pub attributed_share: f64,
    /// Flows with a name.
    pub named: u64,
    /// `named / flows`.
    pub named_share: f64,
    /// Named flows per name source.
    pub named_by: HashMap<String, u64>,
    /// DNS rows in the window.
    pub dns_rows: u64,
    /// Share of named flows named by DNS.
    pub dns_named_share: f64,
    /// Encrypted DNS around the tunnel resolver.
    pub bypass: Vec<DnsBypassItem>,
    /// Oldest retained time in the store.
    pub retained_since_us: Option<u64>,
    /// Newest retained time in the store.
    pub retained_until_us: Option<u64>,
    /// The gaps, named.
    pub blind_spots: Vec<BlindSpot>,
}

/// Packets that made no flow, by reason.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NoFlowCount {
    /// Reason name (`truncated_ip`, `flow_table_full`, ...).
    pub reason: String,
    /// Packets.
    pub packets: u64,
}

/// The database writer's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct WriterStats {
    /// Records queued.
    pub accepted: u64,
    /// Records dropped because the queue was full.
    pub dropped_full: u64,
    /// Records dropped because the writer had stopped.
    pub dropped_closed: u64,
    /// Records dropped after write errors.
    pub dropped_error: u64,
    /// Rows committed.
    pub committed_rows: u64,
    /// Failed writes.
    pub write_errors: u64,
}

/// Counters of everything the engine and the bindings did and shed.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Stats {
    /// Packets ingested.
    pub packets: u64,
    /// Bytes ingested.
    pub bytes: u64,
    /// Packets counted in a flow.
    pub packets_in_flows: u64,
    /// Packets counted in no flow, by reason (`packets == packets_in_flows + Σ no_flow`).
    pub no_flow: Vec<NoFlowCount>,
    /// Flows live now.
    pub live_flows: u64,
    /// Flows created.
    pub flows_created: u64,
    /// Flows evicted because the table was full.
    pub flows_evicted: u64,
    /// Engine events shed because the queue was full.
    pub events_shed: u64,
    /// Inspections abandoned at a cap.
    pub inspections_shed: u64,
    /// TLS + QUIC ClientHellos read.
    pub hellos: u64,
    /// HTTP request heads read.
    pub http_requests: u64,
    /// DNS messages read.
    pub dns_messages: u64,
    /// Flows the app resolver attributed.
    pub flows_attributed: u64,
    /// Resolver calls that threw.
    pub resolver_failures: u64,
    /// Hello/HTTP details dropped because too many flows were pending.
    pub details_shed: u64,
    /// Alerts handed to the listener.
    pub alerts_delivered: u64,
    /// Alerts dropped because the listener's queue was full.
    pub alerts_shed: u64,
    /// Apps refused because the inventory was at its cap.
    pub apps_shed: u64,
    /// Database writer counters, when a database is configured.
    pub writer: Option<WriterStats>,
    /// Relay counters, in relay mode.
    pub relay: Option<RelayCounters>,
}

/// What relay mode did and refused. Everything refused or dropped is counted here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, uniffi::Record)]
pub struct RelayCounters {
    /// Device packets taken from `ingest`.
    pub tun_packets_in: u64,
    /// Bytes of them.
    pub tun_bytes_in: u64,
    /// Packets produced for the tunnel (returned or written).
    pub tun_packets_out: u64,
    /// Bytes of them.
    pub tun_bytes_out: u64,
    /// Device packets dropped because the relay's input queue was full.
    pub rx_queue_dropped: u64,
    /// Device packets that were not IP.
    pub malformed: u64,
    /// TCP connections admitted.
    pub tcp_accepted: u64,
    /// TCP connections refused with RST at the connection cap.
    pub tcp_refused_cap: u64,
    /// TCP connections refused with RST because the socket could not be opened (or the
    /// protector refused it).
    pub tcp_dial_failed: u64,
    /// TCP connections reset because the network side failed.
    pub tcp_outbound_failed: u64,
    /// TCP connections aborted for idleness or evicted at the cap.
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
    /// UDP flows whose socket could not be opened (or the protector refused).
    pub udp_dial_failed: u64,
    /// UDP flows closed for idleness.
    pub udp_expired: u64,
    /// UDP datagrams the network socket would not take.
    pub udp_send_dropped: u64,
    /// UDP datagrams relayed device to network.
    pub udp_datagrams_up: u64,
    /// UDP datagrams relayed network to device.
    pub udp_datagrams_down: u64,
    /// DNS queries forwarded upstream.
    pub dns_forwarded: u64,
    /// DNS answers relayed back.
    pub dns_answered: u64,
    /// DNS queries dropped at the in-flight cap.
    pub dns_refused_cap: u64,
    /// DNS queries that got no answer in time.
    pub dns_timeouts: u64,
    /// Payloads to the DNS address that were not DNS queries.
    pub dns_malformed: u64,
    /// ICMP echo requests answered by the relay.
    pub icmp_echo_answered: u64,
    /// Network-side packets (`outbound == false`) given to `ingest`: not relayed, not observed.
    pub inbound_ignored: u64,
    /// Tunnel packets dropped because no writer was set and the queue was full.
    pub tunnel_queue_dropped: u64,
    /// Times the socket protector was asked.
    pub protect_calls: u64,
    /// Sockets the protector refused.
    pub protect_refused: u64,
    /// Protector calls that threw (the socket was refused).
    pub protect_failures: u64,
    /// Packets handed to the tunnel writer (those it threw on included).
    pub writer_packets: u64,
    /// Packets lost because the tunnel writer threw.
    pub writer_failures: u64,
    /// Failed waits of the relay thread (retried).
    pub poll_errors: u64,
    /// TCP connections refused (RST) by the block policy.
    pub tcp_blocked: u64,
    /// UDP flows refused (ICMP unreachable) by the block policy.
    pub udp_blocked: u64,
    /// DNS queries (UDP or TCP) answered NXDOMAIN by the block policy.
    pub dns_nxdomain: u64,
    /// DNS queries (UDP or TCP) answered 0.0.0.0 / `::` by the block policy.
    pub dns_sinkholed: u64,
    /// DNS queries answered SERVFAIL because the encrypted upstream failed or did not answer
    /// in time.
    pub dns_servfail: u64,
    /// Connections opened to the encrypted DNS upstream.
    pub dns_upstream_connects: u64,
    /// Encrypted upstream connections given up (dial, TLS, framing or I/O error, or closed).
    pub dns_upstream_failed: u64,
    /// `network_changed` calls.
    pub path_changes: u64,
    /// TCP connections reset because their outbound socket was on the old path.
    pub path_tcp_reset: u64,
    /// UDP flows dropped because their socket was on the old path.
    pub path_udp_dropped: u64,
    /// Encrypted DNS upstream connections dropped on a network change, to be dialled again.
    pub dns_upstream_redials: u64,
}

impl From<&nightjar_relay::RelayStats> for RelayCounters {
    /// The relay's own counters; the bindings' (protector, writer, queue) are filled in by the
    /// caller.
    fn from(s: &nightjar_relay::RelayStats) -> Self {
        RelayCounters {
            tun_packets_in: s.tun_packets_in,
            tun_bytes_in: s.tun_bytes_in,
            tun_packets_out: s.tun_packets_out,
            tun_bytes_out: s.tun_bytes_out,
            rx_queue_dropped: s.rx_queue_dropped,
            malformed: s.malformed,
            tcp_accepted: s.tcp_accepted,
            tcp_refused_cap: s.tcp_refused_cap,
            tcp_dial_failed: s.tcp_dial_failed,
            tcp_outbound_failed: s.tcp_outbound_failed,
            tcp_evicted: s.tcp_evicted,
            tcp_closed: s.tcp_closed,
            tcp_bytes_up: s.tcp_bytes_up,
            tcp_bytes_down: s.tcp_bytes_down,
            udp_opened: s.udp_opened,
            udp_refused_cap: s.udp_refused_cap,
            udp_dial_failed: s.udp_dial_failed,
            udp_expired: s.udp_expired,
            udp_send_dropped: s.udp_send_dropped,
            udp_datagrams_up: s.udp_datagrams_up,
            udp_datagrams_down: s.udp_datagrams_down,
            dns_forwarded: s.dns_forwarded,
            dns_answered: s.dns_answered,
            dns_refused_cap: s.dns_refused_cap,
            dns_timeouts: s.dns_timeouts,
            dns_malformed: s.dns_malformed,
            icmp_echo_answered: s.icmp_echo_answered,
            tcp_blocked: s.tcp_blocked,
            udp_blocked: s.udp_blocked,
            dns_nxdomain: s.dns_nxdomain,
            dns_sinkholed: s.dns_sinkholed,
            dns_servfail: s.dns_servfail,
            dns_upstream_connects: s.dns_upstream_connects,
            dns_upstream_failed: s.dns_upstream_failed,
            path_changes: s.path_changes,
            path_tcp_reset: s.path_tcp_reset,
            path_udp_dropped: s.path_udp_dropped,
            dns_upstream_redials: s.dns_upstream_redials,
            ..RelayCounters::default()
        }
    }
}

/// Memory in use against the caps, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct MemoryReport {
    /// Flow table now.
    pub flow_table: u64,
    /// Flow table at its cap.
    pub flow_table_cap: u64,
    /// Fragment buffers now.
    pub reassembly: u64,
    /// Fragment buffers at their cap.
    pub reassembly_cap: u64,
    /// Queued events now.
    pub events: u64,
    /// Queued events at their cap.
    pub events_cap: u64,
    /// Inspections now.
    pub inspection: u64,
    /// Inspections at their cap.
    pub inspection_cap: u64,
    /// IP-to-name cache now.
    pub name_cache: u64,
    /// Everything now.
    pub total: u64,
    /// Everything at the caps.
    pub total_cap: u64,
    /// Flows with hello/HTTP details waiting for the flow to end.
    pub pending_details: u64,
    /// Cap of `pending_details`.
    pub pending_details_cap: u64,
    /// The relay's memory, in relay mode (not included in `total`).
    pub relay: Option<RelayMemoryReport>,
}

/// Relay mode's memory against its caps; bytes unless named otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct RelayMemoryReport {
    /// TCP connections live now.
    pub tcp_connections: u64,
    /// TCP connections at most.
    pub tcp_connections_cap: u64,
    /// TCP socket buffers allocated now.
    pub tcp_buffers: u64,
    /// TCP socket buffers at the cap.
    pub tcp_buffers_cap: u64,
    /// UDP flows live now.
    pub udp_flows: u64,
    /// UDP flows at most.
    pub udp_flows_cap: u64,
    /// DNS queries waiting for the upstream now.
    pub dns_inflight: u64,
    /// DNS queries waiting at most.
    pub dns_inflight_cap: u64,
    /// Packets queued inside the relay (both directions) now.
    pub relay_queues: u64,
    /// Tunnel packets waiting for the host (no writer set), in packets.
    pub tunnel_queue: u64,
    /// Cap of `tunnel_queue`, in packets.
    pub tunnel_queue_cap: u64,
}

impl RelayMemoryReport {
    pub(crate) fn new(m: &nightjar_relay::RelayMemory, queued: usize, queue_cap: usize) -> Self {
        RelayMemoryReport {
            tcp_connections: u(m.tcp_sockets),
            tcp_connections_cap: u(m.tcp_sockets_cap),
            tcp_buffers: u(m.tcp_buffers),
            tcp_buffers_cap: u(m.tcp_buffers_cap),
            udp_flows: u(m.udp_flows),
            udp_flows_cap: u(m.udp_flows_cap),
            dns_inflight: u(m.dns_inflight),
            dns_inflight_cap: u(m.dns_inflight_cap),
            relay_queues: u(m.queued_packets),
            tunnel_queue: u(queued),
            tunnel_queue_cap: u(queue_cap),
        }
    }
}

/// What [`crate::NightjarEngine::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct ShutdownReport {
    /// Live flows completed by the final flush.
    pub flows_flushed: u64,
    /// The writer's final counters, when a database is configured.
    pub writer: Option<WriterStats>,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ExportFormat {
    /// Zeek JSON lines (conn/dns/ssl/quic/http/alerts).
    Zeek,
    /// OCSF 1.3 events, one JSON object a line.
    Ocsf,
    /// CSV with a header row.
    Csv,
}

/// What to export. `Tls`, `Quic` and `Http` are Zeek log views of the flows table and exist
/// only for [`ExportFormat::Zeek`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ExportTable {
    /// Flows (Zeek conn.log).
    Flows,
    /// DNS transactions.
    Dns,
    /// Alerts.
    Alerts,
    /// Zeek ssl.log.
    Tls,
    /// Zeek quic.log.
    Quic,
    /// Zeek http.log.
    Http,
}

/// An intel lookup's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum IntelOutcome {
    /// Nothing valid matches.
    Clean,
    /// An allowlist entry matches (it wins over blocks).
    Allowed,
    /// A blocklist entry matches.
    Blocked,
}

/// An intel lookup's answer.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct IntelVerdict {
    /// Clean, allowed or blocked.
    pub outcome: IntelOutcome,
    /// The listed value that matched (`example.org`, `*.example.org`, `10.0.0.0/8`).
    pub indicator: Option<String>,
    /// Feed name.
    pub feed: Option<String>,
    /// STIX id or `file:line`.
    pub indicator_id: Option<String>,
    /// Severity name.
    pub severity: Option<String>,
    /// Category or label.
    pub category: Option<String>,
    /// Malware family / report.
    pub family: Option<String>,
}

/// What one feed contributed to a compiled index.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FeedReport {
    /// Feed name.
    pub name: String,
    /// Version or date, if the feed states one.
    pub version: Option<String>,
    /// True for allowlists.
    pub allow: bool,
    /// Detected format (`Stix`, `Hosts`, ...).
    pub format: String,
    /// Entries accepted.
    pub accepted: u64,
    /// Entries skipped (bad names, unsupported patterns).
    pub skipped: u64,
}

/// The result of [`crate::compile_feeds`].
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CompileReport {
    /// One per feed, blocklists first.
    pub feeds: Vec<FeedReport>,
    /// Domain entries.
    pub domain_entries: u64,
    /// IPv4 entries.
    pub ipv4_entries: u64,
    /// IPv6 entries.
    pub ipv6_entries: u64,
    /// Other indicators (app ids, hashes).
    pub other_entries: u64,
    /// Index file size.
    pub file_bytes: u64,
}

// ---- conversions from core types ----

fn u(v: usize) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

impl From<&FlowRow> for FlowItem {
    fn from(r: &FlowRow) -> Self {
        FlowItem {
            id: r.id,
            uid: r.uid.clone(),
            app_uid: r.app_uid,
            app_name: r.app_name.clone(),
            proto: r.proto,
            orig_ip: r.orig_h.to_string(),
            orig_port: r.orig_p,
            resp_ip: r.resp_h.to_string(),
            resp_port: r.resp_p,
            first_us: r.first_us,
            last_us: r.last_us,
            orig_pkts: r.orig_pkts,
            resp_pkts: r.resp_pkts,
            orig_ip_bytes: r.orig_ip_bytes,
            resp_ip_bytes: r.resp_ip_bytes,
            conn_state: r.conn_state.clone(),
            community_id: r.community_id.clone(),
            name: r.name.clone(),
            name_source: r.name_source.clone(),
            sni: r.sni.clone(),
            alpn: r.alpn.clone(),
            ja4: r.ja4.clone(),
            http_host: r.http_host.clone(),
            ech: r.ech,
            end_reason: r.end_reason.clone(),
        }
    }
}

impl From<&DnsRow> for DnsItem {
    fn from(r: &DnsRow) -> Self {
        DnsItem {
            ts_us: r.ts_us,
            flow_uid: r.flow_uid.clone(),
            app_uid: r.app_uid,
            client_ip: r.client.ip().to_string(),
            client_port: r.client.port(),
            server_ip: r.server.ip().to_string(),
            server_port: r.server.port(),
            transport: r.transport.clone(),
            query: r.query.clone(),
            qtype: r.qtype,
            rcode: r.rcode,
            rcode_name: r.rcode_name.clone(),
            answers: r.answers.clone(),
            ttls: r.ttls.clone(),
            rtt_us: r.rtt_us,
            answered: r.answered,
        }
    }
}

impl From<StoreSeverity> for AlertSeverity {
    fn from(s: StoreSeverity) -> Self {
        match s {
            StoreSeverity::Low => AlertSeverity::Low,
            StoreSeverity::Medium => AlertSeverity::Medium,
            StoreSeverity::High => AlertSeverity::High,
            // Critical, and anything newer the store learns to say, is at least critical.
            _ => AlertSeverity::Critical,
        }
    }
}

impl From<AlertSeverity> for StoreSeverity {
    fn from(s: AlertSeverity) -> Self {
        match s {
            AlertSeverity::Low => StoreSeverity::Low,
            AlertSeverity::Medium => StoreSeverity::Medium,
            AlertSeverity::High => StoreSeverity::High,
            AlertSeverity::Critical => StoreSeverity::Critical,
        }
    }
}

impl From<StoreState> for AlertState {
    fn from(s: StoreState) -> Self {
        match s {
            StoreState::Acknowledged => AlertState::Acknowledged,
            StoreState::Resolved => AlertState::Resolved,
            StoreState::FalsePositive => AlertState::FalsePositive,
            // New, and states a newer store adds, still need a look.
            _ => AlertState::New,
        }
    }
}

impl From<AlertState> for StoreState {
    fn from(s: AlertState) -> Self {
        match s {
            AlertState::New => StoreState::New,
            AlertState::Acknowledged => StoreState::Acknowledged,
            AlertState::Resolved => StoreState::Resolved,
            AlertState::FalsePositive => StoreState::FalsePositive,
        }
    }
}

impl From<StoreAction> for AlertAction {
    fn from(a: StoreAction) -> Self {
        match a {
            StoreAction::Record => AlertAction::Record,
            StoreAction::Block => AlertAction::Block,
            // Alert, and actions a newer store adds, at least notify.
            _ => AlertAction::Notify,
        }
    }
}

impl From<AlertAction> for StoreAction {
    fn from(a: AlertAction) -> Self {
        match a {
            AlertAction::Record => StoreAction::Record,
            AlertAction::Notify => StoreAction::Alert,
            AlertAction::Block => StoreAction::Block,
        }
    }
}

impl From<&AlertRow> for Alert {
    fn from(r: &AlertRow) -> Self {
        Alert {
            id: r.id,
            ts_us: r.ts_us,
            severity: r.severity.into(),
            score: r.score,
            state: r.state.into(),
            app_uid: r.app_uid,
            domain: r.domain.clone(),
            ips: r.ips.iter().map(ToString::to_string).collect(),
            flow_uids: r.flow_uids.clone(),
            detector: r.detector.clone(),
            attack: r.attack.clone(),
            signals: r
                .signals
                .iter()
                .map(|s| AlertSignal {
                    name: s.name.clone(),
                    value: s.value,
                    weight: s.weight,
                })
                .collect(),
            provenance_json: r.provenance.to_string(),
            retroactive: r.retroactive,
            action: r.action.into(),
            enforcement: r
                .enforcement
                .as_deref()
                .and_then(AlertEnforcement::from_name),
        }
    }
}

impl Alert {
    /// The store row for this alert. Addresses that do not parse are left out (an alert is
    /// built by Rust code, so that only happens to a synthetic one).
    pub(crate) fn to_row(&self) -> AlertRow {
        AlertRow {
            id: self.id,
            ts_us: self.ts_us,
            severity: self.severity.into(),
            score: self.score,
            state: self.state.into(),
            app_uid: self.app_uid,
            domain: self.domain.clone(),
            ips: self.ips.iter().filter_map(|s| s.parse().ok()).collect(),
            flow_uids: self.flow_uids.clone(),
            detector: self.detector.clone(),
            attack: self.attack.clone(),
            signals: self
                .signals
                .iter()
                .map(|s| Signal {
                    name: s.name.clone(),
                    value: s.value,
                    weight: s.weight,
                })
                .collect(),
            provenance: serde_json::from_str(&self.provenance_json)
                .unwrap_or(serde_json::Value::Null),
            retroactive: self.retroactive,
            action: self.action.into(),
            enforcement: self.enforcement.map(|e| e.name().to_owned()),
        }
    }
}

impl From<&Talker> for DomainItem {
    fn from(t: &Talker) -> Self {
        DomainItem {
            domain: t.domain.clone(),
            flows: t.flows,
            bytes_out: t.bytes_out,
            bytes_in: t.bytes_in,
        }
    }
}

impl From<&StoreBlindSpot> for BlindSpot {
    fn from(b: &StoreBlindSpot) -> Self {
        match b {
            StoreBlindSpot::NoTraffic => BlindSpot::NoTraffic,
            StoreBlindSpot::NoDns => BlindSpot::NoDns,
            StoreBlindSpot::Unattributed { percent } => {
                BlindSpot::Unattributed { percent: *percent }
            }
            StoreBlindSpot::Unnamed { percent } => BlindSpot::Unnamed { percent: *percent },
            StoreBlindSpot::EncryptedDns {
                via,
                resolver,
                flows,
            } => BlindSpot::EncryptedDns {
                via: via.clone(),
                resolver: resolver.to_string(),
                flows: *flows,
            },
            StoreBlindSpot::RetentionShorterThanWindow {
                retained_since_us,
                window_since_us,
            } => BlindSpot::RetentionShorterThanWindow {
                retained_since_us: *retained_since_us,
                window_since_us: *window_since_us,
            },
            other => BlindSpot::Other {
                description: other.to_string(),
            },
        }
    }
}

impl From<&StoreCoverage> for CoverageReport {
    fn from(c: &StoreCoverage) -> Self {
        CoverageReport {
            since_us: c.window.since_us,
            until_us: c.window.until_us,
            flows: c.flows,
            attributed: c.attributed,
            attributed_share: c.attributed_share,
            named: c.named,
            named_share: c.named_share,
            named_by: c.named_by.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            dns_rows: c.dns_rows,
            dns_named_share: c.dns_named_share,
            bypass: c
                .bypass
                .iter()
                .map(|b| DnsBypassItem {
                    kind: b.kind.clone(),
                    resolver: b.resolver.to_string(),
                    name: b.name.clone(),
                    port: b.port,
                    flows: b.flows,
                    app_uids: b.app_uids.clone(),
                })
                .collect(),
            retained_since_us: c.retained.map(|(a, _)| a),
            retained_until_us: c.retained.map(|(_, b)| b),
            blind_spots: c.blind_spots.iter().map(BlindSpot::from).collect(),
        }
    }
}

impl From<&WriterStatus> for WriterStats {
    fn from(w: &WriterStatus) -> Self {
        WriterStats {
            accepted: w.accepted,
            dropped_full: w.dropped_full,
            dropped_closed: w.dropped_closed,
            dropped_error: w.dropped_error,
            committed_rows: w.committed_rows,
            write_errors: w.write_errors,
        }
    }
}

impl MemoryReport {
    /// The engine's memory plus the bindings' own pending-details map.
    pub(crate) fn new(m: &MemoryUsage, pending: usize, pending_cap: usize) -> Self {
        MemoryReport {
            flow_table: u(m.flow_table),
            flow_table_cap: u(m.flow_table_cap),
            reassembly: u(m.reassembly),
            reassembly_cap: u(m.reassembly_cap),
            events: u(m.events),
            events_cap: u(m.events_cap),
            inspection: u(m.inspection),
            inspection_cap: u(m.inspection_cap),
            name_cache: u(m.name_cache),
            total: u(m.total()),
            total_cap: u(m.total_cap()),
            pending_details: u(pending),
            pending_details_cap: u(pending_cap),
            relay: None,
        }
    }
}

/// The engine's counters in FFI form; the bindings' own counters are filled in by the caller.
pub(crate) fn engine_stats(s: &EngineStats) -> Stats {
    Stats {
        packets: s.packets.packets,
        bytes: s.packets.bytes,
        packets_in_flows: s.packets.in_flows,
        no_flow: s
            .packets
            .no_flow_nonzero()
            .map(|(r, n)| NoFlowCount {
                reason: r.name().to_owned(),
                packets: n,
            })
            .collect(),
        live_flows: u(s.live_flows),
        flows_created: s.flows.created,
        flows_evicted: s.flows.evicted,
        events_shed: s.events_shed,
        inspections_shed: s.app.inspections_shed,
        hellos: s.app.tls_hellos + s.app.quic_hellos,
        http_requests: s.app.http_requests,
        dns_messages: s.app.dns_messages,
        flows_attributed: 0,
        resolver_failures: 0,
        details_shed: 0,
        alerts_delivered: 0,
        alerts_shed: 0,
        apps_shed: 0,
        writer: None,
        relay: None,
    }
}
