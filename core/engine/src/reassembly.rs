//! IPv4 and IPv6 fragment reassembly with bounded memory.
//!
//! Fragments are rare on a phone (QUIC and TCP avoid them), so pending
//! datagrams live in a short vector scanned linearly; what matters is that an
//! attacker sending endless first fragments cannot grow it. Limits: datagrams
//! in progress, bytes buffered over all of them, fragments per datagram, and a
//! timeout. Overlapping fragments drop the whole datagram (RFC 5722), because
//! overlaps are how IDS evasion works and no honest stack sends them.

use core::net::IpAddr;

/// Limits for reassembly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// Datagrams in progress at once; the oldest is dropped to make room.
    pub max_datagrams: usize,
    /// Bytes buffered over all datagrams in progress.
    pub max_buffered_bytes: usize,
    /// Fragments one datagram may have.
    pub max_fragments: usize,
    /// A datagram not complete after this long is dropped.
    pub timeout_us: u64,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig {
            max_datagrams: 64,
            max_buffered_bytes: 256 * 1024,
            max_fragments: 64,
            timeout_us: 30_000_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FragKey {
    src: IpAddr,
    dst: IpAddr,
    ident: u32,
    protocol: u8,
}

#[derive(Debug)]
struct Pending {
    key: FragKey,
    first_us: u64,
    data: Vec<u8>,
    /// Byte ranges received, sorted and merged where adjacent.
    ranges: Vec<(u32, u32)>,
    total: Option<u32>,
    fragments: u32,
    /// Header length of the first fragment, once it has arrived.
    header_len: Option<u32>,
}

/// One fragment, as the IP layer read it.
#[derive(Debug, Clone, Copy)]
pub struct FragmentIn<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Upper-layer protocol (IPv4 header, or IPv6 fragment header's next header).
    pub protocol: u8,
    /// Identification.
    pub ident: u32,
    /// Offset in bytes.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
    /// IP header bytes before the fragment data.
    pub header_len: u32,
    /// Fragment data.
    pub data: &'a [u8],
}

/// What became of a fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Kept; the datagram is not complete yet.
    Held,
    /// This fragment completed its datagram.
    Complete(Datagram),
    /// Dropped; the reason says why. `released` earlier fragments of the same
    /// datagram were dropped with it.
    Dropped {
        /// Why.
        reason: DropReason,
        /// Earlier fragments dropped along with this one.
        released: u32,
    },
}

/// A reassembled datagram.
#[derive(Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Upper-layer protocol.
    pub protocol: u8,
    /// The whole upper-layer payload.
    pub payload: Vec<u8>,
    /// Header length of the first fragment.
    pub header_len: u32,
    /// Fragments it was built from (this one included).
    pub fragments: u32,
}

/// Why a fragment was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// It overlapped data already received with different bounds.
    Overlap,
    /// The datagram would exceed 65,535 bytes, or a last fragment disagreed
    /// with an earlier one about the total.
    BadLength,
    /// Over the byte or fragment cap.
    OverCap,
}

/// Counters of what reassembly did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReassemblyCounters {
    /// Datagrams completed.
    pub datagrams_completed: u64,
    /// Datagrams dropped unfinished: timed out, evicted for room, or flushed.
    pub datagrams_incomplete: u64,
    /// Datagrams dropped for overlapping fragments.
    pub datagrams_overlapping: u64,
    /// Fragments refused because a cap was reached.
    pub fragments_over_cap: u64,
}

/// The reassembler. Sans-IO: time comes in with each call.
#[derive(Debug)]
pub struct Reassembler {
    config: ReassemblyConfig,
    pending: Vec<Pending>,
    buffered: usize,
    counters: ReassemblyCounters,
}

const MAX_DATAGRAM: u32 = 65_535;

impl Reassembler {
    /// A reassembler with these limits.
    pub fn new(config: ReassemblyConfig) -> Self {
        Reassembler {
            config,
            pending: Vec::new(),
            buffered: 0,
            counters: Default::default(),
        }
    }

    /// Counters so far.
    pub fn counters(&self) -> ReassemblyCounters {
        self.counters
    }

    /// Bytes held in fragment buffers now.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// Datagrams in progress.
    pub fn in_progress(&self) -> usize {
        self.pending.len()
    }

