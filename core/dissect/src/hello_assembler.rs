//! Reassembles the first ClientHello of a TCP stream.
//!
//! Post-quantum key shares make hellos larger than one segment, and some
//! clients split the handshake message over several TLS records on purpose.
//! The assembler is fed in-order stream bytes (TCP reassembly is the caller's
//! job), strips record headers as they come, and stops as soon as one
//! complete handshake message is buffered. It holds at most [`MAX_HELLO_LEN`]
//! bytes; larger claims are refused without buffering them.

use crate::tls::{
    self, CONTENT_TYPE_HANDSHAKE, ClientHello, HANDSHAKE_CLIENT_HELLO, HANDSHAKE_HEADER_LEN,
    RECORD_HEADER_LEN, TlsError,
};

/// Largest ClientHello handshake message (header included) the assembler keeps.
pub const MAX_HELLO_LEN: usize = 16 * 1024 + HANDSHAKE_HEADER_LEN;

/// Largest record length accepted (TLSCiphertext limit; TLSPlaintext is 2^14).
const MAX_RECORD_LEN: usize = 16 * 1024 + 2048;

/// Stream bytes consumed before giving up, so a flood of empty records cannot
/// keep the assembler busy forever.
const MAX_STREAM_BYTES: usize = 2 * MAX_HELLO_LEN;

/// A complete ClientHello handshake message (4-byte header included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloMessage(Vec<u8>);

impl HelloMessage {
    /// Wrap bytes the caller has already parsed as a ClientHello.
    pub(crate) fn from_validated(msg: Vec<u8>) -> Self {
        Self(msg)
    }

    /// Parse the message; validated once by the assembler, so this only fails
    /// if the caller built the value another way.
    pub fn client_hello(&self) -> Result<ClientHello<'_>, TlsError> {
        ClientHello::parse_handshake(&self.0)
    }

    /// The raw handshake message bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Give back the buffer.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// What one [`HelloAssembler::push`] achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress {
    /// The hello is not complete yet; push more stream bytes.
    NeedMore,
    /// A complete, well-formed ClientHello.
    Done(HelloMessage),
    /// The stream does not start with a TLS handshake record carrying a ClientHello.
    NotTls,
    /// An SSLv2-compatible ClientHello: TLS-ish, but without extensions or a name.
    SslV2,
    /// The hello claims more than [`MAX_HELLO_LEN`] bytes; nothing more is buffered.
    TooLarge,
    /// All bytes arrived but the ClientHello does not parse.
    Malformed(TlsError),
    /// A result was already returned; later bytes are ignored.
    Finished,
}

/// Counters that survive [`HelloAssembler::reset`], for the caller to export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssemblerCounters {
    /// Hellos delivered.
    pub done: u64,
    /// Streams that were not TLS.
    pub not_tls: u64,
    /// SSLv2-compatible hellos.
    pub sslv2: u64,
    /// Hellos refused for size (shed load).
    pub too_large: u64,
    /// Hellos that arrived whole but did not parse.
    pub malformed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a record header; `have` bytes of it are in `header`.
    Header {
        have: usize,
    },
    /// Copying `left` more payload bytes of the current record.
    Payload {
        left: usize,
    },
    Finished,
}

/// Reassembles one ClientHello from in-order stream bytes.
#[derive(Debug, Clone)]
pub struct HelloAssembler {
    state: State,
    header: [u8; RECORD_HEADER_LEN],
    msg: Vec<u8>,
    consumed: usize,
    counters: AssemblerCounters,
}

impl Default for HelloAssembler {
    fn default() -> Self {
        Self::new()
    }
}

impl HelloAssembler {
    /// A fresh assembler; it allocates only when a hello starts arriving.
    pub fn new() -> Self {
        Self {
            state: State::Header { have: 0 },
            header: [0; RECORD_HEADER_LEN],
            msg: Vec::new(),
            consumed: 0,
            counters: AssemblerCounters::default(),
        }
    }

    /// Start over for a new stream, keeping counters and the buffer's capacity.
    pub fn reset(&mut self) {
        self.state = State::Header { have: 0 };
        self.header = [0; RECORD_HEADER_LEN];
        self.msg.clear();
        self.consumed = 0;
    }

    /// Counters over every stream this assembler has seen.
    pub fn counters(&self) -> AssemblerCounters {
        self.counters
    }

    /// Feed the next in-order bytes of the client-to-server stream.
    pub fn push(&mut self, data: &[u8]) -> Progress {
        if self.state == State::Finished {
            return Progress::Finished;
        }
        let progress = self.consume(data);
        match &progress {
            Progress::NeedMore | Progress::Finished => {}
            Progress::Done(_) => self.counters.done += 1,
            Progress::NotTls => self.counters.not_tls += 1,
            Progress::SslV2 => self.counters.sslv2 += 1,
            Progress::TooLarge => self.counters.too_large += 1,
            Progress::Malformed(_) => self.counters.malformed += 1,
        }
        if progress != Progress::NeedMore {
            self.state = State::Finished;
            // Drop the buffer: a finished assembler must not pin up to 16 KiB per flow.
            self.msg = Vec::new();
        }
        progress
    }

