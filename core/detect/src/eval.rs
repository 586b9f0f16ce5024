//! Detector evaluation: metrics over scored positives/negatives, loaders for
//! labelled domain lists, and the DGA evaluation the CLI prints
//! (`nightjar eval dga --positives FILE... --benign FILE...`).
//!
//! This module reads files; it is tooling, never on the packet path.

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::dga::DgaModel;
use crate::domain;

/// The false-positive rates at which recall is reported.
pub const FIXED_FPRS: [f64; 3] = [0.01, 0.001, 0.0001];

/// Why an evaluation could not run.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EvalError {
    /// A list file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A list yielded no usable domain.
    #[error("{0} contains no domains")]
    Empty(PathBuf),
    /// No benign names to set thresholds with.
    #[error("no benign domains given")]
    NoBenign,
}

/// Confusion counts at one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Confusion {
    /// Positives flagged.
    pub tp: usize,
    /// Negatives flagged.
    pub fp: usize,
    /// Negatives not flagged.
    pub tn: usize,
    /// Positives missed.
    pub fn_: usize,
}

impl Confusion {
    /// Counts with "flagged" meaning `score >= threshold`.
    pub fn at(positives: &[f32], negatives: &[f32], threshold: f32) -> Self {
        let tp = positives.iter().filter(|s| **s >= threshold).count();
        let fp = negatives.iter().filter(|s| **s >= threshold).count();
        Self {
            tp,
            fp,
            tn: negatives.len() - fp,
            fn_: positives.len() - tp,
        }
    }
    /// TP / (TP + FP); 1 when nothing was flagged.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp, 1.0)
    }
    /// TP / (TP + FN) (true-positive rate).
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_, 0.0)
    }
    /// FP / (FP + TN).
    pub fn fpr(&self) -> f64 {
        ratio(self.fp, self.fp + self.tn, 0.0)
    }
}

fn ratio(a: usize, b: usize, empty: f64) -> f64 {
    if b == 0 { empty } else { a as f64 / b as f64 }
}

/// The lowest threshold whose false-positive rate on `negatives` is at most
/// `max_fpr` (flagged means `score >= threshold`).
pub fn threshold_at_fpr(negatives: &[f32], max_fpr: f64) -> f32 {
    let mut sorted: Vec<f32> = negatives.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let allowed = (max_fpr * sorted.len() as f64).floor() as usize;
    match sorted.get(allowed) {
        // Just above the first negative that must not be flagged.
        Some(&s) => next_up(s),
        None => f32::NEG_INFINITY,
    }
}

fn next_up(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f32::from_bits(1);
    }
    let bits = x.to_bits();
    if x > 0.0 {
        f32::from_bits(bits + 1)
    } else {
        f32::from_bits(bits - 1)
    }
}

/// Recall achieved at the threshold that keeps FPR ≤ `max_fpr`.
pub fn recall_at_fpr(positives: &[f32], negatives: &[f32], max_fpr: f64) -> f64 {
    Confusion::at(positives, negatives, threshold_at_fpr(negatives, max_fpr)).recall()
}

/// Area under the ROC curve: the probability that a random positive scores
/// above a random negative (ties count half), by rank sum.
pub fn roc_auc(positives: &[f32], negatives: &[f32]) -> f64 {
    if positives.is_empty() || negatives.is_empty() {
        return f64::NAN;
    }
    let mut all: Vec<(f32, bool)> = positives
        .iter()
        .map(|s| (*s, true))
        .chain(negatives.iter().map(|s| (*s, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while all
            .get(j + 1)
            .is_some_and(|n| n.0 == all.get(i).map_or(n.0, |c| c.0))
        {
            j += 1;
        }
        // Average 1-based rank of the tie group.
        let avg = (i + j) as f64 / 2.0 + 1.0;
        let pos_in_group = all
            .get(i..=j)
            .map_or(0, |g| g.iter().filter(|e| e.1).count());
        rank_sum += avg * pos_in_group as f64;
        i = j + 1;
    }
    let (np, nn) = (positives.len() as f64, negatives.len() as f64);
    (rank_sum - np * (np + 1.0) / 2.0) / (np * nn)
}

/// Extracts bare domains from a labelled list: one domain per line,
/// `rank,domain` CSV, hosts-style `0.0.0.0 domain`, or maltrail trail files
/// where some lines are URLs or `IP:port` (those are dropped). `#` comments
/// and blank lines are ignored; a JSON array of `{"rootDomain": …}` or of
/// strings (npm `top-sites`) is read too.
pub fn parse_domain_list(text: &str) -> Vec<String> {
    if text.trim_start().starts_with('[') {
        return parse_json_domains(text);
    }
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or("").trim();
            let field = line.rsplit([',', ' ', '\t']).next().unwrap_or("").trim();
            bare_domain(field)
        })
        .collect()
}

