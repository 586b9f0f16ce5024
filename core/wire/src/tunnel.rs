//! Encapsulations whose payload is another IP packet: IP in IP (RFC 2003,
//! RFC 4213 for IPv6 in IPv4, RFC 2473 for either in IPv6), GRE (RFC 2784 with
//! the RFC 2890 key and sequence fields) and GTP-U (3GPP TS 29.281) over UDP.
//!
//! On a phone these hardly occur, but captures from a network tap or a mobile
//! core are full of them, and the flows inside are the ones worth naming.
//! [`may_carry`] is the hot-path test: a protocol number or a UDP port, nothing
//! parsed. [`open`] then finds the inner packet or says which variant it is not
//! reading, so every unsupported one is counted under its own reason.

use crate::proto;

/// IP in IP: an IPv4 packet inside (RFC 2003; 4in6 per RFC 2473).
pub const IPIP: u8 = 4;
/// An IPv6 packet inside (6in4 and 6to4, RFC 4213; 6in6, RFC 2473).
pub const IPV6_IN_IP: u8 = 41;
/// Generic Routing Encapsulation.
pub const GRE: u8 = 47;
/// GTP-U's registered UDP port (TS 29.281 §4.4.2.3).
pub const GTP_U_PORT: u16 = 2152;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// Transparent Ethernet bridging (an Ethernet frame inside GRE).
const ETHERTYPE_TEB: u16 = 0x6558;
const ETHERTYPE_VLAN: u16 = 0x8100;
const GTP_G_PDU: u8 = 0xff;

/// Which encapsulation a packet used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TunnelKind {
    /// IPv4 inside IP (protocol 4).
    Ipip,
    /// IPv6 inside IP (protocol 41): 6in4, 6to4, 6in6.
    Ipv6InIp,
    /// GRE (protocol 47), IP or bridged Ethernet inside.
    Gre,
    /// GTP-U G-PDU over UDP port 2152.
    GtpU,
}

impl TunnelKind {
    /// A stable snake_case name for logs (Zeek's `Tunnel::Type` spelling where it has one).
    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::Ipip => "ip",
            TunnelKind::Ipv6InIp => "ip6",
            TunnelKind::Gre => "gre",
            TunnelKind::GtpU => "gtpv1",
        }
    }
}

/// Why a tunnel packet's inner packet is not read. Each is a counted reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
#[non_exhaustive]
pub enum TunnelError {
    /// The encapsulation header is cut short.
    #[error("tunnel header truncated")]
    Truncated,
    /// GRE version 1 (PPTP's enhanced GRE, PPP inside) or another version.
    #[error("GRE version is not 0")]
    GreVersion,
    /// GRE carries neither IP nor bridged Ethernet with IP (ERSPAN, MPLS, …).
    #[error("GRE payload protocol not supported")]
    GrePayload,
    /// GRE's source-routing bit (RFC 1701, obsoleted) is set.
    #[error("GRE source routing")]
    GreRouting,
    /// A GTP-U message other than a G-PDU (echo, error indication, end marker).
    #[error("GTP-U signalling message")]
    GtpSignalling,
    /// GTP version other than 1, or GTP' (protocol type 0).
    #[error("GTP version not supported")]
    GtpVersion,
    /// A G-PDU carrying something other than IPv4 or IPv6 (e.g. Ethernet or PPP PDUs).
    #[error("GTP-U payload is not IP")]
    GtpPayload,
    /// The inner packet's IP version is not the one the encapsulation announces.
    #[error("inner IP version does not match the tunnel")]
    InnerVersion,
}

/// The inner packet of a tunnel packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encapsulated<'a> {
    /// The encapsulation.
    pub kind: TunnelKind,
    /// The inner IP packet (may be cut short if the outer one was).
    pub inner: &'a [u8],
}

/// Whether a transport payload of `protocol` may be a tunnel: a protocol number
/// or a UDP port compared, nothing parsed.
#[inline]
pub fn may_carry(protocol: u8, payload: &[u8]) -> bool {
    match protocol {
        IPIP | IPV6_IN_IP | GRE => true,
        proto::UDP => match payload {
            [s0, s1, d0, d1, ..] => {
                u16::from_be_bytes([*s0, *s1]) == GTP_U_PORT
                    || u16::from_be_bytes([*d0, *d1]) == GTP_U_PORT
            }
            _ => false,
        },
        _ => false,
    }
}