    /// Drop datagrams older than the timeout. Returns the number of fragments
    /// they held (so the caller can account for those packets).
    pub fn expire(&mut self, now_us: u64) -> u32 {
        let timeout = self.config.timeout_us;
        let mut released = 0;
        let mut i = 0;
        while i < self.pending.len() {
            let stale = self
                .pending
                .get(i)
                .is_some_and(|p| now_us.saturating_sub(p.first_us) >= timeout);
            if stale {
                released += self.remove(i).fragments;
                self.counters.datagrams_incomplete += 1;
            } else {
                i += 1;
            }
        }
        released
    }

    /// Drop everything in progress (end of a capture, shutdown). Returns the
    /// fragments released.
    pub fn flush(&mut self) -> u32 {
        let mut released = 0;
        while !self.pending.is_empty() {
            released += self.remove(0).fragments;
            self.counters.datagrams_incomplete += 1;
        }
        released
    }

    fn remove(&mut self, i: usize) -> Pending {
        let p = self.pending.swap_remove(i);
        self.buffered = self.buffered.saturating_sub(p.data.capacity());
        p
    }

    fn evict_oldest(&mut self) -> u32 {
        let oldest = self
            .pending
            .iter()
            .enumerate()
            .min_by_key(|(_, p)| p.first_us)
            .map(|(i, _)| i);
        match oldest {
            Some(i) => {
                self.counters.datagrams_incomplete += 1;
                self.remove(i).fragments
            }
            None => 0,
        }
    }

    /// Take one fragment. `released` in the returned tuple counts fragments of
    /// *other* datagrams dropped to make room, which the caller must account for.
    pub fn push(&mut self, now_us: u64, frag: FragmentIn<'_>) -> (Outcome, u32) {
        let mut released_other = 0;
        let len = u32::try_from(frag.data.len()).unwrap_or(u32::MAX);
        let end = frag.offset.saturating_add(len);
        if end > MAX_DATAGRAM {
            return (
                Outcome::Dropped {
                    reason: DropReason::BadLength,
                    released: 0,
                },
                0,
            );
        }
        let key = FragKey {
            src: frag.src,
            dst: frag.dst,
            ident: frag.ident,
            protocol: frag.protocol,
        };
        let idx = match self.pending.iter().position(|p| p.key == key) {
            Some(i) => i,
            None => {
                if self.pending.len() >= self.config.max_datagrams {
                    released_other += self.evict_oldest();
                }
                self.pending.push(Pending {
                    key,
                    first_us: now_us,
                    data: Vec::new(),
                    ranges: Vec::new(),
                    total: None,
                    fragments: 0,
                    header_len: None,
                });
                self.pending.len() - 1
            }
        };

        // Make room in the byte budget, never by evicting this datagram.
        let Some(p) = self.pending.get(idx) else {
            return (
                Outcome::Dropped {
                    reason: DropReason::OverCap,
                    released: 0,
                },
                released_other,
            );
        };
        let grow = (end as usize).saturating_sub(p.data.capacity());
        let mut idx = idx;
        while self.buffered + grow > self.config.max_buffered_bytes && self.pending.len() > 1 {
            let victim = self
                .pending
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != idx)
                .min_by_key(|(_, p)| p.first_us)
                .map(|(i, _)| i);
            let Some(v) = victim else { break };
            released_other += self.remove(v).fragments;
            self.counters.datagrams_incomplete += 1;
            // swap_remove moved the last element into `v`.
            if idx == self.pending.len() {
                idx = v;
            }
        }
        let too_many = self
            .pending
            .get(idx)
            .is_some_and(|p| p.fragments as usize >= self.config.max_fragments);
        if self.buffered + grow > self.config.max_buffered_bytes || too_many {
            self.counters.fragments_over_cap += 1;
            let released = self.drop_if_empty(idx);
            return (
                Outcome::Dropped {
                    reason: DropReason::OverCap,
                    released,
                },
                released_other,
            );
        }

