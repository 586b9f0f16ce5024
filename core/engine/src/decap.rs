//! Decapsulation state: how deep the engine is inside tunnels for the packet in
//! hand, which outer packet carried each inner flow (for conn.log's
//! `tunnel_parents`), and a count for every tunnel packet whose inner packet was
//! not read, by reason.
//!
//! The parsing is in [`nightjar_wire::tunnel`]; this module only bounds and
//! remembers. Nesting is bounded at [`MAX_DEPTH`]: a packet tunnelled deeper is
//! counted and its innermost layer left unread, so a hostile capture cannot make
//! one packet cost more than three parses.

use core::net::IpAddr;
use std::collections::{HashMap, VecDeque};

use nightjar_wire::tunnel::{self, Encapsulated, TunnelError, TunnelKind};

use crate::record::FlowId;

/// Tunnels inside tunnels read at most (an inner packet's inner packet).
pub const MAX_DEPTH: u8 = 2;
/// Inner flows whose tunnel is remembered until they complete; the oldest is
/// forgotten first (and counted) when more are live.
pub const MAX_PARENTS: usize = 4096;

/// The outer packet that carried a flow's packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunnel {
    /// The encapsulation.
    pub kind: TunnelKind,
    /// The outer packet's IP protocol (4, 41, 47, or 17 for GTP-U).
    pub outer_protocol: u8,
    /// The outer packet's source address.
    pub outer_src: IpAddr,
    /// The outer packet's destination address.
    pub outer_dst: IpAddr,
    /// The outer packet's own flow, when it makes one (GTP-U's UDP flow).
    pub outer_flow: Option<FlowId>,
}

/// What decapsulation did, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DecapCounters {
    /// Inner packets read out of a tunnel and handed to the engine.
    pub decapsulated: u64,
    /// Tunnel packets nested deeper than [`MAX_DEPTH`]: counted, inner not parsed.
    pub too_deep: u64,
    /// The outer packet was cut short by the capture's snap length.
    pub snapped: u64,
    /// Encapsulation header truncated.
    pub truncated: u64,
    /// GRE version 1 (PPTP) or other.
    pub gre_version: u64,
    /// GRE carrying neither IP nor Ethernet with IP.
    pub gre_payload: u64,
    /// GRE source routing (RFC 1701).
    pub gre_routing: u64,
    /// GTP-U echo, error indication, end marker.
    pub gtp_signalling: u64,
    /// GTP version other than 1.
    pub gtp_version: u64,
    /// G-PDU carrying neither IPv4 nor IPv6.
    pub gtp_payload: u64,
    /// The inner IP version differs from what the tunnel announces.
    pub inner_version: u64,
    /// Inner flows whose tunnel was forgotten because [`MAX_PARENTS`] were live.
    pub parents_shed: u64,
}

impl DecapCounters {
    fn count(&mut self, e: TunnelError) {
        let c = match e {
            TunnelError::Truncated => &mut self.truncated,
            TunnelError::GreVersion => &mut self.gre_version,
            TunnelError::GrePayload => &mut self.gre_payload,
            TunnelError::GreRouting => &mut self.gre_routing,
            TunnelError::GtpSignalling => &mut self.gtp_signalling,
            TunnelError::GtpVersion => &mut self.gtp_version,
            TunnelError::GtpPayload => &mut self.gtp_payload,
            // A reason added to the wire crate later still counts as a header it cannot read.
            _ => &mut self.inner_version,
        };
        *c += 1;
    }
}

/// The engine's decapsulation state.
#[derive(Debug, Default)]
pub(crate) struct Decap {
    /// The outer layers of the packet in hand, outermost first.
    stack: Vec<Tunnel>,
    /// Set while the engine counts a tunnel packet as itself, so the same bytes
    /// are not taken for a tunnel twice.
    in_outer: bool,
    parents: HashMap<FlowId, Tunnel>,
    order: VecDeque<FlowId>,
    counters: DecapCounters,
}

/// The outer packet's addresses and the flow it made, if any.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outer {
    pub(crate) protocol: u8,
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
    pub(crate) snapped: bool,
    pub(crate) flow: Option<FlowId>,
}

impl Decap {
    /// The hot-path test: true only for a protocol number or port a tunnel uses,
    /// and not while the engine is counting that very packet as its outer self.
    #[inline]
    pub(crate) fn may_carry(&self, protocol: u8, payload: &[u8]) -> bool {
        !self.in_outer && tunnel::may_carry(protocol, payload)
    }

    /// Brackets the engine's ordinary handling of the outer packet.
    pub(crate) fn set_outer(&mut self, on: bool) {
        self.in_outer = on;
    }

