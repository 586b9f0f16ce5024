//! The records and enums the host app sees. Core types never derive uniffi traits (the FFI
//! lives in this crate only), so each has a twin here and a conversion from the core type
//! (in `convert`).
//! Addresses cross as strings (`InetAddress.getByName`, `IPv4Address(_:)` parse them).

use std::collections::HashMap;

mod convert;

pub(crate) use convert::engine_stats;

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

// The counters' records (`stats()`, `memory()`, `shutdown()`) are in their own file, included
// rather than a child module: uniffi hashes each record's module path into the checksum of
// every method that returns it, so moving them to a module would change the generated bindings.
include!("records/counters.rs");

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
