//! DNS over TCP framing (RFC 1035 §4.2.2, RFC 7766): every message is preceded by a
//! two-byte big-endian length. One framer serves one direction of one TCP stream.
//!
//! Messages wholly inside the pushed segment are handed out as borrowed slices of it;
//! only a message split across segments is copied, into a buffer that never holds
//! more than one message (at most `max_message_len + 2` bytes).

use std::borrow::Cow;

/// A length prefix that cannot start a usable DNS message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The prefix announces fewer bytes than a DNS header (12); usually a desynchronised stream.
    #[error("DNS/TCP frame of {len} bytes is shorter than a DNS header")]
    Runt {
        /// Announced length.
        len: u16,
    },
    /// The prefix announces more than the configured maximum; the body is skipped.
    #[error("DNS/TCP frame of {len} bytes exceeds the configured maximum")]
    TooLong {
        /// Announced length.
        len: u16,
    },
}

/// What the framer has seen and shed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FramerCounters {
    /// Complete messages framed (including any later abandoned).
    pub messages: u64,
    /// Messages that had to be reassembled from several segments.
    pub reassembled: u64,
    /// Frames rejected as [`FrameError::Runt`].
    pub runt_frames: u64,
    /// Frames rejected as [`FrameError::TooLong`].
    pub oversize_frames: u64,
    /// Bytes thrown away: bodies of rejected frames, partial frames dropped by
    /// [`TcpDnsFramer::reset`], frames left unread when a [`Frames`] iterator was dropped.
    pub discarded_bytes: u64,
    /// Complete frames left unread when a [`Frames`] iterator was dropped.
    pub abandoned_frames: u64,
}

const HEADER_LEN: usize = 12;
const PREFIX_LEN: usize = 2;

/// Splits one direction of a DNS/TCP byte stream into messages.
#[derive(Debug, Clone)]
pub struct TcpDnsFramer {
    max_message_len: usize,
    /// Prefix and body of the one frame that is still incomplete.
    partial: Vec<u8>,
    /// Body bytes of a rejected frame still to be skipped.
    skip: usize,
    counters: FramerCounters,
}

impl Default for TcpDnsFramer {
    fn default() -> Self {
        Self::new()
    }
}

impl TcpDnsFramer {
    /// A framer accepting messages up to the protocol maximum of 65535 bytes.
    pub fn new() -> Self {
        Self::with_max_message_len(u16::MAX)
    }

    /// A framer that rejects (and skips) frames longer than `max_message_len`, to
    /// bound the per-stream buffer when many TCP DNS streams are open.
    pub fn with_max_message_len(max_message_len: u16) -> Self {
        Self {
            max_message_len: usize::from(max_message_len),
            partial: Vec::new(),
            skip: 0,
            counters: FramerCounters::default(),
        }
    }

    /// Feeds the next in-order payload bytes of this direction and returns the
    /// messages they complete. Exhaust the iterator: frames left unread when it is
    /// dropped are discarded and counted in [`FramerCounters::abandoned_frames`].
    pub fn push<'a>(&'a mut self, segment: &'a [u8]) -> Frames<'a> {
        Frames {
            framer: self,
            rest: segment,
        }
    }

    /// Forgets the incomplete frame, e.g. after a sequence gap made the stream unusable.
    pub fn reset(&mut self) {
        self.counters.discarded_bytes += (self.partial.len() + self.skip) as u64;
        self.partial.clear();
        self.partial.shrink_to(0);
        self.skip = 0;
    }

    /// Bytes currently buffered for an incomplete frame.
    pub fn buffered_len(&self) -> usize {
        self.partial.len()
    }

    /// Counters since creation.
    pub fn counters(&self) -> FramerCounters {
        self.counters
    }

    /// Checks an announced length; on rejection arranges for its body to be skipped.
    fn accept_len(&mut self, len: u16) -> Result<(), FrameError> {
        let n = usize::from(len);
        if n < HEADER_LEN {
            self.counters.runt_frames += 1;
            self.skip = n;
            Err(FrameError::Runt { len })
        } else if n > self.max_message_len {
            self.counters.oversize_frames += 1;
            self.skip = n;
            Err(FrameError::TooLong { len })
        } else {
            Ok(())
        }
    }
}

/// Iterator over the messages completed by one [`TcpDnsFramer::push`].
#[derive(Debug)]
pub struct Frames<'a> {
    framer: &'a mut TcpDnsFramer,
    rest: &'a [u8],
}

