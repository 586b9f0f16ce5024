//! `nightjar report` and `nightjar demo --report`: the analyst's HTML page.

use std::path::Path;
use std::time::Duration;

use nightjar_report::ReportOptions;
use nightjar_store::Store;

use crate::CliError;

/// Writes the report of the database at `db` to `out`; returns its size.
pub fn write(db: &Path, options: &ReportOptions, out: &Path) -> Result<usize, CliError> {
    if !db.exists() {
        return Err(CliError::io(db)(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such database",
        )));
    }
    let store = Store::open_reader(db, Duration::from_secs(5))?;
    let html = nightjar_report::render(&store, options)?;
    std::fs::write(out, &html).map_err(CliError::io(out))?;
    Ok(html.len())
}
