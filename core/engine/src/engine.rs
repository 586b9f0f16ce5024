//! The sans-IO engine: bytes and a time in, a verdict out, events queued for
//! the caller to drain. No clock, no I/O, no threads: the edges (the CLI, the
//! bindings, the relay) own those, as boringtun's `Tunn` does.

use std::collections::VecDeque;

use nightjar_wire::{
    Direction, IpHeader, IpVersion, Transport, icmp, parse_ip, parse_ip_snapped, parse_transport,
    parse_transport_snapped, proto, skip_ipv6_extensions,
};

use nightjar_dns::{
    DnsTransaction, DnsTransactions, Endpoints, NameCache, NameCacheConfig, TransactionConfig,
};

use crate::app_records::{HelloRecord, HttpRecord};
use crate::counters::{NoFlowReason, PacketCounters};
use crate::decap::{Decap, DecapCounters, Outer};
use crate::flow_key::{Endpoint, FlowKey};
use crate::flow_table::{
    Class, FlowTable, FlowTableConfig, FlowTableCounters, INSPECTION_STARTED, INSPECTOR_LIVE,
    INSPECTOR_READS_RESPONDER,
};
use crate::inspect::{self, Findings, FlowCtx, Inspector, is_dns_port};
use crate::names::NameSource;
use crate::reassembly::{
    Datagram, FragmentIn, Outcome, Reassembler, ReassemblyConfig, ReassemblyCounters,
};
use crate::record::{AppId, FlowId, FlowRecord};

mod app_layer;
use app_layer::nothing_to_inspect;

/// Engine limits and settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Flow table limits and timeouts.
    pub flows: FlowTableConfig,
    /// Fragment reassembly limits.
    pub reassembly: ReassemblyConfig,
    /// Events queued for the caller at most; above it new events are shed and counted.
    pub max_events: usize,
    /// Seed for the flow table's hash. The edge should pass random bits.
    pub hash_seed: u64,
    /// How often (in packet time) idle flows and stale fragments are swept.
    pub sweep_interval_us: u64,
    /// DNS query/response pairing.
    pub dns: TransactionConfig,
    /// The IP-to-name cache that names flows from DNS answers.
    pub name_cache: NameCacheConfig,
    /// Flows inspected at once (TLS/QUIC hello, HTTP heads, DNS over TCP).
    pub max_inspected_flows: usize,
    /// Bytes all inspections may hold together; above it an inspection is
    /// abandoned (the flow still counts) and the shed is counted.
    pub max_inspection_bytes: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            flows: FlowTableConfig::default(),
            reassembly: ReassemblyConfig::default(),
            max_events: 4_096,
            hash_seed: 0x6e69_6768_746a_6172,
            sweep_interval_us: 1_000_000,
            dns: TransactionConfig::default(),
            name_cache: NameCacheConfig::default(),
            max_inspected_flows: 4_096,
            max_inspection_bytes: 2 * 1024 * 1024,
        }
    }
}

/// A configuration the engine refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `max_flows` must be between 1 and 2^32 - 2 (slots are `u32`).
    #[error("max_flows must be between 1 and {max}, got {got}")]
    MaxFlows {
        /// What was asked.
        got: usize,
        /// The largest allowed.
        max: usize,
    },
    /// `max_events` must be at least 1.
    #[error("max_events must be at least 1")]
    MaxEvents,
}

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Let it through.
    Pass,
    /// Drop it (only ever returned when a policy blocks; never in monitor mode).
    Drop,
}

/// The flow a packet was counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowRef {
    /// The flow's id.
    pub id: FlowId,
    /// Whether the packet came from the originator.
    pub from_orig: bool,
    /// Whether this packet created the flow.
    pub is_new: bool,
    slot: u32,
}

/// The engine's answer for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Pass or drop.
    pub action: Action,
    /// The flow the packet was counted in, if any.
    pub flow: Option<FlowRef>,
    /// Why it was counted in no flow, if it was not.
    pub no_flow: Option<NoFlowReason>,
}

impl Verdict {
    fn pass_no_flow(reason: NoFlowReason) -> Self {
        Verdict {
            action: Action::Pass,
            flow: None,
            no_flow: Some(reason),
        }
    }
}

/// Something the caller should know about. Drain with [`Engine::next_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A flow ended (closed, idle, evicted, reused or flushed).
    FlowCompleted(FlowRecord),
    /// A DNS query and its response (or its absence), like a dns.log line.
    Dns(Box<DnsTransaction>),
    /// A TLS ClientHello, or a QUIC Initial's, like ssl.log / quic.log.
    Hello(Box<HelloRecord>),
    /// An HTTP request head, like http.log.
    Http(Box<HttpRecord>),
}

