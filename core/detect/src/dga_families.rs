//! Generators in the style of published DGA families: the trainer's
//! positives (`src/bin/train_dga.rs`) and the infected apps of the infection
//! evaluation ([`crate::infection_eval`]). Tooling, never on the packet path.
//!
//! Each follows its family's published construction: the alphabet, the label
//! length range, and the syllable or wordlist rule (conficker: 4-11 letters;
//! cryptolocker: 12-15; gameover zeus: base-36 of an MD5, 25-33 alphanumerics;
//! pushdo, simda, symmi: consonant/vowel syllables; matsnu, suppobox, gozi:
//! dictionary words; banjori: a fixed seed name whose first four letters
//! mutate; …). What they do not copy is the seed schedule (dates, hard-coded
//! keys): our names come from one fixed-seed PRNG, so none of them can equal
//! a domain any real sample of the family generated, and the evaluation lists
//! (`$NIGHTJAR_FIXTURES/dga`) stay unseen. The generators are deliberately
//! approximate where the real algorithm's output distribution is close to
//! uniform over its alphabet (LCG- or hash-driven letter pickers).

/// xorshift64*: deterministic, seedable, no dependency.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    /// One byte of `set`, as a char (`a` for an empty set).
    pub fn pick(&mut self, set: &[u8]) -> char {
        char::from(set.get(self.below(set.len())).copied().unwrap_or(b'a'))
    }
}

const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8] = b"0123456789abcdef";
const CONSONANTS: &[u8] = b"bcdfghjklmnpqrstvwxz";
const VOWELS: &[u8] = b"aeiou";