/// The inner packet of a `protocol` payload (for UDP, the whole datagram with its
/// header). `Ok(None)`: not a tunnel after all (a UDP datagram not to or from 2152).
pub fn open(protocol: u8, payload: &[u8]) -> Result<Option<Encapsulated<'_>>, TunnelError> {
    let (kind, inner) = match protocol {
        IPIP => (TunnelKind::Ipip, ip_of_version(payload, 4)?),
        IPV6_IN_IP => (TunnelKind::Ipv6InIp, ip_of_version(payload, 6)?),
        GRE => (TunnelKind::Gre, gre(payload)?),
        proto::UDP if may_carry(protocol, payload) => {
            let body = payload.get(8..).ok_or(TunnelError::Truncated)?;
            (TunnelKind::GtpU, gtp_u(body)?)
        }
        _ => return Ok(None),
    };
    Ok(Some(Encapsulated { kind, inner }))
}

fn ip_of_version(packet: &[u8], version: u8) -> Result<&[u8], TunnelError> {
    match packet.first() {
        Some(b) if b >> 4 == version => Ok(packet),
        Some(_) => Err(TunnelError::InnerVersion),
        None => Err(TunnelError::Truncated),
    }
}

fn be16(b: &[u8], at: usize) -> Result<u16, TunnelError> {
    match b.get(at..at + 2) {
        Some([x, y]) => Ok(u16::from_be_bytes([*x, *y])),
        _ => Err(TunnelError::Truncated),
    }
}

/// RFC 2784 §2.1: C bit, reserved bits, version; RFC 2890 adds K and S.
fn gre(b: &[u8]) -> Result<&[u8], TunnelError> {
    let flags = be16(b, 0)?;
    if flags & 0x0007 != 0 {
        return Err(TunnelError::GreVersion);
    }
    if flags & 0x4000 != 0 {
        return Err(TunnelError::GreRouting);
    }
    let ethertype = be16(b, 2)?;
    let optional = [0x8000u16, 0x2000, 0x1000] // checksum(+reserved1), key, sequence
        .iter()
        .filter(|&&bit| flags & bit != 0)
        .count();
    let body = b.get(4 + 4 * optional..).ok_or(TunnelError::Truncated)?;
    match ethertype {
        ETHERTYPE_IPV4 => ip_of_version(body, 4),
        ETHERTYPE_IPV6 => ip_of_version(body, 6),
        ETHERTYPE_TEB => ethernet(body),
        _ => Err(TunnelError::GrePayload),
    }
}

/// An Ethernet II frame (one optional 802.1Q tag) carrying IP.
fn ethernet(frame: &[u8]) -> Result<&[u8], TunnelError> {
    let mut at = 12;
    let mut ethertype = be16(frame, at)?;
    if ethertype == ETHERTYPE_VLAN {
        at += 4;
        ethertype = be16(frame, at)?;
    }
    let body = frame.get(at + 2..).ok_or(TunnelError::Truncated)?;
    match ethertype {
        ETHERTYPE_IPV4 => ip_of_version(body, 4),
        ETHERTYPE_IPV6 => ip_of_version(body, 6),
        _ => Err(TunnelError::GrePayload),
    }
}