    fn consume(&mut self, mut data: &[u8]) -> Progress {
        while !data.is_empty() {
            match self.state {
                State::Finished => return Progress::Finished,
                State::Header { have } => {
                    let want = RECORD_HEADER_LEN - have;
                    let n = want.min(data.len());
                    let (head, tail) = data.split_at_checked(n).unwrap_or((data, &[]));
                    data = tail;
                    self.consumed += n;
                    if let Some(dst) = self.header.get_mut(have..have + n) {
                        dst.copy_from_slice(head);
                    }
                    let have = have + n;
                    // Judge the stream from its first bytes, before a full header arrives.
                    // Only the bytes that have arrived count: the rest of the
                    // header buffer is still zero (a fuzzer found the answer
                    // changing with how the stream was split).
                    if self.msg.is_empty()
                        && self
                            .header
                            .get(..have)
                            .is_some_and(tls::is_sslv2_client_hello)
                    {
                        return Progress::SslV2;
                    }
                    if have < RECORD_HEADER_LEN {
                        self.state = State::Header { have };
                        continue;
                    }
                    let [ty, major, _minor, hi, lo] = self.header;
                    let len = usize::from(u16::from_be_bytes([hi, lo]));
                    if ty != CONTENT_TYPE_HANDSHAKE || major != 3 || len > MAX_RECORD_LEN {
                        return Progress::NotTls;
                    }
                    self.state = State::Payload { left: len };
                }
                State::Payload { left } => {
                    let n = left.min(data.len());
                    let (head, tail) = data.split_at_checked(n).unwrap_or((data, &[]));
                    data = tail;
                    self.consumed += n;
                    if let Some(p) = self.take_payload(head) {
                        return p;
                    }
                    let left = left - n;
                    self.state = if left == 0 {
                        State::Header { have: 0 }
                    } else {
                        State::Payload { left }
                    };
                }
            }
            if self.consumed > MAX_STREAM_BYTES {
                return Progress::TooLarge;
            }
        }
        Progress::NeedMore
    }

    /// Append record payload; returns a final result once the message is whole.
    fn take_payload(&mut self, payload: &[u8]) -> Option<Progress> {
        let total = match self.msg_total() {
            Some(total) => total,
            None => {
                // Header not complete yet: take just enough to learn the length.
                let need = HANDSHAKE_HEADER_LEN - self.msg.len();
                let (head, rest) = payload
                    .split_at_checked(need.min(payload.len()))
                    .unwrap_or((payload, &[]));
                self.msg.extend_from_slice(head);
                let total = self.msg_total()?;
                if self.msg.first() != Some(&HANDSHAKE_CLIENT_HELLO) {
                    return Some(Progress::NotTls);
                }
                if total > MAX_HELLO_LEN {
                    return Some(Progress::TooLarge);
                }
                self.msg.reserve_exact(total - self.msg.len());
                return self.append(rest, total);
            }
        };
        self.append(payload, total)
    }

    fn append(&mut self, payload: &[u8], total: usize) -> Option<Progress> {
        let need = total.saturating_sub(self.msg.len());
        let head = payload.get(..need).unwrap_or(payload);
        self.msg.extend_from_slice(head);
        if self.msg.len() < total {
            return None;
        }
        let msg = core::mem::take(&mut self.msg);
        Some(match ClientHello::parse_handshake(&msg) {
            Ok(_) => Progress::Done(HelloMessage(msg)),
            Err(e) => Progress::Malformed(e),
        })
    }

