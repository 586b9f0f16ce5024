//! What a lookup answers.

use std::fmt;

use ipnet::IpNet;

use crate::indicator::{IndicatorKind, Severity};

/// The answer for one domain or address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No valid indicator matches.
    Clean,
    /// An allowlist entry matches; it wins over any block.
    Allowed(Match),
    /// A blocklist entry matches and no allow entry does.
    Blocked(Match),
}

impl Verdict {
    /// True for [`Verdict::Blocked`].
    pub fn is_blocked(&self) -> bool {
        matches!(self, Verdict::Blocked(_))
    }

    /// True for [`Verdict::Allowed`].
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allowed(_))
    }
}

/// The indicator that decided a verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// What matched.
    pub indicator: Matched,
    /// Where that indicator came from.
    pub provenance: Provenance,
}

/// The matched indicator value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matched {
    /// A domain entry: the suffix of the query that is listed.
    Domain {
        /// The listed name (the query itself or one of its parents).
        suffix: String,
        /// True for `*.name` entries.
        subdomains_only: bool,
    },
    /// An address or network entry.
    Net(IpNet),
}

/// Provenance of an indicator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// Feed name.
    pub feed: String,
    /// Feed version or date.
    pub feed_version: Option<String>,
    /// STIX id, or `file:line`.
    pub indicator_id: String,
    /// STIX indicator name.
    pub name: Option<String>,
    /// Category or label.
    pub category: Option<String>,
    /// Malware family / report.
    pub family: Option<String>,
    /// Severity.
    pub severity: Severity,
    /// Indicator kind.
    pub kind: IndicatorKind,
    /// Validity start (µs since the epoch), if limited.
    pub valid_from_us: Option<u64>,
    /// Validity end (µs since the epoch), if limited.
    pub valid_until_us: Option<u64>,
}

impl fmt::Display for Matched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matched::Domain {
                suffix,
                subdomains_only: true,
            } => write!(f, "*.{suffix}"),
            Matched::Domain { suffix, .. } => f.write_str(suffix),
            Matched::Net(n) if n.prefix_len() == n.max_prefix_len() => write!(f, "{}", n.addr()),
            Matched::Net(n) => write!(f, "{n}"),
        }
    }
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "feed {}", self.feed)?;
        if let Some(v) = &self.feed_version {
            write!(f, " ({v})")?;
        }
        write!(
            f,
            ", indicator {}, severity {}",
            self.indicator_id, self.severity
        )?;
        if let Some(n) = &self.name {
            write!(f, ", name {n}")?;
        }
        if let Some(c) = &self.category {
            write!(f, ", category {c}")?;
        }
        if let Some(fam) = &self.family {
            write!(f, ", family {fam}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Clean => f.write_str("clean"),
            Verdict::Allowed(m) => write!(f, "allowed by {} [{}]", m.indicator, m.provenance),
            Verdict::Blocked(m) => write!(f, "BLOCKED by {} [{}]", m.indicator, m.provenance),
        }
    }
}