        let Some(p) = self.pending.get_mut(idx) else {
            return (
                Outcome::Dropped {
                    reason: DropReason::OverCap,
                    released: 0,
                },
                released_other,
            );
        };
        // A repeated fragment with exactly the same bounds is a retransmission.
        let duplicate = p.ranges.iter().any(|&(s, e)| s <= frag.offset && end <= e)
            && p.ranges.contains(&(frag.offset, end));
        let overlaps = p.ranges.iter().any(|&(s, e)| frag.offset < e && s < end);
        if overlaps && !duplicate {
            let released = p.fragments;
            self.remove(idx);
            self.counters.datagrams_overlapping += 1;
            return (
                Outcome::Dropped {
                    reason: DropReason::Overlap,
                    released,
                },
                released_other,
            );
        }
        if !frag.more {
            if p.total.is_some_and(|t| t != end) || p.ranges.iter().any(|&(_, e)| e > end) {
                let released = p.fragments;
                self.remove(idx);
                self.counters.datagrams_incomplete += 1;
                return (
                    Outcome::Dropped {
                        reason: DropReason::BadLength,
                        released,
                    },
                    released_other,
                );
            }
            p.total = Some(end);
        }
        if frag.offset == 0 {
            p.header_len = Some(frag.header_len);
        }
        p.fragments += 1;
        if !duplicate {
            let before = p.data.capacity();
            if p.data.len() < end as usize {
                p.data
                    .reserve_exact((end as usize).saturating_sub(p.data.len()));
                p.data.resize(end as usize, 0);
            }
            if let Some(slot) = p.data.get_mut(frag.offset as usize..end as usize) {
                slot.copy_from_slice(frag.data);
            }
            self.buffered += p.data.capacity().saturating_sub(before);
            insert_range(&mut p.ranges, (frag.offset, end));
        }

        let complete = match (p.total, p.ranges.as_slice()) {
            (Some(t), [(0, e)]) => *e == t,
            _ => false,
        };
        if !complete {
            return (Outcome::Held, released_other);
        }
        let done = self.remove(idx);
        self.counters.datagrams_completed += 1;
        let mut payload = done.data;
        payload.truncate(done.total.unwrap_or(0) as usize);
        (
            Outcome::Complete(Datagram {
                protocol: done.key.protocol,
                payload,
                header_len: done.header_len.unwrap_or(0),
                fragments: done.fragments,
            }),
            released_other,
        )
    }

    fn drop_if_empty(&mut self, idx: usize) -> u32 {
        if self.pending.get(idx).is_some_and(|p| p.fragments == 0) {
            self.remove(idx);
        }
        0
    }
}

