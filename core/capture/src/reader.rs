//! Streaming reader for pcap / pcapng files, gzip-compressed or not.
//!
//! `pcap-file`'s slice parsers do the container parsing; this module owns the read buffer so
//! that frames can be lent out without copying and so that buffer growth is capped.

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::read::MultiGzDecoder;
use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::PcapNgParser;
use pcap_file::pcapng::blocks::Block;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::{Endianness, PcapError, TsResolution};

use crate::error::{CaptureError, FormatError};
use crate::link::{DecapError, LinkType, decap};

/// Largest record (packet record or pcapng block) accepted. Real captures stay far below
/// (tcpdump caps snaplen at 256 KiB); a bigger claim is corruption, and refusing it keeps
/// the read buffer bounded.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// Most interfaces accepted in one pcapng section. Each costs a few bytes, but a hostile file
/// could otherwise declare millions.
pub const MAX_INTERFACES: usize = 4096;

const INITIAL_BUFFER: usize = 64 * 1024;
/// Headroom over [`MAX_RECORD_BYTES`] for the record header itself.
const MAX_BUFFER: usize = MAX_RECORD_BYTES + 64;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x4d, 0x3c, 0xb2, 0xa1],
];
const PCAP_RECORD_HEADER: usize = 16;
/// libpcap keeps FCS flags in the upper bits of the pcap header's link type field.
const PCAP_LINKTYPE_MASK: u32 = 0x0000_ffff;

/// One packet record, lent from the reader's buffer until the next call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Capture time in microseconds since the Unix epoch (finer resolutions are truncated).
    pub ts_micros: u64,
    /// Length of the packet on the wire; `captured` may be shorter (snaplen).
    pub orig_len: u32,
    /// The bytes stored in the file, link-layer header included.
    pub captured: &'a [u8],
    /// The link type of the interface this frame was captured on.
    pub link_type: LinkType,
    /// The raw IP packet inside `captured`, or why there is none.
    pub ip: Result<&'a [u8], DecapError>,
}

/// Container format of an opened capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaptureFormat {
    /// Classic libpcap format.
    Pcap {
        /// Nanosecond-resolution magic (`a1 b2 3c 4d`).
        nanosecond: bool,
    },
    /// pcapng.
    PcapNg,
}

/// Counts bytes pulled from the underlying source, shared with the reader because the
/// counting wrapper ends up buried inside a gzip decoder.
struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Outcome of asking for more input.
enum Fill {
    More,
    Eof,
    BufferFull,
}

/// A bounded, growable window over the (decompressed) byte stream.
struct Input {
    src: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// Start of unconsumed data.
    start: usize,
    /// End of valid data.
    end: usize,
    eof: bool,
}

impl Input {
    fn available(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.end);
    }

    fn fill(&mut self) -> io::Result<Fill> {
        if self.eof {
            return Ok(Fill::Eof);
        }
        if self.start > 0 {
            // Invariant start <= end <= buf.len() makes this range valid.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end >= self.buf.len() {
            if self.buf.len() >= MAX_BUFFER {
                return Ok(Fill::BufferFull);
            }
            let grown = self
                .buf
                .len()
                .saturating_mul(2)
                .clamp(INITIAL_BUFFER, MAX_BUFFER);
            self.buf.resize(grown, 0);
        }
        let Some(dst) = self.buf.get_mut(self.end..) else {
            return Ok(Fill::BufferFull);
        };
        loop {
            match self.src.read(dst) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(Fill::Eof);
                }
                Ok(n) => {
                    self.end = self.end.saturating_add(n).min(self.buf.len());
                    return Ok(Fill::More);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// How an interface's raw timestamps map to time (pcapng `if_tsresol` / `if_tsoffset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Interface {
    link_type: LinkType,
    snaplen: u32,
    resolution: TsUnit,
    offset_secs: i64,
}

/// Units of a raw timestamp: 10^-n or 2^-n seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TsUnit {
    Decimal(u8),
    Binary(u8),
}

impl TsUnit {
    fn from_tsresol(byte: u8) -> Self {
        if byte & 0x80 == 0 {
            Self::Decimal(byte)
        } else {
            Self::Binary(byte & 0x7f)
        }
    }

    /// Raw units plus a whole-second offset, to microseconds clamped to `u64`.
    fn to_micros(self, raw: u64, offset_secs: i64) -> u64 {
        let raw = u128::from(raw);
        let micros: u128 = match self {
            Self::Decimal(exp) if exp >= 6 => match 10u128.checked_pow(u32::from(exp - 6)) {
                Some(div) => raw / div,
                None => 0,
            },
            Self::Decimal(exp) => raw * 10u128.pow(u32::from(6 - exp)),
            // raw < 2^64 and 10^6 < 2^20, so the product fits; exp <= 127.
            Self::Binary(exp) => (raw * 1_000_000) >> exp,
        };
        let total = i128::try_from(micros)
            .unwrap_or(i128::MAX)
            .saturating_add(i128::from(offset_secs) * 1_000_000);
        u64::try_from(total.max(0)).unwrap_or(u64::MAX)
    }
}

impl From<&InterfaceDescriptionBlock<'_>> for Interface {
    fn from(idb: &InterfaceDescriptionBlock<'_>) -> Self {
        let mut resolution = TsUnit::Decimal(6);
        let mut offset_secs = 0;
        for option in &idb.options {
            match option {
                InterfaceDescriptionOption::IfTsResol(byte) => {
                    resolution = TsUnit::from_tsresol(*byte);
                }
                // The spec defines if_tsoffset as signed; pcap-file hands it over as u64.
                InterfaceDescriptionOption::IfTsOffset(secs) => {
                    offset_secs = i64::from_ne_bytes(secs.to_ne_bytes());
                }
                _ => {}
            }
        }
        Self {
            link_type: LinkType(u32::from(idb.linktype)),
            snaplen: idb.snaplen,
            resolution,
            offset_secs,
        }
    }
}

enum Container {
    Pcap {
        parser: PcapParser,
        link_type: LinkType,
        nanosecond: bool,
        endianness: Endianness,
    },
    PcapNg {
        parser: PcapNgParser,
        interfaces: Vec<Interface>,
        /// Simple Packet Blocks carry no time; they inherit the last one seen.
        last_ts: u64,
    },
}

