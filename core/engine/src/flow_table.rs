//! The bounded flow table.
//!
//! Entries live in a slab (`Vec<Entry>`) addressed by `u32`; a
//! `hashbrown::HashTable<u32>` indexes them by key, so the index costs five
//! bytes a slot instead of a second copy of the key. Each entry is also on one
//! of six intrusive LRU lists, one per timeout class: the head of each list is
//! the next entry of that class to time out, so expiry and eviction are O(1)
//! and never scan the table.

use hashbrown::HashTable;

use crate::flow_key::FlowKey;
use crate::inspect::Inspector;
use crate::names::FlowName;
use crate::record::{AppId, EndReason, FlowRecord};
use crate::tcp_state::{TcpHistory, TcpState};

/// Idle timeouts per class, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP with a SYN but no SYN-ACK yet (port scans, SYN floods, dead hosts).
    pub tcp_opening_us: u64,
    /// Established or midstream TCP.
    pub tcp_established_us: u64,
    /// TCP after FIN or RST: short, so late ACKs still land in the flow.
    pub tcp_closing_us: u64,
    /// UDP.
    pub udp_us: u64,
    /// ICMP and ICMPv6.
    pub icmp_us: u64,
    /// SCTP and anything else with a flow.
    pub other_us: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        // Mobile NATs drop idle TCP after a few minutes, so a longer timeout
        // would only keep dead flows. UDP and ICMP follow Zeek's defaults.
        Timeouts {
            tcp_opening_us: 30_000_000,
            tcp_established_us: 300_000_000,
            tcp_closing_us: 5_000_000,
            udp_us: 60_000_000,
            icmp_us: 60_000_000,
            other_us: 60_000_000,
        }
    }
}

/// Flow table limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowTableConfig {
    /// Live flows at most; a new flow above it evicts the one nearest its timeout.
    pub max_flows: usize,
    /// Idle timeouts.
    pub timeouts: Timeouts,
}