/// Memory the engine holds, against its caps, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MemoryUsage {
    /// Flow table now.
    pub flow_table: usize,
    /// Flow table at its cap.
    pub flow_table_cap: usize,
    /// Fragment buffers now.
    pub reassembly: usize,
    /// Fragment buffers at their cap.
    pub reassembly_cap: usize,
    /// Queued events now.
    pub events: usize,
    /// Queued events at their cap.
    pub events_cap: usize,
    /// Flow inspections (hello and request buffers) now.
    pub inspection: usize,
    /// Flow inspections at their cap.
    pub inspection_cap: usize,
    /// IP-to-name cache now.
    pub name_cache: usize,
}

impl MemoryUsage {
    /// Everything now.
    pub fn total(&self) -> usize {
        self.flow_table + self.reassembly + self.events + self.inspection + self.name_cache
    }
    /// Everything at the caps (the name cache is capped in entries, not bytes,
    /// and is left out of this sum).
    pub fn total_cap(&self) -> usize {
        self.flow_table_cap + self.reassembly_cap + self.events_cap + self.inspection_cap
    }
}

/// Engine statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct EngineStats {
    /// Packets by fate.
    pub packets: PacketCounters,
    /// Flow table work.
    pub flows: FlowTableCounters,
    /// Flows live now.
    pub live_flows: usize,
    /// Reassembly work.
    pub reassembly: ReassemblyCounters,
    /// Events shed because the caller did not drain the queue.
    pub events_shed: u64,
    /// What the application layer did.
    pub app: AppCounters,
    /// Tunnel packets opened, and the ones not opened by reason.
    pub decap: DecapCounters,
}

/// Application-layer counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct AppCounters {
    /// TLS ClientHellos read.
    pub tls_hellos: u64,
    /// QUIC Initial ClientHellos read.
    pub quic_hellos: u64,
    /// Hellos that could not be read (malformed, too large).
    pub malformed_hellos: u64,
    /// HTTP request heads read.
    pub http_requests: u64,
    /// DNS messages read.
    pub dns_messages: u64,
    /// DNS payloads that did not parse.
    pub dns_parse_errors: u64,
    /// Flows named, by the source of their final name.
    pub named_by_sni: u64,
    /// Named by a QUIC SNI.
    pub named_by_quic_sni: u64,
    /// Named by an HTTP Host.
    pub named_by_http_host: u64,
    /// Named by DNS correlation.
    pub named_by_dns: u64,
    /// Inspections not started or abandoned because a cap was reached.
    pub inspections_shed: u64,
    /// TCP streams that could not be followed in order (too many gaps).
    pub broken_streams: u64,
}

/// The engine.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    flows: FlowTable,
    reassembler: Reassembler,
    counters: PacketCounters,
    events: VecDeque<Event>,
    events_shed: u64,
    next_sweep_us: u64,
    dns: DnsTransactions,
    names: NameCache,
    app: AppCounters,
    decap: Decap,
    inner_verdict: Option<Verdict>,
}

/// Where the transport bytes of a packet came from.
struct L4<'a> {
    version: IpVersion,
    src: core::net::IpAddr,
    dst: core::net::IpAddr,
    protocol: u8,
    ip_len: u64,
    payload: &'a [u8],
    snapped: bool,
}

