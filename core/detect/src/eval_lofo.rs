//! Leave-family-out evaluation of the DGA model
//! (`nightjar eval dga --leave-family-out DIR`): each family's list is scored
//! by a model trained without that family (`DIR/<family>/dga.bin`, written by
//! `core/detect/tools/leave_family_out.sh`), against the benign lists, and
//! the rows are pooled by how the family builds its labels.
//!
//! Tooling: reads files, never on the packet path.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::dga::DgaModel;
use crate::dga_families::{FAMILIES, Style};
use crate::eval::{EvalError, FIXED_FPRS, load_domain_list, recall_at_fpr, roc_auc};

/// How a family builds its labels; rows are pooled by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LabelStyle {
    /// Letters or alphanumerics drawn at random (conficker, tinba, zeus, …).
    RandomCharacter,
    /// Consonant/vowel syllables (pushdo, simda, symmi).
    Pronounceable,
    /// Dictionary words (matsnu, suppobox, gozi, banjori).
    Wordlist,
}

impl LabelStyle {
    /// The style of a trainer family.
    pub fn of(style: &Style) -> Self {
        match style {
            Style::Chars(..) | Style::LetterHex(_) => Self::RandomCharacter,
            Style::Syllables { .. } => Self::Pronounceable,
            Style::Words { .. } | Style::Banjori { .. } => Self::Wordlist,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::RandomCharacter => "random-character",
            Self::Pronounceable => "pronounceable",
            Self::Wordlist => "wordlist",
        }
    }
}

/// The trainer family a list file is about: its stem without a `_<count>`
/// suffix, with the fixtures' short names mapped (`zeus` is
/// `gameover_zeus`).
pub fn family_of(path: &Path) -> Option<&'static str> {
    let stem = path.file_stem()?.to_str()?;
    let base = match stem.rsplit_once('_') {
        Some((head, tail)) if tail.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => stem,
    };
    let base = if base == "zeus" {
        "gameover_zeus"
    } else {
        base
    };
    FAMILIES.iter().find(|f| f.name == base).map(|f| f.name)
}

/// One list scored by the model trained without its family.
#[derive(Debug, Clone, PartialEq)]
pub struct LofoRow {
    /// The list (parent folder and stem).
    pub list: String,
    /// The family held out.
    pub family: &'static str,
    /// Its label style.
    pub style: LabelStyle,
    /// Domains scored.
    pub count: usize,
    /// Recall at 1%, 0.1% and 0.01% FPR on the benign lists, each under the
    /// held-out model's own benign scores.
    pub recall_at_fpr: [f64; 3],
    /// ROC AUC against the benign lists.
    pub auc: f64,
}

/// Result of [`eval_leave_family_out`].
#[derive(Debug, Clone, PartialEq)]
pub struct LofoEval {
    /// One row per list that has a held-out model.
    pub rows: Vec<LofoRow>,
    /// Lists skipped: no trainer family, or no model for it.
    pub skipped: Vec<String>,
    /// Benign domains.
    pub benign_count: usize,
}

/// Scores each positive list with `models/<family>/dga.bin`.
pub fn eval_leave_family_out(
    models: &Path,
    positives: &[PathBuf],
    benign: &[PathBuf],
) -> Result<LofoEval, EvalError> {
    let mut benign_names = Vec::new();
    for p in benign {
        benign_names.extend(load_domain_list(p)?);
    }
    if benign_names.is_empty() {
        return Err(EvalError::NoBenign);
    }
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    // Benign scores per model, computed once per family.
    let mut neg_cache: BTreeMap<&str, Vec<f32>> = BTreeMap::new();
    for p in positives {
        let list = match (p.parent().and_then(Path::file_name), p.file_stem()) {
            (Some(dir), Some(stem)) => {
                format!("{}/{}", dir.to_string_lossy(), stem.to_string_lossy())
            }
            _ => p.display().to_string(),
        };
        let Some(family) = family_of(p) else {
            skipped.push(format!("{list} (no trainer family)"));
            continue;
        };
        let model_path = models.join(family).join("dga.bin");
        let Some(model) = std::fs::read(&model_path)
            .ok()
            .and_then(|b| DgaModel::from_bytes(&b).ok())
        else {
            skipped.push(format!("{list} (no model at {})", model_path.display()));
            continue;
        };
        let neg = neg_cache
            .entry(family)
            .or_insert_with(|| benign_names.iter().map(|d| model.logit(d)).collect());
        let pos: Vec<f32> = load_domain_list(p)?
            .iter()
            .map(|d| model.logit(d))
            .collect();
        let style = FAMILIES
            .iter()
            .find(|f| f.name == family)
            .map_or(LabelStyle::RandomCharacter, |f| LabelStyle::of(&f.style));
        rows.push(LofoRow {
            list,
            family,
            style,
            count: pos.len(),
            recall_at_fpr: FIXED_FPRS.map(|f| recall_at_fpr(&pos, neg, f)),
            auc: roc_auc(&pos, neg),
        });
    }
    Ok(LofoEval {
        rows,
        skipped,
        benign_count: benign_names.len(),
    })
}

