//! The network layer: one checked view over IPv4 and IPv6.

use core::net::IpAddr;

use smoltcp::wire::{Ipv4Packet, Ipv6Packet};

use crate::error::{Layer, WireError};
use crate::ipv6_ext;

/// IP version of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpVersion {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// Fragmentation fields of an IPv4 header or an IPv6 fragment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Identification (16 bits widened for IPv4, 32 bits for IPv6).
    pub ident: u32,
    /// Offset of this fragment's data in the datagram, in bytes.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
}

impl Fragment {
    /// Whether this fragment starts the datagram (and so carries the upper-layer header).
    pub fn is_first(&self) -> bool {
        self.offset == 0
    }
}

/// What the engine needs from the IP layer, borrowed from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpHeader<'a> {
    /// IP version.
    pub version: IpVersion,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Upper-layer protocol, after any IPv6 extension headers.
    pub protocol: u8,
    /// Total length the IP header declares (IPv4 total length, or 40 + IPv6
    /// payload length). Link-layer padding past it is not counted.
    pub ip_len: u32,
    /// Bytes of IP header before `payload`, extension headers included.
    pub header_len: u32,
    /// Hop limit / TTL.
    pub hop_limit: u8,
    /// The upper-layer bytes (or, for a fragment, this fragment's data).
    pub payload: &'a [u8],
    /// Present when the packet is a fragment (and not an atomic fragment, which
    /// is a whole datagram with a fragment header and is reported as unfragmented).
    pub fragment: Option<Fragment>,
    /// The capture's snap length cut the packet: `payload` is shorter than the
    /// header says (only from [`parse_ip_snapped`]).
    pub snapped: bool,
}

/// Parse the IP header of `packet`.
///
/// Bytes past the length the header declares (Ethernet padding) are ignored.
pub fn parse_ip(packet: &[u8]) -> Result<IpHeader<'_>, WireError> {
    let first = *packet.first().ok_or(WireError::Empty)?;
    match first >> 4 {
        4 => parse_ipv4(packet),
        6 => parse_ipv6(packet),
        other => Err(WireError::BadVersion(other)),
    }
}

fn parse_ipv4(packet: &[u8]) -> Result<IpHeader<'_>, WireError> {
    if packet.len() < 20 {
        return Err(WireError::Truncated(Layer::Ipv4));
    }
    let view = Ipv4Packet::new_checked(packet).map_err(|_| {
        // Tell a lying length field from a short buffer: both are counted, but
        // they mean different things (a bug upstream vs. a snapped capture).
        let ihl = usize::from(packet.first().copied().unwrap_or(0) & 0x0f) * 4;
        let total = packet
            .get(2..4)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
            .map_or(0, |b| usize::from(u16::from_be_bytes(b)));
        if ihl < 20 || total < ihl {
            WireError::BadLength(Layer::Ipv4)
        } else {
            WireError::Truncated(Layer::Ipv4)
        }
    })?;
    let more = view.more_frags();
    let offset = u32::from(view.frag_offset());
    let fragment = (more || offset != 0).then_some(Fragment {
        ident: u32::from(view.ident()),
        offset,
        more,
    });
    Ok(IpHeader {
        version: IpVersion::V4,
        src: IpAddr::V4(view.src_addr()),
        dst: IpAddr::V4(view.dst_addr()),
        protocol: u8::from(view.next_header()),
        ip_len: u32::from(view.total_len()),
        header_len: u32::from(view.header_len()),
        hop_limit: view.hop_limit(),
        payload: view.payload(),
        fragment,
        snapped: false,
    })
}

