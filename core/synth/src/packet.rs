//! Whole IP packets (IPv4/IPv6 header plus TCP, UDP or ICMP echo) with valid checksums.
//!
//! smoltcp's `Repr::emit` does the field layout and checksums; this module only sizes the
//! buffer and picks the family, so every packet here is one smoltcp itself would parse back.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    Icmpv4Packet, Icmpv4Repr, Icmpv6Packet, Icmpv6Repr, IpAddress, IpProtocol, Ipv4Packet,
    Ipv4Repr, Ipv6Packet, Ipv6Repr, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber, UdpPacket,
    UdpRepr,
};

use crate::BuildError;

/// Bytes of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;
/// Bytes of an IPv6 header without extension headers.
pub const IPV6_HEADER_LEN: usize = 40;
/// Bytes of a TCP header without options.
pub const TCP_HEADER_LEN: usize = 20;
/// Bytes of a UDP header.
pub const UDP_HEADER_LEN: usize = 8;
/// A buffer of this size holds any packet [`write_syn`] writes (an IPv6 SYN is the largest).
pub const MAX_SYN_LEN: usize = IPV6_HEADER_LEN + TCP_HEADER_LEN;
/// The hop limit every packet is sent with.
pub const HOP_LIMIT: u8 = 64;

/// Source and destination of one packet, both of the same family by construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpPair {
    /// An IPv4 packet.
    V4 {
        /// Source address.
        src: Ipv4Addr,
        /// Destination address.
        dst: Ipv4Addr,
    },
    /// An IPv6 packet.
    V6 {
        /// Source address.
        src: Ipv6Addr,
        /// Destination address.
        dst: Ipv6Addr,
    },
}

impl IpPair {
    /// Pairs two addresses, or fails when their families differ.
    pub fn new(src: IpAddr, dst: IpAddr) -> Result<Self, BuildError> {
        match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => Ok(Self::V4 { src, dst }),
            (IpAddr::V6(src), IpAddr::V6(dst)) => Ok(Self::V6 { src, dst }),
            _ => Err(BuildError::FamilyMismatch),
        }
    }

    /// The same pair seen from the other end.
    #[must_use]
    pub const fn reversed(self) -> Self {
        match self {
            Self::V4 { src, dst } => Self::V4 { src: dst, dst: src },
            Self::V6 { src, dst } => Self::V6 { src: dst, dst: src },
        }
    }

    /// The source address.
    pub const fn src(self) -> IpAddr {
        match self {
            Self::V4 { src, .. } => IpAddr::V4(src),
            Self::V6 { src, .. } => IpAddr::V6(src),
        }
    }

    /// The destination address.
    pub const fn dst(self) -> IpAddr {
        match self {
            Self::V4 { dst, .. } => IpAddr::V4(dst),
            Self::V6 { dst, .. } => IpAddr::V6(dst),
        }
    }

    /// Bytes of the IP header this pair is written with.
    pub const fn header_len(self) -> usize {
        match self {
            Self::V4 { .. } => IPV4_HEADER_LEN,
            Self::V6 { .. } => IPV6_HEADER_LEN,
        }
    }

    /// The largest transport segment (header and payload) one packet of this family can carry.
    pub const fn max_transport_len(self) -> usize {
        match self {
            // Total length covers the IPv4 header; IPv6's payload length does not.
            Self::V4 { .. } => u16::MAX as usize - IPV4_HEADER_LEN,
            Self::V6 { .. } => u16::MAX as usize,
        }
    }

    fn smol(self) -> (IpAddress, IpAddress) {
        (IpAddress::from(self.src()), IpAddress::from(self.dst()))
    }
}

/// The flag combinations a TCP conversation uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpFlags {
    /// Opening SYN.
    Syn,
    /// The server's SYN-ACK.
    SynAck,
    /// A bare (or data-carrying, without PSH) ACK.
    Ack,
    /// Data with PSH and ACK.
    PshAck,
    /// FIN with ACK, closing one direction.
    FinAck,
    /// RST without ACK.
    Rst,
    /// RST with ACK, refusing a SYN.
    RstAck,
}