    /// Finds the inner packet of `payload` and enters it (call [`Self::leave`]
    /// after handling it), or counts why not and returns `None`.
    pub(crate) fn enter<'a>(&mut self, outer: Outer, payload: &'a [u8]) -> Option<&'a [u8]> {
        if outer.snapped {
            self.counters.snapped += 1;
            return None;
        }
        let Encapsulated { kind, inner } = match tunnel::open(outer.protocol, payload) {
            Ok(Some(e)) => e,
            Ok(None) => return None,
            Err(e) => {
                self.counters.count(e);
                return None;
            }
        };
        if self.stack.len() >= usize::from(MAX_DEPTH) {
            self.counters.too_deep += 1;
            return None;
        }
        self.counters.decapsulated += 1;
        self.stack.push(Tunnel {
            kind,
            outer_protocol: outer.protocol,
            outer_src: outer.src,
            outer_dst: outer.dst,
            outer_flow: outer.flow,
        });
        Some(inner)
    }

    /// Leaves the innermost tunnel; `inner_flow` is the flow its packet made.
    /// The first tunnel an inner flow is seen in is the one remembered.
    pub(crate) fn leave(&mut self, inner_flow: Option<FlowId>) {
        let Some(t) = self.stack.pop() else { return };
        let Some(id) = inner_flow else { return };
        if self.parents.contains_key(&id) {
            return;
        }
        if self.parents.len() >= MAX_PARENTS
            && let Some(old) = self.order.pop_front()
        {
            self.parents.remove(&old);
            self.counters.parents_shed += 1;
        }
        self.parents.insert(id, t);
        self.order.push_back(id);
    }

    /// The tunnel that carried `flow`, forgotten as it is handed out (the flow completed).
    pub(crate) fn take(&mut self, flow: FlowId) -> Option<Tunnel> {
        if self.parents.is_empty() {
            return None;
        }
        let t = self.parents.remove(&flow)?;
        // Completions come roughly in start order, so this scan is short.
        if let Some(i) = self.order.iter().position(|&f| f == flow) {
            self.order.remove(i);
        }
        Some(t)
    }

    pub(crate) fn counters(&self) -> DecapCounters {
        self.counters
    }

    /// Bytes held for remembered tunnels.
    pub(crate) fn memory(&self) -> usize {
        self.parents.capacity() * PARENT_BYTES
            + self.order.capacity() * core::mem::size_of::<FlowId>()
            + self.stack.capacity() * core::mem::size_of::<Tunnel>()
    }
}

/// One remembered tunnel in the map: key, value and hashbrown's control byte, rounded up.
const PARENT_BYTES: usize = core::mem::size_of::<FlowId>() + core::mem::size_of::<Tunnel>() + 8;

/// [`Decap::memory`] at the caps (a map at its cap may have grown to twice it).
pub(crate) const fn memory_cap() -> usize {
    2 * MAX_PARENTS * PARENT_BYTES
        + MAX_PARENTS.next_power_of_two() * core::mem::size_of::<FlowId>()
        + MAX_DEPTH as usize * core::mem::size_of::<Tunnel>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outer(protocol: u8) -> Outer {
        Outer {
            protocol,
            src: IpAddr::from([192, 0, 2, 1]),
            dst: IpAddr::from([192, 0, 2, 2]),
            snapped: false,
            flow: None,
        }
    }

    const INNER4: [u8; 20] = [
        0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];

    #[test]
    fn depth_is_bounded_and_counted() {
        let mut d = Decap::default();
        assert!(d.enter(outer(4), &INNER4).is_some());
        assert!(d.enter(outer(4), &INNER4).is_some());
        assert!(d.enter(outer(4), &INNER4).is_none());
        assert_eq!(d.counters().too_deep, 1);
        assert_eq!(d.counters().decapsulated, 2);
        d.leave(Some(FlowId(7)));
        d.leave(Some(FlowId(8)));
        assert!(d.take(FlowId(7)).is_some());
        assert_eq!(d.take(FlowId(8)).map(|t| t.outer_protocol), Some(4));
        assert!(d.take(FlowId(8)).is_none());
    }

    #[test]
    fn reasons_and_snapped_are_counted() {
        let mut d = Decap::default();
        assert!(d.enter(outer(47), &[0, 1, 0x08, 0]).is_none());
        assert!(d.enter(outer(41), &INNER4).is_none());
        let mut snapped = outer(4);
        snapped.snapped = true;
        assert!(d.enter(snapped, &INNER4).is_none());
        let c = d.counters();
        assert_eq!((c.gre_version, c.inner_version, c.snapped), (1, 1, 1));
        assert_eq!(c.decapsulated, 0);
    }

    #[test]
    fn parents_are_capped() {
        let mut d = Decap::default();
        for i in 0..MAX_PARENTS as u64 + 10 {
            assert!(d.enter(outer(4), &INNER4).is_some());
            d.leave(Some(FlowId(i)));
        }
        assert_eq!(d.counters().parents_shed, 10);
        assert!(d.take(FlowId(0)).is_none());
        assert!(d.take(FlowId(MAX_PARENTS as u64 + 9)).is_some());
    }
}
