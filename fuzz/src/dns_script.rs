//! A script for DNS pairing and the name cache: messages between a few
//! clients and servers over UDP or TCP, polls and drains, with small caps.
//!
//! Layout: [`KNOBS_LEN`] knob bytes, then ops. Op byte: bits 0-1 the kind
//! (0 and 1 a message, 2 poll, 3 drain), bit 2 "from the client", bits 3-4
//! the time scale, bit 5 "step back", bit 6 TCP, bit 7 "app known". Then a
//! `u16` time step; a message adds an endpoint byte, a `u16` length and the
//! DNS bytes.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use arbitrary::{Arbitrary, Unstructured};
use nightjar_dns::{Endpoints, NameCacheConfig, TransactionConfig, Transport};

use crate::{take_bytes, take_u8, take_u16};

/// Caps and timers, one byte each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub struct Knobs {
    /// `max_pending = b % 17`.
    pub max_pending: u8,
    /// `max_ready = 1 + b % 16`.
    pub max_ready: u8,
    /// Query timeout in seconds.
    pub timeout_s: u8,
    /// Name cache `max_entries = b % 33`.
    pub cache_entries: u8,
    /// Names per address `= b % 5`.
    pub names_per_ip: u8,
    /// Grace in seconds.
    pub grace_s: u8,
    /// TTL clamp in seconds.
    pub max_ttl_s: u8,
    /// CNAME depth `= b % 9`.
    pub cname_depth: u8,
    /// Distinct names tracked per address `= b % 9`.
    pub tracked: u8,
}

/// Bytes [`Knobs`] takes from the front of the input.
pub const KNOBS_LEN: usize = 9;

impl Knobs {
    /// Seed knobs: small, but large enough that real traces pair up.
    pub const SEED: Knobs = Knobs {
        max_pending: 16,
        max_ready: 15,
        timeout_s: 10,
        cache_entries: 32,
        names_per_ip: 4,
        grace_s: 60,
        max_ttl_s: 255,
        cname_depth: 8,
        tracked: 8,
    };

    /// Pairing configuration.
    pub fn transactions(&self) -> TransactionConfig {
        TransactionConfig {
            max_pending: usize::from(self.max_pending % 17),
            max_ready: 1 + usize::from(self.max_ready % 16),
            query_timeout_us: u64::from(self.timeout_s) * 1_000_000,
        }
    }

    /// Name cache configuration.
    pub fn name_cache(&self) -> NameCacheConfig {
        NameCacheConfig {
            max_entries: usize::from(self.cache_entries % 33),
            max_names_per_ip: usize::from(self.names_per_ip % 5),
            grace_us: u64::from(self.grace_s) * 1_000_000,
            max_ttl_secs: u32::from(self.max_ttl_s),
            max_cname_depth: usize::from(self.cname_depth % 9),
            max_tracked_names: usize::from(self.tracked % 9),
            distinct_window_us: 3_600_000_000,
        }
    }

    /// The bytes that decode to these knobs.
    pub fn encode(&self) -> [u8; KNOBS_LEN] {
        [
            self.max_pending,
            self.max_ready,
            self.timeout_s,
            self.cache_entries,
            self.names_per_ip,
            self.grace_s,
            self.max_ttl_s,
            self.cname_depth,
            self.tracked,
        ]
    }
}

/// Endpoints from one byte: two clients, two servers, two ports each.
pub fn endpoints(b: u8, tcp: bool) -> Endpoints {
    let client_ip = if b & 1 == 0 {
        IpAddr::V4(Ipv4Addr::new(10, 111, 222, 2))
    } else {
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2))
    };
    let server_ip = if b & 2 == 0 {
        IpAddr::V4(Ipv4Addr::new(10, 111, 222, 1))
    } else {
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1))
    };
    let client_port = 40_000 + u16::from((b >> 2) & 3);
    let server_port = if b & 0x10 == 0 { 53 } else { 5353 };
    Endpoints {
        client: SocketAddr::new(client_ip, client_port),
        server: SocketAddr::new(server_ip, server_port),
        transport: if tcp { Transport::Tcp } else { Transport::Udp },
    }
}

