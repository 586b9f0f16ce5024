//! SCTP common header: ports and verification tag. smoltcp has no SCTP.

use crate::error::{Layer, WireError};

/// Length of the SCTP common header.
pub const HEADER_LEN: usize = 12;

/// A checked view of an SCTP common header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap `buffer` after checking it holds the common header.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated(Layer::Sctp));
        }
        Ok(Packet { buffer })
    }

    fn u16_at(&self, at: usize) -> u16 {
        self.buffer
            .as_ref()
            .get(at..at + 2)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
            .map_or(0, u16::from_be_bytes)
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        self.u16_at(0)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        self.u16_at(2)
    }

    /// Verification tag.
    pub fn verification_tag(&self) -> u32 {
        self.buffer
            .as_ref()
            .get(4..8)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, u32::from_be_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ports() {
        let p = Packet::new_checked([0x0b, 0x59, 0x00, 0x50, 1, 2, 3, 4, 0, 0, 0, 0]).unwrap();
        assert_eq!(p.src_port(), 2905);
        assert_eq!(p.dst_port(), 80);
        assert_eq!(p.verification_tag(), 0x0102_0304);
        assert!(Packet::new_checked([0u8; 11]).is_err());
    }
}
