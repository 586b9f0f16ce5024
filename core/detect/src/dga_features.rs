//! The features the DGA model reads from one label, and the benign 5-gram set
//! some of them need.
//!
//! One pass over the label's symbols computes everything: the cost of each
//! character under the benign and the generated-name trigram models
//! ([`crate::dga::SurprisalTable`]), the label's shape (length, digits,
//! vowels, consonant runs, symbol entropy) and how much of it is made of
//! 5-letter pieces that benign names use ([`GramSet`]). Brand names, words
//! and their compounds are mostly made of such pieces (`sandwichclub`,
//! `forumconstruire`); a random-letter label almost never is, and that holds
//! for languages the trigram model knows less well than English.

use crate::dga::{ALPHABET, BOUNDARY, SurprisalTable, symbol};

/// Number of features.
pub const N_FEATURES: usize = 18;
/// Stable names of the features, in model order.
pub const FEATURE_NAMES: [&str; N_FEATURES] = [
    "ngram_surprisal",
    "ngram_surprisal_total",
    "length",
    "digit_ratio",
    "vowel_ratio",
    "max_consonant_run",
    "char_entropy",
    "rare_trigram_ratio",
    "dga_likelihood_ratio",
    "dga_likelihood_ratio_total",
    "common_trigram_ratio",
    "benign_piece_coverage",
    "longest_benign_run",
    "hyphens",
    "letter_digit_switches",
    "distinct_ratio",
    "least_surprising_window",
    "most_surprising_window",
];

/// A transition costing more bits than this counts as rare.
const RARE_BITS: f32 = 8.0;
/// A transition costing at most this many bits counts as common.
const COMMON_BITS: f32 = 4.0;
/// Transitions per window for the window features.
const WINDOW: usize = 4;
/// Letters in one piece of [`GramSet`].
pub const GRAM: usize = 5;
/// Bits in a [`GramSet`] (2¹⁹: 64 KiB).
pub const GRAM_BITS: usize = 1 << 19;
/// Bytes of a serialised [`GramSet`].
pub const GRAM_BYTES: usize = GRAM_BITS / 8;
const GRAM_MASK: u32 = (1 << (6 * GRAM)) - 1;

/// A set of 5-symbol pieces common in benign names: a Bloom filter with two
/// probes in 2¹⁹ bits. A false "present" only makes a label look a little
/// more benign; the trainer keeps the filter sparse enough (see
/// `model/dga.json`) that random labels rarely hit it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GramSet {
    bits: Vec<u64>,
}

impl GramSet {
    /// An empty set.
    pub fn empty() -> Self {
        Self {
            bits: vec![0; GRAM_BITS / 64],
        }
    }

    /// From serialised bytes ([`GRAM_BYTES`] of them, little-endian words).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != GRAM_BYTES {
            return None;
        }
        let bits = bytes
            .chunks_exact(8)
            .map(|c| {
                let mut w = [0u8; 8];
                w.copy_from_slice(c);
                u64::from_le_bytes(w)
            })
            .collect();
        Some(Self { bits })
    }

    /// Serialised bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.bits.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    fn probes(code: u32) -> [usize; 2] {
        let h = u64::from(code).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let bits = GRAM_BITS.trailing_zeros();
        [
            (h >> (64 - bits)) as usize,
            ((h >> 8) as usize) & (GRAM_BITS - 1),
        ]
    }

    /// Adds the piece whose symbols are packed in `code` (see [`gram_code`]).
    pub fn insert(&mut self, code: u32) {
        for p in Self::probes(code) {
            if let Some(w) = self.bits.get_mut(p / 64) {
                *w |= 1 << (p % 64);
            }
        }
    }

    /// Whether the piece packed in `code` is (probably) in the set.
    #[inline]
    pub fn contains(&self, code: u32) -> bool {
        Self::probes(code).iter().all(|&p| {
            self.bits
                .get(p / 64)
                .is_some_and(|w| w & (1 << (p % 64)) != 0)
        })
    }

    /// Share of bits set (the filter's load).
    pub fn load(&self) -> f64 {
        let ones: u32 = self.bits.iter().map(|w| w.count_ones()).sum();
        f64::from(ones) / GRAM_BITS as f64
    }
}

/// Packs the symbols of one piece (alphabet indices, oldest first) the way
/// [`features`] does while it walks a label.
pub fn gram_code(symbols: &[u8]) -> u32 {
    symbols
        .iter()
        .fold(0u32, |acc, &s| ((acc << 6) | u32::from(s)) & GRAM_MASK)
}

