use core::fmt;

/// The protocol layer a [`WireError`] was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Layer {
    /// IPv4 header.
    Ipv4,
    /// IPv6 fixed header.
    Ipv6,
    /// An IPv6 extension header.
    Ipv6Extension,
    /// TCP header.
    Tcp,
    /// UDP header.
    Udp,
    /// ICMPv4 or ICMPv6 header.
    Icmp,
    /// SCTP common header.
    Sctp,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Ipv4 => "IPv4",
            Layer::Ipv6 => "IPv6",
            Layer::Ipv6Extension => "IPv6 extension header",
            Layer::Tcp => "TCP",
            Layer::Udp => "UDP",
            Layer::Icmp => "ICMP",
            Layer::Sctp => "SCTP",
        })
    }
}

/// Why a packet could not be read. Each variant is a reason the engine counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The buffer held no bytes at all.
    #[error("empty packet")]
    Empty,
    /// The IP version nibble was neither 4 nor 6.
    #[error("IP version {0} is not 4 or 6")]
    BadVersion(u8),
    /// The buffer ended before a header, or before the length a header declared.
    #[error("{0} header truncated")]
    Truncated(Layer),
    /// A header's own length field is impossible (shorter than the fixed part,
    /// longer than the packet).
    #[error("{0} header has an impossible length field")]
    BadLength(Layer),
    /// More IPv6 extension headers than any real stack sends.
    #[error("too many IPv6 extension headers")]
    TooManyExtensionHeaders,
    /// The payload is ESP-encrypted; nothing past it can be read.
    #[error("payload is ESP-encrypted")]
    Encrypted,
    /// An IPv6 jumbogram (payload length 0 with a jumbo option), which no tunnel
    /// MTU allows.
    #[error("IPv6 jumbogram")]
    Jumbogram,
}
