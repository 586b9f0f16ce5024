//! Offline, reproducible trainer for the shipped DGA model (`model/dga.bin`
//! and its metadata `model/dga.json`). Not part of the library; build with
//! `--features train`. See `tools/train_dga.sh` for how to obtain the inputs.
//!
//! Benign data (all from package registries, checked by sha256):
//! - npm `an-array-of-english-words@2.0.0` `index.json` (English words),
//! - npm `email-providers@2.26.0` `all.json` (mail provider domains),
//! - npm `@ghostery/trackerdb@1.0.945` `dist/trackerdb.json` (ad-tech and
//!   analytics domains: the realistic source of random-looking benign names),
//! - crate `psl@2.1.247` `data/rules.txt` (Public Suffix List labels).
//!
//! Positives are synthetic, generated here from a fixed seed: uniformly
//! random lowercase strings of letters (lengths 5-24) and of letters and
//! digits (8-30). No DGA family's algorithm is re-implemented and no
//! fixture (neither `dga/` nor `benign/`) is read, so every evaluation family
//! stays held out.
#![allow(clippy::indexing_slicing, clippy::print_stdout)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use nightjar_detect::dga::{
    ALPHABET, BOUNDARY, DgaModel, FEATURE_NAMES, FeatureParams, Logistic, MODEL_LEN, N_FEATURES,
    SurprisalTable, TABLE_LEN, fnv1a, symbol,
};
use nightjar_detect::domain;
use sha2::{Digest, Sha256};

const WORDS_SHA256: &str = "dadb53f5df46b5b26577fe1cadc85bf076d2d04cf554f6fcda693f2704555e06";
const EMAIL_SHA256: &str = "703a48eade572e4a8219ee2d7dbac8e9a2876281aafcdf68c4382e6cb6e11ee7";
const TRACKERDB_SHA256: &str = "2672417802b1984d24f4c271e4deef175e30fa0c29d39ff39a3b5605d8687427";
const PSL_SHA256: &str = "3a2387250f761557e116716617b7c131ce986764ed5930c37a409a2c09a56868";

// Hyper-parameters (recorded in dga.json).
const LAMBDA3: f64 = 0.70;
const LAMBDA2: f64 = 0.22;
const LAMBDA1: f64 = 0.08;
const ADD_K: f64 = 0.5;
const DOMAIN_LABEL_WEIGHT: f64 = 5.0;
const MAX_BITS: f32 = 24.0;
const SEED: u64 = 0x6e69_6768_746a_6172;
const POSITIVES_PER_GENERATOR: usize = 5000;
const LR_ITERS: usize = 3000;
const LR_RATE: f64 = 0.5;
const LR_L2: f64 = 1e-4;
const TARGET_FPR: f64 = 0.001;
/// Allowed sign of each feature's weight (1: only towards DGA, -1: only
/// towards benign, 0: free), in `FEATURE_NAMES` order.
const SIGN: [i8; N_FEATURES] = [1, 1, 0, 1, -1, 1, 1, 1];

struct Args {
    words: PathBuf,
    email: PathBuf,
    trackerdb: PathBuf,
    psl: PathBuf,
    out: PathBuf,
    date: String,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut words, mut email, mut trackerdb, mut psl, mut out, mut date) =
        (None, None, None, None, None, None);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--words" => words = Some(PathBuf::from(v)),
            "--email" => email = Some(PathBuf::from(v)),
            "--trackerdb" => trackerdb = Some(PathBuf::from(v)),
            "--psl" => psl = Some(PathBuf::from(v)),
            "--out" => out = Some(PathBuf::from(v)),
            "--date" => date = Some(v),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    let need = |o: Option<PathBuf>, n: &str| o.ok_or(format!("missing --{n}"));
    Ok(Args {
        words: need(words, "words")?,
        email: need(email, "email")?,
        trackerdb: need(trackerdb, "trackerdb")?,
        psl: need(psl, "psl")?,
        out: need(out, "out")?,
        date: date.ok_or("missing --date")?,
    })
}

fn read_checked(path: &PathBuf, sha: &str) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let got: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if got != sha {
        return Err(format!("{}: sha256 {got}, expected {sha}", path.display()));
    }
    Ok(bytes)
}

fn clean_label(s: &str) -> Option<String> {
    let l: String = s
        .to_ascii_lowercase()
        .bytes()
        .filter(|b| symbol(*b).is_some())
        .map(char::from)
        .collect();
    // Punycode is an encoding of non-ASCII text, not language: the model
    // does not score it, so it must not learn from it either.
    (l.len() >= 2 && !l.starts_with("xn--")).then_some(l)
}