fn parse_json_domains(text: &str) -> Vec<String> {
    // Tiny scan instead of a JSON dependency: take every string value that is a
    // bare domain, preferring `rootDomain` fields when present.
    let mut out = Vec::new();
    let has_root = text.contains("\"rootDomain\"");
    let mut rest = text;
    while let Some(start) = rest.find('"') {
        let after = rest.get(start + 1..).unwrap_or("");
        let Some(end) = after.find('"') else { break };
        let s = after.get(..end).unwrap_or("");
        let tail = after.get(end + 1..).unwrap_or("");
        let is_key = tail.trim_start().starts_with(':');
        if is_key {
            if has_root && s == "rootDomain" {
                let v = tail.trim_start().trim_start_matches(':').trim_start();
                if let Some(v) = v.strip_prefix('"')
                    && let Some(e) = v.find('"')
                    && let Some(d) = v.get(..e).and_then(bare_domain)
                {
                    out.push(d);
                }
            }
        } else if !has_root && let Some(d) = bare_domain(s) {
            out.push(d);
        }
        rest = tail;
    }
    out
}

/// A bare domain name, or `None` for URLs, IPs, `IP:port`, paths and anything
/// with characters a hostname cannot have.
pub fn bare_domain(s: &str) -> Option<String> {
    if s.contains("://") || s.contains('/') || s.contains(':') || s.contains('@') {
        return None;
    }
    let n = domain::normalize(s)?;
    let ok = n.contains('.')
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        && n.parse::<std::net::Ipv4Addr>().is_err()
        && n.rsplit('.')
            .next()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()));
    ok.then(|| n.into_owned())
}

/// Reads and parses one list file.
pub fn load_domain_list(path: &Path) -> Result<Vec<String>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let domains = parse_domain_list(&text);
    if domains.is_empty() {
        return Err(EvalError::Empty(path.to_path_buf()));
    }
    Ok(domains)
}

/// Metrics of one positive file (a DGA family) against the benign pool.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyEval {
    /// Label (the file stem, with its parent folder).
    pub name: String,
    /// Domains scored.
    pub count: usize,
    /// Recall at the model's own threshold.
    pub recall_at_model_threshold: f64,
    /// Recall at 1%, 0.1% and 0.01% FPR ([`FIXED_FPRS`]) on the benign pool.
    pub recall_at_fpr: [f64; 3],
    /// ROC AUC against the benign pool.
    pub auc: f64,
}

/// Result of [`eval_dga`].
#[derive(Debug, Clone, PartialEq)]
pub struct DgaEval {
    /// One row per positive file.
    pub families: Vec<FamilyEval>,
    /// All positives together.
    pub overall: FamilyEval,
    /// Benign domains scored.
    pub benign_count: usize,
    /// The model's threshold.
    pub model_threshold: f32,
    /// Confusion at the model's threshold, all positives together.
    pub at_model_threshold: Confusion,
    /// FPR on the benign pool at the model's threshold.
    pub benign_fpr_at_model_threshold: f64,
}

fn family(name: String, pos: &[f32], neg: &[f32], threshold: f32) -> FamilyEval {
    FamilyEval {
        name,
        count: pos.len(),
        recall_at_model_threshold: Confusion::at(pos, neg, threshold).recall(),
        recall_at_fpr: FIXED_FPRS.map(|f| recall_at_fpr(pos, neg, f)),
        auc: roc_auc(pos, neg),
    }
}

