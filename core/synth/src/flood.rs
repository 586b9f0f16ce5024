//! Endless streams of one-packet flows with random 5-tuples, for load tests and benchmarks.
//!
//! Each generator writes into a caller's reused buffer ([`SynFlood::next_into`]) so a million
//! packets cost a million checksums and no allocations; the `Iterator` impls allocate one `Vec`
//! per packet for convenience.

use core::net::{Ipv4Addr, Ipv6Addr};

use nightjar_wire::Direction;

use crate::BuildError;
use crate::packet::{IpPair, MAX_SYN_LEN, UDP_HEADER_LEN, write_syn, write_udp};
use crate::rng::SplitMix64;
use crate::scenario::{DEVICE_V4, DEVICE_V6, START_MICROS};
use crate::session::SynthPacket;

/// One packet in this many is IPv6.
const V6_EVERY: u64 = 8;
/// Largest UDP flood payload.
const MAX_UDP_FLOOD_PAYLOAD: usize = 64;
/// A buffer of this size holds any packet [`UdpFlood`] writes.
pub const MAX_UDP_FLOOD_LEN: usize = 40 + UDP_HEADER_LEN + MAX_UDP_FLOOD_PAYLOAD;

/// The part both floods share: time, addresses, ports.
#[derive(Debug, Clone)]
struct Tuples {
    rng: SplitMix64,
    ts: u64,
}

impl Tuples {
    fn new(seed: u64) -> Self {
        Self {
            rng: SplitMix64::new(seed),
            ts: START_MICROS,
        }
    }

    /// Advances time 1-20 µs and draws a device-to-random-host address pair.
    fn next(&mut self) -> (u64, IpPair, u16, u16) {
        self.ts += self.rng.range(1, 21);
        let r = self.rng.next_u64();
        let ips = if r.is_multiple_of(V6_EVERY) {
            let hi = self.rng.next_u64();
            let lo = self.rng.next_u64();
            // Global unicast (2000::/3) destinations.
            let dst = (u128::from(hi) << 64 | u128::from(lo)) & !(0b111 << 125) | (1 << 125);
            IpPair::V6 {
                src: DEVICE_V6,
                dst: Ipv6Addr::from(dst),
            }
        } else {
            IpPair::V4 {
                src: DEVICE_V4,
                dst: Ipv4Addr::from(self.rng.next_u32()),
            }
        };
        let src_port = self.rng.range(1024, 65_536) as u16;
        let dst_port = self.rng.range(1, 65_536) as u16;
        (self.ts, ips, src_port, dst_port)
    }
}

/// Outbound SYNs from the device to random hosts and ports, as a port scanner sends them.
#[derive(Debug, Clone)]
pub struct SynFlood {
    tuples: Tuples,
}

impl SynFlood {
    /// A flood whose packets are fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            tuples: Tuples::new(seed),
        }
    }

    /// Writes the next SYN into `buf` (replacing its contents; no allocation once `buf` has
    /// [`MAX_SYN_LEN`] capacity) and returns its time and direction.
    pub fn next_into(&mut self, buf: &mut Vec<u8>) -> Result<(u64, Direction), BuildError> {
        let (ts, ips, src_port, dst_port) = self.tuples.next();
        let seq = self.tuples.rng.next_u32();
        buf.clear();
        buf.resize(MAX_SYN_LEN, 0);
        let len = write_syn(buf, ips, src_port, dst_port, seq)?;
        buf.truncate(len);
        Ok((ts, Direction::Outbound))
    }
}

impl Iterator for SynFlood {
    type Item = SynthPacket;

    /// Never ends: a SYN always fits its buffer.
    fn next(&mut self) -> Option<SynthPacket> {
        let mut bytes = Vec::with_capacity(MAX_SYN_LEN);
        let (ts_micros, direction) = self.next_into(&mut bytes).ok()?;
        Some(SynthPacket {
            ts_micros,
            direction,
            app_uid: None,
            bytes,
        })
    }
}

/// SYNs with random 5-tuples (one in eight over IPv6), starting at the demo's epoch.
pub fn syn_flood(seed: u64) -> SynFlood {
    SynFlood::new(seed)
}

/// Outbound UDP datagrams of 0-64 random bytes to random hosts and ports.
#[derive(Debug, Clone)]
pub struct UdpFlood {
    tuples: Tuples,
}