impl Engine {
    /// An engine with `config`.
    pub fn new(config: EngineConfig) -> Result<Self, ConfigError> {
        let max = (u32::MAX - 1) as usize;
        if config.flows.max_flows == 0 || config.flows.max_flows > max {
            return Err(ConfigError::MaxFlows {
                got: config.flows.max_flows,
                max,
            });
        }
        if config.max_events == 0 {
            return Err(ConfigError::MaxEvents);
        }
        Ok(Engine {
            config,
            flows: FlowTable::new(config.flows, config.hash_seed),
            reassembler: Reassembler::new(config.reassembly),
            counters: PacketCounters::default(),
            events: VecDeque::new(),
            events_shed: 0,
            next_sweep_us: 0,
            dns: DnsTransactions::new(config.dns),
            names: NameCache::new(config.name_cache),
            app: AppCounters::default(),
            decap: Decap::default(),
            inner_verdict: None,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Take one raw IP packet that crossed the tunnel at `now_us`
    /// (microseconds since the Unix epoch) in `direction`.
    pub fn on_packet(&mut self, now_us: u64, direction: Direction, packet: &[u8]) -> Verdict {
        self.counters.packets += 1;
        self.counters.bytes += packet.len() as u64;
        if now_us >= self.next_sweep_us {
            self.sweep(now_us);
        }
        match parse_ip(packet) {
            Ok(ip) => self.on_ip(now_us, direction, &ip),
            Err(e) => self.no_flow(NoFlowReason::from_wire(e)),
        }
    }

    /// Take a packet from a capture whose snap length may have cut it short:
    /// `orig_len` is the IP packet's length on the wire. A cut packet is
    /// counted with its real length; its payload is not inspected. A tunnel
    /// never cuts packets, so only replays need this.
    pub fn on_captured(
        &mut self,
        now_us: u64,
        direction: Direction,
        packet: &[u8],
        orig_len: usize,
    ) -> Verdict {
        if orig_len <= packet.len() {
            return self.on_packet(now_us, direction, packet);
        }
        self.counters.packets += 1;
        self.counters.bytes += packet.len() as u64;
        if now_us >= self.next_sweep_us {
            self.sweep(now_us);
        }
        match parse_ip_snapped(packet, orig_len) {
            // The rest of a cut fragment is lost, so it can never be reassembled.
            Ok(ip) if ip.fragment.is_some() => self.no_flow(NoFlowReason::FragmentDropped),
            Ok(ip) => self.on_ip(now_us, direction, &ip),
            Err(e) => self.no_flow(NoFlowReason::from_wire(e)),
        }
    }

    fn on_ip(&mut self, now_us: u64, direction: Direction, ip: &IpHeader<'_>) -> Verdict {
        match ip.fragment {
            None => {
                let l4 = L4 {
                    version: ip.version,
                    src: ip.src,
                    dst: ip.dst,
                    protocol: ip.protocol,
                    ip_len: u64::from(ip.ip_len),
                    payload: ip.payload,
                    snapped: ip.snapped,
                };
                self.on_transport(now_us, direction, &l4)
            }
            Some(_) => self.on_fragment(now_us, direction, ip),
        }
    }

    fn on_fragment(&mut self, now_us: u64, direction: Direction, ip: &IpHeader<'_>) -> Verdict {
        let Some(f) = ip.fragment else {
            return self.no_flow(NoFlowReason::FragmentDropped);
        };
        let (outcome, released) = self.reassembler.push(
            now_us,
            FragmentIn {
                src: ip.src,
                dst: ip.dst,
                protocol: ip.protocol,
                ident: f.ident,
                offset: f.offset,
                more: f.more,
                header_len: ip.header_len,
                data: ip.payload,
            },
        );
        self.orphan(released);
        match outcome {
            Outcome::Held => self.no_flow(NoFlowReason::FragmentHeld),
            Outcome::Dropped { released, .. } => {
                self.orphan(released);
                // The earlier fragments were held; they, and this one, were dropped.
                self.no_flow(NoFlowReason::FragmentDropped)
            }
            Outcome::Complete(d) => {
                let earlier = u64::from(d.fragments.saturating_sub(1));
                self.counters.sub(NoFlowReason::FragmentHeld, earlier);
                self.counters
                    .add(NoFlowReason::FragmentReassembled, earlier);
                self.on_datagram(now_us, direction, ip, &d)
            }
        }
    }

    fn on_datagram(
        &mut self,
        now_us: u64,
        direction: Direction,
        ip: &IpHeader<'_>,
        d: &Datagram,
    ) -> Verdict {
        let (protocol, payload, header_len) = match ip.version {
            IpVersion::V4 => (d.protocol, d.payload.as_slice(), u64::from(d.header_len)),
            IpVersion::V6 => match skip_ipv6_extensions(d.protocol, &d.payload) {
                // The fragment header is gone from the reassembled datagram.
                Ok((p, rest, _)) => (p, rest, u64::from(d.header_len).saturating_sub(8)),
                Err(e) => return self.no_flow(NoFlowReason::from_wire(e)),
            },
        };
        let l4 = L4 {
            version: ip.version,
            src: ip.src,
            dst: ip.dst,
            protocol,
            ip_len: header_len + d.payload.len() as u64,
            payload,
            snapped: false,
        };
        self.on_transport(now_us, direction, &l4)
    }

    fn on_transport(&mut self, now_us: u64, direction: Direction, l4: &L4<'_>) -> Verdict {
        if self.decap.may_carry(l4.protocol, l4.payload) {
            return self.on_tunnel(now_us, direction, l4);
        }
        let parsed = if l4.snapped {
            parse_transport_snapped(l4.protocol, l4.payload)
        } else {
            parse_transport(l4.protocol, l4.payload)
        };
        let transport = match parsed {
            Ok(t) => t,
            Err(e) => return self.no_flow(NoFlowReason::from_wire(e)),
        };
        let (sport, dport, syn_only, syn_ack) = match transport {
            Transport::Tcp(seg) => (
                seg.src_port,
                seg.dst_port,
                seg.flags.syn() && !seg.flags.ack(),
                seg.flags.syn() && seg.flags.ack(),
            ),
            Transport::Udp {
                src_port, dst_port, ..
            }
            | Transport::Sctp { src_port, dst_port } => (src_port, dst_port, false, false),
            Transport::Icmp { v6, msg_type, code } => {
                let counterpart = if v6 {
                    icmp::counterpart_v6(msg_type)
                } else {
                    icmp::counterpart_v4(msg_type)
                };
                (
                    u16::from(msg_type),
                    u16::from(counterpart.unwrap_or(code)),
                    false,
                    false,
                )
            }
            _ => return self.no_flow(NoFlowReason::UnsupportedProtocol),
        };
        let v6 = l4.version == IpVersion::V6;
        let src = Endpoint::new(l4.src, sport);
        let dst = Endpoint::new(l4.dst, dport);
        let (key, src_is_lo) = FlowKey::from_packet(l4.protocol, v6, src, dst);

        let mut events = EventSink {
            queue: &mut self.events,
            cap: self.config.max_events,
            shed: &mut self.events_shed,
            app: &mut self.app,
        };
        // Hashed once: a new flow's insert reuses it.
        let hash = self.flows.hash(&key);
        let mut existing = self.flows.find_hashed(hash, &key);
        if let (Some(idx), true) = (existing, syn_only) {
            // A fresh SYN on a finished connection starts a new one.
            if self
                .flows
                .entry(idx)
                .is_some_and(|e| e.tcp.syn_starts_new())
            {
                self.flows
                    .complete_reused(idx, &mut |r| events.push(Event::FlowCompleted(r)));
                existing = None;
            }
        }
        let (idx, is_new) = match existing {
            Some(idx) => (idx, false),
            None => {
                let src_is_orig = match direction {
                    Direction::Outbound => true,
                    Direction::Inbound => false,
                    // In a capture the opener is the originator: the SYN's
                    // sender, or the receiver of a SYN-ACK seen first.
                    Direction::Unknown => !syn_ack,
                };
                let class = match l4.protocol {
                    proto::TCP => Class::TcpOpening,
                    proto::UDP => Class::Udp,
                    proto::ICMP | proto::ICMPV6 => Class::Icmp,
                    _ => Class::Other,
                };
                let slot = self.flows.insert_hashed(
                    hash,
                    now_us,
                    key,
                    src_is_orig == src_is_lo,
                    class,
                    &mut |r| events.push(Event::FlowCompleted(r)),
                );
                match slot {
                    Some(s) => (s.idx, s.is_new),
                    None => return self.no_flow(NoFlowReason::FlowTableFull),
                }
            }
        };

        let Some(entry) = self.flows.entry_mut(idx) else {
            return self.no_flow(NoFlowReason::FlowTableFull);
        };
        let from_orig = src_is_lo == entry.orig_is_lo;
        let inspection = entry.inspection;
        let side = usize::from(!from_orig);
        if let Some(p) = entry.pkts.get_mut(side) {
            *p += 1;
        }
        if let Some(b) = entry.bytes.get_mut(side) {
            *b += l4.ip_len;
        }
        let class = match transport {
            Transport::Tcp(seg) => {
                if seg.flags.syn()
                    && let Some(isn) = entry.isn.get_mut(side)
                {
                    *isn = seg.seq;
                }
                entry
                    .tcp
                    .on_segment(from_orig, seg.flags, !seg.payload.is_empty());
                Some(Class::for_tcp(entry.tcp))
            }
            _ => None,
        };
        let id = FlowId(entry.id);
        let class = class.unwrap_or(match l4.protocol {
            proto::UDP => Class::Udp,
            proto::ICMP | proto::ICMPV6 => Class::Icmp,
            _ => Class::Other,
        });
        self.flows.touch(idx, now_us, class);
        self.counters.in_flows += 1;
        if is_new || !nothing_to_inspect(inspection, &transport, from_orig) {
            self.inspect(now_us, idx, &transport, from_orig, is_new);
        }
        Verdict {
            action: Action::Pass,
            flow: Some(FlowRef {
                id,
                from_orig,
                is_new,
                slot: idx,
            }),
            no_flow: None,
        }
    }

    fn no_flow(&mut self, reason: NoFlowReason) -> Verdict {
        self.counters.add(reason, 1);
        Verdict::pass_no_flow(reason)
    }

    fn orphan(&mut self, released: u32) {
        let n = u64::from(released);
        self.counters.sub(NoFlowReason::FragmentHeld, n);
        self.counters.add(NoFlowReason::FragmentOrphaned, n);
    }

    fn sweep(&mut self, now_us: u64) {
        let mut events = EventSink {
            queue: &mut self.events,
            cap: self.config.max_events,
            shed: &mut self.events_shed,
            app: &mut self.app,
        };
        self.flows
            .expire(now_us, &mut |r| events.push(Event::FlowCompleted(r)));
        for tx in self.dns.poll_expired(now_us) {
            events.push(Event::Dns(Box::new(tx)));
        }
        self.names.expire(now_us, 64);
        let released = self.reassembler.expire(now_us);
        self.orphan(released);
        self.next_sweep_us = now_us.saturating_add(self.config.sweep_interval_us);
    }

    /// Let time pass without a packet: expire idle flows and stale fragments.
    /// Call it from a timer (about once a second) when the tunnel is quiet.
    pub fn poll(&mut self, now_us: u64) {
        self.sweep(now_us);
    }

    /// Complete every live flow and drop unfinished fragments (end of a capture,
    /// shutdown). Records are queued as events.
    pub fn flush(&mut self) {
        let mut events = EventSink {
            queue: &mut self.events,
            cap: self.config.max_events,
            shed: &mut self.events_shed,
            app: &mut self.app,
        };
        self.flows
            .flush(&mut |r| events.push(Event::FlowCompleted(r)));
        for tx in self.dns.drain() {
            events.push(Event::Dns(Box::new(tx)));
        }
        let released = self.reassembler.flush();
        self.orphan(released);
    }

    /// Tell the engine which app owns a flow (Android `getConnectionOwnerUid`,
    /// iOS per-app VPN metadata). Returns false if the flow is gone.
    pub fn attribute(&mut self, flow: FlowRef, app: AppId) -> bool {
        let Some(e) = self.flows.entry(flow.slot).filter(|e| e.id == flow.id.0) else {
            return false;
        };
        let (lo, hi) = e.key.sockets();
        let resp = if e.orig_is_lo { hi } else { lo };
        let weak = e.extras.as_ref().is_none_or(|x| x.name.weak());
        let seen = e.last_us;
        self.flows.set_app(flow.slot, app);
        // Now that the app is known, prefer the name its own lookup produced.
        if weak
            && let Some(hit) = self.names.lookup(seen, resp.ip(), Some(app.0))
            && let Some(x) = self.flows.extras_mut(flow.slot)
        {
            x.name.name = Some((hit.name, NameSource::Dns));
        }
        true
    }

    /// The next queued event, oldest first.
    pub fn next_event(&mut self) -> Option<Event> {
        let mut e = self.events.pop_front();
        if let Some(Event::FlowCompleted(r)) = &mut e {
            r.tunnel = self.decap.take(r.id);
        }
        e
    }

    /// A packet that may carry another (IP in IP, GRE, GTP-U; see `decap`).
    /// GTP-U's outer datagram is a UDP flow of its own; IP in IP and GRE make
    /// none, so their inner packet's verdict is the packet's.
    fn on_tunnel(&mut self, now_us: u64, direction: Direction, l4: &L4<'_>) -> Verdict {
        let udp = l4.protocol == proto::UDP;
        let mut outer = Outer {
            protocol: l4.protocol,
            src: l4.src,
            dst: l4.dst,
            snapped: l4.snapped,
            flow: None,
        };
        let outer_verdict = if udp {
            let v = self.on_outer(now_us, direction, l4);
            outer.flow = v.flow.map(|f| f.id);
            Some(v)
        } else {
            None
        };
        let Some(inner) = self.decap.enter(outer, l4.payload) else {
            return outer_verdict.unwrap_or_else(|| self.on_outer(now_us, direction, l4));
        };
        if !udp {
            self.counters.add(NoFlowReason::Tunnel, 1);
        }
        // The inner packet is a packet of its own in every count.
        self.counters.packets += 1;
        let inner_verdict = match parse_ip(inner) {
            Ok(ip) => self.on_ip(now_us, direction, &ip),
            Err(e) => self.no_flow(NoFlowReason::from_wire(e)),
        };
        self.decap.leave(inner_verdict.flow.map(|f| f.id));
        match outer_verdict {
            Some(v) => {
                self.inner_verdict = Some(inner_verdict);
                v
            }
            None => inner_verdict,
        }
    }

    /// The tunnel packet counted as itself, not looked into again.
    fn on_outer(&mut self, now_us: u64, direction: Direction, l4: &L4<'_>) -> Verdict {
        self.decap.set_outer(true);
        let v = self.on_transport(now_us, direction, l4);
        self.decap.set_outer(false);
        v
    }

    /// The verdict for the inner packet of the last packet, when that packet was
    /// a flow of its own too (GTP-U over UDP); taking it clears it. Replays use it
    /// to count the packet in both flows, as tshark's conversations do.
    pub fn take_inner_verdict(&mut self) -> Option<Verdict> {
        self.inner_verdict.take()
    }

    /// Events waiting.
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    /// Counters.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            packets: self.counters,
            flows: self.flows.counters(),
            live_flows: self.flows.len(),
            reassembly: self.reassembler.counters(),
            events_shed: self.events_shed,
            app: self.app,
            decap: self.decap.counters(),
        }
    }

    /// Memory held against the caps.
    pub fn memory(&self) -> MemoryUsage {
        let event = core::mem::size_of::<Event>();
        MemoryUsage {
            // Which tunnel carried a flow is part of that flow's record.
            flow_table: self.flows.memory_bytes() + self.decap.memory(),
            flow_table_cap: self.flows.memory_cap_bytes() + crate::decap::memory_cap(),
            reassembly: self.reassembler.buffered_bytes(),
            reassembly_cap: self.config.reassembly.max_buffered_bytes,
            events: self.events.capacity() * event,
            // A VecDeque allocates at least four slots, then doubles.
            events_cap: self.config.max_events.max(4).next_power_of_two() * event,
            inspection: self.flows.inspection().1
                + self.flows.inspection().0 * core::mem::size_of::<Inspector>()
                + self.flows.extras_live() * core::mem::size_of::<crate::flow_table::Extras>(),
            inspection_cap: self.config.max_inspection_bytes
                + self.config.max_inspected_flows * core::mem::size_of::<Inspector>()
                + self.config.flows.max_flows * core::mem::size_of::<crate::flow_table::Extras>(),
            name_cache: self.names.approx_bytes(),
        }
    }
}

fn count_name(app: &mut AppCounters, r: &FlowRecord) {
    match r.name_source {
        Some(NameSource::Sni) => app.named_by_sni += 1,
        Some(NameSource::QuicSni) => app.named_by_quic_sni += 1,
        Some(NameSource::HttpHost) => app.named_by_http_host += 1,
        Some(NameSource::Dns) => app.named_by_dns += 1,
        None => {}
    }
}

struct EventSink<'a> {
    queue: &'a mut VecDeque<Event>,
    cap: usize,
    shed: &'a mut u64,
    app: &'a mut AppCounters,
}

