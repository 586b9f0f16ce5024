//! ICMPv4 and ICMPv6: only what a flow table needs (type, code, echo identifier).
//!
//! smoltcp's ICMPv6 view refuses message types it does not know, but every
//! ICMP message is a flow to count, so this view checks only the 4-byte header.

use crate::error::{Layer, WireError};

/// A checked view of an ICMP (v4 or v6) header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

/// Length of the fixed part (type, code, checksum).
pub const HEADER_LEN: usize = 4;

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap `buffer` after checking it holds the fixed header.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated(Layer::Icmp));
        }
        Ok(Packet { buffer })
    }

    fn byte(&self, i: usize) -> u8 {
        // In range after `new_checked` for i < HEADER_LEN; 0 keeps us panic-free regardless.
        self.buffer.as_ref().get(i).copied().unwrap_or(0)
    }

    /// Message type.
    pub fn msg_type(&self) -> u8 {
        self.byte(0)
    }

    /// Message code.
    pub fn msg_code(&self) -> u8 {
        self.byte(1)
    }

    /// The echo identifier, for echo requests and replies that carry one.
    pub fn echo_ident(&self) -> Option<u16> {
        let b = self.buffer.as_ref().get(4..6)?;
        Some(u16::from_be_bytes(b.try_into().ok()?))
    }
}

/// The counterpart type of an ICMP request/response pair, as Community ID v1
/// defines it, so that a request and its reply land in one flow.
pub fn counterpart_v4(msg_type: u8) -> Option<u8> {
    Some(match msg_type {
        8 => 0,
        0 => 8,
        13 => 14,
        14 => 13,
        15 => 16,
        16 => 15,
        10 => 9,
        9 => 10,
        17 => 18,
        18 => 17,
        _ => return None,
    })
}

/// ICMPv6 counterpart types (Community ID v1).
pub fn counterpart_v6(msg_type: u8) -> Option<u8> {
    Some(match msg_type {
        128 => 129,
        129 => 128,
        133 => 134,
        134 => 133,
        135 => 136,
        136 => 135,
        130 => 131,
        131 => 130,
        144 => 145,
        145 => 144,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_echo() {
        let p = Packet::new_checked([8u8, 0, 0xf7, 0xff, 0x12, 0x34, 0, 1]).unwrap();
        assert_eq!(p.msg_type(), 8);
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.echo_ident(), Some(0x1234));
    }

    #[test]
    fn short_is_rejected() {
        assert_eq!(
            Packet::new_checked([8u8, 0, 0]),
            Err(WireError::Truncated(Layer::Icmp))
        );
        let p = Packet::new_checked([3u8, 1, 0, 0]).unwrap();
        assert_eq!(p.echo_ident(), None);
    }

    #[test]
    fn counterparts_pair_up() {
        for t in 0..=255u8 {
            if let Some(c) = counterpart_v4(t) {
                assert_eq!(counterpart_v4(c), Some(t));
            }
            if let Some(c) = counterpart_v6(t) {
                assert_eq!(counterpart_v6(c), Some(t));
            }
        }
        assert_eq!(counterpart_v4(3), None);
    }
}
