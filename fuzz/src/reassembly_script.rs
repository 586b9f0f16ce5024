//! A script for the fragment [`Reassembler`](nightjar_engine::Reassembler)
//! on its own: fragments of a few colliding datagrams, expiries and flushes.
//!
//! Layout: [`KNOBS_LEN`] knob bytes, then ops. Op byte: bits 0-1 the kind
//! (0 push, 1 push, 2 expire, 3 flush), bit 2 "more fragments", bits 3-4 the
//! time scale, bit 5 "step back", bits 6-7 which of four address pairs.
//! Then a `u16` time step; a push adds an ident byte, a protocol byte, a `u16`
//! offset in bytes, a header-length byte, a `u16` length and the data.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arbitrary::{Arbitrary, Unstructured};
use nightjar_engine::{FragmentIn, ReassemblyConfig};

use crate::{take_bytes, take_u8, take_u16};

/// Reassembly caps, one byte each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub struct Knobs {
    /// `max_datagrams = b % 9`.
    pub datagrams: u8,
    /// `max_buffered_bytes = b * 512`.
    pub bytes: u8,
    /// `max_fragments = b % 17`.
    pub fragments: u8,
    /// Timeout in seconds.
    pub timeout_s: u8,
}

/// Bytes [`Knobs`] takes from the front of the input.
pub const KNOBS_LEN: usize = 4;

impl Knobs {
    /// Seed knobs: a few datagrams, 64 KiB, 16 fragments, 30 s.
    pub const SEED: Knobs = Knobs {
        datagrams: 4,
        bytes: 128,
        fragments: 16,
        timeout_s: 30,
    };

    /// The configuration these knobs stand for.
    pub fn config(&self) -> ReassemblyConfig {
        ReassemblyConfig {
            max_datagrams: usize::from(self.datagrams % 9),
            max_buffered_bytes: usize::from(self.bytes) * 512,
            max_fragments: usize::from(self.fragments % 17),
            timeout_us: u64::from(self.timeout_s) * 1_000_000,
        }
    }

    /// The bytes that decode to these knobs.
    pub fn encode(&self) -> [u8; KNOBS_LEN] {
        [self.datagrams, self.bytes, self.fragments, self.timeout_s]
    }
}

/// Four address pairs (two IPv4, two IPv6) so keys collide and differ.
pub fn addresses(pair: u8) -> (IpAddr, IpAddr) {
    let v4 = |a, b| IpAddr::V4(Ipv4Addr::new(10, 0, a, b));
    let v6 = |a| IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, a));
    match pair & 3 {
        0 => (v4(0, 2), v4(0, 1)),
        1 => (v4(0, 1), v4(0, 2)),
        2 => (v6(2), v6(1)),
        _ => (v6(1), v6(2)),
    }
}

/// One step of the script.
#[derive(Debug, Clone, Copy)]
pub enum Op<'a> {
    /// `Reassembler::push`.
    Push(FragmentIn<'a>),
    /// `Reassembler::expire`.
    Expire,
    /// `Reassembler::flush`.
    Flush,
}

/// An op with its time step.
#[derive(Debug, Clone, Copy)]
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
                let (src, dst) = addresses(head >> 6);
                let ident = u32::from(take_u8(&mut self.rest).unwrap_or(0));
                let protocol = take_u8(&mut self.rest).unwrap_or(17);
                let offset = u32::from(take_u16(&mut self.rest).unwrap_or(0));
                let header_len = u32::from(take_u8(&mut self.rest).unwrap_or(20));
                let len = usize::from(take_u16(&mut self.rest).unwrap_or(0));
                Op::Push(FragmentIn {
                    src,
                    dst,
                    protocol,
                    ident,
                    offset,
                    more: head & 4 != 0,
                    header_len,
                    data: take_bytes(&mut self.rest, len),
                })
            }
            2 => Op::Expire,
            _ => Op::Flush,
        };
        Some(Step {
            scale: (head >> 3) & 3,
            count,
            backwards: head & 0x20 != 0,
            op,
        })
    }
}

/// Append a push of a fragment `delta_us` after the previous op. `pair`
/// picks the addresses (see [`addresses`]); the ident is cut to a byte and
/// the offset to 16 bits, which keeps real fragment trains intact.
pub fn encode_push(out: &mut Vec<u8>, delta_us: u64, pair: u8, frag: &FragmentIn<'_>) {
    let (scale, count) = crate::encode_step(delta_us);
    out.push((u8::from(frag.more) << 2) | (scale << 3) | ((pair & 3) << 6));
    out.extend_from_slice(&count.to_be_bytes());
    out.push(frag.ident as u8);
    out.push(frag.protocol);
    out.extend_from_slice(&(frag.offset.min(u32::from(u16::MAX)) as u16).to_be_bytes());
    out.push(frag.header_len.min(255) as u8);
    let n = frag.data.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(n as u16).to_be_bytes());
    out.extend_from_slice(frag.data.get(..n).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_round_trips() {
        let (src, dst) = addresses(2);
        let frag = FragmentIn {
            src,
            dst,
            protocol: 17,
            ident: 7,
            offset: 1448,
            more: true,
            header_len: 48,
            data: &[1, 2, 3],
        };
        let mut data = Knobs::SEED.encode().to_vec();
        encode_push(&mut data, 2_000, 2, &frag);
        data.push(3); // flush
        let (knobs, steps) = decode(&data);
        assert_eq!(knobs, Knobs::SEED);
        let got: Vec<Step<'_>> = steps.collect();
        assert_eq!(got.len(), 2);
        let Some(Op::Push(f)) = got.first().map(|s| s.op) else {
            panic!("not a push: {got:?}");
        };
        assert_eq!((f.src, f.dst, f.protocol, f.ident), (src, dst, 17, 7));
        assert_eq!(
            (f.offset, f.more, f.header_len, f.data),
            (1448, true, 48, &[1u8, 2, 3][..])
        );
        assert!(matches!(got.get(1).map(|s| s.op), Some(Op::Flush)));
    }
}
