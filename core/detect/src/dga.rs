//! Algorithmically generated domain (DGA) scoring.
//!
//! The model is a character trigram surprisal table learnt from benign names
//! (how many bits a benign-trained model needs per character of the owner label)
//! plus a handful of shape features, combined by a logistic regression. Every
//! feature's contribution to the logit is reported as a [`Signal`], so an alert
//! can say why it fired ("4.1 bits/char where benign names average 2.9").
//!
//! Only the owner label is scored: the registrable domain minus its public
//! suffix ([`crate::domain::owner_label`]), because DGAs generate that label and
//! subdomains of benign services (CDN shards, hashes) would otherwise dominate.
//!
//! The model ships as `model/dga.bin` (trained offline by the `train_dga`
//! binary, see `model/dga.json` for sources and hyper-parameters); any caller
//! can load another with [`DgaModel::from_bytes`], which validates every field
//! and a checksum.

use std::borrow::Cow;

use thiserror::Error;

use crate::alert::Signal;
use crate::domain;

/// Symbols: `a-z`, `0-9`, `-`, and one boundary symbol for start/end of label.
pub const ALPHABET: usize = 38;
/// Index of the boundary symbol.
pub const BOUNDARY: u8 = 37;
/// Entries in the trigram surprisal table (`ALPHABET³`).
pub const TABLE_LEN: usize = ALPHABET * ALPHABET * ALPHABET;
/// Number of features the logistic regression combines.
pub const N_FEATURES: usize = 8;
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
];
const FEATURE_DETAILS: [&str; N_FEATURES] = [
    "mean bits per character under a trigram model of benign names",
    "total bits for the label under a trigram model of benign names",
    "characters in the owner label (registrable domain minus public suffix)",
    "share of digits in the owner label",
    "share of vowels (aeiouy) among its letters",
    "longest run of consonants",
    "Shannon entropy of its characters, bits",
    "share of characters the benign trigram model finds rarer than 1 in 256",
];

/// A transition costing more bits than this counts as rare.
const RARE_BITS: f32 = 8.0;

const MAGIC: &[u8; 8] = b"NJDGA\x001\x00";
const HEADER_U32S: usize = 3;
const HEADER_LEN: usize = MAGIC.len() + HEADER_U32S * 4 + 3 * 4 + N_FEATURES * 3 * 4;
const CHECKSUM_LEN: usize = 8;
/// Exact size of a serialised model.
pub const MODEL_LEN: usize = HEADER_LEN + TABLE_LEN + CHECKSUM_LEN;

const BUILTIN: &[u8] = include_bytes!("../model/dga.bin");

/// Why a model could not be loaded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModelError {
    /// The bytes have the wrong length.
    #[error("model is {actual} bytes, expected {expected}")]
    Length {
        /// Expected length.
        expected: usize,
        /// Actual length.
        actual: usize,
    },
    /// Not a Nightjar DGA model, or an unsupported version.
    #[error("bad magic or unsupported model version")]
    Magic,
    /// Alphabet, n-gram order or feature count differ from this build.
    #[error("model shape {field} is {actual}, this build expects {expected}")]
    Shape {
        /// Which header field.
        field: &'static str,
        /// Expected value.
        expected: u32,
        /// Value in the file.
        actual: u32,
    },
    /// A parameter is NaN, infinite or out of range.
    #[error("parameter {0} is not finite or out of range")]
    Parameter(&'static str),
    /// The trailing checksum does not match the content.
    #[error("checksum mismatch")]
    Checksum,
}

/// Standardisation and weight of one logistic-regression feature.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureParams {
    /// Mean over the training set.
    pub mean: f32,
    /// Standard deviation over the training set (> 0).
    pub scale: f32,
    /// Weight of the standardised feature in the logit.
    pub weight: f32,
}

/// The logistic-regression part of a model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Logistic {
    /// Intercept.
    pub bias: f32,
    /// Probability at or above which a label is called a DGA (chosen for
    /// ≤0.1% FPR on held-out benign names at training time).
    pub threshold: f32,
    /// Per-feature parameters, in [`FEATURE_NAMES`] order.
    pub features: [FeatureParams; N_FEATURES],
}