/// Scores every positive file (one row per file) and the pooled benign files.
pub fn eval_dga(
    model: &DgaModel,
    positives: &[PathBuf],
    benign: &[PathBuf],
) -> Result<DgaEval, EvalError> {
    // Ranked by logit, not probability: an f32 probability is 1.0 for every
    // logit above about 17, and those ties made recall at 0.01% FPR read 0
    // whenever a few benign names saturated. Both rank alike below that.
    let mut neg = Vec::new();
    for p in benign {
        neg.extend(load_domain_list(p)?.iter().map(|d| model.logit(d)));
    }
    if neg.is_empty() {
        return Err(EvalError::NoBenign);
    }
    let t = model.threshold_logit();
    let mut families = Vec::new();
    let mut all_pos = Vec::new();
    for p in positives {
        let scores: Vec<f32> = load_domain_list(p)?
            .iter()
            .map(|d| model.logit(d))
            .collect();
        let name = match (p.parent().and_then(Path::file_name), p.file_stem()) {
            (Some(dir), Some(stem)) => {
                format!("{}/{}", dir.to_string_lossy(), stem.to_string_lossy())
            }
            _ => p.display().to_string(),
        };
        families.push(family(name, &scores, &neg, t));
        all_pos.extend(scores);
    }
    let at = Confusion::at(&all_pos, &neg, t);
    Ok(DgaEval {
        overall: family("overall".into(), &all_pos, &neg, t),
        families,
        benign_count: neg.len(),
        model_threshold: model.threshold(),
        benign_fpr_at_model_threshold: at.fpr(),
        at_model_threshold: at,
    })
}

