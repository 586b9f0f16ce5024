//! Nightjar's local-VPN relay.
//!
//! Never: queue without bound (backpressure instead), or cut the device off on an internal error.
//!
//! Tests: in-module tests and `tests/e2e.rs` (network namespaces and a real TUN, root only, SKIPPED
//! otherwise); benches: `bench/throughput.sh`, `bench/dns_upstreams.sh`.
//!
//! When the app's VPN is not connected to a remote server, the packets it
//! reads from the tunnel must still reach the internet. [`Relay`] terminates
//! the device's TCP connections in a smoltcp [`Interface`](smoltcp::iface::Interface)
//! running in any-IP mode, relays UDP per flow, answers or forwards DNS, and
//! shows every packet (both directions) to the [`nightjar_engine::Engine`] as a
//! monitor would. Outbound sockets come from a host-supplied [`Dialer`]
//! (Android must `protect()` them, iOS opens sockets that bypass the tunnel);
//! [`StdDialer`] is the Linux one.
//!
//! The core is sans-IO: the caller passes bytes and a time in microseconds
//! since the Unix epoch, reports socket readiness by [`Token`], writes the
//! packets [`Relay::poll`] returns back to the tunnel, and sleeps until
//! [`Relay::next_deadline`]. Every table has a cap (see [`RelayConfig`]);
//! above it new flows are refused and counted, never queued.
//!
//! # In detail
//!
//! (Moved here from ARCHITECTURE.md's crate map, which keeps one sentence per crate.)
//!
//! Local-VPN mode: a smoltcp `Interface` in any-IP mode terminating each device TCP connection
//! (socket per SYN, MSS = MTU − 40), relayed through a host-supplied `Dialer`; UDP relayed per
//! flow; DNS forwarded (policy hook: forward, NXDOMAIN, sinkhole); blocked flows get RST or ICMP
//! unreachable; caps on sockets, buffer pool, in-flight DNS; backpressure instead of queues;
//! `next_deadline()` so the loop sleeps when idle (0 CPU-s over 10 s idle, measured); packet
//! buffers recycled through a bounded pool (`poll_with`), the tunnel-bound queue capped at 256
//! packets and handed out every poll round (a pause must not queue every socket's retransmitted
//! window at once), no receive-checksum pass. The engine sees every packet both ways. Binaries
//! (Linux): `nightjar-netns` (a network namespace whose default route is a TUN served by the relay;
//! `--intel-feed` runs `nightjar-detect`'s pipeline on the engine's events and prints alerts with
//! app and flow ids; `--intel-block SEVERITY` makes the relay's DNS and flow hooks ask that
//! pipeline (`PipelinePolicy`, `record_relay_event` in `pipeline_policy.rs`, shared with the
//! bindings), so what is blocked and what the alert says was blocked come from one decision, and
//! the relay's `FlowBlocked`/`DnsBlocked` events are reported back to it as enforcements) and
//! `nightjar-testserver` (far-side HTTP, HTTPS with a CA generated at start, DNS over UDP/TCP, DoT
//! on :853 and DoH on :443 with the same CA, and UDP echo for the end-to-end tests and
//! `bench/throughput.sh`). Encrypted DNS upstreams (`secure_dns.rs`, `Relay::set_secure_dns`): UDP
//! queries to the tunnel resolver go over DNS-over-TLS (RFC 7858, pipelined on one connection, IDs
//! rewritten and restored) or DNS-over-HTTPS (RFC 8484 POST over HTTP/1.1, one request at a time on
//! one kept-alive connection), through rustls with `rustls-platform-verifier`
//! (`client_config(extra_roots)`: the harness's `--dns-ca` adds its test CA; production passes
//! none); the connection is opened through the host `Dialer` on demand and reopened once if lost
//! mid-query; in-flight queries share `DnsConfig::max_inflight`, each has `timeout_us`; a failed
//! connection or a missed deadline answers SERVFAIL (`dns_servfail`, `dns_upstream_failed`
//! counted). With a secure upstream, TCP queries from the device get RST instead of leaving in
//! clear. With a plain upstream, a TCP connection to the tunnel resolver is cut into its
//! length-prefixed messages (`dns_stream.rs`, RFC 7766): each query meets the DNS policy like a UDP
//! one (refusals answered on the same stream, counted as `dns_nxdomain`/`dns_sinkholed`, reported
//! as `DnsBlocked { transport: Tcp }`), the rest goes upstream, and upstream answers reach the
//! device whole (a local answer never lands inside one) and name addresses for the flow policy;
//! both directions queue at most two messages before the other side's window closes. Upstream
//! strings (`IP[:PORT]`, `udp://`, `tls://IP[:853]#NAME`, `https://IP[:443][/PATH]#NAME`) are
//! parsed by `DnsUpstream` (`upstream.rs`), shared by `nightjar-netns` and the bindings.
//! `nightjar-netns --dns-upstream udp://IP:53
#![forbid(unsafe_code)]

mod budget;
mod device;
mod dialer;
mod dns;
mod dns_stream;
mod ip;
mod names;
mod nat64;
mod pipeline_policy;
mod policy;
mod relay;
mod secure_dns;
mod tcp_relay;
mod udp_relay;
mod upstream;

#[cfg(test)]
mod relay_tests;

pub use budget::{ConfigError, DnsConfig, RelayConfig, RelayMemory};
pub use dialer::{DialError, Dialer, Outbound, OutboundDatagram, StdDialer, Token};
pub use nat64::Nat64Prefix;
pub use pipeline_policy::{PipelinePolicy, SharedPipeline, lock_pipeline, record_relay_event};
pub use policy::{AllowAll, DnsDecision, DnsPolicy, FlowDecision, FlowPolicy, NameList};
pub use relay::{BlockedFlow, PathChange, Relay, RelayEvent, RelayStats, Transport};
pub use secure_dns::{SecureDnsConfig, SecureDnsError, SecureTransport, client_config};
pub use upstream::{DnsUpstream, UpstreamError, pem_certificates};