/// Where the next frame sits in the buffer, computed before the buffer is lent out.
struct Located {
    start: usize,
    len: usize,
    ts_micros: u64,
    orig_len: u32,
    link_type: LinkType,
}

/// What one pcapng block means for the reader, extracted so the block's borrow ends early.
enum Step {
    Skip,
    NewSection,
    NewInterface(Interface),
    Packet(Located),
    BadInterface(u32),
}

/// Reads frames from a pcap or pcapng capture, optionally gzip-compressed.
///
/// Formats are recognised by magic number, never by file name. Memory use is one read buffer
/// (64 KiB, growing only for records that need it, at most [`MAX_RECORD_BYTES`]) plus the
/// pcapng interface table (at most [`MAX_INTERFACES`]).
pub struct CaptureReader {
    input: Input,
    container: Container,
    format: CaptureFormat,
    gzip: bool,
    path: Option<PathBuf>,
    bytes_read: Arc<AtomicU64>,
    total_bytes: Option<u64>,
    frames_read: u64,
    /// Packet records met, including ones that produced an error.
    records_seen: u64,
    done: bool,
}

impl std::fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("gzip", &self.gzip)
            .field("frames_read", &self.frames_read)
            .field("bytes_read", &self.bytes_read())
            .field("total_bytes", &self.total_bytes)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl CaptureReader {
    /// Opens a capture file. `total_bytes()` is then the file's size.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let io_err = |source| CaptureError::Io {
            path: Some(path.to_path_buf()),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let total = file.metadata().map_err(io_err)?.len();
        Self::build(file, Some(total), Some(path.to_path_buf()))
    }

    /// Reads a capture from any byte stream. `total_len`, if known, is reported back by
    /// [`Self::total_bytes`] for progress display.
    pub fn from_reader<R: Read + Send + 'static>(
        r: R,
        total_len: Option<u64>,
    ) -> Result<Self, CaptureError> {
        Self::build(r, total_len, None)
    }

    fn build<R: Read + Send + 'static>(
        r: R,
        total_bytes: Option<u64>,
        path: Option<PathBuf>,
    ) -> Result<Self, CaptureError> {
        let bytes_read = Arc::new(AtomicU64::new(0));
        let mut counting = CountingReader {
            inner: r,
            count: Arc::clone(&bytes_read),
        };
        let io_err = |source| CaptureError::Io {
            path: path.clone(),
            source,
        };

        let mut sniff = [0u8; 2];
        let sniffed = read_up_to(&mut counting, &mut sniff).map_err(io_err)?;
        let prefix = Cursor::new(sniff.get(..sniffed).unwrap_or_default().to_vec());
        let gzip = sniff == GZIP_MAGIC && sniffed == GZIP_MAGIC.len();
        let src: Box<dyn Read + Send> = if gzip {
            // Multi-member: `cat a.gz b.gz` is valid gzip and tools produce it.
            Box::new(MultiGzDecoder::new(prefix.chain(counting)))
        } else {
            Box::new(prefix.chain(counting))
        };

        let mut input = Input {
            src,
            buf: vec![0; INITIAL_BUFFER],
            start: 0,
            end: 0,
            eof: false,
        };
        while input.available().len() < 4 {
            match input.fill().map_err(io_err)? {
                Fill::More => {}
                Fill::Eof | Fill::BufferFull => {
                    return Err(CaptureError::TooShort {
                        path,
                        len: input.available().len(),
                    });
                }
            }
        }
        let magic: [u8; 4] = input
            .available()
            .get(..4)
            .and_then(|m| m.try_into().ok())
            .unwrap_or_default();

        let (container, format) = if PCAP_MAGICS.contains(&magic) {
            let parser = parse_header(&mut input, &path, |avail| {
                PcapParser::new(avail).map(|(rem, p)| (avail.len() - rem.len(), p))
            })?;
            let header = parser.header();
            let nanosecond = header.ts_resolution == TsResolution::NanoSecond;
            let container = Container::Pcap {
                link_type: LinkType(u32::from(header.datalink) & PCAP_LINKTYPE_MASK),
                nanosecond,
                endianness: header.endianness,
                parser,
            };
            (container, CaptureFormat::Pcap { nanosecond })
        } else if magic == PCAPNG_MAGIC {
            let parser = parse_header(&mut input, &path, |avail| match PcapNgParser::new(avail) {
                Err(PcapError::IncompleteBuffer)
                    if pcapng_block_len(avail, Endianness::Big)
                        .is_some_and(|len| avail.len() >= len) =>
                {
                    Err(PcapError::InvalidField("SectionHeaderBlock: too short"))
                }
                other => other.map(|(rem, p)| (avail.len() - rem.len(), p)),
            })?;
            let container = Container::PcapNg {
                parser,
                interfaces: Vec::new(),
                last_ts: 0,
            };
            (container, CaptureFormat::PcapNg)
        } else {
            return Err(CaptureError::NotACapture { path, magic });
        };

        Ok(Self {
            input,
            container,
            format,
            gzip,
            path,
            bytes_read,
            total_bytes,
            frames_read: 0,
            records_seen: 0,
            done: false,
        })
    }

    /// Returns the next frame, `None` at the end of the capture.
    ///
    /// The frame borrows the reader's buffer, so no per-frame allocation happens. After an
    /// error that is not [`CaptureError::is_recoverable`] the reader returns `None` forever;
    /// frames before a truncated last record are all delivered first.
    pub fn next_frame(&mut self) -> Option<Result<Frame<'_>, CaptureError>> {
        if self.done {
            return None;
        }
        let located = match self.locate_next() {
            Ok(Some(located)) => located,
            Ok(None) => {
                self.done = true;
                return None;
            }
            Err(err) => {
                if !err.is_recoverable() {
                    self.done = true;
                }
                return Some(Err(err));
            }
        };
        self.frames_read += 1;
        let end = located.start.saturating_add(located.len);
        let captured = self.input.buf.get(located.start..end).unwrap_or_default();
        Some(Ok(Frame {
            ts_micros: located.ts_micros,
            orig_len: located.orig_len,
            captured,
            link_type: located.link_type,
            ip: decap(located.link_type, captured),
        }))
    }

    /// Bytes of the underlying file or stream consumed so far (compressed bytes for gzip).
    /// Reads happen in buffer-sized chunks, so this runs ahead of the frames returned.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// Size of the file, or the `total_len` given to [`Self::from_reader`].
    pub fn total_bytes(&self) -> Option<u64> {
        self.total_bytes
    }

    /// Frames successfully returned so far.
    pub fn frames_read(&self) -> u64 {
        self.frames_read
    }

    /// The container format.
    pub fn format(&self) -> CaptureFormat {
        self.format
    }

    /// Whether the data was gzip-compressed.
    pub fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// Finds and consumes the next packet record.
    fn locate_next(&mut self) -> Result<Option<Located>, CaptureError> {
        let frame = self.records_seen + 1;
        let path = &self.path;
        let input = &mut self.input;
        match &mut self.container {
            Container::Pcap {
                parser,
                link_type,
                nanosecond,
                endianness,
            } => loop {
                let avail = input.available();
                match parser.next_raw_packet(avail) {
                    Ok((rem, raw)) => {
                        let consumed = avail.len() - rem.len();
                        let start = offset_in(avail, &raw.data)
                            .map(|o| input.start + o)
                            .ok_or_else(|| format_err(path, frame, FormatError::Other))?;
                        let frac = if *nanosecond {
                            u64::from(raw.ts_frac) / 1000
                        } else {
                            u64::from(raw.ts_frac)
                        };
                        let located = Located {
                            start,
                            len: raw.data.len(),
                            ts_micros: u64::from(raw.ts_sec) * 1_000_000 + frac,
                            orig_len: raw.orig_len,
                            link_type: *link_type,
                        };
                        input.consume(consumed);
                        self.records_seen = frame;
                        return Ok(Some(located));
                    }
                    Err(PcapError::IncompleteBuffer) => {
                        if let Some(len) = pcap_record_len(avail, *endianness)
                            && len > MAX_RECORD_BYTES as u64
                        {
                            return Err(too_large(path, frame, len));
                        }
                        let had = avail.len();
                        need_more(input, path, frame, had)?;
                        if input.available().is_empty() && input.eof {
                            return Ok(None);
                        }
                    }
                    Err(e) => return Err(format_err(path, frame, FormatError::from_pcap(&e))),
                }
            },
            Container::PcapNg {
                parser,
                interfaces,
                last_ts,
            } => loop {
                let avail = input.available();
                let endianness = parser.section().endianness;
                let step = match parser.next_block(avail) {
                    Ok((rem, block)) => {
                        let consumed = avail.len() - rem.len();
                        let step = ng_step(&block, avail, input.start, interfaces, last_ts);
                        (consumed, step)
                    }
                    Err(PcapError::IncompleteBuffer) => {
                        match pcapng_block_len(avail, endianness) {
                            Some(len) if len > MAX_RECORD_BYTES => {
                                return Err(too_large(path, frame, len as u64));
                            }
                            // The whole block is there, so the parser ran out inside it.
                            Some(len) if avail.len() >= len => {
                                return Err(format_err(path, frame, FormatError::ShortBlock));
                            }
                            _ => {}
                        }
                        let had = avail.len();
                        need_more(input, path, frame, had)?;
                        if input.available().is_empty() && input.eof {
                            return Ok(None);
                        }
                        continue;
                    }
                    Err(e) => return Err(format_err(path, frame, FormatError::from_pcap(&e))),
                };
                let (consumed, step) = step;
                input.consume(consumed);
                match step {
                    Step::Skip => {}
                    Step::NewSection => interfaces.clear(),
                    Step::NewInterface(interface) => {
                        if interfaces.len() >= MAX_INTERFACES {
                            return Err(CaptureError::TooManyInterfaces {
                                path: path.clone(),
                                max: MAX_INTERFACES,
                            });
                        }
                        interfaces.push(interface);
                    }
                    Step::Packet(located) => {
                        self.records_seen = frame;
                        return Ok(Some(located));
                    }
                    Step::BadInterface(interface_id) => {
                        self.records_seen = frame;
                        return Err(CaptureError::UnknownInterface {
                            path: path.clone(),
                            frame,
                            interface_id,
                        });
                    }
                }
            },
        }
    }
}

