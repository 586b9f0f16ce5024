//! Input formats shared by the fuzz targets and the seed generator.
//!
//! Targets that drive a state machine (the engine, reassembly, DNS pairing,
//! stream assemblers) read a small script out of the fuzzer's bytes. The
//! formats are hand-written rather than derived end to end so that
//! `make_seeds` can encode real traffic into them: a seed the target decodes
//! back into real packets starts the fuzzer deep inside the protocol instead
//! of at "not an IP packet". The fixed-size knob structs are derived with
//! `arbitrary`, since a handful of `u8` fields read in order is easy to encode.
#![forbid(unsafe_code)]

pub mod chunking;
pub mod dns_script;
pub mod engine_script;
pub mod reassembly_script;
pub mod records;
pub mod roundtrip;

/// Start of every script's clock: 2026-01-01T00:00:00Z in microseconds, so
/// that steps back in time stay positive and steps forward cannot overflow.
pub const EPOCH_US: u64 = 1_767_225_600_000_000;

/// Time step multipliers selectable by two bits of an op byte (µs, ms, s, min).
pub const TIME_SCALES: [u64; 4] = [1, 1_000, 1_000_000, 60_000_000];

/// Encode a forward step of `delta_us` as a scale index and a 16-bit count,
/// rounding down to the coarsest unit that can hold it.
pub fn encode_step(delta_us: u64) -> (u8, u16) {
    for (i, scale) in TIME_SCALES.iter().enumerate() {
        if let Ok(n) = u16::try_from(delta_us / scale) {
            return (i as u8, n);
        }
    }
    (3, u16::MAX)
}

/// Apply a step to a clock that never leaves `[0, u64::MAX]`.
pub fn step(now: u64, scale: u8, count: u16, backwards: bool) -> u64 {
    let scale = TIME_SCALES
        .get(usize::from(scale & 3))
        .copied()
        .unwrap_or(1);
    let d = u64::from(count).saturating_mul(scale);
    if backwards {
        now.saturating_sub(d)
    } else {
        now.saturating_add(d)
    }
}

/// Take a big-endian `u16` from the front of `data`.
pub fn take_u16(data: &mut &[u8]) -> Option<u16> {
    let (head, rest) = data.split_first_chunk::<2>()?;
    *data = rest;
    Some(u16::from_be_bytes(*head))
}

/// Take one byte from the front of `data`.
pub fn take_u8(data: &mut &[u8]) -> Option<u8> {
    let (&b, rest) = data.split_first()?;
    *data = rest;
    Some(b)
}

/// Take up to `n` bytes from the front of `data` (fewer if it runs out).
pub fn take_bytes<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, rest) = data.split_at(n.min(data.len()));
    *data = rest;
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_round_to_a_representable_unit() {
        assert_eq!(encode_step(10), (0, 10));
        assert_eq!(encode_step(70_000), (1, 70));
        assert_eq!(encode_step(90_000_000), (2, 90));
        let (s, n) = encode_step(5 * 3_600_000_000);
        assert_eq!(step(0, s, n, false), 5 * 3_600_000_000);
        assert_eq!(step(5, 2, 1, true), 0);
        assert_eq!(step(u64::MAX - 1, 3, u16::MAX, false), u64::MAX);
    }

    #[test]
    fn takers_stop_at_the_end() {
        let mut d: &[u8] = &[1, 2, 3];
        assert_eq!(take_u16(&mut d), Some(0x0102));
        assert_eq!(take_u16(&mut d), None);
        assert_eq!(take_u8(&mut d), Some(3));
        assert_eq!(take_u8(&mut d), None);
        assert_eq!(take_bytes(&mut d, 5), &[] as &[u8]);
    }
}