fn insert_range(ranges: &mut Vec<(u32, u32)>, new: (u32, u32)) {
    let pos = ranges.partition_point(|&(s, _)| s < new.0);
    ranges.insert(pos, new);
    // Merge neighbours that touch; the caller already refused overlaps.
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
    for &(s, e) in ranges.iter() {
        match merged.last_mut() {
            Some(last) if last.1 >= s => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    *ranges = merged;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(ident: u32, offset: u32, more: bool, data: &[u8]) -> FragmentIn<'_> {
        FragmentIn {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            protocol: 17,
            ident,
            offset,
            more,
            header_len: 20,
            data,
        }
    }

    #[test]
    fn in_order_and_out_of_order() {
        let mut r = Reassembler::new(ReassemblyConfig::default());
        let a = [1u8; 16];
        let b = [2u8; 16];
        let c = [3u8; 5];
        assert_eq!(r.push(0, frag(7, 32, false, &c)).0, Outcome::Held);
        assert_eq!(r.push(1, frag(7, 0, true, &a)).0, Outcome::Held);
        let (out, _) = r.push(2, frag(7, 16, true, &b));
        let Outcome::Complete(d) = out else {
            panic!("{out:?}")
        };
        assert_eq!(d.payload.len(), 37);
        assert_eq!(&d.payload[..16], &a);
        assert_eq!(&d.payload[16..32], &b);
        assert_eq!(&d.payload[32..], &c);
        assert_eq!(d.fragments, 3);
        assert_eq!(d.header_len, 20);
        assert_eq!(r.in_progress(), 0);
        assert_eq!(r.buffered_bytes(), 0);
        assert_eq!(r.counters().datagrams_completed, 1);
    }

    #[test]
    fn duplicate_is_tolerated_overlap_is_not() {
        let mut r = Reassembler::new(ReassemblyConfig::default());
        let a = [1u8; 16];
        r.push(0, frag(1, 0, true, &a));
        assert_eq!(r.push(0, frag(1, 0, true, &a)).0, Outcome::Held);
        let (out, _) = r.push(0, frag(1, 8, true, &a));
        assert_eq!(
            out,
            Outcome::Dropped {
                reason: DropReason::Overlap,
                released: 2
            }
        );
        assert_eq!(r.in_progress(), 0);
        assert_eq!(r.counters().datagrams_overlapping, 1);
    }

    #[test]
    fn orphan_times_out() {
        let mut r = Reassembler::new(ReassemblyConfig::default());
        r.push(0, frag(1, 64, false, &[0; 8]));
        assert_eq!(r.expire(29_999_999), 0);
        assert_eq!(r.expire(30_000_000), 1);
        assert_eq!(r.counters().datagrams_incomplete, 1);
        assert_eq!(r.buffered_bytes(), 0);
    }

    #[test]
    fn too_long_and_inconsistent_total() {
        let mut r = Reassembler::new(ReassemblyConfig::default());
        let (out, _) = r.push(0, frag(1, 65_528, true, &[0; 16]));
        assert_eq!(
            out,
            Outcome::Dropped {
                reason: DropReason::BadLength,
                released: 0
            }
        );
        r.push(0, frag(2, 0, true, &[0; 16]));
        r.push(0, frag(2, 32, false, &[0; 8]));
        let (out, _) = r.push(0, frag(2, 48, false, &[0; 8]));
        assert_eq!(
            out,
            Outcome::Dropped {
                reason: DropReason::BadLength,
                released: 2
            }
        );
    }

    #[test]
    fn datagram_cap_evicts_oldest() {
        let cfg = ReassemblyConfig {
            max_datagrams: 4,
            ..Default::default()
        };
        let mut r = Reassembler::new(cfg);
        for id in 0..4 {
            assert_eq!(
                r.push(u64::from(id), frag(id, 0, true, &[0; 8])),
                (Outcome::Held, 0)
            );
        }
        assert_eq!(r.push(10, frag(99, 0, true, &[0; 8])), (Outcome::Held, 1));
        assert_eq!(r.in_progress(), 4);
        assert_eq!(r.counters().datagrams_incomplete, 1);
    }

    #[test]
    fn byte_cap_is_never_exceeded() {
        let cfg = ReassemblyConfig {
            max_buffered_bytes: 10_000,
            ..Default::default()
        };
        let mut r = Reassembler::new(cfg);
        let big = vec![0u8; 1_480];
        let mut released = 0;
        for id in 0..200u32 {
            for k in 0..3 {
                let (out, rel) = r.push(u64::from(id), frag(id, k * 1_480, true, &big));
                released += rel;
                if let Outcome::Dropped { released: r2, .. } = out {
                    released += r2;
                }
                assert!(r.buffered_bytes() <= 10_000, "{}", r.buffered_bytes());
            }
        }
        assert!(r.counters().fragments_over_cap > 0 || r.counters().datagrams_incomplete > 0);
        assert!(released > 0);
        // A datagram that alone exceeds the budget is refused, not buffered.
        let mut r = Reassembler::new(ReassemblyConfig {
            max_buffered_bytes: 1_000,
            ..cfg
        });
        let (out, _) = r.push(0, frag(1, 0, true, &big));
        assert_eq!(
            out,
            Outcome::Dropped {
                reason: DropReason::OverCap,
                released: 0
            }
        );
        assert_eq!(r.in_progress(), 0);
    }

    #[test]
    fn fragment_cap() {
        let cfg = ReassemblyConfig {
            max_fragments: 3,
            ..Default::default()
        };
        let mut r = Reassembler::new(cfg);
        for k in 0..3 {
            assert_eq!(r.push(0, frag(1, k * 8, true, &[0; 8])).0, Outcome::Held);
        }
        let (out, _) = r.push(0, frag(1, 24, true, &[0; 8]));
        assert!(matches!(
            out,
            Outcome::Dropped {
                reason: DropReason::OverCap,
                ..
            }
        ));
    }
}