impl TcpFlags {
    /// Whether the ACK bit (and so the acknowledgment number) is set.
    pub const fn has_ack(self) -> bool {
        !matches!(self, Self::Syn | Self::Rst)
    }

    /// Sequence space the flag itself uses (SYN and FIN count one).
    pub const fn seq_len(self) -> u32 {
        match self {
            Self::Syn | Self::SynAck | Self::FinAck => 1,
            Self::Ack | Self::PshAck | Self::Rst | Self::RstAck => 0,
        }
    }

    const fn control(self) -> TcpControl {
        match self {
            Self::Syn | Self::SynAck => TcpControl::Syn,
            Self::Ack => TcpControl::None,
            Self::PshAck => TcpControl::Psh,
            Self::FinAck => TcpControl::Fin,
            Self::Rst | Self::RstAck => TcpControl::Rst,
        }
    }
}

/// One TCP segment to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Flags.
    pub flags: TcpFlags,
    /// Sequence number of the first byte (or of the SYN/FIN).
    pub seq: u32,
    /// Acknowledgment number; ignored unless `flags` carries ACK.
    pub ack: u32,
    /// Receive window.
    pub window: u16,
    /// MSS option, sent on SYN and SYN-ACK.
    pub mss: Option<u16>,
    /// Data.
    pub payload: &'a [u8],
}

impl<'a> TcpSegment<'a> {
    /// A segment with a 64 KiB window, no options and no data.
    pub const fn new(src_port: u16, dst_port: u16, flags: TcpFlags, seq: u32, ack: u32) -> Self {
        Self {
            src_port,
            dst_port,
            flags,
            seq,
            ack,
            window: u16::MAX,
            mss: None,
            payload: &[],
        }
    }

    /// The same segment carrying `payload`.
    #[must_use]
    pub const fn with_payload(mut self, payload: &'a [u8]) -> Self {
        self.payload = payload;
        self
    }

    /// The same segment with an MSS option.
    #[must_use]
    pub const fn with_mss(mut self, mss: u16) -> Self {
        self.mss = Some(mss);
        self
    }

    /// The sequence number the peer acknowledges once it has this segment.
    pub const fn next_seq(&self) -> u32 {
        self.seq
            .wrapping_add(self.payload.len() as u32)
            .wrapping_add(self.flags.seq_len())
    }

    fn repr(&self) -> TcpRepr<'a> {
        TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            control: self.flags.control(),
            seq_number: TcpSeqNumber(self.seq as i32),
            ack_number: self
                .flags
                .has_ack()
                .then_some(TcpSeqNumber(self.ack as i32)),
            window_len: self.window,
            window_scale: None,
            max_seg_size: self.mss,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload: self.payload,
        }
    }
}

/// Whether an ICMP echo asks or answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EchoKind {
    /// Echo request (ping).
    Request,
    /// Echo reply (pong).
    Reply,
}