impl fmt::Display for DgaEval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "benign domains: {}; model threshold {:.6}: FPR {:.4}%, precision {:.4}",
            self.benign_count,
            self.model_threshold,
            self.benign_fpr_at_model_threshold * 100.0,
            self.at_model_threshold.precision()
        )?;
        writeln!(
            f,
            "{:<28} {:>6} {:>9} {:>9} {:>9} {:>9} {:>7}",
            "family", "n", "R@model", "R@1%", "R@0.1%", "R@0.01%", "AUC"
        )?;
        for row in self.families.iter().chain([&self.overall]) {
            writeln!(
                f,
                "{:<28} {:>6} {:>8.2}% {:>8.2}% {:>8.2}% {:>8.2}% {:>7.4}",
                row.name,
                row.count,
                row.recall_at_model_threshold * 100.0,
                row.recall_at_fpr[0] * 100.0,
                row.recall_at_fpr[1] * 100.0,
                row.recall_at_fpr[2] * 100.0,
                row.auc
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_metrics() {
        let c = Confusion::at(&[0.9, 0.8, 0.2], &[0.1, 0.85, 0.3, 0.0], 0.5);
        assert_eq!(
            c,
            Confusion {
                tp: 2,
                fp: 1,
                tn: 3,
                fn_: 1
            }
        );
        assert!((c.precision() - 2.0 / 3.0).abs() < 1e-12);
        assert!((c.recall() - 2.0 / 3.0).abs() < 1e-12);
        assert!((c.fpr() - 0.25).abs() < 1e-12);
    }

    #[test]
    fn threshold_respects_fpr_budget() {
        let neg: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        let t = threshold_at_fpr(&neg, 0.01);
        let fp = neg.iter().filter(|s| **s >= t).count();
        assert_eq!(fp, 10);
        let t0 = threshold_at_fpr(&neg, 0.0);
        assert_eq!(neg.iter().filter(|s| **s >= t0).count(), 0);
        let pos = [0.995f32, 0.5, 1.0];
        assert!((recall_at_fpr(&pos, &neg, 0.01) - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn auc_matches_pairwise_definition() {
        let pos = [0.9f32, 0.4, 0.4, 0.7];
        let neg = [0.1f32, 0.4, 0.8];
        let mut wins = 0.0;
        for p in pos {
            for n in neg {
                wins += if p > n {
                    1.0
                } else if p == n {
                    0.5
                } else {
                    0.0
                };
            }
        }
        let expected = wins / 12.0;
        assert!((roc_auc(&pos, &neg) - expected).abs() < 1e-12);
        assert_eq!(roc_auc(&[1.0], &[0.0]), 1.0);
        assert!(roc_auc(&[], &[0.0]).is_nan());
    }

    #[test]
    fn list_parsing_handles_all_formats() {
        let text = "# comment\n\nexample.com\n3,Foo.Example.org\n0.0.0.0 ads.bad.net\n\
                    http://evil.com/path\n1.2.3.4:8080\n10.0.0.1\nqwe.com:443\nbad_label..x\n";
        assert_eq!(
            parse_domain_list(text),
            vec!["example.com", "foo.example.org", "ads.bad.net"]
        );
        let json = r#"[{"rank":1,"rootDomain":"google.com","linkingRootDomains":5},{"rank":2,"rootDomain":"youtube.com"}]"#;
        assert_eq!(parse_domain_list(json), vec!["google.com", "youtube.com"]);
        assert_eq!(
            parse_domain_list(r#"["a.com", "b.org"]"#),
            vec!["a.com", "b.org"]
        );
    }

    #[test]
    fn fixture_dga_eval_prints_table() {
        let Some(dir) = crate::test_fixtures::dir() else {
            return;
        };
        let model = DgaModel::builtin().unwrap();
        let mut positives = Vec::new();
        for sub in ["dga/maltrail", "dga/andrewaeva"] {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(sub))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| {
                    p.extension().is_some_and(|e| e == "txt")
                        && p.file_name().is_some_and(|n| n != "README.md")
                })
                .collect();
            files.sort();
            positives.extend(files);
        }
        let benign = vec![
            dir.join("benign/npm-top-sites/top-sites.json"),
            dir.join("benign/popular-50k-odd-ranks/domains.csv"),
        ];
        let eval = eval_dga(&model, &positives, &benign).unwrap();
        eprintln!("{eval}");
        assert_eq!(eval.families.len(), 13);
        assert!(eval.benign_count > 25_000);
        let row = |n: &str| eval.families.iter().find(|f| f.name.ends_with(n)).unwrap();
        // Regression bars a little under the measured figures (families held
        // out of training: no fixture name is trained on). Long random
        // alphanumerics (zeus) separate perfectly at 0.1% FPR. The maltrail
        // lists also carry names that are not generated (`practicespecifications.biz`
        // under tinba, compromised sites under locky), which cap their AUC.
        assert!(row("zeus_1000").recall_at_fpr[1] > 0.99, "{eval}");
        assert!(row("cryptolocker_1000").recall_at_fpr[1] > 0.8, "{eval}");
        assert!(row("cryptolocker_1000").auc > 0.997, "{eval}");
        assert!(row("necurs").recall_at_fpr[1] > 0.7, "{eval}");
        assert!(row("tinba").recall_at_fpr[1] > 0.75, "{eval}");
        assert!(row("necurs").auc > 0.98, "{eval}");
        assert!(row("tinba").auc > 0.97, "{eval}");
        assert!(eval.overall.recall_at_fpr[0] > 0.7, "{eval}");
        assert!(eval.overall.recall_at_fpr[1] > 0.45, "{eval}");
        // Ranked by logit, the top of the benign pool is not a tie at 1.0:
        // zeus keeps most of its recall at 0.01% FPR.
        assert!(row("zeus_1000").recall_at_fpr[2] > 0.9, "{eval}");
        assert!(eval.overall.auc > 0.89, "{eval}");
        // The shipped threshold was calibrated for 0.1% FPR on a benign
        // calibration split (HSTS-preload, tracker and suffix-list labels);
        // on these popular-domain lists it runs higher (0.30%), because
        // their tail holds more random-looking names. Guard it from getting
        // worse.
        assert!(eval.benign_fpr_at_model_threshold <= 0.0042, "{eval}");
    }
}
