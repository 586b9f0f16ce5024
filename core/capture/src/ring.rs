//! A bounded ring of recent packets keyed by flow id, so that the packets of
//! a flow that raises an alert can still be saved after the fact.
//!
//! It lives at the edge (the replay loop or the tunnel's packet loop), never
//! in the sans-IO engine: the engine keeps no packet bytes. Off by default;
//! whoever enables it gives both caps:
//! - `max_bytes`: packet bytes held. The bytes live in one contiguous ring
//!   buffer allocated up front, so a packet costs a copy, never an allocation,
//!   and the memory is exactly the cap plus the per-packet metadata.
//! - `max_packets`: packets held (bounds the metadata, 24 bytes each).
//!
//! A push that does not fit evicts the oldest packets until it does, and
//! every eviction is counted. A packet longer than `snap_len` keeps its first
//! `snap_len` bytes and its original length, as a capture's snap length
//! does. [`PacketRing::take`] copies a flow's packets out and marks them
//! taken, so a second alert on the same flow does not save them twice; they
//! leave the ring with ordinary eviction.

use std::collections::VecDeque;

/// Caps of a [`PacketRing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingConfig {
    /// Packet bytes held at most.
    pub max_bytes: usize,
    /// Packets held at most.
    pub max_packets: usize,
    /// Bytes kept of each packet (the rest is cut, the original length kept).
    pub snap_len: usize,
}

impl RingConfig {
    /// A ring of `max_bytes` bytes with a packet cap of one per 64 bytes (the
    /// smallest TCP/IP packets) and a 64 KiB snap length (whole IP packets).
    pub fn with_bytes(max_bytes: usize) -> Self {
        RingConfig {
            max_bytes,
            max_packets: (max_bytes / 64).max(1),
            snap_len: 65_535,
        }
    }
}

/// One packet handed out by [`PacketRing::take`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingPacket {
    /// Capture time, microseconds since the Unix epoch.
    pub ts_us: u64,
    /// Length of the packet before the ring's snap length cut it.
    pub orig_len: u32,
    /// The kept bytes (a raw IP packet).
    pub data: Vec<u8>,
}

/// What the ring has done since it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RingStats {
    /// Packets held now.
    pub packets: usize,
    /// Packet bytes held now.
    pub bytes: usize,
    /// Packets pushed.
    pub pushed: u64,
    /// Packets evicted to make room (taken or not).
    pub evicted_packets: u64,
    /// Bytes evicted to make room.
    pub evicted_bytes: u64,
    /// Evicted packets that no alert had taken: lost for any later alert.
    pub evicted_untaken: u64,
    /// Packets refused because the ring holds no bytes at all.
    pub refused: u64,
    /// Packets cut to the snap length.
    pub truncated: u64,
    /// Packets copied out by [`PacketRing::take`].
    pub taken: u64,
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    flow: u64,
    ts_us: u64,
    orig_len: u32,
    len: u32,
    taken: bool,
}

/// The ring. See the module docs.
#[derive(Debug)]
pub struct PacketRing {
    config: RingConfig,
    // Packet bytes, oldest first; `meta` says where each packet ends.
    data: VecDeque<u8>,
    meta: VecDeque<Meta>,
    stats: RingStats,
}

impl PacketRing {
    /// An empty ring with the given caps. The byte buffer is allocated now.
    pub fn new(config: RingConfig) -> Self {
        PacketRing {
            config,
            data: VecDeque::with_capacity(config.max_bytes),
            meta: VecDeque::with_capacity(config.max_packets.min(1 << 16)),
            stats: RingStats::default(),
        }
    }

    /// The caps.
    pub fn config(&self) -> RingConfig {
        self.config
    }

    /// Counters and the current fill.
    pub fn stats(&self) -> RingStats {
        RingStats {
            packets: self.meta.len(),
            bytes: self.data.len(),
            ..self.stats
        }
    }

    /// Memory held: the byte buffer's capacity plus the metadata.
    pub fn memory(&self) -> usize {
        self.data.capacity() + self.meta.capacity() * std::mem::size_of::<Meta>()
    }

    /// Records a packet of `flow`, evicting the oldest packets to make room.
    pub fn push(&mut self, flow: u64, ts_us: u64, packet: &[u8]) {
        self.stats.pushed += 1;
        let cap = self.config.snap_len.min(self.config.max_bytes);
        if cap == 0 || self.config.max_packets == 0 {
            self.stats.refused += 1;
            return;
        }
        let kept = packet.get(..cap).unwrap_or(packet);
        if kept.len() < packet.len() {
            self.stats.truncated += 1;
        }
        while self.data.len() + kept.len() > self.config.max_bytes
            || self.meta.len() >= self.config.max_packets
        {
            if !self.evict_oldest() {
                break;
            }
        }
        self.data.extend(kept.iter().copied());
        self.meta.push_back(Meta {
            flow,
            ts_us,
            orig_len: u32::try_from(packet.len()).unwrap_or(u32::MAX),
            len: u32::try_from(kept.len()).unwrap_or(u32::MAX),
            taken: false,
        });
    }

    fn evict_oldest(&mut self) -> bool {
        let Some(m) = self.meta.pop_front() else {
            return false;
        };
        let len = usize::try_from(m.len)
            .unwrap_or(usize::MAX)
            .min(self.data.len());
        self.data.drain(..len);
        self.stats.evicted_packets += 1;
        self.stats.evicted_bytes += u64::try_from(len).unwrap_or(u64::MAX);
        if !m.taken {
            self.stats.evicted_untaken += 1;
        }
        true
    }

