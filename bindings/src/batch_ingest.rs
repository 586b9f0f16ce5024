//! `ingest_batch`: a batch of packets in one contiguous buffer, with their lengths and
//! directions, as a host reads them from the tunnel into one `ByteBuffer` (Kotlin) or `Data`
//! (Swift). Against `ingest`, which takes one record and one byte array per packet, the host
//! builds no object per packet and Rust allocates nothing per packet: the packets are slices
//! of the one buffer.

use crate::error::{NightjarError, Result};
use crate::handle::NightjarEngine;
use crate::records::IngestResult;

/// One packet as the engine takes it, borrowed from whichever form the host passed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PacketRef<'a> {
    pub(crate) ts_us: u64,
    pub(crate) outbound: bool,
    pub(crate) bytes: &'a [u8],
}

/// The packets of a batch, cut from the buffer in order.
struct Batch<'a> {
    rest: &'a [u8],
    lengths: core::slice::Iter<'a, u32>,
    outbound: core::slice::Iter<'a, bool>,
    ts_us: u64,
}

impl<'a> Batch<'a> {
    /// Checks that the lengths add up to the buffer and that every packet has a direction.
    fn new(bytes: &'a [u8], lengths: &'a [u32], outbound: &'a [bool], ts_us: u64) -> Result<Self> {
        if lengths.len() != outbound.len() {
            return Err(NightjarError::InvalidArgument {
                reason: format!(
                    "{} packet lengths but {} directions",
                    lengths.len(),
                    outbound.len()
                ),
            });
        }
        let total = lengths.iter().map(|&l| u64::from(l)).sum::<u64>();
        if total != bytes.len() as u64 {
            return Err(NightjarError::InvalidArgument {
                reason: format!(
                    "packet lengths add up to {total} bytes but the buffer holds {}",
                    bytes.len()
                ),
            });
        }
        Ok(Batch {
            rest: bytes,
            lengths: lengths.iter(),
            outbound: outbound.iter(),
            ts_us,
        })
    }
}

impl<'a> Iterator for Batch<'a> {
    type Item = PacketRef<'a>;

    fn next(&mut self) -> Option<PacketRef<'a>> {
        let len = *self.lengths.next()? as usize;
        let outbound = *self.outbound.next()?;
        // `new` checked that the lengths add up, so the split never falls short.
        let (bytes, rest) = self.rest.split_at_checked(len)?;
        self.rest = rest;
        Some(PacketRef {
            ts_us: self.ts_us,
            outbound,
            bytes,
        })
    }
}

#[uniffi::export]
impl NightjarEngine {
    /// Feeds a batch of packets laid end to end in `packets`: packet `i` is the next
    /// `lengths[i]` bytes, sent by the device when `outbound[i]` (as [`Self::ingest`]'s
    /// `Packet.outbound`), all crossing the tunnel at `ts_us` (a batch read from the tunnel in
    /// one go; relay mode ignores it). Everything else, verdicts in order included, is as
    /// [`Self::ingest`]. Fails with `InvalidArgument`, having ingested nothing, when the
    /// lengths do not add up to the buffer or a packet has no direction.
    pub fn ingest_batch(
        &self,
        packets: Vec<u8>,
        lengths: Vec<u32>,
        outbound: Vec<bool>,
        ts_us: u64,
    ) -> Result<IngestResult> {
        self.run(|| {
            let mut batch = Batch::new(&packets, &lengths, &outbound, ts_us)?;
            self.ingest_packets(&mut batch, lengths.len())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_cuts_the_buffer_in_order() {
        let bytes = [1, 2, 3, 4, 5, 6];
        let b = Batch::new(&bytes, &[1, 0, 5], &[true, false, true], 9).unwrap();
        let got: Vec<(bool, Vec<u8>)> = b.map(|p| (p.outbound, p.bytes.to_vec())).collect();
        assert_eq!(
            got,
            vec![
                (true, vec![1]),
                (false, vec![]),
                (true, vec![2, 3, 4, 5, 6])
            ]
        );
    }

    #[test]
    fn lengths_must_add_up_and_match_directions() {
        let bytes = [0u8; 10];
        for (lengths, outbound) in [
            (&[4u32, 5][..], &[true, true][..]),
            (&[4, 7][..], &[true, true][..]),
            (&[10][..], &[true, false][..]),
            (&[u32::MAX, u32::MAX][..], &[true, true][..]),
        ] {
            assert!(
                matches!(
                    Batch::new(&bytes, lengths, outbound, 0),
                    Err(NightjarError::InvalidArgument { .. })
                ),
                "{lengths:?} {outbound:?}"
            );
        }
        assert!(Batch::new(&[], &[], &[], 0).is_ok());
    }

    /// The same packets through both forms give the same verdicts and the same counters.
    #[test]
    fn batch_form_matches_the_per_packet_form() {
        use crate::records::Packet;
        use crate::{EngineSettings, Mode, default_memory_caps};
        use nightjar_wire::Direction;
        let settings = || EngineSettings {
            db_path: None,
            intel_index_path: None,
            mode: Mode::Monitor,
            caps: default_memory_caps(),
            hash_seed: 7,
            relay: None,
            block_at: None,
        };
        let session = nightjar_synth::phone_session(11);
        let per_packet = NightjarEngine::new(settings()).unwrap();
        let batched = NightjarEngine::new(settings()).unwrap();
        for chunk in session.packets.chunks(64) {
            // A batch shares one time, so the per-packet form gets that time too.
            let ts = chunk.first().map_or(0, |p| p.ts_micros);
            let out = |p: &nightjar_synth::SynthPacket| p.direction == Direction::Outbound;
            let a = per_packet
                .ingest(
                    chunk
                        .iter()
                        .map(|p| Packet {
                            bytes: p.bytes.clone(),
                            outbound: out(p),
                            ts_us: ts,
                        })
                        .collect(),
                )
                .unwrap();
            let b = batched
                .ingest_batch(
                    chunk.iter().flat_map(|p| p.bytes.iter().copied()).collect(),
                    chunk.iter().map(|p| p.bytes.len() as u32).collect(),
                    chunk.iter().map(out).collect(),
                    ts,
                )
                .unwrap();
            assert_eq!(a, b);
        }
        let stats = batched.stats().unwrap();
        assert_eq!(per_packet.stats().unwrap(), stats);
        assert_eq!(stats.packets, session.packets.len() as u64);
        assert!(stats.packets_in_flows > 0);
    }
}