/// Interprets one pcapng block. `avail` is the slice the block was parsed from and
/// `avail_start` its offset in the read buffer.
fn ng_step(
    block: &Block<'_>,
    avail: &[u8],
    avail_start: usize,
    interfaces: &[Interface],
    last_ts: &mut u64,
) -> Step {
    let locate = |data: &[u8], len: usize| {
        offset_in(avail, data)
            .map(|o| avail_start + o)
            .map(|start| (start, len))
    };
    match block {
        Block::SectionHeader(_) => Step::NewSection,
        Block::InterfaceDescription(idb) => Step::NewInterface(Interface::from(idb)),
        Block::EnhancedPacket(epb) => {
            let Some(interface) = interfaces.get(epb.interface_id as usize) else {
                return Step::BadInterface(epb.interface_id);
            };
            // pcap-file stores the raw 64-bit count as if it were nanoseconds.
            let raw = u64::try_from(epb.timestamp.as_nanos()).unwrap_or(u64::MAX);
            let ts_micros = interface.resolution.to_micros(raw, interface.offset_secs);
            *last_ts = ts_micros;
            packet_step(
                locate(&epb.data, epb.data.len()),
                ts_micros,
                epb.original_len,
                interface,
            )
        }
        Block::Packet(pb) => {
            let Some(interface) = interfaces.get(usize::from(pb.interface_id)) else {
                return Step::BadInterface(u32::from(pb.interface_id));
            };
            let ts_micros = interface
                .resolution
                .to_micros(pb.timestamp, interface.offset_secs);
            *last_ts = ts_micros;
            packet_step(
                locate(&pb.data, pb.data.len()),
                ts_micros,
                pb.original_len,
                interface,
            )
        }
        Block::SimplePacket(spb) => {
            let Some(interface) = interfaces.first() else {
                return Step::BadInterface(0);
            };
            // pcap-file leaves the block padding in `data`; the real length is the original
            // length cut at the interface's snaplen (0 = unlimited).
            let mut len = spb.data.len().min(spb.original_len as usize);
            if interface.snaplen != 0 {
                len = len.min(interface.snaplen as usize);
            }
            packet_step(
                locate(&spb.data, len),
                *last_ts,
                spb.original_len,
                interface,
            )
        }
        _ => Step::Skip,
    }
}

