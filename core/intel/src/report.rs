//! What happened to each line of a feed: accepted, ignored or skipped (with why).

use crate::normalize::NameError;

/// How many skipped entries a report keeps verbatim; the rest are only counted.
pub const MAX_SKIPPED_KEPT: usize = 64;

/// A feed is refused as a whole above this share of rejected entries...
pub const GARBAGE_RATIO_PERCENT: u64 = 50;
/// ...once it has at least this many significant entries (tiny feeds are judged entry by entry).
pub const GARBAGE_MIN_LINES: u64 = 20;

/// Why one entry of a feed was not loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SkipReason {
    /// The name failed normalisation.
    #[error("invalid name: {0}")]
    InvalidName(#[from] NameError),
    /// An ABP/AdGuard rule with a path: a DNS-level match would over-block the host.
    #[error("rule has a path; only domain-level rules apply")]
    PathRule,
    /// An ABP/AdGuard cosmetic (element hiding / scriptlet) rule.
    #[error("cosmetic rule")]
    CosmeticRule,
    /// An ABP/AdGuard regular-expression rule.
    #[error("regular-expression rule")]
    RegexRule,
    /// An ABP/AdGuard rule whose modifier narrows it (e.g. `$third-party`).
    #[error("modifier ${0} narrows the rule")]
    Modifier(String),
    /// An ABP/AdGuard rule with a wildcard inside the host or without a `^` separator.
    #[error("rule is not a plain `||domain^` rule")]
    NotDomainRule,
    /// A maltrail trail that is only a path, with no host.
    #[error("path-only trail has no host")]
    PathOnly,
    /// A dnsmasq directive that does not block (e.g. forwarding to an upstream).
    #[error("dnsmasq directive does not block: {0}")]
    Dnsmasq(&'static str),
    /// A line that fits no rule of the format.
    #[error("unrecognised line")]
    Unrecognised,
    /// An IP range or network that does not parse.
    #[error("invalid IP address or network")]
    InvalidIp,
    /// A STIX pattern this crate cannot evaluate (AND, qualifiers, other operators).
    #[error("unsupported STIX pattern: {0}")]
    StixPattern(String),
    /// A STIX object that is malformed.
    #[error("invalid STIX object: {0}")]
    StixObject(String),
    /// A STIX timestamp that does not parse as RFC 3339.
    #[error("invalid STIX timestamp")]
    StixTime,
}

/// One skipped entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The feed file.
    pub file: String,
    /// 1-based line number (0 when the format has no lines, e.g. a STIX object).
    pub line: u32,
    /// The STIX object id, when there is one.
    pub object: Option<String>,
    /// Why it was skipped.
    pub reason: SkipReason,
}

/// The outcome of loading one feed. Memory is bounded: at most [`MAX_SKIPPED_KEPT`] skips are
/// kept; all are counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// The feed file.
    pub file: String,
    /// Entries loaded as indicators (one line may yield several).
    pub accepted: u64,
    /// Entries deliberately ignored without being wrong (hosts-file boilerplate such as
    /// `localhost`, ABP headers).
    pub ignored: u64,
    /// Entries rejected, in total.
    pub skipped_total: u64,
    /// The first [`MAX_SKIPPED_KEPT`] rejected entries.
    pub skipped: Vec<Skipped>,
}

impl LoadReport {
    /// An empty report for `file`.
    pub fn new(file: &str) -> LoadReport {
        LoadReport {
            file: file.to_owned(),
            ..LoadReport::default()
        }
    }

    /// Records a rejected entry.
    pub fn skip(&mut self, line: u32, object: Option<&str>, reason: SkipReason) {
        self.skipped_total += 1;
        if self.skipped.len() < MAX_SKIPPED_KEPT {
            self.skipped.push(Skipped {
                file: self.file.clone(),
                line,
                object: object.map(str::to_owned),
                reason,
            });
        }
    }

    /// True when the feed should be refused as a whole: at least [`GARBAGE_MIN_LINES`]
    /// significant entries and more than [`GARBAGE_RATIO_PERCENT`] % of them rejected.
    pub fn is_mostly_garbage(&self) -> bool {
        let significant = self.accepted + self.skipped_total;
        significant >= GARBAGE_MIN_LINES
            && self.skipped_total * 100 > significant * GARBAGE_RATIO_PERCENT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_list_is_capped_but_counted() {
        let mut r = LoadReport::new("f.txt");
        for i in 0..1000 {
            r.skip(i, None, SkipReason::Unrecognised);
        }
        assert_eq!(r.skipped_total, 1000);
        assert_eq!(r.skipped.len(), MAX_SKIPPED_KEPT);
        assert_eq!(r.skipped[3].line, 3);
        assert_eq!(r.skipped[3].file, "f.txt");
    }

    #[test]
    fn garbage_rule_needs_enough_lines_and_majority() {
        let mut r = LoadReport::new("f");
        r.accepted = 5;
        for i in 0..10 {
            r.skip(i, None, SkipReason::Unrecognised);
        }
        assert!(!r.is_mostly_garbage(), "15 lines is below the minimum");
        r.accepted = 10;
        for i in 0..11 {
            r.skip(i, None, SkipReason::Unrecognised);
        }
        assert!(r.is_mostly_garbage(), "21 of 31 rejected");
        r.accepted = 21;
        assert!(!r.is_mostly_garbage(), "exactly 50% is tolerated");
    }
}