    /// Copies out the packets of `flow` not taken before, oldest first, and
    /// marks them taken. Costs one pass over the ring: meant for alerts,
    /// which are rare, not for every packet.
    pub fn take(&mut self, flow: u64) -> Vec<RingPacket> {
        let mut out = Vec::new();
        let mut start = 0usize;
        for m in &mut self.meta {
            let len = usize::try_from(m.len).unwrap_or(usize::MAX);
            if m.flow == flow && !m.taken {
                m.taken = true;
                out.push(RingPacket {
                    ts_us: m.ts_us,
                    orig_len: m.orig_len,
                    data: {
                        let end = (start + len).min(self.data.len());
                        self.data.range(start.min(end)..end).copied().collect()
                    },
                });
            }
            start += len;
        }
        self.stats.taken += u64::try_from(out.len()).unwrap_or(u64::MAX);
        out
    }

    /// Packets of `flow` held and not yet taken.
    pub fn count(&self, flow: u64) -> usize {
        self.meta
            .iter()
            .filter(|m| m.flow == flow && !m.taken)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(tag: u8, len: usize) -> Vec<u8> {
        vec![tag; len]
    }

    #[test]
    fn takes_only_the_flows_packets_in_order() {
        let mut r = PacketRing::new(RingConfig::with_bytes(1_000));
        r.push(1, 10, &pkt(1, 40));
        r.push(2, 11, &pkt(2, 50));
        r.push(1, 12, &pkt(3, 60));
        let got = r.take(1);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].ts_us, got[0].data.len()), (10, 40));
        assert!(got[0].data.iter().all(|b| *b == 1));
        assert_eq!((got[1].ts_us, got[1].data.len()), (12, 60));
        assert!(got[1].data.iter().all(|b| *b == 3));
        // Taken once: a second alert on the flow gets nothing more.
        assert!(r.take(1).is_empty());
        assert_eq!(r.count(2), 1);
        assert_eq!(r.take(2)[0].data, pkt(2, 50));
        assert_eq!(r.stats().taken, 3);
    }

    #[test]
    fn byte_cap_evicts_oldest_and_counts() {
        let mut r = PacketRing::new(RingConfig {
            max_packets: 100,
            ..RingConfig::with_bytes(100)
        });
        for i in 0..10u8 {
            r.push(u64::from(i % 2), u64::from(i), &pkt(i, 30));
        }
        let s = r.stats();
        assert!(s.bytes <= 100, "{s:?}");
        assert_eq!(s.packets, 3);
        assert_eq!(s.evicted_packets, 7);
        assert_eq!(s.evicted_bytes, 210);
        assert_eq!(s.evicted_untaken, 7);
        // The survivors are the newest three: 7, 8, 9.
        let odd: Vec<u64> = r.take(1).iter().map(|p| p.ts_us).collect();
        assert_eq!(odd, vec![7, 9]);
        let even: Vec<u8> = r.take(0).iter().map(|p| p.data[0]).collect();
        assert_eq!(even, vec![8]);
    }

    #[test]
    fn packet_cap_evicts_too() {
        let mut r = PacketRing::new(RingConfig {
            max_bytes: 10_000,
            max_packets: 4,
            snap_len: 65_535,
        });
        for i in 0..6u64 {
            r.push(9, i, &pkt(0, 10));
        }
        assert_eq!(r.stats().packets, 4);
        assert_eq!(r.stats().evicted_packets, 2);
        let ts: Vec<u64> = r.take(9).iter().map(|p| p.ts_us).collect();
        assert_eq!(ts, vec![2, 3, 4, 5]);
    }

    #[test]
    fn snap_length_cuts_and_keeps_original_length() {
        let mut r = PacketRing::new(RingConfig {
            max_bytes: 1_000,
            max_packets: 10,
            snap_len: 16,
        });
        r.push(5, 1, &pkt(7, 1_500));
        let got = r.take(5);
        assert_eq!(got[0].data.len(), 16);
        assert_eq!(got[0].orig_len, 1_500);
        assert_eq!(r.stats().truncated, 1);
    }

    #[test]
    fn packet_larger_than_the_ring_is_cut_to_fit_and_empty_ring_refuses() {
        let mut r = PacketRing::new(RingConfig::with_bytes(64));
        r.push(1, 1, &pkt(1, 30));
        r.push(1, 2, &pkt(2, 500));
        let s = r.stats();
        assert!(s.bytes <= 64);
        assert_eq!(s.evicted_packets, 1);
        let got = r.take(1);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].data.len(), got[0].orig_len), (64, 500));

        let mut none = PacketRing::new(RingConfig::with_bytes(0));
        none.push(1, 1, &pkt(1, 10));
        assert_eq!(none.stats().refused, 1);
        assert!(none.take(1).is_empty());
    }

    #[test]
    fn memory_stays_at_the_cap_under_a_flood() {
        let mut r = PacketRing::new(RingConfig::with_bytes(4_096));
        let before = r.memory();
        for i in 0..100_000u64 {
            let len = usize::try_from(20 + i % 1_400).unwrap_or(20);
            r.push(i % 97, i, &pkt(0, len));
        }
        let s = r.stats();
        assert!(s.bytes <= 4_096);
        assert!(s.packets <= 64);
        assert_eq!(s.pushed, 100_000);
        assert_eq!(
            s.pushed,
            s.evicted_packets + u64::try_from(s.packets).unwrap()
        );
        assert!(
            r.memory() <= before + 64 * 32,
            "{} > {}",
            r.memory(),
            before
        );
    }
}