fn parse_ipv6(packet: &[u8]) -> Result<IpHeader<'_>, WireError> {
    let view = Ipv6Packet::new_checked(packet).map_err(|_| WireError::Truncated(Layer::Ipv6))?;
    if view.payload_len() == 0 && u8::from(view.next_header()) == crate::proto::HOP_BY_HOP {
        return Err(WireError::Jumbogram);
    }
    let end = ipv6_ext::walk(u8::from(view.next_header()), view.payload())?;
    let ext_len = u32::try_from(end.ext_len).map_err(|_| WireError::BadLength(Layer::Ipv6))?;
    // An atomic fragment (offset 0, no more fragments) is a whole datagram.
    let fragment = end.fragment.filter(|f| f.more || f.offset != 0);
    Ok(IpHeader {
        version: IpVersion::V6,
        src: IpAddr::V6(view.src_addr()),
        // With a source route still to run, the packet's real destination is
        // the route's last hop, as Zeek and tshark report it.
        dst: IpAddr::V6(end.final_dst.unwrap_or(view.dst_addr())),
        protocol: end.protocol,
        ip_len: 40 + u32::from(view.payload_len()),
        header_len: 40 + ext_len,
        hop_limit: view.hop_limit(),
        payload: end.payload,
        fragment,
        snapped: false,
    })
}

/// Walk IPv6 extension headers that start a reassembled datagram's payload
/// (the fragmentable part may begin with destination options, say) to the
/// upper-layer protocol. Returns the protocol, its bytes and the header bytes
/// skipped. A second fragment header inside a reassembled datagram is refused.
pub fn skip_ipv6_extensions(next: u8, bytes: &[u8]) -> Result<(u8, &[u8], usize), WireError> {
    let end = ipv6_ext::walk(next, bytes)?;
    if end.fragment.is_some() {
        return Err(WireError::BadLength(Layer::Ipv6Extension));
    }
    Ok((end.protocol, end.payload, end.ext_len))
}

/// Parse a packet a capture's snap length may have cut short: `orig_len` is the
/// IP packet's length on the wire. When it is longer than `packet`, the
/// headers are read from what was kept and the lengths from the headers, so
/// the flow is still counted with its real size. A header that claims more
/// than was on the wire is still refused.
pub fn parse_ip_snapped(packet: &[u8], orig_len: usize) -> Result<IpHeader<'_>, WireError> {
    if orig_len <= packet.len() {
        return parse_ip(packet);
    }
    let first = *packet.first().ok_or(WireError::Empty)?;
    match first >> 4 {
        4 => {
            let ihl = usize::from(first & 0x0f) * 4;
            let header = packet.get(..ihl).ok_or(WireError::Truncated(Layer::Ipv4))?;
            let total = header
                .get(2..4)
                .and_then(|b| <[u8; 2]>::try_from(b).ok())
                .map(u16::from_be_bytes)
                .ok_or(WireError::Truncated(Layer::Ipv4))?;
            if usize::from(total) > orig_len {
                return Err(WireError::Truncated(Layer::Ipv4));
            }
            // Parse a copy of the header alone, its length field set to the
            // header's, so smoltcp's checked view applies unchanged.
            let mut copy = [0u8; 60];
            let slot = copy
                .get_mut(..ihl)
                .ok_or(WireError::BadLength(Layer::Ipv4))?;
            slot.copy_from_slice(header);
            let ihl16 = u16::try_from(ihl).map_err(|_| WireError::BadLength(Layer::Ipv4))?;
            if let Some(len) = copy.get_mut(2..4) {
                len.copy_from_slice(&ihl16.to_be_bytes());
            }
            let h = parse_ipv4(copy.get(..ihl).ok_or(WireError::BadLength(Layer::Ipv4))?)?;
            if total < ihl16 {
                return Err(WireError::BadLength(Layer::Ipv4));
            }
            let end = usize::from(total).min(packet.len());
            Ok(IpHeader {
                ip_len: u32::from(total),
                payload: packet.get(ihl..end).unwrap_or(&[]),
                snapped: true,
                ..h.with_payload(&[])
            })
        }
        6 => {
            let fixed = packet.get(..40).ok_or(WireError::Truncated(Layer::Ipv6))?;
            let plen = fixed
                .get(4..6)
                .and_then(|b| <[u8; 2]>::try_from(b).ok())
                .map(u16::from_be_bytes)
                .ok_or(WireError::Truncated(Layer::Ipv6))?;
            if 40 + usize::from(plen) > orig_len {
                return Err(WireError::Truncated(Layer::Ipv6));
            }
            let mut copy = [0u8; 40];
            copy.copy_from_slice(fixed);
            if let Some(len) = copy.get_mut(4..6) {
                len.copy_from_slice(&[0, 0]);
            }
            let view = Ipv6Packet::new_checked(&copy[..])
                .map_err(|_| WireError::Truncated(Layer::Ipv6))?;
            let kept = packet
                .get(40..(40 + usize::from(plen)).min(packet.len()))
                .unwrap_or(&[]);
            let end = ipv6_ext::walk(u8::from(view.next_header()), kept)?;
            let ext_len =
                u32::try_from(end.ext_len).map_err(|_| WireError::BadLength(Layer::Ipv6))?;
            Ok(IpHeader {
                version: IpVersion::V6,
                src: IpAddr::V6(view.src_addr()),
                dst: IpAddr::V6(end.final_dst.unwrap_or(view.dst_addr())),
                protocol: end.protocol,
                ip_len: 40 + u32::from(plen),
                header_len: 40 + ext_len,
                hop_limit: view.hop_limit(),
                payload: end.payload,
                fragment: end.fragment.filter(|f| f.more || f.offset != 0),
                snapped: true,
            })
        }
        other => Err(WireError::BadVersion(other)),
    }
}

