//! Zero-copy checked views of the packet headers Nightjar reads.
//!
//! Never: panic, allocate or read past a checked length on any input; no clocks, files or threads
//! (sans-IO).
//!
//! Tests: in-module byte fixtures beside each view (smoltcp style), every-prefix and bit-flip
//! tests; fuzz targets `wire_*` in `fuzz/`.
//!
//! Every view follows smoltcp's contract: construct with `new_checked` (or a
//! `parse_*` function that calls it), and from then on no accessor can panic.
//! IPv4, IPv6, TCP and UDP use `smoltcp::wire` directly; ICMP and SCTP get small
//! views of their own here because smoltcp's ICMPv6 view rejects message types it
//! does not know, and it has no SCTP at all, while a flow table only needs the
//! first bytes of either.
//!
//! Checksums are not verified on the hot path (the OS already did, and a
//! capture's offloaded checksums are often wrong); [`checksum`] offers it for
//! the callers that want it.
#![forbid(unsafe_code)]

pub mod checksum;
mod error;
pub mod icmp;
pub mod ip;
mod ipv6_ext;
pub mod sctp;
pub mod transport;
pub mod tunnel;

pub use error::{Layer, WireError};
pub use ip::{Fragment, IpHeader, IpVersion, parse_ip, parse_ip_snapped, skip_ipv6_extensions};
pub use transport::{TcpFlags, TcpSegment, Transport, parse_transport, parse_transport_snapped};

/// Which way a packet crossed the tunnel, as the platform reports it.
///
/// `Unknown` is for captures, where no side is known to be the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the device towards the network.
    Outbound,
    /// From the network towards the device.
    Inbound,
    /// Not known (a capture file).
    Unknown,
}

/// IANA protocol numbers the engine treats specially.
pub mod proto {
    /// Hop-by-hop options (IPv6 extension header).
    pub const HOP_BY_HOP: u8 = 0;
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// Routing header (IPv6 extension header).
    pub const ROUTING: u8 = 43;
    /// Fragment header (IPv6 extension header).
    pub const FRAGMENT: u8 = 44;
    /// Encapsulating security payload: what follows is encrypted.
    pub const ESP: u8 = 50;
    /// Authentication header.
    pub const AH: u8 = 51;
    /// ICMP for IPv6.
    pub const ICMPV6: u8 = 58;
    /// No next header (IPv6).
    pub const NO_NEXT_HEADER: u8 = 59;
    /// Destination options (IPv6 extension header).
    pub const DESTINATION_OPTIONS: u8 = 60;
    /// Mobility header (IPv6 extension header).
    pub const MOBILITY: u8 = 135;
    /// SCTP.
    pub const SCTP: u8 = 132;
}
