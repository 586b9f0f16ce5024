//! `nightjar intel compile|lookup`, and the intel marks `replay --intel` adds
//! to conn.log and dns.log.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use nightjar_intel::{Index, Verdict};
use serde::Serialize;

use crate::error::CliError;

/// Wall-clock now in µs, for indicator validity windows at the command line.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Compile `feeds` (and allowlists) into `out`, printing what each feed gave.
pub fn compile(feeds: &[PathBuf], allow: &[PathBuf], out: &Path) -> Result<String, CliError> {
    Ok(compile_with_summary(feeds, allow, out)?.0)
}

/// [`compile`], also returning what each feed gave (for `compile --db`).
pub fn compile_with_summary(
    feeds: &[PathBuf],
    allow: &[PathBuf],
    out: &Path,
) -> Result<(String, nightjar_intel::CompileSummary), CliError> {
    let summary = nightjar_intel::compile_feeds(feeds, allow, out, now_us())?;
    let mut text = String::new();
    for f in &summary.feeds {
        let r = &f.report;
        text.push_str(&format!(
            "{:<28} {:?}/{:?} {}: {} accepted, {} ignored, {} skipped\n",
            f.name,
            f.list,
            f.format,
            f.version.as_deref().unwrap_or("(no version)"),
            r.accepted,
            r.ignored,
            r.skipped_total
        ));
        for s in r.skipped.iter().take(5) {
            text.push_str(&format!(
                "    {}:{}: skipped: {:?}\n",
                s.file, s.line, s.reason
            ));
        }
        if r.skipped_total > 5 {
            text.push_str(&format!("    … and {} more skipped\n", r.skipped_total - 5));
        }
    }
    let st = &summary.stats;
    text.push_str(&format!(
        "{}: {} domain, {} IPv4, {} IPv6 and {} other indicators from {} feeds; {} bytes ({} in the filter)\n",
        out.display(),
        st.domain_entries,
        st.ipv4_entries,
        st.ipv6_entries,
        st.other_entries,
        st.feeds,
        st.file_bytes,
        st.filter_bytes
    ));
    Ok((text, summary))
}

/// Look a name or address up in an index.
pub fn lookup(index: &Path, query: &str) -> Result<String, CliError> {
    Ok(nightjar_intel::lookup(index, query, now_us())?.to_string())
}

/// What `--intel` adds to a log line when an indicator matches.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IntelMark {
    /// `blocked` or `allowed`.
    pub verdict: &'static str,
    /// The value that matched (the flow's name, an address, a DNS answer).
    pub value: String,
    /// The listed indicator (a domain suffix, or an address or network).
    pub indicator: String,
    /// Feed name.
    pub feed: String,
    /// Feed version or date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feed_version: Option<String>,
    /// STIX id, or `file:line`.
    pub indicator_id: String,
    /// Category or label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Malware family.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Severity.
    pub severity: String,
}

fn mark(value: &str, v: Verdict) -> Option<IntelMark> {
    let (verdict, m) = match v {
        Verdict::Blocked(m) => ("blocked", m),
        Verdict::Allowed(m) => ("allowed", m),
        _ => return None,
    };
    let p = &m.provenance;
    Some(IntelMark {
        verdict,
        value: value.to_string(),
        indicator: m.indicator.to_string(),
        feed: p.feed.to_string(),
        feed_version: p.feed_version.as_ref().map(|v| v.to_string()),
        indicator_id: p.indicator_id.to_string(),
        category: p.category.as_ref().map(|v| v.to_string()),
        family: p.family.as_ref().map(|v| v.to_string()),
        severity: p.severity.to_string(),
    })
}

/// The first match among a name and addresses: names first, since a domain
/// indicator is more specific evidence than an address.
pub fn check(index: &Index, now_us: u64, names: &[&str], ips: &[IpAddr]) -> Option<IntelMark> {
    names
        .iter()
        .find_map(|n| mark(n, index.lookup_domain(n, now_us)))
        .or_else(|| {
            ips.iter()
                .find_map(|ip| mark(&ip.to_string(), index.lookup_ip(*ip, now_us)))
        })
}
