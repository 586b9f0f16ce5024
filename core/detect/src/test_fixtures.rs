//! Locates third-party fixtures for tests (`$NIGHTJAR_FIXTURES`, else the
//! shared folder beside the repository).

use std::path::PathBuf;

/// The fixture directory, or `None` after printing a visible skip line.
pub fn dir() -> Option<PathBuf> {
    let dir = std::env::var_os("NIGHTJAR_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/fixtures"
            ))
        });
    if dir.join("dga").is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: fixtures not found at {}", dir.display());
        None
    }
}
