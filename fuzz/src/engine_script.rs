//! A script for the whole engine: small caps, then a sequence of packets in
//! either direction, time steps (forwards and, as in captures, backwards),
//! polls, flushes, attributions and event drains.
//!
//! Layout: [`KNOBS_LEN`] knob bytes, then ops. Each op starts with a byte:
//! bits 0-2 the kind ([`Op`]), bits 3-4 the time scale, bit 5 "step back",
//! bits 6-7 the direction of a captured packet. Then a big-endian `u16` time
//! step, then per kind: packets a `u16` length and the bytes (a captured
//! packet also a `u16` of bytes the snap length cut), attribution two bytes,
//! a drain one byte.

use arbitrary::{Arbitrary, Unstructured};
use nightjar_engine::{
    Direction, EngineConfig, FlowTableConfig, NameCacheConfig, ReassemblyConfig, Timeouts,
    TransactionConfig,
};

use crate::{take_bytes, take_u8, take_u16};

/// Caps and timers, each from one byte so they are easy to encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub struct Knobs {
    /// `max_flows = 1 + b % 32`.
    pub max_flows: u8,
    /// `max_events = 1 + b % 64`.
    pub max_events: u8,
    /// Reassembly `max_datagrams = b % 9`.
    pub reasm_datagrams: u8,
    /// Reassembly `max_buffered_bytes = b * 256`.
    pub reasm_bytes: u8,
    /// Reassembly `max_fragments = b % 17`.
    pub reasm_fragments: u8,
    /// Reassembly timeout in seconds.
    pub reasm_timeout_s: u8,
    /// Flow timeouts in seconds, one per class (0 is a real, if odd, setting).
    pub timeouts_s: [u8; 6],
    /// Sweep interval in tens of milliseconds.
    pub sweep_10ms: u8,
    /// Flows inspected at once `= b % 9`.
    pub inspected_flows: u8,
    /// Inspection byte budget `= b * 512`.
    pub inspection_bytes: u8,
    /// DNS queries pending `= b % 17`, ready records and name cache entries alike.
    pub dns_entries: u8,
}

/// Bytes [`Knobs`] takes from the front of the input.
pub const KNOBS_LEN: usize = 16;

impl Knobs {
    /// Caps small enough that every eviction path runs within a short input.
    pub const SEED: Knobs = Knobs {
        max_flows: 15,
        max_events: 31,
        reasm_datagrams: 4,
        reasm_bytes: 64,
        reasm_fragments: 8,
        reasm_timeout_s: 30,
        timeouts_s: [30, 120, 5, 60, 60, 60],
        sweep_10ms: 100,
        inspected_flows: 8,
        inspection_bytes: 64,
        dns_entries: 16,
    };

    /// The engine configuration these knobs stand for.
    pub fn config(&self) -> EngineConfig {
        let s = |b: u8| u64::from(b) * 1_000_000;
        let [opening, established, closing, udp, icmp, other] = self.timeouts_s;
        EngineConfig {
            flows: FlowTableConfig {
                max_flows: 1 + usize::from(self.max_flows % 32),
                timeouts: Timeouts {
                    tcp_opening_us: s(opening),
                    tcp_established_us: s(established),
                    tcp_closing_us: s(closing),
                    udp_us: s(udp),
                    icmp_us: s(icmp),
                    other_us: s(other),
                },
            },
            reassembly: ReassemblyConfig {
                max_datagrams: usize::from(self.reasm_datagrams % 9),
                max_buffered_bytes: usize::from(self.reasm_bytes) * 256,
                max_fragments: usize::from(self.reasm_fragments % 17),
                timeout_us: s(self.reasm_timeout_s),
            },
            max_events: 1 + usize::from(self.max_events % 64),
            hash_seed: 0x5eed,
            sweep_interval_us: u64::from(self.sweep_10ms) * 10_000,
            dns: TransactionConfig {
                max_pending: usize::from(self.dns_entries % 17),
                max_ready: 1 + usize::from(self.dns_entries % 17),
                query_timeout_us: s(self.reasm_timeout_s),
            },
            name_cache: NameCacheConfig {
                max_entries: usize::from(self.dns_entries % 17),
                max_names_per_ip: 2,
                max_tracked_names: 4,
                ..NameCacheConfig::default()
            },
            max_inspected_flows: usize::from(self.inspected_flows % 9),
            max_inspection_bytes: usize::from(self.inspection_bytes) * 512,
        }
    }

    /// The bytes that decode to these knobs.
    pub fn encode(&self) -> [u8; KNOBS_LEN] {
        let [a, b, c, d, e, f] = self.timeouts_s;
        [
            self.max_flows,
            self.max_events,
            self.reasm_datagrams,
            self.reasm_bytes,
            self.reasm_fragments,
            self.reasm_timeout_s,
            a,
            b,
            c,
            d,
            e,
            f,
            self.sweep_10ms,
            self.inspected_flows,
            self.inspection_bytes,
            self.dns_entries,
        ]
    }
}

/// One step of the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op<'a> {
    /// `Engine::on_packet`.
    Packet {
        /// Tunnel direction.
        direction: Direction,
        /// Raw IP bytes.
        bytes: &'a [u8],
    },
    /// `Engine::on_captured` with `orig_len = bytes.len() + cut`.
    Captured {
        /// Tunnel direction.
        direction: Direction,
        /// Bytes kept by the snap length.
        bytes: &'a [u8],
        /// Bytes the snap length cut.
        cut: u16,
    },
    /// `Engine::poll`.
    Poll,
    /// `Engine::flush`.
    Flush,
    /// `Engine::attribute` of a recently seen flow to an app.
    Attribute {
        /// Which recent flow (modulo how many are remembered).
        recent: u8,
        /// App id.
        app: u8,
    },
    /// Drain up to this many events (0 means all).
    Drain(u8),
}