/// Trigram surprisal table: `-log2 P(c | a b)` quantised to a byte.
#[derive(Debug, Clone, PartialEq)]
pub struct SurprisalTable {
    /// `ALPHABET³` bytes, index `(a·38 + b)·38 + c`.
    table: Vec<u8>,
    /// Bits per quantisation step.
    bits_per_step: f32,
}

impl SurprisalTable {
    /// Wraps a table; it must have [`TABLE_LEN`] entries.
    pub fn new(table: Vec<u8>, bits_per_step: f32) -> Result<Self, ModelError> {
        if table.len() != TABLE_LEN {
            return Err(ModelError::Length {
                expected: TABLE_LEN,
                actual: table.len(),
            });
        }
        if !bits_per_step.is_finite() || bits_per_step <= 0.0 {
            return Err(ModelError::Parameter("bits_per_step"));
        }
        Ok(Self {
            table,
            bits_per_step,
        })
    }

    fn bits(&self, a: u8, b: u8, c: u8) -> f32 {
        let idx = (usize::from(a) * ALPHABET + usize::from(b)) * ALPHABET + usize::from(c);
        f32::from(self.table.get(idx).copied().unwrap_or(u8::MAX)) * self.bits_per_step
    }

    /// Feature vector of one label (already lowercase). Characters outside
    /// the alphabet are skipped.
    pub fn features(&self, label: &str) -> [f32; N_FEATURES] {
        let mut counts = [0u16; ALPHABET];
        let (mut a, mut b) = (BOUNDARY, BOUNDARY);
        let mut total_bits = 0.0f32;
        let mut n = 0u32;
        let mut rare = 0u32;
        let (mut digits, mut vowels, mut letters) = (0u32, 0u32, 0u32);
        let (mut run, mut max_run) = (0u32, 0u32);
        for c in label.bytes().filter_map(symbol) {
            let bits = self.bits(a, b, c);
            total_bits += bits;
            if bits > RARE_BITS {
                rare += 1;
            }
            (a, b) = (b, c);
            n += 1;
            if let Some(slot) = counts.get_mut(usize::from(c)) {
                *slot = slot.saturating_add(1);
            }
            match c {
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
                }
                26..=35 => {
                    digits += 1;
                    run = 0;
                }
                _ => run = 0,
            }
        }
        total_bits += self.bits(a, b, BOUNDARY);
        let len = n as f32;
        let transitions = len + 1.0;
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
            total_bits / transitions,
            total_bits,
            len,
            if n == 0 { 0.0 } else { digits as f32 / len },
            if letters == 0 {
                0.0
            } else {
                vowels as f32 / letters as f32
            },
            max_run as f32,
            entropy,
            if n == 0 { 0.0 } else { rare as f32 / len },
        ]
    }
}

/// Maps a lowercase byte to its alphabet index.
pub fn symbol(b: u8) -> Option<u8> {
    match b {
        b'a'..=b'z' => Some(b - b'a'),
        b'0'..=b'9' => Some(26 + b - b'0'),
        b'-' => Some(36),
        _ => None,
    }
}

/// Result of scoring one domain.
#[derive(Debug, Clone, PartialEq)]
pub struct DgaScore {
    /// Probability that the owner label was algorithmically generated.
    pub probability: f32,
    /// Whether `probability` reaches the model's threshold.
    pub flagged: bool,
    /// Per-feature contributions; they sum (with the bias) to the logit.
    pub signals: Vec<Signal>,
}

/// A loaded DGA model.
#[derive(Debug, Clone, PartialEq)]
pub struct DgaModel {
    table: SurprisalTable,
    logistic: Logistic,
}

impl DgaModel {
    /// The model shipped with this crate.
    pub fn builtin() -> Result<Self, ModelError> {
        Self::from_bytes(BUILTIN)
    }