fn packet_step(
    position: Option<(usize, usize)>,
    ts_micros: u64,
    orig_len: u32,
    interface: &Interface,
) -> Step {
    match position {
        Some((start, len)) => Step::Packet(Located {
            start,
            len,
            ts_micros,
            orig_len,
            link_type: interface.link_type,
        }),
        // Only reachable if pcap-file ever returned owned data; treat as an empty frame.
        None => Step::Skip,
    }
}

/// Reads until more data arrived; errors when the stream ends inside a record.
fn need_more(
    input: &mut Input,
    path: &Option<PathBuf>,
    frame: u64,
    had: usize,
) -> Result<(), CaptureError> {
    match input.fill() {
        Ok(Fill::More) => Ok(()),
        Ok(Fill::Eof) if had == 0 => Ok(()),
        Ok(Fill::Eof) => Err(CaptureError::Truncated {
            path: path.clone(),
            frame,
        }),
        Ok(Fill::BufferFull) => Err(too_large(path, frame, had as u64)),
        // A gzip stream cut short surfaces as UnexpectedEof from the decoder.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(CaptureError::Truncated {
            path: path.clone(),
            frame,
        }),
        Err(source) => Err(CaptureError::Io {
            path: path.clone(),
            source,
        }),
    }
}

/// Parses a file header, reading more input while the parser needs it.
fn parse_header<T>(
    input: &mut Input,
    path: &Option<PathBuf>,
    mut parse: impl FnMut(&[u8]) -> Result<(usize, T), PcapError>,
) -> Result<T, CaptureError> {
    loop {
        match parse(input.available()) {
            Ok((consumed, parser)) => {
                input.consume(consumed);
                return Ok(parser);
            }
            Err(PcapError::IncompleteBuffer) => match input.fill() {
                Ok(Fill::More) => {}
                Ok(Fill::Eof) => {
                    return Err(CaptureError::TruncatedHeader { path: path.clone() });
                }
                Ok(Fill::BufferFull) => {
                    return Err(too_large(path, 0, input.available().len() as u64));
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(CaptureError::TruncatedHeader { path: path.clone() });
                }
                Err(source) => {
                    return Err(CaptureError::Io {
                        path: path.clone(),
                        source,
                    });
                }
            },
            Err(e) => return Err(format_err(path, 0, FormatError::from_pcap(&e))),
        }
    }
}

fn format_err(path: &Option<PathBuf>, frame: u64, source: FormatError) -> CaptureError {
    CaptureError::Format {
        path: path.clone(),
        frame,
        source,
    }
}

fn too_large(path: &Option<PathBuf>, frame: u64, len: u64) -> CaptureError {
    CaptureError::RecordTooLarge {
        path: path.clone(),
        frame,
        len,
        max: MAX_RECORD_BYTES,
    }
}

/// Offset of `sub` inside `base`, if `sub` really lies within it.
fn offset_in(base: &[u8], sub: &[u8]) -> Option<usize> {
    let offset = (sub.as_ptr() as usize).checked_sub(base.as_ptr() as usize)?;
    (offset.checked_add(sub.len())? <= base.len()).then_some(offset)
}

fn read_u32(bytes: &[u8], at: usize, endianness: Endianness) -> Option<u32> {
    let word: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(match endianness {
        Endianness::Big => u32::from_be_bytes(word),
        Endianness::Little => u32::from_le_bytes(word),
    })
}

/// Total size a pcap record claims (header + captured bytes), once its header is in.
fn pcap_record_len(avail: &[u8], endianness: Endianness) -> Option<u64> {
    let incl_len = read_u32(avail, 8, endianness)?;
    Some(u64::from(incl_len) + PCAP_RECORD_HEADER as u64)
}