/// One step of the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op<'a> {
    /// A DNS message on the wire.
    Message {
        /// Who talks.
        ends: Endpoints,
        /// Whether the client sent it.
        from_client: bool,
        /// The app the platform attributes the flow to.
        app: Option<u32>,
        /// Message bytes.
        bytes: &'a [u8],
    },
    /// `DnsTransactions::poll_expired` and `NameCache::expire`.
    Poll,
    /// `DnsTransactions::drain`.
    Drain,
}

/// An op with its time step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step<'a> {
    /// Time scale index.
    pub scale: u8,
    /// Step count.
    pub count: u16,
    /// Step back in time.
    pub backwards: bool,
    /// What to do.
    pub op: Op<'a>,
}

/// Split an input into knobs and ops.
pub fn decode(data: &[u8]) -> (Knobs, Steps<'_>) {
    let mut u = Unstructured::new(data);
    let knobs = Knobs::arbitrary(&mut u).unwrap_or(Knobs::SEED);
    let rest = data.get(KNOBS_LEN..).unwrap_or_default();
    (knobs, Steps { rest })
}

/// Iterator over the ops of a script.
#[derive(Debug, Clone)]
pub struct Steps<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Steps<'a> {
    type Item = Step<'a>;

    fn next(&mut self) -> Option<Step<'a>> {
        let head = take_u8(&mut self.rest)?;
        let count = take_u16(&mut self.rest).unwrap_or(0);
        let op = match head & 3 {
            0 | 1 => {
                let ends = endpoints(take_u8(&mut self.rest).unwrap_or(0), head & 0x40 != 0);
                let len = usize::from(take_u16(&mut self.rest).unwrap_or(0));
                Op::Message {
                    ends,
                    from_client: head & 4 != 0,
                    app: (head & 0x80 != 0).then_some(10_000 + u32::from(head & 3)),
                    bytes: take_bytes(&mut self.rest, len),
                }
            }
            2 => Op::Poll,
            _ => Op::Drain,
        };
        Some(Step {
            scale: (head >> 3) & 3,
            count,
            backwards: head & 0x20 != 0,
            op,
        })
    }
}

/// Append a message `delta_us` after the previous op, between the endpoints
/// `endpoint` selects (see [`endpoints`]).
pub fn encode_message(
    out: &mut Vec<u8>,
    delta_us: u64,
    endpoint: u8,
    tcp: bool,
    from_client: bool,
    bytes: &[u8],
) {
    let (scale, count) = crate::encode_step(delta_us);
    out.push((u8::from(from_client) << 2) | (scale << 3) | (u8::from(tcp) << 6) | 0x80);
    out.extend_from_slice(&count.to_be_bytes());
    out.push(endpoint);
    let n = bytes.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(n as u16).to_be_bytes());
    out.extend_from_slice(bytes.get(..n).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_round_trips() {
        let mut data = Knobs::SEED.encode().to_vec();
        encode_message(&mut data, 1_500, 0x13, true, true, b"0123456789ab");
        data.extend_from_slice(&[2, 0, 1]); // poll one µs later
        let (knobs, steps) = decode(&data);
        assert_eq!(knobs, Knobs::SEED);
        let got: Vec<Step<'_>> = steps.collect();
        assert_eq!(got.len(), 2);
        let first = got.first().map(|s| s.op);
        let Some(Op::Message {
            ends,
            from_client,
            app,
            bytes,
        }) = first
        else {
            panic!("not a message: {got:?}");
        };
        assert_eq!(ends, endpoints(0x13, true));
        assert_eq!(ends.server.port(), 5353);
        assert!(from_client);
        assert!(app.is_some());
        assert_eq!(bytes, b"0123456789ab");
        assert_eq!(got.get(1).map(|s| s.op), Some(Op::Poll));
    }
}