impl EventSink<'_> {
    fn push(&mut self, e: Event) {
        if let Event::FlowCompleted(r) = &e {
            count_name(self.app, r);
        }
        if self.queue.len() >= self.cap {
            *self.shed += 1;
        } else {
            self.queue.push_back(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EndReason;
    use crate::tcp_state::ConnState;
    use nightjar_wire::TcpFlags;

    const SYN: u8 = TcpFlags::SYN;
    const SYNACK: u8 = TcpFlags::SYN | TcpFlags::ACK;
    const ACK: u8 = TcpFlags::ACK;
    const FINACK: u8 = TcpFlags::FIN | TcpFlags::ACK;

    fn v4(src: [u8; 4], dst: [u8; 4], protocol: u8, l4: &[u8]) -> Vec<u8> {
        let total = (20 + l4.len()) as u16;
        let mut p = vec![0x45, 0];
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&[0, 1, 0, 0, 64, protocol, 0, 0]);
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(l4);
        p
    }

    fn tcp(sport: u16, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(&sport.to_be_bytes());
        t.extend_from_slice(&dport.to_be_bytes());
        t.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        t.extend_from_slice(payload);
        t
    }

    fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut u = Vec::new();
        u.extend_from_slice(&sport.to_be_bytes());
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(payload);
        u
    }

    const DEV: [u8; 4] = [10, 0, 0, 2];
    const SRV: [u8; 4] = [192, 0, 2, 1];

    fn drain(e: &mut Engine) -> Vec<FlowRecord> {
        let mut v = Vec::new();
        while let Some(Event::FlowCompleted(r)) = e.next_event() {
            v.push(r);
        }
        v
    }

    fn assert_counters_explain(e: &Engine) {
        let s = e.stats();
        assert_eq!(
            s.packets.packets,
            s.packets.in_flows + s.packets.no_flow_total()
        );
    }

    #[test]
    fn tcp_session_counts_both_ways() {
        let mut e = Engine::new(EngineConfig::default()).unwrap();
        let out = Direction::Outbound;
        let inb = Direction::Inbound;
        let v = e.on_packet(1, out, &v4(DEV, SRV, 6, &tcp(5000, 443, SYN, &[])));
        let f = v.flow.unwrap();
        assert!(f.is_new && f.from_orig);
        let v = e.on_packet(2, inb, &v4(SRV, DEV, 6, &tcp(443, 5000, SYNACK, &[])));
        assert_eq!(v.flow.unwrap().id, f.id);
        assert!(!v.flow.unwrap().from_orig);
        e.on_packet(3, out, &v4(DEV, SRV, 6, &tcp(5000, 443, ACK, b"hello")));
        e.on_packet(4, out, &v4(DEV, SRV, 6, &tcp(5000, 443, FINACK, &[])));
        e.on_packet(5, inb, &v4(SRV, DEV, 6, &tcp(443, 5000, FINACK, &[])));
        e.on_packet(6, out, &v4(DEV, SRV, 6, &tcp(5000, 443, ACK, &[])));
        assert!(e.attribute(f, AppId(10_123)));
        assert!(drain(&mut e).is_empty(), "still lingering");
        e.poll(6 + 5_000_000);
        let recs = drain(&mut e);
        assert_eq!(recs.len(), 1);
        let r = &recs[0];
        assert_eq!(r.orig, "10.0.0.2:5000".parse().unwrap());
        assert_eq!(r.resp, "192.0.2.1:443".parse().unwrap());
        assert_eq!((r.orig_pkts, r.resp_pkts), (4, 2));
        assert_eq!((r.orig_ip_bytes, r.resp_ip_bytes), (40 * 4 + 5, 80));
        assert_eq!(r.conn_state(), ConnState::Sf);
        assert_eq!(r.end, EndReason::Closed);
        assert_eq!(r.app, Some(AppId(10_123)));
        assert_eq!(r.duration_us(), 5);
        assert!(!e.attribute(f, AppId(1)), "flow is gone");
        assert_counters_explain(&e);
    }

    #[test]
    fn capture_originator_is_the_opener() {
        let mut e = Engine::new(EngineConfig::default()).unwrap();
        let u = Direction::Unknown;
        // First packet seen is the SYN-ACK: its receiver opened the connection.
        e.on_packet(1, u, &v4(SRV, DEV, 6, &tcp(443, 5000, SYNACK, &[])));
        e.on_packet(2, u, &v4(DEV, SRV, 6, &tcp(5000, 443, ACK, &[])));
        // UDP: the first sender is the originator.
        e.on_packet(3, u, &v4(SRV, DEV, 17, &udp(53, 6000, b"x")));
        e.flush();
        let recs = drain(&mut e);
        let t = recs.iter().find(|r| r.protocol == 6).unwrap();
        assert_eq!(t.orig, "10.0.0.2:5000".parse().unwrap());
        assert_eq!((t.orig_pkts, t.resp_pkts), (1, 1));
        let d = recs.iter().find(|r| r.protocol == 17).unwrap();
        assert_eq!(d.orig, "192.0.2.1:53".parse().unwrap());
        assert!(recs.iter().all(|r| r.end == EndReason::Flushed));
    }

    #[test]
    fn syn_after_close_starts_a_new_flow() {
        let mut e = Engine::new(EngineConfig::default()).unwrap();
        let o = Direction::Outbound;
        let i = Direction::Inbound;
        let a = e
            .on_packet(1, o, &v4(DEV, SRV, 6, &tcp(5000, 80, SYN, &[])))
            .flow
            .unwrap();
        e.on_packet(
            2,
            i,
            &v4(
                SRV,
                DEV,
                6,
                &tcp(80, 5000, TcpFlags::RST | TcpFlags::ACK, &[]),
            ),
        );
        let b = e
            .on_packet(3, o, &v4(DEV, SRV, 6, &tcp(5000, 80, SYN, &[])))
            .flow
            .unwrap();
        assert_ne!(a.id, b.id);
        assert!(b.is_new);
        let recs = drain(&mut e);
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].conn_state(), ConnState::Rej);
        assert_eq!(e.stats().flows.reused, 1);
    }

    #[test]
    fn icmp_request_and_reply_share_a_flow() {
        let mut e = Engine::new(EngineConfig::default()).unwrap();
        let a = e.on_packet(
            1,
            Direction::Unknown,
            &v4(DEV, SRV, 1, &[8, 0, 0, 0, 0, 1, 0, 1]),
        );
        let b = e.on_packet(
            2,
            Direction::Unknown,
            &v4(SRV, DEV, 1, &[0, 0, 0, 0, 0, 1, 0, 1]),
        );
        assert_eq!(a.flow.unwrap().id, b.flow.unwrap().id);
        e.flush();
        let r = drain(&mut e).pop().unwrap();
        assert_eq!((r.orig.port(), r.resp.port()), (8, 0));
        assert_eq!(r.proto_name(), "icmp");
        assert_eq!(r.conn_state(), ConnState::Sf);
    }

    #[test]
    fn malformed_and_unsupported_are_counted() {
        let mut e = Engine::new(EngineConfig::default()).unwrap();
        let d = Direction::Outbound;
        assert_eq!(e.on_packet(0, d, &[]).no_flow, Some(NoFlowReason::Empty));
        assert_eq!(
            e.on_packet(0, d, &[0x05, 0, 0]).no_flow,
            Some(NoFlowReason::BadVersion)
        );
        assert_eq!(
            e.on_packet(0, d, &[0x45, 0, 0]).no_flow,
            Some(NoFlowReason::TruncatedIp)
        );
        let short_udp = v4(DEV, SRV, 17, &[0, 1, 0]);
        assert_eq!(
            e.on_packet(0, d, &short_udp).no_flow,
            Some(NoFlowReason::TruncatedTransport)
        );
        let gre = v4(DEV, SRV, 47, &[0; 8]);
        assert_eq!(
            e.on_packet(0, d, &gre).no_flow,
            Some(NoFlowReason::UnsupportedProtocol)
        );
        let s = e.stats();
        assert_eq!(s.packets.packets, 5);
        assert_eq!(s.packets.no_flow_total(), 5);
        assert!(
            e.on_packet(0, d, &gre).action == Action::Pass,
            "monitor mode fails open"
        );
    }

    #[test]
    fn fragments_reassemble_into_one_flow_packet() {
        let mut e = Engine::new(EngineConfig::default()).unwrap();
        let payload = vec![7u8; 40];
        let whole = udp(4000, 53, &payload); // 48 bytes of UDP
        let frag = |off: u16, more: bool, data: &[u8]| {
            let mut p = v4(DEV, SRV, 17, data);
            let field = (off / 8) | if more { 0x2000 } else { 0 };
            p[6..8].copy_from_slice(&field.to_be_bytes());
            p
        };
        let d = Direction::Outbound;
        // Second half first.
        assert_eq!(
            e.on_packet(1, d, &frag(24, false, &whole[24..])).no_flow,
            Some(NoFlowReason::FragmentHeld)
        );
        let v = e.on_packet(2, d, &frag(0, true, &whole[..24]));
        assert!(v.flow.is_some());
        // An orphan: a non-first fragment that never completes.
        e.on_packet(3, d, &frag(800, false, &[1; 16]));
        e.flush();
        let s = e.stats();
        assert_eq!(s.packets.no_flow(NoFlowReason::FragmentReassembled), 1);
        assert_eq!(s.packets.no_flow(NoFlowReason::FragmentOrphaned), 1);
        assert_eq!(s.packets.no_flow(NoFlowReason::FragmentHeld), 0);
        assert_counters_explain(&e);
        let r = drain(&mut e).pop().unwrap();
        assert_eq!(r.orig_pkts, 1);
        assert_eq!(r.orig_ip_bytes, 20 + 48);
    }

    #[test]
    fn event_queue_sheds_and_counts() {
        let cfg = EngineConfig {
            max_events: 2,
            ..Default::default()
        };
        let mut e = Engine::new(cfg).unwrap();
        for port in 0..5u16 {
            e.on_packet(
                0,
                Direction::Outbound,
                &v4(DEV, SRV, 17, &udp(port, 53, b"q")),
            );
        }
        e.flush();
        assert_eq!(e.pending_events(), 2);
        assert_eq!(e.stats().events_shed, 3);
    }

    /// Regression (fuzz `engine_sequence`): a queue of one event must still
    /// account within its cap.
    #[test]
    fn event_memory_within_cap_for_tiny_queue() {
        let cfg = EngineConfig {
            max_events: 1,
            ..Default::default()
        };
        let mut e = Engine::new(cfg).unwrap();
        e.on_packet(
            1,
            Direction::Outbound,
            &v4(DEV, SRV, 17, &udp(54_321, 53, &[])),
        );
        e.flush();
        let m = e.memory();
        assert!(m.events <= m.events_cap, "{m:?}");
        assert!(m.total() - m.name_cache <= m.total_cap(), "{m:?}");
    }

    #[test]
    fn config_is_validated() {
        let mut cfg = EngineConfig::default();
        cfg.flows.max_flows = 0;
        assert!(matches!(
            Engine::new(cfg),
            Err(ConfigError::MaxFlows { got: 0, .. })
        ));
        let cfg = EngineConfig {
            max_events: 0,
            ..Default::default()
        };
        assert_eq!(Engine::new(cfg).err(), Some(ConfigError::MaxEvents));
    }

    #[test]
    fn idle_flows_time_out_by_class() {
        let mut e = Engine::new(EngineConfig::default()).unwrap();
        e.on_packet(0, Direction::Outbound, &v4(DEV, SRV, 17, &udp(1, 53, b"q")));
        e.on_packet(
            0,
            Direction::Outbound,
            &v4(DEV, SRV, 6, &tcp(2, 443, SYN, &[])),
        );
        e.poll(30_000_000);
        let recs = drain(&mut e);
        assert_eq!(recs.len(), 1, "the half-open TCP flow goes first");
        assert_eq!(recs[0].conn_state(), ConnState::S0);
        e.poll(60_000_000);
        let recs = drain(&mut e);
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].end, EndReason::IdleTimeout);
        assert_eq!(e.stats().live_flows, 0);
    }
}