/// The transport part of a packet, in the form smoltcp emits.
enum Transport<'a> {
    Tcp(TcpRepr<'a>),
    Udp { repr: UdpRepr, payload: &'a [u8] },
    Icmpv4(Icmpv4Repr<'a>),
    Icmpv6(Icmpv6Repr<'a>),
}

impl Transport<'_> {
    fn len(&self) -> usize {
        match self {
            Self::Tcp(repr) => repr.buffer_len(),
            Self::Udp { repr, payload } => repr.header_len() + payload.len(),
            Self::Icmpv4(repr) => repr.buffer_len(),
            Self::Icmpv6(repr) => repr.buffer_len(),
        }
    }

    const fn protocol(&self) -> IpProtocol {
        match self {
            Self::Tcp(_) => IpProtocol::Tcp,
            Self::Udp { .. } => IpProtocol::Udp,
            Self::Icmpv4(_) => IpProtocol::Icmp,
            Self::Icmpv6(_) => IpProtocol::Icmpv6,
        }
    }
}

/// Length of the whole packet, or why it cannot exist.
fn packet_len(ips: IpPair, transport: &Transport<'_>) -> Result<usize, BuildError> {
    let len = transport.len();
    let max = ips.max_transport_len();
    if len > max {
        return Err(BuildError::TooLarge { len, max });
    }
    Ok(ips.header_len() + len)
}

/// Writes the packet at the start of `buf` and returns its length.
fn emit_into(buf: &mut [u8], ips: IpPair, transport: &Transport<'_>) -> Result<usize, BuildError> {
    let total = packet_len(ips, transport)?;
    let have = buf.len();
    let packet = buf
        .get_mut(..total)
        .ok_or(BuildError::BufferTooSmall { need: total, have })?;
    let (ip_buf, l4_buf) = packet
        .split_at_mut_checked(ips.header_len())
        .ok_or(BuildError::BufferTooSmall { need: total, have })?;
    let caps = ChecksumCapabilities::default();
    let payload_len = l4_buf.len();
    let next_header = transport.protocol();
    match ips {
        IpPair::V4 { src, dst } => Ipv4Repr {
            src_addr: src,
            dst_addr: dst,
            next_header,
            payload_len,
            hop_limit: HOP_LIMIT,
        }
        .emit(&mut Ipv4Packet::new_unchecked(ip_buf), &caps),
        IpPair::V6 { src, dst } => Ipv6Repr {
            src_addr: src,
            dst_addr: dst,
            next_header,
            payload_len,
            hop_limit: HOP_LIMIT,
        }
        .emit(&mut Ipv6Packet::new_unchecked(ip_buf)),
    }
    let (src, dst) = ips.smol();
    match transport {
        Transport::Tcp(repr) => {
            repr.emit(&mut TcpPacket::new_unchecked(l4_buf), &src, &dst, &caps);
        }
        Transport::Udp { repr, payload } => repr.emit(
            &mut UdpPacket::new_unchecked(l4_buf),
            &src,
            &dst,
            payload.len(),
            |out| {
                for (d, s) in out.iter_mut().zip(payload.iter()) {
                    *d = *s;
                }
            },
            &caps,
        ),
        Transport::Icmpv4(repr) => repr.emit(&mut Icmpv4Packet::new_unchecked(l4_buf), &caps),
        Transport::Icmpv6(repr) => match ips {
            IpPair::V6 { src, dst } => {
                repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(l4_buf), &caps);
            }
            IpPair::V4 { .. } => return Err(BuildError::FamilyMismatch),
        },
    }
    Ok(total)
}

fn build(ips: IpPair, transport: &Transport<'_>) -> Result<Vec<u8>, BuildError> {
    let mut out = vec![0; packet_len(ips, transport)?];
    emit_into(&mut out, ips, transport)?;
    Ok(out)
}

/// An IPv4 TCP packet.
pub fn ipv4_tcp(src: Ipv4Addr, dst: Ipv4Addr, seg: &TcpSegment<'_>) -> Result<Vec<u8>, BuildError> {
    ip_tcp(IpPair::V4 { src, dst }, seg)
}

/// An IPv6 TCP packet.
pub fn ipv6_tcp(src: Ipv6Addr, dst: Ipv6Addr, seg: &TcpSegment<'_>) -> Result<Vec<u8>, BuildError> {
    ip_tcp(IpPair::V6 { src, dst }, seg)
}

/// A TCP packet of either family.
pub fn ip_tcp(ips: IpPair, seg: &TcpSegment<'_>) -> Result<Vec<u8>, BuildError> {
    build(ips, &Transport::Tcp(seg.repr()))
}

/// An IPv4 UDP packet.
pub fn ipv4_udp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
) -> Result<Vec<u8>, BuildError> {
    ip_udp(IpPair::V4 { src, dst }, src_port, dst_port, payload)
}

