//! Deterministic synthetic phone traffic: raw IP packets with timestamps, directions and
//! owning apps, for `nightjar demo`, for tests that must run without downloaded captures, and
//! for benchmarks. The same seed always gives the same bytes.
//!
//! Never: use an unseeded random source: every scenario is reproducible from its seed.
//!
//! Tests: in-module tests; its scenarios drive `tests/integration`, the CLI demo and the benches.
//!
//! Layers, each usable alone:
//! - [`packet`]: whole IPv4/IPv6 packets (TCP with any flag combination, UDP, ICMP echo) with
//!   valid checksums, emitted through smoltcp, plus allocation-free [`packet::write_syn`].
//! - [`payload`]: hand-built DNS (queries, A/AAAA answers, CNAME chains with name compression,
//!   NXDOMAIN, TCP framing), a TLS 1.3 ClientHello rustls accepts (optionally with a 1216-byte
//!   X25519MLKEM768 key share so it spans two segments), a TLS server flight, HTTP/1.1, NTP.
//! - [`session`]: one flow as a list of [`SynthPacket`]s: TCP with handshake, MSS segmentation,
//!   delayed ACKs and teardown; TLS and HTTP on top of it; DNS over UDP and TCP; ICMP pings;
//!   UDP exchanges.
//! - [`scenario`]: the demo ([`phone_session`]) with its per-flow ground truth.
//! - [`flood`]: endless random-5-tuple SYN and UDP streams ([`syn_flood`], [`udp_flood`]).
//!
//! # The demo scenario
//!
//! Fifteen minutes from 2026-11-01T09:00:00Z on a phone at 10.111.222.2 / fd00::2 whose DNS
//! goes to the tunnel resolver 10.111.222.1; about 1,300 packets in 70 flows. Every connection
//! is preceded by a DNS lookup of its name from the same app, so flows can be named by
//! correlating answers, and TLS flows also carry the name as SNI. Each app is there to exercise
//! a later detection:
//!
//! - **Browser** (`com.example.browser`): HTTPS to well-known sites over IPv4 and IPv6 with
//!   post-quantum ClientHellos split over two segments, a repeat visit, and one plain-HTTP site
//!   (`neverssl.com`, named only by its Host header). The benign baseline: names seen before,
//!   large downloads, nothing to flag.
//! - **Messenger** (`com.example.messenger`): one long-lived TLS connection with a keepalive
//!   about every 4.5 minutes and a server push. Regular but benign periodic traffic, which
//!   beaconing detection must tell apart from the flashlight's by period and by the connection
//!   staying open.
//! - **Weather** (`com.example.weather`): two forecast refreshes through a CNAME to an edge
//!   host, so names must follow CNAME chains.
//! - **News** (`com.example.news`): an API call, then image fetches from a CDN behind a
//!   two-step CNAME chain, over IPv6 and later IPv4. Many flows to a name first seen today:
//!   the unseen-domain detector's benign case.
//! - **Flashlight Pro** (`com.brightbeam.flashlight`): installed two minutes in. Fifteen
//!   seconds after install (communication right after install) it looks up six random-looking
//!   names (DGA): five get NXDOMAIN and one is never answered (an NXDOMAIN burst). It then
//!   beacons to [`scenario::SUSPICIOUS_DOMAIN`] every 60 s ± 1.5 s over fresh TLS connections
//!   (beaconing, an unseen domain, and a malicious contact once that name is on a threat list).
//! - **Android System** (uid 1000): NTP to `time.android.com` and an update check whose DNS
//!   lookup goes over TCP; and ICMP/ICMPv6 pings with no owning app (`app_uid: None`), which
//!   the engine must report as unattributed rather than guess.
#![forbid(unsafe_code)]

pub mod detection;
pub mod doh;
mod error;
pub mod flood;
pub mod packet;
pub mod payload;
mod rng;
pub mod scenario;
pub mod session;
pub mod tunnel;

pub use error::BuildError;
pub use flood::{SynFlood, UdpFlood, syn_flood, udp_flood};
pub use scenario::{AppInfo, FlowTruth, Scenario, phone_session, try_phone_session};
pub use session::SynthPacket;
