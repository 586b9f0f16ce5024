// Included by `records.rs` (see there why): the records of counters and memory figures.

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

/// What [`crate::NightjarEngine::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct ShutdownReport {
    /// Live flows completed by the final flush.
    pub flows_flushed: u64,
    /// The writer's final counters, when a database is configured.
    pub writer: Option<WriterStats>,
}