/// An op with the time step before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step<'a> {
    /// Time scale index (see [`crate::TIME_SCALES`]).
    pub scale: u8,
    /// Step count in that scale.
    pub count: u16,
    /// Step back in time instead of forwards.
    pub backwards: bool,
    /// What to do.
    pub op: Op<'a>,
}

const DIRECTIONS: [Direction; 3] = [Direction::Outbound, Direction::Inbound, Direction::Unknown];

fn direction(bits: u8) -> Direction {
    DIRECTIONS
        .get(usize::from(bits % 3))
        .copied()
        .unwrap_or(Direction::Unknown)
}

fn direction_bits(d: Direction) -> u8 {
    match d {
        Direction::Outbound => 0,
        Direction::Inbound => 1,
        Direction::Unknown => 2,
    }
}

/// Split an input into knobs and the op stream.
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
        let scale = (head >> 3) & 3;
        let backwards = head & 0x20 != 0;
        let op = match head & 7 {
            0..=2 => {
                let len = usize::from(take_u16(&mut self.rest).unwrap_or(0));
                Op::Packet {
                    direction: direction(head & 7),
                    bytes: take_bytes(&mut self.rest, len),
                }
            }
            3 => {
                let cut = take_u16(&mut self.rest).unwrap_or(0);
                let len = usize::from(take_u16(&mut self.rest).unwrap_or(0));
                Op::Captured {
                    direction: direction(head >> 6),
                    bytes: take_bytes(&mut self.rest, len),
                    cut,
                }
            }
            4 => Op::Poll,
            5 => Op::Flush,
            6 => Op::Attribute {
                recent: take_u8(&mut self.rest).unwrap_or(0),
                app: take_u8(&mut self.rest).unwrap_or(0),
            },
            _ => Op::Drain(take_u8(&mut self.rest).unwrap_or(0)),
        };
        Some(Step {
            scale,
            count,
            backwards,
            op,
        })
    }
}

/// Append one op, `delta_us` after the previous one.
pub fn encode(out: &mut Vec<u8>, delta_us: u64, op: &Op<'_>) {
    let (scale, count) = crate::encode_step(delta_us);
    let kind: u8 = match op {
        Op::Packet { direction, .. } => direction_bits(*direction),
        Op::Captured { direction, .. } => 3 | (direction_bits(*direction) << 6),
        Op::Poll => 4,
        Op::Flush => 5,
        Op::Attribute { .. } => 6,
        Op::Drain(_) => 7,
    };
    out.push(kind | (scale << 3));
    out.extend_from_slice(&count.to_be_bytes());
    let push_bytes = |out: &mut Vec<u8>, b: &[u8]| {
        let n = b.len().min(usize::from(u16::MAX));
        out.extend_from_slice(&(n as u16).to_be_bytes());
        out.extend_from_slice(b.get(..n).unwrap_or_default());
    };
    match op {
        Op::Packet { bytes, .. } => push_bytes(out, bytes),
        Op::Captured { bytes, cut, .. } => {
            out.extend_from_slice(&cut.to_be_bytes());
            push_bytes(out, bytes);
        }
        Op::Poll | Op::Flush => {}
        Op::Attribute { recent, app } => out.extend_from_slice(&[*recent, *app]),
        Op::Drain(n) => out.push(*n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knobs_take_exactly_their_bytes() {
        let mut bytes = Knobs::SEED.encode().to_vec();
        bytes.extend_from_slice(&[0xaa; 7]);
        let mut u = Unstructured::new(&bytes);
        let k = Knobs::arbitrary(&mut u).unwrap();
        assert_eq!(k, Knobs::SEED);
        assert_eq!(u.len(), 7);
    }

    #[test]
    fn ops_round_trip() {
        let ops = [
            (
                5,
                Op::Packet {
                    direction: Direction::Inbound,
                    bytes: &[0x45, 0, 0][..],
                },
            ),
            (
                70_000,
                Op::Captured {
                    direction: Direction::Unknown,
                    bytes: &[0x60][..],
                    cut: 9,
                },
            ),
            (0, Op::Poll),
            (1_000_000, Op::Flush),
            (3, Op::Attribute { recent: 2, app: 9 }),
            (0, Op::Drain(4)),
        ];
        let mut data = Knobs::SEED.encode().to_vec();
        for (dt, op) in &ops {
            encode(&mut data, *dt, op);
        }
        let (knobs, steps) = decode(&data);
        assert_eq!(knobs, Knobs::SEED);
        let got: Vec<Step<'_>> = steps.collect();
        assert_eq!(got.len(), ops.len());
        for (step, (dt, op)) in got.iter().zip(&ops) {
            assert_eq!(step.op, *op);
            assert!(!step.backwards);
            assert_eq!(crate::step(0, step.scale, step.count, false), *dt);
        }
    }

    #[test]
    fn small_caps() {
        let c = Knobs::SEED.config();
        assert_eq!(c.flows.max_flows, 16);
        assert_eq!(c.max_events, 32);
        assert_eq!(c.reassembly.max_buffered_bytes, 16 * 1024);
    }
}
