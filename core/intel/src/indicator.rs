//! What a feed says: indicators with their provenance fields.

use std::fmt;

use ipnet::IpNet;

/// How bad a match is. Feeds carry a default; STIX confidence and labels refine it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// Informational only (e.g. STIX `benign`).
    Info = 0,
    /// Low confidence or nuisance.
    Low = 1,
    /// Typical blocklist entry.
    Medium = 2,
    /// Curated malware / spyware infrastructure.
    High = 3,
    /// Confirmed, high-confidence threat.
    Critical = 4,
}

impl Severity {
    /// Decodes the on-disk byte; unknown values are clamped rather than refused.
    pub(crate) fn from_u8(b: u8) -> Severity {
        match b {
            0 => Severity::Info,
            1 => Severity::Low,
            2 => Severity::Medium,
            3 => Severity::High,
            _ => Severity::Critical,
        }
    }

    /// Maps a STIX `confidence` (0–100) to a severity.
    pub fn from_confidence(c: u8) -> Severity {
        match c {
            0 => Severity::Info,
            1..=49 => Severity::Low,
            50..=84 => Severity::Medium,
            85..=94 => Severity::High,
            _ => Severity::Critical,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        })
    }
}

/// Whether a feed lists things to flag or things to trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListKind {
    /// Matches are reported as blocked.
    Block,
    /// Matches override any block (see the crate docs for the exact rule).
    Allow,
}

/// The kind of an indicator, as reported to the host app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IndicatorKind {
    /// A domain and its subdomains.
    Domain,
    /// A single IP address.
    Ip,
    /// An IP network.
    Cidr,
    /// An app identifier (`app:id`, `app:cert...`): for the host app, not the packet path.
    App,
    /// A file hash (`file:hashes...`): for the host app.
    FileHash,
    /// Any other STIX observable (`file:path`, `process:name`, ...): for the host app.
    Other,
}

impl IndicatorKind {
    pub(crate) fn to_u8(self) -> u8 {
        match self {
            IndicatorKind::Domain => 0,
            IndicatorKind::Ip => 1,
            IndicatorKind::Cidr => 2,
            IndicatorKind::App => 3,
            IndicatorKind::FileHash => 4,
            IndicatorKind::Other => 5,
        }
    }

    pub(crate) fn from_u8(b: u8) -> IndicatorKind {
        match b {
            0 => IndicatorKind::Domain,
            1 => IndicatorKind::Ip,
            2 => IndicatorKind::Cidr,
            3 => IndicatorKind::App,
            4 => IndicatorKind::FileHash,
            _ => IndicatorKind::Other,
        }
    }
}

/// What an indicator points at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// A normalised (lowercase, punycode, no trailing dot) domain.
    Domain {
        /// The name.
        name: String,
        /// `*.name` lists: the name itself does not match, only its subdomains.
        subdomains_only: bool,
    },
    /// An address (host prefix) or network; host bits are always zero.
    Net(IpNet),
    /// An app id or app signing-certificate hash.
    App(String),
    /// A file hash (`algorithm=value`).
    FileHash(String),
    /// Any other observable, as `object:path` and value.
    Other {
        /// STIX object path, e.g. `file:path`.
        path: String,
        /// The compared value.
        value: String,
    },
}

impl Target {
    /// The kind of this target.
    pub fn kind(&self) -> IndicatorKind {
        match self {
            Target::Domain { .. } => IndicatorKind::Domain,
            Target::Net(n) if n.prefix_len() == n.max_prefix_len() => IndicatorKind::Ip,
            Target::Net(_) => IndicatorKind::Cidr,
            Target::App(_) => IndicatorKind::App,
            Target::FileHash(_) => IndicatorKind::FileHash,
            Target::Other { .. } => IndicatorKind::Other,
        }
    }
}

/// Where in its feed an indicator came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IndicatorId {
    /// A STIX object id (`indicator--…`).
    Stix(String),
    /// A 1-based line number in the feed file.
    Line(u32),
}

/// One indicator read from a feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indicator {
    /// What it points at.
    pub target: Target,
    /// Its id in the feed.
    pub id: IndicatorId,
    /// Block or allow. ABP `@@` rules are allow entries inside a blocklist; every entry of a
    /// feed loaded as an allowlist is an allow entry whatever it says.
    pub list: ListKind,
    /// STIX `name`, if any.
    pub name: Option<String>,
    /// Category or label (STIX labels / indicator_types, or the feed's category).
    pub category: Option<String>,
    /// Malware family or report name linked to the indicator.
    pub family: Option<String>,
    /// Severity; `None` takes the feed's default.
    pub severity: Option<Severity>,
    /// Not valid before this time (µs since the Unix epoch).
    pub valid_from_us: Option<u64>,
    /// Not valid after this time (µs since the Unix epoch).
    pub valid_until_us: Option<u64>,
}

impl Indicator {
    /// An indicator with only a target and an id; everything else defaults.
    pub fn new(target: Target, id: IndicatorId) -> Indicator {
        Indicator {
            target,
            id,
            list: ListKind::Block,
            name: None,
            category: None,
            family: None,
            severity: None,
            valid_from_us: None,
            valid_until_us: None,
        }
    }
}
