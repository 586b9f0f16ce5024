//! Relayed UDP flows: one connected outbound socket per device-side
//! (source, destination) pair, closed when idle. DNS queries to the tunnel's
//! resolver are flows too, pointed upstream and closed once answered.

use core::net::SocketAddr;

use hashbrown::HashMap;

use crate::dialer::{OutboundDatagram, Token};

#[derive(Debug)]
pub(crate) struct UdpFlow {
    pub(crate) out: Box<dyn OutboundDatagram>,
    /// The device's address.
    pub(crate) src: SocketAddr,
    /// The address the device sent to; replies come from it.
    pub(crate) dst: SocketAddr,
    pub(crate) readable: bool,
    pub(crate) last_active_us: u64,
    /// For DNS: queries sent and not yet answered, and when to give up.
    pub(crate) dns: Option<DnsWait>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct DnsWait {
    pub(crate) pending: u32,
    pub(crate) deadline_us: u64,
}

/// The live flows, by token and by device-side tuple.
#[derive(Debug, Default)]
pub(crate) struct UdpTable {
    pub(crate) flows: HashMap<Token, UdpFlow>,
    pub(crate) by_tuple: HashMap<(SocketAddr, SocketAddr), Token>,
    /// Flows that are DNS queries (counted against the in-flight cap).
    pub(crate) dns_flows: usize,
}

impl UdpTable {
    pub(crate) fn insert(&mut self, token: Token, flow: UdpFlow) {
        if flow.dns.is_some() {
            self.dns_flows += 1;
        }
        self.by_tuple.insert((flow.src, flow.dst), token);
        self.flows.insert(token, flow);
    }

    pub(crate) fn remove(&mut self, token: Token) -> Option<UdpFlow> {
        let flow = self.flows.remove(&token)?;
        if flow.dns.is_some() {
            self.dns_flows = self.dns_flows.saturating_sub(1);
        }
        if self.by_tuple.get(&(flow.src, flow.dst)) == Some(&token) {
            self.by_tuple.remove(&(flow.src, flow.dst));
        }
        Some(flow)
    }

    /// Flows that are not DNS queries.
    pub(crate) fn plain_flows(&self) -> usize {
        self.flows.len().saturating_sub(self.dns_flows)
    }

    /// Flows past their idle timeout or DNS deadline.
    pub(crate) fn expired(&self, now_us: u64, idle_us: u64) -> Vec<Token> {
        self.flows
            .iter()
            .filter(|(_, f)| match f.dns {
                Some(w) => now_us >= w.deadline_us,
                None => now_us.saturating_sub(f.last_active_us) >= idle_us,
            })
            .map(|(t, _)| *t)
            .collect()
    }
}
