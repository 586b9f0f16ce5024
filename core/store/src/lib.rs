//! Nightjar's telemetry store: the record of which app talked to what, when
//! and how much, kept on the device, searchable, and exportable in formats
//! SIEM tools already ingest (Zeek JSON logs, OCSF 1.3, CSV).
//!
//! Never: block the caller (a full queue drops and counts), or let a migration skip a version.
//!
//! Tests: `tests/*.rs` (one file per concern: writer, query, digest, retention, migrations from v1,
//! crash, partitions, export, coverage); bench: `benches/store.rs`.
//!
//! # Schema
//! One SQLite file ([`migrations`] has the DDL and why each index exists):
//! - `flows`: one row per flow (conn.log-like), keyed by the engine flow id,
//!   with app attribution, the best name and its source, SNI/ALPN/JA4/ECH.
//!   A view over partition tables the writer rotates ([`flow_parts`]), so
//!   the writer's index inserts stay within a cached partition.
//! - `dns`: one row per DNS transaction, answers and TTLs as JSON arrays.
//! - `alerts`: detector output with signals and provenance as JSON.
//! - `domains`: first/last sighting and count per domain, per app and
//!   device-wide (`app_key = -1`).
//! - `apps`, `feeds`, `state`: app inventory, loaded intel feeds (names and
//!   versions only: the intel index itself lives elsewhere), and opaque engine
//!   state blobs (baselines, previously-seen sets).
//!
//! Addresses are 4/16-byte BLOBs and names are also kept label-reversed
//! (`org.example.www`) so "a domain and its subdomains" is an index range
//! ([`schema`]).
//!
//! # Why WAL and incremental vacuum
//! WAL lets the UI query while the writer thread commits, makes each commit
//! one sequential append, and with `synchronous=NORMAL` a commit costs no
//! fsync (a power cut may lose the last commits but never corrupts the file;
//! an app crash loses nothing committed). `auto_vacuum=INCREMENTAL` lets
//! retention hand space back in small `incremental_vacuum(n)` steps; a full
//! `VACUUM` would rewrite the whole file and stall the writer on a phone.
//!
//! # Why rusqlite with `bundled`
//! The system SQLite differs across Android versions and iOS releases (and
//! some vendor builds omit features); compiling the amalgamation in gives one
//! known SQLite version, with the same behaviour on both platforms and in CI.
//!
//! # Off the packet path
//! [`StoreWriter`] owns a thread behind a bounded queue; senders never wait
//! (`try_send`, drops counted). See [`writer`].
//!
//! # Write cost (schema v3)
//! Profiled with callgrind on `examples/insert_flows.rs`: the writer spent a
//! quarter of its instructions on the statement journal `INSERT OR REPLACE`
//! forces, so flows go in with a plain `INSERT` on one statement prepared
//! per batch (the replacing statement only runs for a re-emitted id). The
//! v3 row is smaller (duration instead of end time, enum names as one-byte
//! codes, `sni`/`http_host` not repeated when equal to the name, Community
//! ID as 20 raw bytes; [`migrations::V3`]). What remains is mostly B-tree
//! work in the five flow indexes, roughly equal shares each.
//!
//! # In detail
//!
//! (Moved here from ARCHITECTURE.md's crate map, which keeps one sentence per crate.)
//!
//! The SQLite record: schema with versioned migrations (v1 onward, tested), a writer thread behind
//! a bounded queue (drops and counts when full; never blocks the caller), incremental retention by
//! age and size, paged queries (domain with subdomains via reversed names, app, IP, time, protocol;
//! alerts; timelines; top talkers; summary), retroactive re-checks (`recheck_intel`: stored flows
//! and DNS against a compiled intel index, one `retroactive` alert per indicator and app with the
//! indicator's provenance, made idempotent by a unique `match_key`), Zeek/OCSF/CSV exports, the
//! packets of alerted flows (`flow_packets`, v4, bounded by `max_packet_bytes`, oldest shed and
//! counted) and their raw-IP pcap export, the coverage report; with its `engine` feature,
//! `EngineRows`, the one conversion from engine records and detector alerts to rows (hello and HTTP
//! details joined by flow id, ids offset past the stored maximum, alert flows named by the stored
//! flow uids, provenance JSON shared with alerts.log) that the CLI and the bindings share, plus
//! `sighting`, the `domains` row each named flow adds (merged per batch by the writer) behind first
//! contacts and "contacted after install". Flows live in partition tables behind a `flows` view
//! (schema v6, see *Flows are partitioned* below). `StoreConfig::phone()` is the mobile sizing
//! (1,024-row batches, 4,096-record queue, 2 MiB page cache per connection, 131,072-flow
//! partitions). An edge: it owns a thread and a file.
//!
//! Schema v7 (a migration step that is code, since partitions are made at run time) adds each
//! partition's `tunnel` column (`KIND PROTO SRC DST [PARENT_UID]`, NULL outside tunnels;
//! `tunnel_col.rs`) and `dns.query_too_long`; conn.log exports carry `tunnel`/`tunnel_parents` and
//! dns.log `query_too_long`, as the CLI's logs do.
#![forbid(unsafe_code)]

mod codec;
mod codes;
pub mod coverage;
pub mod digest;
#[cfg(feature = "engine")]
pub mod engine_rows;
pub mod error;
pub mod export;
pub mod flow_parts;
pub mod migrations;
pub mod overview;
pub mod query;
pub mod recheck;
pub mod retention;
pub mod rows;
pub mod schema;
mod store;
mod tunnel_col;
pub mod writer;

pub use coverage::{BlindSpot, CoverageReport, DnsBypass};
pub use digest::{DigestLimits, FlowDigest, FlowTotals, NamingCounts};
pub use error::{Result, StoreError};
pub use overview::{ActivityBin, DomainActivity, FirstContact};
pub use query::{Cursor, Page, Query, Summary, Talker, TalkerGroup, TimelineItem};
pub use retention::{Clock, RetentionPolicy, RetentionReport, SystemClock};
pub use rows::{
    AlertAction, AlertRow, AlertState, AppRow, DnsRow, DomainSeen, FeedRow, FlowPackets, FlowRow,
    FlowTunnel, MatchInfo, PacketRow, Record, Severity, Signal, StateBlob,
};
pub use store::{Store, TimeWindow};
pub use writer::{
    CommitCallback, CommitInfo, FaultKind, RecordSender, StoreConfig, StoreWriter, WriterStatus,
};
