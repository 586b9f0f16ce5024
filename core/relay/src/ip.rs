//! Just enough IP to route a tunnel packet to the right relay, and to build
//! the UDP replies that do not go through smoltcp.

use core::net::{IpAddr, SocketAddr};

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, TcpPacket, UdpPacket, UdpRepr,
};

/// A tunnel packet, classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Classified<'a> {
    /// TCP; `syn` is set for a connection request (SYN without ACK).
    Tcp {
        src: SocketAddr,
        dst: SocketAddr,
        syn: bool,
    },
    /// A UDP datagram and its payload.
    Udp {
        src: SocketAddr,
        dst: SocketAddr,
        payload: &'a [u8],
    },
    /// An ICMP or ICMPv6 echo request.
    EchoRequest,
    /// Anything else (smoltcp answers or ignores it).
    Other,
    /// Not a well-formed IP packet.
    Malformed,
}

pub(crate) fn classify(packet: &[u8]) -> Classified<'_> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => {
            let Ok(ip) = Ipv4Packet::new_checked(packet) else {
                return Classified::Malformed;
            };
            if ip.more_frags() || ip.frag_offset() != 0 {
                // Fragments are left to smoltcp, which drops them: a tunnel
                // with a sane MTU does not fragment.
                return Classified::Other;
            }
            let (src, dst) = (IpAddr::V4(ip.src_addr()), IpAddr::V4(ip.dst_addr()));
            let (proto, payload) = (ip.next_header(), ip.payload());
            transport(src, dst, proto, payload, false)
        }
        Some(6) => {
            let Ok(ip) = Ipv6Packet::new_checked(packet) else {
                return Classified::Malformed;
            };
            let (src, dst) = (IpAddr::V6(ip.src_addr()), IpAddr::V6(ip.dst_addr()));
            let (proto, payload) = (ip.next_header(), ip.payload());
            transport(src, dst, proto, payload, true)
        }
        _ => Classified::Malformed,
    }
}

fn transport(
    src: IpAddr,
    dst: IpAddr,
    proto: IpProtocol,
    payload: &[u8],
    v6: bool,
) -> Classified<'_> {
    match proto {
        IpProtocol::Tcp => match TcpPacket::new_checked(payload) {
            Ok(tcp) => Classified::Tcp {
                src: SocketAddr::new(src, tcp.src_port()),
                dst: SocketAddr::new(dst, tcp.dst_port()),
                syn: tcp.syn() && !tcp.ack() && !tcp.rst(),
            },
            Err(_) => Classified::Malformed,
        },
        IpProtocol::Udp => match UdpPacket::new_checked(payload) {
            Ok(udp) => {
                let (sport, dport) = (udp.src_port(), udp.dst_port());
                Classified::Udp {
                    src: SocketAddr::new(src, sport),
                    dst: SocketAddr::new(dst, dport),
                    payload: udp.payload(),
                }
            }
            Err(_) => Classified::Malformed,
        },
        // Echo request is type 8 for ICMP and 128 for ICMPv6.
        IpProtocol::Icmp if !v6 && payload.first() == Some(&8) => Classified::EchoRequest,
        IpProtocol::Icmpv6 if v6 && payload.first() == Some(&128) => Classified::EchoRequest,
        _ => Classified::Other,
    }
}

/// An IP packet carrying one UDP datagram from `src` to `dst`, or None if the
/// address families differ or the payload cannot fit.
pub(crate) fn udp_packet(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Option<Vec<u8>> {
    let udp = UdpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
    };
    let udp_len = udp.header_len().checked_add(payload.len())?;
    let caps = ChecksumCapabilities::default();
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let ip = Ipv4Repr {
                src_addr: s,
                dst_addr: d,
                next_header: IpProtocol::Udp,
                payload_len: udp_len,
                hop_limit: 64,
            };
            let total = ip.buffer_len().checked_add(udp_len)?;
            if total > usize::from(u16::MAX) {
                return None;
            }
            let mut buf = vec![0; total];
            let mut packet = Ipv4Packet::new_unchecked(&mut buf);
            ip.emit(&mut packet, &caps);
            let mut datagram = UdpPacket::new_unchecked(packet.payload_mut());
            udp.emit(
                &mut datagram,
                &s.into(),
                &d.into(),
                payload.len(),
                |p| p.copy_from_slice(payload),
                &caps,
            );
            Some(buf)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let ip = Ipv6Repr {
                src_addr: s,
                dst_addr: d,
                next_header: IpProtocol::Udp,
                payload_len: udp_len,
                hop_limit: 64,
            };
            if udp_len > usize::from(u16::MAX) {
                return None;
            }
            let mut buf = vec![0; ip.buffer_len() + udp_len];
            let mut packet = Ipv6Packet::new_unchecked(&mut buf);
            ip.emit(&mut packet);
            let mut datagram = UdpPacket::new_unchecked(packet.payload_mut());
            udp.emit(
                &mut datagram,
                &s.into(),
                &d.into(),
                payload.len(),
                |p| p.copy_from_slice(payload),
                &caps,
            );
            Some(buf)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_packet_round_trips_through_classify() {
        for (s, d) in [
            ("10.0.0.2:5000", "192.0.2.9:53"),
            ("[fd00::2]:5000", "[2001:db8::9]:53"),
        ] {
            let (s, d): (SocketAddr, SocketAddr) = (s.parse().unwrap(), d.parse().unwrap());
            let packet = udp_packet(s, d, b"hello").unwrap();
            match classify(&packet) {
                Classified::Udp { src, dst, payload } => {
                    assert_eq!((src, dst, payload), (s, d, &b"hello"[..]));
                }
                other => panic!("not udp: {other:?}"),
            }
            // The checksum must verify, or the device's stack drops the reply.
            if s.is_ipv4() {
                let ip = Ipv4Packet::new_checked(&packet[..]).unwrap();
                assert!(ip.verify_checksum());
                let udp = UdpPacket::new_checked(ip.payload()).unwrap();
                assert!(udp.verify_checksum(&s.ip().into(), &d.ip().into()));
            } else {
                let ip = Ipv6Packet::new_checked(&packet[..]).unwrap();
                let udp = UdpPacket::new_checked(ip.payload()).unwrap();
                assert!(udp.verify_checksum(&s.ip().into(), &d.ip().into()));
            }
        }
        let mixed = udp_packet(
            "10.0.0.2:1".parse().unwrap(),
            "[::1]:2".parse().unwrap(),
            b"",
        );
        assert!(mixed.is_none());
    }

    #[test]
    fn classify_rejects_garbage_without_panicking() {
        assert_eq!(classify(&[]), Classified::Malformed);
        assert_eq!(classify(&[0x45]), Classified::Malformed);
        assert_eq!(classify(&[0x60; 10]), Classified::Malformed);
        let mut state = 0x1234_5678_u32;
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|i| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    if i == 0 { 0x45 } else { state as u8 }
                })
                .collect();
            let _ = classify(&bytes);
        }
    }
}