impl Default for FlowTableConfig {
    fn default() -> Self {
        FlowTableConfig {
            max_flows: 16_384,
            timeouts: Timeouts::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Class {
    TcpOpening = 0,
    TcpEstablished = 1,
    TcpClosing = 2,
    Udp = 3,
    Icmp = 4,
    Other = 5,
}

const CLASSES: usize = 6;
const NIL: u32 = u32::MAX;
const FREE: u8 = u8::MAX;
const NO_APP: u32 = u32::MAX;

impl Class {
    fn timeout(self, t: &Timeouts) -> u64 {
        match self {
            Class::TcpOpening => t.tcp_opening_us,
            Class::TcpEstablished => t.tcp_established_us,
            Class::TcpClosing => t.tcp_closing_us,
            Class::Udp => t.udp_us,
            Class::Icmp => t.icmp_us,
            Class::Other => t.other_us,
        }
    }

    fn from_u8(v: u8) -> Option<Class> {
        Some(match v {
            0 => Class::TcpOpening,
            1 => Class::TcpEstablished,
            2 => Class::TcpClosing,
            3 => Class::Udp,
            4 => Class::Icmp,
            5 => Class::Other,
            _ => return None,
        })
    }

    pub(crate) fn for_tcp(h: TcpHistory) -> Class {
        match h.state() {
            TcpState::SynSent => Class::TcpOpening,
            TcpState::Established | TcpState::Midstream => Class::TcpEstablished,
            TcpState::Closing | TcpState::Closed => Class::TcpClosing,
        }
    }
}

/// What a flow carries beyond counters, boxed so that unnamed, uninspected
/// flows pay one pointer for it.
#[derive(Debug, Default)]
pub(crate) struct Extras {
    pub(crate) name: FlowName,
    pub(crate) inspector: Option<Box<Inspector>>,
    /// Bytes the inspector holds, as last charged to the table's budget.
    pub(crate) charged: usize,
}

/// Inspection was started once; it is never started again for this flow.
pub(crate) const INSPECTION_STARTED: u8 = 1;
/// An inspector is live (in the extras).
pub(crate) const INSPECTOR_LIVE: u8 = 2;
/// The live inspector reads the responder's bytes too (DNS over HTTP), so its
/// segments are not skipped on the packet path.
pub(crate) const INSPECTOR_READS_RESPONDER: u8 = 4;

/// One live flow. Kept small: this is the per-flow memory cost.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) key: FlowKey,
    pub(crate) id: u64,
    pub(crate) first_us: u64,
    pub(crate) last_us: u64,
    /// Packets and IP bytes, `[originator, responder]`.
    pub(crate) pkts: [u64; 2],
    pub(crate) bytes: [u64; 2],
    app: u32,
    prev: u32,
    next: u32,
    pub(crate) tcp: TcpHistory,
    /// Sequence numbers of the SYNs seen, `[originator, responder]`, so that
    /// inspection, which starts at the first payload, can place a segment
    /// that arrives out of order.
    pub(crate) isn: [u32; 2],
    pub(crate) extras: Option<Box<Extras>>,
    class: u8,
    /// Whether the originator is the key's `lo` endpoint.
    pub(crate) orig_is_lo: bool,
    /// `INSPECTION_STARTED` and `INSPECTOR_LIVE`: kept here, in what the
    /// packet already reads, so that a flow with nothing left to reveal never
    /// touches its extras.
    pub(crate) inspection: u8,
}

impl Entry {
    pub(crate) fn app(&self) -> Option<AppId> {
        (self.app != NO_APP).then_some(AppId(self.app))
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct List {
    head: u32,
    tail: u32,
}

/// Counters of the table's own work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FlowTableCounters {
    /// Flows created.
    pub created: u64,
    /// Flows completed because both sides closed (or a RST).
    pub closed: u64,
    /// Flows completed because they went idle.
    pub timed_out: u64,
    /// Flows pushed out to make room for a new one (load shed).
    pub evicted: u64,
    /// Flows completed by a flush.
    pub flushed: u64,
    /// Flows completed because a new connection reused the 5-tuple.
    pub reused: u64,
}

/// The table.
#[derive(Debug)]
pub struct FlowTable {
    config: FlowTableConfig,
    hasher: foldhash::fast::FixedState,
    index: HashTable<u32>,
    slab: Vec<Entry>,
    free_head: u32,
    lists: [List; CLASSES],
    live: usize,
    next_id: u64,
    counters: FlowTableCounters,
    inspectors: usize,
    inspection_bytes: usize,
    extras_live: usize,
}

/// The result of finding or creating the entry for a packet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    pub(crate) idx: u32,
    pub(crate) is_new: bool,
}

impl FlowTable {
    /// A table with these limits; `seed` keys the hash (the edge supplies
    /// randomness so that an attacker cannot aim collisions at the table).
    pub fn new(config: FlowTableConfig, seed: u64) -> Self {
        let empty = List {
            head: NIL,
            tail: NIL,
        };
        FlowTable {
            config,
            hasher: foldhash::fast::FixedState::with_seed(seed),
            // Sized for twice the cap up front: with live entries never above
            // half its capacity, hashbrown cleans tombstones in place instead
            // of growing, so the index never reallocates.
            index: HashTable::with_capacity(config.max_flows.saturating_mul(2)),
            slab: Vec::new(),
            free_head: NIL,
            lists: [empty; CLASSES],
            live: 0,
            next_id: 1,
            counters: FlowTableCounters::default(),
            inspectors: 0,
            inspection_bytes: 0,
            extras_live: 0,
        }
    }

    /// Live flows.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no flow is live.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The configured cap.
    pub fn capacity(&self) -> usize {
        self.config.max_flows
    }

    /// Counters so far.
    pub fn counters(&self) -> FlowTableCounters {
        self.counters
    }

    /// Bytes this table holds now (slab plus index), for memory accounting.
    pub fn memory_bytes(&self) -> usize {
        self.slab.capacity() * core::mem::size_of::<Entry>()
            + self.index.capacity() * (core::mem::size_of::<u32>() + 1)
    }

    /// Bytes the table would hold at its cap.
    pub fn memory_cap_bytes(&self) -> usize {
        // hashbrown keeps at most 7/8 of its buckets full, in power-of-two
        // sizes; the index is sized for twice the cap (see `new`).
        let buckets = (self.config.max_flows.saturating_mul(16) / 7 + 1).next_power_of_two();
        self.config.max_flows * core::mem::size_of::<Entry>()
            + buckets * (core::mem::size_of::<u32>() + 1)
    }

    /// The key's hash, for `find_hashed` and `insert_hashed` (a new flow
    /// hashes its key once for both).
    pub(crate) fn hash(&self, key: &FlowKey) -> u64 {
        use core::hash::BuildHasher;
        self.hasher.hash_one(key)
    }

    /// The live entry in slot `idx` (a freed slot gives `None`).
    pub(crate) fn entry(&self, idx: u32) -> Option<&Entry> {
        self.slab.get(idx as usize).filter(|e| e.class != FREE)
    }

    pub(crate) fn entry_mut(&mut self, idx: u32) -> Option<&mut Entry> {
        self.slab.get_mut(idx as usize).filter(|e| e.class != FREE)
    }

    /// Find the live entry for `key`.
    #[cfg(test)]
    pub(crate) fn find(&self, key: &FlowKey) -> Option<u32> {
        self.find_hashed(self.hash(key), key)
    }

    /// Find the live entry for `key`, whose hash is `hash`.
    pub(crate) fn find_hashed(&self, hash: u64, key: &FlowKey) -> Option<u32> {
        let slab = &self.slab;
        self.index
            .find(hash, |&i| {
                slab.get(i as usize).is_some_and(|e| e.key == *key)
            })
            .copied()
    }

    /// Create an entry for `key`. When the table is full the entry nearest to
    /// its timeout is completed first (`out` receives it).
    #[cfg(test)]
    pub(crate) fn insert(
        &mut self,
        now_us: u64,
        key: FlowKey,
        orig_is_lo: bool,
        class: Class,
        out: &mut impl FnMut(FlowRecord),
    ) -> Option<Slot> {
        let hash = self.hash(&key);
        self.insert_hashed(hash, now_us, key, orig_is_lo, class, out)
    }

    /// `insert`, with the key's hash already computed.
    pub(crate) fn insert_hashed(
        &mut self,
        hash: u64,
        now_us: u64,
        key: FlowKey,
        orig_is_lo: bool,
        class: Class,
        out: &mut impl FnMut(FlowRecord),
    ) -> Option<Slot> {
        if self.config.max_flows == 0 {
            return None;
        }
        if self.live >= self.config.max_flows {
            let victim = self.eviction_candidate()?;
            self.counters.evicted += 1;
            self.complete(victim, EndReason::Evicted, out);
        }
        let id = self.next_id;
        self.next_id += 1;
        let entry = Entry {
            key,
            id,
            first_us: now_us,
            last_us: now_us,
            pkts: [0; 2],
            bytes: [0; 2],
            app: NO_APP,
            prev: NIL,
            next: NIL,
            tcp: TcpHistory::default(),
            isn: [0; 2],
            extras: None,
            class: class as u8,
            orig_is_lo,
            inspection: 0,
        };
        let idx = if self.free_head != NIL {
            let idx = self.free_head;
            let slot = self.slab.get_mut(idx as usize)?;
            self.free_head = slot.next;
            *slot = entry;
            idx
        } else {
            let idx = u32::try_from(self.slab.len()).ok().filter(|&i| i != NIL)?;
            if self.slab.len() == self.slab.capacity() {
                // Grow geometrically but never past the cap, so the slab's
                // memory is bounded by max_flows entries.
                let room = self.config.max_flows.saturating_sub(self.slab.len());
                self.slab
                    .reserve_exact(self.slab.len().max(16).min(room.max(1)));
            }
            self.slab.push(entry);
            idx
        };
        let slab = &self.slab;
        let hasher = &self.hasher;
        self.index.insert_unique(hash, idx, |&i| {
            use core::hash::BuildHasher;
            slab.get(i as usize).map_or(0, |e| hasher.hash_one(e.key))
        });
        self.link_tail(idx, class);
        self.live += 1;
        self.counters.created += 1;
        Some(Slot { idx, is_new: true })
    }

    /// Mark `idx` as just used and move it to the tail of `class`'s list.
    pub(crate) fn touch(&mut self, idx: u32, now_us: u64, class: Class) {
        let Some(e) = self.slab.get_mut(idx as usize) else {
            return;
        };
        e.last_us = e.last_us.max(now_us);
        // A flow sending a run of packets is already the tail of its list.
        if e.next == NIL && e.class == class as u8 {
            return;
        }
        self.unlink(idx);
        self.link_tail(idx, class);
    }

    pub(crate) fn set_app(&mut self, idx: u32, app: AppId) {
        if let Some(e) = self.slab.get_mut(idx as usize) {
            e.app = app.0;
        }
    }

    /// The extras of a live flow, created on first use.
    pub(crate) fn extras_mut(&mut self, idx: u32) -> Option<&mut Extras> {
        let e = self
            .slab
            .get_mut(idx as usize)
            .filter(|e| e.class != FREE)?;
        if e.extras.is_none() {
            self.extras_live += 1;
        }
        Some(e.extras.get_or_insert_with(Box::default))
    }

    /// The inspector of a live flow, if it has one (never allocates).
    pub(crate) fn inspector_mut(&mut self, idx: u32) -> Option<&mut Inspector> {
        let e = self
            .slab
            .get_mut(idx as usize)
            .filter(|e| e.class != FREE)?;
        e.extras.as_deref_mut()?.inspector.as_deref_mut()
    }

    /// Inspectors live now, and the bytes they hold.
    pub(crate) fn inspection(&self) -> (usize, usize) {
        (self.inspectors, self.inspection_bytes)
    }

    /// Flows carrying extras (a name or an inspector) now.
    pub(crate) fn extras_live(&self) -> usize {
        self.extras_live
    }

    pub(crate) fn set_inspector(&mut self, idx: u32, inspector: Inspector) {
        let had = self.extras_mut(idx).is_some_and(|x| x.inspector.is_some());
        if let Some(x) = self.extras_mut(idx) {
            x.inspector = Some(Box::new(inspector));
            if !had {
                self.inspectors += 1;
            }
            if let Some(e) = self.slab.get_mut(idx as usize) {
                e.inspection |= INSPECTION_STARTED | INSPECTOR_LIVE;
            }
        }
    }

    /// Marks `idx`'s inspector as reading the responder's bytes.
    pub(crate) fn set_reads_responder(&mut self, idx: u32) {
        if let Some(e) = self.entry_mut(idx) {
            e.inspection |= INSPECTOR_READS_RESPONDER;
        }
    }

    /// Inspection of `idx` is over before it began (a cap was reached): it
    /// is never started again.
    pub(crate) fn skip_inspection(&mut self, idx: u32) {
        if let Some(e) = self.entry_mut(idx) {
            e.inspection |= INSPECTION_STARTED;
        }
    }

    /// Update what `idx`'s inspector holds; returns the table-wide total.
    pub(crate) fn recharge(&mut self, idx: u32, bytes: usize) -> usize {
        let Some(x) = self
            .slab
            .get_mut(idx as usize)
            .and_then(|e| e.extras.as_deref_mut())
        else {
            return self.inspection_bytes;
        };
        self.inspection_bytes = self.inspection_bytes.saturating_sub(x.charged) + bytes;
        x.charged = bytes;
        self.inspection_bytes
    }

    pub(crate) fn drop_inspector(&mut self, idx: u32) {
        let Some(e) = self.slab.get_mut(idx as usize) else {
            return;
        };
        e.inspection &= !(INSPECTOR_LIVE | INSPECTOR_READS_RESPONDER);
        let Some(x) = e.extras.as_deref_mut() else {
            return;
        };
        if x.inspector.take().is_some() {
            self.inspectors = self.inspectors.saturating_sub(1);
        }
        self.inspection_bytes = self.inspection_bytes.saturating_sub(x.charged);
        x.charged = 0;
    }

    fn eviction_candidate(&self) -> Option<u32> {
        let t = &self.config.timeouts;
        // A plain loop over the six heads: every SYN into a full table runs it.
        let mut best: Option<(u64, u32)> = None;
        for (l, timeout) in self.lists.iter().zip([
            t.tcp_opening_us,
            t.tcp_established_us,
            t.tcp_closing_us,
            t.udp_us,
            t.icmp_us,
            t.other_us,
        ]) {
            let Some(e) = self.slab.get(l.head as usize) else {
                continue;
            };
            let deadline = e.last_us.saturating_add(timeout);
            if best.is_none_or(|(d, _)| deadline < d) {
                best = Some((deadline, l.head));
            }
        }
        best.map(|(_, idx)| idx)
    }

    /// Complete every flow idle past its class timeout.
    pub(crate) fn expire(&mut self, now_us: u64, out: &mut impl FnMut(FlowRecord)) {
        let t = self.config.timeouts;
        for c in 0..CLASSES {
            let Some(class) = Class::from_u8(c as u8) else {
                continue;
            };
            let timeout = class.timeout(&t);
            loop {
                let head = self.lists.get(c).map_or(NIL, |l| l.head);
                let Some(e) = self.slab.get(head as usize) else {
                    break;
                };
                if now_us.saturating_sub(e.last_us) < timeout {
                    break;
                }
                let reason = if class == Class::TcpClosing && e.tcp.is_closed() {
                    self.counters.closed += 1;
                    EndReason::Closed
                } else {
                    self.counters.timed_out += 1;
                    EndReason::IdleTimeout
                };
                self.complete(head, reason, out);
            }
        }
    }

    /// Complete every live flow.
    pub(crate) fn flush(&mut self, out: &mut impl FnMut(FlowRecord)) {
        for c in 0..CLASSES {
            loop {
                let head = self.lists.get(c).map_or(NIL, |l| l.head);
                if head == NIL {
                    break;
                }
                self.counters.flushed += 1;
                self.complete(head, EndReason::Flushed, out);
            }
        }
    }

    /// Complete `idx` because a new connection reuses its 5-tuple.
    pub(crate) fn complete_reused(&mut self, idx: u32, out: &mut impl FnMut(FlowRecord)) {
        self.counters.reused += 1;
        let reason = if self
            .slab
            .get(idx as usize)
            .is_some_and(|e| e.tcp.is_closed())
        {
            EndReason::Closed
        } else {
            EndReason::Reused
        };
        self.complete(idx, reason, out);
    }

    fn complete(&mut self, idx: u32, reason: EndReason, out: &mut impl FnMut(FlowRecord)) {
        let Some(e) = self.slab.get(idx as usize) else {
            return;
        };
        if e.class == FREE {
            return;
        }
        out(FlowRecord::from_entry(e, reason));
        let key = e.key;
        self.drop_inspector(idx);
        if let Some(e) = self.slab.get_mut(idx as usize)
            && e.extras.take().is_some()
        {
            self.extras_live = self.extras_live.saturating_sub(1);
        }
        let hash = self.hash(&key);
        if let Ok(found) = self.index.find_entry(hash, |&i| i == idx) {
            found.remove();
        }
        self.unlink(idx);
        if let Some(e) = self.slab.get_mut(idx as usize) {
            e.class = FREE;
            e.next = self.free_head;
            e.prev = NIL;
        }
        self.free_head = idx;
        self.live = self.live.saturating_sub(1);
    }

    fn link_tail(&mut self, idx: u32, class: Class) {
        let c = class as usize;
        let old_tail = self.lists.get(c).map_or(NIL, |l| l.tail);
        if let Some(e) = self.slab.get_mut(idx as usize) {
            e.class = class as u8;
            e.prev = old_tail;
            e.next = NIL;
        }
        if let Some(t) = self.slab.get_mut(old_tail as usize) {
            t.next = idx;
        }
        if let Some(l) = self.lists.get_mut(c) {
            if l.head == NIL {
                l.head = idx;
            }
            l.tail = idx;
        }
    }

    fn unlink(&mut self, idx: u32) {
        let Some(e) = self.slab.get(idx as usize) else {
            return;
        };
        let (prev, next, c) = (e.prev, e.next, e.class as usize);
        if let Some(p) = self.slab.get_mut(prev as usize) {
            p.next = next;
        } else if let Some(l) = self.lists.get_mut(c) {
            l.head = next;
        }
        if let Some(n) = self.slab.get_mut(next as usize) {
            n.prev = prev;
        } else if let Some(l) = self.lists.get_mut(c) {
            l.tail = prev;
        }
        if let Some(e) = self.slab.get_mut(idx as usize) {
            e.prev = NIL;
            e.next = NIL;
        }
    }

    /// Consistency check used by tests: every list is well linked and the
    /// index, lists and `live` agree.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let mut seen = 0;
        for (c, l) in self.lists.iter().enumerate() {
            let mut prev = NIL;
            let mut cur = l.head;
            while cur != NIL {
                let e = &self.slab[cur as usize];
                assert_eq!(e.class as usize, c);
                assert_eq!(e.prev, prev);
                assert_eq!(self.find(&e.key), Some(cur));
                prev = cur;
                cur = e.next;
                seen += 1;
            }
            assert_eq!(l.tail, prev);
        }
        assert_eq!(seen, self.live);
        assert_eq!(self.index.len(), self.live);
        assert!(self.live <= self.config.max_flows);
        assert!(self.slab.capacity() <= self.config.max_flows.max(16));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow_key::Endpoint;

    fn key(n: u32) -> FlowKey {
        let a = Endpoint::new(core::net::Ipv4Addr::from(n).into(), 1000);
        let b = Endpoint::new("192.0.2.1".parse().unwrap(), 443);
        FlowKey::from_packet(6, false, a, b).0
    }

    fn table(max: usize) -> FlowTable {
        FlowTable::new(
            FlowTableConfig {
                max_flows: max,
                timeouts: Timeouts::default(),
            },
            7,
        )
    }

    #[test]
    fn insert_find_expire() {
        let mut t = table(10);
        let mut out = Vec::new();
        let s = t
            .insert(0, key(1), true, Class::Udp, &mut |r| out.push(r))
            .unwrap();
        assert!(s.is_new);
        assert_eq!(t.find(&key(1)), Some(s.idx));
        assert_eq!(t.find(&key(2)), None);
        t.expire(59_999_999, &mut |r| out.push(r));
        assert!(out.is_empty());
        t.touch(s.idx, 30_000_000, Class::Udp);
        t.expire(60_000_000, &mut |r| out.push(r));
        assert!(out.is_empty(), "touch must postpone expiry");
        t.expire(90_000_000, &mut |r| out.push(r));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].end, EndReason::IdleTimeout);
        assert_eq!(t.len(), 0);
        assert_eq!(t.find(&key(1)), None);
        t.check_invariants();
    }

