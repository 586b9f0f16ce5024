//! `nightjar eval`: precision, recall and false-positive rates of the
//! detectors on labelled data, so a security team can check the claims.

use std::path::{Path, PathBuf};

use nightjar_detect::{
    BeaconEvalConfig, DgaModel, InfectionEvalConfig, PeriodGate, eval_beacon, eval_dga,
    eval_infection,
};

use crate::error::CliError;

/// Every list under `dir` (recursively) whose name ends in one of `exts`.
fn lists(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| exts.iter().any(|x| n.ends_with(x)))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The DGA detector on the given labelled lists.
pub fn dga(positives: &[PathBuf], benign: &[PathBuf]) -> Result<String, CliError> {
    dga_with_model(positives, benign, None)
}

/// The DGA detector on the given labelled lists, with the shipped model or one
/// loaded from `model` (a `dga.bin` written by the trainer, e.g. one trained
/// with some families held out).
pub fn dga_with_model(
    positives: &[PathBuf],
    benign: &[PathBuf],
    model: Option<&Path>,
) -> Result<String, CliError> {
    Ok(eval_dga(&load_model(model)?, positives, benign)?.to_string())
}

/// Leave-family-out: each list scored by the model in `models/<family>/`
/// trained without its family.
pub fn dga_leave_family_out(
    models: &Path,
    positives: &[PathBuf],
    benign: &[PathBuf],
) -> Result<String, CliError> {
    Ok(nightjar_detect::eval_leave_family_out(models, positives, benign)?.to_string())
}

/// The shipped DGA model, or one a trainer wrote.
fn load_model(model: Option<&Path>) -> Result<DgaModel, CliError> {
    Ok(match model {
        None => DgaModel::builtin()?,
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|source| CliError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            DgaModel::from_bytes(&bytes)?
        }
    })
}

/// The per-app infection verdict on simulated infected apps (every family
/// the trainer generates) and benign app-days.
pub fn dga_infection(
    model: Option<&Path>,
    infected_per_family: usize,
    benign_app_days: usize,
    seed: Option<u64>,
) -> Result<String, CliError> {
    let mut config = InfectionEvalConfig {
        infected_per_family,
        benign_app_days,
        ..InfectionEvalConfig::default()
    };
    if let Some(seed) = seed {
        config.seed = seed;
    }
    Ok(eval_infection(&load_model(model)?, &config).to_string())
}

/// The DGA detector on the fixtures' DGA families against their benign lists.
pub fn dga_fixtures(fixtures: &Path) -> Result<String, CliError> {
    let positives = lists(&fixtures.join("dga"), &[".txt"]);
    let benign = [lists(&fixtures.join("benign"), &[".csv", ".json"])].concat();
    if positives.is_empty() || benign.is_empty() {
        return Ok(format!(
            "SKIPPED dga: no lists under {}",
            fixtures.display()
        ));
    }
    dga(&positives, &benign)
}

/// The beaconing detector on generated traffic, per family: the production
/// gate, then the gates it was chosen over on the same cases.
pub fn beacon(seed: u64) -> String {
    [
        PeriodGate::Peak,
        PeriodGate::Fold,
        PeriodGate::Coherence,
        PeriodGate::Off,
    ]
    .into_iter()
    .map(|gate| {
        let cfg = BeaconEvalConfig {
            gate,
            ..BeaconEvalConfig::default()
        };
        eval_beacon(seed, &cfg).to_string()
    })
    .collect::<Vec<_>>()
    .join("")
}