fn owner(name: &str) -> Option<String> {
    let n = domain::normalize(name)?;
    clean_label(domain::owner_label(&n))
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
}

fn synthetic_positives(rng: &mut Rng, per: usize) -> Vec<String> {
    // Random letters and random letters+digits only. A pronounceable
    // (consonant/vowel) generator taught the regression that pronounceable
    // names are bad and cost far more benign false positives than it gained.
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::with_capacity(per * 3);
    let pick = |rng: &mut Rng| char::from(LETTERS[rng.below(LETTERS.len())]);
    const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    for _ in 0..per {
        for (lo, hi) in [(5, 24), (7, 24)] {
            let n = rng.range(lo, hi);
            out.push((0..n).map(|_| pick(rng)).collect());
        }
        let n = rng.range(8, 30);
        out.push(
            (0..n)
                .map(|_| char::from(ALNUM[rng.below(ALNUM.len())]))
                .collect(),
        );
    }
    out
}

struct Counts {
    c3: Vec<f64>,
    c2: Vec<f64>,
    c1: Vec<f64>,
}

impl Counts {
    fn new() -> Self {
        Self {
            c3: vec![0.0; TABLE_LEN],
            c2: vec![0.0; ALPHABET * ALPHABET],
            c1: vec![0.0; ALPHABET],
        }
    }
    fn add(&mut self, label: &str, w: f64) {
        let (mut a, mut b) = (usize::from(BOUNDARY), usize::from(BOUNDARY));
        let syms = label
            .bytes()
            .filter_map(symbol)
            .map(usize::from)
            .chain([usize::from(BOUNDARY)]);
        for c in syms {
            self.c3[(a * ALPHABET + b) * ALPHABET + c] += w;
            self.c2[b * ALPHABET + c] += w;
            self.c1[c] += w;
            (a, b) = (b, c);
        }
    }
    fn table(&self) -> Vec<u8> {
        let step = MAX_BITS / 255.0;
        let n1: f64 = self.c1.iter().sum();
        let mut out = vec![0u8; TABLE_LEN];
        for a in 0..ALPHABET {
            for b in 0..ALPHABET {
                let ctx3: f64 = (0..ALPHABET)
                    .map(|c| self.c3[(a * ALPHABET + b) * ALPHABET + c])
                    .sum();
                let ctx2: f64 = (0..ALPHABET).map(|c| self.c2[b * ALPHABET + c]).sum();
                for c in 0..ALPHABET {
                    let p1 = (self.c1[c] + ADD_K) / (n1 + ADD_K * ALPHABET as f64);
                    let p2 = if ctx2 > 0.0 {
                        self.c2[b * ALPHABET + c] / ctx2
                    } else {
                        p1
                    };
                    let p3 = if ctx3 > 0.0 {
                        self.c3[(a * ALPHABET + b) * ALPHABET + c] / ctx3
                    } else {
                        p2
                    };
                    let p = LAMBDA3 * p3 + LAMBDA2 * p2 + LAMBDA1 * p1;
                    let bits = (-p.log2()) as f32;
                    let q = (bits / step).round().clamp(0.0, 255.0);
                    out[(a * ALPHABET + b) * ALPHABET + c] = q as u8;
                }
            }
        }
        out
    }
}

