//! Nightjar's sans-IO packet engine.
//!
//! Never: read a clock, open a file, start a thread or touch a socket; never drop a packet in
//! monitor mode (every verdict is `Pass`); never hold more than its caps (every shed is counted).
//!
//! Tests: in-module unit tests, `tests/app_layer.rs`, and the fixture comparisons in
//! `tests/integration`; benches: `benches/engine.rs` (criterion) and `bench/instructions.sh`
//! (callgrind); fuzz target `engine_sequence`.
//!
//! [`Engine::on_packet`] takes a raw IP packet, the time, and the direction it
//! crossed the tunnel, and returns a [`Verdict`]; completed flows come out as
//! [`Event`]s the caller drains. Nothing here reads a clock, opens a file or
//! starts a thread, and every table has a cap (see `ARCHITECTURE.md`).
//!
//! # In detail
//!
//! (Moved here from ARCHITECTURE.md's crate map, which keeps one sentence per crate.)
//!
//! The sans-IO engine: `Engine::on_packet(now, direction, bytes) -> Verdict`, fragment reassembly,
//! the bounded flow table with per-class timeouts, TCP state, Zeek `conn_state`, Community ID,
//! counters of every packet that made no flow, memory accounting; the application layer that names
//! flows (in-order TCP stream starts, per-flow inspectors, name precedence) and emits DNS, hello
//! and HTTP records.
#![forbid(unsafe_code)]

mod app_records;
mod counters;
mod decap;
mod engine;
mod flow_key;
mod flow_table;
mod inspect;
mod names;
mod reassembly;
mod record;
mod stream;
mod tcp_state;

pub use app_records::{HelloRecord, HttpRecord};
pub use counters::{NoFlowReason, PacketCounters};
pub use decap::{
    DecapCounters, MAX_DEPTH as MAX_TUNNEL_DEPTH, MAX_PARENTS as MAX_TUNNEL_PARENTS, Tunnel,
};
pub use engine::{
    Action, AppCounters, ConfigError, Engine, EngineConfig, EngineStats, Event, FlowRef,
    MemoryUsage, Verdict,
};
pub use flow_key::{Endpoint, FlowKey};
pub use flow_table::{FlowTable, FlowTableConfig, FlowTableCounters, Timeouts};
pub use names::NameSource;
pub use nightjar_dns::{
    DnsTransaction, NameCacheConfig, TransactionConfig, Transport as DnsTransport,
};
pub use nightjar_wire::Direction;
pub use nightjar_wire::tunnel::TunnelKind;
pub use reassembly::{
    Datagram, DropReason, FragmentIn, Outcome, Reassembler, ReassemblyConfig, ReassemblyCounters,
};
pub use record::{AppId, EndReason, FlowId, FlowRecord, uid_for};
pub use tcp_state::{ConnState, TcpHistory, TcpState};