impl UdpFlood {
    /// A flood whose packets are fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            tuples: Tuples::new(seed),
        }
    }

    /// Writes the next datagram into `buf` (replacing its contents; no allocation once `buf`
    /// has [`MAX_UDP_FLOOD_LEN`] capacity) and returns its time and direction.
    pub fn next_into(&mut self, buf: &mut Vec<u8>) -> Result<(u64, Direction), BuildError> {
        let (ts, ips, src_port, dst_port) = self.tuples.next();
        let mut payload = [0u8; MAX_UDP_FLOOD_PAYLOAD];
        let len = self.tuples.rng.range(0, MAX_UDP_FLOOD_PAYLOAD as u64 + 1) as usize;
        let payload = payload.get_mut(..len).unwrap_or_default();
        self.tuples.rng.fill(payload);
        buf.clear();
        buf.resize(MAX_UDP_FLOOD_LEN, 0);
        let len = write_udp(buf, ips, src_port, dst_port, payload)?;
        buf.truncate(len);
        Ok((ts, Direction::Outbound))
    }
}

impl Iterator for UdpFlood {
    type Item = SynthPacket;

    /// Never ends: every datagram fits its buffer.
    fn next(&mut self) -> Option<SynthPacket> {
        let mut bytes = Vec::with_capacity(MAX_UDP_FLOOD_LEN);
        let (ts_micros, direction) = self.next_into(&mut bytes).ok()?;
        Some(SynthPacket {
            ts_micros,
            direction,
            app_uid: None,
            bytes,
        })
    }
}

/// UDP datagrams with random 5-tuples and payloads (one in eight over IPv6).
pub fn udp_flood(seed: u64) -> UdpFlood {
    UdpFlood::new(seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::tests::{Parsed, parse};
    use core::net::IpAddr;
    use smoltcp::wire::TcpControl;
    use std::collections::HashSet;

    type Tuple = (IpAddr, u16, IpAddr, u16);

    fn tuple(p: &Parsed) -> Tuple {
        match p {
            Parsed::Tcp {
                ips,
                src_port,
                dst_port,
                ..
            }
            | Parsed::Udp {
                ips,
                src_port,
                dst_port,
                ..
            } => (ips.src(), *src_port, ips.dst(), *dst_port),
            Parsed::Echo { .. } => panic!("floods send no ICMP"),
        }
    }

    #[test]
    fn a_million_syns_from_one_buffer_with_unique_tuples() {
        let mut flood = syn_flood(1);
        let mut buf = Vec::with_capacity(MAX_SYN_LEN);
        let ptr = buf.as_ptr();
        let mut tuples = HashSet::new();
        let mut v6 = 0u32;
        let mut last_ts = 0;
        for i in 0..1_000_000u32 {
            let (ts, dir) = flood.next_into(&mut buf).unwrap();
            assert!(ts > last_ts);
            last_ts = ts;
            assert_eq!(dir, Direction::Outbound);
            // Parsing every packet would dominate the run; a sample of 100k proves the point.
            if i % 10 == 0 {
                let parsed = parse(&buf);
                assert!(matches!(
                    parsed,
                    Parsed::Tcp {
                        control: TcpControl::Syn,
                        ack: None,
                        ..
                    }
                ));
                let t = tuple(&parsed);
                v6 += u32::from(t.0.is_ipv6());
                tuples.insert(t);
            }
        }
        assert_eq!(buf.as_ptr(), ptr, "the buffer was never reallocated");
        assert!(tuples.len() >= 99_990, "{} unique of 100000", tuples.len());
        assert!((10_000..15_000).contains(&v6), "{v6} IPv6 of 100000");
    }

    #[test]
    fn udp_flood_parses_and_varies() {
        let packets: Vec<SynthPacket> = udp_flood(2).take(20_000).collect();
        let mut tuples = HashSet::new();
        let mut lens = HashSet::new();
        for p in &packets {
            let parsed = parse(&p.bytes);
            let Parsed::Udp { payload, .. } = &parsed else {
                panic!("not UDP")
            };
            lens.insert(payload.len());
            tuples.insert(tuple(&parsed));
        }
        assert!(tuples.len() >= 19_990);
        assert_eq!(
            lens.len(),
            MAX_UDP_FLOOD_PAYLOAD + 1,
            "every payload size occurs"
        );
        assert!(packets.windows(2).all(|w| w[0].ts_micros < w[1].ts_micros));
    }

    #[test]
    fn floods_are_deterministic_per_seed() {
        let a: Vec<SynthPacket> = syn_flood(3).take(1000).collect();
        let b: Vec<SynthPacket> = syn_flood(3).take(1000).collect();
        let c: Vec<SynthPacket> = syn_flood(4).take(1000).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let u: Vec<SynthPacket> = udp_flood(3).take(1000).collect();
        assert_eq!(u, udp_flood(3).take(1000).collect::<Vec<_>>());
    }
}
