//! Completed flow records: what the engine hands to logs, the store and the app.

use core::net::SocketAddr;
use std::sync::Arc;

use nightjar_wire::proto;

use crate::flow_table::Entry;
use crate::names::NameSource;
use crate::tcp_state::{ConnState, TcpHistory, TcpState};

/// The engine's id for a flow, unique for the engine's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct FlowId(pub u64);

/// An app, as the platform identifies it (Android UID, or an index the iOS
/// harness assigns to a bundle id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct AppId(pub u32);

/// Why a flow record was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Both sides closed (FIN each way) or one reset, and the linger passed.
    Closed,
    /// Idle past its timeout.
    IdleTimeout,
    /// Pushed out because the table was full.
    Evicted,
    /// A new connection reused the 5-tuple.
    Reused,
    /// The caller flushed the engine (end of capture, shutdown).
    Flushed,
}

/// A completed flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    /// Engine-unique id.
    pub id: FlowId,
    /// IP protocol number.
    pub protocol: u8,
    /// The originator: the device side, or in a capture the side that opened
    /// the connection. For ICMP the "port" is the message type.
    pub orig: SocketAddr,
    /// The responder. For ICMP the "port" is the counterpart type, or the code
    /// for one-way messages (as Zeek and Community ID do).
    pub resp: SocketAddr,
    /// The app the platform attributed the flow to.
    pub app: Option<AppId>,
    /// First packet, microseconds since the Unix epoch.
    pub first_us: u64,
    /// Last packet.
    pub last_us: u64,
    /// Packets from the originator.
    pub orig_pkts: u64,
    /// Packets from the responder.
    pub resp_pkts: u64,
    /// IP bytes (headers included, link layer excluded) from the originator.
    pub orig_ip_bytes: u64,
    /// IP bytes from the responder.
    pub resp_ip_bytes: u64,
    /// TCP handshake and teardown seen (TCP only).
    pub tcp: Option<TcpHistory>,
    /// Why the record was produced.
    pub end: EndReason,
    /// The best name the device revealed for the flow.
    pub name: Option<Arc<str>>,
    /// Where `name` came from.
    pub name_source: Option<NameSource>,
    /// The ClientHello offered ECH, so `name` is the outer SNI.
    pub ech: bool,
    /// The tunnel (IP in IP, GRE, GTP-U) the flow's first packet arrived in.
    pub tunnel: Option<crate::decap::Tunnel>,
}

impl FlowRecord {
    pub(crate) fn from_entry(e: &Entry, end: EndReason) -> Self {
        let (lo, hi) = e.key.sockets();
        let (orig, resp) = if e.orig_is_lo { (lo, hi) } else { (hi, lo) };
        let protocol = e.key.protocol();
        FlowRecord {
            id: FlowId(e.id),
            protocol,
            orig,
            resp,
            app: e.app(),
            first_us: e.first_us,
            last_us: e.last_us,
            orig_pkts: e.pkts[0],
            resp_pkts: e.pkts[1],
            orig_ip_bytes: e.bytes[0],
            resp_ip_bytes: e.bytes[1],
            tcp: (protocol == proto::TCP).then_some(e.tcp),
            end,
            name: e
                .extras
                .as_ref()
                .and_then(|x| x.name.name.as_ref())
                .map(|(n, _)| n.clone()),
            name_source: e
                .extras
                .as_ref()
                .and_then(|x| x.name.name.as_ref())
                .map(|(_, s)| *s),
            ech: e.extras.as_ref().is_some_and(|x| x.name.ech),
            // Filled from the decapsulation state as the record leaves the engine.
            tunnel: None,
        }
    }

    /// Duration from first to last packet, in microseconds.
    pub fn duration_us(&self) -> u64 {
        self.last_us.saturating_sub(self.first_us)
    }

    /// The TCP state at the end (TCP only).
    pub fn tcp_state(&self) -> Option<TcpState> {
        self.tcp.map(TcpHistory::state)
    }

    /// Zeek's `conn_state`. UDP, ICMP and others: `SF` when both sides sent,
    /// `S0` when only the originator did, `SHR` when only the responder did.
    pub fn conn_state(&self) -> ConnState {
        match self.tcp {
            Some(h) => h.conn_state(),
            None => match (self.orig_pkts > 0, self.resp_pkts > 0) {
                (true, true) => ConnState::Sf,
                (false, true) => ConnState::Shr,
                _ => ConnState::S0,
            },
        }
    }