/// TS 29.281 §5.1: 8 mandatory bytes, 4 more when E, S or PN is set, then
/// extension headers chained by their last byte (lengths in 4-byte units).
fn gtp_u(b: &[u8]) -> Result<&[u8], TunnelError> {
    let flags = *b.first().ok_or(TunnelError::Truncated)?;
    if flags >> 5 != 1 || flags & 0x10 == 0 {
        return Err(TunnelError::GtpVersion);
    }
    let msg_type = *b.get(1).ok_or(TunnelError::Truncated)?;
    if msg_type != GTP_G_PDU {
        return Err(TunnelError::GtpSignalling);
    }
    // The Length field counts the bytes after the mandatory header; a capture
    // may have cut them, which the inner parse then reports.
    let length = usize::from(be16(b, 2)?);
    let end = (8 + length).min(b.len());
    let mut at = 8;
    if flags & 0x07 != 0 {
        let mut next = *b.get(11).ok_or(TunnelError::Truncated)?;
        at = 12;
        while next != 0 {
            let units = usize::from(*b.get(at).ok_or(TunnelError::Truncated)?);
            if units == 0 {
                return Err(TunnelError::Truncated);
            }
            at += 4 * units;
            next = *b.get(at - 1).ok_or(TunnelError::Truncated)?;
        }
    }
    let inner = b.get(at..end).ok_or(TunnelError::Truncated)?;
    match inner.first().map(|v| v >> 4) {
        Some(4 | 6) => Ok(inner),
        Some(_) => Err(TunnelError::GtpPayload),
        None => Err(TunnelError::Truncated),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal IPv4 header (no options) around `protocol` and `payload`.
    fn v4(protocol: u8, payload: &[u8]) -> Vec<u8> {
        let total = (20 + payload.len()) as u16;
        let mut p = vec![0x45, 0];
        p.extend(total.to_be_bytes());
        p.extend([0, 0, 0, 0, 64, protocol, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        p.extend(payload);
        p
    }

    fn v6(next: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend((payload.len() as u16).to_be_bytes());
        p.extend([next, 64]);
        p.extend([0x20, 1, 0x0d, 0xb8].iter().chain(&[0; 11]).chain(&[1]));
        p.extend([0x20, 1, 0x0d, 0xb8].iter().chain(&[0; 11]).chain(&[2]));
        p.extend(payload);
        p
    }

    #[test]
    fn ip_in_ip_both_ways() {
        let inner6 = v6(17, &[0; 8]);
        let got = open(IPV6_IN_IP, &inner6).unwrap().unwrap();
        assert_eq!((got.kind, got.inner), (TunnelKind::Ipv6InIp, &inner6[..]));
        let inner4 = v4(6, &[0; 20]);
        let got = open(IPIP, &inner4).unwrap().unwrap();
        assert_eq!((got.kind, got.inner), (TunnelKind::Ipip, &inner4[..]));
        assert_eq!(open(IPIP, &inner6), Err(TunnelError::InnerVersion));
        assert_eq!(open(IPV6_IN_IP, &[]), Err(TunnelError::Truncated));
        assert!(may_carry(IPIP, &[]) && may_carry(IPV6_IN_IP, &[]) && may_carry(GRE, &[]));
        assert!(!may_carry(proto::TCP, &[0x08, 0x68, 0x08, 0x68]));
    }

    #[test]
    fn gre_rfc2784_with_rfc2890_fields() {
        let inner = v4(17, &[0; 8]);
        // Plain header: flags 0, protocol type IPv4.
        let mut g = vec![0, 0, 0x08, 0x00];
        g.extend(&inner);
        assert_eq!(open(GRE, &g).unwrap().unwrap().inner, &inner[..]);
        // Checksum, key and sequence present: 12 optional bytes.
        let mut g = vec![0xb0, 0, 0x86, 0xdd];
        g.extend([0; 12]);
        let inner6 = v6(6, &[0; 20]);
        g.extend(&inner6);
        assert_eq!(open(GRE, &g).unwrap().unwrap().inner, &inner6[..]);
        // Bridged Ethernet with a VLAN tag.
        let mut g = vec![0, 0, 0x65, 0x58];
        g.extend([0; 12]);
        g.extend([0x81, 0x00, 0, 7, 0x08, 0x00]);
        g.extend(&inner);
        assert_eq!(open(GRE, &g).unwrap().unwrap().inner, &inner[..]);
        // PPTP's enhanced GRE (version 1), ERSPAN, routing, truncation.
        assert_eq!(
            open(GRE, &[0x30, 0x81, 0x88, 0x0b, 0, 0, 0, 0]),
            Err(TunnelError::GreVersion)
        );
        assert_eq!(
            open(GRE, &[0x10, 0, 0x88, 0xbe, 0, 0, 0, 0]),
            Err(TunnelError::GrePayload)
        );
        assert_eq!(
            open(GRE, &[0x40, 0, 0x08, 0x00, 0, 0, 0, 0]),
            Err(TunnelError::GreRouting)
        );
        assert_eq!(
            open(GRE, &[0x80, 0, 0x08, 0x00, 0, 0]),
            Err(TunnelError::Truncated)
        );
    }

    fn udp(sport: u16, dport: u16, body: &[u8]) -> Vec<u8> {
        let mut u = Vec::new();
        u.extend(sport.to_be_bytes());
        u.extend(dport.to_be_bytes());
        u.extend((8 + body.len() as u16).to_be_bytes());
        u.extend([0, 0]);
        u.extend(body);
        u
    }

    #[test]
    fn gtp_u_g_pdu_with_and_without_extension_headers() {
        let inner = v4(6, &[0; 20]);
        // TS 29.281 §5.1: version 1, PT 1, no optional fields; TEID 0x01020304.
        let mut g = vec![0x30, 0xff];
        g.extend((inner.len() as u16).to_be_bytes());
        g.extend([1, 2, 3, 4]);
        g.extend(&inner);
        let d = udp(40000, GTP_U_PORT, &g);
        assert!(may_carry(proto::UDP, &d));
        let got = open(proto::UDP, &d).unwrap().unwrap();
        assert_eq!((got.kind, got.inner), (TunnelKind::GtpU, &inner[..]));

        // E set: sequence, N-PDU, next type 0x85 (PDU session container, 1 unit), then none.
        let mut g = vec![0x34, 0xff];
        g.extend((inner.len() as u16 + 4 + 4).to_be_bytes());
        g.extend([1, 2, 3, 4, 0, 0, 0, 0x85, 1, 0x10, 0x09, 0x00]);
        g.extend(&inner);
        let d = udp(GTP_U_PORT, GTP_U_PORT, &g);
        let got = open(proto::UDP, &d).unwrap().unwrap();
        assert_eq!(got.inner, &inner[..]);

        // Echo request, GTPv2-C version, a zero-length extension, a non-IP PDU.
        let echo = udp(
            GTP_U_PORT,
            GTP_U_PORT,
            &[0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0],
        );
        assert_eq!(open(proto::UDP, &echo), Err(TunnelError::GtpSignalling));
        let v2 = udp(GTP_U_PORT, GTP_U_PORT, &[0x48, 0xff, 0, 0, 0, 0, 0, 0]);
        assert_eq!(open(proto::UDP, &v2), Err(TunnelError::GtpVersion));
        let zero_ext = udp(
            1,
            GTP_U_PORT,
            &[0x34, 0xff, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0x85, 0],
        );
        assert_eq!(open(proto::UDP, &zero_ext), Err(TunnelError::Truncated));
        let eth = udp(1, GTP_U_PORT, &[0x30, 0xff, 0, 2, 0, 0, 0, 0, 0x00, 0x11]);
        assert_eq!(open(proto::UDP, &eth), Err(TunnelError::GtpPayload));
        // Not GTP after all.
        assert_eq!(open(proto::UDP, &udp(53, 5353, &[0; 4])), Ok(None));
        assert_eq!(open(proto::TCP, &[0; 20]), Ok(None));
    }

    #[test]
    fn every_prefix_and_bit_flip_is_an_answer_not_a_panic() {
        let inner = v4(6, &[0; 20]);
        let mut g = vec![
            0x34, 0xff, 0, 40, 1, 2, 3, 4, 0, 0, 0, 0x85, 1, 0x10, 0x09, 0x00,
        ];
        g.extend(&inner);
        let cases = [
            (proto::UDP, udp(1, GTP_U_PORT, &g)),
            (GRE, {
                let mut x = vec![0xb0, 0, 0x65, 0x58];
                x.extend([0; 24]);
                x.extend([0x81, 0, 0, 0, 0x08, 0]);
                x.extend(&inner);
                x
            }),
        ];
        for (protocol, bytes) in cases {
            for n in 0..=bytes.len() {
                let _ = open(protocol, &bytes[..n]);
            }
            for i in 0..bytes.len() * 8 {
                let mut b = bytes.clone();
                b[i / 8] ^= 1 << (i % 8);
                if let Ok(Some(e)) = open(protocol, &b) {
                    assert!(e.inner.len() <= b.len());
                }
            }
        }
    }
}
