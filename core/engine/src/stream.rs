//! In-order delivery of one direction of a TCP stream, for the dissectors.
//!
//! Only the first bytes of a connection matter (a ClientHello, request heads,
//! DNS messages), so this keeps no more than a few out-of-order segments and
//! gives up on a stream rather than buffer without bound.

/// Out-of-order segments held at most per direction.
const MAX_OOO_SEGMENTS: usize = 4;
/// Out-of-order bytes held at most per direction.
const MAX_OOO_BYTES: usize = 8 * 1024;

/// One direction of a TCP stream.
#[derive(Debug, Default)]
pub(crate) struct InOrder {
    next: Option<u32>,
    ooo: Vec<(u32, Vec<u8>)>,
    /// A gap that will never fill (the out-of-order buffer overflowed).
    broken: bool,
}

/// What became of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accepted {
    /// Delivered (possibly together with held segments it unblocked).
    Delivered,
    /// Held until the gap before it fills.
    Held,
    /// Already delivered (a retransmission) or empty.
    Nothing,
    /// The stream can no longer be followed in order.
    Broken,
}

/// Sequence-space comparison: whether `a` is before `b` (RFC 1982 style).
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl InOrder {
    /// Bytes held for later delivery.
    pub(crate) fn held_bytes(&self) -> usize {
        self.ooo.iter().map(|(_, d)| d.len()).sum()
    }

    /// A SYN with sequence number `isn` starts the stream at `isn + 1`.
    pub(crate) fn syn(&mut self, isn: u32) {
        if self.next.is_none() {
            self.next = Some(isn.wrapping_add(1));
        }
    }

    /// Take a segment and hand every newly in-order byte run to `deliver`.
    pub(crate) fn accept(
        &mut self,
        seq: u32,
        payload: &[u8],
        mut deliver: impl FnMut(&[u8]),
    ) -> Accepted {
        if self.broken {
            return Accepted::Broken;
        }
        if payload.is_empty() {
            return Accepted::Nothing;
        }
        // Picked up midstream: the first data segment defines the start.
        let next = *self.next.get_or_insert(seq);
        let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        let end = seq.wrapping_add(len);
        if !before(next, end) {
            return Accepted::Nothing;
        }
        if before(next, seq) {
            if self.ooo.len() >= MAX_OOO_SEGMENTS
                || self.held_bytes() + payload.len() > MAX_OOO_BYTES
            {
                self.broken = true;
                self.ooo = Vec::new();
                return Accepted::Broken;
            }
            self.ooo.push((seq, payload.to_vec()));
            return Accepted::Held;
        }
        // Overlaps what was delivered: skip the old part.
        let skip = next.wrapping_sub(seq) as usize;
        deliver(payload.get(skip..).unwrap_or(&[]));
        self.next = Some(end);
        self.drain_held(&mut deliver);
        Accepted::Delivered
    }

    fn drain_held(&mut self, deliver: &mut impl FnMut(&[u8])) {
        loop {
            let Some(next) = self.next else { return };
            let ready = self.ooo.iter().position(|(s, _)| !before(next, *s));
            let Some(i) = ready else { return };
            let (seq, data) = self.ooo.swap_remove(i);
            let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
            let end = seq.wrapping_add(len);
            if before(next, end) {
                let skip = next.wrapping_sub(seq) as usize;
                deliver(data.get(skip..).unwrap_or(&[]));
                self.next = Some(end);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &mut InOrder, seq: u32, data: &[u8], out: &mut Vec<u8>) -> Accepted {
        s.accept(seq, data, |b| out.extend_from_slice(b))
    }

    #[test]
    fn in_order_out_of_order_and_retransmission() {
        let mut s = InOrder::default();
        let mut out = Vec::new();
        s.syn(99);
        assert_eq!(run(&mut s, 100, b"abc", &mut out), Accepted::Delivered);
        assert_eq!(run(&mut s, 106, b"ghi", &mut out), Accepted::Held);
        assert_eq!(run(&mut s, 100, b"abc", &mut out), Accepted::Nothing);
        assert_eq!(run(&mut s, 102, b"cdef", &mut out), Accepted::Delivered);
        assert_eq!(out, b"abcdefghi");
        assert_eq!(s.held_bytes(), 0);
    }

    #[test]
    fn wraps_around_sequence_space() {
        let mut s = InOrder::default();
        let mut out = Vec::new();
        s.syn(u32::MAX - 1);
        run(&mut s, u32::MAX, b"ab", &mut out);
        run(&mut s, 1, b"cd", &mut out);
        assert_eq!(out, b"abcd");
    }

    #[test]
    fn too_many_gaps_break_the_stream() {
        let mut s = InOrder::default();
        let mut out = Vec::new();
        s.syn(0);
        for k in 0..MAX_OOO_SEGMENTS as u32 {
            assert_eq!(run(&mut s, 10 + k * 10, b"x", &mut out), Accepted::Held);
        }
        assert_eq!(run(&mut s, 100, b"x", &mut out), Accepted::Broken);
        assert_eq!(run(&mut s, 1, b"x", &mut out), Accepted::Broken);
        assert_eq!(s.held_bytes(), 0);
    }

    #[test]
    fn midstream_starts_at_first_data() {
        let mut s = InOrder::default();
        let mut out = Vec::new();
        run(&mut s, 5000, b"GET", &mut out);
        run(&mut s, 5003, b" /", &mut out);
        assert_eq!(out, b"GET /");
    }
}
