//! The two operations the CLI exposes: compile feeds into an index, and look a name or address up.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::compile::IndexBuilder;
use crate::error::IntelError;
use crate::feed::{FeedFormat, FeedOptions, load_feed};
use crate::index::{Index, IndexStats};
use crate::indicator::ListKind;
use crate::report::LoadReport;
use crate::verdict::Verdict;

/// What one feed contributed to a compiled index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedSummary {
    /// Feed name.
    pub name: String,
    /// Version or date, if known.
    pub version: Option<String>,
    /// Block or allow list.
    pub list: ListKind,
    /// Detected format.
    pub format: FeedFormat,
    /// Accepted / skipped entries.
    pub report: LoadReport,
}

/// The result of [`compile_feeds`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileSummary {
    /// One entry per feed, blocklists first.
    pub feeds: Vec<FeedSummary>,
    /// The written index.
    pub stats: IndexStats,
}

/// Splits a `NAME=PATH` argument; a plain path is named after its file stem.
pub fn feed_name_and_path(arg: &Path) -> Result<(String, PathBuf), IntelError> {
    let s = arg.to_string_lossy();
    if let Some((name, path)) = s.split_once('=')
        && !name.contains(['/', '\\'])
    {
        if name.is_empty() || path.is_empty() {
            return Err(IntelError::InvalidArgument(s.into_owned()));
        }
        return Ok((name.to_owned(), PathBuf::from(path)));
    }
    let stem = arg
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| IntelError::InvalidArgument(s.clone().into_owned()))?;
    Ok((stem, arg.to_owned()))
}

/// Loads blocklists `paths` and allowlists `allow` (each `PATH` or `NAME=PATH`), compiles them
/// and atomically replaces `out`. Any feed error aborts before `out` is touched.
pub fn compile_feeds(
    paths: &[PathBuf],
    allow: &[PathBuf],
    out: &Path,
    now_us: u64,
) -> Result<CompileSummary, IntelError> {
    let mut builder = IndexBuilder::new();
    let mut feeds = Vec::new();
    for (list, args) in [(ListKind::Block, paths), (ListKind::Allow, allow)] {
        for arg in args {
            let (name, path) = feed_name_and_path(arg)?;
            let mut opts = FeedOptions::new(&name);
            opts.list = list;
            let feed = load_feed(&path, &opts)?;
            builder.add_feed(&feed)?;
            feeds.push(FeedSummary {
                name: feed.name,
                version: feed.version,
                list,
                format: feed.format,
                report: feed.report,
            });
        }
    }
    let stats = builder.write_to(out, now_us)?;
    Ok(CompileSummary { feeds, stats })
}

/// The answer to [`lookup`]; `Display` prints it for humans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupAnswer {
    /// The query as given.
    pub query: String,
    /// The verdict.
    pub verdict: Verdict,
}

impl fmt::Display for LookupAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.query, self.verdict)
    }
}

/// Opens `index` and looks `query` up: an IP address, or a domain / URL / `host:port`.
pub fn lookup(index: &Path, query: &str, now_us: u64) -> Result<LookupAnswer, IntelError> {
    let idx = Index::open(index)?;
    let q = query.trim();
    let verdict = match q.parse::<IpAddr>() {
        Ok(ip) => idx.lookup_ip(ip, now_us),
        Err(_) => match crate::normalize::normalize_host(q) {
            Ok(crate::normalize::Host::Ip(ip)) => idx.lookup_ip(ip, now_us),
            Ok(crate::normalize::Host::Domain(d)) => idx.lookup_domain(&d, now_us),
            Err(_) => Verdict::Clean,
        },
    };
    Ok(LookupAnswer {
        query: query.to_owned(),
        verdict,
    })
}
