//! Typed errors for reading and writing capture files.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Displays where a capture came from: its path, or `<stream>` for [`crate::CaptureReader::from_reader`].
struct Origin<'a>(Option<&'a Path>);

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(path) => write!(f, "{}", path.display()),
            None => f.write_str("<stream>"),
        }
    }
}

fn origin(path: &Option<PathBuf>) -> Origin<'_> {
    Origin(path.as_deref())
}

/// Space-separated lowercase hex, the way `xxd` users read magic numbers.
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// Why a capture could not be opened or read further.
///
/// Every variant carries the path (`None` when reading from a stream) so that its `Display`
/// is a complete message for a user. Record numbers count packet records from 1, the way
/// Wireshark numbers frames; non-packet pcapng blocks are not counted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// Opening or reading the file (or decompressing it) failed.
    #[error("{}: {source}", origin(.path))]
    Io {
        /// The capture's path, if it was opened by path.
        path: Option<PathBuf>,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The data holds fewer bytes than any capture header.
    #[error("{}: too short to be a pcap or pcapng file ({len} bytes)", origin(.path))]
    TooShort {
        /// The capture's path, if it was opened by path.
        path: Option<PathBuf>,
        /// How many bytes there were (after decompression).
        len: usize,
    },
    /// The first four bytes (after decompression) are no pcap or pcapng magic number.
    #[error("{}: not a pcap or pcapng file (starts with {})", origin(.path), Hex(.magic))]
    NotACapture {
        /// The capture's path, if it was opened by path.
        path: Option<PathBuf>,
        /// The bytes found where the magic number should be.
        magic: [u8; 4],
    },
    /// The data ends inside the file header.
    #[error("{}: file ends inside its header", origin(.path))]
    TruncatedHeader {
        /// The capture's path, if it was opened by path.
        path: Option<PathBuf>,
    },
    /// The data ends inside a record: the capture was cut short (e.g. tcpdump was killed).
    /// All records before it were delivered.
    #[error("{}: file ends inside record {frame}; the capture was cut short", origin(.path))]
    Truncated {
        /// The capture's path, if it was opened by path.
        path: Option<PathBuf>,
        /// 1-based number of the incomplete packet record.
        frame: u64,
    },
    /// A record claims a size above [`crate::MAX_RECORD_BYTES`]; almost always corruption.
    #[error(
        "{}: record {frame} claims {len} bytes, more than the {max}-byte limit (corrupt file?)",
        origin(.path)
    )]
    RecordTooLarge {
        /// The capture's path, if it was opened by path.
        path: Option<PathBuf>,
        /// 1-based number of the offending packet record.
        frame: u64,
        /// The length the record header claims.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A header or record is malformed.
    #[error("{}: malformed capture at record {frame}: {source}", origin(.path))]
    Format {
        /// The capture's path, if it was opened by path.
        path: Option<PathBuf>,
        /// 1-based number of the next packet record (0 for the file header).
        frame: u64,
        /// What was wrong.
        #[source]
        source: FormatError,
    },
    /// A pcapng packet refers to an interface no Interface Description Block declared.
    /// Only this record is lost; reading can continue.
    #[error(
        "{}: record {frame} refers to interface {interface_id}, which the file never described",
        origin(.path)
    )]
    UnknownInterface {
        /// The capture's path, if it was opened by path.
        path: Option<PathBuf>,
        /// 1-based number of the packet record.
        frame: u64,
        /// The interface id the record named.
        interface_id: u32,
    },
    /// A pcapng section declares more interfaces than [`crate::MAX_INTERFACES`].
    #[error("{}: more than {max} interfaces in one pcapng section", origin(.path))]
    TooManyInterfaces {
        /// The capture's path, if it was opened by path.
        path: Option<PathBuf>,
        /// The limit.
        max: usize,
    },
}

impl CaptureError {
    /// Whether reading can go on after this error. Only a record-local problem allows it;
    /// after any other error the reader yields nothing more.
    pub fn is_recoverable(&self) -> bool {
        matches!(self, Self::UnknownInterface { .. })
    }
}

/// What was malformed, translated from the `pcap-file` parser so that its types stay out of
/// this crate's API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// A field holds an impossible value; the text is the parser's description of it.
    #[error("invalid field: {0}")]
    InvalidField(&'static str),
    /// A pcapng text option is not valid UTF-8.
    #[error("a text option is not valid UTF-8")]
    InvalidUtf8,
    /// A pcapng block is shorter than the fields its type requires.
    #[error("a block is shorter than its fields")]
    ShortBlock,
    /// The parser reported something this crate does not know how to classify.
    #[error("unclassified parser error")]
    Other,
}

impl FormatError {
    pub(crate) fn from_pcap(err: &pcap_file::PcapError) -> Self {
        use pcap_file::PcapError;
        match err {
            PcapError::InvalidField(what) => Self::InvalidField(what),
            PcapError::Utf8Error(_) | PcapError::FromUtf8Error(_) => Self::InvalidUtf8,
            PcapError::IncompleteBuffer => Self::ShortBlock,
            PcapError::InvalidInterfaceId(_) | PcapError::IoError(_) => Self::Other,
        }
    }
}

/// Why a packet could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The underlying writer failed.
    #[error("write failed: {0}")]
    Io(#[source] io::Error),
    /// The packet is larger than the file's snapshot length ([`crate::WRITER_SNAPLEN`]).
    #[error("packet of {len} bytes exceeds the {max}-byte snapshot length")]
    PacketTooLarge {
        /// The packet's length.
        len: usize,
        /// The limit.
        max: u32,
    },
    /// Classic pcap stores seconds in 32 bits; this timestamp is past 2106-02-07.
    #[error("timestamp {ts_micros} µs does not fit a pcap record")]
    TimestampOutOfRange {
        /// The rejected timestamp.
        ts_micros: u64,
    },
    /// `pcap-file` rejected the record for a reason checked nowhere else.
    #[error("pcap writer rejected the record: {0}")]
    Rejected(&'static str),
}

impl WriteError {
    pub(crate) fn from_pcap(err: pcap_file::PcapError) -> Self {
        match err {
            pcap_file::PcapError::IoError(e) => Self::Io(e),
            pcap_file::PcapError::InvalidField(what) => Self::Rejected(what),
            _ => Self::Rejected("unexpected parser error"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_a_capture_message_names_path_and_bytes() {
        let err = CaptureError::NotACapture {
            path: Some(PathBuf::from("dump/index.pcap")),
            magic: *b"<htm",
        };
        assert_eq!(
            err.to_string(),
            "dump/index.pcap: not a pcap or pcapng file (starts with 3c 68 74 6d)"
        );
        let err = CaptureError::Truncated {
            path: None,
            frame: 7,
        };
        assert_eq!(
            err.to_string(),
            "<stream>: file ends inside record 7; the capture was cut short"
        );
        assert!(!err.is_recoverable());
    }
}
