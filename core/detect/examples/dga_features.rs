//! Prints, for every domain in the given lists, the list, the label the model
//! scores, the model's logit and the feature vector (tab-separated): the
//! input for comparing combiners offline and for reading the benign tail.
//!
//! `cargo run --release -p nightjar-detect --example dga_features -- MODEL LIST...`
#![allow(clippy::print_stdout)]

use std::path::PathBuf;

use nightjar_detect::dga::{DgaModel, FEATURE_NAMES, candidate_labels};
use nightjar_detect::{domain, eval};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model = DgaModel::from_bytes(&std::fs::read(args.next().ok_or("MODEL LIST...")?)?)?;
    println!("list\tname\tlabel\tlogit\t{}", FEATURE_NAMES.join("\t"));
    for list in args.map(PathBuf::from) {
        let stem = list.file_stem().map(|s| s.to_string_lossy().into_owned());
        for name in eval::load_domain_list(&list)? {
            let Some(n) = domain::normalize(&name) else {
                continue;
            };
            // The label the model scores: the more generated-looking candidate.
            let label = candidate_labels(&n)
                .into_iter()
                .flatten()
                .max_by(|a, b| model.label_logit(a).total_cmp(&model.label_logit(b)))
                .unwrap_or("");
            let x = model.features(label);
            let xs: Vec<String> = x.iter().map(|v| format!("{v:?}")).collect();
            println!(
                "{}\t{name}\t{label}\t{}\t{}",
                stem.as_deref().unwrap_or("?"),
                model.logit(&name),
                xs.join("\t")
            );
        }
    }
    Ok(())
}
