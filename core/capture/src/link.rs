//! Link-layer types and decapsulation down to the raw IP packet.
//!
//! Everything here is zero-copy: [`decap`] returns a sub-slice of the frame it was given.
//! Trailing bytes after the IP packet (Ethernet padding, FCS) are deliberately kept, because
//! the IP layer knows its own length and trimming here would hide a mismatch from it.

use std::fmt;

/// A link-layer header type, as numbered in the tcpdump `LINKTYPE_*` registry.
///
/// A newtype rather than an enum so that values this crate does not know survive a
/// round trip and can be reported; the constants name the ones [`decap`] understands.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: 4-byte address family in the *capturing host's* byte order.
    pub const NULL: Self = Self(0);
    /// Ethernet II (and 802.3 frames, which are never IP here).
    pub const ETHERNET: Self = Self(1);
    /// PPP (RFC 1661), optionally with the HDLC-like `ff 03` address/control prefix.
    pub const PPP: Self = Self(9);
    /// `DLT_RAW` as some BSDs write it into pcap files instead of 101.
    pub const RAW_BSD: Self = Self(12);
    /// `DLT_RAW` as OpenBSD writes it into pcap files instead of 101.
    pub const RAW_OPENBSD: Self = Self(14);
    /// PPP in HDLC-like framing (RFC 1662).
    pub const PPP_HDLC: Self = Self(50);
    /// Raw IP, version told by the first nibble. What the VPN tunnel hands us.
    pub const RAW: Self = Self(101);
    /// OpenBSD loopback: 4-byte address family in network byte order.
    pub const LOOP: Self = Self(108);
    /// Linux "cooked" capture v1 (16-byte header), what `tcpdump -i any` writes.
    pub const LINUX_SLL: Self = Self(113);
    /// Raw IPv4 only.
    pub const IPV4: Self = Self(228);
    /// Raw IPv6 only.
    pub const IPV6: Self = Self(229);
    /// Linux "cooked" capture v2 (20-byte header).
    pub const LINUX_SLL2: Self = Self(276);

    /// Short name for display, `None` for types this crate does not decapsulate.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::NULL => "NULL",
            Self::ETHERNET => "ETHERNET",
            Self::PPP => "PPP",
            Self::RAW_BSD | Self::RAW_OPENBSD | Self::RAW => "RAW",
            Self::PPP_HDLC => "PPP_HDLC",
            Self::LOOP => "LOOP",
            Self::LINUX_SLL => "LINUX_SLL",
            Self::IPV4 => "IPV4",
            Self::IPV6 => "IPV6",
            Self::LINUX_SLL2 => "LINUX_SLL2",
            _ => return None,
        })
    }
}

impl fmt::Debug for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "LinkType::{name}({})", self.0),
            None => write!(f, "LinkType({})", self.0),
        }
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "link type {}", self.0),
        }
    }
}

/// Why a frame did not yield an IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecapError {
    /// The frame ends inside its link-layer header (or inside a VLAN tag).
    #[error("frame is shorter than its link-layer header")]
    Truncated,
    /// Ethernet / Linux cooked frame whose (innermost) EtherType is not IPv4 or IPv6,
    /// e.g. ARP (0x0806) or LLDP (0x88cc). Values below 0x0600 are 802.3 lengths.
    #[error("not an IP frame (EtherType {ethertype:#06x})")]
    NotIp {
        /// The EtherType after any VLAN tags.
        ethertype: u16,
    },
    /// BSD loopback frame whose address family is neither `AF_INET` nor an `AF_INET6`.
    #[error("not an IP frame (address family {family})")]
    NotIpFamily {
        /// The address family as read in the byte order that made it smallest.
        family: u32,
    },
    /// PPP frame carrying something other than IPv4 (0x0021) or IPv6 (0x0057).
    #[error("not an IP frame (PPP protocol {protocol:#06x})")]
    NotIpProtocol {
        /// The PPP protocol number.
        protocol: u16,
    },
    /// Raw-IP link type whose first nibble is not an IP version it allows.
    #[error("not an IP packet (version nibble {version})")]
    BadIpVersion {
        /// The high nibble of the first byte.
        version: u8,
    },
    /// The link type is not one [`decap`] understands.
    #[error("unsupported link type {0}")]
    UnsupportedLinkType(u32),
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;

const ETHERNET_HEADER: usize = 14;
const SLL_HEADER: usize = 16;
const SLL2_HEADER: usize = 20;
const LOOPBACK_HEADER: usize = 4;

