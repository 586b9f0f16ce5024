//! Counters of every packet the engine did not put in a flow, by reason, so
//! that `packets == in_flows + sum(no_flow)` always holds.

use nightjar_wire::{Layer, WireError};

/// Why a packet made no flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NoFlowReason {
    /// Zero-length packet.
    Empty,
    /// IP version neither 4 nor 6.
    BadVersion,
    /// Shorter than the IP header, or than its length field says.
    TruncatedIp,
    /// An IP length field that cannot be right.
    BadIpLength,
    /// A broken IPv6 extension header chain (truncated, too long).
    BadExtensionHeaders,
    /// Shorter than its transport header.
    TruncatedTransport,
    /// A transport length field that cannot be right.
    BadTransportLength,
    /// ESP: nothing past the IP header can be read.
    Encrypted,
    /// IPv6 jumbogram.
    Jumbogram,
    /// A transport protocol the engine keeps no flows for (GRE, OSPF, …).
    UnsupportedProtocol,
    /// A fragment whose datagram was later reassembled; the fragment that
    /// completed it is counted in the flow.
    FragmentReassembled,
    /// A fragment still waiting for the rest of its datagram.
    FragmentHeld,
    /// A fragment whose datagram never completed (timed out, evicted for room,
    /// or flushed): an orphan.
    FragmentOrphaned,
    /// A fragment refused: overlapping, over a cap, or an impossible length.
    FragmentDropped,
    /// The flow table has a cap of zero flows, or could not grow.
    FlowTableFull,
    /// An IP-in-IP or GRE packet whose inner packet was read: that inner packet
    /// is counted (in `packets` too) on its own.
    Tunnel,
}

impl NoFlowReason {
    /// Every reason, in a stable order.
    pub const ALL: [NoFlowReason; 16] = [
        NoFlowReason::Empty,
        NoFlowReason::BadVersion,
        NoFlowReason::TruncatedIp,
        NoFlowReason::BadIpLength,
        NoFlowReason::BadExtensionHeaders,
        NoFlowReason::TruncatedTransport,
        NoFlowReason::BadTransportLength,
        NoFlowReason::Encrypted,
        NoFlowReason::Jumbogram,
        NoFlowReason::UnsupportedProtocol,
        NoFlowReason::FragmentReassembled,
        NoFlowReason::FragmentHeld,
        NoFlowReason::FragmentOrphaned,
        NoFlowReason::FragmentDropped,
        NoFlowReason::FlowTableFull,
        NoFlowReason::Tunnel,
    ];

    /// A stable snake_case name for logs and stats.
    pub fn name(self) -> &'static str {
        match self {
            NoFlowReason::Empty => "empty",
            NoFlowReason::BadVersion => "bad_ip_version",
            NoFlowReason::TruncatedIp => "truncated_ip",
            NoFlowReason::BadIpLength => "bad_ip_length",
            NoFlowReason::BadExtensionHeaders => "bad_ipv6_extension_headers",
            NoFlowReason::TruncatedTransport => "truncated_transport",
            NoFlowReason::BadTransportLength => "bad_transport_length",
            NoFlowReason::Encrypted => "esp_encrypted",
            NoFlowReason::Jumbogram => "ipv6_jumbogram",
            NoFlowReason::UnsupportedProtocol => "unsupported_protocol",
            NoFlowReason::FragmentReassembled => "fragment_reassembled",
            NoFlowReason::FragmentHeld => "fragment_held",
            NoFlowReason::FragmentOrphaned => "fragment_orphaned",
            NoFlowReason::FragmentDropped => "fragment_dropped",
            NoFlowReason::FlowTableFull => "flow_table_full",
            NoFlowReason::Tunnel => "tunnel",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|&r| r == self).unwrap_or(0)
    }

    pub(crate) fn from_wire(e: WireError) -> Self {
        match e {
            WireError::Empty => NoFlowReason::Empty,
            WireError::BadVersion(_) => NoFlowReason::BadVersion,
            WireError::Truncated(Layer::Ipv4 | Layer::Ipv6) => NoFlowReason::TruncatedIp,
            WireError::BadLength(Layer::Ipv4 | Layer::Ipv6) => NoFlowReason::BadIpLength,
            WireError::Truncated(Layer::Ipv6Extension)
            | WireError::BadLength(Layer::Ipv6Extension)
            | WireError::TooManyExtensionHeaders => NoFlowReason::BadExtensionHeaders,
            WireError::Truncated(_) => NoFlowReason::TruncatedTransport,
            WireError::BadLength(_) => NoFlowReason::BadTransportLength,
            WireError::Encrypted => NoFlowReason::Encrypted,
            WireError::Jumbogram => NoFlowReason::Jumbogram,
            _ => NoFlowReason::BadIpLength,
        }
    }
}

/// Packet counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacketCounters {
    /// Packets given to the engine, plus the inner packets read out of tunnels.
    pub packets: u64,
    /// Bytes given to the engine.
    pub bytes: u64,
    /// Packets counted in a flow.
    pub in_flows: u64,
    no_flow: [u64; NoFlowReason::ALL.len()],
}

impl PacketCounters {
    /// Packets that made no flow for `reason`.
    pub fn no_flow(&self, reason: NoFlowReason) -> u64 {
        self.no_flow.get(reason.index()).copied().unwrap_or(0)
    }

    /// Every reason with a non-zero count.
    pub fn no_flow_nonzero(&self) -> impl Iterator<Item = (NoFlowReason, u64)> + '_ {
        NoFlowReason::ALL
            .iter()
            .map(|&r| (r, self.no_flow(r)))
            .filter(|&(_, n)| n > 0)
    }

    /// Packets that made no flow, over all reasons.
    pub fn no_flow_total(&self) -> u64 {
        self.no_flow.iter().sum()
    }

    pub(crate) fn add(&mut self, reason: NoFlowReason, n: u64) {
        if let Some(c) = self.no_flow.get_mut(reason.index()) {
            *c += n;
        }
    }

    pub(crate) fn sub(&mut self, reason: NoFlowReason, n: u64) {
        if let Some(c) = self.no_flow.get_mut(reason.index()) {
            *c = c.saturating_sub(n);
        }
    }
}

impl serde::Serialize for PacketCounters {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("packets", &self.packets)?;
        m.serialize_entry("bytes", &self.bytes)?;
        m.serialize_entry("in_flows", &self.in_flows)?;
        for r in NoFlowReason::ALL {
            m.serialize_entry(r.name(), &self.no_flow(r))?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = NoFlowReason::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), NoFlowReason::ALL.len());
    }

    #[test]
    fn add_sub_total() {
        let mut c = PacketCounters::default();
        c.add(NoFlowReason::FragmentHeld, 3);
        c.sub(NoFlowReason::FragmentHeld, 2);
        c.add(NoFlowReason::Encrypted, 1);
        assert_eq!(c.no_flow(NoFlowReason::FragmentHeld), 1);
        assert_eq!(c.no_flow_total(), 2);
        assert_eq!(c.no_flow_nonzero().count(), 2);
    }
}
