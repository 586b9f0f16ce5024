//! Minimal classic-pcap writer for raw IP packets.

use std::borrow::Cow;
use std::io::Write;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket};
use pcap_file::{DataLink, Endianness, TsResolution};

use crate::error::WriteError;

/// Snapshot length written into the file header: tcpdump's maximum, larger than any IP packet
/// without jumbograms.
pub const WRITER_SNAPLEN: u32 = 262_144;

/// Writes raw IP packets (link type 101) into a classic pcap with microsecond timestamps, the
/// format every tool opens. Used to save generated traffic for replay and inspection.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    inner: pcap_file::pcap::PcapWriter<W>,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header to `w`.
    pub fn new(w: W) -> Result<Self, WriteError> {
        let header = PcapHeader {
            version_major: 2,
            version_minor: 4,
            ts_correction: 0,
            ts_accuracy: 0,
            snaplen: WRITER_SNAPLEN,
            datalink: DataLink::RAW,
            ts_resolution: TsResolution::MicroSecond,
            endianness: Endianness::Little,
        };
        let inner =
            pcap_file::pcap::PcapWriter::with_header(w, header).map_err(WriteError::from_pcap)?;
        Ok(Self { inner })
    }

    /// Appends one packet captured at `ts_micros` (microseconds since the Unix epoch).
    pub fn write_packet(&mut self, ts_micros: u64, packet: &[u8]) -> Result<(), WriteError> {
        let max = WRITER_SNAPLEN;
        let len = u32::try_from(packet.len())
            .ok()
            .filter(|&len| len <= max)
            .ok_or(WriteError::PacketTooLarge {
                len: packet.len(),
                max,
            })?;
        if ts_micros / 1_000_000 > u64::from(u32::MAX) {
            return Err(WriteError::TimestampOutOfRange { ts_micros });
        }
        let record = PcapPacket {
            timestamp: Duration::from_micros(ts_micros),
            orig_len: len,
            data: Cow::Borrowed(packet),
        };
        self.inner
            .write_packet(&record)
            .map(|_| ())
            .map_err(WriteError::from_pcap)
    }

    /// Returns the underlying writer (not flushed).
    pub fn into_inner(self) -> W {
        self.inner.into_writer()
    }
}