impl<'a> Frames<'a> {
    /// Moves up to `want` bytes from the segment into the partial buffer.
    fn fill(&mut self, want: usize) {
        let (head, tail) = self.rest.split_at_checked(want).unwrap_or((self.rest, &[]));
        self.framer.partial.extend_from_slice(head);
        self.rest = tail;
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Cow<'a, [u8]>, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.framer.skip > 0 {
            let n = self.framer.skip.min(self.rest.len());
            self.framer.skip -= n;
            self.framer.counters.discarded_bytes += n as u64;
            self.rest = self.rest.get(n..).unwrap_or_default();
            if self.framer.skip > 0 {
                return None;
            }
        }

        if !self.framer.partial.is_empty() {
            let have = self.framer.partial.len();
            if have < PREFIX_LEN {
                self.fill(PREFIX_LEN - have);
                if self.framer.partial.len() < PREFIX_LEN {
                    return None;
                }
                let len = prefix(&self.framer.partial)?;
                if let Err(e) = self.framer.accept_len(len) {
                    self.framer.partial.clear();
                    return Some(Err(e));
                }
            }
            let total = PREFIX_LEN + usize::from(prefix(&self.framer.partial)?);
            self.fill(total - self.framer.partial.len());
            if self.framer.partial.len() < total {
                return None;
            }
            let mut frame = core::mem::take(&mut self.framer.partial);
            frame.drain(..PREFIX_LEN);
            self.framer.counters.messages += 1;
            self.framer.counters.reassembled += 1;
            return Some(Ok(Cow::Owned(frame)));
        }

        if self.rest.is_empty() {
            return None;
        }
        let Some(len) = prefix(self.rest) else {
            self.fill(PREFIX_LEN);
            return None;
        };
        self.rest = self.rest.get(PREFIX_LEN..).unwrap_or_default();
        if let Err(e) = self.framer.accept_len(len) {
            return Some(Err(e));
        }
        match self.rest.split_at_checked(usize::from(len)) {
            Some((msg, tail)) => {
                self.rest = tail;
                self.framer.counters.messages += 1;
                Some(Ok(Cow::Borrowed(msg)))
            }
            None => {
                self.framer.partial.extend_from_slice(&len.to_be_bytes());
                let rest = self.rest;
                self.fill(rest.len());
                None
            }
        }
    }
}

impl Drop for Frames<'_> {
    fn drop(&mut self) {
        // Partial frames carry over to the next push; only complete ones can be lost here.
        while let Some(frame) = self.next() {
            if let Ok(frame) = frame {
                self.framer.counters.abandoned_frames += 1;
                self.framer.counters.discarded_bytes += frame.len() as u64;
            }
        }
    }
}