fn train_logistic(x: &[[f32; N_FEATURES]], y: &[bool]) -> (f32, [FeatureParams; N_FEATURES]) {
    let n = x.len() as f64;
    let mut mean = [0f64; N_FEATURES];
    let mut sd = [0f64; N_FEATURES];
    for row in x {
        for j in 0..N_FEATURES {
            mean[j] += f64::from(row[j]) / n;
        }
    }
    for row in x {
        for j in 0..N_FEATURES {
            sd[j] += (f64::from(row[j]) - mean[j]).powi(2) / n;
        }
    }
    for s in &mut sd {
        *s = s.sqrt().max(1e-6);
    }
    let z: Vec<[f64; N_FEATURES]> = x
        .iter()
        .map(|r| std::array::from_fn(|j| (f64::from(r[j]) - mean[j]) / sd[j]))
        .collect();
    let npos = y.iter().filter(|v| **v).count() as f64;
    let nneg = n - npos;
    let (wpos, wneg) = (n / (2.0 * npos), n / (2.0 * nneg));
    let mut w = [0f64; N_FEATURES];
    let mut bias = 0f64;
    for _ in 0..LR_ITERS {
        let mut gw = [0f64; N_FEATURES];
        let mut gb = 0f64;
        for (zi, &yi) in z.iter().zip(y) {
            let logit = bias + (0..N_FEATURES).map(|j| w[j] * zi[j]).sum::<f64>();
            let p = 1.0 / (1.0 + (-logit).exp());
            let (t, cw) = if yi { (1.0, wpos) } else { (0.0, wneg) };
            let g = cw * (p - t);
            gb += g;
            for j in 0..N_FEATURES {
                gw[j] += g * zi[j];
            }
        }
        bias -= LR_RATE * gb / n;
        for j in 0..N_FEATURES {
            w[j] -= LR_RATE * (gw[j] / n + LR_L2 * w[j]);
            // Projected gradient: each signal may only push in its documented
            // direction, so an explanation never reads "digits made it look
            // benign" (an artefact of correlated features).
            w[j] = match SIGN[j] {
                1 => w[j].max(0.0),
                -1 => w[j].min(0.0),
                _ => w[j],
            };
        }
    }
    let params = std::array::from_fn(|j| FeatureParams {
        mean: mean[j] as f32,
        scale: sd[j] as f32,
        weight: w[j] as f32,
    });
    (bias as f32, params)
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let words: Vec<String> = serde_json::from_slice(&read_checked(&args.words, WORDS_SHA256)?)
        .map_err(|e| e.to_string())?;
    let email: Vec<String> = serde_json::from_slice(&read_checked(&args.email, EMAIL_SHA256)?)
        .map_err(|e| e.to_string())?;
    let tracker: serde_json::Value =
        serde_json::from_slice(&read_checked(&args.trackerdb, TRACKERDB_SHA256)?)
            .map_err(|e| e.to_string())?;
    let psl_text =
        String::from_utf8(read_checked(&args.psl, PSL_SHA256)?).map_err(|e| e.to_string())?;

    let tracker_domains: Vec<String> = tracker
        .get("domains")
        .and_then(|d| d.as_object())
        .ok_or("trackerdb.json has no domains object")?
        .keys()
        .cloned()
        .collect();
    let mut psl_labels = BTreeSet::new();
    for line in psl_text.lines() {
        let rule = line.trim().trim_start_matches("*.").trim_start_matches('!');
        if rule.is_empty() || rule.starts_with("//") || !rule.is_ascii() {
            continue;
        }
        let labels: Vec<&str> = rule.split('.').collect();
        for l in labels.iter().take(labels.len().saturating_sub(1)) {
            if let Some(c) = clean_label(l) {
                psl_labels.insert(c);
            }
        }
    }
    let mut domain_labels = BTreeSet::new();
    for d in email.iter().chain(&tracker_domains) {
        if let Some(l) = owner(d) {
            domain_labels.insert(l);
        }
    }
    domain_labels.extend(psl_labels.iter().cloned());
    let word_labels: BTreeSet<String> = words.iter().filter_map(|w| clean_label(w)).collect();

    // Deterministic splits by content hash: the n-gram table, the logistic
    // regression and the threshold calibration each see disjoint benign names.
    let split = |s: &str, m: u64| fnv1a(s.as_bytes()) % m;
    let mut counts = Counts::new();
    let (mut lr_benign, mut cal_benign) = (Vec::new(), Vec::new());
    let mut n_ngram_domains = 0usize;
    for l in &domain_labels {
        match split(l, 3) {
            0 => {
                counts.add(l, DOMAIN_LABEL_WEIGHT);
                n_ngram_domains += 1;
            }
            1 => lr_benign.push(l.clone()),
            _ => cal_benign.push(l.clone()),
        }
    }
    let mut n_ngram_words = 0usize;
    let mut n_lr_words = 0usize;
    for w in &word_labels {
        match split(w, 50) {
            0..=39 => {
                counts.add(w, 1.0);
                n_ngram_words += 1;
            }
            40 => {
                lr_benign.push(w.clone());
                n_lr_words += 1;
            }
            _ => {}
        }
    }
    let table = SurprisalTable::new(counts.table(), MAX_BITS / 255.0).map_err(|e| e.to_string())?;

    let mut rng = Rng(SEED);
    let positives = synthetic_positives(&mut rng, POSITIVES_PER_GENERATOR);
    let held_out_positives = synthetic_positives(&mut rng, POSITIVES_PER_GENERATOR / 5);
    let mut x = Vec::new();
    let mut y = Vec::new();
    for l in &lr_benign {
        x.push(table.features(l));
        y.push(false);
    }
    for l in &positives {
        x.push(table.features(l));
        y.push(true);
    }
    let (bias, features) = train_logistic(&x, &y);
    let provisional = DgaModel::from_parts(
        table.clone(),
        Logistic {
            bias,
            threshold: 0.5,
            features,
        },
    )
    .map_err(|e| e.to_string())?;

    let mut cal: Vec<f32> = cal_benign
        .iter()
        .map(|l| provisional.score_label(l).probability)
        .collect();
    cal.sort_by(|a, b| b.total_cmp(a));
    let k = (TARGET_FPR * cal.len() as f64).floor() as usize;
    let kth = cal.get(k).copied().unwrap_or(0.5);
    let threshold = f32::from_bits(kth.to_bits() + 1).clamp(1e-6, 1.0 - 1e-6);
    let model = DgaModel::from_parts(
        table,
        Logistic {
            bias,
            threshold,
            features,
        },
    )
    .map_err(|e| e.to_string())?;
    let cal_fp = cal.iter().filter(|p| **p >= threshold).count();
    let held_recall = held_out_positives
        .iter()
        .filter(|l| model.score_label(l).flagged)
        .count() as f64
        / held_out_positives.len() as f64;

    let bytes = model.to_bytes();
    std::fs::create_dir_all(&args.out).map_err(|e| e.to_string())?;
    std::fs::write(args.out.join("dga.bin"), &bytes).map_err(|e| e.to_string())?;
    let feature_json: Vec<serde_json::Value> = FEATURE_NAMES
        .iter()
        .zip(&features)
        .map(|(n, f)| {
            serde_json::json!({"name": n, "mean": f.mean, "scale": f.scale, "weight": f.weight})
        })
        .collect();
    let meta = serde_json::json!({
        "format": "NJDGA v1: magic, alphabet=38, order=3, n_features=8, f32 bits_per_step/bias/threshold, 8x(mean,scale,weight), 38^3 u8 surprisal table, fnv1a64 checksum (little-endian)",
        "trained": args.date,
        "trainer": "core/detect/src/bin/train_dga.rs (tools/train_dga.sh)",
        "model_bytes": bytes.len(),
        "model_fnv1a64": format!("{:016x}", fnv1a(&bytes)),
        "sources": [
            {"name": "an-array-of-english-words", "registry": "npm", "version": "2.0.0", "file": "index.json", "sha256": WORDS_SHA256, "labels": word_labels.len()},
            {"name": "email-providers", "registry": "npm", "version": "2.26.0", "file": "all.json", "sha256": EMAIL_SHA256, "domains": email.len()},
            {"name": "@ghostery/trackerdb", "registry": "npm", "version": "1.0.945", "file": "dist/trackerdb.json", "sha256": TRACKERDB_SHA256, "domains": tracker_domains.len()},
            {"name": "psl", "registry": "crates", "version": "2.1.247", "file": "data/rules.txt", "sha256": PSL_SHA256, "labels": psl_labels.len()}
        ],
        "splits": {
            "ngram_domain_labels": n_ngram_domains,
            "ngram_words": n_ngram_words,
            "logistic_benign": lr_benign.len(),
            "logistic_benign_words": n_lr_words,
            "logistic_positives": positives.len(),
            "calibration_benign": cal_benign.len()
        },
        "positives": "synthetic, seed 0x6e696768746a6172: uniform a-z strings of length 5-24 and 7-24, uniform a-z0-9 of length 8-30; weights sign-constrained (see SIGN); no DGA family algorithm and no fixture data used, so all evaluation families are held out",
        "hyper_parameters": {
            "order": 3, "lambda3": LAMBDA3, "lambda2": LAMBDA2, "lambda1": LAMBDA1,
            "unigram_add_k": ADD_K, "domain_label_weight": DOMAIN_LABEL_WEIGHT,
            "max_bits": MAX_BITS, "lr_iterations": LR_ITERS, "lr_rate": LR_RATE, "lr_l2": LR_L2,
            "class_balanced": true
        },
        "logistic": {"bias": bias, "features": feature_json},
        "threshold": threshold,
        "threshold_target_fpr": TARGET_FPR,
        "calibration_false_positives": cal_fp,
        "held_out_synthetic_recall": held_recall
    });
    let text = serde_json::to_string_pretty(&meta).map_err(|e| e.to_string())?;
    std::fs::write(args.out.join("dga.json"), text + "\n").map_err(|e| e.to_string())?;
    println!(
        "model {} bytes (limit {}), threshold {threshold:.6}, calibration FP {cal_fp}/{}, synthetic recall {held_recall:.4}",
        bytes.len(),
        MODEL_LEN,
        cal.len()
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("train_dga: {e}");
            ExitCode::FAILURE
        }
    }
}
