//! Nightjar's local-VPN relay.
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
