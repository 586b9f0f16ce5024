//! Splitting one byte stream into segments of fuzzer-chosen sizes, so stream
//! assemblers see every way a message can straddle segment boundaries.
//!
//! Format: one seed byte, then the stream. The seed drives a small xorshift
//! generator that picks each segment's length; seed 0 means "one segment".

/// Prefix `stream` with a chunking seed.
pub fn encode(seed: u8, stream: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(stream.len() + 1);
    out.push(seed);
    out.extend_from_slice(stream);
    out
}

/// Split `data` into its seed and stream, and the stream into segments.
pub fn decode(data: &[u8]) -> Chunks<'_> {
    let (seed, rest) = data.split_first().map_or((0, data), |(s, r)| (*s, r));
    Chunks {
        rest,
        state: u32::from(seed) * 0x9e37 + 1,
        whole: seed == 0,
        max: 1 + usize::from(seed % 64),
    }
}

/// Iterator returned by [`decode`]; yields non-empty segments covering the stream.
#[derive(Debug, Clone)]
pub struct Chunks<'a> {
    rest: &'a [u8],
    state: u32,
    whole: bool,
    max: usize,
}

impl<'a> Chunks<'a> {
    /// The whole stream, unsplit (what the segments concatenate to).
    pub fn stream(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let n = if self.whole {
            self.rest.len()
        } else {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 17;
            self.state ^= self.state << 5;
            1 + (self.state as usize) % self.max
        };
        Some(crate::take_bytes(&mut self.rest, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cover_the_stream() {
        let stream: Vec<u8> = (0..=255).collect();
        for seed in [0u8, 1, 7, 63, 200, 255] {
            let data = encode(seed, &stream);
            let chunks = decode(&data);
            assert_eq!(chunks.stream(), &stream[..]);
            let parts: Vec<&[u8]> = chunks.collect();
            assert!(parts.iter().all(|p| !p.is_empty()));
            assert_eq!(parts.concat(), stream);
            if seed == 0 {
                assert_eq!(parts.len(), 1);
            } else {
                assert!(parts.len() > 1, "seed {seed} gave {} parts", parts.len());
            }
        }
        assert_eq!(decode(&[]).count(), 0);
    }
}
