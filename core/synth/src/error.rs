//! The one error type every builder in this crate returns.

/// Why a packet, payload or session could not be built.
///
/// The scenario generators only feed the builders small, well-formed inputs, so these arise
/// from caller-supplied arguments (a 70 KB UDP payload, a 64-character DNS label, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The transport segment does not fit the 16-bit IP length field.
    #[error("a {len}-byte transport segment does not fit an IP packet (at most {max})")]
    TooLarge {
        /// Bytes the transport layer (header and payload) would need.
        len: usize,
        /// The most that family's IP header can describe.
        max: usize,
    },
    /// The caller's buffer cannot hold the packet.
    #[error("a {need}-byte packet does not fit a {have}-byte buffer")]
    BufferTooSmall {
        /// Bytes the packet needs.
        need: usize,
        /// Bytes the buffer has.
        have: usize,
    },
    /// The two ends of a flow are of different IP families.
    #[error("device and remote addresses are of different IP families")]
    FamilyMismatch,
    /// A DNS name is empty, has an empty or over-long label, or is over 255 bytes on the wire.
    #[error("invalid DNS name {name:?}")]
    InvalidName {
        /// The name as given.
        name: String,
    },
    /// A length-prefixed field (DNS over TCP message, TLS record or extension) is over its limit.
    #[error("a {len}-byte {field} is over its {max}-byte limit")]
    FieldTooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit of its length prefix.
        max: usize,
    },
}
