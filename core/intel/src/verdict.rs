//! What a lookup answers.

use std::fmt;

use ipnet::IpNet;

use crate::indicator::{IndicatorKind, Severity};
use crate::normalize::MAX_NAME_LEN;

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

/// A listed domain suffix held inline (no allocation): the canonical name is at most
/// [`MAX_NAME_LEN`](crate::normalize::MAX_NAME_LEN) bytes of ASCII.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DomainSuffix {
    bytes: [u8; MAX_NAME_LEN],
    len: u8,
}

impl DomainSuffix {
    /// Copies `name` (lowercase ASCII, as lookups produce it); `None` if longer than a name can
    /// be or not ASCII.
    pub fn new(name: &[u8]) -> Option<DomainSuffix> {
        let len = u8::try_from(name.len()).ok()?;
        if !name.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; MAX_NAME_LEN];
        bytes.get_mut(..name.len())?.copy_from_slice(name);
        Some(DomainSuffix { bytes, len })
    }

    /// The suffix as text.
    pub fn as_str(&self) -> &str {
        let b = self.bytes.get(..usize::from(self.len)).unwrap_or(&[]);
        // Only ASCII is ever stored (checked in `new`), so this never falls back.
        std::str::from_utf8(b).unwrap_or("")
    }
}

impl Default for DomainSuffix {
    /// The empty name.
    fn default() -> Self {
        DomainSuffix {
            bytes: [0; MAX_NAME_LEN],
            len: 0,
        }
    }
}

impl fmt::Debug for DomainSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for DomainSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An indicator's id as stored: a STIX id, or the feed file and line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndicatorIdRef<'a> {
    /// STIX `indicator--…` id.
    Stix(&'a str),
    /// Line `line` of feed file `file`; displayed as `file:line`.
    Line {
        /// Feed file name.
        file: &'a str,
        /// 1-based line.
        line: u32,
    },
}

impl IndicatorIdRef<'_> {
    /// The [`Display`](fmt::Display) text, built without the formatting machinery: owned
    /// lookups on a hit make it every time, and `write!` cost as much as the rest of them.
    fn to_owned_string(self) -> String {
        match self {
            IndicatorIdRef::Stix(id) => id.to_owned(),
            IndicatorIdRef::Line { file, line } => {
                // u32 digits, most significant last, into a stack buffer (no temporary String).
                let mut digits = [0u8; 10];
                let mut n = line;
                let mut len = 0;
                for d in digits.iter_mut() {
                    *d = b'0' + (n % 10) as u8;
                    len += 1;
                    n /= 10;
                    if n == 0 {
                        break;
                    }
                }
                let mut s = String::with_capacity(file.len() + 1 + len);
                s.push_str(file);
                s.push(':');
                for &d in digits.iter().take(len).rev() {
                    s.push(char::from(d));
                }
                s
            }
        }
    }
}

impl fmt::Display for IndicatorIdRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndicatorIdRef::Stix(id) => f.write_str(id),
            IndicatorIdRef::Line { file, line } => write!(f, "{file}:{line}"),
        }
    }
}

/// [`Verdict`] borrowing its strings from the index: what
/// [`Index::lookup_domain_ref`](crate::Index::lookup_domain_ref) returns without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerdictRef<'a> {
    /// No valid indicator matches.
    Clean,
    /// An allowlist entry matches; it wins over any block.
    Allowed(MatchRef<'a>),
    /// A blocklist entry matches and no allow entry does.
    Blocked(MatchRef<'a>),
}

/// [`Match`] borrowing from the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchRef<'a> {
    /// What matched.
    pub indicator: MatchedRef,
    /// Where that indicator came from.
    pub provenance: ProvenanceRef<'a>,
}

/// [`Matched`] without allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "the inline suffix is what keeps a hit allocation-free; boxing it would allocate"
)]
pub enum MatchedRef {
    /// A domain entry: the suffix of the query that is listed.
    Domain {
        /// The listed name (the query itself or one of its parents).
        suffix: DomainSuffix,
        /// True for `*.name` entries.
        subdomains_only: bool,
    },
    /// An address or network entry.
    Net(IpNet),
}