impl LofoEval {
    /// Rows pooled by style: recall weighted by list size (each list at its
    /// own model's thresholds), AUC weighted the same way.
    pub fn by_style(&self) -> Vec<(LabelStyle, usize, [f64; 3], f64)> {
        let mut pooled: BTreeMap<LabelStyle, (usize, [f64; 3], f64)> = BTreeMap::new();
        for r in &self.rows {
            let e = pooled.entry(r.style).or_insert((0, [0.0; 3], 0.0));
            let n = r.count as f64;
            e.0 += r.count;
            for (acc, v) in e.1.iter_mut().zip(r.recall_at_fpr) {
                *acc += v * n;
            }
            e.2 += r.auc * n;
        }
        pooled
            .into_iter()
            .map(|(s, (n, rec, auc))| {
                let d = n.max(1) as f64;
                (s, n, rec.map(|v| v / d), auc / d)
            })
            .collect()
    }
}

impl fmt::Display for LofoEval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "leave-family-out: each list scored by a model trained without its family; benign domains: {}",
            self.benign_count
        )?;
        writeln!(
            f,
            "{:<28} {:<17} {:>6} {:>9} {:>9} {:>9} {:>7}",
            "list (family held out)", "style", "n", "R@1%", "R@0.1%", "R@0.01%", "AUC"
        )?;
        let line = |f: &mut fmt::Formatter<'_>,
                    name: &str,
                    style: &str,
                    n: usize,
                    r: [f64; 3],
                    auc: f64| {
            writeln!(
                f,
                "{:<28} {:<17} {:>6} {:>8.2}% {:>8.2}% {:>8.2}% {:>7.4}",
                name,
                style,
                n,
                r[0] * 100.0,
                r[1] * 100.0,
                r[2] * 100.0,
                auc
            )
        };
        let mut rows: Vec<&LofoRow> = self.rows.iter().collect();
        rows.sort_by_key(|r| r.style);
        for r in rows {
            line(f, &r.list, r.style.name(), r.count, r.recall_at_fpr, r.auc)?;
        }
        for (style, n, r, auc) in self.by_style() {
            line(f, &format!("all {}", style.name()), style.name(), n, r, auc)?;
        }
        for s in &self.skipped {
            writeln!(f, "skipped: {s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_names_map_to_trainer_families() {
        for (path, family) in [
            ("dga/andrewaeva/zeus_1000.txt", Some("gameover_zeus")),
            ("dga/andrewaeva/conficker_1000.txt", Some("conficker")),
            ("dga/maltrail/tinba.txt", Some("tinba")),
            ("dga/maltrail/matsnu.txt", Some("matsnu")),
            ("dga/x/unknown.txt", None),
        ] {
            assert_eq!(family_of(Path::new(path)), family, "{path}");
        }
        let style = |n: &str| LabelStyle::of(&FAMILIES.iter().find(|f| f.name == n).unwrap().style);
        assert_eq!(style("tinba"), LabelStyle::RandomCharacter);
        assert_eq!(style("dyre"), LabelStyle::RandomCharacter);
        assert_eq!(style("pushdo"), LabelStyle::Pronounceable);
        assert_eq!(style("banjori"), LabelStyle::Wordlist);
    }

    #[test]
    fn pools_rows_by_style_weighted_by_size() {
        let row = |style, count, r: f64, auc| LofoRow {
            list: String::new(),
            family: "x",
            style,
            count,
            recall_at_fpr: [r; 3],
            auc,
        };
        let e = LofoEval {
            rows: vec![
                row(LabelStyle::RandomCharacter, 100, 1.0, 1.0),
                row(LabelStyle::RandomCharacter, 300, 0.5, 0.9),
                row(LabelStyle::Wordlist, 10, 0.0, 0.5),
            ],
            skipped: vec![],
            benign_count: 5,
        };
        let pooled = e.by_style();
        assert_eq!(pooled.len(), 2);
        let (s, n, r, auc) = pooled[0];
        assert_eq!((s, n), (LabelStyle::RandomCharacter, 400));
        assert!((r[1] - 0.625).abs() < 1e-12);
        assert!((auc - 0.925).abs() < 1e-12);
        assert!(e.to_string().contains("all random-character"));
    }
}