/// An IPv6 UDP packet.
pub fn ipv6_udp(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
) -> Result<Vec<u8>, BuildError> {
    ip_udp(IpPair::V6 { src, dst }, src_port, dst_port, payload)
}

/// A UDP packet of either family.
pub fn ip_udp(
    ips: IpPair,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
) -> Result<Vec<u8>, BuildError> {
    build(ips, &udp(src_port, dst_port, payload))
}

const fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Transport<'_> {
    Transport::Udp {
        repr: UdpRepr { src_port, dst_port },
        payload,
    }
}

/// An ICMPv4 echo request or reply.
pub fn icmpv4_echo(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    kind: EchoKind,
    ident: u16,
    seq_no: u16,
    data: &[u8],
) -> Result<Vec<u8>, BuildError> {
    let repr = match kind {
        EchoKind::Request => Icmpv4Repr::EchoRequest {
            ident,
            seq_no,
            data,
        },
        EchoKind::Reply => Icmpv4Repr::EchoReply {
            ident,
            seq_no,
            data,
        },
    };
    build(IpPair::V4 { src, dst }, &Transport::Icmpv4(repr))
}

/// An ICMPv6 echo request or reply.
pub fn icmpv6_echo(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    kind: EchoKind,
    ident: u16,
    seq_no: u16,
    data: &[u8],
) -> Result<Vec<u8>, BuildError> {
    let repr = match kind {
        EchoKind::Request => Icmpv6Repr::EchoRequest {
            ident,
            seq_no,
            data,
        },
        EchoKind::Reply => Icmpv6Repr::EchoReply {
            ident,
            seq_no,
            data,
        },
    };
    build(IpPair::V6 { src, dst }, &Transport::Icmpv6(repr))
}

/// An ICMP echo of the pair's family.
pub fn ip_echo(
    ips: IpPair,
    kind: EchoKind,
    ident: u16,
    seq_no: u16,
    data: &[u8],
) -> Result<Vec<u8>, BuildError> {
    match ips {
        IpPair::V4 { src, dst } => icmpv4_echo(src, dst, kind, ident, seq_no, data),
        IpPair::V6 { src, dst } => icmpv6_echo(src, dst, kind, ident, seq_no, data),
    }
}

/// Writes a bare SYN (no options, 64 KiB window) into `buf` without allocating and returns its
/// length; [`MAX_SYN_LEN`] bytes always suffice.
pub fn write_syn(
    buf: &mut [u8],
    ips: IpPair,
    src_port: u16,
    dst_port: u16,
    seq: u32,
) -> Result<usize, BuildError> {
    let seg = TcpSegment::new(src_port, dst_port, TcpFlags::Syn, seq, 0);
    emit_into(buf, ips, &Transport::Tcp(seg.repr()))
}

