//! The transport layer: TCP and UDP through smoltcp, ICMP and SCTP through the
//! small views in this crate.

use smoltcp::wire::{TcpOption, TcpPacket, UdpPacket};

use crate::error::{Layer, WireError};
use crate::{icmp, proto, sctp};

/// TCP control flags, as one byte (FIN = bit 0 … CWR = bit 7, as on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;

    /// Whether every bit of `mask` is set.
    pub fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
    /// SYN is set.
    pub fn syn(self) -> bool {
        self.has(Self::SYN)
    }
    /// ACK is set.
    pub fn ack(self) -> bool {
        self.has(Self::ACK)
    }
    /// FIN is set.
    pub fn fin(self) -> bool {
        self.has(Self::FIN)
    }
    /// RST is set.
    pub fn rst(self) -> bool {
        self.has(Self::RST)
    }
}

/// A TCP segment's header fields and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (meaningful when ACK is set).
    pub ack: u32,
    /// Control flags.
    pub flags: TcpFlags,
    /// Receive window, unscaled.
    pub window: u16,
    /// Raw option bytes.
    pub options: &'a [u8],
    /// Segment payload.
    pub payload: &'a [u8],
}

impl<'a> TcpSegment<'a> {
    /// Iterate the options. Parsing stops at the end-of-list option or at the
    /// first malformed option (which is yielded as an error).
    pub fn options(&self) -> TcpOptions<'a> {
        TcpOptions { rest: self.options }
    }

    /// The MSS option, if the segment carries one.
    pub fn mss(&self) -> Option<u16> {
        self.options().find_map(|o| match o {
            Ok(TcpOption::MaxSegmentSize(m)) => Some(m),
            _ => None,
        })
    }
}

/// Iterator over TCP options (see [`TcpSegment::options`]).
#[derive(Debug, Clone)]
pub struct TcpOptions<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = Result<TcpOption<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match TcpOption::parse(self.rest) {
            Ok((_, TcpOption::EndOfList)) => {
                self.rest = &[];
                None
            }
            Ok((rest, option)) => {
                self.rest = rest;
                Some(Ok(option))
            }
            Err(_) => {
                self.rest = &[];
                Some(Err(WireError::BadLength(Layer::Tcp)))
            }
        }
    }
}

/// The upper-layer header of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport<'a> {
    /// TCP.
    Tcp(TcpSegment<'a>),
    /// UDP.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Datagram payload (up to the UDP length field).
        payload: &'a [u8],
    },
    /// ICMPv4 or ICMPv6.
    Icmp {
        /// True for ICMPv6.
        v6: bool,
        /// Message type.
        msg_type: u8,
        /// Message code.
        code: u8,
    },
    /// SCTP (ports only).
    Sctp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
    },
    /// A protocol this crate does not read; the number is in the IP header.
    Other,
}

/// Parse the upper-layer header `payload` of IP protocol `protocol`.
pub fn parse_transport(protocol: u8, payload: &[u8]) -> Result<Transport<'_>, WireError> {
    match protocol {
        proto::TCP => {
            let p = TcpPacket::new_checked(payload).map_err(|_| {
                if payload.len() < 20 {
                    WireError::Truncated(Layer::Tcp)
                } else {
                    WireError::BadLength(Layer::Tcp)
                }
            })?;
            let flags = payload.get(13).copied().unwrap_or(0);
            Ok(Transport::Tcp(TcpSegment {
                src_port: p.src_port(),
                dst_port: p.dst_port(),
                seq: p.seq_number().0 as u32,
                ack: p.ack_number().0 as u32,
                flags: TcpFlags(flags),
                window: p.window_len(),
                options: p.options(),
                payload: p.payload(),
            }))
        }
        proto::UDP => {
            let p = UdpPacket::new_checked(payload).map_err(|_| {
                if payload.len() < 8 {
                    WireError::Truncated(Layer::Udp)
                } else {
                    WireError::BadLength(Layer::Udp)
                }
            })?;
            Ok(Transport::Udp {
                src_port: p.src_port(),
                dst_port: p.dst_port(),
                payload: p.payload(),
            })
        }
        proto::ICMP | proto::ICMPV6 => {
            let p = icmp::Packet::new_checked(payload)?;
            Ok(Transport::Icmp {
                v6: protocol == proto::ICMPV6,
                msg_type: p.msg_type(),
                code: p.msg_code(),
            })
        }
        proto::SCTP => {
            let p = sctp::Packet::new_checked(payload)?;
            Ok(Transport::Sctp {
                src_port: p.src_port(),
                dst_port: p.dst_port(),
            })
        }
        _ => Ok(Transport::Other),
    }
}