    /// Zeek's protocol name (`tcp`, `udp`, `icmp`), or `unknown_transport`.
    pub fn proto_name(&self) -> &'static str {
        match self.protocol {
            proto::TCP => "tcp",
            proto::UDP => "udp",
            proto::ICMP | proto::ICMPV6 => "icmp",
            proto::SCTP => "sctp",
            _ => "unknown_transport",
        }
    }

    /// Community ID v1 of the flow (seed 0 is the standard's default).
    pub fn community_id(&self, seed: u16) -> Option<String> {
        let ports = matches!(
            self.protocol,
            proto::TCP | proto::UDP | proto::SCTP | proto::ICMP | proto::ICMPV6
        );
        let (sp, dp) = if ports {
            (Some(self.orig.port()), Some(self.resp.port()))
        } else {
            (None, None)
        };
        community_id::calculate_community_id(
            seed,
            self.orig.ip(),
            self.resp.ip(),
            sp,
            dp,
            self.protocol,
            false,
        )
        .ok()
    }

    /// A Zeek-style connection uid (`C` and 17 base-62 characters), stable for
    /// a given flow id and `salt`, so logs from one run join on it.
    pub fn uid(&self, salt: u64) -> String {
        uid_for(self.id, salt)
    }
}

/// The uid of flow `id` (see [`FlowRecord::uid`]), for records that refer to a
/// flow without holding its [`FlowRecord`].
pub fn uid_for(id: FlowId, salt: u64) -> String {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    // splitmix64 spreads consecutive ids over the whole space.
    let mut z = id.0 ^ salt;
    let mix = |z: &mut u64| {
        *z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = *z;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    };
    let hi = mix(&mut z);
    let lo = mix(&mut z);
    let mut v = (u128::from(hi) << 64) | u128::from(lo);
    let mut s = String::with_capacity(18);
    s.push('C');
    for _ in 0..17 {
        let d = (v % 62) as usize;
        s.push(ALPHABET.get(d).map_or('0', |&c| char::from(c)));
        v /= 62;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(protocol: u8, orig: &str, resp: &str) -> FlowRecord {
        FlowRecord {
            id: FlowId(1),
            protocol,
            orig: orig.parse().unwrap(),
            resp: resp.parse().unwrap(),
            app: None,
            first_us: 0,
            last_us: 0,
            orig_pkts: 1,
            resp_pkts: 0,
            orig_ip_bytes: 40,
            resp_ip_bytes: 0,
            tcp: None,
            end: EndReason::Flushed,
            name: None,
            name_source: None,
            ech: false,
            tunnel: None,
        }
    }

    #[test]
    fn community_id_matches_the_spec_example() {
        // The Community ID spec's own TCP example (1.2.3.4:1122 -> 5.6.7.8:3344).
        let r = rec(6, "1.2.3.4:1122", "5.6.7.8:3344");
        assert_eq!(
            r.community_id(0).as_deref(),
            Some("1:wCb3OG7yAFWelaUydu0D+125CLM=")
        );
        // Direction does not matter.
        let r = rec(6, "5.6.7.8:3344", "1.2.3.4:1122");
        assert_eq!(
            r.community_id(0).as_deref(),
            Some("1:wCb3OG7yAFWelaUydu0D+125CLM=")
        );
    }

    #[test]
    fn uid_is_stable_and_distinct() {
        let a = uid_for(FlowId(1), 0);
        assert_eq!(a, uid_for(FlowId(1), 0));
        assert_ne!(a, uid_for(FlowId(2), 0));
        assert_ne!(a, uid_for(FlowId(1), 1));
        assert_eq!(a.len(), 18);
        assert!(a.starts_with('C'));
    }

    #[test]
    fn udp_conn_states() {
        let mut r = rec(17, "10.0.0.2:5000", "10.0.0.1:53");
        assert_eq!(r.conn_state(), ConnState::S0);
        r.resp_pkts = 1;
        assert_eq!(r.conn_state(), ConnState::Sf);
        assert_eq!(r.proto_name(), "udp");
    }
}