    /// Total handshake message length once its 4-byte header is buffered.
    fn msg_total(&self) -> Option<usize> {
        let [_, a, b, c] = *self.msg.first_chunk::<HANDSHAKE_HEADER_LEN>()?;
        Some(HANDSHAKE_HEADER_LEN + u32::from_be_bytes([0, a, b, c]) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::build::*;

    /// Regression (fuzz `tls_hello_assembler`): the SSLv2 sniff must not
    /// depend on how the stream is split.
    #[test]
    fn sslv2_sniff_independent_of_segmentation() {
        for stream in [
            &[0xb0u8, 0x01, 0x01, 0x73, 0x00, 0x01, 0x01, 0x73, 0x00][..],
            &[0xff, 0x03, 0x01, 0x81][..],
            &[0x80, 0x2e, 0x01, 0x03, 0x01][..],
        ] {
            let whole = HelloAssembler::new().push(stream);
            for size in 1..stream.len() {
                let mut a = HelloAssembler::new();
                let mut split = Progress::NeedMore;
                for piece in stream.chunks(size) {
                    split = a.push(piece);
                    if split != Progress::NeedMore {
                        break;
                    }
                }
                assert_eq!(split, whole, "{stream:02x?} in pieces of {size}");
            }
        }
    }

    fn big_hello() -> Vec<u8> {
        // A 1.2 KB key share, as post-quantum hybrids send.
        HelloSpec {
            extensions: vec![
                sni_ext("pq.example"),
                (0x0033, vec![0xab; 1216]),
                alpn_ext(&[b"h2"]),
            ],
            ..HelloSpec::default()
        }
        .handshake()
    }

    fn feed_in(chunks: &[&[u8]]) -> Vec<Progress> {
        let mut a = HelloAssembler::new();
        chunks.iter().map(|c| a.push(c)).collect()
    }

    #[test]
    fn one_record_one_segment() {
        let msg = big_hello();
        let stream = records(&msg, usize::MAX);
        let out = feed_in(&[&stream]);
        let Progress::Done(m) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(m.as_bytes(), &msg[..]);
        assert_eq!(m.client_hello().unwrap().server_name(), Some("pq.example"));
    }

    #[test]
    fn every_split_point_and_record_size() {
        let msg = big_hello();
        for record_max in [1, 3, 4, 5, 100, 1000, 16384] {
            let stream = records(&msg, record_max);
            for cut in [0, 1, 2, 4, 5, 6, 9, 700, 1460, stream.len() - 1] {
                let (a, b) = stream.split_at(cut.min(stream.len()));
                let mut asm = HelloAssembler::new();
                let first = asm.push(a);
                let second = asm.push(b);
                let done = match (first, second) {
                    (Progress::NeedMore, Progress::Done(m)) => m,
                    (Progress::Done(m), Progress::Finished) if b.is_empty() => m,
                    other => panic!("record_max {record_max} cut {cut}: {other:?}"),
                };
                assert_eq!(done.as_bytes(), &msg[..]);
            }
        }
    }

    #[test]
    fn byte_at_a_time_with_trailing_data() {
        let msg = big_hello();
        let mut stream = records(&msg, 512);
        // A ChangeCipherSpec record after the hello must not matter.
        stream.extend([0x14, 0x03, 0x03, 0x00, 0x01, 0x01]);
        let mut asm = HelloAssembler::new();
        let mut done = None;
        for b in &stream {
            match asm.push(std::slice::from_ref(b)) {
                Progress::NeedMore => {}
                Progress::Done(m) => done = Some(m),
                Progress::Finished => assert!(done.is_some()),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(done.unwrap().as_bytes(), &msg[..]);
        assert_eq!(asm.counters().done, 1);
    }

    #[test]
    fn not_tls_sslv2_too_large_malformed() {
        assert_eq!(feed_in(&[b"GET / HTTP/1.1\r\n"])[0], Progress::NotTls);
        // ServerHello (type 2) in a handshake record.
        assert_eq!(
            feed_in(&[&[0x16, 3, 3, 0, 4, 2, 0, 0, 0]])[0],
            Progress::NotTls
        );
        assert_eq!(
            feed_in(&[&[0x80, 0x2e, 0x01, 0x03, 0x01, 0, 0x15]])[0],
            Progress::SslV2
        );
        // Claims 1 MiB.
        let mut a = HelloAssembler::new();
        assert_eq!(
            a.push(&[0x16, 3, 1, 0x40, 0, 1, 0x10, 0, 0]),
            Progress::TooLarge
        );
        assert_eq!(a.counters().too_large, 1);
        assert_eq!(a.push(&[0; 10]), Progress::Finished);
        // Complete but broken: a 4-byte body.
        let out = feed_in(&[&[0x16, 3, 1, 0, 8, 1, 0, 0, 4, 3, 3, 0, 0]]);
        assert_eq!(out[0], Progress::Malformed(TlsError::Truncated));
    }

    #[test]
    fn empty_records_cannot_spin_forever() {
        let mut a = HelloAssembler::new();
        let mut last = Progress::NeedMore;
        for _ in 0..20_000 {
            last = a.push(&[0x16, 3, 1, 0, 0]);
            if last != Progress::NeedMore {
                break;
            }
        }
        assert_eq!(last, Progress::TooLarge);
    }

    #[test]
    fn reset_reuses_and_keeps_counters() {
        let stream = records(&big_hello(), 300);
        let mut a = HelloAssembler::new();
        assert!(matches!(a.push(&stream), Progress::Done(_)));
        a.reset();
        assert!(matches!(a.push(&stream), Progress::Done(_)));
        a.reset();
        assert_eq!(a.push(b"SSH-2.0-x\r\n"), Progress::NotTls);
        let c = a.counters();
        assert_eq!((c.done, c.not_tls), (2, 1));
    }
}
