//! Tunnel packets around a whole inner IP packet: IP in IP (RFC 2003, RFC 4213,
//! RFC 2473), GRE (RFC 2784, with the RFC 2890 key) and GTP-U G-PDUs (3GPP TS
//! 29.281) over UDP port 2152. The outer header comes from smoltcp's `emit`, like
//! every other packet of this crate.

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr};

use crate::BuildError;
use crate::packet::{HOP_LIMIT, IPV4_HEADER_LEN, IPV6_HEADER_LEN, IpPair, ip_udp};

/// GTP-U's UDP port (TS 29.281 §4.4.2.3).
pub const GTP_U_PORT: u16 = 2152;

/// How the inner packet is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encapsulation {
    /// IP in IP: protocol 4 for an IPv4 inner packet, 41 for IPv6.
    IpInIp,
    /// GRE with the given key (RFC 2890), or the bare 4-byte RFC 2784 header.
    Gre {
        /// The key field, when present.
        key: Option<u32>,
    },
    /// A GTP-U G-PDU with this tunnel endpoint id; `sequence` adds the S field.
    GtpU {
        /// Tunnel endpoint identifier.
        teid: u32,
        /// Sequence number, when sent.
        sequence: Option<u16>,
    },
}

fn inner_is_v6(inner: &[u8]) -> bool {
    inner.first().is_some_and(|b| b >> 4 == 6)
}

/// `inner` (a whole IP packet) inside an outer packet from `outer`'s addresses.
pub fn encapsulate(outer: IpPair, how: Encapsulation, inner: &[u8]) -> Result<Vec<u8>, BuildError> {
    match how {
        Encapsulation::IpInIp => {
            let protocol = if inner_is_v6(inner) { 41 } else { 4 };
            ip_packet(outer, protocol, inner)
        }
        Encapsulation::Gre { key } => {
            let ethertype: u16 = if inner_is_v6(inner) { 0x86dd } else { 0x0800 };
            let flags: u16 = if key.is_some() { 0x2000 } else { 0 };
            let mut body = Vec::with_capacity(8 + inner.len());
            body.extend_from_slice(&flags.to_be_bytes());
            body.extend_from_slice(&ethertype.to_be_bytes());
            if let Some(k) = key {
                body.extend_from_slice(&k.to_be_bytes());
            }
            body.extend_from_slice(inner);
            ip_packet(outer, 47, &body)
        }
        Encapsulation::GtpU { teid, sequence } => {
            let optional = if sequence.is_some() { 4 } else { 0 };
            let length =
                u16::try_from(inner.len() + optional).map_err(|_| BuildError::TooLarge {
                    len: inner.len() + optional,
                    max: usize::from(u16::MAX),
                })?;
            // Version 1, protocol type GTP, S when a sequence number is sent.
            let flags = 0x30 | if sequence.is_some() { 0x02 } else { 0 };
            let mut body = vec![flags, 0xff];
            body.extend_from_slice(&length.to_be_bytes());
            body.extend_from_slice(&teid.to_be_bytes());
            if let Some(seq) = sequence {
                body.extend_from_slice(&seq.to_be_bytes());
                body.extend_from_slice(&[0, 0]); // N-PDU number, no extension header
            }
            body.extend_from_slice(inner);
            ip_udp(outer, GTP_U_PORT, GTP_U_PORT, &body)
        }
    }
}

/// An IP packet of `protocol` whose payload is `payload`.
pub fn ip_packet(ips: IpPair, protocol: u8, payload: &[u8]) -> Result<Vec<u8>, BuildError> {
    let next_header = IpProtocol::from(protocol);
    match ips {
        IpPair::V4 { src, dst } => {
            let max = usize::from(u16::MAX) - IPV4_HEADER_LEN;
            if payload.len() > max {
                return Err(BuildError::TooLarge {
                    len: payload.len(),
                    max,
                });
            }
            let repr = Ipv4Repr {
                src_addr: src,
                dst_addr: dst,
                next_header,
                payload_len: payload.len(),
                hop_limit: HOP_LIMIT,
            };
            let mut buf = vec![0u8; IPV4_HEADER_LEN + payload.len()];
            let mut packet = Ipv4Packet::new_unchecked(&mut buf);
            repr.emit(&mut packet, &ChecksumCapabilities::default());
            packet.payload_mut().copy_from_slice(payload);
            Ok(buf)
        }
        IpPair::V6 { src, dst } => {
            let max = usize::from(u16::MAX);
            if payload.len() > max {
                return Err(BuildError::TooLarge {
                    len: payload.len(),
                    max,
                });
            }
            let repr = Ipv6Repr {
                src_addr: src,
                dst_addr: dst,
                next_header,
                payload_len: payload.len(),
                hop_limit: HOP_LIMIT,
            };
            let mut buf = vec![0u8; IPV6_HEADER_LEN + payload.len()];
            let mut packet = Ipv6Packet::new_unchecked(&mut buf);
            repr.emit(&mut packet);
            packet.payload_mut().copy_from_slice(payload);
            Ok(buf)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    fn outer4() -> IpPair {
        IpPair::V4 {
            src: Ipv4Addr::new(192, 0, 2, 1),
            dst: Ipv4Addr::new(198, 51, 100, 2),
        }
    }

    fn inner6() -> Vec<u8> {
        ip_udp(
            IpPair::V6 {
                src: "2001:db8::1".parse::<Ipv6Addr>().unwrap(),
                dst: "2001:db8::2".parse::<Ipv6Addr>().unwrap(),
            },
            1000,
            53,
            b"hello",
        )
        .unwrap()
    }

    #[test]
    fn six_in_four_has_protocol_41_and_the_inner_packet_whole() {
        let inner = inner6();
        let p = encapsulate(outer4(), Encapsulation::IpInIp, &inner).unwrap();
        let v4 = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert!(v4.verify_checksum());
        assert_eq!(u8::from(v4.next_header()), 41);
        assert_eq!(v4.payload(), &inner[..]);
    }

    #[test]
    fn gre_and_gtp_headers_follow_their_specs() {
        let inner = inner6();
        let p = encapsulate(outer4(), Encapsulation::Gre { key: Some(7) }, &inner).unwrap();
        assert_eq!(&p[20..28], &[0x20, 0, 0x86, 0xdd, 0, 0, 0, 7]);
        assert_eq!(&p[28..], &inner[..]);
        let p = encapsulate(
            outer4(),
            Encapsulation::GtpU {
                teid: 0x0102_0304,
                sequence: Some(9),
            },
            &inner,
        )
        .unwrap();
        let gtp = &p[28..];
        assert_eq!(
            &gtp[..8],
            &[0x32, 0xff, 0, inner.len() as u8 + 4, 1, 2, 3, 4]
        );
        assert_eq!(&gtp[12..], &inner[..]);
    }
}