fn prefix(bytes: &[u8]) -> Option<u16> {
    let pair: [u8; 2] = bytes.get(..PREFIX_LEN)?.try_into().ok()?;
    Some(u16::from_be_bytes(pair))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(tag: u8, len: usize) -> Vec<u8> {
        (0..len).map(|i| tag.wrapping_add(i as u8)).collect()
    }

    fn framed(msgs: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in msgs {
            out.extend_from_slice(&u16::try_from(m.len()).unwrap().to_be_bytes());
            out.extend_from_slice(m);
        }
        out
    }

    fn feed(framer: &mut TcpDnsFramer, segment: &[u8], out: &mut Vec<Vec<u8>>) {
        for f in framer.push(segment) {
            out.push(f.unwrap().into_owned());
        }
    }

    #[test]
    fn several_messages_in_one_segment_are_borrowed() {
        let msgs = [msg(1, 12), msg(2, 40), msg(3, 300)];
        let stream = framed(&msgs);
        let mut framer = TcpDnsFramer::new();
        let frames: Vec<_> = framer.push(&stream).map(Result::unwrap).collect();
        assert_eq!(frames.len(), 3);
        for (f, m) in frames.iter().zip(&msgs) {
            assert!(matches!(f, Cow::Borrowed(_)));
            assert_eq!(f.as_ref(), m.as_slice());
        }
        assert_eq!(framer.counters().messages, 3);
        assert_eq!(framer.counters().reassembled, 0);
        assert_eq!(framer.buffered_len(), 0);
    }

    #[test]
    fn split_at_every_position() {
        let msgs = [msg(10, 12), msg(20, 33), msg(30, 12)];
        let stream = framed(&msgs);
        for cut in 0..=stream.len() {
            let mut framer = TcpDnsFramer::new();
            let mut out = Vec::new();
            feed(&mut framer, &stream[..cut], &mut out);
            feed(&mut framer, &stream[cut..], &mut out);
            assert_eq!(out, msgs, "split at {cut}");
            assert_eq!(framer.buffered_len(), 0);
        }
        // And every pair of cut points (three segments).
        for a in 0..=stream.len() {
            for b in a..=stream.len() {
                let mut framer = TcpDnsFramer::new();
                let mut out = Vec::new();
                feed(&mut framer, &stream[..a], &mut out);
                feed(&mut framer, &stream[a..b], &mut out);
                feed(&mut framer, &stream[b..], &mut out);
                assert_eq!(out, msgs, "split at {a},{b}");
            }
        }
    }

    #[test]
    fn one_byte_at_a_time_reassembles_a_max_size_message() {
        let msgs = [msg(7, usize::from(u16::MAX)), msg(8, 20)];
        let stream = framed(&msgs);
        let mut framer = TcpDnsFramer::new();
        let mut out = Vec::new();
        for b in stream.chunks(1) {
            feed(&mut framer, b, &mut out);
            assert!(framer.buffered_len() <= usize::from(u16::MAX) + 2);
        }
        assert_eq!(out, msgs);
        assert_eq!(framer.counters().reassembled, 2);
    }

    #[test]
    fn runt_frame_is_reported_and_skipped() {
        let mut stream = vec![0, 3, 0xaa, 0xbb, 0xcc];
        stream.extend(framed(&[msg(5, 12)]));
        for cut in 0..=stream.len() {
            let mut framer = TcpDnsFramer::new();
            let mut items = Vec::new();
            items.extend(framer.push(&stream[..cut]).map(|r| r.map(Cow::into_owned)));
            items.extend(framer.push(&stream[cut..]).map(|r| r.map(Cow::into_owned)));
            assert_eq!(
                items,
                vec![Err(FrameError::Runt { len: 3 }), Ok(msg(5, 12))],
                "split at {cut}"
            );
            assert_eq!(framer.counters().runt_frames, 1);
            assert_eq!(framer.counters().discarded_bytes, 3);
        }
    }

    #[test]
    fn oversize_frame_body_is_skipped_across_segments() {
        let big = msg(1, 500);
        let small = msg(2, 20);
        let stream = framed(&[big, small.clone()]);
        let mut framer = TcpDnsFramer::with_max_message_len(100);
        let mut items = Vec::new();
        for seg in stream.chunks(7) {
            items.extend(framer.push(seg).map(|r| r.map(Cow::into_owned)));
            assert!(framer.buffered_len() <= 102);
        }
        assert_eq!(
            items,
            vec![Err(FrameError::TooLong { len: 500 }), Ok(small)]
        );
        assert_eq!(framer.counters().oversize_frames, 1);
        assert_eq!(framer.counters().discarded_bytes, 500);
    }

    #[test]
    fn unread_frames_are_counted_when_the_iterator_is_dropped() {
        let stream = framed(&[msg(1, 12), msg(2, 12), msg(3, 12)]);
        let mut framer = TcpDnsFramer::new();
        let first = framer.push(&stream[..stream.len() - 4]).next();
        assert_eq!(first.unwrap().unwrap().as_ref(), msg(1, 12).as_slice());
        assert_eq!(framer.counters().abandoned_frames, 1);
        // The partial third frame survives and completes with the next segment.
        let rest: Vec<_> = framer
            .push(&stream[stream.len() - 4..])
            .map(|f| f.unwrap().into_owned())
            .collect();
        assert_eq!(rest, vec![msg(3, 12)]);
    }

    #[test]
    fn reset_drops_the_partial_frame() {
        let stream = framed(&[msg(1, 30)]);
        let mut framer = TcpDnsFramer::new();
        assert_eq!(framer.push(&stream[..10]).count(), 0);
        assert_eq!(framer.buffered_len(), 10);
        framer.reset();
        assert_eq!(framer.buffered_len(), 0);
        assert_eq!(framer.counters().discarded_bytes, 10);
        let again: Vec<_> = framer
            .push(&stream)
            .map(|f| f.unwrap().into_owned())
            .collect();
        assert_eq!(again, vec![msg(1, 30)]);
    }
}
