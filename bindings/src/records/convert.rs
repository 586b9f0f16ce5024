//! Conversions between the FFI records and the core types: the store's rows and enums, the
//! engine's, the relay's and the writer's counters.

use nightjar_engine::{EngineStats, MemoryUsage};

use nightjar_store::{
    AlertAction as StoreAction, AlertRow, AlertState as StoreState, BlindSpot as StoreBlindSpot,
    CoverageReport as StoreCoverage, DnsRow, FlowRow, Severity as StoreSeverity, Signal, Talker,
    WriterStatus,
};

use super::{
    Alert, AlertAction, AlertEnforcement, AlertSeverity, AlertSignal, AlertState, BlindSpot,
    CoverageReport, DnsBypassItem, DnsItem, DomainItem, FlowItem, MemoryReport, NoFlowCount,
    RelayCounters, RelayMemoryReport, Stats, WriterStats,
};

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
