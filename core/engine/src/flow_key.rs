//! The 5-tuple key of a flow, stored in one canonical orientation so that both
//! directions of a conversation find the same entry with one hash lookup.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One side of a flow: address and port (ICMP: type or counterpart type/code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// IPv4 addresses are stored as IPv4-mapped IPv6 so the key has one shape.
    addr: [u8; 16],
    port: u16,
}

impl Endpoint {
    /// An endpoint from an address and a port.
    pub fn new(addr: IpAddr, port: u16) -> Self {
        let addr = match addr {
            IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
            IpAddr::V6(a) => a.octets(),
        };
        Endpoint { addr, port }
    }

    /// The address, unmapped back to IPv4 where it was IPv4.
    pub fn ip(&self, v6: bool) -> IpAddr {
        if v6 {
            IpAddr::V6(Ipv6Addr::from(self.addr))
        } else {
            // `new` stored it IPv4-mapped: the last four bytes are the address.
            let [.., a, b, c, d] = self.addr;
            IpAddr::V4(Ipv4Addr::new(a, b, c, d))
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// A flow key in canonical order: `lo <= hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    pub(crate) lo: Endpoint,
    pub(crate) hi: Endpoint,
    pub(crate) protocol: u8,
    pub(crate) v6: bool,
}

impl FlowKey {
    /// The key for a packet from `src` to `dst`, and whether `src` is the `lo` side.
    pub fn from_packet(protocol: u8, v6: bool, src: Endpoint, dst: Endpoint) -> (Self, bool) {
        if src <= dst {
            (
                FlowKey {
                    lo: src,
                    hi: dst,
                    protocol,
                    v6,
                },
                true,
            )
        } else {
            (
                FlowKey {
                    lo: dst,
                    hi: src,
                    protocol,
                    v6,
                },
                false,
            )
        }
    }

    /// The two endpoints as socket addresses, `lo` first.
    pub fn sockets(&self) -> (SocketAddr, SocketAddr) {
        (
            SocketAddr::new(self.lo.ip(self.v6), self.lo.port),
            SocketAddr::new(self.hi.ip(self.v6), self.hi.port),
        )
    }

    /// IP protocol number.
    pub fn protocol(&self) -> u8 {
        self.protocol
    }
}

/// Every field, in three words: every packet hashes its key, and the derived
/// impl fed the hasher nine pieces (with two array length prefixes).
impl core::hash::Hash for FlowKey {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(u128::from_ne_bytes(self.lo.addr));
        state.write_u128(u128::from_ne_bytes(self.hi.addr));
        state.write_u64(
            u64::from(self.lo.port)
                | u64::from(self.hi.port) << 16
                | u64::from(self.protocol) << 32
                | u64::from(self.v6) << 40,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_share_a_key() {
        let a = Endpoint::new("10.0.0.2".parse().unwrap(), 50000);
        let b = Endpoint::new("1.1.1.1".parse().unwrap(), 443);
        let (k1, s1) = FlowKey::from_packet(6, false, a, b);
        let (k2, s2) = FlowKey::from_packet(6, false, b, a);
        assert_eq!(k1, k2);
        assert_ne!(s1, s2);
        let (lo, hi) = k1.sockets();
        assert_eq!(lo, "1.1.1.1:443".parse().unwrap());
        assert_eq!(hi, "10.0.0.2:50000".parse().unwrap());
    }

    #[test]
    fn protocol_and_family_separate_keys() {
        let a = Endpoint::new("::1".parse().unwrap(), 1);
        let b = Endpoint::new("::2".parse().unwrap(), 2);
        assert_ne!(
            FlowKey::from_packet(6, true, a, b).0,
            FlowKey::from_packet(17, true, a, b).0
        );
        assert_eq!(
            FlowKey::from_packet(6, true, a, b).0.sockets().0.ip(),
            "::1".parse::<IpAddr>().unwrap()
        );
    }
}