/// Total length a pcapng block claims. A Section Header Block declares its own byte order.
fn pcapng_block_len(avail: &[u8], endianness: Endianness) -> Option<usize> {
    let endianness = if avail.get(..4) == Some(&PCAPNG_MAGIC[..]) {
        match avail.get(8..12)? {
            [0x1a, 0x2b, 0x3c, 0x4d] => Endianness::Big,
            [0x4d, 0x3c, 0x2b, 0x1a] => Endianness::Little,
            _ => return None,
        }
    } else {
        endianness
    };
    usize::try_from(read_u32(avail, 4, endianness)?).ok()
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::{PcapWriter, WRITER_SNAPLEN};
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    /// An owned copy of a frame, so a whole capture can be collected and compared.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Owned {
        ts_micros: u64,
        orig_len: u32,
        captured: Vec<u8>,
        link_type: LinkType,
        ip: Result<Vec<u8>, DecapError>,
    }

    fn read_all(reader: &mut CaptureReader) -> Vec<Result<Owned, CaptureError>> {
        let mut out = Vec::new();
        while let Some(item) = reader.next_frame() {
            out.push(item.map(|f| Owned {
                ts_micros: f.ts_micros,
                orig_len: f.orig_len,
                captured: f.captured.to_vec(),
                link_type: f.link_type,
                ip: f.ip.map(<[u8]>::to_vec),
            }));
            assert!(out.len() < 10_000, "reader does not terminate");
        }
        out
    }

    fn open_bytes(bytes: Vec<u8>) -> Result<CaptureReader, CaptureError> {
        let len = bytes.len() as u64;
        CaptureReader::from_reader(Cursor::new(bytes), Some(len))
    }

    fn ok_frames(bytes: Vec<u8>) -> Vec<Owned> {
        let mut reader = open_bytes(bytes).unwrap();
        read_all(&mut reader)
            .into_iter()
            .map(|r| r.unwrap())
            .collect()
    }

    /// A distinguishable IPv4 packet: header start, then `tag` repeated.
    fn ipv4(tag: u8, len: usize) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 0];
        p.resize(len.max(4), tag);
        p
    }

    fn ipv6(tag: u8, len: usize) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.resize(len.max(4), tag);
        p
    }

    fn ethernet(payload: &[u8], ethertype: u16) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    // ---- classic pcap builder ----

    struct Pcap {
        big_endian: bool,
        nanosecond: bool,
        link_type: u32,
        bytes: Vec<u8>,
    }

    impl Pcap {
        fn new(big_endian: bool, nanosecond: bool, link_type: u32) -> Self {
            let mut p = Self {
                big_endian,
                nanosecond,
                link_type,
                bytes: Vec::new(),
            };
            let magic = if nanosecond { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
            p.u32(magic);
            p.u16(2);
            p.u16(4);
            p.u32(0);
            p.u32(0);
            p.u32(65535);
            p.u32(p.link_type);
            p
        }
        fn u16(&mut self, v: u16) {
            let b = if self.big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            self.bytes.extend_from_slice(&b);
        }
        fn u32(&mut self, v: u32) {
            let b = if self.big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            self.bytes.extend_from_slice(&b);
        }
        fn record(mut self, sec: u32, frac: u32, data: &[u8], orig_len: u32) -> Self {
            assert!(
                frac < if self.nanosecond {
                    1_000_000_000
                } else {
                    1_000_000
                }
            );
            self.u32(sec);
            self.u32(frac);
            self.u32(data.len() as u32);
            self.u32(orig_len);
            self.bytes.extend_from_slice(data);
            self
        }
    }

    // ---- pcapng builder ----

    struct Ng {
        le: bool,
        bytes: Vec<u8>,
    }

    impl Ng {
        fn new(le: bool) -> Self {
            Self {
                le,
                bytes: Vec::new(),
            }
            .shb()
        }
        fn u16(&self, v: u16) -> [u8; 2] {
            if self.le {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        }
        fn u32(&self, v: u32) -> [u8; 4] {
            if self.le {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        }
        fn block(mut self, kind: u32, body: &[u8]) -> Self {
            let pad = (4 - body.len() % 4) % 4;
            let total = (12 + body.len() + pad) as u32;
            let (k, t) = (self.u32(kind), self.u32(total));
            self.bytes.extend_from_slice(&k);
            self.bytes.extend_from_slice(&t);
            self.bytes.extend_from_slice(body);
            self.bytes.extend(std::iter::repeat_n(0, pad));
            self.bytes.extend_from_slice(&t);
            self
        }
        fn shb(self) -> Self {
            let mut body = self.u32(0x1a2b_3c4d).to_vec();
            body.extend_from_slice(&self.u16(1));
            body.extend_from_slice(&self.u16(0));
            body.extend_from_slice(&[0xff; 8]); // section length unknown (-1)
            self.block(0x0a0d_0d0a, &body)
        }
        fn option(&self, code: u16, value: &[u8]) -> Vec<u8> {
            let mut o = self.u16(code).to_vec();
            o.extend_from_slice(&self.u16(value.len() as u16));
            o.extend_from_slice(value);
            o.extend(std::iter::repeat_n(0, (4 - value.len() % 4) % 4));
            o
        }
        /// `tsresol`/`tsoffset` are written as options when given.
        fn idb(
            self,
            link_type: u16,
            snaplen: u32,
            tsresol: Option<u8>,
            tsoffset: Option<i64>,
        ) -> Self {
            let mut body = self.u16(link_type).to_vec();
            body.extend_from_slice(&self.u16(0));
            body.extend_from_slice(&self.u32(snaplen));
            body.extend(self.option(2, b"if0"));
            if let Some(r) = tsresol {
                body.extend(self.option(9, &[r]));
            }
            if let Some(off) = tsoffset {
                let b = if self.le {
                    off.to_le_bytes()
                } else {
                    off.to_be_bytes()
                };
                body.extend(self.option(14, &b));
            }
            body.extend_from_slice(&[0, 0, 0, 0]);
            self.block(1, &body)
        }
        fn epb(self, interface: u32, ts: u64, data: &[u8], orig_len: u32) -> Self {
            let mut body = self.u32(interface).to_vec();
            body.extend_from_slice(&self.u32((ts >> 32) as u32));
            body.extend_from_slice(&self.u32(ts as u32));
            body.extend_from_slice(&self.u32(data.len() as u32));
            body.extend_from_slice(&self.u32(orig_len));
            body.extend_from_slice(data);
            body.extend(std::iter::repeat_n(0, (4 - data.len() % 4) % 4));
            self.block(6, &body)
        }
        fn spb(self, orig_len: u32, data: &[u8]) -> Self {
            let mut body = self.u32(orig_len).to_vec();
            body.extend_from_slice(data);
            self.block(3, &body)
        }
    }

    #[test]
    fn writer_round_trip_plain_and_gzip() {
        let packets = [
            (1_700_000_000_123_456u64, ipv4(1, 40)),
            (1_700_000_000_500_000, ipv6(2, 60)),
            (1_700_000_001_000_001, ipv4(3, 1500)),
        ];
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        for (ts, p) in &packets {
            w.write_packet(*ts, p).unwrap();
        }
        let file = w.into_inner();
        let expected: Vec<Owned> = packets
            .iter()
            .map(|(ts, p)| Owned {
                ts_micros: *ts,
                orig_len: p.len() as u32,
                captured: p.clone(),
                link_type: LinkType::RAW,
                ip: Ok(p.clone()),
            })
            .collect();

        let mut reader = open_bytes(file.clone()).unwrap();
        assert_eq!(reader.format(), CaptureFormat::Pcap { nanosecond: false });
        assert!(!reader.is_gzip());
        let frames: Vec<Owned> = read_all(&mut reader)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(frames, expected);
        assert_eq!(reader.frames_read(), 3);
        assert_eq!(reader.bytes_read(), file.len() as u64);
        assert_eq!(reader.total_bytes(), Some(file.len() as u64));

        let compressed = gzip(&file);
        let mut reader = open_bytes(compressed.clone()).unwrap();
        assert!(reader.is_gzip());
        let frames: Vec<Owned> = read_all(&mut reader)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(frames, expected);
        // Progress is measured in compressed bytes.
        assert_eq!(reader.bytes_read(), compressed.len() as u64);
    }

    #[test]
    fn writer_rejects_what_pcap_cannot_hold() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        assert!(matches!(
            w.write_packet(0, &vec![0x45; WRITER_SNAPLEN as usize + 1]),
            Err(crate::WriteError::PacketTooLarge { .. })
        ));
        assert!(matches!(
            w.write_packet((u64::from(u32::MAX) + 1) * 1_000_000, &ipv4(0, 20)),
            Err(crate::WriteError::TimestampOutOfRange { .. })
        ));
        // Nothing but the 24-byte header was written.
        assert_eq!(w.into_inner().len(), 24);
    }

    #[test]
    fn pcap_ethernet_both_byte_orders() {
        for big_endian in [false, true] {
            let ip = ipv4(7, 30);
            let file = Pcap::new(big_endian, false, 1)
                .record(10, 999_999, &ethernet(&ip, 0x0800), 44)
                .record(11, 0, &ethernet(&[0; 28], 0x0806), 42)
                .bytes;
            let frames = ok_frames(file);
            assert_eq!(frames.len(), 2);
            assert_eq!(frames[0].ts_micros, 10_999_999);
            assert_eq!(frames[0].orig_len, 44);
            assert_eq!(frames[0].link_type, LinkType::ETHERNET);
            assert_eq!(frames[0].ip, Ok(ip));
            assert_eq!(frames[1].ip, Err(DecapError::NotIp { ethertype: 0x0806 }));
        }
    }

    #[test]
    fn pcap_nanosecond_magic_truncates_to_micros() {
        for big_endian in [false, true] {
            let file = Pcap::new(big_endian, true, 101)
                .record(1_600_000_000, 123_456_789, &ipv6(1, 48), 48)
                .record(1_600_000_000, 999, &ipv6(2, 48), 48)
                .bytes;
            let mut reader = open_bytes(file).unwrap();
            assert_eq!(reader.format(), CaptureFormat::Pcap { nanosecond: true });
            let frames: Vec<Owned> = read_all(&mut reader)
                .into_iter()
                .map(Result::unwrap)
                .collect();
            assert_eq!(frames[0].ts_micros, 1_600_000_000_123_456);
            assert_eq!(frames[1].ts_micros, 1_600_000_000_000_000);
        }
    }

    #[test]
    fn pcap_null_link_in_host_order() {
        let ip = ipv6(4, 40);
        let mut frame = 30u32.to_le_bytes().to_vec();
        frame.extend_from_slice(&ip);
        let frames = ok_frames(Pcap::new(false, false, 0).record(5, 1, &frame, 44).bytes);
        assert_eq!(frames[0].link_type, LinkType::NULL);
        assert_eq!(frames[0].ip, Ok(ip));
    }

    #[test]
    fn pcapng_interfaces_with_own_link_types_and_resolutions() {
        for le in [true, false] {
            let v4 = ipv4(1, 28);
            let v6 = ipv6(2, 41); // odd length exercises block padding
            let file = Ng::new(le)
                // 0: Ethernet, no if_tsresol => microseconds.
                .idb(1, 0, None, None)
                // 1: raw IP with nanoseconds.
                .idb(101, 0, Some(9), None)
                // 2: Linux cooked v2, 2^-10 s, with an if_tsoffset of 1000 s.
                .idb(276, 0, Some(0x80 | 10), Some(1000))
                .block(0x0000_0bad, &[1, 2, 3, 4]) // unknown block type: skipped
                .epb(0, 1_700_000_000_000_001, &ethernet(&v4, 0x0800), 42)
                .epb(1, 1_700_000_000_000_000_999, &v6, 41)
                .epb(
                    2,
                    3 * 1024 + 512,
                    &{
                        let mut f = vec![0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6];
                        f.extend_from_slice(&[0; 8]);
                        f.extend_from_slice(&v4);
                        f
                    },
                    48,
                )
                .bytes;
            let mut reader = open_bytes(file).unwrap();
            assert_eq!(reader.format(), CaptureFormat::PcapNg);
            let frames: Vec<Owned> = read_all(&mut reader)
                .into_iter()
                .map(Result::unwrap)
                .collect();
            assert_eq!(frames.len(), 3, "le={le}");

            assert_eq!(frames[0].link_type, LinkType::ETHERNET);
            assert_eq!(frames[0].ts_micros, 1_700_000_000_000_001);
            assert_eq!(frames[0].orig_len, 42);
            assert_eq!(frames[0].ip, Ok(v4.clone()));

            assert_eq!(frames[1].link_type, LinkType::RAW);
            assert_eq!(frames[1].ts_micros, 1_700_000_000_000_000);
            assert_eq!(frames[1].captured, v6);
            assert_eq!(frames[1].ip, Ok(v6.clone()));

            assert_eq!(frames[2].link_type, LinkType::LINUX_SLL2);
            // 3.5 s after an offset of 1000 s.
            assert_eq!(frames[2].ts_micros, 1_003_500_000);
            assert_eq!(frames[2].ip, Ok(v4));
        }
    }

    #[test]
    fn pcapng_simple_packet_block_trims_padding_and_snaplen() {
        let v4 = ipv4(9, 30);
        let file = Ng::new(true)
            .idb(101, 25, Some(6), None)
            .epb(0, 42_000_000, &v4[..25], 30)
            .spb(30, &v4[..25])
            .spb(3, &[0x45, 1, 2])
            .bytes;
        let frames = ok_frames(file);
        assert_eq!(frames.len(), 3);
        // SPBs carry no time; they inherit the previous packet's.
        assert_eq!(frames[1].ts_micros, 42_000_000);
        assert_eq!(frames[1].captured, &v4[..25]);
        assert_eq!(frames[1].orig_len, 30);
        assert_eq!(frames[2].captured, vec![0x45, 1, 2]);
    }

    #[test]
    fn pcapng_new_section_resets_interfaces() {
        let mut file = Ng::new(true)
            .idb(101, 0, None, None)
            .idb(1, 0, None, None)
            .epb(1, 5, &ethernet(&ipv4(1, 20), 0x0800), 34)
            .bytes;
        // A second section in the other byte order with a single interface.
        file.extend(
            Ng::new(false)
                .idb(101, 0, Some(3), None)
                .epb(1, 1, &ipv4(2, 20), 20)
                .epb(0, 7, &ipv4(3, 20), 20)
                .bytes,
        );
        let mut reader = open_bytes(file).unwrap();
        let items = read_all(&mut reader);
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].as_ref().unwrap().link_type, LinkType::ETHERNET);
        match &items[1] {
            Err(
                e @ CaptureError::UnknownInterface {
                    frame: 2,
                    interface_id: 1,
                    ..
                },
            ) => {
                assert!(e.is_recoverable());
            }
            other => panic!("expected UnknownInterface, got {other:?}"),
        }
        // Reading went on after the recoverable error; ms resolution in the new section.
        let last = items[2].as_ref().unwrap();
        assert_eq!(last.ts_micros, 7_000);
        assert_eq!(last.ip, Ok(ipv4(3, 20)));
        assert_eq!(reader.frames_read(), 2);
    }

    #[test]
    fn pcapng_gzip_round_trip() {
        let file = Ng::new(true)
            .idb(229, 0, Some(9), None)
            .epb(0, 2_000_000_000_123_456_789, &ipv6(5, 60), 60)
            .bytes;
        let mut reader = open_bytes(gzip(&file)).unwrap();
        assert!(reader.is_gzip());
        assert_eq!(reader.format(), CaptureFormat::PcapNg);
        let frames: Vec<Owned> = read_all(&mut reader)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].ts_micros, 2_000_000_000_123_456);
        assert_eq!(frames[0].ip, Ok(ipv6(5, 60)));
    }

    #[test]
    fn multi_member_gzip_is_read_whole() {
        let file = Pcap::new(false, false, 101)
            .record(1, 0, &ipv4(1, 20), 20)
            .record(2, 0, &ipv4(2, 20), 20)
            .bytes;
        let (a, b) = file.split_at(30);
        let mut both = gzip(a);
        both.extend(gzip(b));
        assert_eq!(ok_frames(both).len(), 2);
    }

    #[test]
    fn garbage_is_not_a_capture() {
        let err = open_bytes(b"<html><body>404</body></html>".to_vec()).unwrap_err();
        assert!(matches!(err, CaptureError::NotACapture { magic, .. } if &magic == b"<htm"));
        assert_eq!(
            err.to_string(),
            "<stream>: not a pcap or pcapng file (starts with 3c 68 74 6d)"
        );
        // Compressed garbage is judged by what it decompresses to.
        let err = open_bytes(gzip(b"PK\x03\x04 zip inside gzip")).unwrap_err();
        assert!(matches!(
            err,
            CaptureError::NotACapture {
                magic: [b'P', b'K', 3, 4],
                ..
            }
        ));
    }

    #[test]
    fn too_short_and_truncated_headers() {
        for bytes in [vec![], vec![0xd4], vec![0xd4, 0xc3, 0xb2]] {
            let len = bytes.len();
            assert!(matches!(
                open_bytes(bytes),
                Err(CaptureError::TooShort { len: l, .. }) if l == len
            ));
        }
        let header = Pcap::new(false, false, 1).bytes;
        assert!(matches!(
            open_bytes(header[..20].to_vec()),
            Err(CaptureError::TruncatedHeader { .. })
        ));
        let ng = Ng::new(true).bytes;
        assert!(matches!(
            open_bytes(ng[..ng.len() - 4].to_vec()),
            Err(CaptureError::TruncatedHeader { .. })
        ));
    }

    #[test]
    fn empty_but_valid_files_have_no_frames() {
        for file in [
            Pcap::new(false, false, 1).bytes,
            Pcap::new(true, true, 101).bytes,
            Ng::new(true).bytes,
            Ng::new(false).idb(1, 0, None, None).bytes,
            gzip(&Pcap::new(false, false, 113).bytes),
        ] {
            let mut reader = open_bytes(file).unwrap();
            assert!(reader.next_frame().is_none());
            assert!(reader.next_frame().is_none());
            assert_eq!(reader.frames_read(), 0);
        }
    }

    #[test]
    fn truncated_last_record_comes_after_the_good_frames() {
        let pcap = Pcap::new(false, false, 101)
            .record(1, 0, &ipv4(1, 100), 100)
            .record(2, 0, &ipv4(2, 100), 100)
            .record(3, 0, &ipv4(3, 100), 100)
            .bytes;
        let ng = Ng::new(true)
            .idb(101, 0, None, None)
            .epb(0, 1, &ipv4(1, 100), 100)
            .epb(0, 2, &ipv4(2, 100), 100)
            .epb(0, 3, &ipv4(3, 100), 100)
            .bytes;
        for file in [pcap, ng] {
            // Cut inside the last record's data, and inside its header.
            for cut in [file.len() - 50, file.len() - 110] {
                for compress in [false, true] {
                    let bytes = &file[..cut];
                    let bytes = if compress {
                        gzip(bytes)
                    } else {
                        bytes.to_vec()
                    };
                    let mut reader = open_bytes(bytes).unwrap();
                    let items = read_all(&mut reader);
                    assert_eq!(items.len(), 3, "cut={cut} gz={compress}");
                    assert_eq!(items[0].as_ref().unwrap().captured, ipv4(1, 100));
                    assert_eq!(items[1].as_ref().unwrap().captured, ipv4(2, 100));
                    assert!(
                        matches!(items[2], Err(CaptureError::Truncated { frame: 3, .. })),
                        "{:?}",
                        items[2]
                    );
                    assert!(reader.next_frame().is_none());
                }
            }
        }
    }

    #[test]
    fn truncated_gzip_stream_keeps_earlier_frames() {
        let mut builder = Pcap::new(false, false, 101);
        for i in 0..200u32 {
            builder = builder.record(i, 0, &ipv4(i as u8, 200), 200);
        }
        let compressed = gzip(&builder.bytes);
        let mut reader = open_bytes(compressed[..compressed.len() / 2].to_vec()).unwrap();
        let items = read_all(&mut reader);
        let (last, good) = items.split_last().unwrap();
        assert!(!good.is_empty());
        assert!(good.iter().all(Result::is_ok));
        assert!(
            matches!(last, Err(CaptureError::Truncated { .. })),
            "{last:?}"
        );
    }

    #[test]
    fn absurd_record_length_is_refused_without_reading_it() {
        let mut file = Pcap::new(false, false, 101)
            .record(1, 0, &ipv4(1, 20), 20)
            .bytes;
        file.extend_from_slice(&2u32.to_le_bytes());
        file.extend_from_slice(&0u32.to_le_bytes());
        file.extend_from_slice(&0x7fff_ffffu32.to_le_bytes());
        file.extend_from_slice(&0x7fff_ffffu32.to_le_bytes());
        file.extend_from_slice(&[0x45; 64]);
        let mut reader = open_bytes(file).unwrap();
        let items = read_all(&mut reader);
        assert_eq!(items.len(), 2);
        assert!(matches!(
            items[1],
            Err(CaptureError::RecordTooLarge { frame: 2, len, .. }) if len == 0x7fff_ffff + 16
        ));

        let mut ng = Ng::new(true).idb(101, 0, None, None).bytes;
        ng.extend_from_slice(&6u32.to_le_bytes());
        ng.extend_from_slice(&0x7fff_fff0u32.to_le_bytes());
        ng.extend_from_slice(&[0; 32]);
        let items = read_all(&mut open_bytes(ng).unwrap());
        assert!(matches!(
            items[..],
            [Err(CaptureError::RecordTooLarge { frame: 1, .. })]
        ));
    }

    #[test]
    fn malformed_pcapng_block_is_a_format_error() {
        let mut ng = Ng::new(true).idb(101, 0, None, None).bytes;
        // An EPB whose trailer length disagrees with its header length.
        ng.extend_from_slice(&6u32.to_le_bytes());
        ng.extend_from_slice(&32u32.to_le_bytes());
        ng.extend_from_slice(&[0; 20]);
        ng.extend_from_slice(&36u32.to_le_bytes());
        let items = read_all(&mut open_bytes(ng).unwrap());
        assert!(
            matches!(items[..], [Err(CaptureError::Format { frame: 1, .. })]),
            "{items:?}"
        );
    }

    /// Hands out at most `chunk` bytes per read, like a slow pipe.
    struct Trickle {
        data: Cursor<Vec<u8>>,
        chunk: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.chunk);
            self.data.read(&mut buf[..n])
        }
    }

    #[test]
    fn records_larger_than_the_buffer_and_short_reads() {
        let big = ipv4(0xaa, 200_000);
        let file = Pcap::new(false, false, 101)
            .record(1, 0, &ipv4(1, 20), 20)
            .record(2, 0, &big, 200_000)
            .record(3, 0, &ipv4(3, 20), 20)
            .bytes;
        for chunk in [7, 4096, usize::MAX] {
            let src = Trickle {
                data: Cursor::new(file.clone()),
                chunk,
            };
            let mut reader = CaptureReader::from_reader(src, None).unwrap();
            let frames: Vec<Owned> = read_all(&mut reader)
                .into_iter()
                .map(Result::unwrap)
                .collect();
            assert_eq!(frames.len(), 3, "chunk={chunk}");
            assert_eq!(frames[1].captured, big);
            assert_eq!(frames[2].captured, ipv4(3, 20));
            assert_eq!(reader.bytes_read(), file.len() as u64);
            assert_eq!(reader.total_bytes(), None);
        }
    }

    #[test]
    fn open_reads_files_and_names_them_in_errors() {
        let dir = std::env::temp_dir().join(format!("nightjar-capture-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("no-extension-needed");
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_packet(9, &ipv4(1, 20)).unwrap();
        std::fs::write(&path, gzip(&w.into_inner())).unwrap();

        let mut reader = CaptureReader::open(&path).unwrap();
        assert_eq!(
            reader.total_bytes(),
            Some(std::fs::metadata(&path).unwrap().len())
        );
        assert_eq!(read_all(&mut reader).len(), 1);
        assert_eq!(reader.bytes_read(), reader.total_bytes().unwrap());

        let missing = dir.join("missing.pcap");
        let err = CaptureReader::open(&missing).unwrap_err();
        assert!(matches!(err, CaptureError::Io { .. }));
        assert!(
            err.to_string()
                .starts_with(&format!("{}: ", missing.display()))
        );

        std::fs::write(&path, b"GIF89a").unwrap();
        let err = CaptureReader::open(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: not a pcap or pcapng file (starts with 47 49 46 38)",
                path.display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn timestamp_units() {
        assert_eq!(TsUnit::Decimal(6).to_micros(1_234_567, 0), 1_234_567);
        assert_eq!(TsUnit::Decimal(9).to_micros(1_234_567, 0), 1_234);
        assert_eq!(TsUnit::Decimal(3).to_micros(1_234, 0), 1_234_000);
        assert_eq!(TsUnit::Decimal(0).to_micros(2, 0), 2_000_000);
        assert_eq!(TsUnit::Binary(20).to_micros(1 << 20, 0), 1_000_000);
        assert_eq!(TsUnit::Binary(1).to_micros(3, 0), 1_500_000);
        assert_eq!(TsUnit::Decimal(6).to_micros(5_000_000, -2), 3_000_000);
        // Before the epoch clamps to 0; absurd exponents don't overflow.
        assert_eq!(TsUnit::Decimal(6).to_micros(1, -5), 0);
        assert_eq!(TsUnit::Decimal(127).to_micros(u64::MAX, 0), 0);
        assert_eq!(TsUnit::Decimal(0).to_micros(u64::MAX, i64::MAX), u64::MAX);
        assert_eq!(TsUnit::from_tsresol(9), TsUnit::Decimal(9));
        assert_eq!(TsUnit::from_tsresol(0x8a), TsUnit::Binary(10));
    }
}