impl<'a> IpHeader<'a> {
    fn with_payload<'b>(self, payload: &'b [u8]) -> IpHeader<'b> {
        IpHeader {
            version: self.version,
            src: self.src,
            dst: self.dst,
            protocol: self.protocol,
            ip_len: self.ip_len,
            header_len: self.header_len,
            hop_limit: self.hop_limit,
            payload,
            fragment: self.fragment,
            snapped: self.snapped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto;

    /// IPv4, IHL 5, total 28, id 0x1234, TTL 64, UDP, 10.0.0.1 -> 10.0.0.2, then an
    /// 8-byte UDP header (ports 1000 -> 53, length 8).
    const IPV4_UDP: [u8; 28] = [
        0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, 10, 0, 0, 1, 10, 0,
        0, 2, 0x03, 0xe8, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00,
    ];

    fn ipv6_with(next: u8, ext: &[u8], upper: &[u8]) -> Vec<u8> {
        let payload_len = (ext.len() + upper.len()) as u16;
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&payload_len.to_be_bytes());
        p.push(next);
        p.push(64);
        p.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(ext);
        p.extend_from_slice(upper);
        p
    }

    #[test]
    fn ipv4_plain() {
        let h = parse_ip(&IPV4_UDP).unwrap();
        assert_eq!(h.version, IpVersion::V4);
        assert_eq!(h.protocol, proto::UDP);
        assert_eq!(h.ip_len, 28);
        assert_eq!(h.header_len, 20);
        assert_eq!(h.payload.len(), 8);
        assert_eq!(h.fragment, None);
        assert_eq!(h.src, "10.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn ipv4_padding_is_ignored() {
        let mut p = IPV4_UDP.to_vec();
        p.extend_from_slice(&[0; 18]);
        let h = parse_ip(&p).unwrap();
        assert_eq!(h.payload.len(), 8);
        assert_eq!(h.ip_len, 28);
    }

    #[test]
    fn ipv4_options_are_skipped() {
        // IHL 6: one 4-byte option word (NOP NOP NOP EOL).
        let mut p = vec![
            0x46, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
        ];
        p.extend_from_slice(&[1, 1, 1, 0]);
        p.extend_from_slice(&[0, 1, 0, 2, 0, 8, 0, 0]);
        let h = parse_ip(&p).unwrap();
        assert_eq!(h.header_len, 24);
        assert_eq!(h.payload, &[0, 1, 0, 2, 0, 8, 0, 0]);
    }

    #[test]
    fn ipv4_fragment_fields() {
        let mut p = IPV4_UDP.to_vec();
        p[6] = 0x20; // MF
        p[7] = 0x00;
        let h = parse_ip(&p).unwrap();
        assert_eq!(
            h.fragment,
            Some(Fragment {
                ident: 0x1234,
                offset: 0,
                more: true
            })
        );
        p[6] = 0x00;
        p[7] = 0x03; // offset 3 * 8 = 24 bytes, last fragment
        let h = parse_ip(&p).unwrap();
        assert_eq!(
            h.fragment,
            Some(Fragment {
                ident: 0x1234,
                offset: 24,
                more: false
            })
        );
    }

    #[test]
    fn ipv4_bad_inputs() {
        assert_eq!(parse_ip(&[]), Err(WireError::Empty));
        assert_eq!(parse_ip(&[0x05]), Err(WireError::BadVersion(0)));
        assert_eq!(
            parse_ip(&IPV4_UDP[..19]),
            Err(WireError::Truncated(Layer::Ipv4))
        );
        let mut short_total = IPV4_UDP;
        short_total[3] = 10; // total < IHL
        assert_eq!(
            parse_ip(&short_total),
            Err(WireError::BadLength(Layer::Ipv4))
        );
        let mut long_total = IPV4_UDP;
        long_total[3] = 200; // claims more than the buffer holds
        assert_eq!(
            parse_ip(&long_total),
            Err(WireError::Truncated(Layer::Ipv4))
        );
        let mut ihl4 = IPV4_UDP;
        ihl4[0] = 0x44;
        assert_eq!(parse_ip(&ihl4), Err(WireError::BadLength(Layer::Ipv4)));
    }

    #[test]
    fn ipv6_extension_chain() {
        // Hop-by-hop (8 bytes, PadN), then routing type 0 with no addresses
        // (8 bytes), then destination options (8 bytes), then UDP.
        let hbh = [proto::ROUTING, 0, 1, 4, 0, 0, 0, 0];
        let routing = [proto::DESTINATION_OPTIONS, 0, 0, 0, 0, 0, 0, 0];
        let dest = [proto::UDP, 0, 1, 4, 0, 0, 0, 0];
        let ext: Vec<u8> = [hbh, routing, dest].concat();
        let udp = [0, 1, 0, 2, 0, 8, 0, 0];
        let p = ipv6_with(proto::HOP_BY_HOP, &ext, &udp);
        let h = parse_ip(&p).unwrap();
        assert_eq!(h.protocol, proto::UDP);
        assert_eq!(h.header_len, 64);
        assert_eq!(h.payload, &udp);
        assert_eq!(h.ip_len, 64 + 8);
    }

    #[test]
    fn ipv6_fragment_header() {
        // Fragment: next UDP, offset 2 (16 bytes), M=1, ident 0xdeadbeef.
        let frag = [proto::UDP, 0, 0x00, 0x11, 0xde, 0xad, 0xbe, 0xef];
        let p = ipv6_with(proto::FRAGMENT, &frag, &[0xaa; 16]);
        let h = parse_ip(&p).unwrap();
        assert_eq!(h.protocol, proto::UDP);
        assert_eq!(
            h.fragment,
            Some(Fragment {
                ident: 0xdead_beef,
                offset: 16,
                more: true
            })
        );
        assert_eq!(h.payload.len(), 16);
    }

    #[test]
    fn ipv6_atomic_fragment_is_whole() {
        let frag = [proto::UDP, 0, 0, 0, 0, 0, 0, 7];
        let p = ipv6_with(proto::FRAGMENT, &frag, &[0, 1, 0, 2, 0, 8, 0, 0]);
        let h = parse_ip(&p).unwrap();
        assert_eq!(h.fragment, None);
        assert_eq!(h.header_len, 48);
    }

    #[test]
    fn ipv6_bad_chains() {
        // ESP stops the walk.
        let p = ipv6_with(proto::ESP, &[], &[0; 16]);
        assert_eq!(parse_ip(&p), Err(WireError::Encrypted));
        // A hop-by-hop header claiming 16 more bytes than there are.
        let p = ipv6_with(proto::HOP_BY_HOP, &[proto::UDP, 2, 0, 0, 0, 0, 0, 0], &[]);
        assert_eq!(
            parse_ip(&p),
            Err(WireError::Truncated(Layer::Ipv6Extension))
        );
        // A loop of destination options headers.
        let ext: Vec<u8> = (0..12)
            .flat_map(|_| [proto::DESTINATION_OPTIONS, 0, 1, 4, 0, 0, 0, 0])
            .collect();
        let p = ipv6_with(proto::DESTINATION_OPTIONS, &ext, &[]);
        assert_eq!(parse_ip(&p), Err(WireError::TooManyExtensionHeaders));
        // Payload length longer than the buffer.
        let mut p = ipv6_with(proto::UDP, &[], &[0; 8]);
        p[5] = 100;
        assert_eq!(parse_ip(&p), Err(WireError::Truncated(Layer::Ipv6)));
    }

    #[test]
    fn snapped_ipv4_keeps_the_header_lengths() {
        let mut p = IPV4_UDP.to_vec();
        p.extend_from_slice(&[0xaa; 100]);
        p[2..4].copy_from_slice(&128u16.to_be_bytes());
        p[24..26].copy_from_slice(&108u16.to_be_bytes()); // UDP length
        let cut = &p[..40];
        assert_eq!(parse_ip(cut), Err(WireError::Truncated(Layer::Ipv4)));
        let h = parse_ip_snapped(cut, 128).unwrap();
        assert!(h.snapped);
        assert_eq!(h.ip_len, 128);
        assert_eq!(h.payload.len(), 20);
        assert_eq!(h.src, "10.0.0.1".parse::<IpAddr>().unwrap());
        // A header claiming more than was on the wire is still a lie.
        assert_eq!(
            parse_ip_snapped(cut, 100),
            Err(WireError::Truncated(Layer::Ipv4))
        );
        // Not snapped at all: the ordinary parser's answer.
        assert_eq!(parse_ip_snapped(&IPV4_UDP, 28), parse_ip(&IPV4_UDP));
        // Cut inside the header.
        assert_eq!(
            parse_ip_snapped(&p[..12], 128),
            Err(WireError::Truncated(Layer::Ipv4))
        );
    }

    #[test]
    fn snapped_ipv6() {
        let p = ipv6_with(proto::UDP, &[], &[0; 100]);
        let h = parse_ip_snapped(&p[..60], p.len()).unwrap();
        assert_eq!(h.ip_len, 140);
        assert_eq!(h.payload.len(), 20);
        assert!(h.snapped);
        assert!(parse_ip_snapped(&p[..30], p.len()).is_err());
    }

    #[test]
    fn routing_type0_gives_the_final_destination() {
        // Routing type 0, two addresses, one segment left: the last one is
        // where the packet goes.
        let mut rh = vec![proto::UDP, 4, 0, 1, 0, 0, 0, 0];
        rh.extend_from_slice(&[0x20, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xaa]);
        rh.extend_from_slice(&[0x20, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbb]);
        let p = ipv6_with(proto::ROUTING, &rh, &[0, 1, 0, 2, 0, 8, 0, 0]);
        let h = parse_ip(&p).unwrap();
        assert_eq!(h.dst, "2001::bb".parse::<IpAddr>().unwrap());
        // No segments left: the header's destination stands.
        let mut done = rh.clone();
        done[3] = 0;
        let p = ipv6_with(proto::ROUTING, &done, &[0, 1, 0, 2, 0, 8, 0, 0]);
        assert_eq!(
            parse_ip(&p).unwrap().dst,
            "fd00::2".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn every_prefix_and_byte_flip_is_safe() {
        let frag = [proto::UDP, 0, 0x00, 0x11, 0xde, 0xad, 0xbe, 0xef];
        let samples = [
            IPV4_UDP.to_vec(),
            ipv6_with(proto::FRAGMENT, &frag, &[0xaa; 16]),
        ];
        for s in samples {
            for n in 0..=s.len() {
                let _ = parse_ip(&s[..n]);
                let _ = parse_ip_snapped(&s[..n], s.len());
                let _ = parse_ip_snapped(&s[..n], usize::MAX);
            }
            for i in 0..s.len() {
                for v in [0x00, 0x0f, 0x40, 0x60, 0xff] {
                    let mut m = s.clone();
                    m[i] = v;
                    let _ = parse_ip(&m);
                }
            }
        }
    }
}