    #[test]
    fn full_table_evicts_nearest_deadline() {
        let mut t = table(3);
        let mut out = Vec::new();
        // An established TCP flow (5 min) and two opening ones (30 s).
        t.insert(0, key(1), true, Class::TcpEstablished, &mut |r| out.push(r));
        t.insert(1, key(2), true, Class::TcpOpening, &mut |r| out.push(r));
        t.insert(2, key(3), true, Class::TcpOpening, &mut |r| out.push(r));
        t.insert(3, key(4), true, Class::TcpOpening, &mut |r| out.push(r));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].end, EndReason::Evicted);
        assert_eq!(t.find(&key(2)), None, "the oldest opening flow goes first");
        assert!(t.find(&key(1)).is_some());
        assert_eq!(t.counters().evicted, 1);
        t.check_invariants();
    }

    #[test]
    fn slots_are_reused_and_memory_stays_capped() {
        let mut t = table(100);
        let mut n = 0u64;
        for i in 0..10_000u32 {
            t.insert(u64::from(i), key(i), true, Class::TcpOpening, &mut |_| {
                n += 1
            });
        }
        assert_eq!(t.len(), 100);
        assert_eq!(n, 9_900);
        assert!(
            t.memory_bytes() <= t.memory_cap_bytes(),
            "{} > {}",
            t.memory_bytes(),
            t.memory_cap_bytes()
        );
        t.check_invariants();
        let mut flushed = 0;
        t.flush(&mut |_| flushed += 1);
        assert_eq!(flushed, 100);
        assert!(t.is_empty());
        t.check_invariants();
    }

    #[test]
    fn class_moves_keep_lists_consistent() {
        let mut t = table(50);
        let mut idx = Vec::new();
        for i in 0..20 {
            idx.push(
                t.insert(0, key(i), true, Class::TcpOpening, &mut |_| {})
                    .unwrap()
                    .idx,
            );
        }
        for (k, &i) in idx.iter().enumerate() {
            let class = Class::from_u8((k % CLASSES) as u8).unwrap();
            t.touch(i, 10 + k as u64, class);
        }
        t.check_invariants();
        t.expire(40_000_000, &mut |_| {});
        t.check_invariants();
    }

    #[test]
    fn entry_is_small() {
        // docs/perf.md promises <= 256 bytes per live flow, index included.
        assert!(
            core::mem::size_of::<Entry>() <= 128,
            "{}",
            core::mem::size_of::<Entry>()
        );
        let t = table(50_000);
        assert!(t.memory_cap_bytes() / 50_000 <= 256);
    }
}
