//! Walks the IPv6 extension header chain to the upper-layer header.

use core::net::Ipv6Addr;

use smoltcp::wire::{Ipv6ExtHeader, Ipv6FragmentHeader};

use crate::error::{Layer, WireError};
use crate::ip::Fragment;
use crate::proto;

/// Real stacks send at most a handful; a long chain is an attack on parsers.
pub(crate) const MAX_EXTENSION_HEADERS: usize = 8;

/// Where the extension header chain ended.
pub(crate) struct ChainEnd<'a> {
    /// The upper-layer protocol (or the fragment header's next header).
    pub protocol: u8,
    /// Bytes from the end of the fixed header to the upper-layer payload.
    pub ext_len: usize,
    /// The upper-layer payload.
    pub payload: &'a [u8],
    /// Set when a fragment header was found; the chain stops there because the
    /// rest of the headers belong to the reassembled datagram.
    pub fragment: Option<Fragment>,
    /// The last address of a type 0 or type 2 routing header with segments
    /// left: where the packet is really going.
    pub final_dst: Option<Ipv6Addr>,
}

/// The final destination named by a routing header's data (the bytes after
/// next-header and length), for the types that list plain addresses.
fn routing_final_dst(data: &[u8]) -> Option<Ipv6Addr> {
    let (&routing_type, rest) = data.split_first()?;
    let (&segments_left, rest) = rest.split_first()?;
    if segments_left == 0 || !matches!(routing_type, 0 | 2) {
        return None;
    }
    let addresses = rest.get(4..)?;
    let last = addresses.chunks_exact(16).last()?;
    Some(Ipv6Addr::from(<[u8; 16]>::try_from(last).ok()?))
}

pub(crate) fn walk(mut next: u8, mut rest: &[u8]) -> Result<ChainEnd<'_>, WireError> {
    let mut ext_len = 0usize;
    let mut final_dst = None;
    for _ in 0..MAX_EXTENSION_HEADERS {
        match next {
            proto::HOP_BY_HOP | proto::ROUTING | proto::DESTINATION_OPTIONS | proto::MOBILITY => {
                let header = Ipv6ExtHeader::new_checked(rest)
                    .map_err(|_| WireError::Truncated(Layer::Ipv6Extension))?;
                let len = 8 + usize::from(header.header_len()) * 8;
                if next == proto::ROUTING {
                    final_dst = routing_final_dst(header.payload()).or(final_dst);
                }
                next = u8::from(header.next_header());
                rest = rest
                    .get(len..)
                    .ok_or(WireError::Truncated(Layer::Ipv6Extension))?;
                ext_len += len;
            }
            proto::AH => {
                // AH counts its length in 4-octet units, minus two.
                let len_field = *rest
                    .get(1)
                    .ok_or(WireError::Truncated(Layer::Ipv6Extension))?;
                let len = (usize::from(len_field) + 2) * 4;
                next = *rest
                    .first()
                    .ok_or(WireError::Truncated(Layer::Ipv6Extension))?;
                rest = rest
                    .get(len..)
                    .ok_or(WireError::Truncated(Layer::Ipv6Extension))?;
                ext_len += len;
            }
            proto::FRAGMENT => {
                // The fragment header has no length byte (its second octet is
                // reserved), so the generic extension view does not fit it.
                let (fixed, payload) = rest
                    .split_at_checked(8)
                    .ok_or(WireError::Truncated(Layer::Ipv6Extension))?;
                let inner = fixed
                    .get(2..)
                    .ok_or(WireError::Truncated(Layer::Ipv6Extension))?;
                let header = Ipv6FragmentHeader::new_checked(inner)
                    .map_err(|_| WireError::Truncated(Layer::Ipv6Extension))?;
                let protocol = *fixed
                    .first()
                    .ok_or(WireError::Truncated(Layer::Ipv6Extension))?;
                return Ok(ChainEnd {
                    protocol,
                    ext_len: ext_len + 8,
                    payload,
                    fragment: Some(Fragment {
                        ident: header.ident(),
                        offset: u32::from(header.frag_offset()) * 8,
                        more: header.more_frags(),
                    }),
                    final_dst,
                });
            }
            proto::ESP => return Err(WireError::Encrypted),
            _ => {
                return Ok(ChainEnd {
                    protocol: next,
                    ext_len,
                    payload: rest,
                    fragment: None,
                    final_dst,
                });
            }
        }
    }
    Err(WireError::TooManyExtensionHeaders)
}