/// How a family builds its labels.
#[derive(Debug, Clone, Copy)]
pub enum Style {
    /// Uniform letters from `set`, length in `lo..=hi`.
    Chars(&'static [u8], usize, usize),
    /// A leading letter then hex digits (dyre: letter + SHA-256 prefix).
    LetterHex(usize),
    /// Consonant/vowel syllables (pushdo, symmi); `vv`/`cc`: chance of a
    /// second vowel or consonant in a row; length `lo..=hi`.
    Syllables {
        lo: usize,
        hi: usize,
        vowels: &'static [u8],
        vv: f64,
        cc: f64,
    },
    /// Dictionary words: `lo..=hi` words, hyphen between them with chance
    /// `hyphen`, each cut to at most `cut` letters (gozi takes word pieces).
    Words {
        lo: usize,
        hi: usize,
        hyphen: f64,
        cut: usize,
    },
    /// A seed name (two words and letters) whose first four letters mutate
    /// (banjori); a new seed every `per_seed` names.
    Banjori { per_seed: usize },
}

/// One generator.
#[derive(Debug)]
pub struct Family {
    /// The published family it follows.
    pub name: &'static str,
    /// How it builds labels.
    pub style: Style,
}

/// Every family the trainer generates, in a fixed order.
pub const FAMILIES: &[Family] = &[
    Family {
        name: "random_letters",
        style: Style::Chars(LETTERS, 5, 24),
    },
    Family {
        name: "random_alnum",
        style: Style::Chars(ALNUM, 8, 30),
    },
    Family {
        name: "conficker",
        style: Style::Chars(LETTERS, 4, 11),
    },
    Family {
        name: "cryptolocker",
        style: Style::Chars(LETTERS, 12, 15),
    },
    Family {
        name: "ramnit",
        style: Style::Chars(LETTERS, 8, 19),
    },
    Family {
        name: "necurs",
        style: Style::Chars(LETTERS, 7, 21),
    },
    Family {
        name: "tinba",
        style: Style::Chars(LETTERS, 12, 12),
    },
    Family {
        name: "locky",
        style: Style::Chars(LETTERS, 5, 17),
    },
    Family {
        name: "nymaim",
        style: Style::Chars(LETTERS, 5, 12),
    },
    Family {
        name: "qakbot",
        style: Style::Chars(LETTERS, 8, 25),
    },
    Family {
        name: "pykspa",
        style: Style::Chars(LETTERS, 6, 15),
    },
    Family {
        name: "ranbyus",
        style: Style::Chars(LETTERS, 14, 14),
    },
    Family {
        name: "virut",
        style: Style::Chars(LETTERS, 6, 6),
    },
    Family {
        name: "murofet",
        style: Style::Chars(LETTERS, 16, 24),
    },
    Family {
        name: "gameover_zeus",
        style: Style::Chars(ALNUM, 25, 33),
    },
    Family {
        name: "corebot",
        style: Style::Chars(ALNUM, 12, 23),
    },
    Family {
        name: "shiotob",
        style: Style::Chars(ALNUM, 10, 15),
    },
    Family {
        name: "chinad",
        style: Style::Chars(ALNUM, 16, 16),
    },
    Family {
        name: "dyre",
        style: Style::LetterHex(33),
    },
    Family {
        name: "pushdo",
        style: Style::Syllables {
            lo: 7,
            hi: 12,
            vowels: VOWELS,
            vv: 0.2,
            cc: 0.15,
        },
    },
    Family {
        name: "simda",
        style: Style::Syllables {
            lo: 6,
            hi: 10,
            vowels: b"aeiouyyy",
            vv: 0.0,
            cc: 0.0,
        },
    },
    Family {
        name: "symmi",
        style: Style::Syllables {
            lo: 8,
            hi: 14,
            vowels: VOWELS,
            vv: 0.05,
            cc: 0.05,
        },
    },
    Family {
        name: "matsnu",
        style: Style::Words {
            lo: 2,
            hi: 4,
            hyphen: 0.8,
            cut: 99,
        },
    },
    Family {
        name: "suppobox",
        style: Style::Words {
            lo: 2,
            hi: 2,
            hyphen: 0.0,
            cut: 99,
        },
    },
    Family {
        name: "gozi",
        style: Style::Words {
            lo: 2,
            hi: 4,
            hyphen: 0.0,
            cut: 6,
        },
    },
    Family {
        name: "banjori",
        style: Style::Banjori { per_seed: 40 },
    },
];

/// Generates `n` labels of `family`; `words` feeds the wordlist styles.
pub fn generate(family: &Family, rng: &mut Rng, words: &[String], n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    let mut seed = String::new();
    for i in 0..n {
        let label = match family.style {
            Style::Chars(set, lo, hi) => {
                let len = rng.range(lo, hi);
                (0..len).map(|_| rng.pick(set)).collect()
            }
            Style::LetterHex(len) => std::iter::once(rng.pick(LETTERS))
                .chain((1..len).map(|_| rng.pick(HEX)))
                .collect(),
            Style::Syllables {
                lo,
                hi,
                vowels,
                vv,
                cc,
            } => {
                let len = rng.range(lo, hi);
                let mut s = String::with_capacity(len);
                let mut vowel = rng.chance(0.3);
                while s.len() < len {
                    s.push(rng.pick(if vowel { vowels } else { CONSONANTS }));
                    let repeat = if vowel { vv } else { cc };
                    if !rng.chance(repeat) {
                        vowel = !vowel;
                    }
                }
                s
            }
            Style::Words {
                lo,
                hi,
                hyphen,
                cut,
            } => {
                let k = rng.range(lo, hi);
                let mut s = String::new();
                for j in 0..k {
                    let w = word(rng, words);
                    if j > 0 && rng.chance(hyphen) {
                        s.push('-');
                    }
                    s.extend(w.chars().take(cut));
                }
                s
            }
            Style::Banjori { per_seed } => {
                if i % per_seed == 0 {
                    seed = format!("{}{}", word(rng, words), word(rng, words));
                    let extra = rng.range(2, 6);
                    seed.extend((0..extra).map(|_| rng.pick(LETTERS)));
                }
                let head: String = (0..4).map(|_| rng.pick(LETTERS)).collect();
                head + seed.get(4..).unwrap_or("")
            }
        };
        out.push(label);
    }
    out
}

fn word<'a>(rng: &mut Rng, words: &'a [String]) -> &'a str {
    words
        .get(rng.below(words.len()))
        .map_or("word", String::as_str)
}