const AF_INET: u32 = 2;
/// `AF_INET6` differs per OS: Linux 10, NetBSD/OpenBSD 24, FreeBSD 28, macOS/iOS 30.
const AF_INET6: [u32; 4] = [10, 24, 28, 30];

const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;

/// Strips the link-layer header of `frame` and returns the IP packet it carries.
///
/// Zero-copy and panic-free for any input. For raw-IP link types only the version nibble is
/// checked; deeper validation is the IP layer's job. Trailing padding is not trimmed.
pub fn decap(link_type: LinkType, frame: &[u8]) -> Result<&[u8], DecapError> {
    match link_type {
        LinkType::RAW | LinkType::RAW_BSD | LinkType::RAW_OPENBSD => raw_ip(frame, &[4, 6]),
        LinkType::IPV4 => raw_ip(frame, &[4]),
        LinkType::IPV6 => raw_ip(frame, &[6]),
        LinkType::ETHERNET => ethernet(frame),
        LinkType::LINUX_SLL => linux_sll(frame),
        LinkType::LINUX_SLL2 => linux_sll2(frame),
        LinkType::NULL => bsd_null(frame),
        LinkType::LOOP => openbsd_loop(frame),
        LinkType::PPP | LinkType::PPP_HDLC => ppp(frame),
        LinkType(other) => Err(DecapError::UnsupportedLinkType(other)),
    }
}

fn raw_ip<'a>(frame: &'a [u8], allowed: &[u8]) -> Result<&'a [u8], DecapError> {
    let first = frame.first().ok_or(DecapError::Truncated)?;
    let version = first >> 4;
    if allowed.contains(&version) {
        Ok(frame)
    } else {
        Err(DecapError::BadIpVersion { version })
    }
}

fn read_u16_be(bytes: &[u8], at: usize) -> Option<u16> {
    let pair: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_be_bytes(pair))
}

fn ethernet(frame: &[u8]) -> Result<&[u8], DecapError> {
    let ethertype = read_u16_be(frame, ETHERNET_HEADER - 2).ok_or(DecapError::Truncated)?;
    let (_, rest) = frame
        .split_at_checked(ETHERNET_HEADER)
        .ok_or(DecapError::Truncated)?;
    by_ethertype(ethertype, rest)
}

/// Dispatches on an EtherType, peeling any number of 802.1Q / 802.1ad tags first.
///
/// Each tag consumes 4 bytes, so the loop is bounded by the frame length.
fn by_ethertype(mut ethertype: u16, mut rest: &[u8]) -> Result<&[u8], DecapError> {
    while matches!(
        ethertype,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
    ) {
        // Tag = 2 bytes TCI, then the next EtherType.
        ethertype = read_u16_be(rest, 2).ok_or(DecapError::Truncated)?;
        rest = rest.get(4..).ok_or(DecapError::Truncated)?;
    }
    match ethertype {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => Ok(rest),
        other => Err(DecapError::NotIp { ethertype: other }),
    }
}

fn linux_sll(frame: &[u8]) -> Result<&[u8], DecapError> {
    let protocol = read_u16_be(frame, SLL_HEADER - 2).ok_or(DecapError::Truncated)?;
    let (_, rest) = frame
        .split_at_checked(SLL_HEADER)
        .ok_or(DecapError::Truncated)?;
    by_ethertype(protocol, rest)
}

fn linux_sll2(frame: &[u8]) -> Result<&[u8], DecapError> {
    let protocol = read_u16_be(frame, 0).ok_or(DecapError::Truncated)?;
    let (_, rest) = frame
        .split_at_checked(SLL2_HEADER)
        .ok_or(DecapError::Truncated)?;
    by_ethertype(protocol, rest)
}

fn loopback_header(frame: &[u8]) -> Result<([u8; 4], &[u8]), DecapError> {
    let (header, rest) = frame
        .split_at_checked(LOOPBACK_HEADER)
        .ok_or(DecapError::Truncated)?;
    let header: [u8; 4] = header.try_into().map_err(|_| DecapError::Truncated)?;
    Ok((header, rest))
}

fn is_ip_family(family: u32) -> bool {
    family == AF_INET || AF_INET6.contains(&family)
}

fn bsd_null(frame: &[u8]) -> Result<&[u8], DecapError> {
    let (header, rest) = loopback_header(frame)?;
    // Host byte order of whoever captured: try both, the families are all < 256 so the
    // wrong reading is always a huge number and can never collide with a valid one.
    let little = u32::from_le_bytes(header);
    let big = u32::from_be_bytes(header);
    if is_ip_family(little) || is_ip_family(big) {
        Ok(rest)
    } else {
        Err(DecapError::NotIpFamily {
            family: little.min(big),
        })
    }
}

