//! DNS for Nightjar: decode messages ([`parse`]), frame DNS over TCP
//! ([`TcpDnsFramer`]), pair queries with responses into dns.log-like records
//! ([`DnsTransactions`]) and remember which name each address was resolved from
//! ([`NameCache`]).
//!
//! Never: hand-decode a DNS message (hickory-proto does), panic on a malformed one, or keep more
//! than the cache and transaction caps.
//!
//! Tests: in-module unit tests and `tests/fixtures.rs` (Zeek dns.log baselines); bench:
//! `benches/dns.rs`; fuzz targets `dns_*`.
//!
//! Everything is sans-IO: callers pass bytes and the time (`now_us`, microseconds
//! since the Unix epoch); every table is capped and counts what it sheds.
#![forbid(unsafe_code)]

pub mod message;
pub mod name_cache;
pub mod presentation;
pub mod tcp_framing;
pub mod transactions;

#[cfg(test)]
mod test_messages;

pub use message::{
    Answer, AnswerData, DnsError, DnsMessage, Flags, ParseLimits, Question, ServiceBinding, parse,
    parse_with_limits,
};
pub use name_cache::{NameCache, NameCacheConfig, NameCacheCounters, NameHit};
pub use tcp_framing::{FrameError, FramerCounters, Frames, TcpDnsFramer};
pub use transactions::{
    DnsCounters, DnsTransaction, DnsTransactions, Endpoints, TransactionConfig, Transport, TxNote,
    rcode_name,
};
