//! Feed compilation and intel answers in FFI form.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use nightjar_intel::{ListKind, Match, Verdict as IntelCoreVerdict};

use crate::error::Result;
use crate::panic_guard::guard;
use crate::records::{CompileReport, FeedReport, IntelOutcome, IntelVerdict};

/// Compiles blocklists `paths` and allowlists `allow` (each `PATH` or `NAME=PATH`) into the
/// index file `out`, replaced atomically (a running engine picks it up with `reload_intel`).
/// Any feed error aborts before `out` is touched. Slow for large feeds: call it off the UI
/// thread.
#[uniffi::export]
pub fn compile_feeds(paths: Vec<String>, allow: Vec<String>, out: String) -> Result<CompileReport> {
    guard(|| {
        let paths: Vec<PathBuf> = paths.into_iter().map(PathBuf::from).collect();
        let allow: Vec<PathBuf> = allow.into_iter().map(PathBuf::from).collect();
        // The index records its build time; this is an edge, so the wall clock is fair to read.
        let now_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        let summary = nightjar_intel::compile_feeds(&paths, &allow, Path::new(&out), now_us)?;
        Ok(CompileReport {
            feeds: summary
                .feeds
                .iter()
                .map(|f| FeedReport {
                    name: f.name.clone(),
                    version: f.version.clone(),
                    allow: f.list == ListKind::Allow,
                    format: format!("{:?}", f.format),
                    accepted: f.report.accepted,
                    skipped: f.report.skipped_total,
                })
                .collect(),
            domain_entries: summary.stats.domain_entries,
            ipv4_entries: summary.stats.ipv4_entries,
            ipv6_entries: summary.stats.ipv6_entries,
            other_entries: summary.stats.other_entries,
            file_bytes: summary.stats.file_bytes,
        })
    })
}

/// The FFI form of an intel verdict.
pub(crate) fn intel_verdict(v: &IntelCoreVerdict) -> IntelVerdict {
    let (outcome, m): (IntelOutcome, Option<&Match>) = match v {
        IntelCoreVerdict::Allowed(m) => (IntelOutcome::Allowed, Some(m)),
        IntelCoreVerdict::Blocked(m) => (IntelOutcome::Blocked, Some(m)),
        _ => (IntelOutcome::Clean, None),
    };
    IntelVerdict {
        outcome,
        indicator: m.map(|m| m.indicator.to_string()),
        feed: m.map(|m| m.provenance.feed.clone()),
        indicator_id: m.map(|m| m.provenance.indicator_id.clone()),
        severity: m.map(|m| m.provenance.severity.to_string()),
        category: m.and_then(|m| m.provenance.category.clone()),
        family: m.and_then(|m| m.provenance.family.clone()),
    }
}