    /// Assembles a model from its parts (used by the trainer).
    pub fn from_parts(table: SurprisalTable, logistic: Logistic) -> Result<Self, ModelError> {
        validate_logistic(&logistic)?;
        Ok(Self { table, logistic })
    }

    /// Parses and validates a serialised model.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        if bytes.len() != MODEL_LEN {
            return Err(ModelError::Length {
                expected: MODEL_LEN,
                actual: bytes.len(),
            });
        }
        let (content, sum) = bytes
            .split_at_checked(MODEL_LEN - CHECKSUM_LEN)
            .ok_or(ModelError::Checksum)?;
        let sum: [u8; 8] = sum.try_into().map_err(|_| ModelError::Checksum)?;
        if u64::from_le_bytes(sum) != fnv1a(content) {
            return Err(ModelError::Checksum);
        }
        let mut r = Reader(content);
        if r.take(MAGIC.len()) != Some(MAGIC.as_slice()) {
            return Err(ModelError::Magic);
        }
        for (field, expected) in [
            ("alphabet", ALPHABET as u32),
            ("order", 3),
            ("features", N_FEATURES as u32),
        ] {
            let actual = r.u32().ok_or(ModelError::Magic)?;
            if actual != expected {
                return Err(ModelError::Shape {
                    field,
                    expected,
                    actual,
                });
            }
        }
        let bits_per_step = r.f32()?;
        let bias = r.f32()?;
        let threshold = r.f32()?;
        let mut features = [FeatureParams {
            mean: 0.0,
            scale: 1.0,
            weight: 0.0,
        }; N_FEATURES];
        for f in &mut features {
            f.mean = r.f32()?;
            f.scale = r.f32()?;
            f.weight = r.f32()?;
        }
        let table = r.take(TABLE_LEN).ok_or(ModelError::Length {
            expected: MODEL_LEN,
            actual: bytes.len(),
        })?;
        let table = SurprisalTable::new(table.to_vec(), bits_per_step)?;
        Self::from_parts(
            table,
            Logistic {
                bias,
                threshold,
                features,
            },
        )
    }

    /// Serialises the model (the inverse of [`DgaModel::from_bytes`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MODEL_LEN);
        out.extend_from_slice(MAGIC);
        for v in [ALPHABET as u32, 3, N_FEATURES as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let l = &self.logistic;
        for v in [self.table.bits_per_step, l.bias, l.threshold] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for f in &l.features {
            for v in [f.mean, f.scale, f.weight] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out.extend_from_slice(&self.table.table);
        let sum = fnv1a(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// The logistic-regression parameters.
    pub fn logistic(&self) -> &Logistic {
        &self.logistic
    }

    /// The decision threshold on [`DgaScore::probability`].
    pub fn threshold(&self) -> f32 {
        self.logistic.threshold
    }

    /// Scores a domain name (any case, optional trailing dot). Names that
    /// cannot be normalised score as an empty label.
    pub fn score(&self, name: &str) -> DgaScore {
        let normalized = domain::normalize(name).unwrap_or(Cow::Borrowed(""));
        self.score_label(domain::owner_label(&normalized))
    }

    /// Probability only, without building signals (for bulk evaluation).
    pub fn probability(&self, name: &str) -> f32 {
        let normalized = domain::normalize(name).unwrap_or(Cow::Borrowed(""));
        let label = domain::owner_label(&normalized);
        if is_punycode(label) {
            return 0.0;
        }
        let x = self.table.features(label);
        let logit = self
            .logistic
            .features
            .iter()
            .zip(x)
            .fold(self.logistic.bias, |acc, (f, v)| {
                acc + f.weight * (v - f.mean) / f.scale
            });
        sigmoid(logit)
    }

    /// Scores an owner label directly (lowercase, no suffix).
    pub fn score_label(&self, label: &str) -> DgaScore {
        if is_punycode(label) {
            return DgaScore {
                probability: 0.0,
                flagged: false,
                signals: vec![Signal {
                    name: "idn_not_scored",
                    value: 1.0,
                    weight: 0.0,
                    detail: Cow::Borrowed(
                        "punycode (xn--) label: its ASCII form is an encoding, not language, so the character model does not apply",
                    ),
                }],
            };
        }
        let x = self.table.features(label);
        let mut logit = self.logistic.bias;
        let mut signals = Vec::with_capacity(N_FEATURES);
        for (((f, v), name), detail) in self
            .logistic
            .features
            .iter()
            .zip(x)
            .zip(FEATURE_NAMES)
            .zip(FEATURE_DETAILS)
        {
            let contribution = f.weight * (v - f.mean) / f.scale;
            logit += contribution;
            signals.push(Signal {
                name,
                value: v,
                weight: contribution,
                detail: Cow::Borrowed(detail),
            });
        }
        let probability = sigmoid(logit);
        DgaScore {
            probability,
            flagged: probability >= self.logistic.threshold,
            signals,
        }
    }
}

fn validate_logistic(l: &Logistic) -> Result<(), ModelError> {
    if !l.bias.is_finite() {
        return Err(ModelError::Parameter("bias"));
    }
    if !(l.threshold > 0.0 && l.threshold < 1.0) {
        return Err(ModelError::Parameter("threshold"));
    }
    for f in &l.features {
        if !f.mean.is_finite() || !f.weight.is_finite() {
            return Err(ModelError::Parameter("feature mean/weight"));
        }
        if !f.scale.is_finite() || f.scale <= 0.0 {
            return Err(ModelError::Parameter("feature scale"));
        }
    }
    Ok(())
}

fn is_punycode(label: &str) -> bool {
    label.starts_with("xn--")
}

/// Logistic function, safe for any finite or infinite input.
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// FNV-1a 64: enough to catch truncation and bit rot, not an integrity seal;
/// also the stable hash of persisted name sets.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_extend(FNV_OFFSET, bytes)
}

/// FNV-1a 64 offset basis (the hash of nothing).
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// Continues an FNV-1a 64 hash over more bytes.
pub fn fnv1a_extend(h: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(h, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn f32(&mut self) -> Result<f32, ModelError> {
        let raw = self.u32().ok_or(ModelError::Magic)?;
        let v = f32::from_bits(raw);
        if v.is_finite() {
            Ok(v)
        } else {
            Err(ModelError::Parameter("non-finite float"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table built in code: low surprisal for alternating consonant/vowel,
    /// high for everything else, so tests do not depend on the shipped model.
    fn toy_model() -> DgaModel {
        let mut table = vec![200u8; TABLE_LEN];
        for (i, t) in table.iter_mut().enumerate() {
            let b = (i / ALPHABET) % ALPHABET;
            let c = i % ALPHABET;
            let vowel = |s: usize| matches!(s, 0 | 4 | 8 | 14 | 20);
            if c < 26 && b < 26 && vowel(b) != vowel(c) {
                *t = 20;
            }
            if c == usize::from(BOUNDARY) {
                *t = 10;
            }
        }
        let table = SurprisalTable::new(table, 0.05).unwrap();
        let mut features = [FeatureParams {
            mean: 0.0,
            scale: 1.0,
            weight: 0.0,
        }; N_FEATURES];
        features[0] = FeatureParams {
            mean: 3.0,
            scale: 1.0,
            weight: 2.0,
        };
        DgaModel::from_parts(
            table,
            Logistic {
                bias: 0.0,
                threshold: 0.5,
                features,
            },
        )
        .unwrap()
    }

    #[test]
    fn features_of_a_known_label() {
        let m = toy_model();
        let x = m.table.features("ab1-c");
        assert_eq!(x[2], 5.0);
        assert!((x[3] - 0.2).abs() < 1e-6);
        // letters a, b, c: one vowel of three.
        assert!((x[4] - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(x[5], 1.0);
        // five distinct symbols: log2(5).
        assert!((x[6] - 5f32.log2()).abs() < 1e-5);
        // Only `a`→`b` alternates consonant/vowel; the other four are rare.
        assert!((x[7] - 0.8).abs() < 1e-6);
        let empty = m.table.features("");
        assert_eq!(empty[2], 0.0);
        assert!(empty.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn pronounceable_scores_below_random_and_signals_sum_to_logit() {
        let m = toy_model();
        let good = m.score("www.banana.com");
        let bad = m.score("XQZKWPTR.com.");
        assert!(!good.flagged, "{good:?}");
        assert!(bad.flagged, "{bad:?}");
        assert!(bad.probability > good.probability);
        let logit: f32 = bad.signals.iter().map(|s| s.weight).sum();
        assert!((sigmoid(logit) - bad.probability).abs() < 1e-5);
        assert_eq!(bad.signals[0].name, "ngram_surprisal");
        assert!((m.probability("xqzkwptr.com") - bad.probability).abs() < 1e-6);
        let idn = m.score("xn--qxzkwptr-q9a.com");
        assert_eq!(idn.probability, 0.0);
        assert_eq!(idn.signals[0].name, "idn_not_scored");
    }

    #[test]
    fn round_trips_and_rejects_corruption() {
        let m = toy_model();
        let bytes = m.to_bytes();
        assert_eq!(bytes.len(), MODEL_LEN);
        assert_eq!(DgaModel::from_bytes(&bytes).unwrap(), m);
        assert!(matches!(
            DgaModel::from_bytes(&bytes[..bytes.len() - 1]),
            Err(ModelError::Length { .. })
        ));
        assert!(DgaModel::from_bytes(&[]).is_err());
        // Flip every byte position in the header and a sample of the table:
        // always an error, never a panic.
        for i in (0..bytes.len()).step_by(97).chain(0..HEADER_LEN) {
            let mut c = bytes.clone();
            c[i] ^= 0x5a;
            assert!(DgaModel::from_bytes(&c).is_err(), "flip at {i} accepted");
        }
    }

    #[test]
    fn rejects_invalid_parameters_even_with_valid_checksum() {
        let m = toy_model();
        let mut bytes = m.to_bytes();
        // threshold lives after magic, 3 u32s, bits_per_step and bias.
        let at = MAGIC.len() + 12 + 8;
        bytes[at..at + 4].copy_from_slice(&2.0f32.to_le_bytes());
        let n = bytes.len() - CHECKSUM_LEN;
        let sum = fnv1a(&bytes[..n]);
        bytes[n..].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(
            DgaModel::from_bytes(&bytes),
            Err(ModelError::Parameter("threshold"))
        );
        let mut bytes = m.to_bytes();
        bytes[MAGIC.len()..MAGIC.len() + 4].copy_from_slice(&40u32.to_le_bytes());
        let sum = fnv1a(&bytes[..n]);
        bytes[n..].copy_from_slice(&sum.to_le_bytes());
        assert!(matches!(
            DgaModel::from_bytes(&bytes),
            Err(ModelError::Shape {
                field: "alphabet",
                ..
            })
        ));
    }

    #[test]
    fn builtin_model_loads_and_separates_obvious_cases() {
        let m = DgaModel::builtin().unwrap();
        const { assert!(MODEL_LEN <= 256 * 1024) };
        for benign in [
            "google.com",
            "wikipedia.org",
            "weather.co.uk",
            "facebook.com",
        ] {
            let s = m.score(benign);
            assert!(!s.flagged, "{benign}: {s:?}");
        }
        for dga in [
            "xjw3kq9vbz2lmr7tpc.com",
            "qxkzvbnmwtrplkjh.net",
            "7f3a9c0e1b4d8f2a.info",
        ] {
            let s = m.score(dga);
            assert!(s.flagged, "{dga}: {s:?}");
        }
    }

    #[test]
    fn hostile_input_never_panics() {
        let m = toy_model();
        for s in [
            "",
            ".",
            "..",
            "\u{0}",
            "é.com",
            &"a".repeat(10_000),
            "-.-",
            "a..b",
        ] {
            let r = m.score(s);
            assert!(r.probability.is_finite());
        }
    }
}