/// The feature vector of one label (lowercase, no dots), in
/// [`FEATURE_NAMES`] order. Characters outside the alphabet are skipped.
pub fn features(
    benign: &SurprisalTable,
    dga: &SurprisalTable,
    grams: &GramSet,
    label: &str,
) -> [f32; N_FEATURES] {
    let mut counts = [0u16; ALPHABET];
    let (mut a, mut b) = (BOUNDARY, BOUNDARY);
    // Integer quantisation steps: summing bytes is exact and cheap; the
    // scale is applied once at the end.
    let (mut benign_steps, mut dga_steps) = (0u32, 0u32);
    let rare_step = (RARE_BITS / benign.bits_per_step()) as u32;
    let common_step = (COMMON_BITS / benign.bits_per_step()) as u32;
    let (mut n, mut rare, mut common) = (0u32, 0u32, 0u32);
    let (mut digits, mut vowels, mut letters, mut hyphens, mut switches) = (0u32, 0, 0, 0, 0);
    let (mut run, mut max_run) = (0u32, 0u32);
    let mut last_class = 0u8;
    // Sliding window over the last WINDOW transition costs.
    let mut window = [0u32; WINDOW];
    let (mut window_sum, mut min_window, mut max_window) = (0u32, u32::MAX, 0u32);
    let mut transitions = 0usize;
    // 5-gram coverage: `covered_to` is one past the last covered position.
    let mut code = 0u32;
    let (mut covered, mut covered_to, mut run_start, mut longest) = (0u32, 0u32, 0u32, 0u32);
    let mut step = |s: u32, transitions: &mut usize| {
        let slot = *transitions % WINDOW;
        if let Some(w) = window.get_mut(slot) {
            window_sum = window_sum - *w + s;
            *w = s;
        }
        *transitions += 1;
        if *transitions >= WINDOW {
            min_window = min_window.min(window_sum);
            max_window = max_window.max(window_sum);
        }
    };
    for c in label.bytes().filter_map(symbol) {
        let i = crate::dga::index(a, b, c);
        let s = u32::from(benign.step(i));
        benign_steps += s;
        dga_steps += u32::from(dga.step(i));
        rare += u32::from(s > rare_step);
        common += u32::from(s <= common_step);
        step(s, &mut transitions);
        (a, b) = (b, c);
        n += 1;
        if let Some(slot) = counts.get_mut(usize::from(c)) {
            *slot = slot.saturating_add(1);
        }
        let class = match c {
            0..=25 => {
                letters += 1;
                // a e i o u y
                if matches!(c, 0 | 4 | 8 | 14 | 20 | 24) {
                    vowels += 1;
                    run = 0;
                } else {
                    run += 1;
                    max_run = max_run.max(run);
                }
                1
            }
            26..=35 => {
                digits += 1;
                run = 0;
                2
            }
            _ => {
                hyphens += 1;
                run = 0;
                0
            }
        };
        if class != 0 {
            if last_class != 0 && class != last_class {
                switches += 1;
            }
            last_class = class;
        }
        code = ((code << 6) | u32::from(c)) & GRAM_MASK;
        if n >= GRAM as u32 && grams.contains(code) {
            let start = n - GRAM as u32;
            if start > covered_to || covered_to == 0 {
                run_start = start;
            }
            covered += n - start.max(covered_to);
            covered_to = n;
            longest = longest.max(n - run_start);
        }
    }
    let end = crate::dga::index(a, b, BOUNDARY);
    let end_step = u32::from(benign.step(end));
    benign_steps += end_step;
    dga_steps += u32::from(dga.step(end));
    common += u32::from(end_step <= common_step);
    step(end_step, &mut transitions);
    let bits = benign.bits_per_step();
    let total_bits = benign_steps as f32 * bits;
    let llr_total = total_bits - dga_steps as f32 * dga.bits_per_step();
    let len = n as f32;
    let t = len + 1.0;
    let (min_w, max_w) = if transitions >= WINDOW {
        (
            min_window as f32 * bits / WINDOW as f32,
            max_window as f32 * bits / WINDOW as f32,
        )
    } else {
        (total_bits / t, total_bits / t)
    };
    let per_char = |k: u32| if n == 0 { 0.0 } else { k as f32 / len };
    let distinct = counts.iter().filter(|&&k| k > 0).count() as f32;
    let entropy = if n == 0 {
        0.0
    } else {
        counts
            .iter()
            .filter(|&&k| k > 0)
            .map(|&k| {
                let p = f32::from(k) / len;
                -p * p.log2()
            })
            .sum()
    };
    [
        total_bits / t,
        total_bits,
        len,
        per_char(digits),
        if letters == 0 {
            0.0
        } else {
            vowels as f32 / letters as f32
        },
        max_run as f32,
        entropy,
        per_char(rare),
        llr_total / t,
        llr_total,
        common as f32 / t,
        per_char(covered),
        longest as f32,
        hyphens as f32,
        switches as f32,
        if n == 0 { 0.0 } else { distinct / len },
        min_w,
        max_w,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gram_set_round_trips_and_finds_its_pieces() {
        let mut g = GramSet::empty();
        let piece: Vec<u8> = "sandw".bytes().filter_map(symbol).collect();
        g.insert(gram_code(&piece));
        assert!(g.contains(gram_code(&piece)));
        let other: Vec<u8> = "qxzkw".bytes().filter_map(symbol).collect();
        assert!(!g.contains(gram_code(&other)));
        let back = GramSet::from_bytes(&g.to_bytes()).unwrap();
        assert_eq!(back, g);
        assert!(GramSet::from_bytes(&[0; 3]).is_none());
        assert!(g.load() > 0.0);
    }

    #[test]
    fn coverage_counts_characters_under_known_pieces() {
        let mut g = GramSet::empty();
        for w in ["sandw", "andwi", "ndwic", "dwich"] {
            let s: Vec<u8> = w.bytes().filter_map(symbol).collect();
            g.insert(gram_code(&s));
        }
        let t = SurprisalTable::uniform();
        let x = features(&t, &t, &g, "sandwichqxzkw");
        // "sandwich": 8 of 13 characters, one run of 8.
        assert!((x[11] - 8.0 / 13.0).abs() < 1e-6, "{x:?}");
        assert_eq!(x[12], 8.0);
        let y = features(&t, &t, &g, "qxsandwzzsandw");
        // Two separate runs of 5.
        assert!((y[11] - 10.0 / 14.0).abs() < 1e-6, "{y:?}");
        assert_eq!(y[12], 5.0);
        let z = features(&t, &t, &g, "a1b2-c");
        assert_eq!(z[13], 1.0);
        assert_eq!(z[14], 4.0);
        assert!(z.iter().all(|v| v.is_finite()));
        assert!(features(&t, &t, &g, "").iter().all(|v| v.is_finite()));
    }
}