/// Writes a UDP packet into `buf` without allocating and returns its length.
pub fn write_udp(
    buf: &mut [u8],
    ips: IpPair,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
) -> Result<usize, BuildError> {
    emit_into(buf, ips, &udp(src_port, dst_port, payload))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use smoltcp::wire::{IpVersion, UdpRepr};

    /// A transport-level view of a parsed packet, owned so tests can compare it freely.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) enum Parsed {
        Tcp {
            ips: IpPair,
            src_port: u16,
            dst_port: u16,
            control: TcpControl,
            seq: u32,
            ack: Option<u32>,
            mss: Option<u16>,
            payload: Vec<u8>,
        },
        Udp {
            ips: IpPair,
            src_port: u16,
            dst_port: u16,
            payload: Vec<u8>,
        },
        Echo {
            ips: IpPair,
            kind: EchoKind,
            ident: u16,
            seq_no: u16,
            data: Vec<u8>,
        },
    }

    impl Parsed {
        pub(crate) fn ips(&self) -> IpPair {
            match self {
                Self::Tcp { ips, .. } | Self::Udp { ips, .. } | Self::Echo { ips, .. } => *ips,
            }
        }
    }

    /// Parses a packet with smoltcp's checked views, verifying every checksum, and fails the
    /// test on anything smoltcp rejects.
    pub(crate) fn parse(bytes: &[u8]) -> Parsed {
        let caps = ChecksumCapabilities::default();
        let (ips, proto, l4): (IpPair, IpProtocol, &[u8]) =
            match IpVersion::of_packet(bytes).unwrap() {
                IpVersion::Ipv4 => {
                    let p = Ipv4Packet::new_checked(bytes).unwrap();
                    let r = Ipv4Repr::parse(&p, &caps).unwrap();
                    assert_eq!(usize::from(p.total_len()), bytes.len());
                    let ips = IpPair::V4 {
                        src: r.src_addr,
                        dst: r.dst_addr,
                    };
                    (ips, r.next_header, &bytes[IPV4_HEADER_LEN..])
                }
                IpVersion::Ipv6 => {
                    let p = Ipv6Packet::new_checked(bytes).unwrap();
                    let r = Ipv6Repr::parse(&p).unwrap();
                    assert_eq!(r.payload_len + IPV6_HEADER_LEN, bytes.len());
                    let ips = IpPair::V6 {
                        src: r.src_addr,
                        dst: r.dst_addr,
                    };
                    (ips, r.next_header, &bytes[IPV6_HEADER_LEN..])
                }
            };
        let (src, dst) = ips.smol();
        match proto {
            IpProtocol::Tcp => {
                let p = TcpPacket::new_checked(l4).unwrap();
                let r = TcpRepr::parse(&p, &src, &dst, &caps).unwrap();
                Parsed::Tcp {
                    ips,
                    src_port: r.src_port,
                    dst_port: r.dst_port,
                    control: r.control,
                    seq: r.seq_number.0 as u32,
                    ack: r.ack_number.map(|a| a.0 as u32),
                    mss: r.max_seg_size,
                    payload: r.payload.to_vec(),
                }
            }
            IpProtocol::Udp => {
                let p = UdpPacket::new_checked(l4).unwrap();
                let r = UdpRepr::parse(&p, &src, &dst, &caps).unwrap();
                assert_ne!(p.checksum(), 0, "UDP checksum must be filled in");
                Parsed::Udp {
                    ips,
                    src_port: r.src_port,
                    dst_port: r.dst_port,
                    payload: p.payload().to_vec(),
                }
            }
            IpProtocol::Icmp => {
                let p = Icmpv4Packet::new_checked(l4).unwrap();
                match Icmpv4Repr::parse(&p, &caps).unwrap() {
                    Icmpv4Repr::EchoRequest {
                        ident,
                        seq_no,
                        data,
                    } => Parsed::Echo {
                        ips,
                        kind: EchoKind::Request,
                        ident,
                        seq_no,
                        data: data.to_vec(),
                    },
                    Icmpv4Repr::EchoReply {
                        ident,
                        seq_no,
                        data,
                    } => Parsed::Echo {
                        ips,
                        kind: EchoKind::Reply,
                        ident,
                        seq_no,
                        data: data.to_vec(),
                    },
                    other => panic!("unexpected ICMPv4 {other:?}"),
                }
            }
            IpProtocol::Icmpv6 => {
                let IpPair::V6 { src, dst } = ips else {
                    panic!("ICMPv6 over IPv4");
                };
                let p = Icmpv6Packet::new_checked(l4).unwrap();
                match Icmpv6Repr::parse(&src, &dst, &p, &caps).unwrap() {
                    Icmpv6Repr::EchoRequest {
                        ident,
                        seq_no,
                        data,
                    } => Parsed::Echo {
                        ips,
                        kind: EchoKind::Request,
                        ident,
                        seq_no,
                        data: data.to_vec(),
                    },
                    Icmpv6Repr::EchoReply {
                        ident,
                        seq_no,
                        data,
                    } => Parsed::Echo {
                        ips,
                        kind: EchoKind::Reply,
                        ident,
                        seq_no,
                        data: data.to_vec(),
                    },
                    other => panic!("unexpected ICMPv6 {other:?}"),
                }
            }
            other => panic!("unexpected protocol {other}"),
        }
    }

    const C4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const S4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);
    const C6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
    const S6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7);

    fn tcp_roundtrip(ips: IpPair, seg: &TcpSegment<'_>) -> Parsed {
        let bytes = ip_tcp(ips, seg).unwrap();
        let parsed = parse(&bytes);
        assert_eq!(parsed.ips(), ips);
        parsed
    }

    #[test]
    fn every_tcp_flag_combination_parses_back_on_both_families() {
        let cases = [
            (TcpFlags::Syn, TcpControl::Syn, false),
            (TcpFlags::SynAck, TcpControl::Syn, true),
            (TcpFlags::Ack, TcpControl::None, true),
            (TcpFlags::PshAck, TcpControl::Psh, true),
            (TcpFlags::FinAck, TcpControl::Fin, true),
            (TcpFlags::Rst, TcpControl::Rst, false),
            (TcpFlags::RstAck, TcpControl::Rst, true),
        ];
        let pairs = [
            IpPair::V4 { src: C4, dst: S4 },
            IpPair::V6 { src: C6, dst: S6 },
        ];
        for ips in pairs {
            for (flags, control, has_ack) in cases {
                let seg = TcpSegment::new(40000, 443, flags, 0xFFFF_FFF0, 77);
                let Parsed::Tcp {
                    control: c,
                    seq,
                    ack,
                    src_port,
                    dst_port,
                    ..
                } = tcp_roundtrip(ips, &seg)
                else {
                    panic!("not TCP")
                };
                assert_eq!(c, control, "{flags:?}");
                assert_eq!(seq, 0xFFFF_FFF0);
                assert_eq!(ack, has_ack.then_some(77), "{flags:?}");
                assert_eq!((src_port, dst_port), (40000, 443));
            }
        }
    }

    #[test]
    fn syn_ack_carries_mss_and_data_carries_payload() {
        let ips = IpPair::V4 { src: S4, dst: C4 };
        let seg = TcpSegment::new(443, 40000, TcpFlags::SynAck, 9, 101).with_mss(1460);
        let Parsed::Tcp { mss, .. } = tcp_roundtrip(ips, &seg) else {
            panic!()
        };
        assert_eq!(mss, Some(1460));
        let data = b"hello, world";
        let seg = TcpSegment::new(40000, 443, TcpFlags::PshAck, 101, 10).with_payload(data);
        let Parsed::Tcp { payload, .. } = tcp_roundtrip(ips.reversed(), &seg) else {
            panic!()
        };
        assert_eq!(payload, data);
        assert_eq!(seg.next_seq(), 101 + data.len() as u32);
    }

    #[test]
    fn sequence_numbers_wrap_and_count_syn_and_fin() {
        let syn = TcpSegment::new(1, 2, TcpFlags::Syn, u32::MAX, 0);
        assert_eq!(syn.next_seq(), 0);
        let fin = TcpSegment::new(1, 2, TcpFlags::FinAck, 5, 0);
        assert_eq!(fin.next_seq(), 6);
        let ack = TcpSegment::new(1, 2, TcpFlags::Ack, 5, 0);
        assert_eq!(ack.next_seq(), 5);
    }

    #[test]
    fn udp_roundtrips_on_both_families() {
        let v4 = ipv4_udp(C4, S4, 5353, 53, b"abc").unwrap();
        assert_eq!(v4.len(), IPV4_HEADER_LEN + UDP_HEADER_LEN + 3);
        assert_eq!(
            parse(&v4),
            Parsed::Udp {
                ips: IpPair::V4 { src: C4, dst: S4 },
                src_port: 5353,
                dst_port: 53,
                payload: b"abc".to_vec()
            }
        );
        let v6 = ipv6_udp(S6, C6, 123, 40001, &[0; 48]).unwrap();
        assert_eq!(v6.len(), IPV6_HEADER_LEN + UDP_HEADER_LEN + 48);
        assert_eq!(
            parse(&v6),
            Parsed::Udp {
                ips: IpPair::V6 { src: S6, dst: C6 },
                src_port: 123,
                dst_port: 40001,
                payload: vec![0; 48]
            }
        );
    }

    #[test]
    fn icmp_echo_roundtrips_on_both_families() {
        for kind in [EchoKind::Request, EchoKind::Reply] {
            let p4 = icmpv4_echo(C4, S4, kind, 0x1234, 7, b"ping").unwrap();
            assert_eq!(
                parse(&p4),
                Parsed::Echo {
                    ips: IpPair::V4 { src: C4, dst: S4 },
                    kind,
                    ident: 0x1234,
                    seq_no: 7,
                    data: b"ping".to_vec()
                }
            );
            let p6 = icmpv6_echo(C6, S6, kind, 0x4321, 8, b"pong!").unwrap();
            assert_eq!(
                parse(&p6),
                Parsed::Echo {
                    ips: IpPair::V6 { src: C6, dst: S6 },
                    kind,
                    ident: 0x4321,
                    seq_no: 8,
                    data: b"pong!".to_vec()
                }
            );
        }
    }

    #[test]
    fn a_corrupted_byte_fails_the_checksum() {
        // Proves the round-trip tests really verify checksums.
        let mut bytes = ipv4_udp(C4, S4, 1000, 53, b"abcd").unwrap();
        *bytes.last_mut().unwrap() ^= 0xFF;
        let ip = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        let udp = UdpPacket::new_checked(ip.payload()).unwrap();
        let caps = ChecksumCapabilities::default();
        assert!(UdpRepr::parse(&udp, &S4.into(), &C4.into(), &caps).is_err());
        let mut bytes = ipv6_tcp(C6, S6, &TcpSegment::new(1, 2, TcpFlags::Syn, 3, 0)).unwrap();
        bytes[IPV6_HEADER_LEN + 4] ^= 1;
        let tcp = TcpPacket::new_checked(&bytes[IPV6_HEADER_LEN..]).unwrap();
        assert!(TcpRepr::parse(&tcp, &C6.into(), &S6.into(), &caps).is_err());
    }

    #[test]
    fn write_syn_fills_a_fixed_buffer_without_allocating() {
        let mut buf = [0u8; MAX_SYN_LEN];
        let n = write_syn(&mut buf, IpPair::V6 { src: C6, dst: S6 }, 50000, 22, 1).unwrap();
        assert_eq!(n, MAX_SYN_LEN);
        let Parsed::Tcp { control, .. } = parse(&buf[..n]) else {
            panic!()
        };
        assert_eq!(control, TcpControl::Syn);
        let n = write_syn(&mut buf, IpPair::V4 { src: C4, dst: S4 }, 50000, 22, 1).unwrap();
        assert_eq!(n, IPV4_HEADER_LEN + TCP_HEADER_LEN);
        assert!(matches!(parse(&buf[..n]), Parsed::Tcp { .. }));
        let mut small = [0u8; 39];
        assert_eq!(
            write_syn(&mut small, IpPair::V4 { src: C4, dst: S4 }, 1, 2, 3),
            Err(BuildError::BufferTooSmall { need: 40, have: 39 })
        );
    }

    #[test]
    fn oversized_payloads_and_mixed_families_are_errors() {
        let big = vec![0u8; 65_536];
        assert_eq!(
            ipv4_udp(C4, S4, 1, 2, &big[..65_508]),
            Err(BuildError::TooLarge {
                len: 65_516,
                max: 65_515
            })
        );
        assert!(ipv4_udp(C4, S4, 1, 2, &big[..65_507]).is_ok());
        assert!(matches!(
            ipv6_udp(C6, S6, 1, 2, &big),
            Err(BuildError::TooLarge { .. })
        ));
        assert_eq!(
            IpPair::new(C4.into(), S6.into()),
            Err(BuildError::FamilyMismatch)
        );
    }
}