fn openbsd_loop(frame: &[u8]) -> Result<&[u8], DecapError> {
    let (header, rest) = loopback_header(frame)?;
    let family = u32::from_be_bytes(header);
    if is_ip_family(family) {
        Ok(rest)
    } else {
        Err(DecapError::NotIpFamily { family })
    }
}

fn ppp(frame: &[u8]) -> Result<&[u8], DecapError> {
    // RFC 1662 address/control bytes are optional in captures.
    let frame = frame.strip_prefix(&[0xff, 0x03]).unwrap_or(frame);
    let first = *frame.first().ok_or(DecapError::Truncated)?;
    // Protocol-field compression (RFC 1661 §6.5): an odd first byte is a 1-byte protocol.
    let (protocol, rest) = if first & 1 == 1 {
        (
            u16::from(first),
            frame.get(1..).ok_or(DecapError::Truncated)?,
        )
    } else {
        let protocol = read_u16_be(frame, 0).ok_or(DecapError::Truncated)?;
        (protocol, frame.get(2..).ok_or(DecapError::Truncated)?)
    };
    match protocol {
        PPP_IPV4 | PPP_IPV6 => Ok(rest),
        other => Err(DecapError::NotIpProtocol { protocol: other }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal IPv4 header start followed by a marker payload.
    const IPV4: &[u8] = &[0x45, 0x00, 0x00, 0x18, 0xde, 0xad];
    /// A minimal IPv6 header start.
    const IPV6: &[u8] = &[0x60, 0x00, 0x00, 0x00, 0xbe, 0xef];

    fn eth(ethertype: u16, tags: &[(u16, u16)], payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
        // Outer TPIDs are written first; the EtherType field of the header is the first TPID.
        let mut types: Vec<u16> = tags.iter().map(|&(tpid, _)| tpid).collect();
        types.push(ethertype);
        f.extend_from_slice(&types[0].to_be_bytes());
        for (i, &(_, tci)) in tags.iter().enumerate() {
            f.extend_from_slice(&tci.to_be_bytes());
            f.extend_from_slice(&types[i + 1].to_be_bytes());
        }
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn raw_ip_checks_version_nibble_only() {
        assert_eq!(decap(LinkType::RAW, IPV4), Ok(IPV4));
        assert_eq!(decap(LinkType::RAW, IPV6), Ok(IPV6));
        assert_eq!(decap(LinkType::RAW_BSD, IPV4), Ok(IPV4));
        assert_eq!(decap(LinkType::RAW_OPENBSD, IPV6), Ok(IPV6));
        assert_eq!(
            decap(LinkType::RAW, &[0x00, 1, 2]),
            Err(DecapError::BadIpVersion { version: 0 })
        );
        assert_eq!(decap(LinkType::RAW, &[]), Err(DecapError::Truncated));
        // A single byte with a good nibble is handed on: length checks belong to the IP layer.
        assert_eq!(decap(LinkType::RAW, &[0x45]), Ok(&[0x45][..]));
    }

    #[test]
    fn ipv4_and_ipv6_only_link_types_reject_the_other_version() {
        assert_eq!(decap(LinkType::IPV4, IPV4), Ok(IPV4));
        assert_eq!(
            decap(LinkType::IPV4, IPV6),
            Err(DecapError::BadIpVersion { version: 6 })
        );
        assert_eq!(decap(LinkType::IPV6, IPV6), Ok(IPV6));
        assert_eq!(
            decap(LinkType::IPV6, IPV4),
            Err(DecapError::BadIpVersion { version: 4 })
        );
    }

    #[test]
    fn ethernet_ipv4_ipv6_and_padding_kept() {
        let f = eth(0x0800, &[], IPV4);
        assert_eq!(decap(LinkType::ETHERNET, &f), Ok(IPV4));
        let f = eth(0x86dd, &[], IPV6);
        assert_eq!(decap(LinkType::ETHERNET, &f), Ok(IPV6));

        let mut padded = IPV4.to_vec();
        padded.extend_from_slice(&[0; 40]);
        let f = eth(0x0800, &[], &padded);
        assert_eq!(decap(LinkType::ETHERNET, &f).map(<[u8]>::len), Ok(46));
    }

    #[test]
    fn ethernet_non_ip_and_truncated() {
        let arp = eth(0x0806, &[], &[0, 1, 8, 0]);
        assert_eq!(
            decap(LinkType::ETHERNET, &arp),
            Err(DecapError::NotIp { ethertype: 0x0806 })
        );
        let lldp = eth(0x88cc, &[], &[]);
        assert_eq!(
            decap(LinkType::ETHERNET, &lldp),
            Err(DecapError::NotIp { ethertype: 0x88cc })
        );
        let f = eth(0x0800, &[], IPV4);
        for cut in 0..14 {
            assert_eq!(
                decap(LinkType::ETHERNET, &f[..cut]),
                Err(DecapError::Truncated),
                "cut at {cut}"
            );
        }
        // Header complete, no payload: an empty IP packet is the IP layer's problem.
        assert_eq!(decap(LinkType::ETHERNET, &f[..14]), Ok(&[][..]));
    }

    #[test]
    fn vlan_single_double_and_triple_stacked() {
        let f = eth(0x0800, &[(0x8100, 0x0064)], IPV4);
        assert_eq!(decap(LinkType::ETHERNET, &f), Ok(IPV4));

        let f = eth(0x86dd, &[(0x88a8, 0x0010), (0x8100, 0x0064)], IPV6);
        assert_eq!(decap(LinkType::ETHERNET, &f), Ok(IPV6));

        let f = eth(0x0800, &[(0x9100, 1), (0x88a8, 2), (0x8100, 3)], IPV4);
        assert_eq!(decap(LinkType::ETHERNET, &f), Ok(IPV4));

        let f = eth(0x0806, &[(0x8100, 5)], &[0; 28]);
        assert_eq!(
            decap(LinkType::ETHERNET, &f),
            Err(DecapError::NotIp { ethertype: 0x0806 })
        );
    }

    #[test]
    fn vlan_tag_cut_short_is_truncated() {
        let f = eth(0x0800, &[(0x8100, 7), (0x8100, 8)], IPV4);
        // 14-byte header + 4 + 4 bytes of tags; any cut inside the tags is truncation.
        for cut in 14..22 {
            assert_eq!(
                decap(LinkType::ETHERNET, &f[..cut]),
                Err(DecapError::Truncated),
                "cut at {cut}"
            );
        }
        assert_eq!(decap(LinkType::ETHERNET, &f[..22]), Ok(&[][..]));
    }

    fn sll(protocol: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&0u16.to_be_bytes()); // packet type: to us
        f.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
        f.extend_from_slice(&6u16.to_be_bytes()); // address length
        f.extend_from_slice(&[2, 0, 0, 0, 0, 9, 0, 0]);
        f.extend_from_slice(&protocol.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn sll2(protocol: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&protocol.to_be_bytes());
        f.extend_from_slice(&0u16.to_be_bytes()); // reserved
        f.extend_from_slice(&3u32.to_be_bytes()); // ifindex
        f.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
        f.push(4); // packet type: outgoing
        f.push(6); // address length
        f.extend_from_slice(&[2, 0, 0, 0, 0, 9, 0, 0]);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn linux_cooked_v1() {
        assert_eq!(decap(LinkType::LINUX_SLL, &sll(0x0800, IPV4)), Ok(IPV4));
        assert_eq!(decap(LinkType::LINUX_SLL, &sll(0x86dd, IPV6)), Ok(IPV6));
        assert_eq!(
            decap(LinkType::LINUX_SLL, &sll(0x0806, &[0; 28])),
            Err(DecapError::NotIp { ethertype: 0x0806 })
        );
        let f = sll(0x0800, IPV4);
        assert_eq!(
            decap(LinkType::LINUX_SLL, &f[..15]),
            Err(DecapError::Truncated)
        );
        // A VLAN tag the kernel did not strip.
        let mut tagged = vec![0x00, 0x2a, 0x86, 0xdd];
        tagged.extend_from_slice(IPV6);
        assert_eq!(decap(LinkType::LINUX_SLL, &sll(0x8100, &tagged)), Ok(IPV6));
    }

    #[test]
    fn linux_cooked_v2() {
        assert_eq!(decap(LinkType::LINUX_SLL2, &sll2(0x0800, IPV4)), Ok(IPV4));
        assert_eq!(decap(LinkType::LINUX_SLL2, &sll2(0x86dd, IPV6)), Ok(IPV6));
        assert_eq!(
            decap(LinkType::LINUX_SLL2, &sll2(0x88cc, &[1, 2])),
            Err(DecapError::NotIp { ethertype: 0x88cc })
        );
        let f = sll2(0x86dd, IPV6);
        for cut in 0..20 {
            assert_eq!(
                decap(LinkType::LINUX_SLL2, &f[..cut]),
                Err(DecapError::Truncated),
                "cut at {cut}"
            );
        }
    }

    fn with_header(header: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut f = header.to_vec();
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn bsd_null_accepts_both_byte_orders_and_all_inet6_values() {
        let le_v4 = with_header(2u32.to_le_bytes(), IPV4);
        let be_v4 = with_header(2u32.to_be_bytes(), IPV4);
        assert_eq!(decap(LinkType::NULL, &le_v4), Ok(IPV4));
        assert_eq!(decap(LinkType::NULL, &be_v4), Ok(IPV4));
        for family in [10u32, 24, 28, 30] {
            let le = with_header(family.to_le_bytes(), IPV6);
            let be = with_header(family.to_be_bytes(), IPV6);
            assert_eq!(decap(LinkType::NULL, &le), Ok(IPV6), "AF {family} LE");
            assert_eq!(decap(LinkType::NULL, &be), Ok(IPV6), "AF {family} BE");
        }
        // AF_APPLETALK-ish junk is not IP, reported in its small reading.
        let other = with_header(7u32.to_le_bytes(), IPV4);
        assert_eq!(
            decap(LinkType::NULL, &other),
            Err(DecapError::NotIpFamily { family: 7 })
        );
        assert_eq!(
            decap(LinkType::NULL, &[2, 0, 0]),
            Err(DecapError::Truncated)
        );
    }

    #[test]
    fn openbsd_loop_is_network_byte_order() {
        let v4 = with_header(2u32.to_be_bytes(), IPV4);
        assert_eq!(decap(LinkType::LOOP, &v4), Ok(IPV4));
        let v6 = with_header(24u32.to_be_bytes(), IPV6);
        assert_eq!(decap(LinkType::LOOP, &v6), Ok(IPV6));
        let swapped = with_header(2u32.to_le_bytes(), IPV4);
        assert_eq!(
            decap(LinkType::LOOP, &swapped),
            Err(DecapError::NotIpFamily {
                family: 0x0200_0000
            })
        );
    }

    #[test]
    fn ppp_with_and_without_hdlc_prefix_and_compressed_protocol() {
        let mut plain = vec![0x00, 0x21];
        plain.extend_from_slice(IPV4);
        assert_eq!(decap(LinkType::PPP, &plain), Ok(IPV4));

        let mut hdlc = vec![0xff, 0x03, 0x00, 0x57];
        hdlc.extend_from_slice(IPV6);
        assert_eq!(decap(LinkType::PPP_HDLC, &hdlc), Ok(IPV6));
        assert_eq!(decap(LinkType::PPP, &hdlc), Ok(IPV6));

        let mut compressed = vec![0x57];
        compressed.extend_from_slice(IPV6);
        assert_eq!(decap(LinkType::PPP, &compressed), Ok(IPV6));

        assert_eq!(
            decap(LinkType::PPP, &[0xc0, 0x21, 1, 1]),
            Err(DecapError::NotIpProtocol { protocol: 0xc021 })
        );
        assert_eq!(decap(LinkType::PPP, &[0x00]), Err(DecapError::Truncated));
        assert_eq!(
            decap(LinkType::PPP, &[0xff, 0x03]),
            Err(DecapError::Truncated)
        );
    }

    #[test]
    fn unsupported_link_type_is_named() {
        assert_eq!(
            decap(LinkType(105), IPV4),
            Err(DecapError::UnsupportedLinkType(105))
        );
        assert_eq!(LinkType(105).to_string(), "link type 105");
        assert_eq!(LinkType::LINUX_SLL2.to_string(), "LINUX_SLL2 (276)");
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_results_borrow_the_input() {
        // Every prefix of a few awkward frames, for every link type we know plus one we don't.
        let mut frames = vec![
            eth(0x8100, &[(0x8100, 1), (0x88a8, 2)], &[0x81, 0x00]),
            sll(0x8100, &[0, 1, 0x81, 0x00, 0, 1]),
            sll2(0x88a8, &[0, 1]),
            vec![0xff, 0x03, 0xff],
        ];
        frames.push((0..=255u8).collect());
        for link in [0u32, 1, 9, 12, 14, 50, 101, 108, 113, 228, 229, 276, 999] {
            for frame in &frames {
                for cut in 0..=frame.len() {
                    let input = &frame[..cut];
                    // Zero-copy: any packet returned is a tail of the input.
                    if let Ok(ip) = decap(LinkType(link), input) {
                        assert!(input.ends_with(ip));
                        assert_eq!(ip.as_ptr_range().end, input.as_ptr_range().end);
                    }
                }
            }
        }
    }
}