/// Like [`parse_transport`], for a payload a capture's snap length cut short:
/// a UDP header whose length field runs past the kept bytes still gives its
/// ports (with the bytes that were kept as payload).
pub fn parse_transport_snapped(protocol: u8, payload: &[u8]) -> Result<Transport<'_>, WireError> {
    match parse_transport(protocol, payload) {
        Err(WireError::BadLength(Layer::Udp)) => {
            let port = |at: usize| {
                payload
                    .get(at..at + 2)
                    .and_then(|b| <[u8; 2]>::try_from(b).ok())
                    .map(u16::from_be_bytes)
                    .ok_or(WireError::Truncated(Layer::Udp))
            };
            Ok(Transport::Udp {
                src_port: port(0)?,
                dst_port: port(2)?,
                payload: payload.get(8..).unwrap_or(&[]),
            })
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1234 -> 443, seq 1, ack 0, SYN, window 65535, options: MSS 1460, NOP,
    /// window scale 7, SACK permitted, EOL, padding.
    const SYN: [u8; 32] = [
        0x04, 0xd2, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x80, 0x02, 0xff, 0xff, 0, 0, 0, 0, 2, 4,
        0x05, 0xb4, 1, 3, 3, 7, 4, 2, 0, 0,
    ];

    #[test]
    fn tcp_syn_with_options() {
        let Transport::Tcp(t) = parse_transport(proto::TCP, &SYN).unwrap() else {
            panic!("not tcp")
        };
        assert_eq!((t.src_port, t.dst_port, t.seq), (1234, 443, 1));
        assert!(t.flags.syn() && !t.flags.ack());
        assert_eq!(t.mss(), Some(1460));
        let opts: Vec<_> = t.options().collect::<Result<_, _>>().unwrap();
        assert_eq!(
            opts,
            vec![
                TcpOption::MaxSegmentSize(1460),
                TcpOption::NoOperation,
                TcpOption::WindowScale(7),
                TcpOption::SackPermitted,
            ]
        );
        assert!(t.payload.is_empty());
    }

    #[test]
    fn tcp_bad_data_offset() {
        let mut p = SYN;
        p[12] = 0x40; // data offset 4 words < 5
        assert_eq!(
            parse_transport(proto::TCP, &p),
            Err(WireError::BadLength(Layer::Tcp))
        );
        p[12] = 0xf0; // 60 bytes > 32 available
        assert_eq!(
            parse_transport(proto::TCP, &p),
            Err(WireError::BadLength(Layer::Tcp))
        );
        assert_eq!(
            parse_transport(proto::TCP, &SYN[..19]),
            Err(WireError::Truncated(Layer::Tcp))
        );
    }

    #[test]
    fn tcp_malformed_option_stops_iteration() {
        let mut p = SYN;
        p[21] = 40; // MSS option claims 40 bytes
        let Transport::Tcp(t) = parse_transport(proto::TCP, &p).unwrap() else {
            panic!("not tcp")
        };
        let opts: Vec<_> = t.options().collect();
        assert_eq!(opts, vec![Err(WireError::BadLength(Layer::Tcp))]);
    }

    #[test]
    fn udp_length_field_bounds_payload() {
        let p = [0, 53, 0xc3, 0x50, 0, 10, 0, 0, 0xab, 0xcd, 0xee, 0xee];
        let t = parse_transport(proto::UDP, &p).unwrap();
        assert_eq!(
            t,
            Transport::Udp {
                src_port: 53,
                dst_port: 50000,
                payload: &[0xab, 0xcd]
            }
        );
        assert_eq!(
            parse_transport(proto::UDP, &[0, 53, 0, 53, 0, 4, 0, 0]),
            Err(WireError::BadLength(Layer::Udp))
        );
        assert_eq!(
            parse_transport(proto::UDP, &p[..7]),
            Err(WireError::Truncated(Layer::Udp))
        );
    }

    #[test]
    fn snapped_udp_keeps_its_ports() {
        let p = [0, 53, 0xc3, 0x50, 0x01, 0x00, 0, 0, 1, 2];
        assert!(parse_transport(proto::UDP, &p).is_err());
        assert_eq!(
            parse_transport_snapped(proto::UDP, &p).unwrap(),
            Transport::Udp {
                src_port: 53,
                dst_port: 50000,
                payload: &[1, 2]
            }
        );
        assert!(parse_transport_snapped(proto::UDP, &p[..3]).is_err());
    }

    #[test]
    fn icmp_sctp_other() {
        assert_eq!(
            parse_transport(proto::ICMPV6, &[200, 3, 0, 0]).unwrap(),
            Transport::Icmp {
                v6: true,
                msg_type: 200,
                code: 3
            }
        );
        assert_eq!(
            parse_transport(proto::SCTP, &[0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap(),
            Transport::Sctp {
                src_port: 1,
                dst_port: 2
            }
        );
        assert_eq!(parse_transport(16, &[]).unwrap(), Transport::Other);
    }

    #[test]
    fn every_prefix_is_safe() {
        for proto in [
            proto::TCP,
            proto::UDP,
            proto::ICMP,
            proto::ICMPV6,
            proto::SCTP,
        ] {
            for n in 0..=SYN.len() {
                let _ = parse_transport(proto, &SYN[..n]);
            }
        }
    }
}
