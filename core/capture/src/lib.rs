//! Capture-file reading for `nightjar replay` and the tests, plus a small pcap writer.
//!
//! Never: trust a capture's lengths, or grow the packet ring past its byte cap.
//!
//! Tests: in-module tests and `tests/fixtures.rs` (the third-party captures); fuzz target
//! `capture_*`.
//!
//! This is an edge crate: unlike the packet path it does file I/O. It turns a capture into a
//! stream of [`Frame`]s, each with its timestamp (µs since the Unix epoch, the unit the
//! engine takes) and the raw IP packet found under the link-layer header, which is what the
//! engine is fed on a phone, where the tunnel delivers bare IP.
//!
//! # What is read
//!
//! - **pcap**, both byte orders, microsecond (`a1 b2 c3 d4`) and nanosecond (`a1 b2 3c 4d`)
//!   magic.
//! - **pcapng**, any number of sections and interfaces, with each interface's own link type,
//!   `if_tsresol` (10^-n and 2^-n) and `if_tsoffset`. Enhanced, Simple and the obsolete Packet
//!   blocks are read; other blocks are skipped.
//! - Either of them **gzip**-compressed (multi-member too). Compression and format are told
//!   by magic number, never by file name.
//! - Link types: raw IP (101, 228, 229, and the 12 / 14 some BSDs write), Ethernet with any
//!   stack of 802.1Q / 802.1ad tags, Linux cooked v1 (113) and v2 (276), BSD Null (0, either
//!   byte order), OpenBSD Loop (108) and PPP (9, 50). See [`decap`].
//!
//! # Why `pcap-file`
//!
//! It is the maintained pure-Rust parser for both containers, has no C dependency (libpcap
//! would complicate the mobile builds) and exposes slice parsers that do no I/O. This crate
//! drives those parsers over its own bounded buffer, which is what makes frames borrowable
//! without a copy, lets truncated files be told apart from corrupt ones, and fills in what
//! `pcap-file` 2.0 leaves to the caller: it reports pcapng timestamps as raw counts (treated
//! as nanoseconds whatever `if_tsresol` says), does not map packets to their interface's link
//! type, and leaves block padding in Simple Packet Block data.
//!
//! # Example
//!
//! ```no_run
//! use nightjar_capture::CaptureReader;
//!
//! let mut reader = CaptureReader::open("trace.pcap.gz".as_ref())?;
//! while let Some(frame) = reader.next_frame() {
//!     let frame = frame?;
//!     if let Ok(ip) = frame.ip {
//!         println!("{} µs: {} bytes of IP", frame.ts_micros, ip.len());
//!     }
//! }
//! # Ok::<(), nightjar_capture::CaptureError>(())
//! ```
//!
//! # In detail
//!
//! (Moved here from ARCHITECTURE.md's crate map, which keeps one sentence per crate.)
//!
//! pcap/pcapng (gzip) reading, link-layer decapsulation, a raw-IP pcap writer, and `PacketRing`:
//! the bounded ring of recent packets keyed by flow id (one byte buffer allocated at its cap, a
//! packet cap, a snap length, counted eviction; off by default) from which an alerted flow's
//! packets are taken for the store. An edge: it does file I/O and holds packet bytes the engine
//! never keeps.
#![forbid(unsafe_code)]

mod error;
mod link;
mod reader;
pub mod ring;
mod writer;

pub use error::{CaptureError, FormatError, WriteError};
pub use link::{DecapError, LinkType, decap};
pub use reader::{CaptureFormat, CaptureReader, Frame, MAX_INTERFACES, MAX_RECORD_BYTES};
pub use ring::{PacketRing, RingConfig, RingPacket, RingStats};
pub use writer::{PcapWriter, WRITER_SNAPLEN};