/// [`Provenance`] borrowing its strings from the mapped index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvenanceRef<'a> {
    /// Feed name.
    pub feed: &'a str,
    /// Feed version or date.
    pub feed_version: Option<&'a str>,
    /// STIX id, or `file:line`.
    pub indicator_id: IndicatorIdRef<'a>,
    /// STIX indicator name.
    pub name: Option<&'a str>,
    /// Category or label.
    pub category: Option<&'a str>,
    /// Malware family / report.
    pub family: Option<&'a str>,
    /// Severity.
    pub severity: Severity,
    /// Indicator kind.
    pub kind: IndicatorKind,
    /// Validity start (µs since the epoch), if limited.
    pub valid_from_us: Option<u64>,
    /// Validity end (µs since the epoch), if limited.
    pub valid_until_us: Option<u64>,
}

impl VerdictRef<'_> {
    /// True for [`VerdictRef::Blocked`].
    pub fn is_blocked(&self) -> bool {
        matches!(self, VerdictRef::Blocked(_))
    }

    /// True for [`VerdictRef::Allowed`].
    pub fn is_allowed(&self) -> bool {
        matches!(self, VerdictRef::Allowed(_))
    }

    /// The owned [`Verdict`] (allocates the strings).
    pub fn to_verdict(&self) -> Verdict {
        match self {
            VerdictRef::Clean => Verdict::Clean,
            VerdictRef::Allowed(m) => Verdict::Allowed(m.to_match()),
            VerdictRef::Blocked(m) => Verdict::Blocked(m.to_match()),
        }
    }
}

impl MatchRef<'_> {
    /// The owned [`Match`].
    pub fn to_match(&self) -> Match {
        Match {
            indicator: self.indicator.to_matched(),
            provenance: self.provenance.to_provenance(),
        }
    }
}

impl MatchedRef {
    /// The owned [`Matched`].
    pub fn to_matched(&self) -> Matched {
        match self {
            MatchedRef::Domain {
                suffix,
                subdomains_only,
            } => Matched::Domain {
                suffix: suffix.as_str().to_owned(),
                subdomains_only: *subdomains_only,
            },
            MatchedRef::Net(n) => Matched::Net(*n),
        }
    }
}

impl ProvenanceRef<'_> {
    /// The owned [`Provenance`].
    pub fn to_provenance(&self) -> Provenance {
        Provenance {
            feed: self.feed.to_owned(),
            feed_version: self.feed_version.map(str::to_owned),
            indicator_id: self.indicator_id.to_owned_string(),
            name: self.name.map(str::to_owned),
            category: self.category.map(str::to_owned),
            family: self.family.map(str::to_owned),
            severity: self.severity,
            kind: self.kind,
            valid_from_us: self.valid_from_us,
            valid_until_us: self.valid_until_us,
        }
    }
}

impl fmt::Display for MatchedRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatchedRef::Domain {
                suffix,
                subdomains_only: true,
            } => write!(f, "*.{suffix}"),
            MatchedRef::Domain { suffix, .. } => f.write_str(suffix.as_str()),
            MatchedRef::Net(n) if n.prefix_len() == n.max_prefix_len() => {
                write!(f, "{}", n.addr())
            }
            MatchedRef::Net(n) => write!(f, "{n}"),
        }
    }
}

impl fmt::Display for ProvenanceRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "feed {}", self.feed)?;
        if let Some(v) = self.feed_version {
            write!(f, " ({v})")?;
        }
        write!(
            f,
            ", indicator {}, severity {}",
            self.indicator_id, self.severity
        )?;
        if let Some(n) = self.name {
            write!(f, ", name {n}")?;
        }
        if let Some(c) = self.category {
            write!(f, ", category {c}")?;
        }
        if let Some(fam) = self.family {
            write!(f, ", family {fam}")?;
        }
        Ok(())
    }
}

impl fmt::Display for VerdictRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerdictRef::Clean => f.write_str("clean"),
            VerdictRef::Allowed(m) => write!(f, "allowed by {} [{}]", m.indicator, m.provenance),
            VerdictRef::Blocked(m) => write!(f, "BLOCKED by {} [{}]", m.indicator, m.provenance),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_indicator_ids_read_as_their_display_text() {
        for line in [0, 7, 10, 99, 100, 65_536, 1_000_000_007, u32::MAX] {
            let id = IndicatorIdRef::Line {
                file: "feeds/hosts.txt",
                line,
            };
            assert_eq!(id.to_owned_string(), id.to_string());
            assert_eq!(id.to_owned_string(), format!("feeds/hosts.txt:{line}"));
        }
        let stix = IndicatorIdRef::Stix("indicator--0b0e7ad4");
        assert_eq!(stix.to_owned_string(), "indicator--0b0e7ad4");
    }
}
